/*
 * metering.c - see metering.h.
 *
 * StreamUsage lifetime. Three kinds of events race: on_message / on_end /
 * on_cancel on the call's completion-queue thread, and batch done callbacks
 * on the writer thread. The per-call stream_state serialises them under its
 * mutex. The call is finished exactly once, by whichever event finds "no
 * batch pending, and the stream is over (ended, cancelled or failed)", and
 * marks the state finished first; after that nothing touches the call
 * again (a runtime callback that raced with the finish sees `finished` and
 * does nothing). The state itself is freed with the call (rpc_call_defer),
 * so a late callback never reads freed memory. Reads are resumed only under
 * the mutex, so a resume can never follow the finish.
 */
#include "metering/metering.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/check.h"
#include "base/clock.h"
#include "app.h"
#include "inventory/inventory.h"
#include "base/log.h"
#include "base/period.h"
#include "metering/idem.h"
#include "metering/ingest.h"
#include "metrics/metrics.h"
#include "minbill/v1/metering.pb-c.h"
#include "store/writer.h"

struct metering {
    store_t *store;
    const unsigned char *hash_key;
    int window_days;
    idem_t *idem;          /* writer thread only */
    char *filter_path;     /* metering_options.filter_path, or NULL */
    uint64_t checkpoint_hashes; /* metering_options.filter_checkpoint_hashes */
    ingest_cache_t *names; /* writer thread only */
};

typedef struct stream_state {
    pthread_mutex_t lock;
    int pending; /* batches queued to the writer, not done yet */
    bool paused, ended, cancelled, failed, finished;
    mb_error err; /* the first failure */
    int64_t accepted, duplicates;
    uint32_t messages; /* received so far (completion-queue thread only) */
} stream_state;

typedef struct batch_job {
    store_job job;
    metering_t *m;
    ingest_batch *batch;
    rpc_call_t *call;
    stream_state *stream; /* NULL: a RecordUsage call */
    uint32_t message;     /* its index in the stream */
} batch_job;

static const char SQL_ACCOUNT_EXISTS[] = "SELECT 1 FROM accounts WHERE account_id = ?1";
static const char SQL_USAGE[] =
    "SELECT c.metric, c.quantity, c.invoiced_quantity, ip.period IS NOT NULL"
    " FROM usage_counters c LEFT JOIN invoiced_periods ip"
    " ON ip.account_id = c.account_id AND ip.period = c.period"
    " WHERE c.account_id = ?1 AND c.period = ?2 ORDER BY c.metric";

static metering_t *metering_of(const rpc_call_t *call)
{
    return ((mb_app *)rpc_call_app(call))->metering;
}

/* --- the batch job ---------------------------------------------------------- */

static void stream_fail_locked(stream_state *s, const mb_error *err);

/* A stream's batches run in order; once one failed (or the client went
 * away) the ones queued behind it are refused, so a stream counts exactly
 * the batches before its first failure. */
static int batch_refused(const batch_job *j, mb_error *err)
{
    stream_state *s = j->stream;
    if (s == NULL)
        return 0;
    pthread_mutex_lock(&s->lock);
    bool over = s->failed || s->cancelled;
    pthread_mutex_unlock(&s->lock);
    return over ? mb_error_set(err, GRPC_STATUS_ABORTED,
                               "an earlier batch of this stream failed or the stream ended")
                : 0;
}

static int batch_run(store_conn_t *conn, void *arg, mb_error *err)
{
    batch_job *j = arg;
    if (batch_refused(j, err) != 0)
        return -1;
    int rc = ingest_apply(j->batch, j->m->idem, j->m->names, conn,
                          idem_day(mb_now_us() / 1000000), err);
    stream_state *s = j->stream;
    if (rc != 0 && s != NULL) {
        mb_error_prefix(err, "messages[%u].", j->message);
        pthread_mutex_lock(&s->lock);
        stream_fail_locked(s, err);
        pthread_mutex_unlock(&s->lock);
    }
    return rc;
}

/* The batches of a group's consecutive calls and stream messages, counted
 * together (store_job.run_many): a call whose names are refused fails
 * alone. A stream message refused stops here instead, and each batch is
 * run alone, in order: the stream must fail at that message and not
 * before. */
static int batch_run_many(store_conn_t *conn, store_job *const *jobs, size_t n, mb_error *errs,
                          mb_error *err)
{
    metering_t *m = ((batch_job *)jobs[0]->arg)->m;
    ingest_batch **bs = malloc(n * sizeof *bs);
    if (bs == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    size_t nb = 0;
    int rc = 0;
    for (size_t k = 0; k < n && rc == 0; k++) {
        batch_job *j = jobs[k]->arg;
        if (batch_refused(j, &errs[k]) != 0)
            continue;
        if (ingest_check(j->batch, m->names, conn, &errs[k]) == 0)
            bs[nb++] = j->batch;
        else if (j->stream != NULL || errs[k].code != GRPC_STATUS_FAILED_PRECONDITION)
            rc = mb_error_set(err, errs[k].code, "%s", errs[k].msg);
    }
    if (rc == 0 && nb > 0)
        rc = ingest_apply_many(bs, nb, m->idem, conn, idem_day(mb_now_us() / 1000000), err);
    free(bs);
    return rc;
}

static void stream_batch_done(batch_job *j, const mb_error *err);

static void batch_free(batch_job *j)
{
    ingest_free(j->batch);
    free(j);
}

static void batch_done(void *arg, const mb_error *err)
{
    batch_job *j = arg;
    if (err == NULL)
        metrics_events_add(ingest_accepted(j->batch), ingest_duplicates(j->batch));
    if (j->stream != NULL) {
        stream_batch_done(j, err);
    } else {
        Minbill__V1__RecordUsageResponse resp = MINBILL__V1__RECORD_USAGE_RESPONSE__INIT;
        resp.accepted = ingest_accepted(j->batch);
        resp.duplicates = ingest_duplicates(j->batch);
        rpc_call_finish(j->call, err != NULL ? NULL : &resp.base, err);
    }
    batch_free(j);
}

/* Validates and hashes one request into a job (not queued yet). */
static batch_job *batch_new(rpc_call_t *call, const ProtobufCMessage *msg, stream_state *stream,
                            mb_error *err)
{
    metering_t *m = metering_of(call);
    ingest_rules rules = {
        .hash_key = m->hash_key, .now = (mb_now_us() / 1000000), .window_days = m->window_days};
    batch_job *j = calloc(1, sizeof *j);
    if (j == NULL) {
        mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    if (ingest_build((const Minbill__V1__RecordUsageRequest *)msg, &rules, &j->batch, err) != 0) {
        free(j);
        return NULL;
    }
    j->m = m;
    j->call = call;
    j->stream = stream;
    j->job = (store_job){.run = batch_run,
                         .run_many = batch_run_many,
                         .done = batch_done,
                         .arg = j,
                         .deadline_ns = rpc_call_deadline_ns(call),
                         .bulk = true};
    return j;
}

/* Queues j; on failure frees it (its done callback never runs). */
static int batch_submit(batch_job *j, mb_error *err)
{
    if (store_submit(j->m->store, &j->job, err) == 0)
        return 0;
    batch_free(j);
    return -1;
}

int metering_record_usage(rpc_call_t *call, const ProtobufCMessage *msg)
{
    mb_error err;
    batch_job *j = batch_new(call, msg, NULL, &err);
    if (j == NULL || batch_submit(j, &err) != 0)
        rpc_call_finish(call, NULL, &err);
    return RPC_CONTINUE;
}

/* --- StreamUsage --------------------------------------------------------------- */

static void stream_free(void *arg)
{
    stream_state *s = arg;
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static stream_state *stream_of(rpc_call_t *call)
{
    stream_state *s = rpc_call_state(call);
    if (s != NULL)
        return s;
    if ((s = calloc(1, sizeof *s)) == NULL)
        return NULL;
    pthread_mutex_init(&s->lock, NULL);
    if (rpc_call_defer(call, stream_free, s) != 0) {
        stream_free(s);
        return NULL;
    }
    rpc_call_set_state(call, s);
    return s;
}

/* Under s->lock: is it time to finish the call? If so marks it finished
 * and fills what to answer (*failure NULL for the totals). */
static bool stream_finishing(stream_state *s, Minbill__V1__RecordUsageResponse *resp, mb_error *err,
                             const mb_error **failure)
{
    if (s->finished || s->pending > 0 || !(s->ended || s->cancelled || s->failed))
        return false;
    s->finished = true;
    *failure = NULL;
    if (s->failed) {
        *err = s->err;
        *failure = err;
    } else if (s->cancelled) {
        mb_error_set(err, GRPC_STATUS_CANCELLED, "the stream was cancelled");
        *failure = err;
    }
    resp->accepted = s->accepted;
    resp->duplicates = s->duplicates;
    return true;
}

static void stream_fail_locked(stream_state *s, const mb_error *err)
{
    if (!s->failed) {
        s->failed = true;
        s->err = *err;
    }
}

/* Unlocks s, then finishes the call if the stream is over and nothing is
 * pending (see the top of this file). */
static void stream_unlock(rpc_call_t *call, stream_state *s)
{
    Minbill__V1__RecordUsageResponse resp = MINBILL__V1__RECORD_USAGE_RESPONSE__INIT;
    mb_error err;
    const mb_error *failure;
    bool finish = stream_finishing(s, &resp, &err, &failure);
    pthread_mutex_unlock(&s->lock);
    if (finish)
        rpc_call_finish(call, failure != NULL ? NULL : &resp.base, failure);
}

static void stream_batch_done(batch_job *j, const mb_error *err)
{
    stream_state *s = j->stream;
    pthread_mutex_lock(&s->lock);
    s->pending--;
    if (err != NULL) {
        stream_fail_locked(s, err);
    } else {
        s->accepted += ingest_accepted(j->batch);
        s->duplicates += ingest_duplicates(j->batch);
    }
    /* Under the lock, so no finish can come between check and resume. */
    if (s->paused && !s->failed && !s->cancelled && !s->finished) {
        s->paused = false;
        rpc_call_resume(j->call);
    }
    stream_unlock(j->call, s);
}

int metering_stream_usage(rpc_call_t *call, const ProtobufCMessage *msg)
{
    stream_state *s = stream_of(call);
    mb_error err;
    if (s == NULL) { /* nothing queued yet, so finishing here is safe */
        mb_error_set(&err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        rpc_call_finish(call, NULL, &err);
        return RPC_PAUSE;
    }
    /* Errors name the message as well as the event, so a client knows
     * which of its batches failed (those before it were counted). */
    uint32_t index = s->messages++;
    /* Validation and hashing happen outside the lock: the writer takes it
     * in every done callback and must not wait for them. */
    batch_job *j = batch_new(call, msg, s, &err);
    if (j != NULL)
        j->message = index;
    else
        mb_error_prefix(&err, "messages[%u].", index);
    int ret = RPC_CONTINUE;
    pthread_mutex_lock(&s->lock);
    if (s->finished || s->failed || s->cancelled) {
        ret = RPC_PAUSE; /* raced with the end of the call: ignore */
        if (j != NULL)
            batch_free(j);
    } else if (j == NULL || batch_submit(j, &err) != 0) {
        stream_fail_locked(s, &err);
        ret = RPC_PAUSE;
    } else if (++s->pending >= METERING_STREAM_PENDING) {
        /* pending is raised under the lock the done callback takes, so
         * the decrement cannot come first. */
        s->paused = true;
        ret = RPC_PAUSE;
    }
    stream_unlock(call, s);
    return ret;
}

void metering_stream_end(rpc_call_t *call)
{
    stream_state *s = rpc_call_state(call);
    if (s == NULL) { /* an empty stream */
        Minbill__V1__RecordUsageResponse resp = MINBILL__V1__RECORD_USAGE_RESPONSE__INIT;
        rpc_call_finish(call, &resp.base, NULL);
        return;
    }
    pthread_mutex_lock(&s->lock);
    s->ended = true;
    stream_unlock(call, s);
}

void metering_stream_cancel(rpc_call_t *call)
{
    stream_state *s = rpc_call_state(call);
    if (s == NULL) {
        mb_error err;
        mb_error_set(&err, GRPC_STATUS_CANCELLED, "the stream was cancelled");
        rpc_call_finish(call, NULL, &err);
        return;
    }
    pthread_mutex_lock(&s->lock);
    s->cancelled = true;
    stream_unlock(call, s);
}

/* --- GetUsage -------------------------------------------------------------------- */

static int read_usage(store_conn_t *conn, mb_arena_t *a, const Minbill__V1__GetUsageRequest *req,
                      Minbill__V1__GetUsageResponse *resp, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_ACCOUNT_EXISTS, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, req->account_id, -1, SQLITE_STATIC);
    int rc = store_step_one(conn, st, "account_id: no such account", "reading an account", err);
    sqlite3_reset(st);
    if (rc != 0)
        return -1;

    if ((st = store_conn_prepare(conn, SQL_USAGE, err)) == NULL)
        return -1;
    sqlite3_bind_text(st, 1, req->account_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, req->period, -1, SQLITE_STATIC);
    size_t cap = 0;
    int ret = 0;
    while (ret == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (resp->n_counters == cap) {
            cap = cap ? cap * 2 : 16;
            Minbill__V1__UsageCounter **grown = mb_arena_alloc(a, cap * sizeof *grown);
            if (grown == NULL) {
                ret = mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
                break;
            }
            if (resp->n_counters > 0)
                memcpy(grown, resp->counters, resp->n_counters * sizeof *grown);
            resp->counters = grown;
        }
        Minbill__V1__UsageCounter *c = mb_arena_alloc(a, sizeof *c);
        char *metric = mb_arena_printf(a, "%s", (const char *)sqlite3_column_text(st, 0));
        if (c == NULL || metric == NULL) {
            ret = mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
            break;
        }
        minbill__v1__usage_counter__init(c);
        c->account_id = req->account_id;
        c->period = req->period;
        c->metric = metric;
        c->quantity = sqlite3_column_int64(st, 1);
        c->invoiced_quantity = sqlite3_column_int64(st, 2);
        if (sqlite3_column_int(st, 3))
            c->late_quantity = c->quantity - c->invoiced_quantity;
        resp->counters[resp->n_counters++] = c;
    }
    sqlite3_reset(st);
    if (ret == 0 && rc != SQLITE_DONE)
        ret = store_error(conn, err, "reading usage");
    return ret;
}

int metering_get_usage(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Minbill__V1__GetUsageRequest *req = (const void *)msg;
    mb_app *app = rpc_call_app(call);
    mb_arena_t *a = rpc_call_arena(call);
    mb_error err;
    if (check_id("account_id", req->account_id, &err) != 0)
        return rpc_call_fail(call, &err);
    if (period_check("period", req->period, &err) != 0)
        return rpc_call_fail(call, &err);
    Minbill__V1__GetUsageResponse *resp = mb_arena_alloc(a, sizeof *resp);
    if (resp == NULL)
        return rpc_call_fail(call, &(mb_error){GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory"});
    minbill__v1__get_usage_response__init(resp);
    /* Finance reads for invoicing, support for a lookup: each through its
     * purpose's connections. */
    int purpose = rpc_call_identity(call)->role == ROLE_FINANCE ? PURPOSE_INVOICING
                                                                 : PURPOSE_SUPPORT;
    store_conn_t *conn = store_reader_acquire_for(app->store, purpose);
    int rc = read_usage(conn, a, req, resp, &err);
    store_reader_release(app->store, conn);
    if (rc != 0)
        return rpc_call_fail(call, &err);
    rpc_call_finish(call, &resp->base, NULL);
    return RPC_CONTINUE;
}

/* --- purge and lifetime ------------------------------------------------------------ */

int metering_purge_step(store_conn_t *conn, void *arg, const purge_ctx *ctx, purge_step *step,
                        mb_error *err)
{
    metering_t *m = arg;
    idem_purge_result r;
    if (idem_purge(m != NULL ? m->idem : NULL, conn, idem_day(ctx->now_us / 1000000),
                   (int)ctx->settings->acceptance_window_days, ctx->chunk, ctx->dry_run, &r,
                   err) != 0)
        return -1;
    step->removed = r.hashes;
    step->more = r.more;
    return 0;
}

void metering_purge_rolled_back(void *arg)
{
    metering_t *m = arg;
    /* Rows this step deleted are back while the filter forgot them. */
    if (m != NULL)
        idem_invalidate(m->idem);
}

static int open_job(store_conn_t *conn, void *arg, mb_error *err)
{
    metering_t *m = arg;
    if (idem_open(conn, m->filter_path, &m->idem, err) != 0)
        return -1;
    idem_set_checkpoint_hashes(m->idem, m->checkpoint_hashes);
    return 0;
}

int metering_start(store_t *store, const keyring_t *kr, const metering_options *opt,
                   metering_t **out, mb_error *err)
{
    metering_t *m = calloc(1, sizeof *m);
    if (m == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    m->store = store;
    m->hash_key = keyring_secret_borrow(kr, KEYRING_SECRET_IDEMPOTENCY);
    m->checkpoint_hashes = opt->filter_checkpoint_hashes;
    m->window_days = opt->window_days > 0 ? opt->window_days : METERING_WINDOW_DAYS_DEFAULT;
    if ((m->names = ingest_cache_new()) == NULL ||
        (opt->filter_path != NULL && (m->filter_path = strdup(opt->filter_path)) == NULL)) {
        metering_stop(m);
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    int64_t t0 = mb_mono_ns();
    if (store_write_sync(store, open_job, m, err) != 0) {
        metering_stop(m);
        return -1;
    }
    /* Before the daemon serves: nothing else touches the index yet. */
    idem_stats st;
    idem_get_stats(m->idem, &st);
    mb_log(MB_LOG_INFO,
           "event=usage_index_loaded runs=%zu filter_bytes=%zu filter=%s rescanned=%llu ms=%lld "
           "window_days=%d",
           st.runs, st.filter_bytes, st.from_saved ? "saved" : "rebuilt",
           (unsigned long long)st.rescanned, (long long)((mb_mono_ns() - t0) / 1000000),
           m->window_days);
    *out = m;
    return 0;
}

void metering_stop(metering_t *m)
{
    if (m == NULL)
        return;
    if (m->idem != NULL) { /* quiescent now: no job of ours is queued */
        idem_stats st;
        idem_get_stats(m->idem, &st);
        mb_log(MB_LOG_INFO,
               "event=usage_index_stats runs=%zu filter_bytes=%zu disk_probes=%llu "
               "partition_rebuilds=%llu checkpoints=%llu",
               st.runs, st.filter_bytes, (unsigned long long)st.probes,
               (unsigned long long)st.rebuilds, (unsigned long long)st.checkpoints);
    }
    if (m->idem != NULL && m->filter_path != NULL) {
        mb_error err;
        int64_t t0 = mb_mono_ns();
        store_conn_t *conn = store_reader_acquire(m->store);
        if (idem_save(m->idem, conn, &err) != 0)
            mb_log(MB_LOG_WARN, "event=usage_filter_not_saved error=\"%s\"", err.msg);
        else
            mb_log(MB_LOG_INFO, "event=usage_filter_saved ms=%lld",
                   (long long)((mb_mono_ns() - t0) / 1000000));
        store_reader_release(m->store, conn);
    }
    idem_free(m->idem);
    free(m->filter_path);
    ingest_cache_free(m->names);
    free(m);
}
