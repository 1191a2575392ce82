/*
 * bench_metering.c - usage ingest throughput and latency (issue #4).
 *
 * Phases, against a private minbilld (WAL fsynced before each answer, group
 * commit):
 *   (a) StreamUsage: --streams concurrent client streams, --batch events per
 *       message, for --seconds; every event a new idempotency key. Reports
 *       events/s acknowledged (the streams' totals, which the daemon sends
 *       only after everything is committed) and the client-side send rate
 *       every 10 s, then checks that the counters hold exactly the events
 *       acknowledged.
 *   (b) RecordUsage with one event per call, --inflight calls in flight
 *       (asynchronous C-core client, bench_common.c): events/s and latency.
 *   (c) the daemon's peak resident memory (VmHWM) over the whole run.
 * Then PASS/FAIL against the targets: (a) >= 250,000 events/s,
 * (b) >= 20,000 events/s with p99 < 10 ms, (c) < 100 MiB.
 *
 * Requests are encoded by hand (a fixed-width key patched per event), so
 * the load generator, which shares the machine, spends its CPU on gRPC and
 * not on protobuf-c.
 *
 * Exit status: 0 PASS, 1 FAIL, 2 usage error.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "bench_common.h"
#include "harness.h"
#include "minbill/v1/accounts.pb-c.h"
#include "minbill/v1/invoicing.pb-c.h"
#include "minbill/v1/metering.pb-c.h"
#include "rpc_client.h"

#ifndef MINBILLD_DEFAULT
#define MINBILLD_DEFAULT "minbilld"
#endif

#define PROG "bench_metering"
#define STREAM_METHOD "/minbill.v1.Metering/StreamUsage"
#define EXIT_USAGE 2
#define SETUP_TIMEOUT_MS 30000
#define KEY_LEN 24 /* fixed width, see make_key() */
#define MAX_STREAMS 64
#define MAX_BATCH 1000
#define EVENT_MAX 128 /* encoded bytes of one event, with room to spare */

#define TARGET_STREAM_EPS 250000.0
#define TARGET_UNARY_EPS 20000.0
#define TARGET_P99_US 10000
#define TARGET_RSS_KIB (100 * 1024)
/* Other processes busier than this (in cores) make a run unrepresentative. */
#define NOISY_CORES 0.25

typedef struct opts {
    double seconds;       /* (a) */
    double unary_seconds; /* (b) measured window */
    double warmup;        /* (b) */
    long streams, batch, inflight, accounts, batch_accounts, daemon_threads;
} opts;

static opts opt = {.seconds = 60,
                   .unary_seconds = 20,
                   .warmup = 2,
                   .streams = 8,
                   .batch = 100,
                   .inflight = 64,
                   .accounts = 16,
                   .batch_accounts = 4,
                   .daemon_threads = 0};
static mbt_daemon daemon_;
static char platform_key[128], finance_key[128], admin_key[128], run_id[9];
static int64_t occurred;

/* --- hand encoding ---------------------------------------------------------- */

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static size_t put_string(uint8_t *p, unsigned field, const char *s, size_t len)
{
    size_t n = put_varint(p, field << 3 | 2);
    n += put_varint(p + n, len);
    memcpy(p + n, s, len);
    return n + len;
}

static const char *account_of(long i)
{
    static char ids[MAX_STREAMS * 4][48];
    long k = i % opt.accounts;
    if (ids[k][0] == '\0')
        snprintf(ids[k], sizeof ids[k], "bench-%s-%03ld", run_id, k);
    return ids[k];
}

/* One UsageEvent (quantity 1) as a RecordUsageRequest.events entry. */
static size_t encode_event(uint8_t *out, const char *key, const char *account, const char *metric)
{
    uint8_t ev[EVENT_MAX], ts[16];
    size_t n = put_string(ev, 1, key, KEY_LEN);
    n += put_string(ev + n, 2, account, strlen(account));
    n += put_string(ev + n, 3, metric, strlen(metric));
    n += put_varint(ev + n, 4 << 3 | 0);
    n += put_varint(ev + n, 1);
    size_t tn = put_varint(ts, 1 << 3 | 0);
    tn += put_varint(ts + tn, (uint64_t)occurred);
    n += put_varint(ev + n, 5 << 3 | 2);
    n += put_varint(ev + n, tn);
    memcpy(ev + n, ts, tn);
    n += tn;
    size_t m = put_varint(out, 1 << 3 | 2);
    m += put_varint(out + m, n);
    memcpy(out + m, ev, n);
    return m + n;
}

/* "r" run(8) "-" stream(2) "-" seq(11): distinct per (run, stream, seq). */
static void make_key(char key[KEY_LEN + 1], long stream, uint64_t seq)
{
    key[0] = 'r';
    memcpy(key + 1, run_id, 8);
    key[9] = '-';
    key[10] = (char)('0' + stream / 10 % 10);
    key[11] = (char)('0' + stream % 10);
    key[12] = '-';
    for (int i = KEY_LEN - 1; i >= 13; i--, seq /= 10)
        key[i] = (char)('0' + seq % 10);
    key[KEY_LEN] = '\0';
}

/* One message: n events spread over --batch-accounts accounts (which move
 * on with every message) and both metrics. */
static grpc_byte_buffer *batch_buffer(long stream, uint64_t *seq, long n)
{
    static _Thread_local uint8_t buf[MAX_BATCH * EVENT_MAX];
    size_t len = 0;
    long first = stream * 7 + (long)(*seq / (uint64_t)n) * 3;
    for (long e = 0; e < n; e++) {
        char key[KEY_LEN + 1];
        make_key(key, stream, (*seq)++);
        len += encode_event(buf + len, key, account_of(first + e % opt.batch_accounts),
                            e % 2 ? "seats" : "messages");
    }
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)buf, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

static int decode_counts(grpc_byte_buffer *bb, int64_t *accepted, int64_t *duplicates)
{
    grpc_byte_buffer_reader r;
    if (bb == NULL || !grpc_byte_buffer_reader_init(&r, bb))
        return -1;
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    Minbill__V1__RecordUsageResponse *m = minbill__v1__record_usage_response__unpack(
        NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    grpc_slice_unref(s);
    if (m == NULL)
        return -1;
    *accepted = m->accepted;
    *duplicates = m->duplicates;
    minbill__v1__record_usage_response__free_unpacked(m, NULL);
    return 0;
}

/* --- (a) streams ------------------------------------------------------------ */

typedef struct stream stream;
typedef struct tag {
    stream *s;
    bool final;
} tag;

struct stream {
    long idx;
    grpc_call *call;
    tag t_send, t_final;
    uint64_t seq;
    grpc_byte_buffer *sending, *resp;
    grpc_metadata_array init_md, trail_md;
    grpc_status_code status;
    grpc_slice details;
    bool done;
};

typedef struct stream_result {
    int64_t accepted, duplicates, sent;
    double seconds;
    long failed;
    char first_error[256];
} stream_result;

static void stream_send(stream *s, bool first, grpc_metadata *auth)
{
    grpc_op ops[2];
    size_t n = 0;
    memset(ops, 0, sizeof ops);
    if (first) {
        ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[n].data.send_initial_metadata.count = 1;
        ops[n++].data.send_initial_metadata.metadata = auth;
    }
    s->sending = batch_buffer(s->idx, &s->seq, opt.batch);
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = s->sending;
    grpc_call_start_batch(s->call, ops, n, &s->t_send, NULL);
}

static void stream_close(stream *s)
{
    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[1].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[1].data.recv_initial_metadata.recv_initial_metadata = &s->init_md;
    ops[2].op = GRPC_OP_RECV_MESSAGE;
    ops[2].data.recv_message.recv_message = &s->resp;
    ops[3].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[3].data.recv_status_on_client.status = &s->status;
    ops[3].data.recv_status_on_client.status_details = &s->details;
    ops[3].data.recv_status_on_client.trailing_metadata = &s->trail_md;
    grpc_call_start_batch(s->call, ops, 4, &s->t_final, NULL);
}

static int run_streams(stream_result *res)
{
    memset(res, 0, sizeof *res);
    grpc_init();
    grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
    /* Two connections, so one HTTP/2 connection's flow control is not the
     * bottleneck being measured. */
    grpc_arg arg = {
        .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, .value.integer = 1};
    grpc_channel_args args = {1, &arg};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    grpc_channel *ch[2] = {grpc_channel_create(daemon_.target, creds, &args),
                           grpc_channel_create(daemon_.target, creds, &args)};
    grpc_channel_credentials_release(creds);
    char bearer[160];
    snprintf(bearer, sizeof bearer, "Bearer %s", platform_key);
    grpc_metadata auth = {.key = grpc_slice_from_static_string("authorization"),
                          .value = grpc_slice_from_copied_string(bearer)};
    stream *st = calloc((size_t)opt.streams, sizeof *st);
    grpc_slice method = grpc_slice_from_static_string(STREAM_METHOD);
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                     gpr_time_from_seconds((int64_t)opt.seconds + 120, GPR_TIMESPAN));
    int64_t t0 = bc_now_ns(), end = t0 + (int64_t)(opt.seconds * 1e9),
            next_report = t0 + 10000000000LL;
    int64_t sent_at_report = 0;
    for (long i = 0; i < opt.streams; i++) {
        stream *s = &st[i];
        s->idx = i;
        s->t_send = (tag){s, false};
        s->t_final = (tag){s, true};
        grpc_metadata_array_init(&s->init_md);
        grpc_metadata_array_init(&s->trail_md);
        s->call = grpc_channel_create_call(ch[i % 2], NULL, GRPC_PROPAGATE_DEFAULTS, cq, method,
                                           NULL, deadline, NULL);
        stream_send(s, true, &auth);
    }
    long open = opt.streams;
    int64_t last_done = t0;
    while (open > 0) {
        grpc_event ev = grpc_completion_queue_next(
            cq, gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(200, GPR_TIMESPAN)),
            NULL);
        int64_t now = bc_now_ns();
        if (now >= next_report) {
            printf("  %3.0f s: %.0f events/s sent in the last 10 s\n", (now - t0) / 1e9,
                   (res->sent - sent_at_report) / ((now - next_report + 10000000000LL) / 1e9));
            fflush(stdout);
            sent_at_report = res->sent;
            next_report = now + 10000000000LL;
        }
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        tag *t = ev.tag;
        stream *s = t->s;
        if (!t->final) {
            grpc_byte_buffer_destroy(s->sending);
            s->sending = NULL;
            if (ev.success)
                res->sent += opt.batch;
            if (ev.success && now < end)
                stream_send(s, false, &auth);
            else
                stream_close(s);
            continue;
        }
        open--;
        last_done = now;
        int64_t acc = 0, dup = 0;
        if (s->status != GRPC_STATUS_OK || decode_counts(s->resp, &acc, &dup) != 0) {
            if (res->failed++ == 0)
                snprintf(res->first_error, sizeof res->first_error, "stream %ld: %s: %.*s", s->idx,
                         mb_status_name(s->status), (int)GRPC_SLICE_LENGTH(s->details),
                         (const char *)GRPC_SLICE_START_PTR(s->details));
        }
        res->accepted += acc;
        res->duplicates += dup;
    }
    res->seconds = (last_done - t0) / 1e9;
    for (long i = 0; i < opt.streams; i++) {
        stream *s = &st[i];
        if (s->resp != NULL)
            grpc_byte_buffer_destroy(s->resp);
        grpc_metadata_array_destroy(&s->init_md);
        grpc_metadata_array_destroy(&s->trail_md);
        grpc_slice_unref(s->details);
        grpc_call_unref(s->call);
    }
    free(st);
    grpc_slice_unref(auth.value);
    grpc_channel_destroy(ch[0]);
    grpc_channel_destroy(ch[1]);
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
    grpc_shutdown();
    return 0;
}

/* --- (b) single-event calls --------------------------------------------------- */

static int make_one(void *user, size_t thread, void *ctx, grpc_byte_buffer **req, char *why,
                    size_t why_size)
{
    static _Thread_local uint64_t seq;
    char key[KEY_LEN + 1];
    uint8_t buf[EVENT_MAX];
    make_key(key, 90 + (long)thread, seq);
    size_t len = encode_event(buf, key, account_of((long)seq), "messages");
    seq++;
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)buf, len);
    *req = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return 0;
}

static int check_one(void *user, size_t thread, void *ctx, const uint8_t *resp, size_t len,
                     char *why, size_t why_size)
{
    return bc_check_usage_counts(resp, len, 1, 0, why, why_size);
}

/* --- setup ------------------------------------------------------------------- */

static int setup(mbc_channel_t *ch)
{
    if (bc_upsert_bench_plan(PROG, ch, admin_key, SETUP_TIMEOUT_MS) != 0)
        return -1;
    for (long i = 0; i < opt.accounts; i++)
        if (bc_upsert_account(PROG, ch, platform_key, account_of(i), "bench", SETUP_TIMEOUT_MS) != 0)
            return -1;
    return 0;
}

/* Sum of every counter of the run's accounts in the current period. */
static int64_t counted(mbc_channel_t *ch)
{
    char period[8];
    time_t t = (time_t)occurred;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(period, sizeof period, "%Y-%m", &tm);
    int64_t sum = 0;
    for (long i = 0; i < opt.accounts; i++) {
        int64_t n = bc_usage_total(PROG, ch, finance_key, account_of(i), period, SETUP_TIMEOUT_MS);
        if (n < 0)
            return -1;
        sum += n;
    }
    return sum;
}

static int usage(FILE *f)
{
    fprintf(f, "usage: " PROG " [--seconds S] [--unary-seconds S] [--streams N] [--batch N]\n"
               "                      [--inflight N] [--accounts N] [--batch-accounts N]\n"
               "                      [--daemon-threads N]\n"
               "  --seconds S         StreamUsage phase length (default 60)\n"
               "  --unary-seconds S   RecordUsage measured window (default 20, after 2 s warm-up)\n"
               "  --streams N         concurrent streams (default 8)\n"
               "  --batch N           events per stream message (default 100)\n"
               "  --inflight N        RecordUsage calls in flight (default 64)\n"
               "  --accounts N        accounts the events are spread over (default 16)\n"
               "  --batch-accounts N  distinct accounts in one stream message (default 4)\n"
               "  --daemon-threads N  minbilld --threads (default: its own default)\n"
               "The daemon is $MINBILLD, else the one built alongside.\n");
    return f == stderr ? EXIT_USAGE : 0;
}

static int parse(int argc, char **argv)
{
    static const struct option lo[] = {{"seconds", required_argument, NULL, 's'},
                                       {"unary-seconds", required_argument, NULL, 'u'},
                                       {"streams", required_argument, NULL, 'n'},
                                       {"batch", required_argument, NULL, 'b'},
                                       {"inflight", required_argument, NULL, 'i'},
                                       {"accounts", required_argument, NULL, 'a'},
                                       {"batch-accounts", required_argument, NULL, 'A'},
                                       {"daemon-threads", required_argument, NULL, 't'},
                                       {"help", no_argument, NULL, 'h'},
                                       {NULL, 0, NULL, 0}};
    int c;
    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case 's':
            rc = bc_parse_seconds(PROG, "--seconds", optarg, 3600, &opt.seconds);
            break;
        case 'u':
            rc = bc_parse_seconds(PROG, "--unary-seconds", optarg, 3600, &opt.unary_seconds);
            break;
        case 'n':
            rc = bc_parse_long(PROG, "--streams", optarg, 1, MAX_STREAMS, &opt.streams);
            break;
        case 'b':
            rc = bc_parse_long(PROG, "--batch", optarg, 1, MAX_BATCH, &opt.batch);
            break;
        case 'i':
            rc = bc_parse_long(PROG, "--inflight", optarg, 1, 4096, &opt.inflight);
            break;
        case 'a':
            rc = bc_parse_long(PROG, "--accounts", optarg, 1, MAX_STREAMS * 4, &opt.accounts);
            break;
        case 'A':
            rc = bc_parse_long(PROG, "--batch-accounts", optarg, 1, MAX_BATCH, &opt.batch_accounts);
            break;
        case 't':
            rc = bc_parse_long(PROG, "--daemon-threads", optarg, 1, 64, &opt.daemon_threads);
            break;
        case 'h':
            exit(usage(stdout));
        default:
            return -1;
        }
        if (rc != 0)
            return -1;
    }
    return optind == argc ? 0 : -1;
}

int main(int argc, char **argv)
{
    if (parse(argc, argv) != 0)
        return usage(stderr);
    occurred = (int64_t)time(NULL);
    srand((unsigned)(occurred ^ getpid()));
    snprintf(run_id, sizeof run_id, "%08x", (unsigned)rand());
    char threads[24];
    const char *extra[3] = {NULL};
    if (opt.daemon_threads > 0) {
        snprintf(threads, sizeof threads, "%ld", opt.daemon_threads);
        extra[0] = "--threads";
        extra[1] = threads;
    }
    int ret = 1;
    mbc_channel_t *ch = NULL;
    bc_threads before = {0}, after = {0};
    if (bc_daemon_start(PROG, &daemon_, MINBILLD_DEFAULT, extra) != 0)
        goto out;
    if (mbt_daemon_api_key(&daemon_, "platform", platform_key, sizeof platform_key) != 0 ||
        mbt_daemon_api_key(&daemon_, "finance", finance_key, sizeof finance_key) != 0 ||
        mbt_daemon_api_key(&daemon_, "admin", admin_key, sizeof admin_key) != 0) {
        fprintf(stderr, PROG ": cannot create API keys\n");
        goto out;
    }
    ch = mbc_channel_new(daemon_.target);
    if (ch == NULL || mbc_channel_wait_ready(ch, SETUP_TIMEOUT_MS) != 0 || setup(ch) != 0)
        goto out;

    printf("(a) StreamUsage: %ld streams x %ld events per message (%ld accounts x 2 metrics "
           "each), %.0f s, durable\n",
           opt.streams, opt.batch, opt.batch_accounts, opt.seconds);
    fflush(stdout);
    stream_result sr;
    double cpu0 = bc_process_cpu_s(daemon_.pid), self0 = bc_self_cpu_s(),
           busy0 = bc_machine_busy_s();
    bc_threads_snapshot(PROG, daemon_.pid, &before);
    run_streams(&sr);
    bc_threads_snapshot(PROG, daemon_.pid, &after);
    double cpu1 = bc_process_cpu_s(daemon_.pid), self1 = bc_self_cpu_s(),
           busy1 = bc_machine_busy_s();
    double stream_eps = sr.seconds > 0 ? sr.accepted / sr.seconds : 0;
    int64_t in_counters = counted(ch);
    printf("    %" PRId64 " events acknowledged in %.1f s: %.0f events/s (%" PRId64
           " duplicates, %ld failed streams)\n",
           sr.accepted, sr.seconds, stream_eps, sr.duplicates, sr.failed);
    printf("    counters hold %" PRId64 " (must equal the events acknowledged)\n", in_counters);
    /* Other processes on the machine make the figures unrepresentative. */
    double other_a = ((busy1 - busy0) - (cpu1 - cpu0) - (self1 - self0)) / sr.seconds;
    printf("    CPU: daemon %.2f cores, load generator %.2f, everything else %.2f; busiest daemon "
           "threads:\n",
           (cpu1 - cpu0) / sr.seconds, (self1 - self0) / sr.seconds, other_a);
    bc_threads_print(stdout, "      ", &before, &after, sr.seconds, 5);
    if (sr.failed > 0)
        printf("    first failure: %s\n", sr.first_error);

    printf("(b) RecordUsage: 1 event per call, %ld in flight, %.0f s warm-up + %.0f s\n",
           opt.inflight, opt.warmup, opt.unary_seconds);
    fflush(stdout);
    bc_load_spec sp = bc_record_usage_spec(PROG, daemon_.target, platform_key, opt.inflight, 60000);
    sp.warmup_s = opt.warmup;
    sp.measure_s = opt.unary_seconds;
    sp.make = make_one;
    sp.check = check_one;
    bc_load_result ur;
    memset(&ur, 0, sizeof ur);
    cpu0 = bc_process_cpu_s(daemon_.pid);
    self0 = bc_self_cpu_s();
    busy0 = bc_machine_busy_s();
    if (bc_load_run(&sp, &ur) != 0)
        goto out;
    cpu1 = bc_process_cpu_s(daemon_.pid);
    self1 = bc_self_cpu_s();
    busy1 = bc_machine_busy_s();
    double unary_eps = ur.seconds > 0 ? ur.ok / ur.seconds : 0;
    uint32_t p50 = bc_lat_pct(&ur.lat, 0.5), p99 = bc_lat_pct(&ur.lat, 0.99),
             p999 = bc_lat_pct(&ur.lat, 0.999), pmax = bc_lat_max(&ur.lat);
    double span = ur.seconds + opt.warmup;
    printf("    %ld calls in %.1f s: %.0f events/s; latency p50 %.2f ms, p99 %.2f ms, p99.9 "
           "%.2f ms, max %.2f ms; %ld failed\n",
           ur.ok, ur.seconds, unary_eps, p50 / 1000.0, p99 / 1000.0, p999 / 1000.0, pmax / 1000.0,
           ur.failed);
    double other_b = ((busy1 - busy0) - (cpu1 - cpu0) - (self1 - self0)) / span;
    printf("    CPU: daemon %.2f cores, load generator %.2f, everything else %.2f\n",
           (cpu1 - cpu0) / span, (self1 - self0) / span, other_b);
    if (ur.failed > 0)
        printf("    first failure: %s\n", ur.first_error);

    long rss = bc_peak_rss_kib(daemon_.pid);
    printf("(c) daemon peak RSS (VmHWM): %.1f MiB\n", rss / 1024.0);

    bool ok_a = stream_eps >= TARGET_STREAM_EPS && sr.failed == 0 && in_counters == sr.accepted;
    bool ok_b = unary_eps >= TARGET_UNARY_EPS && p99 < TARGET_P99_US && ur.failed == 0;
    bool ok_c = rss > 0 && rss < TARGET_RSS_KIB;
    printf("%s (a) streamed ingest %.0f events/s (target >= %.0f)\n", ok_a ? "PASS" : "FAIL",
           stream_eps, TARGET_STREAM_EPS);
    printf("%s (b) single-event calls %.0f events/s, p99 %.2f ms (target >= %.0f, < %.0f ms)\n",
           ok_b ? "PASS" : "FAIL", unary_eps, p99 / 1000.0, TARGET_UNARY_EPS,
           TARGET_P99_US / 1000.0);
    printf("%s (c) peak RSS %.1f MiB (target < 100 MiB)\n", ok_c ? "PASS" : "FAIL", rss / 1024.0);
    if (other_a > NOISY_CORES || other_b > NOISY_CORES)
        printf("WARNING: other processes used up to %.2f cores of this machine meanwhile: the "
               "figures above are not representative; run again on a quiet machine\n",
               other_a > other_b ? other_a : other_b);
    ret = ok_a && ok_b && ok_c ? 0 : 1;
    bc_load_result_free(&ur);
out:
    bc_threads_free(&before);
    bc_threads_free(&after);
    mbc_channel_free(ch);
    if (daemon_.pid > 0 && bc_daemon_stop(PROG, &daemon_, 60) != 0)
        ret = 1;
    mbt_daemon_cleanup(&daemon_);
    return ret;
}
