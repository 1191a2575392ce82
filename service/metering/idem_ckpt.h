/*
 * idem_ckpt.h - the idempotency filter on disk: checkpoints written while
 * ingest goes on, and a file read back at start-up.
 *
 * Why: building the filter from the table reads every stored hash (~0.45 us
 * each, 47 s at 100 million), and a daemon that crashed saved nothing. So
 * the writer thread hands the filter over partition by partition, between
 * its jobs, to a thread of the checkpoint's own that writes the copies out;
 * a start loads the newest complete file and adds from the table only what
 * may be missing from it.
 *
 * What a file promises (idem.c relies on it): partition p holds every hash
 * of partition p that was stored when p was copied, with its run's tag.
 * Hashes stored later went to runs >= from_run[p] (runs are numbered in
 * order and only the newest takes hashes), or to a run that is not the one
 * the file knew by that number: each run's row carries a random nonce, set
 * when the row is created (0013_usage_run_nonces.sql), and the file lists
 * the (run, nonce) pairs it knew. A run re-created after a rollback, a
 * number used again once every older run expired, a restored backup that
 * went on differently: all have other nonces. So a start adds, from the
 * table, the hashes of runs the file does not know, and those of partition
 * p in runs >= from_run[p]. An older complete file stays true (it only
 * leaves more to add), so a crash that loses a newer file's rename costs
 * time, never exactness.
 *
 * Format (MBIDF02): magic; per partition in order its from_run (8 bytes),
 * the length of its bytes (4) and the bytes (idem_filter_part_copy); the
 * number of runs (8) and per run its number and nonce (8 + 8); a
 * BLAKE2b-256 of everything before. Integers little endian as in memory:
 * the file is only read back by the machine that wrote it, and a mismatch
 * fails the checksum.
 *
 * Threads: one thread (the writer's) drives a checkpoint; the file is
 * written on the checkpoint's thread.
 */
#ifndef MB_METERING_IDEM_CKPT_H
#define MB_METERING_IDEM_CKPT_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "metering/idem_filter.h"

typedef struct idem_ckpt idem_ckpt_t;

typedef struct idem_run_nonce {
    int64_t run, nonce;
} idem_run_nonce;

/* Starts a checkpoint to path: written aside (path.tmp) by a new thread,
 * renamed over path once complete and on disk. */
int idem_ckpt_begin(const char *path, idem_ckpt_t **out, mb_error *err);

/* Whether another partition may be queued now: the copies waiting for the
 * disk are bounded, so a slow disk delays the checkpoint, not the writer,
 * and costs no memory. */
bool idem_ckpt_has_room(idem_ckpt_t *c);

/* Waits until there is room (or the thread has finished, failed). */
void idem_ckpt_wait_room(idem_ckpt_t *c);

/* Queues partition part's copy, from idem_filter_part_copy (bytes is
 * taken over, and freed with free()), with its from_run. Partitions must
 * come in order 0..IDEM_FILTER_PARTS-1. */
int idem_ckpt_put(idem_ckpt_t *c, unsigned part, int64_t from_run, uint8_t *bytes, size_t len,
                  mb_error *err);

/* After the last partition: queues the runs (copied) and lets the thread
 * finish (checksum, fsync, rename). */
int idem_ckpt_end(idem_ckpt_t *c, const idem_run_nonce *runs, size_t n, mb_error *err);

/* 0 while the thread writes; 1 once it finished (*ok says whether the file
 * is in place, err why not). */
int idem_ckpt_poll(idem_ckpt_t *c, bool *ok, mb_error *err);

/* Waits for the thread after idem_ckpt_end: 0 if the file is in place. */
int idem_ckpt_wait(idem_ckpt_t *c, mb_error *err);

/* Stops a checkpoint in any state and frees it: one whose end was not yet
 * queued leaves no file (one already being completed may still be renamed
 * into place: it is complete and true). NULL is a no-op. */
void idem_ckpt_free(idem_ckpt_t *c);

/* A file read back: the filter, each partition's from_run, and the runs it
 * knew, ascending. */
typedef struct idem_ckpt_file {
    idem_filter_t *filter;
    int64_t from_run[IDEM_FILTER_PARTS];
    idem_run_nonce *runs;
    size_t n_runs;
} idem_ckpt_file;

/* 0, or -1 (the file is missing, damaged or not a checkpoint, or out of
 * memory; *missing says whether there was no file). */
int idem_ckpt_load(const char *path, idem_ckpt_file *out, bool *missing);
void idem_ckpt_file_clear(idem_ckpt_file *f);

/* Whether f knew run with this nonce. */
bool idem_ckpt_file_knows(const idem_ckpt_file *f, int64_t run, int64_t nonce);

#endif
