/*
 * plans.c - see plans.h.
 *
 * UpsertPlan replaces a plan's prices whole (delete + insert inside one
 * savepoint of the group transaction), so a plan is never seen half
 * updated and a metric dropped from every plan leaves the catalog at once.
 */
#include "base/check.h"
#include "inventory/inventory.h"
#include "invoicing/plans.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "audit/audit_rpc.h"
#include "base/decimal.h"
#include "rpc/write.h"

#define FIELD_MAX 96

static const char SQL_PLAN_UPSERT[] =
    "INSERT INTO plans(plan_id, currency, base_fee_minor) VALUES (?1, ?2, ?3)"
    " ON CONFLICT(plan_id) DO UPDATE SET currency = excluded.currency,"
    " base_fee_minor = excluded.base_fee_minor,"
    " updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";
/* plan_tiers go with their price (ON DELETE CASCADE). */
static const char SQL_PRICES_DELETE[] = "DELETE FROM plan_prices WHERE plan_id = ?1";
static const char SQL_PRICE_INSERT[] =
    "INSERT INTO plan_prices(plan_id, metric, position, description, unit_price_micros,"
    " included_quantity) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
static const char SQL_TIER_INSERT[] =
    "INSERT INTO plan_tiers(plan_id, metric, position, up_to, unit_price_micros)"
    " VALUES (?1, ?2, ?3, ?4, ?5)";
static const char SQL_PLAN_GET[] = "SELECT currency, base_fee_minor FROM plans WHERE plan_id = ?1";
static const char SQL_PRICES_GET[] =
    "SELECT metric, description, unit_price_micros, included_quantity FROM plan_prices"
    " WHERE plan_id = ?1 ORDER BY position";
static const char SQL_TIERS_GET[] =
    "SELECT metric, up_to, unit_price_micros FROM plan_tiers WHERE plan_id = ?1"
    " ORDER BY metric, position";
static const char SQL_PLAN_CURRENCY[] = "SELECT currency FROM plans WHERE plan_id = ?1";
static const char SQL_ACCOUNT_OTHER_CURRENCY[] =
    "SELECT 1 FROM accounts WHERE plan_id = ?1 AND currency <> ?2 LIMIT 1";
static const char SQL_PLAN_PAGE[] =
    "SELECT plan_id FROM plans WHERE plan_id > ?1 ORDER BY plan_id LIMIT ?2";

static int oom(mb_error *err)
{
    return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
}

static bool is_lower_or_digit(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* Metric names are what UsageEvent.metric carries: short, lower-case,
 * stable identifiers such as "messages.whatsapp". */
static int check_metric(const char *field, const char *s, mb_error *err)
{
    size_t n = strlen(s);
    if (n == 0)
        return check_field_error(err, field, "required");
    if (n > PLAN_METRIC_MAX)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT, "%s: must be at most %d characters",
                            field, PLAN_METRIC_MAX);
    if (!(s[0] >= 'a' && s[0] <= 'z'))
        return check_field_error(err, field, "must start with a lower-case letter");
    for (size_t i = 1; i < n; i++)
        if (!is_lower_or_digit(s[i]) && strchr("._-", s[i]) == NULL)
            return check_field_error(err, field, "may only contain a-z, 0-9, '.', '_' and '-'");
    return 0;
}

static int check_tiers(mb_arena_t *a, const Minbill__V1__Price *p, size_t i, plan_price *out,
                       mb_error *err)
{
    char field[FIELD_MAX];
    if (p->n_tiers > PLAN_MAX_TIERS)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "prices[%zu].tiers: at most %d tiers", i, PLAN_MAX_TIERS);
    out->n_tiers = p->n_tiers;
    out->tiers = NULL;
    if (p->n_tiers == 0)
        return 0;
    if (p->unit_price[0] != '\0')
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "prices[%zu].unit_price: must be empty when tiers are given (each "
                            "tier has its own unit_price)",
                            i);
    if ((out->tiers = mb_arena_alloc(a, p->n_tiers * sizeof *out->tiers)) == NULL)
        return oom(err);
    for (size_t t = 0; t < p->n_tiers; t++) {
        const Minbill__V1__Tier *tier = p->tiers[t];
        bool last = t + 1 == p->n_tiers;
        snprintf(field, sizeof field, "prices[%zu].tiers[%zu].up_to", i, t);
        if (tier->up_to < 0)
            return check_field_error(err, field, "must be >= 0");
        if (last && tier->up_to != 0)
            return check_field_error(err, field, "the last tier must have up_to 0 (no upper bound)");
        if (!last && tier->up_to == 0)
            return check_field_error(err, field, "0 (no upper bound) is only allowed on the last tier");
        if (t > 0 && !last && tier->up_to <= p->tiers[t - 1]->up_to)
            return check_field_error(err, field, "must increase");
        snprintf(field, sizeof field, "prices[%zu].tiers[%zu].unit_price", i, t);
        if (decimal_parse_micros(field, tier->unit_price, &out->tiers[t].unit_price_micros, err) !=
            0)
            return -1;
        out->tiers[t].up_to = tier->up_to;
    }
    return 0;
}

static int check_price(mb_arena_t *a, const Minbill__V1__Price *p, size_t i, plan_price *out,
                       mb_error *err)
{
    char field[FIELD_MAX];
#define FIELD(name) (snprintf(field, sizeof field, "prices[%zu]." name, i), field)
    if (check_metric(FIELD("metric"), p->metric, err) != 0 ||
        check_stored_text(FIELD("description"), p->description, 1, PLAN_DESCRIPTION_MAX, err) != 0)
        return -1;
    if (p->included_quantity < 0)
        return check_field_error(err, FIELD("included_quantity"), "must be >= 0");
    if (check_tiers(a, p, i, out, err) != 0)
        return -1;
    out->unit_price_micros = 0;
    if (p->n_tiers == 0 &&
        decimal_parse_micros(FIELD("unit_price"), p->unit_price, &out->unit_price_micros, err) != 0)
        return -1;
#undef FIELD
    out->metric = p->metric;
    out->description = p->description;
    out->included_quantity = p->included_quantity;
    return 0;
}

int plan_check(mb_arena_t *a, const Minbill__V1__Plan *p, plan *out, mb_error *err)
{
    if (check_id("plan_id", p->plan_id, err) != 0 ||
        check_currency("currency", p->currency, err) != 0)
        return -1;
    if (p->base_fee_minor < 0)
        return check_field_error(err, "base_fee_minor", "must be >= 0");
    if (p->n_prices > PLAN_MAX_PRICES)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT, "prices: at most %d prices",
                            PLAN_MAX_PRICES);
    out->prices = mb_arena_alloc(a, (p->n_prices ? p->n_prices : 1) * sizeof *out->prices);
    if (out->prices == NULL)
        return oom(err);
    for (size_t i = 0; i < p->n_prices; i++) {
        if (check_price(a, p->prices[i], i, &out->prices[i], err) != 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(out->prices[j].metric, out->prices[i].metric) == 0)
                return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                                    "prices[%zu].metric: duplicates prices[%zu].metric", i, j);
    }
    out->n_prices = p->n_prices;
    out->plan_id = p->plan_id;
    out->currency = p->currency;
    out->base_fee_minor = p->base_fee_minor;
    return 0;
}

static char *format_price(mb_arena_t *a, int64_t micros)
{
    char buf[DECIMAL_FORMAT_SIZE];
    return mb_arena_printf(a, "%s", decimal_format_micros(micros, buf));
}

Minbill__V1__Plan *plan_to_proto(mb_arena_t *a, const plan *p)
{
    Minbill__V1__Plan *m = mb_arena_alloc(a, sizeof *m);
    Minbill__V1__Price **prices = mb_arena_alloc(a, (p->n_prices + 1) * sizeof *prices);
    if (m == NULL || prices == NULL)
        return NULL;
    minbill__v1__plan__init(m);
    m->plan_id = (char *)p->plan_id;
    m->currency = (char *)p->currency;
    m->base_fee_minor = p->base_fee_minor;
    m->n_prices = p->n_prices;
    m->prices = prices;
    for (size_t i = 0; i < p->n_prices; i++) {
        const plan_price *src = &p->prices[i];
        Minbill__V1__Price *pr = mb_arena_alloc(a, sizeof *pr);
        Minbill__V1__Tier **tiers = mb_arena_alloc(a, (src->n_tiers + 1) * sizeof *tiers);
        if (pr == NULL || tiers == NULL)
            return NULL;
        minbill__v1__price__init(pr);
        pr->metric = (char *)src->metric;
        pr->description = (char *)src->description;
        pr->included_quantity = src->included_quantity;
        pr->unit_price = src->n_tiers == 0 ? format_price(a, src->unit_price_micros) : "";
        pr->n_tiers = src->n_tiers;
        pr->tiers = tiers;
        if (pr->unit_price == NULL)
            return NULL;
        for (size_t t = 0; t < src->n_tiers; t++) {
            Minbill__V1__Tier *tier = mb_arena_alloc(a, sizeof *tier);
            if (tier == NULL)
                return NULL;
            minbill__v1__tier__init(tier);
            tier->up_to = src->tiers[t].up_to;
            if ((tier->unit_price = format_price(a, src->tiers[t].unit_price_micros)) == NULL)
                return NULL;
            tiers[t] = tier;
        }
        prices[i] = pr;
    }
    return m;
}

static int store_tiers(store_conn_t *conn, const plan *p, const plan_price *pr, mb_error *err)
{
    for (size_t t = 0; t < pr->n_tiers; t++) {
        sqlite3_stmt *st = store_conn_prepare(conn, SQL_TIER_INSERT, err);
        if (st == NULL)
            return -1;
        sqlite3_bind_text(st, 1, p->plan_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, pr->metric, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)t);
        sqlite3_bind_int64(st, 4, pr->tiers[t].up_to);
        sqlite3_bind_int64(st, 5, pr->tiers[t].unit_price_micros);
        if (store_step_done(conn, st, "storing a plan tier", err) != 0)
            return -1;
    }
    return 0;
}

int plan_check_for_account(store_conn_t *conn, const char *plan_id, const char *currency,
                           mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_PLAN_CURRENCY, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, plan_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    bool same = rc == SQLITE_ROW && strcmp((const char *)sqlite3_column_text(st, 0), currency) == 0;
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION, "account.plan_id: no such plan");
    if (rc != SQLITE_ROW)
        return store_error(conn, err, "reading the account's plan");
    if (!same)
        return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                            "account.plan_id: the plan's currency is not account.currency");
    return 0;
}

/* A plan's currency cannot move away from the accounts billed on it. */
static int check_accounts_currency(store_conn_t *conn, const plan *p, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_ACCOUNT_OTHER_CURRENCY, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, p->plan_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, p->currency, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                            "currency: accounts on this plan are billed in another currency");
    return rc == SQLITE_DONE ? 0 : store_error(conn, err, "reading the plan's accounts");
}

int plan_store(store_conn_t *conn, const plan *p, mb_error *err)
{
    if (check_accounts_currency(conn, p, err) != 0)
        return -1;
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_PLAN_UPSERT, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, p->plan_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, p->currency, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, p->base_fee_minor);
    if (store_step_done(conn, st, "storing a plan", err) != 0)
        return -1;
    if ((st = store_conn_prepare(conn, SQL_PRICES_DELETE, err)) == NULL)
        return -1;
    sqlite3_bind_text(st, 1, p->plan_id, -1, SQLITE_STATIC);
    if (store_step_done(conn, st, "replacing plan prices", err) != 0)
        return -1;
    for (size_t i = 0; i < p->n_prices; i++) {
        const plan_price *pr = &p->prices[i];
        if ((st = store_conn_prepare(conn, SQL_PRICE_INSERT, err)) == NULL)
            return -1;
        sqlite3_bind_text(st, 1, p->plan_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, pr->metric, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)i);
        sqlite3_bind_text(st, 4, pr->description, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 5, pr->unit_price_micros);
        sqlite3_bind_int64(st, 6, pr->included_quantity);
        if (store_step_done(conn, st, "storing a plan price", err) != 0 ||
            store_tiers(conn, p, pr, err) != 0)
            return -1;
    }
    return 0;
}

static char *column_dup(mb_arena_t *a, sqlite3_stmt *st, int col)
{
    const unsigned char *s = sqlite3_column_text(st, col);
    return mb_arena_printf(a, "%s", s != NULL ? (const char *)s : "");
}

/* Gives the price for metric its n tiers from buf (copied into the arena). */
static int attach_tiers(plan *out, mb_arena_t *a, const char *metric, const plan_tier *buf,
                        size_t n, mb_error *err)
{
    for (size_t i = 0; i < out->n_prices; i++) {
        plan_price *pr = &out->prices[i];
        if (strcmp(pr->metric, metric) != 0)
            continue;
        if ((pr->tiers = mb_arena_alloc(a, n * sizeof *pr->tiers)) == NULL)
            return oom(err);
        memcpy(pr->tiers, buf, n * sizeof *pr->tiers);
        pr->n_tiers = n;
    }
    return 0;
}

/* Every tier of the plan in one query, ordered by metric, handed out to the
 * prices a metric at a time. */
static int load_tiers(store_conn_t *conn, mb_arena_t *a, const char *plan_id, plan *out,
                      mb_error *err)
{
    plan_tier buf[PLAN_MAX_TIERS];
    char metric[PLAN_METRIC_MAX + 1] = "";
    size_t n = 0;
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_TIERS_GET, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, plan_id, -1, SQLITE_STATIC);
    int rc, ret = 0;
    while (ret == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        const char *m = (const char *)sqlite3_column_text(st, 0);
        if (n > 0 && strcmp(m, metric) != 0) {
            ret = attach_tiers(out, a, metric, buf, n, err);
            n = 0;
        }
        snprintf(metric, sizeof metric, "%s", m);
        if (n < PLAN_MAX_TIERS) {
            buf[n].up_to = sqlite3_column_int64(st, 1);
            buf[n].unit_price_micros = sqlite3_column_int64(st, 2);
            n++;
        }
    }
    sqlite3_reset(st);
    if (ret != 0)
        return -1;
    if (rc != SQLITE_DONE)
        return store_error(conn, err, "reading plan tiers");
    return n > 0 ? attach_tiers(out, a, metric, buf, n, err) : 0;
}

int plan_load(store_conn_t *conn, mb_arena_t *a, const char *plan_id, plan *out, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_PLAN_GET, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, plan_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        out->plan_id = mb_arena_printf(a, "%s", plan_id);
        out->currency = column_dup(a, st, 0);
        out->base_fee_minor = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return mb_error_set(err, GRPC_STATUS_NOT_FOUND, "plan_id: no such plan");
    if (rc != SQLITE_ROW)
        return store_error(conn, err, "reading a plan");
    if (out->plan_id == NULL || out->currency == NULL)
        return oom(err);

    if ((out->prices = mb_arena_alloc(a, PLAN_MAX_PRICES * sizeof *out->prices)) == NULL ||
        (st = store_conn_prepare(conn, SQL_PRICES_GET, err)) == NULL)
        return out->prices == NULL ? oom(err) : -1;
    out->n_prices = 0;
    sqlite3_bind_text(st, 1, plan_id, -1, SQLITE_STATIC);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && out->n_prices < PLAN_MAX_PRICES) {
        plan_price *pr = &out->prices[out->n_prices++];
        pr->metric = column_dup(a, st, 0);
        pr->description = column_dup(a, st, 1);
        pr->unit_price_micros = sqlite3_column_int64(st, 2);
        pr->included_quantity = sqlite3_column_int64(st, 3);
        pr->n_tiers = 0;
        pr->tiers = NULL;
        if (pr->metric == NULL || pr->description == NULL) {
            sqlite3_reset(st);
            return oom(err);
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return store_error(conn, err, "reading plan prices");
    /* Tiers after the price cursor is reset: one open statement at a time. */
    return load_tiers(conn, a, plan_id, out, err);
}

/* --- handlers ------------------------------------------------------------- */

static int upsert_run(store_conn_t *conn, rpc_call_t *call, void *arg, ProtobufCMessage **resp,
                      mb_error *err)
{
    const plan *p = arg;
    /* An admin action (architecture principle 6): ids only. */
    if (plan_store(conn, p, err) != 0 ||
        audit_call_append(conn, call, "plan.upsert", NULL, p->plan_id, "plan catalog change", NULL,
                          err) != 0)
        return -1;
    /* Only the writer touches the call's arena while the job runs. */
    Minbill__V1__Plan *m = plan_to_proto(rpc_call_arena(call), p);
    if (m == NULL)
        return oom(err);
    *resp = &m->base;
    return 0;
}

int plans_upsert(rpc_call_t *call, const ProtobufCMessage *msg)
{
    mb_error err;
    plan *p = mb_arena_alloc(rpc_call_arena(call), sizeof *p);
    if (p == NULL)
        return rpc_call_fail(call, &(mb_error){GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory"});
    /* The unary request lives in the call's arena until the call is freed,
     * so the normalised plan may point into it. */
    if (plan_check(rpc_call_arena(call), (const Minbill__V1__Plan *)msg, p, &err) != 0)
        return rpc_call_fail(call, &err);
    rpc_call_write(call, ((mb_app *)rpc_call_app(call))->store, upsert_run, p);
    return RPC_CONTINUE;
}

typedef struct get_args {
    mb_arena_t *arena;
    const char *plan_id;
    Minbill__V1__Plan *out;
} get_args;

static int get_read(store_conn_t *conn, void *arg, mb_error *err)
{
    get_args *g = arg;
    plan p;
    if (plan_load(conn, g->arena, g->plan_id, &p, err) != 0)
        return -1;
    if ((g->out = plan_to_proto(g->arena, &p)) == NULL)
        return oom(err);
    return 0;
}

int plans_get(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Minbill__V1__GetPlanRequest *req = (const void *)msg;
    mb_error err;
    if (check_id("plan_id", req->plan_id, &err) != 0)
        return rpc_call_fail(call, &err);
    get_args g = {.arena = rpc_call_arena(call), .plan_id = req->plan_id};
    if (store_read_for(((mb_app *)rpc_call_app(call))->store, PURPOSE_INVOICING, get_read, &g, &err) != 0)
        return rpc_call_fail(call, &err);
    rpc_call_finish(call, &g.out->base, NULL);
    return RPC_CONTINUE;
}

typedef struct list_args {
    mb_arena_t *arena;
    const char *after;
    int size;
    Minbill__V1__ListPlansResponse *resp;
} list_args;

/* One page of plan ids after l->after, then each plan. One more id than the
 * page holds is read to know whether another page follows. */
static int list_read(store_conn_t *conn, void *arg, mb_error *err)
{
    list_args *l = arg;
    mb_arena_t *a = l->arena;
    char **ids = mb_arena_alloc(a, (size_t)(l->size + 1) * sizeof *ids);
    Minbill__V1__Plan **plans = mb_arena_alloc(a, (size_t)(l->size + 1) * sizeof *plans);
    if (ids == NULL || plans == NULL)
        return oom(err);
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_PLAN_PAGE, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, l->after, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, l->size + 1);
    int rc = SQLITE_DONE, n = 0;
    while (n <= l->size && (rc = sqlite3_step(st)) == SQLITE_ROW)
        if ((ids[n++] = column_dup(a, st, 0)) == NULL)
            break;
    sqlite3_reset(st);
    if (n <= l->size && rc != SQLITE_DONE && rc != SQLITE_ROW)
        return store_error(conn, err, "listing plans");
    if (n > 0 && ids[n - 1] == NULL)
        return oom(err);
    l->resp->next_page_token = "";
    if (n > l->size) {
        n = l->size;
        l->resp->next_page_token = ids[n - 1];
    }
    for (int i = 0; i < n; i++) {
        plan p;
        if (plan_load(conn, a, ids[i], &p, err) != 0)
            return -1;
        if ((plans[i] = plan_to_proto(a, &p)) == NULL)
            return oom(err);
    }
    l->resp->n_plans = (size_t)n;
    l->resp->plans = plans;
    return 0;
}

int plans_list(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Minbill__V1__ListPlansRequest *req = (const void *)msg;
    mb_arena_t *a = rpc_call_arena(call);
    mb_error err;
    if (req->page_size < 0 || req->page_size > PLAN_LIST_MAX)
        return rpc_call_fail(call,
                             &(mb_error){GRPC_STATUS_INVALID_ARGUMENT,
                                         "page_size: must be from 0 (server default) to 500"});
    /* The token is the last plan_id of the previous page. */
    if (req->page_token[0] != '\0' && check_id("page_token", req->page_token, &err) != 0)
        return rpc_call_fail(call, &(mb_error){GRPC_STATUS_INVALID_ARGUMENT,
                                               "page_token: not a token returned by ListPlans"});
    list_args l = {.arena = a,
                   .after = req->page_token,
                   .size = req->page_size ? req->page_size : PLAN_LIST_DEFAULT,
                   .resp = mb_arena_alloc(a, sizeof *l.resp)};
    if (l.resp == NULL)
        return rpc_call_fail(call, &(mb_error){GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory"});
    minbill__v1__list_plans_response__init(l.resp);
    if (store_read_for(((mb_app *)rpc_call_app(call))->store, PURPOSE_INVOICING, list_read, &l,
                       &err) != 0)
        return rpc_call_fail(call, &err);
    rpc_call_finish(call, &l.resp->base, NULL);
    return RPC_CONTINUE;
}
