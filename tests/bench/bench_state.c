/*
 * bench_state.c - ingest, replay, start-up and memory as the idempotency
 * state grows to months of usage (issue 11).
 *
 * One database grows through the sizes of --sizes (stored hashes, default
 * 0, 10M, 50M, 100M). At each size:
 *   1. fill: the daemon stopped, the fixture (bench_fixture.h) counts as
 *      many new events as the size needs, spread over the last --days days
 *      (default 60 of the 62-day window) and counted as arriving on their
 *      day, with the daemon's own ingest code in-process; its rate is
 *      printed. The disk must have room for it first.
 *   2. start-up: minbilld serve on it, timed until it serves (SERVING).
 *   3. streamed: StreamUsage of new events (--streams streams, --batch
 *      events per message spanning --batch-accounts of --accounts) for
 *      --seconds; events/s acknowledged.
 *   4. unary-batched: RecordUsage calls of --batch new events, --inflight in
 *      flight, 2 s warm-up + --seconds; events/s, p50/p99.
 *   5. replay: the last --replay events of the fixture (the most recent
 *      ones: a producer re-sending after an outage) again, --batch per
 *      call, --inflight in flight; every answer must be all duplicates.
 *   6. verify: GetUsage of every account in every month of the window
 *      before 3 and after 5: the sum must have grown by exactly the new
 *      events acknowledged (the replay counted nothing), and it is the
 *      number of stored hashes (every event has quantity 1).
 *   7. a crash: the daemon killed (SIGKILL) and started again, timed until
 *      it serves; it loads the filter's last checkpoint and reads from the
 *      table the hashes stored since (how many, from its log).
 *   8. the daemon stopped (SIGTERM, exit 0), which saves the filter, and
 *      started again: the restart, timed until it serves. Then: its peak
 *      RSS over the size's steps, the filter's size and load time from its
 *      log, the database's size on disk and per stored hash.
 * Then one table, and PASS/FAIL against the targets at the largest
 * size of at least 100M (ingest >= 80% of the smallest size's, replay >=
 * 200,000 duplicates/s with none counted, start-up <= 10 s, peak RSS <= 512
 * MiB); every size must be right (nothing failed, nothing counted twice).
 *
 * With --dir the database and a record of what it holds are kept, and a
 * later run with the same --accounts and --days grows it further instead of
 * filling again (while its oldest events are still a day inside the
 * window).
 *
 * Exit status: 0 PASS, 1 FAIL, 2 usage error.
 */
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "bench_fixture.h"
#include "bench_usage.h"

#ifndef MINBILLD_DEFAULT
#define MINBILLD_DEFAULT "minbilld"
#endif

#define PROG "bench_state"
#define SETUP_TIMEOUT_MS 30000
#define CALL_DEADLINE_MS 60000
#define MAX_SIZES 16
#define MAX_ACCOUNTS 100000
#define WARMUP_S 2.0
#define INGESTED "bench_state.ingested" /* new events the phases added, in --dir */
/* Room the fill needs per hash: ~26 bytes measured (issue 11), the WAL and
 * the counters, with margin. */
#define DISK_BYTES_PER_HASH 40
#define DISK_SPARE (1LL << 30)

#define TARGET_INGEST_RATIO 0.8
#define TARGET_REPLAY_DPS 200000.0
#define TARGET_STARTUP_S 10.0
#define TARGET_RSS_KIB (512L * 1024)
#define TARGET_AT 100000000L
#define NOISY_CORES 0.25

typedef struct opts {
    const char *sizes, *dir;
    long replay, accounts, batch_accounts, batch, streams, inflight, days, daemon_threads;
    double seconds;
} opts;

static opts opt = {.sizes = "0,10M,50M,100M",
                   .replay = 10000000,
                   .accounts = 1000,
                   .batch_accounts = 100,
                   .batch = 100,
                   .streams = 8,
                   .inflight = 32,
                   .days = 60,
                   .seconds = 20};
static long sizes[MAX_SIZES];
static size_t n_sizes;

static mbt_daemon daemon_;
static fx_usage fx;
static char platform_key[128], finance_key[128], admin_key[128];
static long ingested; /* new events the phases added to the database */

/* One size's figures. */
typedef struct row {
    long stored;          /* hashes when the step's measurements began */
    double fill_eps;      /* 0: no fill */
    double startup_s;     /* first start after the fill: the filter's file and the fill's hashes */
    double crash_s;       /* start after SIGKILL: the last checkpoint and the hashes since */
    long crash_rescanned; /* hashes that start read from the table */
    double restart_s;     /* after a clean stop: the filter saved at the stop reloaded */
    double stream_eps, batch_eps;
    uint32_t batch_p50, batch_p99;
    long replayed;        /* events sent again; 0: none to send */
    double replay_dps;
    uint32_t replay_p99;
    int64_t replay_counted; /* must be 0 */
    long failed;            /* failed streams and calls, wrong answers, counter mismatches */
    long rss_kib;
    long filter_bytes, filter_ms; /* from the daemon's log */
    long long db_bytes;
    double other; /* cores busy outside the daemon and this program, worst phase */
} row;

/* --- options ---------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: " PROG " [options]\n"
            "  --sizes LIST       stored hashes to measure at, ascending, k/M suffixes\n"
            "                     allowed (default 0,10M,50M,100M)\n"
            "  --replay N         fixture events sent again at each size (default 10000000;\n"
            "                     fewer if fewer are stored)\n"
            "  --seconds S        each of the two new-event phases (default 20)\n"
            "  --accounts N       accounts (default 1000)\n"
            "  --batch-accounts N distinct accounts in one message or call (default 100)\n"
            "  --batch N          events per stream message and per call (default 100)\n"
            "  --streams N        concurrent streams (default 8)\n"
            "  --inflight N       RecordUsage calls in flight, new events and replay (default 32)\n"
            "  --days N           each fill's events spread over the last N days (default 60,\n"
            "                     at most 60)\n"
            "  --threads N        minbilld serve --threads (default: its own)\n"
            "  --dir DIR          keep the database in DIR and grow a fill found there\n"
            "                     (default: a fresh temporary directory)\n"
            "The daemon is $MINBILLD, else %s.\n",
            MINBILLD_DEFAULT);
}

static int parse_sizes(void)
{
    const char *p = opt.sizes;
    for (n_sizes = 0; *p != '\0'; n_sizes++) {
        char *end;
        long v = strtol(p, &end, 10);
        if (*end == 'k' || *end == 'K')
            v *= 1000, end++;
        else if (*end == 'M')
            v *= 1000000, end++;
        if (end == p || v < 0 || v > 2000000000 || n_sizes == MAX_SIZES ||
            (n_sizes > 0 && v <= sizes[n_sizes - 1]) || (*end != ',' && *end != '\0')) {
            fprintf(stderr, PROG ": --sizes: at most %d ascending numbers, e.g. 0,10M,50M\n",
                    MAX_SIZES);
            return -1;
        }
        sizes[n_sizes] = v;
        p = *end == ',' ? end + 1 : end;
    }
    return n_sizes > 0 ? 0 : -1;
}

static int parse_args(int argc, char **argv)
{
    const bc_option options[] = {
        {"sizes", BC_ARG_TEXT, &opt.sizes, 0, 0},
        {"replay", BC_ARG_COUNT, &opt.replay, 0, 2000000000},
        {"seconds", BC_ARG_SECONDS, &opt.seconds, 1, 3600},
        {"accounts", BC_ARG_COUNT, &opt.accounts, 1, MAX_ACCOUNTS},
        {"batch-accounts", BC_ARG_COUNT, &opt.batch_accounts, 1, BU_MAX_BATCH},
        {"batch", BC_ARG_COUNT, &opt.batch, 1, BU_MAX_BATCH},
        {"streams", BC_ARG_COUNT, &opt.streams, 1, BU_MAX_STREAMS},
        {"inflight", BC_ARG_COUNT, &opt.inflight, 1, 4096},
        {"days", BC_ARG_COUNT, &opt.days, 0, FX_WINDOW_DAYS - 2},
        {"threads", BC_ARG_COUNT, &opt.daemon_threads, 1, 256},
        {"dir", BC_ARG_TEXT, &opt.dir, 0, 0},
    };
    int rc = bc_parse_options(PROG, argc, argv, options, sizeof options / sizeof options[0]);
    if (rc != 0)
        return rc;
    if (opt.batch_accounts > opt.accounts) {
        fprintf(stderr, PROG ": --batch-accounts must be at most --accounts\n");
        return -1;
    }
    return parse_sizes();
}

/* --- the database and the daemon ----------------------------------------------------- */

static void ingested_rw(bool write)
{
    if (opt.dir == NULL)
        return;
    char path[1024];
    snprintf(path, sizeof path, "%s/" INGESTED, opt.dir);
    FILE *f = fopen(path, write ? "w" : "r");
    if (f == NULL)
        return;
    if (write)
        fprintf(f, "%ld\n", ingested);
    else if (fscanf(f, "%ld", &ingested) != 1)
        ingested = 0;
    fclose(f);
}

static long stored(void)
{
    return fx_filled(&fx) + ingested;
}

static long long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long long)st.st_size : 0;
}

/* The database with its WAL. */
static long long db_bytes(void)
{
    char wal[sizeof daemon_.db + 8];
    snprintf(wal, sizeof wal, "%s-wal", daemon_.db);
    return file_size(daemon_.db) + file_size(wal);
}

static int check_disk(long hashes)
{
    struct statvfs vfs;
    if (statvfs(daemon_.dir, &vfs) != 0) {
        fprintf(stderr, PROG ": cannot read the free space of %s\n", daemon_.dir);
        return -1;
    }
    long long avail = (long long)vfs.f_bavail * (long long)vfs.f_frsize,
              need = (long long)hashes * DISK_BYTES_PER_HASH + DISK_SPARE;
    printf("  disk: %.1f GiB free in %s, the fill needs about %.1f GiB\n", avail / 1073741824.0,
           daemon_.dir, need / 1073741824.0);
    if (avail < need) {
        fprintf(stderr, PROG ": not enough disk space for %ld more hashes\n", hashes);
        return -1;
    }
    return 0;
}

static int daemon_start(double *seconds)
{
    /* The verification reads every account's counters of every month at
     * full speed: no rate limit on the finance key. */
    char threads[24];
    snprintf(threads, sizeof threads, "%ld", opt.daemon_threads);
    const char *extra[] = {"--rate-limit", "finance=0", "--threads", threads, NULL};
    if (opt.daemon_threads == 0)
        extra[2] = NULL;
    int64_t t0 = bc_now_ns();
    if (mbt_daemon_start(&daemon_, extra) != 0) {
        fprintf(stderr, PROG ": minbilld did not start (see %s)\n", daemon_.log);
        return -1;
    }
    *seconds = (bc_now_ns() - t0) / 1e9;
    return 0;
}

static int daemon_stop(void)
{
    int rc = bc_daemon_stop(PROG, &daemon_, 120);
    daemon_.pid = 0;
    return rc;
}

/* The API keys (kept in the database) and, on a new one, the plan and the
 * accounts. */
static int first_start(bool fresh)
{
    double s;
    if (daemon_start(&s) != 0 ||
        mbt_daemon_api_key(&daemon_, "admin", admin_key, sizeof admin_key) != 0 ||
        mbt_daemon_api_key(&daemon_, "platform", platform_key, sizeof platform_key) != 0 ||
        mbt_daemon_api_key(&daemon_, "finance", finance_key, sizeof finance_key) != 0)
        return -1;
    if (!fresh)
        return daemon_stop();
    printf("setup: the plan and %ld accounts through the daemon\n", opt.accounts);
    mbc_channel_t *ch = mbc_channel_new(daemon_.target);
    int rc = ch != NULL && mbc_channel_wait_ready(ch, SETUP_TIMEOUT_MS) == 0 &&
                     fx_setup(PROG, ch, admin_key, platform_key, &fx, SETUP_TIMEOUT_MS) == 0
                 ? 0
                 : -1;
    mbc_channel_free(ch);
    return daemon_stop() != 0 ? -1 : rc;
}

/* Sum of every counter of every account in the months of the window. */
static int64_t counted(mbc_channel_t *ch)
{
    int64_t now = (int64_t)time(NULL), sum = 0;
    char last[8] = "";
    for (int64_t t = now - (int64_t)FX_WINDOW_DAYS * 86400; ; t += 86400) {
        if (t > now)
            t = now;
        char period[8];
        time_t tt = (time_t)t;
        struct tm tm;
        gmtime_r(&tt, &tm);
        strftime(period, sizeof period, "%Y-%m", &tm);
        if (strcmp(period, last) != 0) {
            int64_t n = fx_counted(PROG, ch, finance_key, &fx, period, SETUP_TIMEOUT_MS);
            if (n < 0)
                return -1;
            sum += n;
            memcpy(last, period, sizeof last);
        }
        if (t == now)
            return sum;
    }
}

/* --- one size ------------------------------------------------------------------------ */

static void note_other(row *r, const bc_cpu *cpu, double span)
{
    double o = span > 0 ? cpu->other / span : 0;
    if (o > r->other)
        r->other = o;
}

static int phase_streams(row *r, bu_shape *shape)
{
    bu_new_run(shape);
    shape->occurred = (int64_t)time(NULL);
    printf("  streamed: %ld streams x %ld events (%ld accounts each), %.0f s\n", opt.streams,
           opt.batch, opt.batch_accounts, opt.seconds);
    fflush(stdout);
    bu_stream_result sr;
    bc_cpu cpu;
    bc_cpu_begin(&cpu, daemon_.pid);
    if (bu_run_streams(PROG, shape, daemon_.target, platform_key, opt.streams, opt.seconds, &sr) !=
        0)
        return -1;
    bc_cpu_end(&cpu);
    note_other(r, &cpu, sr.seconds);
    r->stream_eps = sr.seconds > 0 ? sr.accepted / sr.seconds : 0;
    r->failed += sr.failed + (sr.duplicates > 0);
    ingested += (long)sr.accepted;
    printf("    %" PRId64 " events in %.1f s: %.0f events/s, %" PRId64 " duplicates, %ld failed "
           "streams%s%s\n",
           sr.accepted, sr.seconds, r->stream_eps, sr.duplicates, sr.failed,
           sr.failed > 0 ? "; first: " : "", sr.failed > 0 ? sr.first_error : "");
    return 0;
}

static int phase_batched(row *r, bu_shape *shape)
{
    bu_new_run(shape);
    shape->occurred = (int64_t)time(NULL);
    printf("  unary-batched: RecordUsage of %ld events, %ld in flight, %.0f s + %.0f s\n",
           opt.batch, opt.inflight, WARMUP_S, opt.seconds);
    fflush(stdout);
    bu_unary u;
    bc_load_spec sp = bu_unary_spec(&u, shape, opt.batch, PROG, daemon_.target, platform_key,
                                    opt.inflight, CALL_DEADLINE_MS);
    sp.warmup_s = WARMUP_S;
    sp.measure_s = opt.seconds;
    bc_load_result res = {0};
    bc_cpu cpu;
    bc_cpu_begin(&cpu, daemon_.pid);
    if (bc_load_run(&sp, &res) != 0)
        return -1;
    bc_cpu_end(&cpu);
    note_other(r, &cpu, res.seconds + WARMUP_S);
    r->batch_eps = res.seconds > 0 ? (double)res.ok * opt.batch / res.seconds : 0;
    r->batch_p50 = bc_lat_pct(&res.lat, 0.5);
    r->batch_p99 = bc_lat_pct(&res.lat, 0.99);
    r->failed += res.failed;
    ingested += res.ok_total * opt.batch;
    printf("    %.0f events/s, p50 %.1f ms, p99 %.1f ms, %ld failed%s%s\n", r->batch_eps,
           r->batch_p50 / 1000.0, r->batch_p99 / 1000.0, res.failed,
           res.failed > 0 ? "; first: " : "", res.failed > 0 ? res.first_error : "");
    bc_load_result_free(&res);
    return 0;
}

static int phase_replay(row *r)
{
    long n = opt.replay < fx_filled(&fx) ? opt.replay : fx_filled(&fx);
    long calls = n / opt.batch;
    r->replayed = calls * opt.batch;
    if (calls == 0) {
        printf("  replay: no stored fixture events to send again\n");
        return 0;
    }
    printf("  replay: the last %ld fixture events again, %ld per call, %ld in flight\n",
           r->replayed, opt.batch, opt.inflight);
    fflush(stdout);
    fx_replay fr;
    bc_load_spec sp;
    bc_load_result res = {0};
    int ret = -1;
    if (fx_replay_spec(&fr, &fx, fx_filled(&fx) - r->replayed, opt.batch, calls, PROG,
                       daemon_.target, platform_key, opt.inflight, CALL_DEADLINE_MS, &sp) != 0)
        goto out;
    bc_cpu cpu;
    bc_cpu_begin(&cpu, daemon_.pid);
    if (bc_load_run(&sp, &res) != 0)
        goto out;
    bc_cpu_end(&cpu);
    note_other(r, &cpu, res.seconds);
    r->replay_dps = res.seconds > 0 ? (double)res.ok * opt.batch / res.seconds : 0;
    r->replay_p99 = bc_lat_pct(&res.lat, 0.99);
    r->failed += res.failed + (res.ok != calls);
    printf("    %ld calls OK in %.1f s: %.0f duplicates/s, call p99 %.1f ms, %ld failed%s%s\n",
           res.ok, res.seconds, r->replay_dps, r->replay_p99 / 1000.0, res.failed,
           res.failed > 0 ? "; first: " : "", res.failed > 0 ? res.first_error : "");
    ret = 0;
out:
    bc_load_result_free(&res);
    fx_replay_free(&fr);
    return ret;
}

/* Whether the daemon's last start loaded a saved filter (its last
 * usage_index_loaded line says filter=saved). */
static bool last_load_saved(void)
{
    FILE *f = fopen(daemon_.log, "r");
    if (f == NULL)
        return false;
    char line[4096];
    bool saved = false;
    while (fgets(line, sizeof line, f) != NULL)
        if (strstr(line, "event=usage_index_loaded ") != NULL)
            saved = strstr(line, " filter=saved ") != NULL;
    fclose(f);
    return saved;
}

/* A crash after the size's phases, and the start that follows it. */
static int crash_and_start(row *r)
{
    int status = 0;
    if (mbt_daemon_stop(&daemon_, SIGKILL, 30, &status) != 0 || !WIFSIGNALED(status)) {
        fprintf(stderr, PROG ": minbilld did not die of SIGKILL\n");
        return -1;
    }
    daemon_.pid = 0;
    if (daemon_start(&r->crash_s) != 0)
        return -1;
    r->crash_rescanned = bc_log_figure(daemon_.log, "usage_index_loaded", "rescanned");
    printf("  start after SIGKILL to SERVING: %.2f s (filter %s, %ld hashes read back from the "
           "table)\n",
           r->crash_s, last_load_saved() ? "from its last checkpoint" : "rebuilt",
           r->crash_rescanned);
    long rss = bc_peak_rss_kib(daemon_.pid);
    r->rss_kib = rss > r->rss_kib ? rss : r->rss_kib;
    return 0;
}

static int measure(long size, row *r, bu_shape *shape)
{
    printf("\nsize %ld: %ld hashes stored\n", size, stored());
    if (size > stored()) {
        long more = size - stored();
        if (check_disk(more) != 0)
            return -1;
        fx_fill_result fr;
        if (fx_fill(PROG, &fx, daemon_.db, daemon_.key_file, fx_filled(&fx) + more,
                    (int64_t)time(NULL), &fr) != 0)
            return -1;
        r->fill_eps = fr.seconds > 0 ? fr.events / fr.seconds : 0;
        if (opt.dir != NULL)
            fx_save(PROG, opt.dir, &fx);
    }
    r->stored = stored();
    if (daemon_start(&r->startup_s) != 0)
        return -1;
    printf("  start-up to SERVING: %.2f s\n", r->startup_s);
    r->filter_bytes = bc_log_figure(daemon_.log, "usage_index_loaded", "filter_bytes");
    r->filter_ms = bc_log_figure(daemon_.log, "usage_index_loaded", "ms");
    mbc_channel_t *ch = mbc_channel_new(daemon_.target);
    int ret = -1;
    int64_t before, after;
    long new0 = ingested;
    if (ch == NULL || mbc_channel_wait_ready(ch, SETUP_TIMEOUT_MS) != 0 ||
        (before = counted(ch)) < 0)
        goto out;
    if (before != r->stored) {
        printf("    the counters sum to %" PRId64 ", not the %ld hashes stored\n", before,
               r->stored);
        r->failed++;
    }
    if (phase_streams(r, shape) != 0 || phase_batched(r, shape) != 0 || phase_replay(r) != 0 ||
        (after = counted(ch)) < 0)
        goto out;
    r->replay_counted = after - before - (ingested - new0);
    printf("  counters: %" PRId64 " before, %" PRId64 " after, %ld new events acknowledged: the "
           "replay counted %" PRId64 " (must be 0)\n",
           before, after, ingested - new0, r->replay_counted);
    ret = 0;
out:
    mbc_channel_free(ch);
    r->rss_kib = bc_peak_rss_kib(daemon_.pid);
    ingested_rw(true);
    if (ret == 0 && crash_and_start(r) != 0)
        ret = -1;
    if (daemon_stop() != 0)
        ret = -1;
    /* The usual restart: the stop saved the filter, this start loads it. */
    if (ret == 0 && daemon_start(&r->restart_s) != 0)
        return -1;
    if (ret == 0) {
        printf("  restart after a clean stop to SERVING: %.2f s (filter %s)\n", r->restart_s,
               last_load_saved() ? "loaded as saved" : "rebuilt");
        long rss = bc_peak_rss_kib(daemon_.pid);
        r->rss_kib = rss > r->rss_kib ? rss : r->rss_kib;
        if (daemon_stop() != 0)
            ret = -1;
    }
    r->db_bytes = db_bytes();
    printf("  daemon peak RSS %.1f MiB; filter %.1f MB, built in %ld ms; database %.2f GB "
           "(%.1f bytes per stored hash)\n",
           r->rss_kib / 1024.0, r->filter_bytes / 1e6, r->filter_ms, r->db_bytes / 1e9,
           r->stored > 0 ? (double)r->db_bytes / (double)r->stored : 0.0);
    return ret;
}

/* --- the report -------------------------------------------------------------------------- */

static void print_table(const row *rows, size_t n)
{
    printf("\nminbill " PROG ": %ld accounts, %ld per message or call, fills spread over %ld "
           "days, durable\n",
           opt.accounts, opt.batch_accounts, opt.days);
    printf("%11s %9s %8s %8s %9s %10s %10s %13s %10s %9s %7s %8s %8s %9s %7s %6s\n", "stored",
           "fill/s", "start s", "crash s", "restart s", "stream/s", "batched/s", "batch p50/99",
           "replayed", "dup/s", "dup p99", "counted", "RSS MiB", "filter MB", "DB GB", "B/hash");
    for (size_t i = 0; i < n; i++) {
        const row *r = &rows[i];
        char fill[16] = "-", dups[16] = "-", p99[16] = "-", counted_s[16] = "-", per[16] = "-",
             lat[24];
        if (r->fill_eps > 0)
            snprintf(fill, sizeof fill, "%.0f", r->fill_eps);
        if (r->replayed > 0) {
            snprintf(dups, sizeof dups, "%.0f", r->replay_dps);
            snprintf(p99, sizeof p99, "%.0f", r->replay_p99 / 1000.0);
            snprintf(counted_s, sizeof counted_s, "%" PRId64, r->replay_counted);
        }
        if (r->stored > 0)
            snprintf(per, sizeof per, "%.1f", (double)r->db_bytes / (double)r->stored);
        snprintf(lat, sizeof lat, "%.0f/%.0f", r->batch_p50 / 1000.0, r->batch_p99 / 1000.0);
        printf("%11ld %9s %8.2f %8.2f %9.2f %10.0f %10.0f %13s %10ld %9s %7s %8s %8.1f %9.1f %7.2f "
               "%6s\n",
               r->stored, fill, r->startup_s, r->crash_s, r->restart_s, r->stream_eps, r->batch_eps,
               lat, r->replayed, dups, p99, counted_s, r->rss_kib / 1024.0, r->filter_bytes / 1e6,
               r->db_bytes / 1e9, per);
    }
    printf("(stored: hashes when the size's measurements began; start: the first start after "
           "the fill, which loads the filter saved at the last stop and reads the fill's hashes "
           "from the table (all of them at the first size); crash: the start after a SIGKILL at "
           "the end of the size's phases, which loads the last checkpoint and reads the hashes "
           "since; restart: after a clean stop, which saved the filter; B/hash: database bytes per "
           "stored hash, counters and "
           "accounts included; latencies in ms)\n");
    for (size_t i = 1; i < n; i++) {
        long dh = rows[i].stored - rows[0].stored;
        if (dh > 0)
            printf("  from %ld to %ld hashes: %.1f bytes on disk and %.1f bytes of peak RSS per "
                   "added hash (filter alone %.1f)\n",
                   rows[0].stored, rows[i].stored,
                   (double)(rows[i].db_bytes - rows[0].db_bytes) / (double)dh,
                   (double)(rows[i].rss_kib - rows[0].rss_kib) * 1024.0 / (double)dh,
                   (double)(rows[i].filter_bytes - rows[0].filter_bytes) / (double)dh);
    }
    bc_print_load("  machine load ");
    for (size_t i = 0; i < n; i++) {
        const row *r = &rows[i];
        printf("RESULT stored=%ld fill_eps=%.0f startup_s=%.2f crash_s=%.2f crash_rescanned=%ld "
               "restart_s=%.2f stream_eps=%.0f "
               "batched_eps=%.0f "
               "batched_p99_us=%u replayed=%ld duplicates_per_s=%.0f replay_counted=%" PRId64
               " failed=%ld peak_rss_kb=%ld filter_bytes=%ld db_bytes=%lld other_cores=%.2f\n",
               r->stored, r->fill_eps, r->startup_s, r->crash_s, r->crash_rescanned, r->restart_s,
               r->stream_eps, r->batch_eps, r->batch_p99, r->replayed, r->replay_dps,
               r->replay_counted, r->failed, r->rss_kib, r->filter_bytes, r->db_bytes, r->other);
    }
}

static int verdict(const row *rows, size_t n)
{
    int fails = 0;
    double other = 0;
    for (size_t i = 0; i < n; i++) {
        fails += bc_fail_if(stdout, "", rows[i].failed > 0 || rows[i].replay_counted != 0,
                            "at %ld hashes: %ld failed streams, calls or checks; the replay "
                            "counted %" PRId64,
                            rows[i].stored, rows[i].failed, rows[i].replay_counted);
        other = rows[i].other > other ? rows[i].other : other;
    }
    const row *big = &rows[n - 1], *small = &rows[0];
    if (n < 2 || big->stored < TARGET_AT) {
        printf("the issue's targets hold at %ld hashes; the largest size here is %ld: no "
               "verdict on them\n",
               TARGET_AT, big->stored);
    } else {
        double ingest = big->stream_eps < big->batch_eps ? big->stream_eps : big->batch_eps,
               base = small->stream_eps < small->batch_eps ? small->stream_eps : small->batch_eps;
        /* The baseline is the empty database's, measured in the same run. */
        if (small->stored == 0)
            fails += bc_fail_if(stdout, "", ingest < TARGET_INGEST_RATIO * base,
                                "new-event ingest at %ld hashes %.0f events/s, %.0f%% of %.0f at "
                                "%ld (target >= 80%%)",
                                big->stored, ingest, base > 0 ? 100 * ingest / base : 0, base,
                                small->stored);
        else
            printf("no empty-database figure in this run (its first size was not 0): the "
                   "ingest ratio is not judged\n");
        fails += bc_fail_if(stdout, "", big->replay_dps < TARGET_REPLAY_DPS,
                            "replay %.0f duplicates/s (target >= %.0f)", big->replay_dps,
                            TARGET_REPLAY_DPS);
        /* Both starts a deployment sees: after a clean stop, after a crash. */
        fails += bc_fail_if(stdout, "", big->restart_s > TARGET_STARTUP_S,
                            "restart %.1f s (target <= %.0f s)", big->restart_s,
                            TARGET_STARTUP_S);
        fails += bc_fail_if(stdout, "", big->crash_s > TARGET_STARTUP_S,
                            "start after a crash %.1f s (target <= %.0f s)", big->crash_s,
                            TARGET_STARTUP_S);
        fails += bc_fail_if(stdout, "", big->rss_kib > TARGET_RSS_KIB,
                            "peak RSS %.0f MiB (target <= %ld MiB)", big->rss_kib / 1024.0,
                            TARGET_RSS_KIB / 1024);
    }
    if (fails == 0)
        printf("PASS\n");
    if (other > NOISY_CORES)
        printf("WARNING: other processes used up to %.2f cores of this machine meanwhile: the "
               "figures above are not representative\n",
               other);
    return fails == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    int rc = parse_args(argc, argv);
    if (rc != 0)
        return bc_options_exit(PROG, rc, usage);
    signal(SIGPIPE, SIG_IGN);
    bc_use_minbilld(MINBILLD_DEFAULT);
    srand((unsigned)(time(NULL) ^ getpid()));
    grpc_init();
    int ret = 1;
    row rows[MAX_SIZES];
    memset(rows, 0, sizeof rows);
    size_t done = 0;
    bu_shape shape = {0};
    int found = fx_open_dir(PROG, opt.dir, &daemon_, &fx);
    if (found < 0)
        goto out;
    if (found == 1 && (fx.accounts != opt.accounts || fx.days != opt.days)) {
        fprintf(stderr, PROG ": --dir %s holds a fill of %ld accounts over %d days\n", opt.dir,
                fx.accounts, fx.days);
        goto out;
    }
    fx.accounts = opt.accounts;
    fx.days = (int)opt.days;
    if (found == 1)
        ingested_rw(false);
    shape.span = opt.batch_accounts;
    shape.batch = opt.batch;
    if (bu_accounts(&shape, opt.accounts, FX_ACCOUNT_PREFIX) != 0 || first_start(found == 0) != 0)
        goto out;
    for (size_t i = 0; i < n_sizes; i++) {
        if (sizes[i] < stored()) {
            printf("\nsize %ld: skipped, %ld hashes are stored already\n", sizes[i], stored());
            continue;
        }
        if (measure(sizes[i], &rows[done++], &shape) != 0)
            goto out;
    }
    if (done > 0) {
        print_table(rows, done);
        ret = verdict(rows, done);
    }
out:
    if (daemon_.pid > 0)
        daemon_stop();
    if (opt.dir == NULL)
        mbt_daemon_cleanup(&daemon_);
    bu_accounts_free(&shape);
    grpc_shutdown_blocking();
    return ret;
}
