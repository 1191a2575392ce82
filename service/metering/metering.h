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
 * Owns the idempotency index (idem.h), which only writer jobs touch, and
 * the purge of hashes past the acceptance window, a rule of the daemon's
 * one purge facility (purge/purge.h): its steps are writer jobs, so they
 * keep the in-memory filter in step with the rows.
 */
#ifndef MB_METERING_H
#define MB_METERING_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "crypto/keyring.h"
#include "purge/purge.h"
#include "rpc/server.h"
#include "store/store.h"

#define METERING_WINDOW_DAYS_DEFAULT 62
#define METERING_WINDOW_DAYS_MAX 3650
#define METERING_STREAM_PENDING 32
/* Hashes deleted per purge step (contiguous rows of 16 bytes): a short
 * writer job beside ingest; bench_purge prints the longest step. */
#define METERING_PURGE_CHUNK 2000

typedef struct metering metering_t;

typedef struct metering_options {
    int window_days; /* acceptance window; 0 = METERING_WINDOW_DAYS_DEFAULT */
    /* Where the idempotency filter is saved at a clean stop and checkpointed
     * while counting, and loaded from at the next start (idem.h); NULL:
     * rebuilt from the table. */
    const char *filter_path;
    uint64_t filter_checkpoint_hashes; /* idem_set_checkpoint_hashes; 0: never */
} metering_options;

/* Loads the idempotency index (on the writer, so it sees the latest
 * commit). kr must be attached to the database. */
int metering_start(store_t *store, const keyring_t *kr, const metering_options *opt,
                   metering_t **out, mb_error *err);

/* Saves the idempotency filter (see metering_options) and frees the
 * index. Call after the RPC server and the purge facility have stopped and
 * the store drained (no write can follow) and before store_close(). NULL:
 * no-op. */
void metering_stop(metering_t *m);

/* The purge rule (purge_fn) of idempotency hashes past the stored
 * acceptance window, and its rolled_back hook. arg: the daemon's metering,
 * or NULL in `minbilld purge` (no in-memory index to keep in step: a
 * daemon running meanwhile only keeps stale filter entries, which cost a
 * probe). */
int metering_purge_step(store_conn_t *conn, void *arg, const purge_ctx *ctx, purge_step *step,
                        mb_error *err);
void metering_purge_rolled_back(void *arg);

/* Handlers (see methods.c for roles). */
int metering_record_usage(rpc_call_t *call, const ProtobufCMessage *req);
int metering_stream_usage(rpc_call_t *call, const ProtobufCMessage *req);
void metering_stream_end(rpc_call_t *call);
void metering_stream_cancel(rpc_call_t *call);
int metering_get_usage(rpc_call_t *call, const ProtobufCMessage *req);

#endif
