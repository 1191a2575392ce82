/*
 * writer.h - the group-commit writer: the only code that writes the database.
 *
 * Callers queue jobs; one thread takes every job waiting, runs them all inside
 * one transaction (each inside its own SAVEPOINT, so a failing job leaves no
 * trace and does not spoil the others; or, for jobs that can be run
 * together, such as ingest batches, all of them at once), commits once, and only then reports
 * each job's outcome through its done callback. With synchronous=FULL the
 * commit is one fsync shared by the whole group: that is where throughput
 * comes from, and it is why "acknowledged" can mean "on disk".
 *
 * A job whose deadline has passed before the writer reaches it is not run and
 * completes with DEADLINE_EXCEEDED: its caller has already given up.
 *
 * WAL checkpoints run on a checkpointer thread, not inside commits (see
 * writer.c). After a commit whose jobs destroyed key material
 * (store_conn_note_shred) it also truncates the WAL, so no older copy of
 * what was destroyed stays in it.
 *
 * The writer tells a watcher (health) when the storage refuses writes and
 * when it takes them again (store_watch_writable).
 */
#ifndef MB_STORE_WRITER_H
#define MB_STORE_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "store/store.h"

typedef struct store_writer store_writer_t;

typedef struct store_job store_job;
struct store_job {
    /* Runs inside the group transaction on the writer connection. Returns 0
     * or -1 with err filled; on -1 the job's changes are rolled back. */
    int (*run)(store_conn_t *conn, void *arg, mb_error *err);
    /* Called once, after the commit (err == NULL) or after the job or the
     * commit failed (err set), on the completer thread: jobs complete in
     * commit order while the writer already runs the next group. */
    void (*done)(void *arg, const mb_error *err);
    /* Optional: runs jobs[0..n-1], all the group's live jobs with this same
     * run_many (in their queue order), as one piece of work, first in the
     * group and without a savepoint (see writer.c), so that what they
     * change in common (counters, an index) is written once. Returns 0 when
     * it took them all: errs[k] (cleared) says that job k failed, and then
     * it must have written nothing for it. Returns -1 with err when it
     * cannot: the transaction is rolled back and begun again and each job
     * is run alone with run, so run_many may be all or nothing. */
    int (*run_many)(store_conn_t *conn, store_job *const *jobs, size_t n, mb_error *errs,
                    mb_error *err);
    void *arg;
    /* mb_mono_ns() time; INT64_MAX for none. */
    int64_t deadline_ns;
    /* A large job (an ingest batch): small jobs queued meanwhile commit in
     * a group of their own first (see writer.c). A bulk job changes only
     * what other bulk jobs own (store_conn_epoch). */
    bool bulk;
    store_job *next; /* owned by the writer while queued */
};

/* path: the database, for the checkpointer's own connection. */
int store_writer_start(store_t *store, const char *path, store_writer_t **out, mb_error *err);

/* Lets the queue drain, then joins the thread. NULL is a no-op. */
void store_writer_stop(store_writer_t *writer);

/* The first step of a shutdown, before anything the jobs use is freed:
 * refuses new jobs (UNAVAILABLE), runs the queued ones while grace_ms lasts
 * and answers those still queued after it UNAVAILABLE without running
 * them; returns once every job's done callback has returned. A group
 * already running finishes (acknowledged means committed). */
void store_writer_drain(store_writer_t *writer, int grace_ms);
void store_drain(store_t *store, int grace_ms);

/* Queues a job (the job memory must live until done is called). Returns -1
 * with UNAVAILABLE when the writer is stopping or draining; done is then
 * never called. */
int store_writer_submit(store_writer_t *writer, store_job *job, mb_error *err);

/* Transactions committed so far (each may hold many jobs). */
uint64_t store_writer_commits(const store_writer_t *writer);

/* store_writer_submit() to the daemon's writer. */
int store_submit(store_t *store, store_job *job, mb_error *err);
store_writer_t *store_writer_borrow(store_t *store);

/* Called by the writer thread when the storage starts refusing writes
 * (BEGIN, COMMIT or a job's statement failed with a storage error: read-only,
 * I/O error, full, busy) and when a commit succeeds again. */
typedef void (*store_writable_fn)(void *arg, bool writable);
void store_watch_writable(store_t *store, store_writable_fn fn, void *arg);

/* Queues one job and waits for its outcome: for start-up and admin work, not
 * for RPC handlers (they must not block a completion-queue thread). */
int store_write_sync(store_t *store, int (*run)(store_conn_t *conn, void *arg, mb_error *err),
                     void *arg, mb_error *err);

/* Queues n jobs, run(conn, args[i], &errs[i]) each in its own savepoint, and
 * waits until every one has completed: errs[i] says how (code OK once it
 * committed). Returns 0 if all committed, else -1. For threads that may
 * block (job threads, start-up), so long work writes in short jobs that
 * share group commits with everyone else's. */
int store_write_all(store_t *store, int (*run)(store_conn_t *conn, void *arg, mb_error *err),
                    void *const *args, size_t n, mb_error *errs);

/* The same in two steps, so long work can prepare its next jobs while these
 * commit: queues the jobs and returns at once (NULL, with every errs[i]
 * set, if out of memory); store_batch_wait() waits for all of them, frees
 * the batch and returns 0 if all committed. args, errs and what the jobs
 * use must live until the wait returns; every batch must be waited for. */
typedef struct store_batch store_batch_t;
store_batch_t *store_batch_submit(store_t *store,
                                  int (*run)(store_conn_t *conn, void *arg, mb_error *err),
                                  void *const *args, size_t n, mb_error *errs);
int store_batch_wait(store_batch_t *batch);

#endif
