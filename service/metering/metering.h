/*
 * metering.h - minbill.v1.Metering: RecordUsage, StreamUsage, GetUsage, and
 * the idempotency-hash purge.
 *
 * Ingest: a batch is validated and hashed on the completion-queue thread
 * (ingest.h), queued as one job to the group-commit writer, and answered
 * from the job's done callback, i.e. only after the commit that counted it
 * is on disk. A completion-queue thread never waits for the writer. A
 * StreamUsage call keeps at most METERING_STREAM_PENDING batches queued
 * (then stops reading until one commits, so a fast client cannot grow the
 * daemon's memory) and answers with its totals once every batch committed;
 * the first failed batch ends the stream with that batch's error, prefixed
 * with the message's index ("messages[7].events[3].metric: ..."): the
 * batches before it stay counted (a retry finds them as duplicates), the
 * ones queued or sent after it are not.
 *
 * Owns the idempotency index (idem.h), which only writer jobs touch, and a
 * timer thread that queues a bounded purge of expired hashes a second after
 * start and then every purge_interval_ms (a backlog drains one bounded job
 * after another).
 */
#ifndef MB_METERING_H
#define MB_METERING_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "crypto/keyring.h"
#include "rpc/server.h"
#include "store/store.h"

#define METERING_WINDOW_DAYS_DEFAULT 62
#define METERING_WINDOW_DAYS_MAX 3650
#define METERING_STREAM_PENDING 32

typedef struct metering metering_t;

typedef struct metering_options {
    int window_days;       /* acceptance window; 0 = METERING_WINDOW_DAYS_DEFAULT */
    int purge_interval_ms; /* 0 = one minute */
    int purge_chunk;       /* hashes deleted per purge job; 0 = 20,000 */
} metering_options;

/* Loads the idempotency index (on the writer, so it sees the latest commit)
 * and starts the purge timer. kr must be attached to the database. */
int metering_start(store_t *store, const keyring_t *kr, const metering_options *opt,
                   metering_t **out, mb_error *err);

/* Stops the timer and waits for a queued purge. Call after the RPC server
 * has stopped (no ingest job left) and before store_close(). NULL: no-op. */
void metering_stop(metering_t *m);

/* `minbilld purge`: deletes every idempotency hash past the window through
 * conn (a transaction per bounded chunk, so a running daemon is never held
 * up long), or with dry_run only counts them. The daemon does the same by
 * itself; a daemon running meanwhile only keeps stale filter entries. */
int metering_purge(store_conn_t *conn, int window_days, bool dry_run, int64_t *hashes,
                   int64_t *runs, mb_error *err);

/* Handlers (see methods.c for roles). */
int metering_record_usage(rpc_call_t *call, const ProtobufCMessage *req);
int metering_stream_usage(rpc_call_t *call, const ProtobufCMessage *req);
void metering_stream_end(rpc_call_t *call);
void metering_stream_cancel(rpc_call_t *call);
int metering_get_usage(rpc_call_t *call, const ProtobufCMessage *req);

#endif
