/*
 * limits.c - see limits.h.
 */
#include "rpc/limits.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "base/bucket.h"
#include "base/clock.h"
#include "rpc/auth.h"

#define NAME_MAX_LEN 63
#define RATE_MAX 10000000.0

typedef struct slot {
    char name[NAME_MAX_LEN + 1];
    mb_bucket bucket;
} slot;

struct rpc_buckets {
    pthread_mutex_t lock;
    unsigned char hash_key[crypto_shorthash_KEYBYTES]; /* names cannot aim at one slot */
    slot slots[RPC_BUCKET_SLOTS];
};

rpc_buckets_t *rpc_buckets_new(void)
{
    rpc_buckets_t *b = calloc(1, sizeof *b);
    if (b == NULL)
        return NULL;
    pthread_mutex_init(&b->lock, NULL);
    crypto_shorthash_keygen(b->hash_key);
    return b;
}

void rpc_buckets_free(rpc_buckets_t *b)
{
    if (b == NULL)
        return;
    pthread_mutex_destroy(&b->lock);
    free(b);
}

/* The slot name hashes to (slot_holds says whether it is name's). */
static slot *slot_of(rpc_buckets_t *b, const char *name, size_t *len)
{
    *len = strnlen(name, NAME_MAX_LEN);
    uint64_t h;
    crypto_shorthash((unsigned char *)&h, (const unsigned char *)name, *len, b->hash_key);
    return &b->slots[h % RPC_BUCKET_SLOTS];
}

static bool slot_holds(const slot *s, const char *name, size_t len)
{
    return strncmp(s->name, name, len) == 0 && s->name[len] == '\0';
}

bool rpc_buckets_take(rpc_buckets_t *b, const char *name, double rate, double burst,
                      int64_t *wait_ns)
{
    size_t len;
    slot *s = slot_of(b, name, &len);
    pthread_mutex_lock(&b->lock);
    if (!slot_holds(s, name, len)) {
        memcpy(s->name, name, len);
        s->name[len] = '\0';
        s->bucket = (mb_bucket){0, 0};
    }
    bool ok = mb_bucket_take(&s->bucket, rate, burst, mb_mono_ns(), wait_ns);
    pthread_mutex_unlock(&b->lock);
    return ok;
}

void rpc_buckets_give(rpc_buckets_t *b, const char *name, double burst)
{
    if (name == NULL)
        return;
    size_t len;
    slot *s = slot_of(b, name, &len);
    pthread_mutex_lock(&b->lock);
    if (slot_holds(s, name, len))
        mb_bucket_give(&s->bucket, burst);
    pthread_mutex_unlock(&b->lock);
}

void rpc_rate_limits_default(rpc_rate_limits *l)
{
    static const double rates[RPC_ROLE_BITS] = {
        50000, /* platform */
        1000,  /* finance */
        500,   /* support */
        10000, /* payments */
        200,   /* privacy */
        200,   /* admin */
    };
    for (int i = 0; i < RPC_ROLE_BITS; i++)
        l->role[i] = (rpc_rate){rates[i], 2 * rates[i]};
}

static int parse_one(rpc_rate_limits *l, const char *item, size_t len, mb_error *err)
{
    char buf[64];
    if (len == 0 || len >= sizeof buf)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "rate-limit: expected ROLE=RATE[/BURST], e.g. support=100/200");
    memcpy(buf, item, len);
    buf[len] = '\0';
    char *eq = strchr(buf, '=');
    if (eq == NULL)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "rate-limit: expected ROLE=RATE[/BURST], e.g. support=100/200");
    *eq = '\0';
    unsigned role;
    if (auth_role_parse(buf, &role, err) != 0) {
        mb_error_prefix(err, "rate-limit: ");
        return -1;
    }
    char *end;
    double rate = strtod(eq + 1, &end), burst = 2 * rate;
    if (*end == '/')
        burst = strtod(end + 1, &end);
    if (end == eq + 1 || *end != '\0' || !(rate >= 0 && rate <= RATE_MAX) ||
        (rate > 0 && !(burst >= 1 && burst <= 2 * RATE_MAX)))
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "rate-limit: %s: RATE must be 0 (no limit) to %.0f calls a second "
                            "and BURST at least 1",
                            buf, RATE_MAX);
    int bit = __builtin_ctz(role);
    l->role[bit] = (rpc_rate){rate, rate > 0 ? burst : 0};
    return 0;
}

int rpc_rate_limits_parse(rpc_rate_limits *l, const char *spec, mb_error *err)
{
    for (const char *p = spec;;) {
        size_t n = strcspn(p, ",");
        if (parse_one(l, p, n, err) != 0)
            return -1;
        if (p[n] == '\0')
            return 0;
        p += n + 1;
    }
}
