/*
 * plans.h - the plan catalog: Invoicing.UpsertPlan, GetPlan, ListPlans.
 *
 * A plan is a currency, a base fee in minor units and one price per metric
 * (exact decimal unit price, included quantity, optional graduated tiers).
 * Plans are validated whole on the calling thread (INVALID_ARGUMENT naming
 * the field, e.g. "prices[0].tiers[2].up_to: must increase"), normalised to
 * integer micros (decimal.h) and stored in plans / plan_prices / plan_tiers
 * (0003_metering.sql). The metrics named by any plan form the catalog that
 * usage is checked against; metering reads plan_prices for that and never
 * includes this header.
 */
#ifndef MB_INVOICING_PLANS_H
#define MB_INVOICING_PLANS_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/error.h"
#include "minbill/v1/invoicing.pb-c.h"
#include "rpc/server.h"

#define PLAN_MAX_PRICES 100
#define PLAN_MAX_TIERS 32
#define PLAN_METRIC_MAX 64
#define PLAN_DESCRIPTION_MAX 200
#define PLAN_LIST_DEFAULT 50
#define PLAN_LIST_MAX 500

typedef struct plan_tier {
    int64_t up_to; /* 0: no upper bound (last tier only) */
    int64_t unit_price_micros;
} plan_tier;

typedef struct plan_price {
    const char *metric;
    const char *description;
    int64_t unit_price_micros; /* used when n_tiers == 0 */
    int64_t included_quantity;
    size_t n_tiers;
    plan_tier *tiers;
} plan_price;

/* A validated, normalised plan. Strings point into the request or the arena
 * the plan was built in. */
typedef struct plan {
    const char *plan_id;
    const char *currency;
    int64_t base_fee_minor;
    size_t n_prices;
    plan_price *prices;
} plan;

/* Validates p whole and normalises it into *out (arrays from a). */
int plan_check(mb_arena_t *a, const Minbill__V1__Plan *p, plan *out, mb_error *err);

/* The plan as the API shows it (canonical decimal strings), built in a. */
Minbill__V1__Plan *plan_to_proto(mb_arena_t *a, const plan *p);

/* Reads plan_id into *out (strings and arrays in a); NOT_FOUND if unknown. */
int plan_load(store_conn_t *conn, mb_arena_t *a, const char *plan_id, plan *out, mb_error *err);

/* FAILED_PRECONDITION naming account.plan_id unless plan_id exists and is
 * priced in currency: an account is billed on a plan of its own currency. */
int plan_check_for_account(store_conn_t *conn, const char *plan_id, const char *currency,
                           mb_error *err);

/* Replaces the stored plan (or creates it) inside the caller's write
 * transaction; FAILED_PRECONDITION if accounts on it have another
 * currency. */
int plan_store(store_conn_t *conn, const plan *p, mb_error *err);

/* Handlers (roles admin, finance: see methods.c). */
int plans_upsert(rpc_call_t *call, const ProtobufCMessage *req);
int plans_get(rpc_call_t *call, const ProtobufCMessage *req);
int plans_list(rpc_call_t *call, const ProtobufCMessage *req);

#endif
