/*
 * writer.c - see writer.h.
 *
 * The queues are mutex-protected FIFOs. The thread swaps whole lists out
 * under the lock, so producers never wait for SQLite, and the next group
 * forms while the current one is being fsynced.
 *
 * Bulk jobs (ingest batches) have their own queue. Under full ingest a
 * group holds thousands of events and takes tens of milliseconds; a small
 * job queued behind it (the audit event an export must commit before it
 * sends anything, an account update) would wait for that group and then
 * commit inside the next one just as big. So when small jobs wait, the
 * next group is theirs alone: it commits in one fsync, and they wait at
 * most for the group already running. Groups of small jobs only alternate
 * with bulk ones, so a flood of small jobs (a billing run) cannot starve
 * ingest: bulk jobs wait at most one extra small group.
 */
#include "store/writer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/log.h"
#include "metrics/metrics.h"

typedef struct group group;

struct store_writer {
    store_t *store;
    pthread_t thread, completer, checkpointer;
    pthread_mutex_t lock; /* guards everything below but commits */
    pthread_cond_t cond, done_cond, checkpoint_cond, idle_cond;
    store_job *head, *tail;    /* small jobs waiting for the writer */
    store_job *bulk_head, *bulk_tail; /* bulk jobs waiting (store_job.bulk) */
    bool last_small_only;      /* the last group left the bulk jobs queued */
    group *done_head, *done_tail; /* groups waiting for the completer */
    int stopping, writer_done, checkpoint_wanted;
    /* The WAL's frames when the last background checkpoint began (written
     * by the checkpointer, read by the writer's wal_hook). */
    atomic_int checkpointed_at;
    unsigned scrubs_asked, scrubs_done; /* WAL truncations after shreds */
    /* Draining (store_writer_drain): no new jobs; past drain_until_ns the
     * queued ones complete unrun. groups: taken by the writer, not yet
     * answered by the completer. */
    int draining, groups;
    int64_t drain_until_ns;
    /* What the last group said of the storage, and whom to tell. */
    bool refusing;
    store_writable_fn on_writable;
    void *on_writable_arg;
    store_conn_t *checkpoint_conn;
    _Atomic uint64_t commits;
};

static bool queue_empty(const store_writer_t *w)
{
    return w->head == NULL && w->bulk_head == NULL;
}

static const char SQL_BEGIN[] = "BEGIN IMMEDIATE";
static const char SQL_COMMIT[] = "COMMIT";
static const char SQL_ROLLBACK[] = "ROLLBACK";
static const char SQL_SAVEPOINT[] = "SAVEPOINT job";
static const char SQL_RELEASE[] = "RELEASE job";
static const char SQL_ROLLBACK_TO[] = "ROLLBACK TO job";

static int step_once(store_conn_t *conn, const char *sql, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, sql, err);
    if (st == NULL)
        return -1;
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_error(conn, err, sql);
    return 0;
}

/* One job in its own savepoint; its error (if any) goes to *e. */
static void run_one(store_conn_t *conn, store_job *j, mb_error *e)
{
    mb_error_clear(e);
    if (step_once(conn, SQL_SAVEPOINT, e) != 0)
        return;
    if (j->run(conn, j->arg, e) != 0) {
        mb_error tmp;
        if (e->code == GRPC_STATUS_OK) /* a failure must never read as success */
            mb_error_set(e, GRPC_STATUS_INTERNAL, "write failed without a reason");
        if (step_once(conn, SQL_ROLLBACK_TO, &tmp) != 0 || step_once(conn, SQL_RELEASE, &tmp) != 0)
            mb_log(MB_LOG_ERROR, "event=writer_rollback_failed");
        return;
    }
    /* The return value decides: a job may have filled e on a path it
     * recovered from. */
    mb_error_clear(e);
    step_once(conn, SQL_RELEASE, e);
}

/*
 * Jobs that share a run_many run first in the group, together and without a
 * savepoint: a savepoint keeps the original of every page changed under it
 * in the sub-journal, and SQLite walks that list at the end of every
 * statement, so a savepoint around a whole run cost more than the run's
 * statements. Nothing else has run in the transaction yet, so when the run
 * fails the transaction is rolled back and begun again, and each job then
 * runs alone. The group's other jobs are independent calls: any order of
 * them is one they could have arrived in.
 *
 * Puts the live jobs sharing the first run_many first (keeping the order
 * within both parts: a stream's messages stay in order) and returns how
 * many they are; 0 if fewer than two. tmp has room for n.
 */
static size_t order_jobs(store_job **jobs, store_job **tmp, size_t n, int64_t now)
{
    size_t first = 0;
    while (first < n && (jobs[first]->run_many == NULL || jobs[first]->deadline_ns <= now))
        first++;
    if (first == n)
        return 0;
    size_t together = 0, rest = 0;
    for (size_t i = 0; i < n; i++) {
        bool in = jobs[i]->run_many == jobs[first]->run_many && jobs[i]->deadline_ns > now;
        if (in)
            jobs[together++] = jobs[i];
        else
            tmp[rest++] = jobs[i];
    }
    memcpy(jobs + together, tmp, rest * sizeof *tmp);
    return together > 1 ? together : 0;
}

/* Runs the group's jobs right after BEGIN: jobs[0..together-1] with their
 * run_many (see above), the others each alone. A failed BEGIN after a
 * rollback fails the group (group_err). */
static void run_jobs(store_conn_t *conn, store_job **jobs, mb_error *errs, size_t n,
                     size_t together, int64_t now, mb_error *group_err)
{
    mb_error err;
    if (together > 0 && jobs[0]->run_many(conn, jobs, together, errs, &err) != 0) {
        for (size_t k = 0; k < together; k++)
            mb_error_clear(&errs[k]);
        store_conn_new_epoch(conn);
        if (step_once(conn, SQL_ROLLBACK, group_err) != 0 ||
            step_once(conn, SQL_BEGIN, group_err) != 0)
            return;
        together = 0;
    }
    for (size_t i = together; i < n; i++) {
        if (jobs[i]->deadline_ns <= now)
            mb_error_set(&errs[i], GRPC_STATUS_DEADLINE_EXCEEDED,
                         "deadline passed before the write could start");
        else
            run_one(conn, jobs[i], &errs[i]);
    }
}

/* The outcome of one committed (or failed) group, on its way to the
 * completer thread. */
typedef struct group {
    struct group *next;
    store_job **jobs;
    mb_error *errs;
    mb_error group_err;
    size_t n;
} group;

static void complete_group(group *g)
{
    for (size_t i = 0; i < g->n; i++) {
        const mb_error *e = NULL;
        if (g->errs[i].code != GRPC_STATUS_OK)
            e = &g->errs[i];
        else if (g->group_err.code != GRPC_STATUS_OK)
            e = &g->group_err;
        g->jobs[i]->done(g->jobs[i]->arg, e);
    }
    free(g->jobs);
    free(g->errs);
    free(g);
}

/* Storage errors are UNAVAILABLE (store_error); no job says that of itself.
 * A change is logged and told to the watcher (health). */
static void note_writable(store_writer_t *w, const group *g)
{
    bool refused = g->group_err.code == GRPC_STATUS_UNAVAILABLE;
    for (size_t i = 0; i < g->n && !refused; i++)
        refused = g->errs[i].code == GRPC_STATUS_UNAVAILABLE;
    if (refused == w->refusing || (!refused && g->group_err.code != GRPC_STATUS_OK))
        return;
    w->refusing = refused;
    if (refused)
        mb_log(MB_LOG_ERROR, "event=storage_refuses_writes health=NOT_SERVING");
    else
        mb_log(MB_LOG_INFO, "event=storage_writable health=SERVING");
    pthread_mutex_lock(&w->lock);
    store_writable_fn fn = w->on_writable;
    void *arg = w->on_writable_arg;
    pthread_mutex_unlock(&w->lock);
    if (fn != NULL)
        fn(arg, !refused);
}

/* cancel: answer the jobs UNAVAILABLE without running them (a drain ran
 * out of time). */
static void commit_group(store_writer_t *w, store_job *list, bool cancel)
{
    size_t n = 0;
    for (store_job *j = list; j != NULL; j = j->next)
        n++;
    metrics_writer_group(n);
    group *g = calloc(1, sizeof *g);
    store_job **jobs = malloc(2 * n * sizeof *jobs); /* and order_jobs' room */
    mb_error *errs = calloc(n, sizeof *errs); /* all OK: a failed BEGIN runs no job */
    if (g == NULL || jobs == NULL || errs == NULL) {
        /* Cannot even track the group: fail every job, write nothing. */
        mb_error e;
        mb_error_set(&e, GRPC_STATUS_RESOURCE_EXHAUSTED, "writer: out of memory");
        for (store_job *j = list, *next; j != NULL; j = next) {
            next = j->next;
            j->done(j->arg, &e);
        }
        free(g);
        free(jobs);
        free(errs);
        pthread_mutex_lock(&w->lock);
        if (--w->groups == 0 && queue_empty(w))
            pthread_cond_broadcast(&w->idle_cond);
        pthread_mutex_unlock(&w->lock);
        return;
    }
    n = 0;
    for (store_job *j = list; j != NULL; j = j->next)
        jobs[n++] = j;
    *g = (group){.jobs = jobs, .errs = errs, .n = n};
    mb_error_clear(&g->group_err);

    store_conn_t *conn = store_writer_conn_borrow(w->store);
    if (cancel)
        mb_error_set(&g->group_err, GRPC_STATUS_UNAVAILABLE,
                     "server is shutting down: the write was not started");
    else if (step_once(conn, SQL_BEGIN, &g->group_err) == 0) {
        bool all_bulk = true;
        for (size_t i = 0; i < n && all_bulk; i++)
            all_bulk = jobs[i]->bulk;
        if (!all_bulk)
            store_conn_new_epoch(conn);
        int64_t now = mb_mono_ns();
        size_t together = order_jobs(jobs, jobs + n, n, now);
        run_jobs(conn, jobs, errs, n, together, now, &g->group_err);
        if (g->group_err.code != GRPC_STATUS_OK ||
            step_once(conn, SQL_COMMIT, &g->group_err) != 0) {
            mb_error tmp;
            step_once(conn, SQL_ROLLBACK, &tmp);
            store_conn_new_epoch(conn);
        } else {
            w->commits++;
        }
    }
    if (store_conn_take_shred(conn) && g->group_err.code == GRPC_STATUS_OK) {
        pthread_mutex_lock(&w->lock);
        w->scrubs_asked++;
        pthread_cond_signal(&w->checkpoint_cond);
        pthread_mutex_unlock(&w->lock);
    }
    if (g->group_err.code != GRPC_STATUS_OK)
        mb_log(MB_LOG_ERROR, "event=group_commit_failed jobs=%zu code=%s", n,
               mb_status_name(g->group_err.code));
    if (!cancel)
        note_writable(w, g);
    /* Answering callers (packing responses, waking threads) is not the
     * writer's work: the completer does it while the next group commits. */
    pthread_mutex_lock(&w->lock);
    if (w->done_tail != NULL)
        w->done_tail->next = g;
    else
        w->done_head = g;
    w->done_tail = g;
    pthread_cond_signal(&w->done_cond);
    pthread_mutex_unlock(&w->lock);
}

/* The next group (see the top of the file); w->lock held. */
static store_job *take_group(store_writer_t *w)
{
    store_job *list = w->head;
    bool small_only = list != NULL && w->bulk_head != NULL && !w->last_small_only;
    if (list == NULL) {
        list = w->bulk_head;
    } else if (!small_only && w->bulk_head != NULL) {
        w->tail->next = w->bulk_head;
    }
    w->head = w->tail = NULL;
    if (!small_only)
        w->bulk_head = w->bulk_tail = NULL;
    w->last_small_only = small_only;
    return list;
}

static void *writer_main(void *arg)
{
    store_writer_t *w = arg;
    pthread_setname_np(pthread_self(), "mb-writer");
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (queue_empty(w) && !w->stopping)
            pthread_cond_wait(&w->cond, &w->lock);
        if (queue_empty(w))
            break; /* stopping and drained */
        store_job *list = take_group(w);
        w->groups++;
        bool cancel = w->draining && mb_mono_ns() >= w->drain_until_ns;
        pthread_mutex_unlock(&w->lock);
        commit_group(w, list, cancel);
        pthread_mutex_lock(&w->lock);
    }
    w->writer_done = 1;
    pthread_cond_signal(&w->done_cond);
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/* Runs done callbacks in commit order. */
static void *completer_main(void *arg)
{
    store_writer_t *w = arg;
    pthread_setname_np(pthread_self(), "mb-complete");
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (w->done_head == NULL && !w->writer_done)
            pthread_cond_wait(&w->done_cond, &w->lock);
        group *g = w->done_head;
        if (g == NULL)
            break; /* the writer stopped and everything was answered */
        w->done_head = g->next;
        if (w->done_head == NULL)
            w->done_tail = NULL;
        pthread_mutex_unlock(&w->lock);
        complete_group(g);
        pthread_mutex_lock(&w->lock);
        if (--w->groups == 0 && queue_empty(w))
            pthread_cond_broadcast(&w->idle_cond);
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

/*
 * Checkpoints. SQLite's automatic checkpoint runs inside the COMMIT that
 * crosses its threshold, so every few groups one commit also copies the WAL
 * into the database and fsyncs it. Instead, a checkpointer thread with its
 * own connection copies frames in the background (PASSIVE: it never blocks
 * the writer). The WAL can only restart from its beginning once a checkpoint
 * has copied every frame, which a background checkpoint chasing a busy
 * writer may never do; so past a hard limit the writer itself checkpoints
 * the little that is left, between two groups. Between the limits the
 * checkpointer runs once per SOFT new frames, not after every commit: each
 * run syncs the WAL and the database, and back to back (60 a second under
 * single-event ingest) those syncs queued behind the commits' own.
 */
#define CHECKPOINT_SOFT_FRAMES 1000
#define CHECKPOINT_HARD_FRAMES 8000

static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
    store_writer_t *w = arg;
    int since = frames - atomic_load(&w->checkpointed_at);
    if (frames >= CHECKPOINT_HARD_FRAMES) {
        sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    } else if (frames >= CHECKPOINT_SOFT_FRAMES && (since < 0 || since >= CHECKPOINT_SOFT_FRAMES)) {
        pthread_mutex_lock(&w->lock);
        w->checkpoint_wanted = 1;
        pthread_cond_signal(&w->checkpoint_cond);
        pthread_mutex_unlock(&w->lock);
    }
    return SQLITE_OK;
}

/*
 * Scrubs. A destroyed data key's row is overwritten in the database
 * (secure_delete), but the frames that held it stay in the WAL until the
 * WAL restarts over them. After a commit that shredded, the checkpointer
 * copies every frame and truncates the WAL (TRUNCATE) within about
 * SCRUB_BUSY_MS + SCRUB_RETRY_MS, retrying while readers or the writer are
 * in the way. Its connection waits at most SCRUB_BUSY_MS for them: while a
 * TRUNCATE checkpoint waits it holds new writes back.
 */
#define SCRUB_BUSY_MS 200
#define SCRUB_RETRY_MS 250

static void *checkpointer_main(void *arg)
{
    store_writer_t *w = arg;
    pthread_setname_np(pthread_self(), "mb-checkpoint");
    sqlite3 *db = store_conn_db_borrow(w->checkpoint_conn);
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->checkpoint_wanted && w->scrubs_asked == w->scrubs_done && !w->stopping)
            pthread_cond_wait(&w->checkpoint_cond, &w->lock);
        if (w->stopping)
            break;
        unsigned scrub = w->scrubs_asked;
        bool scrubbing = scrub != w->scrubs_done;
        w->checkpoint_wanted = 0;
        pthread_mutex_unlock(&w->lock);
        int log = 0;
        int rc = sqlite3_wal_checkpoint_v2(
            db, NULL, scrubbing ? SQLITE_CHECKPOINT_TRUNCATE : SQLITE_CHECKPOINT_PASSIVE, &log,
            NULL);
        atomic_store(&w->checkpointed_at, log);
        pthread_mutex_lock(&w->lock);
        if (scrubbing && rc == SQLITE_OK) {
            w->scrubs_done = scrub;
        } else if (scrubbing && !w->stopping) {
            struct timespec until;
            clock_gettime(CLOCK_REALTIME, &until);
            until.tv_nsec += SCRUB_RETRY_MS * 1000000L;
            if (until.tv_nsec >= 1000000000L) {
                until.tv_sec++;
                until.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&w->checkpoint_cond, &w->lock, &until);
        }
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

int store_writer_start(store_t *store, const char *path, store_writer_t **out, mb_error *err)
{
    store_writer_t *w = calloc(1, sizeof *w);
    if (w == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "writer: out of memory");
    w->store = store;
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->cond, NULL);
    pthread_cond_init(&w->done_cond, NULL);
    pthread_cond_init(&w->checkpoint_cond, NULL);
    pthread_cond_init(&w->idle_cond, NULL);
    if (store_conn_open(path, false, false, &w->checkpoint_conn, err) != 0)
        goto fail;
    sqlite3_busy_timeout(store_conn_db_borrow(w->checkpoint_conn), SCRUB_BUSY_MS);
    sqlite3 *db = store_conn_db_borrow(store_writer_conn_borrow(store));
    sqlite3_wal_autocheckpoint(db, 0);
    sqlite3_wal_hook(db, wal_hook, w);
    int started = 0;
    if (pthread_create(&w->completer, NULL, completer_main, w) != 0)
        goto fail_threads;
    started++;
    if (pthread_create(&w->checkpointer, NULL, checkpointer_main, w) != 0)
        goto fail_threads;
    started++;
    if (pthread_create(&w->thread, NULL, writer_main, w) != 0)
        goto fail_threads;
    *out = w;
    return 0;
fail_threads:
    mb_error_set(err, GRPC_STATUS_INTERNAL, "writer: cannot start threads");
    pthread_mutex_lock(&w->lock);
    w->stopping = w->writer_done = 1;
    pthread_cond_broadcast(&w->done_cond);
    pthread_cond_broadcast(&w->checkpoint_cond);
    pthread_mutex_unlock(&w->lock);
    if (started > 0)
        pthread_join(w->completer, NULL);
    if (started > 1)
        pthread_join(w->checkpointer, NULL);
    sqlite3_wal_hook(db, NULL, NULL);
fail:
    store_conn_close(w->checkpoint_conn);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    pthread_cond_destroy(&w->done_cond);
    pthread_cond_destroy(&w->checkpoint_cond);
    pthread_cond_destroy(&w->idle_cond);
    free(w);
    return -1;
}

void store_writer_stop(store_writer_t *w)
{
    if (w == NULL)
        return;
    pthread_mutex_lock(&w->lock);
    w->stopping = 1;
    pthread_cond_signal(&w->cond);
    pthread_cond_signal(&w->checkpoint_cond);
    pthread_mutex_unlock(&w->lock);
    /* The writer drains the queue, then the completer answers the rest. */
    pthread_join(w->thread, NULL);
    pthread_join(w->completer, NULL);
    pthread_join(w->checkpointer, NULL);
    sqlite3_wal_hook(store_conn_db_borrow(store_writer_conn_borrow(w->store)), NULL, NULL);
    store_conn_close(w->checkpoint_conn);
    pthread_mutex_destroy(&w->lock);
    pthread_cond_destroy(&w->cond);
    pthread_cond_destroy(&w->done_cond);
    pthread_cond_destroy(&w->checkpoint_cond);
    pthread_cond_destroy(&w->idle_cond);
    free(w);
}

void store_writer_drain(store_writer_t *w, int grace_ms)
{
    pthread_mutex_lock(&w->lock);
    if (!w->draining) {
        w->draining = 1;
        w->drain_until_ns = mb_mono_ns() + (int64_t)grace_ms * 1000000;
    }
    while (!queue_empty(w) || w->groups > 0)
        pthread_cond_wait(&w->idle_cond, &w->lock);
    pthread_mutex_unlock(&w->lock);
}

void store_watch_writable(store_t *store, store_writable_fn fn, void *arg)
{
    store_writer_t *w = store_writer_borrow(store);
    pthread_mutex_lock(&w->lock);
    w->on_writable = fn;
    w->on_writable_arg = arg;
    pthread_mutex_unlock(&w->lock);
}

void store_drain(store_t *store, int grace_ms)
{
    store_writer_drain(store_writer_borrow(store), grace_ms);
}

uint64_t store_writer_commits(const store_writer_t *w)
{
    return w->commits;
}

int store_writer_submit(store_writer_t *w, store_job *job, mb_error *err)
{
    job->next = NULL;
    pthread_mutex_lock(&w->lock);
    if (w->stopping || w->draining) {
        pthread_mutex_unlock(&w->lock);
        return mb_error_set(err, GRPC_STATUS_UNAVAILABLE, "server is shutting down");
    }
    store_job **head = job->bulk ? &w->bulk_head : &w->head;
    store_job **tail = job->bulk ? &w->bulk_tail : &w->tail;
    if (*tail != NULL)
        (*tail)->next = job;
    else
        *head = job;
    *tail = job;
    metrics_writer_submitted();
    pthread_cond_signal(&w->cond);
    pthread_mutex_unlock(&w->lock);
    return 0;
}

/* Jobs of one batch (store_batch_submit): they complete on the completer
 * thread, which counts them down. */
typedef struct sync_group {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    size_t pending;
} sync_group;

typedef struct sync_job {
    store_job job;
    int (*run)(store_conn_t *conn, void *arg, mb_error *err);
    void *arg;
    mb_error *err;
    sync_group *group;
} sync_job;

static int sync_run(store_conn_t *conn, void *arg, mb_error *err)
{
    sync_job *s = arg;
    return s->run(conn, s->arg, err);
}

static void sync_done(void *arg, const mb_error *err)
{
    sync_job *s = arg;
    if (err != NULL)
        *s->err = *err;
    pthread_mutex_lock(&s->group->lock);
    if (--s->group->pending == 0)
        pthread_cond_signal(&s->group->cond);
    pthread_mutex_unlock(&s->group->lock);
}

/* A batch of queued jobs someone will wait for (store_batch_submit). */
struct store_batch {
    sync_group group;
    sync_job *jobs;
    mb_error *errs;
    size_t n;
    bool queue_failed;
};

store_batch_t *store_batch_submit(store_t *store,
                                  int (*run)(store_conn_t *conn, void *arg, mb_error *err),
                                  void *const *args, size_t n, mb_error *errs)
{
    store_batch_t *b = calloc(1, sizeof *b);
    sync_job *jobs = calloc(n > 0 ? n : 1, sizeof *jobs);
    if (b == NULL || jobs == NULL) {
        free(b);
        free(jobs);
        for (size_t i = 0; i < n; i++)
            mb_error_set(&errs[i], GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "out of memory for queued writes");
        return NULL;
    }
    *b = (store_batch_t){.group = {.pending = n}, .jobs = jobs, .errs = errs, .n = n};
    pthread_mutex_init(&b->group.lock, NULL);
    pthread_cond_init(&b->group.cond, NULL);
    for (size_t i = 0; i < n; i++) {
        mb_error_clear(&errs[i]);
        jobs[i] = (sync_job){.job = {.run = sync_run, .done = sync_done, .deadline_ns = INT64_MAX},
                             .run = run,
                             .arg = args[i],
                             .err = &errs[i],
                             .group = &b->group};
        jobs[i].job.arg = &jobs[i];
        if (store_submit(store, &jobs[i].job, &errs[i]) != 0) {
            /* Not queued: done will never run for it (nor for the rest). */
            for (size_t k = i + 1; k < n; k++)
                errs[k] = errs[i];
            pthread_mutex_lock(&b->group.lock);
            b->group.pending -= n - i;
            pthread_mutex_unlock(&b->group.lock);
            b->queue_failed = true;
            break;
        }
    }
    return b;
}

int store_batch_wait(store_batch_t *b)
{
    if (b == NULL)
        return -1;
    pthread_mutex_lock(&b->group.lock);
    while (b->group.pending > 0)
        pthread_cond_wait(&b->group.cond, &b->group.lock);
    pthread_mutex_unlock(&b->group.lock);
    int ret = b->queue_failed ? -1 : 0;
    for (size_t i = 0; i < b->n; i++)
        if (b->errs[i].code != GRPC_STATUS_OK)
            ret = -1;
    pthread_mutex_destroy(&b->group.lock);
    pthread_cond_destroy(&b->group.cond);
    free(b->jobs);
    free(b);
    return ret;
}

int store_write_all(store_t *store, int (*run)(store_conn_t *conn, void *arg, mb_error *err),
                    void *const *args, size_t n, mb_error *errs)
{
    return store_batch_wait(store_batch_submit(store, run, args, n, errs));
}

int store_write_sync(store_t *store, int (*run)(store_conn_t *conn, void *arg, mb_error *err),
                     void *arg, mb_error *err)
{
    mb_error local;
    int ret = store_write_all(store, run, &arg, 1, &local);
    if (ret != 0 && err != NULL)
        *err = local;
    return ret;
}
