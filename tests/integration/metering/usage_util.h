/*
 * usage_util.h - what the metering integration tests share: building and
 * sending usage batches (RecordUsage and StreamUsage), reading counters,
 * a plan for the metric catalog, and direct SQL on the daemon's database for
 * what no RPC does yet (accounts until the tests use Accounts.UpsertAccount,
 * invoiced periods until invoicing exists).
 */
#ifndef MB_TEST_USAGE_UTIL_H
#define MB_TEST_USAGE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "minbill/v1/invoicing.pb-c.h"
#include "minbill/v1/metering.pb-c.h"

#define MU_RECORD "/minbill.v1.Metering/RecordUsage"
#define MU_STREAM "/minbill.v1.Metering/StreamUsage"
#define MU_GET_USAGE "/minbill.v1.Metering/GetUsage"
#define MU_UPSERT_PLAN "/minbill.v1.Invoicing/UpsertPlan"
#define MU_GET_PLAN "/minbill.v1.Invoicing/GetPlan"
#define MU_LIST_PLANS "/minbill.v1.Invoicing/ListPlans"

typedef struct mu_event {
    const char *key, *account, *metric;
    int64_t quantity;
    int64_t occurred; /* Unix seconds; 0 = leave occurred_at unset */
} mu_event;

/* Brings up a daemon for a usage test: platform and finance API keys, the
 * accounts (active) and a plan plan_id pricing metrics. 0 or -1 (reason on
 * stderr); the caller tears down with mbt_down() either way. */
int mu_up(mbt_server *s, char platform[MBT_KEY_MAX], char finance[MBT_KEY_MAX],
          const char *const *accounts, size_t n_accounts, const char *plan_id,
          const char *const *metrics, size_t n_metrics);

/* Runs sql on the daemon's database file (with a busy timeout, so it waits
 * for the daemon's writer). 0 or -1 (message on stderr). */
int mu_sql(const mbt_server *s, const char *sql);

/* Inserts active accounts (ids) straight into the database. */
int mu_add_accounts(const mbt_server *s, const char *const *ids, size_t n);

/* UpsertPlan: plan_id in EUR with one flat price "0.0025" per metric. */
int mu_plan(mbc_channel_t *ch, const char *api_key, const char *plan_id, const char *const *metrics,
            size_t n, mb_error *st);

/* A packed RecordUsageRequest (malloc'd). */
uint8_t *mu_pack(const mu_event *ev, size_t n, size_t *len);

/* RecordUsage; fills the counts on OK. Returns the status code. */
int mu_record(mbc_channel_t *ch, const char *api_key, const mu_event *ev, size_t n,
              int64_t *accepted, int64_t *duplicates, mb_error *st);

/* StreamUsage with nb batches of per_batch events (ev holds nb * per_batch);
 * fills the totals on OK. Returns the status code. */
int mu_stream(mbc_channel_t *ch, const char *api_key, const mu_event *ev, size_t nb,
              size_t per_batch, int timeout_ms, int64_t *accepted, int64_t *duplicates,
              mb_error *st);

/* GetUsage; *out (caller frees with protobuf_c_message_free_unpacked) on
 * OK. Returns the status code. */
int mu_usage(mbc_channel_t *ch, const char *api_key, const char *account, const char *period,
             Minbill__V1__GetUsageResponse **out, mb_error *st);

/* The counter of metric in r (NULL if none). */
const Minbill__V1__UsageCounter *mu_counter(const Minbill__V1__GetUsageResponse *r,
                                            const char *metric);

/* "YYYY-MM" of a Unix time (UTC). */
void mu_period(int64_t t, char out[8]);

#endif
