/*
 * test_writer.c - the group-commit writer: every job completes exactly once,
 * after the commit is durable (an fdatasync of the WAL that began after the
 * job ran: synchronous=FULL); a failing job leaves no trace and spoils
 * nothing else;
 * concurrent jobs share transactions; expired jobs are not run; jobs that
 * share a run_many run together, and alone if it fails; the daemon's
 * pragmas are in force.
 */
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "base/clock.h"
#include "check.h"
#include "store/store.h"
#include "store/writer.h"
#include "unit_tmp.h"

#define THREADS 8
#define JOBS_PER_THREAD 500

static store_t *store;

/* Syncs of the write-ahead log so far. This definition interposes libc's
 * for SQLite too (the program exports it because libsqlite3 refers to
 * it): a sync of the WAL makes everything written to it before durable. */
static atomic_long wal_syncs;

int fdatasync(int fd)
{
    char link[64], target[PATH_MAX];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, target, sizeof target - 1);
    if (n > 4 && memcmp(target + n - 4, "-wal", 4) == 0)
        atomic_fetch_add(&wal_syncs, 1);
    return (int)syscall(SYS_fdatasync, fd);
}

typedef struct insert_job {
    store_job job;
    int value;
    int fail;
    pthread_mutex_t *lock;
    pthread_cond_t *cond;
    int *pending;
    int done_calls;
    grpc_status_code code;
    int committed_visible; /* row visible on a reader when done ran */
    long syncs_at_run, syncs_at_done;
} insert_job;

static const char SQL_INSERT[] = "INSERT INTO t(v) VALUES (?1)";
static const char SQL_COUNT_V[] = "SELECT count(*) FROM t WHERE v = ?1";

static int insert_run(store_conn_t *conn, void *arg, mb_error *err)
{
    insert_job *j = arg;
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_INSERT, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_int(st, 1, j->value);
    j->syncs_at_run = atomic_load(&wal_syncs);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_error(conn, err, "insert");
    if (j->fail) /* after writing: the savepoint must undo the insert */
        return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION, "job %d: refused", j->value);
    return 0;
}

static int count_value(int v)
{
    store_conn_t *c = store_reader_acquire(store);
    mb_error err;
    sqlite3_stmt *st = store_conn_prepare(c, SQL_COUNT_V, &err);
    int n = -1;
    if (st != NULL) {
        sqlite3_bind_int(st, 1, v);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int(st, 0);
        sqlite3_reset(st);
    }
    store_reader_release(store, c);
    return n;
}

static void insert_done(void *arg, const mb_error *err)
{
    insert_job *j = arg;
    j->code = err ? err->code : GRPC_STATUS_OK;
    j->syncs_at_done = atomic_load(&wal_syncs);
    /* "Acknowledged means committed": another connection sees it now. */
    j->committed_visible = count_value(j->value);
    pthread_mutex_lock(j->lock);
    j->done_calls++;
    (*j->pending)--;
    pthread_cond_broadcast(j->cond);
    pthread_mutex_unlock(j->lock);
}

static int create_table(store_conn_t *conn, void *arg, mb_error *err)
{
    (void)arg;
    return store_conn_exec(conn, "CREATE TABLE t(v INTEGER NOT NULL)", err);
}

typedef struct worker {
    int base;
    insert_job jobs[JOBS_PER_THREAD];
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int pending;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    for (int i = 0; i < JOBS_PER_THREAD; i++) {
        insert_job *j = &w->jobs[i];
        *j = (insert_job){.job = {.run = insert_run, .done = insert_done, .deadline_ns = INT64_MAX},
                          .value = w->base + i,
                          .fail = (i % 10) == 3,
                          .lock = &w->lock,
                          .cond = &w->cond,
                          .pending = &w->pending};
        j->job.arg = j;
        pthread_mutex_lock(&w->lock);
        w->pending++;
        pthread_mutex_unlock(&w->lock);
        mb_error err;
        if (store_submit(store, &j->job, &err) != 0) {
            pthread_mutex_lock(&w->lock);
            w->pending--;
            pthread_mutex_unlock(&w->lock);
        }
        /* Keep a few in flight per thread, like RPCs waiting on commits. */
        pthread_mutex_lock(&w->lock);
        while (w->pending > 16)
            pthread_cond_wait(&w->cond, &w->lock);
        pthread_mutex_unlock(&w->lock);
    }
    pthread_mutex_lock(&w->lock);
    while (w->pending > 0)
        pthread_cond_wait(&w->cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

static void test_group_commit(void)
{
    static worker workers[THREADS];
    pthread_t th[THREADS];
    uint64_t commits_before = store_writer_commits(store_writer_borrow(store));
    long syncs_before = atomic_load(&wal_syncs);
    for (int t = 0; t < THREADS; t++) {
        workers[t].base = (t + 1) * 100000;
        pthread_create(&th[t], NULL, worker_main, &workers[t]);
    }
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    int ok = 0, refused = 0, wrong = 0;
    for (int t = 0; t < THREADS; t++) {
        for (int i = 0; i < JOBS_PER_THREAD; i++) {
            insert_job *j = &workers[t].jobs[i];
            if (j->done_calls != 1)
                wrong++;
            if (j->fail) {
                refused += j->code == GRPC_STATUS_FAILED_PRECONDITION;
                wrong += j->committed_visible != 0; /* rolled back */
            } else {
                ok += j->code == GRPC_STATUS_OK;
                wrong += j->committed_visible != 1;
                /* Acknowledged means on disk: a WAL sync began after it ran. */
                wrong += j->syncs_at_done <= j->syncs_at_run;
            }
        }
    }
    CHECK(wrong == 0);
    CHECK(ok == THREADS * JOBS_PER_THREAD * 9 / 10);
    CHECK(refused == THREADS * JOBS_PER_THREAD / 10);
    uint64_t commits = store_writer_commits(store_writer_borrow(store)) - commits_before;
    long syncs = atomic_load(&wal_syncs) - syncs_before;
    fprintf(stderr, "   %d jobs in %llu commits, %ld WAL syncs\n", THREADS * JOBS_PER_THREAD,
            (unsigned long long)commits, syncs);
    /* Concurrent jobs must share commits and their fsyncs; one per job
     * would be the bug. */
    CHECK(commits > 0 && commits < (uint64_t)(THREADS * JOBS_PER_THREAD) / 2);
    CHECK(syncs >= (long)commits);
}

static int dummy_run(store_conn_t *conn, void *arg, mb_error *err)
{
    (void)conn;
    (void)err;
    (*(int *)arg)++;
    return 0;
}

static void test_expired_job_not_run(void)
{
    int runs = 0;
    mb_error err;
    /* store_write_sync uses no deadline; submit an expired job by hand. */
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    int pending = 1;
    insert_job j = {.job = {.run = insert_run, .done = insert_done, .deadline_ns = mb_mono_ns() - 1},
                    .value = 7777777,
                    .lock = &lock,
                    .cond = &cond,
                    .pending = &pending};
    j.job.arg = &j;
    CHECK(store_submit(store, &j.job, &err) == 0);
    pthread_mutex_lock(&lock);
    while (pending > 0)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    CHECK(j.code == GRPC_STATUS_DEADLINE_EXCEEDED);
    CHECK(count_value(7777777) == 0);
    CHECK(store_write_sync(store, dummy_run, &runs, &err) == 0);
    CHECK(runs == 1);
}

/* Succeeds after filling err on a path it recovered from. */
static int recovered_run(store_conn_t *conn, void *arg, mb_error *err)
{
    (void)conn;
    (*(int *)arg)++;
    mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION, "optional thing missing");
    return 0;
}

static void test_return_value_decides(void)
{
    int runs = 0;
    mb_error err;
    CHECK(store_write_sync(store, recovered_run, &runs, &err) == 0);
    CHECK(runs == 1);
}

/* --- run_many ------------------------------------------------------------------ */

/* A job that holds the writer until the test has queued the next group. */
typedef struct gate {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    int entered, open;
} gate;

static int gate_run(store_conn_t *conn, void *arg, mb_error *err)
{
    (void)conn;
    (void)err;
    gate *g = arg;
    pthread_mutex_lock(&g->lock);
    g->entered = 1;
    pthread_cond_broadcast(&g->cond);
    while (!g->open)
        pthread_cond_wait(&g->cond, &g->lock);
    pthread_mutex_unlock(&g->lock);
    return 0;
}

static void gate_done(void *arg, const mb_error *err)
{
    (void)arg;
    (void)err;
}

static int many_calls, many_jobs, many_fail;

/* Inserts every job's value with one statement each, refusing those marked
 * fail (writing nothing for them); with many_fail set, fails whole after
 * writing. */
static int many_run(store_conn_t *conn, store_job *const *jobs, size_t n, mb_error *errs,
                    mb_error *err)
{
    many_calls++;
    many_jobs += (int)n;
    for (size_t k = 0; k < n; k++) {
        insert_job *j = jobs[k]->arg;
        if (j->fail && !many_fail) {
            mb_error_set(&errs[k], GRPC_STATUS_FAILED_PRECONDITION, "job %d: refused", j->value);
            continue;
        }
        sqlite3_stmt *st = store_conn_prepare(conn, SQL_INSERT, err);
        if (st == NULL)
            return -1;
        sqlite3_bind_int(st, 1, j->value);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return store_error(conn, err, "insert");
    }
    return many_fail ? mb_error_set(err, GRPC_STATUS_INTERNAL, "many: failed whole") : 0;
}

/* One group (held behind a gate job): a plain job, four run_many jobs of
 * which one is refused, another plain job. With fail_whole the run_many
 * fails after writing: its writes must vanish and every job then runs
 * alone, the plain ones included, each exactly once. */
static void run_many_group(bool fail_whole, int base)
{
    pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
    gate g = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};
    store_job gate_job = {.run = gate_run, .done = gate_done, .arg = &g, .deadline_ns = INT64_MAX};
    insert_job jobs[6];
    int pending = 6;
    mb_error err;
    many_calls = many_jobs = 0;
    many_fail = fail_whole;
    CHECK(store_submit(store, &gate_job, &err) == 0);
    pthread_mutex_lock(&g.lock);
    while (!g.entered)
        pthread_cond_wait(&g.cond, &g.lock);
    pthread_mutex_unlock(&g.lock);
    for (int i = 0; i < 6; i++) {
        bool many = i >= 1 && i <= 4;
        jobs[i] = (insert_job){.job = {.run = insert_run,
                                       .run_many = many ? many_run : NULL,
                                       .done = insert_done,
                                       .deadline_ns = INT64_MAX},
                               .value = base + i,
                               .fail = i == 3,
                               .lock = &lock,
                               .cond = &cond,
                               .pending = &pending};
        jobs[i].job.arg = &jobs[i];
        CHECK(store_submit(store, &jobs[i].job, &err) == 0);
    }
    pthread_mutex_lock(&g.lock);
    g.open = 1;
    pthread_cond_broadcast(&g.cond);
    pthread_mutex_unlock(&g.lock);
    pthread_mutex_lock(&lock);
    while (pending > 0)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);

    CHECK(many_calls == 1 && many_jobs == 4);
    for (int i = 0; i < 6; i++) {
        CHECK(jobs[i].done_calls == 1);
        CHECK(jobs[i].code == (i == 3 ? GRPC_STATUS_FAILED_PRECONDITION : GRPC_STATUS_OK));
        CHECK(count_value(base + i) == (i == 3 ? 0 : 1));
    }
}

static void test_run_many(void)
{
    run_many_group(false, 880000);
}

static void test_run_many_failing_whole(void)
{
    run_many_group(true, 890000);
}

static void test_pragmas(void)
{
    store_conn_t *c = store_reader_acquire(store);
    sqlite3 *db = store_conn_db_borrow(c);
    sqlite3_stmt *st;
    const char *checks[][2] = {{"PRAGMA journal_mode", "wal"},
                               {"PRAGMA synchronous", "2"},
                               {"PRAGMA foreign_keys", "1"},
                               {"PRAGMA secure_delete", "1"},
                               {"PRAGMA query_only", "1"}};
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
        CHECK(sqlite3_prepare_v2(db, checks[i][0], -1, &st, NULL) == SQLITE_OK);
        CHECK(sqlite3_step(st) == SQLITE_ROW);
        const char *v = (const char *)sqlite3_column_text(st, 0);
        if (v == NULL || strcmp(v, checks[i][1]) != 0)
            fprintf(stderr, "   %s = %s, want %s\n", checks[i][0], v ? v : "NULL", checks[i][1]);
        CHECK(v != NULL && strcmp(v, checks[i][1]) == 0);
        sqlite3_finalize(st);
    }
    /* Readers are query-only: a write through one fails. */
    CHECK(sqlite3_exec(db, "INSERT INTO t(v) VALUES (1)", NULL, NULL, NULL) != SQLITE_OK);
    store_reader_release(store, c);
}

int main(void)
{
    char path[512];
    mb_error err;
    store_options opt = {.readers = 4, .create = true};
    if (store_open(unit_path(path, sizeof path, "writer.db"), &opt, &store, &err) != 0 ||
        store_write_sync(store, create_table, NULL, &err) != 0) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    RUN(test_group_commit);
    RUN(test_expired_job_not_run);
    RUN(test_return_value_decides);
    RUN(test_run_many);
    RUN(test_run_many_failing_whole);
    RUN(test_pragmas);
    store_close(store);
    return check_summary();
}
