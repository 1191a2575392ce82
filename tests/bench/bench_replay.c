/*
 * bench_replay.c - a replay of already-counted usage at a large idempotency
 * state, and what it does to everyone else's ingest (issue 10).
 *
 * Steps, against a private minbilld (WAL fsynced before each answer):
 *   1. setup: the plan "bench", --accounts accounts and one more for the
 *      other client, through the daemon; then the daemon is stopped.
 *   2. fill: --stored events (bench_fixture.h: event i of account i mod
 *      --accounts, key "ev-<i>", quantity 1, all occurred now) counted
 *      in-process with the daemon's own code: the database the daemon would
 *      have after ingesting them, in a fraction of the time. With --dir the
 *      filled database is kept and reused by later runs with the same
 *      --stored and --accounts.
 *   3. the daemon is started again on it (start-up time until SERVING).
 *   4. replay: the first --replay events again, --batch events per unary
 *      RecordUsage call (a call spans --batch accounts), --inflight calls in
 *      flight; every answer must be accepted=0 duplicates=--batch. Meanwhile
 *      another client sends single new events (RecordUsage, one in flight,
 *      its own connection and account) and records each call's latency.
 *   5. GetUsage of every account: the replayed accounts' counters must not
 *      have moved, the other account's must hold exactly the events it was
 *      acknowledged.
 * PASS: >= --min-rate duplicates/s, none counted, every call right, the
 * other client's p99 < --max-p99-ms, the daemon stops cleanly.
 *
 * Exit status: 0 PASS, 1 FAIL, 2 usage error.
 */
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_common.h"
#include "bench_fixture.h"
#include "minbill/v1/metering.pb-c.h"

#ifndef MINBILLD_DEFAULT
#define MINBILLD_DEFAULT "minbilld"
#endif

#define PROG "bench_replay"
#define SETUP_TIMEOUT_MS 30000
#define CALL_DEADLINE_MS 30000 /* the clients gave up after 30 s */
#define MAX_BATCH 1000
#define OTHER_ACCOUNT "rb-other"
#define NOISY_CORES 0.25

typedef struct opts {
    long stored, replay, accounts, batch, inflight, daemon_threads, min_rate, max_p99_ms;
    const char *dir;
} opts;

static opts opt;
static mbt_daemon daemon_;
static char platform_key[128], finance_key[128], admin_key[128];
static fx_usage fx;
static int64_t occurred; /* every event's occurred_at (Unix seconds) */
static char period[8];   /* ... and its month */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: " PROG " [options]\n"
            "  --stored N         events counted before the replay (default 10000000)\n"
            "  --replay N         the first N of them sent again (default 1000000)\n"
            "  --accounts N       accounts the events are spread over (default 1000)\n"

            "  --batch N          events per RecordUsage call of the replay (default 100)\n"
            "  --inflight N       replay calls in flight (default 32)\n"
            "  --threads N        daemon completion-queue threads (default: its own)\n"
            "  --min-rate N       duplicates/s needed to PASS (default 50000)\n"
            "  --max-p99-ms N     the other client's p99 needed to PASS (default 100)\n"
            "  --dir DIR          keep the database in DIR and reuse a fill of the same\n"
            "                     --stored and --accounts found there (default: a fresh\n"
            "                     temporary directory)\n"
            "\n"
            "The daemon is $MINBILLD, else %s.\n",
            MINBILLD_DEFAULT);
}

static int parse_args(int argc, char **argv)
{
    opt = (opts){.stored = 10000000,
                 .replay = 1000000,
                 .accounts = 1000,
                 .batch = 100,
                 .inflight = 32,
                 .min_rate = 50000,
                 .max_p99_ms = 100};
    const bc_option options[] = {
        {"stored", BC_ARG_COUNT, &opt.stored, 1, 2000000000},
        {"replay", BC_ARG_COUNT, &opt.replay, 1, 2000000000},
        {"accounts", BC_ARG_COUNT, &opt.accounts, 1, 100000},
        {"batch", BC_ARG_COUNT, &opt.batch, 1, MAX_BATCH},
        {"inflight", BC_ARG_COUNT, &opt.inflight, 1, 4096},
        {"threads", BC_ARG_COUNT, &opt.daemon_threads, 1, 256},
        {"min-rate", BC_ARG_COUNT, &opt.min_rate, 0, INT_MAX},
        {"max-p99-ms", BC_ARG_COUNT, &opt.max_p99_ms, 1, INT_MAX},
        {"dir", BC_ARG_TEXT, &opt.dir, 0, 0},
    };
    int rc = bc_parse_options(PROG, argc, argv, options, sizeof options / sizeof options[0]);
    if (rc != 0)
        return rc;
    if (opt.replay > opt.stored || opt.replay % opt.batch != 0) {
        fprintf(stderr, PROG ": --replay must be at most --stored and a multiple of --batch\n");
        return -1;
    }
    return 0;
}

/* --- 1. setup through the daemon, 2. the fill in-process -------------------------- */

static int setup(void)
{
    mbc_channel_t *ch = mbc_channel_new(daemon_.target);
    int ret = -1;
    if (ch != NULL && mbc_channel_wait_ready(ch, SETUP_TIMEOUT_MS) == 0 &&
        fx_setup(PROG, ch, admin_key, platform_key, &fx, SETUP_TIMEOUT_MS) == 0 &&
        bc_upsert_account(PROG, ch, platform_key, OTHER_ACCOUNT, "bench", SETUP_TIMEOUT_MS) == 0)
        ret = 0;
    mbc_channel_free(ch);
    return ret;
}

/* Everything up to a filled database, the daemon stopped. */
static int prepare(void)
{
    int found = fx_open_dir(PROG, opt.dir, &daemon_, &fx);
    if (found < 0)
        return -1;
    if (found == 1) {
        if (fx.accounts == opt.accounts && fx.days == 0 && fx_filled(&fx) == opt.stored)
            return 0;
        fprintf(stderr, PROG ": --dir %s holds a fill of another shape\n", opt.dir);
        return -1;
    }
    fx.accounts = opt.accounts;
    printf("setup: the plan and %ld accounts through the daemon\n", opt.accounts);
    if (mbt_daemon_start(&daemon_, NULL) != 0 ||
        mbt_daemon_api_key(&daemon_, "admin", admin_key, sizeof admin_key) != 0 ||
        mbt_daemon_api_key(&daemon_, "platform", platform_key, sizeof platform_key) != 0 ||
        setup() != 0 || bc_daemon_stop(PROG, &daemon_, 60) != 0)
        return -1;
    daemon_.pid = 0;

    printf("fill: %ld events with the daemon's ingest code, in-process\n", opt.stored);
    fflush(stdout);
    fx_fill_result fr;
    if (fx_fill(PROG, &fx, daemon_.db, daemon_.key_file, opt.stored, (int64_t)time(NULL), &fr) != 0)
        return -1;
    if (opt.dir != NULL)
        fx_save(PROG, opt.dir, &fx);
    return 0;
}

/* --- 4. the replay and the other client ------------------------------------------ */

typedef struct replay_state {
    /* The other client. */
    pthread_t other;
    atomic_bool other_stop;
    int64_t started; /* this run's start: its keys are new even on a reused fill */
    bool other_started;
    mbc_channel_t *other_ch;
    bc_lat other_lat;
    long other_acked, other_failed;
    char other_error[512];
} replay_state;

static replay_state rs;

/* Single new events, one at a time, until told to stop. */
static void *other_main(void *arg)
{
    replay_state *r = arg;
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    Minbill__V1__UsageEvent ev = MINBILL__V1__USAGE_EVENT__INIT;
    Minbill__V1__UsageEvent *evp = &ev;
    Minbill__V1__RecordUsageRequest req = MINBILL__V1__RECORD_USAGE_REQUEST__INIT;
    char key[48];
    ts.seconds = occurred;
    ev.account_id = OTHER_ACCOUNT;
    ev.metric = "messages";
    ev.quantity = 1;
    ev.occurred_at = &ts;
    ev.idempotency_key = key;
    req.n_events = 1;
    req.events = &evp;
    for (long i = 0; !atomic_load(&r->other_stop); i++) {
        snprintf(key, sizeof key, "other-%lld-%d-%ld", (long long)r->started, (int)getpid(), i);
        ProtobufCMessage *resp = NULL;
        mb_error st;
        int64_t t0 = bc_now_ns();
        int rc = mbc_unary(r->other_ch, BC_RECORD_USAGE, platform_key, &req.base,
                           &minbill__v1__record_usage_response__descriptor, CALL_DEADLINE_MS, &resp,
                           &st);
        int64_t us = (bc_now_ns() - t0) / 1000;
        const Minbill__V1__RecordUsageResponse *m = (const void *)resp;
        if (rc != 0 || m->accepted != 1) {
            if (r->other_failed++ == 0)
                snprintf(r->other_error, sizeof r->other_error, "%s: %s",
                         rc != 0 ? mb_status_name(st.code) : "OK",
                         rc != 0 ? st.msg : "a new event was not accepted");
        } else {
            r->other_acked++;
            bc_lat_add(&r->other_lat, us);
        }
        if (resp != NULL)
            protobuf_c_message_free_unpacked(resp, NULL);
    }
    return NULL;
}

/* The other client runs exactly while the replay's window is open. */
static int on_window(void *user, bool start)
{
    replay_state *r = &rs;
    if (!start) {
        atomic_store(&r->other_stop, true);
        if (r->other_started)
            pthread_join(r->other, NULL);
        r->other_started = false;
        return 0;
    }
    if (pthread_create(&r->other, NULL, other_main, r) != 0) {
        fprintf(stderr, PROG ": cannot start the other client\n");
        return -1;
    }
    r->other_started = true;
    return 0;
}

/* Sum of the replayed accounts' counters, and the other account's. */
static int read_counters(mbc_channel_t *ch, int64_t *replayed, int64_t *other)
{
    if ((*replayed = fx_counted(PROG, ch, finance_key, &fx, period, SETUP_TIMEOUT_MS)) < 0)
        return -1;
    *other = bc_usage_total(PROG, ch, finance_key, OTHER_ACCOUNT, period, SETUP_TIMEOUT_MS);
    return *other < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    int rc = parse_args(argc, argv);
    if (rc != 0)
        return bc_options_exit(PROG, rc, usage);
    signal(SIGPIPE, SIG_IGN);
    bc_use_minbilld(MINBILLD_DEFAULT);
    occurred = (int64_t)time(NULL);
    grpc_init();
    int ret = 1;
    mbc_channel_t *ch = NULL;
    fx_replay fr = {0};
    bc_load_result res = {0};
    if (prepare() != 0)
        goto out;
    /* After prepare(): a reused fill brings its own time. */
    occurred = fx_occurred(&fx, 0);
    rs.started = (int64_t)time(NULL);
    struct tm tm;
    time_t t = (time_t)occurred;
    gmtime_r(&t, &tm);
    strftime(period, sizeof period, "%Y-%m", &tm);

    char threads[24];
    snprintf(threads, sizeof threads, "%ld", opt.daemon_threads);
    const char *extra[] = {"--threads", threads, NULL};
    int64_t t0 = bc_now_ns();
    if (mbt_daemon_start(&daemon_, opt.daemon_threads > 0 ? extra : NULL) != 0) {
        fprintf(stderr, PROG ": minbilld did not start (see %s)\n", daemon_.log);
        goto out;
    }
    double startup_s = (bc_now_ns() - t0) / 1e9;
    if (mbt_daemon_api_key(&daemon_, "platform", platform_key, sizeof platform_key) != 0 ||
        mbt_daemon_api_key(&daemon_, "finance", finance_key, sizeof finance_key) != 0)
        goto out;
    ch = mbc_channel_new(daemon_.target);
    rs.other_ch = mbc_channel_new(daemon_.target);
    int64_t replayed0, other0, replayed1, other1;
    if (ch == NULL || rs.other_ch == NULL || mbc_channel_wait_ready(ch, SETUP_TIMEOUT_MS) != 0 ||
        mbc_channel_wait_ready(rs.other_ch, SETUP_TIMEOUT_MS) != 0 ||
        read_counters(ch, &replayed0, &other0) != 0)
        goto out;

    printf("replay: the first %ld events again, %ld per RecordUsage call, %ld calls in flight; "
           "another client sends single new events meanwhile\n",
           opt.replay, opt.batch, opt.inflight);
    fflush(stdout);
    bc_load_spec sp;
    if (fx_replay_spec(&fr, &fx, 0, opt.batch, opt.replay / opt.batch, PROG, daemon_.target,
                       platform_key, opt.inflight, CALL_DEADLINE_MS, &sp) != 0)
        goto out;
    sp.on_window = on_window;
    bc_cpu cpu;
    bc_cpu_begin(&cpu, daemon_.pid);
    if (bc_load_run(&sp, &res) != 0)
        goto out;
    bc_cpu_end(&cpu);
    if (read_counters(ch, &replayed1, &other1) != 0)
        goto out;
    long rss = bc_peak_rss_kib(daemon_.pid);
    bool daemon_ok = bc_daemon_stop(PROG, &daemon_, 60) == 0;
    daemon_.pid = 0;

    double dps = res.seconds > 0 ? res.ok * opt.batch / res.seconds : 0;
    bc_lat_sort(&rs.other_lat);
    uint32_t o50 = bc_lat_pct(&rs.other_lat, 0.5), o99 = bc_lat_pct(&rs.other_lat, 0.99),
             omax = bc_lat_max(&rs.other_lat);
    printf("\nminbill " PROG ": a replay of already-counted events, durable\n");
    printf("  daemon            %s (threads %s), start-up to SERVING %.2f s on %ld stored\n",
           mbt_minbilld_path(), opt.daemon_threads > 0 ? "--threads" : "default", startup_s,
           opt.stored);
    printf("  replay            %ld calls of %ld OK in %.3f s, %ld failed\n", res.ok, opt.batch,
           res.seconds, res.failed);
    printf("  duplicates/s      %.0f\n", dps);
    printf("  call latency      p50 %.1f ms  p99 %.1f ms  max %.1f ms\n",
           bc_lat_pct(&res.lat, 0.5) / 1000.0, bc_lat_pct(&res.lat, 0.99) / 1000.0,
           bc_lat_max(&res.lat) / 1000.0);
    printf("  counted           replayed accounts %" PRId64 " before, %" PRId64
           " after (must not move)\n",
           replayed0, replayed1);
    printf("  other client      %ld single new events acknowledged, %ld failed; p50 %.1f ms  "
           "p99 %.1f ms  max %.1f ms; its counter moved by %" PRId64 "\n",
           rs.other_acked, rs.other_failed, o50 / 1000.0, o99 / 1000.0, omax / 1000.0,
           other1 - other0);
    printf("  CPU (cores)       daemon %.2f, client %.2f, other processes %.2f\n",
           cpu.daemon / res.seconds, cpu.self / res.seconds, cpu.other / res.seconds);
    bc_print_load("  machine load      ");
    printf("  index             %ld disk probes, %ld partition rebuilds since the restart "
           "(daemon log)\n",
           bc_log_figure(daemon_.log, "usage_index_stats", "disk_probes"),
           bc_log_figure(daemon_.log, "usage_index_stats", "partition_rebuilds"));
    bc_print_peak_rss(rss);
    if (res.failed > 0)
        printf("  first failure     %s\n", res.first_error);
    if (rs.other_failed > 0)
        printf("  other's failure   %s\n", rs.other_error);
    int fails = 0;
    fails += bc_fail_if(stdout, "  ", dps < opt.min_rate, "%.0f duplicates/s (target >= %ld)", dps,
                        opt.min_rate);
    fails += bc_fail_if(stdout, "  ", res.failed > 0 || res.ok != opt.replay / opt.batch,
                        "%ld replay calls failed", res.failed);
    fails += bc_fail_if(stdout, "  ", replayed1 != replayed0,
                        "the replay was counted: %" PRId64 " more", replayed1 - replayed0);
    fails += bc_fail_if(
        stdout, "  ", rs.other_failed > 0 || rs.other_acked == 0 || other1 - other0 != rs.other_acked,
        "the other client's events: %ld acknowledged, %" PRId64 " counted, %ld "
        "failed",
        rs.other_acked, other1 - other0, rs.other_failed);
    fails += bc_fail_if(stdout, "  ", o99 >= (uint32_t)opt.max_p99_ms * 1000,
                        "the other client's p99 %.1f ms (target < %ld ms)", o99 / 1000.0,
                        opt.max_p99_ms);
    fails += bc_fail_if(stdout, "  ", !daemon_ok, "the daemon did not stop cleanly");
    if (fails == 0)
        printf("  result            PASS (>= %ld duplicates/s, none counted, other p99 < %ld ms)\n",
               opt.min_rate, opt.max_p99_ms);
    if (cpu.other / res.seconds > NOISY_CORES)
        printf("  note              other processes kept %.2f cores busy: a busy machine\n",
               cpu.other / res.seconds);
    printf("RESULT stored=%ld replayed=%ld duplicates_per_s=%.0f counted=%" PRId64
           " other_events=%ld other_p50_us=%u other_p99_us=%u other_max_us=%u startup_s=%.2f "
           "peak_rss_kb=%ld other_cores=%.2f verdict=%s\n",
           opt.stored, res.ok * opt.batch, dps, replayed1 - replayed0, rs.other_acked, o50, o99,
           omax, startup_s, rss, cpu.other / res.seconds, fails == 0 ? "PASS" : "FAIL");
    ret = fails == 0 ? 0 : 1;
out:
    if (rs.other_started)
        on_window(NULL, false);
    bc_lat_free(&rs.other_lat);
    bc_load_result_free(&res);
    mbc_channel_free(rs.other_ch);
    mbc_channel_free(ch);
    fx_replay_free(&fr);
    if (daemon_.pid > 0)
        bc_daemon_stop(PROG, &daemon_, 60);
    if (opt.dir == NULL)
        mbt_daemon_cleanup(&daemon_);
    grpc_shutdown_blocking();
    return ret;
}
