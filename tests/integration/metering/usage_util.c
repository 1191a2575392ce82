/*
 * usage_util.c - see usage_util.h.
 */
#include "usage_util.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

int mu_sql(const mbt_server *s, const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;
    int rc = sqlite3_open_v2(s->d.db, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_busy_timeout(db, 10000);
        rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    }
    if (rc != SQLITE_OK)
        fprintf(stderr, "usage_util: %s: %s\n", sql, msg ? msg : sqlite3_errmsg(db));
    sqlite3_free(msg);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

int mu_add_accounts(const mbt_server *s, const char *const *ids, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char sql[256];
        snprintf(sql, sizeof sql, "INSERT INTO accounts(account_id, currency) VALUES ('%s', 'EUR')",
                 ids[i]);
        if (mu_sql(s, sql) != 0)
            return -1;
    }
    return 0;
}

int mu_up(mbt_server *s, char platform[MBT_KEY_MAX], char finance[MBT_KEY_MAX],
          const char *const *accounts, size_t n_accounts, const char *plan_id,
          const char *const *metrics, size_t n_metrics)
{
    char admin[MBT_KEY_MAX];
    mb_error st;
    if (mbt_up(s, NULL) != 0)
        return -1;
    mbt_key(s, "platform", platform);
    mbt_key(s, "finance", finance);
    mbt_key(s, "admin", admin);
    if (platform[0] == '\0' || finance[0] == '\0' || admin[0] == '\0' ||
        mu_add_accounts(s, accounts, n_accounts) != 0)
        return -1;
    if (mu_plan(s->ch, admin, plan_id, metrics, n_metrics, &st) != GRPC_STATUS_OK) {
        fprintf(stderr, "usage_util: UpsertPlan: %s: %s\n", mb_status_name(st.code), st.msg);
        return -1;
    }
    return 0;
}

int mu_plan(mbc_channel_t *ch, const char *api_key, const char *plan_id, const char *const *metrics,
            size_t n, mb_error *st)
{
    Minbill__V1__Price prices[16], *pp[16];
    Minbill__V1__Plan p = MINBILL__V1__PLAN__INIT;
    p.plan_id = (char *)plan_id;
    p.currency = "EUR";
    for (size_t i = 0; i < n && i < 16; i++) {
        minbill__v1__price__init(&prices[i]);
        prices[i].metric = (char *)metrics[i];
        prices[i].description = "Usage";
        prices[i].unit_price = "0.0025";
        pp[i] = &prices[i];
    }
    p.n_prices = n < 16 ? n : 16;
    p.prices = pp;
    ProtobufCMessage *resp = NULL;
    mbc_unary(ch, MU_UPSERT_PLAN, api_key, &p.base, &minbill__v1__plan__descriptor, mbt_ms(10000),
              &resp, st);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    return st->code;
}

uint8_t *mu_pack(const mu_event *ev, size_t n, size_t *len)
{
    Minbill__V1__UsageEvent *e = calloc(n ? n : 1, sizeof *e);
    Minbill__V1__UsageEvent **ep = calloc(n ? n : 1, sizeof *ep);
    Google__Protobuf__Timestamp *ts = calloc(n ? n : 1, sizeof *ts);
    uint8_t *buf = NULL;
    if (e == NULL || ep == NULL || ts == NULL)
        goto out;
    for (size_t i = 0; i < n; i++) {
        minbill__v1__usage_event__init(&e[i]);
        google__protobuf__timestamp__init(&ts[i]);
        e[i].idempotency_key = (char *)ev[i].key;
        e[i].account_id = (char *)ev[i].account;
        e[i].metric = (char *)ev[i].metric;
        e[i].quantity = ev[i].quantity;
        ts[i].seconds = ev[i].occurred;
        e[i].occurred_at = ev[i].occurred != 0 ? &ts[i] : NULL;
        ep[i] = &e[i];
    }
    Minbill__V1__RecordUsageRequest req = MINBILL__V1__RECORD_USAGE_REQUEST__INIT;
    req.n_events = n;
    req.events = ep;
    *len = protobuf_c_message_get_packed_size(&req.base);
    if ((buf = malloc(*len ? *len : 1)) != NULL)
        protobuf_c_message_pack(&req.base, buf);
out:
    free(e);
    free(ep);
    free(ts);
    return buf;
}

static void unpack_counts(const uint8_t *buf, size_t len, int64_t *accepted, int64_t *duplicates,
                          mb_error *st)
{
    Minbill__V1__RecordUsageResponse *r =
        minbill__v1__record_usage_response__unpack(NULL, len, buf);
    if (r == NULL) {
        mb_error_set(st, GRPC_STATUS_INTERNAL, "undecodable RecordUsageResponse");
        return;
    }
    *accepted = r->accepted;
    *duplicates = r->duplicates;
    minbill__v1__record_usage_response__free_unpacked(r, NULL);
}

int mu_record(mbc_channel_t *ch, const char *api_key, const mu_event *ev, size_t n,
              int64_t *accepted, int64_t *duplicates, mb_error *st)
{
    size_t len = 0;
    uint8_t *req = mu_pack(ev, n, &len), *resp = NULL;
    size_t resp_len = 0;
    if (req == NULL)
        return mb_error_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory"),
               GRPC_STATUS_RESOURCE_EXHAUSTED;
    if (mbc_unary_raw(ch, MU_RECORD, api_key, req, len, mbt_ms(10000), &resp, &resp_len, st) == 0)
        unpack_counts(resp, resp_len, accepted, duplicates, st);
    free(req);
    free(resp);
    return st->code;
}

int mu_stream(mbc_channel_t *ch, const char *api_key, const mu_event *ev, size_t nb,
              size_t per_batch, int timeout_ms, int64_t *accepted, int64_t *duplicates,
              mb_error *st)
{
    mbc_call_t *call = mbc_call_start(ch, MU_STREAM, api_key, timeout_ms);
    if (call == NULL)
        return mb_error_set(st, GRPC_STATUS_RESOURCE_EXHAUSTED, "cannot start a call"),
               GRPC_STATUS_RESOURCE_EXHAUSTED;
    for (size_t b = 0; b < nb; b++) {
        size_t len = 0;
        uint8_t *msg = mu_pack(ev + b * per_batch, per_batch, &len);
        int rc = msg != NULL ? mbc_call_send(call, msg, len) : -1;
        free(msg);
        if (rc != 0)
            break; /* the server ended the call: its status says why */
    }
    mbc_call_close_send(call);
    uint8_t *resp = NULL;
    size_t resp_len = 0;
    int got = mbc_call_recv(call, &resp, &resp_len);
    if (mbc_call_finish(call, st) == 0 && got == 1)
        unpack_counts(resp, resp_len, accepted, duplicates, st);
    else if (st->code == GRPC_STATUS_OK)
        mb_error_set(st, GRPC_STATUS_INTERNAL, "OK without a response");
    free(resp);
    mbc_call_free(call);
    return st->code;
}

int mu_usage(mbc_channel_t *ch, const char *api_key, const char *account, const char *period,
             Minbill__V1__GetUsageResponse **out, mb_error *st)
{
    Minbill__V1__GetUsageRequest req = MINBILL__V1__GET_USAGE_REQUEST__INIT;
    req.account_id = (char *)account;
    req.period = (char *)period;
    ProtobufCMessage *resp = NULL;
    mbc_unary(ch, MU_GET_USAGE, api_key, &req.base, &minbill__v1__get_usage_response__descriptor,
              mbt_ms(10000), &resp, st);
    *out = (Minbill__V1__GetUsageResponse *)resp;
    return st->code;
}

const Minbill__V1__UsageCounter *mu_counter(const Minbill__V1__GetUsageResponse *r,
                                            const char *metric)
{
    for (size_t i = 0; r != NULL && i < r->n_counters; i++)
        if (strcmp(r->counters[i]->metric, metric) == 0)
            return r->counters[i];
    return NULL;
}

void mu_period(int64_t t, char out[8])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(out, 8, "%Y-%m", &tm);
}
