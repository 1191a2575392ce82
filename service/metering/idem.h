/*
 * idem.h - the idempotency index: has this (account, idempotency key) been
 * counted within the acceptance window?
 *
 * What is stored: for every accepted event, a 16-byte keyed BLAKE2b of
 * (account_id, idempotency_key) and the run it was written in
 * (usage_idem, 0003_metering.sql). Never the key, never the event.
 *
 * Why runs: hashes are random, so one index over all of them takes every
 * insert to a random page, and at a few million hashes each group commit
 * rewrites thousands of pages (measured here: ~390,000 inserts/s on a fresh
 * table, ~60,000/s at 5 million rows). Instead hashes go, in arrival order,
 * into the newest run (at most IDEM_RUN_MAX_HASHES hashes of one UTC day),
 * whose pages stay hot, and a commit touches only those. Finding a hash
 * across runs is the job of an in-memory cuckoo filter (idem_filter.h):
 * "certainly new" skips the disk; "maybe" (a replay, or 1 in ~8,000 new
 * hashes) comes with the low 8 bits of the run each matching entry was
 * written to, and is settled by a primary-key lookup in just those runs,
 * newest first: one lookup per duplicate while fewer than 256 runs (8
 * million hashes) are kept, about runs / 256 beyond.
 *
 * Exactness: the filter holds every hash on disk with its run's tag (it is
 * loaded at start-up from a checkpoint, with what the checkpoint may lack
 * added from the table, or built from the table, and every insert is added
 * after it hit the table); anything else in it only costs a probe. A hash is removed
 * from it only together with its row, when a purge deletes it; if a purge's
 * transaction then fails the filter is rebuilt from the table before its
 * next use.
 *
 * Retention: a run is purged whole, in bounded chunks, once its newest hash
 * is more than window_days + 1 days old. Events older than the window are
 * refused at ingest, so a replay of an event whose hash is gone is refused
 * as too old instead of being counted again (the extra day covers events
 * stamped up to 5 minutes in the future).
 *
 * Threads: idem_hash() anywhere; everything else on the writer thread (or a
 * single-threaded tool), inside the caller's write transaction.
 */
#ifndef MB_METERING_IDEM_H
#define MB_METERING_IDEM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "metering/idem_filter.h"
#include "store/store.h"

/* A commit rewrites the pages of the newest run that it touched, about
 * min(hashes in the commit, run pages): small runs keep that (and so the
 * WAL traffic per hash) low, while every run costs a probe when the filter
 * says "maybe" and a range scan when a filter partition is rebuilt.
 * Measured here, 15 million hashes in commits of 3,200: runs of 2^17 wrote
 * ~430 pages per commit, runs of 2^15 ~130, and took about a third less
 * time per hash. */
#define IDEM_RUN_MAX_HASHES (1u << 15)
#define IDEM_ACCOUNT_MAX 64
#define IDEM_KEY_MAX 128

typedef struct idem idem_t;

/* hash = BLAKE2b-128 keyed with `key` over len(account) (4 bytes, big
 * endian) || account || idempotency_key: unambiguous, so ("a1", "2x") and
 * ("a12", "x") never collide by construction. */
void idem_hash(const unsigned char key[32], const char *account, size_t account_len,
               const char *idempotency_key, size_t key_len, uint8_t out[IDEM_HASH_BYTES]);

/* Reads the runs and loads the filter from the checkpoint at `saved` (may
 * be NULL), adding from the table the hashes stored since (idem_ckpt.h),
 * or, without a usable checkpoint, builds it from every stored hash.
 * Checkpoints made while counting go to `saved` too. */
int idem_open(store_conn_t *conn, const char *saved, idem_t **out, mb_error *err);

/* While counting, checkpoint the filter after every `hashes` new hashes
 * (0: never; the default), so that a start after a crash adds from the
 * table about that many instead of reading every stored hash. */
void idem_set_checkpoint_hashes(idem_t *ix, uint64_t hashes);

/* Saves the whole filter to the file given to idem_open (a checkpoint
 * written at once, fsynced, then renamed), so the next start adds nothing
 * from the table; for a clean shutdown, when no write can follow. No file:
 * a no-op. */
int idem_save(idem_t *ix, store_conn_t *conn, mb_error *err);
void idem_free(idem_t *ix);

/* Starts a job's counting: hashes go to a run of `day` (days since
 * 1970-01-01 UTC), whose row this makes sure exists in the caller's transaction
 * (a rolled-back job may have created and lost it). */
int idem_begin(idem_t *ix, store_conn_t *conn, int64_t day, mb_error *err);

/* Counts one event after idem_begin: 1 if hash is new (stored now), 0 if it
 * was stored before (a duplicate), -1 with err on a storage failure. */
int idem_insert(idem_t *ix, store_conn_t *conn, const uint8_t hash[IDEM_HASH_BYTES], mb_error *err);

/* idem_insert() of hashes[0..n-1] in order, with fresh[i] saying whether
 * hashes[i] was new; 0, or -1 with err. The hashes must be distinct: one
 * that repeats an earlier one of the same call is not found as a duplicate
 * (the caller drops repeats first, see ingest_apply_many). */
int idem_insert_many(idem_t *ix, store_conn_t *conn, const uint8_t *const *hashes, size_t n,
                     bool *fresh, mb_error *err);

/* Called by a job that wrote through idem_insert when its transaction
 * failed after its run() succeeded: a purge in the same group may have
 * removed filter entries whose rows are back now. Rebuilds the filter before
 * its next use. */
void idem_invalidate(idem_t *ix);

typedef struct idem_purge_result {
    int64_t hashes; /* deleted (or, dry run, that would be deleted) */
    int64_t runs;   /* runs emptied and dropped */
    bool more;      /* stopped at max_hashes with expired hashes left */
} idem_purge_result;

/* Deletes up to max_hashes hashes of runs whose newest hash is from before
 * today - window_days - 1 (days since the epoch). ix may be NULL (the
 * `minbilld purge` tool: no filter to maintain). A dry run only counts. */
int idem_purge(idem_t *ix, store_conn_t *conn, int64_t today, int window_days, int max_hashes,
               bool dry_run, idem_purge_result *res, mb_error *err);

/* For logs and the benchmark. */
typedef struct idem_stats {
    size_t runs;
    size_t filter_bytes;
    uint64_t probes;   /* "maybe" answers settled on disk */
    uint64_t seeks;    /* primary-key lookups those took (one per run searched) */
    uint64_t rebuilds; /* partitions rebuilt from disk */
    bool from_saved;   /* idem_open loaded a checkpoint */
    uint64_t rescanned;   /* hashes it added from the table after loading it */
    uint64_t checkpoints; /* written while counting */
} idem_stats;
void idem_get_stats(const idem_t *ix, idem_stats *st);

/* Days since 1970-01-01 of a Unix time (UTC). */
int64_t idem_day(int64_t unix_seconds);

#endif
