/*
 * bench_fixture.c - see bench_fixture.h.
 */
#include "bench_fixture.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "crypto/keyring.h"
#include "metering/idem.h"
#include "metering/ingest.h"
#include "store/store.h"

#define FILL_CHUNK 10000    /* events per ingest_build, at most INGEST_MAX_EVENTS */
#define FILL_COMMIT 200000  /* events per transaction */
#define RECORD "bench_fixture.fill"

_Static_assert(FILL_CHUNK <= INGEST_MAX_EVENTS, "a chunk is one ingest batch");

/* --- the events ---------------------------------------------------------------- */

void fx_account(const fx_usage *fx, long i, char out[FX_ID_MAX])
{
    snprintf(out, FX_ID_MAX, FX_ACCOUNT_PREFIX "%05ld", i % fx->accounts);
}

void fx_key(long i, char out[FX_ID_MAX])
{
    snprintf(out, FX_ID_MAX, "ev-%ld", i);
}

long fx_filled(const fx_usage *fx)
{
    return fx->n_passes > 0 ? fx->passes[fx->n_passes - 1].to : 0;
}

static int64_t pass_occurred(const fx_usage *fx, const fx_pass *p, long i)
{
    int64_t span = (int64_t)fx->days * 86400;
    return p->end - (int64_t)((double)span * (double)(p->to - 1 - i) / (double)(p->to - p->from));
}

int64_t fx_occurred(const fx_usage *fx, long i)
{
    for (size_t k = 0; k < fx->n_passes; k++)
        if (i < fx->passes[k].to)
            return pass_occurred(fx, &fx->passes[k], i);
    return 0;
}

/* --- the record ----------------------------------------------------------------- */

int fx_load(const char *prog, const char *dir, fx_usage *fx)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/" RECORD, dir);
    memset(fx, 0, sizeof *fx);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    int ret = fscanf(f, "accounts=%ld days=%d\n", &fx->accounts, &fx->days) == 2 ? 1 : -1;
    fx_pass p;
    long long end;
    while (ret == 1 && fscanf(f, "pass from=%ld to=%ld end=%lld\n", &p.from, &p.to, &end) == 3) {
        p.end = end;
        if (fx->n_passes == FX_MAX_PASSES || p.from != fx_filled(fx) || p.to <= p.from)
            ret = -1;
        else
            fx->passes[fx->n_passes++] = p;
    }
    fclose(f);
    if (ret < 0 || fx->accounts < 1) {
        fprintf(stderr, "%s: %s: not a fill record\n", prog, path);
        return -1;
    }
    /* Every event still more than a day inside the window: the daemon's
     * purge keeps it, and a replay of it is answered, not refused. */
    int64_t limit = (int64_t)time(NULL) - (int64_t)(FX_WINDOW_DAYS - 1) * 86400;
    for (size_t k = 0; k < fx->n_passes; k++)
        if (fx->passes[k].end - (int64_t)fx->days * 86400 < limit)
            return 0;
    return 1;
}

int fx_save(const char *prog, const char *dir, const fx_usage *fx)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/" RECORD, dir);
    FILE *f = fopen(path, "w");
    if (f == NULL) {
        fprintf(stderr, "%s: cannot write %s (a later run fills again)\n", prog, path);
        return -1;
    }
    fprintf(f, "accounts=%ld days=%d\n", fx->accounts, fx->days);
    for (size_t k = 0; k < fx->n_passes; k++)
        fprintf(f, "pass from=%ld to=%ld end=%lld\n", fx->passes[k].from, fx->passes[k].to,
                (long long)fx->passes[k].end);
    return fclose(f) == 0 ? 0 : -1;
}

int fx_open_dir(const char *prog, const char *dir, mbt_daemon *d, fx_usage *fx)
{
    memset(fx, 0, sizeof *fx);
    if (dir == NULL)
        return mbt_daemon_init(d) == 0 ? 0 : -1;
    memset(d, 0, sizeof *d);
    snprintf(d->dir, sizeof d->dir, "%s", dir);
    snprintf(d->db, sizeof d->db, "%s/minbill.db", dir);
    snprintf(d->key_file, sizeof d->key_file, "%s/master.key", dir);
    snprintf(d->log, sizeof d->log, "%s/minbilld.log", dir);
    int found = fx_load(prog, dir, fx);
    if (found != 0)
        return found;
    const char *args[] = {"keys", "init", "--key-file", d->key_file, NULL};
    if (mkdir(dir, 0700) != 0 || mbt_run_minbilld(args, NULL, 0) != 0) {
        fprintf(stderr, "%s: --dir %s: must be a new directory or hold a usable fill\n", prog,
                dir);
        return -1;
    }
    return 0;
}

/* --- through the daemon ------------------------------------------------------------ */

int fx_setup(const char *prog, mbc_channel_t *ch, const char *admin_key,
             const char *platform_key, const fx_usage *fx, int timeout_ms)
{
    if (bc_upsert_bench_plan(prog, ch, admin_key, timeout_ms) != 0)
        return -1;
    for (long i = 0; i < fx->accounts; i++) {
        char id[FX_ID_MAX];
        fx_account(fx, i, id);
        if (bc_upsert_account(prog, ch, platform_key, id, "bench", timeout_ms) != 0)
            return -1;
    }
    return 0;
}

int64_t fx_counted(const char *prog, mbc_channel_t *ch, const char *finance_key,
                   const fx_usage *fx, const char *period, int timeout_ms)
{
    int64_t sum = 0;
    for (long i = 0; i < fx->accounts; i++) {
        char id[FX_ID_MAX];
        fx_account(fx, i, id);
        int64_t n = bc_usage_total(prog, ch, finance_key, id, period, timeout_ms);
        if (n < 0)
            return -1;
        sum += n;
    }
    return sum;
}

/* --- requests of fixture events ------------------------------------------------------ */

/* The storage of one request of up to n events. */
static int request_init(fx_replay *r, size_t n)
{
    r->ev = calloc(n, sizeof *r->ev);
    r->ptrs = calloc(n, sizeof *r->ptrs);
    r->ts = calloc(n, sizeof *r->ts);
    r->keys = calloc(n, sizeof *r->keys);
    r->ids = calloc(n, sizeof *r->ids);
    minbill__v1__record_usage_request__init(&r->req);
    r->req.events = r->ptrs;
    return r->ev && r->ptrs && r->ts && r->keys && r->ids ? 0 : -1;
}

/* The request of events first..first+n-1. */
static void request_fill(fx_replay *r, const fx_usage *fx, long first, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        long i = first + (long)k;
        Minbill__V1__UsageEvent *ev = &r->ev[k];
        minbill__v1__usage_event__init(ev);
        google__protobuf__timestamp__init(&r->ts[k]);
        r->ts[k].seconds = fx_occurred(fx, i);
        fx_key(i, r->keys[k]);
        fx_account(fx, i, r->ids[k]);
        ev->idempotency_key = r->keys[k];
        ev->account_id = r->ids[k];
        ev->metric = "messages";
        ev->quantity = 1;
        ev->occurred_at = &r->ts[k];
        r->ptrs[k] = ev;
    }
    r->req.n_events = n;
}

void fx_replay_free(fx_replay *r)
{
    free(r->ev);
    free(r->ptrs);
    free(r->ts);
    free(r->keys);
    free(r->ids);
    memset(r, 0, sizeof *r);
}

/* --- the fill ------------------------------------------------------------------------ */

static int fill_fail(const char *prog, const char *what, const mb_error *err)
{
    fprintf(stderr, "%s: fill: %s: %s: %s\n", prog, what, mb_status_name(err->code), err->msg);
    return -1;
}

/* Counts events first..first+n-1 (all of one UTC day) as a writer job
 * arriving at the last one's time would. */
static int fill_chunk(fx_replay *r, const fx_usage *fx, idem_t *ix, store_conn_t *conn,
                      const keyring_t *kr, long first, size_t n, mb_error *err)
{
    request_fill(r, fx, first, n);
    ingest_rules rules = {.hash_key = keyring_secret_borrow(kr, KEYRING_SECRET_IDEMPOTENCY),
                          .now = r->ts[n - 1].seconds,
                          .window_days = FX_WINDOW_DAYS};
    ingest_batch *b = NULL;
    if (ingest_build(&r->req, &rules, &b, err) != 0)
        return -1;
    int rc = ingest_apply(b, ix, NULL, conn, idem_day(rules.now), err);
    if (rc == 0 && ingest_accepted(b) != (int64_t)n)
        rc = mb_error_set(err, GRPC_STATUS_INTERNAL, "%" PRId64 " of %zu events accepted",
                          ingest_accepted(b), n);
    ingest_free(b);
    return rc;
}

/* Events from i on, up to FILL_CHUNK and `end`, of event i's day. */
static size_t chunk_size(const fx_usage *fx, long i, long end)
{
    long last = i + FILL_CHUNK < end ? i + FILL_CHUNK : end;
    int64_t day = idem_day(fx_occurred(fx, i));
    long n = 1;
    while (i + n < last && idem_day(fx_occurred(fx, i + n)) == day)
        n++;
    return (size_t)n;
}

static int fill_events(const char *prog, fx_usage *fx, store_conn_t *conn, const keyring_t *kr,
                       fx_fill_result *res)
{
    mb_error err;
    idem_t *ix = NULL;
    fx_replay r = {0};
    int ret = -1;
    const fx_pass *p = &fx->passes[fx->n_passes - 1];
    if (request_init(&r, FILL_CHUNK) != 0) {
        fprintf(stderr, "%s: fill: out of memory\n", prog);
        goto out;
    }
    if (idem_open(conn, NULL, &ix, &err) != 0) {
        fill_fail(prog, "opening the idempotency index", &err);
        goto out;
    }
    int64_t t0 = bc_now_ns();
    long next_report = p->from + 1000000;
    for (long i = p->from; i < p->to;) {
        if (store_conn_exec(conn, "BEGIN IMMEDIATE", &err) != 0) {
            fill_fail(prog, "BEGIN", &err);
            goto out;
        }
        long end = i + FILL_COMMIT < p->to ? i + FILL_COMMIT : p->to;
        while (i < end) {
            size_t n = chunk_size(fx, i, end);
            if (fill_chunk(&r, fx, ix, conn, kr, i, n, &err) != 0) {
                fill_fail(prog, "counting", &err);
                store_conn_exec(conn, "ROLLBACK", &err);
                goto out;
            }
            i += (long)n;
        }
        if (store_conn_exec(conn, "COMMIT", &err) != 0) {
            fill_fail(prog, "COMMIT", &err);
            goto out;
        }
        if (i >= next_report || i == p->to) {
            idem_stats st;
            idem_get_stats(ix, &st);
            double s = (bc_now_ns() - t0) / 1e9;
            printf("  fill: %ld events counted, %ld in %.1f s (%.0f events/s; %zu runs, filter "
                   "%.1f MiB)\n",
                   i, i - p->from, s, (i - p->from) / s, st.runs, st.filter_bytes / 1048576.0);
            fflush(stdout);
            next_report = i + 1000000;
            res->runs = st.runs;
            res->filter_bytes = st.filter_bytes;
        }
    }
    res->events = p->to - p->from;
    res->seconds = (bc_now_ns() - t0) / 1e9;
    if (store_conn_exec(conn, "PRAGMA wal_checkpoint(TRUNCATE)", &err) != 0) {
        fill_fail(prog, "checkpoint", &err);
        goto out;
    }
    ret = 0;
out:
    idem_free(ix);
    fx_replay_free(&r);
    return ret;
}

int fx_fill(const char *prog, fx_usage *fx, const char *db, const char *key_file, long to,
            int64_t end, fx_fill_result *res)
{
    memset(res, 0, sizeof *res);
    if (to <= fx_filled(fx))
        return 0;
    if (fx->n_passes == FX_MAX_PASSES) {
        fprintf(stderr, "%s: fill: more than %d passes\n", prog, FX_MAX_PASSES);
        return -1;
    }
    fx_pass pass = {.from = fx_filled(fx), .to = to, .end = end};
    fx->passes[fx->n_passes++] = pass;
    keyring_t *kr = NULL;
    store_conn_t *conn = NULL;
    mb_error err;
    int ret = -1;
    if (keyring_load(key_file, &kr, &err) != 0 ||
        store_conn_open(db, false, false, &conn, &err) != 0) {
        fill_fail(prog, "opening the key file and database", &err);
        goto out;
    }
    if (store_conn_exec(conn, "BEGIN IMMEDIATE", &err) != 0 ||
        keyring_attach(kr, conn, &err) != 0 || store_conn_exec(conn, "COMMIT", &err) != 0) {
        fill_fail(prog, "attaching the key", &err);
        goto out;
    }
    ret = fill_events(prog, fx, conn, kr, res);
out:
    if (ret != 0)
        fx->n_passes--;
    store_conn_close(conn);
    keyring_free(kr);
    return ret;
}

/* --- the replay ------------------------------------------------------------------------- */

static int make_replay(void *user, size_t thread, void *ctx, grpc_byte_buffer **req, char *why,
                       size_t why_size)
{
    fx_replay *r = user;
    long call = atomic_fetch_add(&r->next_call, 1);
    if (call >= r->calls) {
        snprintf(why, why_size, "more calls than the replay has batches");
        return -1;
    }
    request_fill(r, r->fx, r->first + call * r->batch, (size_t)r->batch);
    size_t len = minbill__v1__record_usage_request__get_packed_size(&r->req);
    grpc_slice s = grpc_slice_malloc(len);
    minbill__v1__record_usage_request__pack(&r->req, GRPC_SLICE_START_PTR(s));
    *req = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return 0;
}

static int check_replay(void *user, size_t thread, void *ctx, const uint8_t *resp, size_t len,
                        char *why, size_t why_size)
{
    const fx_replay *r = user;
    return bc_check_usage_counts(resp, len, 0, r->batch, why, why_size);
}

int fx_replay_spec(fx_replay *r, const fx_usage *fx, long first, long batch, long calls,
                   const char *prog, const char *target, const char *platform_key, long inflight,
                   int deadline_ms, bc_load_spec *out)
{
    memset(r, 0, sizeof *r);
    r->fx = fx;
    r->first = first;
    r->batch = batch;
    r->calls = calls;
    atomic_store(&r->next_call, 0);
    if (request_init(r, (size_t)batch) != 0) {
        fprintf(stderr, "%s: replay: out of memory\n", prog);
        return -1;
    }
    *out = bc_record_usage_spec(prog, target, platform_key, inflight, deadline_ms);
    out->measure_calls = calls;
    out->user = r;
    out->make = make_replay;
    out->check = check_replay;
    return 0;
}
