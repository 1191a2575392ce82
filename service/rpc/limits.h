/*
 * limits.h - rate limits of the runtime: token buckets by name (an API key
 * id, a peer address) in a fixed-size table, and the per-role call rates
 * that `minbilld serve --rate-limit ROLE=RATE[/BURST]` configures.
 *
 * The table never grows: names share RPC_BUCKET_SLOTS slots by hash, and a
 * name that takes over a slot starts with a full bucket. Key ids are random
 * and addresses few, so collisions are rare; memory stays fixed whatever
 * names clients send.
 */
#ifndef MB_RPC_LIMITS_H
#define MB_RPC_LIMITS_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

#define RPC_BUCKET_SLOTS 4096
/* ROLE_PLATFORM .. ROLE_ADMIN are bits 0..5 (auth.h). */
#define RPC_ROLE_BITS 6

typedef struct rpc_buckets rpc_buckets_t;

rpc_buckets_t *rpc_buckets_new(void);
void rpc_buckets_free(rpc_buckets_t *b);

/* Takes one token from name's bucket (rate a second, burst at most). False
 * if there is none; *wait_ns then says when the next one is due. */
bool rpc_buckets_take(rpc_buckets_t *b, const char *name, double rate, double burst,
                      int64_t *wait_ns);

/* Gives back a token rpc_buckets_take() took from name's bucket (burst at
 * most): the try it paid for turned out not to count. Nothing if name is
 * NULL or has lost its slot meanwhile. */
void rpc_buckets_give(rpc_buckets_t *b, const char *name, double burst);

typedef struct rpc_rate {
    double rate, burst; /* calls a second per API key; rate 0: unlimited */
} rpc_rate;

typedef struct rpc_rate_limits {
    rpc_rate role[RPC_ROLE_BITS]; /* by role bit */
} rpc_rate_limits;

/* The defaults: generous for machine roles (platform 50,000/s, payments
 * 10,000/s), tighter for people's tools (finance 1,000/s, support 500/s,
 * privacy and admin 200/s); bursts twice the rate. */
void rpc_rate_limits_default(rpc_rate_limits *l);

/* Applies "ROLE=RATE[/BURST]" (several separated by commas; RATE 0 turns
 * the role's limit off; BURST defaults to twice RATE). INVALID_ARGUMENT
 * naming what is wrong. */
int rpc_rate_limits_parse(rpc_rate_limits *l, const char *spec, mb_error *err);

#endif
