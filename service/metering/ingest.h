/*
 * ingest.h - one batch of usage events, from request to counters.
 *
 * ingest_build() runs on the completion-queue thread: it validates the whole
 * request (INVALID_ARGUMENT naming the first bad event and field, e.g.
 * "events[3].quantity: must be > 0 and <= 1000000000000"), computes each
 * event's idempotency hash (idem.h) and its period, and copies what the
 * writer needs into one heap block: hashes and quantities, and the distinct
 * accounts, metrics and (account, period, metric) counters the events name.
 * Nothing else of the request is kept: in particular not the idempotency
 * keys.
 *
 * ingest_check() and ingest_apply_many() run on the writer thread, for the
 * batches of a group together (store_job.run_many): the check first, per batch: every account must exist and be active and every
 * metric be in the catalog (FAILED_PRECONDITION naming an event; it writes
 * nothing). Then each event of the checked batches is counted once
 * (idem_insert_many; an event repeating an earlier one of the run is a
 * duplicate without a lookup), and the accepted quantities, summed per
 * counter over the whole run first, are added to usage_counters: a group
 * of single events or of batches over the same accounts writes each
 * counter and the idempotency run once, not once per call.
 */
#ifndef MB_METERING_INGEST_H
#define MB_METERING_INGEST_H

#include <stdint.h>

#include "base/error.h"
#include "metering/idem.h"
#include "minbill/v1/metering.pb-c.h"
#include "store/store.h"

#define INGEST_MAX_EVENTS 10000
#define INGEST_MAX_QUANTITY 1000000000000LL /* 10^12 */
#define INGEST_MAX_FUTURE_SECONDS 300
#define INGEST_METRIC_MAX 64

typedef struct ingest_batch ingest_batch;

typedef struct ingest_rules {
    const unsigned char *hash_key; /* KEYRING_SECRET_IDEMPOTENCY, 32 bytes */
    int64_t now;                   /* Unix seconds */
    int window_days;               /* acceptance window */
} ingest_rules;

/* Validates req whole; on success *out is a batch to ingest_apply() and
 * ingest_free(). */
int ingest_build(const Minbill__V1__RecordUsageRequest *req, const ingest_rules *rules,
                 ingest_batch **out, mb_error *err);
void ingest_free(ingest_batch *b);

/* Which accounts and metrics exist (and which accounts are active), as
 * the writer found them: most batches name the same accounts again, and
 * looking each one up was a sixth of the writer's time. Valid while the
 * writer connection's epoch stays the same (store_conn_epoch); writer
 * thread only. NULL when out of memory. */
typedef struct ingest_cache ingest_cache_t;
ingest_cache_t *ingest_cache_new(void);
void ingest_cache_free(ingest_cache_t *cache);

/* The batch's names (see above). cache may be NULL (no caching). */
int ingest_check(ingest_batch *b, ingest_cache_t *cache, store_conn_t *conn, mb_error *err);

/* Counts the checked batches bs[0..n-1] together (see above); `today` is
 * the arrival day for the idempotency runs. On -1 (a storage error; with
 * n > 1 also a counter that would pass INT64_MAX, which only one batch
 * alone can name) the caller rolls back what it wrote. */
int ingest_apply_many(ingest_batch *const *bs, size_t n, idem_t *ix, store_conn_t *conn,
                      int64_t today, mb_error *err);

/* ingest_check() then ingest_apply_many() of the one batch. */
int ingest_apply(ingest_batch *b, idem_t *ix, ingest_cache_t *cache, store_conn_t *conn,
                 int64_t today, mb_error *err);

size_t ingest_events(const ingest_batch *b);
/* After a successful apply. */
int64_t ingest_accepted(const ingest_batch *b);
int64_t ingest_duplicates(const ingest_batch *b);

#endif
