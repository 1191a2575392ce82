/*
 * bench_payments.c - payment tokenisation throughput and reveal latency
 * (issue #3): AttachPaymentMethod over gRPC with many concurrent calls, every
 * one a new tokenisation committed durably (WAL fsynced before the answer, group
 * commit), then RevealPaymentMethod over the tokens obtained.
 *
 * This file owns: starting a private minbilld (via the integration harness)
 * or using a running one (--target), creating the API keys and the accounts,
 * generating distinct valid Visa PANs, the two timed load phases through the
 * asynchronous C-core client in bench_common.c, checking every response
 * (token shape, account, last four digits; a reveal must return exactly the
 * PAN that was attached), and the report: tokenisations/s, attach and reveal
 * latency, reveals/s, where the CPU went, daemon peak RSS, PASS/FAIL.
 *
 * Exit status: 0 PASS, 1 FAIL (below the rate, any non-OK call or wrong
 * answer, any step that failed), 2 usage error.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <grpc/grpc.h>

#include "bench_common.h"
#include "harness.h"
#include "minbill/v1/accounts.pb-c.h"
#include "rpc_client.h"

#ifndef MINBILLD_DEFAULT
#define MINBILLD_DEFAULT "minbilld"
#endif

#define PROG "bench_payments"
#define ATTACH "/minbill.v1.Accounts/AttachPaymentMethod"
#define REVEAL "/minbill.v1.Accounts/RevealPaymentMethod"
/* A call slower than this is a hang, not a latency figure. */
#define CALL_DEADLINE_MS 60000
#define SETUP_TIMEOUT_MS 30000
#define TOKEN_LEN 27 /* "pm_" + 24 base62 */
#define ACCOUNT_ID_MAX 48
/* A PAN is '4', 14 body digits and the Luhn check digit. The body is
 * (seq * PAN_STRIDE + salt) mod 10^14: the stride is odd and does not end in
 * 5, so it is coprime with 10^14 and distinct seqs give distinct PANs, while
 * consecutive PANs still look unrelated. */
#define PAN_BODY_MOD 100000000000000ULL
#define PAN_STRIDE 32416190071ULL
#define REVEAL_PURPOSE "collect-payment:bench"

typedef struct opts {
    double seconds, warmup, reveal_seconds;
    long accounts, inflight, reveal_inflight, connections, client_threads, daemon_threads;
    long min_rate;
    const char *target;       /* NULL: start a private daemon */
    const char *api_key;      /* with --target: platform role */
    const char *payments_key; /* with --target: payments role */
    long daemon_pid;          /* with --target: for RSS and CPU figures */
} opts;

/* One tokenisation that succeeded: enough to reveal it and to know which PAN
 * must come back. */
typedef struct token_rec {
    char token[TOKEN_LEN + 1];
    uint64_t seq;
} token_rec;

typedef struct token_list {
    token_rec *v;
    size_t n, cap;
} token_list;

/* CPU figures of one measured window, with the daemon's threads. */
typedef struct cpu_window {
    bc_cpu cpu;
    bc_threads threads0, threads1;
} cpu_window;

typedef struct bench {
    opts opt;
    char target[128];
    char platform_key[256];
    char payments_key[256];
    pid_t daemon_pid;
    mbt_daemon daemon;
    bool own_daemon;
    char run_id[16];
    char (*account_ids)[ACCOUNT_ID_MAX];
    double accounts_s;
    uint64_t pan_salt;
    int exp_year;
    /* attach phase */
    atomic_uint_fast64_t next_seq;
    token_list *per_thread; /* one list per client thread: no locking */
    /* reveal phase */
    token_list tokens;
    atomic_uint_fast64_t next_reveal;
    /* figures */
    cpu_window *window; /* the phase being measured */
    cpu_window attach_cpu, reveal_cpu;
    bc_load_result attach, reveal;
} bench;

/* --- options -------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: " PROG " [options]\n"
            "Measures AttachPaymentMethod (new tokenisations, durable commits) with many\n"
            "concurrent calls, then RevealPaymentMethod latency over the tokens obtained.\n"
            "\n"
            "  --seconds S          measured window of each phase (default 20)\n"
            "  --warmup S           load before each window, not counted (default 3)\n"
            "  --reveal-seconds S   measured window of the reveal phase (default: --seconds)\n"
            "  --accounts N         accounts the attaches are spread over (default 1000)\n"
            "  --inflight N         attach calls in flight in total (default 128)\n"
            "  --reveal-inflight N  reveal calls in flight in total (default 32)\n"
            "  --connections N      HTTP/2 connections per phase (default 4)\n"
            "  --client-threads N   client threads, one completion queue each (default 2)\n"
            "  --threads N          daemon completion-queue threads (default: cores)\n"
            "  --min-rate N         tokenisations/s needed to PASS (default 20000)\n"
            "  --target HOST:PORT   use a running daemon instead of starting one; then\n"
            "    --api-key KEY        a platform key (accounts, attaches)\n"
            "    --payments-key KEY   a payments key (reveals)\n"
            "    --daemon-pid PID     for the peak RSS and CPU figures\n"
            "\n"
            "The daemon is $MINBILLD, else %s.\n",
            MINBILLD_DEFAULT);
}

/* 0, 1 for --help, -1 on a usage error (message printed). */
static int parse_args(int argc, char **argv, opts *o)
{
    *o = (opts){.seconds = 20, .warmup = 3, .reveal_seconds = -1, .accounts = 1000,
                .inflight = 128, .reveal_inflight = 32, .connections = 4, .client_threads = 2,
                .daemon_threads = bc_cores(), .min_rate = 20000};
    const bc_option options[] = {
        {"seconds", BC_ARG_SECONDS, &o->seconds, 1, 3600},
        {"warmup", BC_ARG_SECONDS, &o->warmup, 0, 600}, /* 0: no warm-up */
        {"reveal-seconds", BC_ARG_SECONDS, &o->reveal_seconds, 1, 3600},
        {"accounts", BC_ARG_COUNT, &o->accounts, 1, 1000000},
        {"inflight", BC_ARG_COUNT, &o->inflight, 1, 100000},
        {"reveal-inflight", BC_ARG_COUNT, &o->reveal_inflight, 1, 100000},
        {"connections", BC_ARG_COUNT, &o->connections, 1, 1000},
        {"client-threads", BC_ARG_COUNT, &o->client_threads, 1, 64},
        {"threads", BC_ARG_COUNT, &o->daemon_threads, 1, 256},
        {"min-rate", BC_ARG_COUNT, &o->min_rate, 0, INT_MAX},
        {"target", BC_ARG_TEXT, &o->target, 0, 0},
        {"api-key", BC_ARG_TEXT, &o->api_key, 0, 0},
        {"payments-key", BC_ARG_TEXT, &o->payments_key, 0, 0},
        {"daemon-pid", BC_ARG_COUNT, &o->daemon_pid, 1, INT_MAX},
    };
    int rc = bc_parse_options(PROG, argc, argv, options, sizeof options / sizeof options[0]);
    if (rc != 0)
        return rc;
    if (o->reveal_seconds < 0)
        o->reveal_seconds = o->seconds;
    if (o->target == NULL && (o->api_key || o->payments_key || o->daemon_pid)) {
        fprintf(stderr, PROG ": --api-key, --payments-key and --daemon-pid need --target\n");
        return -1;
    }
    if (o->target != NULL && (o->api_key == NULL || o->payments_key == NULL)) {
        fprintf(stderr, PROG ": --target needs --api-key (platform role) and --payments-key "
                        "(payments role)\n");
        return -1;
    }
    if (o->client_threads > o->connections || o->connections > o->inflight ||
        o->connections > o->reveal_inflight) {
        fprintf(stderr, PROG ": need --client-threads (%ld) <= --connections (%ld) <= "
                        "--inflight (%ld) and --reveal-inflight (%ld)\n",
                o->client_threads, o->connections, o->inflight, o->reveal_inflight);
        return -1;
    }
    return 0;
}

/* --- card numbers --------------------------------------------------------- */

/* The Luhn check digit for the 15 digits in d. */
static char luhn_digit(const char d[15])
{
    int sum = 0;
    /* From the right of the payload, every first digit is doubled: it will
     * be the second from the right once the check digit is appended. */
    for (int i = 14, dbl = 1; i >= 0; i--, dbl = !dbl) {
        int v = d[i] - '0';
        if (dbl && (v *= 2) > 9)
            v -= 9;
        sum += v;
    }
    return (char)('0' + (10 - sum % 10) % 10);
}

/* The distinct, Luhn-valid Visa PAN number seq of this run. */
static void make_pan(const bench *b, uint64_t seq, char pan[17])
{
    /* 128-bit product: seq * stride exceeds 64 bits after a few hundred
     * million attaches. */
    uint64_t body = (uint64_t)(((unsigned __int128)seq * PAN_STRIDE + b->pan_salt) % PAN_BODY_MOD);
    pan[0] = '4';
    for (int i = 14; i >= 1; i--, body /= 10)
        pan[i] = (char)('0' + body % 10);
    pan[15] = luhn_digit(pan);
    pan[16] = '\0';
}

/* Checks make_pan against the domain's public test card and its own Luhn
 * sum, so a broken generator fails here and not as 400,000 INVALID_ARGUMENTs. */
static int self_test_pan(const bench *b)
{
    static const char visa[] = "4111111111111111";
    if (luhn_digit(visa) != visa[15]) {
        fprintf(stderr, PROG ": internal error: Luhn digit of the test card is wrong\n");
        return -1;
    }
    char p0[17], p1[17];
    make_pan(b, 0, p0);
    make_pan(b, 1, p1);
    if (strlen(p0) != 16 || p0[0] != '4' || strcmp(p0, p1) == 0) {
        fprintf(stderr, PROG ": internal error: PAN generator\n");
        return -1;
    }
    return 0;
}

/* --- token lists ---------------------------------------------------------- */

static int token_add(token_list *l, const char *token, uint64_t seq)
{
    token_rec *nv = bc_grow(l->v, &l->cap, l->n + 1, sizeof *nv, 16384);
    if (nv == NULL)
        return -1;
    l->v = nv;
    token_rec *t = &l->v[l->n++];
    memcpy(t->token, token, TOKEN_LEN + 1);
    t->seq = seq;
    return 0;
}

static bool token_ok(const char *t)
{
    if (t == NULL || strlen(t) != TOKEN_LEN || strncmp(t, "pm_", 3) != 0)
        return false;
    for (int i = 3; i < TOKEN_LEN; i++)
        if (!((t[i] >= '0' && t[i] <= '9') || (t[i] >= 'a' && t[i] <= 'z') ||
              (t[i] >= 'A' && t[i] <= 'Z')))
            return false;
    return true;
}

/* --- request and response callbacks -------------------------------------- */

/* Packs msg into a byte buffer for the load engine. */
typedef struct attach_ctx {
    uint64_t seq;
} attach_ctx;

static int make_attach(void *user, size_t thread, void *call_ctx, grpc_byte_buffer **req,
                       char *why, size_t why_size)
{
    bench *b = user;
    attach_ctx *c = call_ctx;
    c->seq = atomic_fetch_add(&b->next_seq, 1);
    char pan[17];
    make_pan(b, c->seq, pan);
    Minbill__V1__CardDetails card = MINBILL__V1__CARD_DETAILS__INIT;
    card.pan = pan;
    card.exp_month = 12;
    card.exp_year = b->exp_year;
    card.holder_name = "Bench Holder";
    Minbill__V1__AttachPaymentMethodRequest r = MINBILL__V1__ATTACH_PAYMENT_METHOD_REQUEST__INIT;
    /* Round-robin over the accounts: every account gets its share. */
    r.account_id = b->account_ids[c->seq % (uint64_t)b->opt.accounts];
    r.method_case = MINBILL__V1__ATTACH_PAYMENT_METHOD_REQUEST__METHOD_CARD;
    r.card = &card;
    return bc_pack_request(&r.base, req, why, why_size);
}

/* A new token for our account with our last four digits; kept for reveals. */
static int check_attach(void *user, size_t thread, void *call_ctx, const uint8_t *resp,
                        size_t len, char *why, size_t why_size)
{
    bench *b = user;
    const attach_ctx *c = call_ctx;
    Minbill__V1__PaymentMethod *m = (Minbill__V1__PaymentMethod *)bc_unpack_response(
        &minbill__v1__payment_method__descriptor, resp, len, why, why_size);
    if (m == NULL)
        return -1;
    char pan[17];
    make_pan(b, c->seq, pan);
    int ret = -1;
    if (!token_ok(m->token))
        snprintf(why, why_size, "the token is not pm_ and 24 letters or digits");
    else if (strcmp(m->account_id, b->account_ids[c->seq % (uint64_t)b->opt.accounts]) != 0)
        snprintf(why, why_size, "the payment method came back on another account");
    else if (strcmp(m->last4, pan + 12) != 0 || strcmp(m->brand, "visa") != 0)
        snprintf(why, why_size, "brand or last four digits do not match the card sent");
    else if (token_add(&b->per_thread[thread], m->token, c->seq) != 0)
        snprintf(why, why_size, "out of memory for tokens");
    else
        ret = 0;
    protobuf_c_message_free_unpacked(&m->base, NULL);
    return ret;
}

typedef struct reveal_ctx {
    size_t index; /* into b->tokens */
} reveal_ctx;

static int make_reveal(void *user, size_t thread, void *call_ctx, grpc_byte_buffer **req,
                       char *why, size_t why_size)
{
    bench *b = user;
    reveal_ctx *c = call_ctx;
    /* Cycle through every token so reveals hit the whole vault, not a few
     * cached pages. */
    c->index = (size_t)(atomic_fetch_add(&b->next_reveal, 1) % b->tokens.n);
    Minbill__V1__RevealPaymentMethodRequest r = MINBILL__V1__REVEAL_PAYMENT_METHOD_REQUEST__INIT;
    r.token = b->tokens.v[c->index].token;
    r.purpose = REVEAL_PURPOSE;
    return bc_pack_request(&r.base, req, why, why_size);
}

/* The clear PAN that was attached under this token, and an audit event. */
static int check_reveal(void *user, size_t thread, void *call_ctx, const uint8_t *resp,
                        size_t len, char *why, size_t why_size)
{
    bench *b = user;
    const reveal_ctx *c = call_ctx;
    const token_rec *t = &b->tokens.v[c->index];
    Minbill__V1__RevealPaymentMethodResponse *r =
        (Minbill__V1__RevealPaymentMethodResponse *)bc_unpack_response(
            &minbill__v1__reveal_payment_method_response__descriptor, resp, len, why, why_size);
    if (r == NULL)
        return -1;
    char pan[17];
    make_pan(b, t->seq, pan);
    int ret = -1;
    if (strcmp(r->token, t->token) != 0)
        snprintf(why, why_size, "the response names another token");
    else if (r->details_case != MINBILL__V1__REVEAL_PAYMENT_METHOD_RESPONSE__DETAILS_CARD ||
             strcmp(r->card->pan, pan) != 0)
        snprintf(why, why_size, "the revealed card number is not the one attached");
    else if (strncmp(r->audit_event_id, "ae_", 3) != 0)
        snprintf(why, why_size, "no audit event id in the response");
    else
        ret = 0;
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return ret;
}

/* Snapshots at the window edges (the engine calls this on its controller). */
static int on_window(void *user, bool start)
{
    bench *b = user;
    cpu_window *w = b->window;
    if (start)
        bc_cpu_begin(&w->cpu, b->daemon_pid);
    else
        bc_cpu_end(&w->cpu);
    /* A snapshot that fails only leaves the thread lines out of the report. */
    if (b->daemon_pid > 0)
        bc_threads_snapshot(PROG, b->daemon_pid, start ? &w->threads0 : &w->threads1);
    return 0;
}

/* --- setup ---------------------------------------------------------------- */

static int start_daemon(bench *b)
{
    b->own_daemon = true;
    /* One key per role: its per-key rate limit (10,000 calls/s) would cap
     * the reveals, which now go faster than that. */
    char threads[24];
    snprintf(threads, sizeof threads, "%ld", b->opt.daemon_threads);
    const char *extra[] = {"--rate-limit", "payments=0", "--threads", threads, NULL};
    if (b->opt.daemon_threads <= 0)
        extra[2] = NULL;
    if (bc_daemon_start(PROG, &b->daemon, MINBILLD_DEFAULT, extra) != 0)
        return -1;
    if (mbt_daemon_api_key(&b->daemon, "platform", b->platform_key, sizeof b->platform_key) !=
            0 ||
        mbt_daemon_api_key(&b->daemon, "payments", b->payments_key, sizeof b->payments_key) !=
            0) {
        fprintf(stderr, PROG ": minbilld keys create-api-key (platform, payments) failed\n");
        return -1;
    }
    snprintf(b->target, sizeof b->target, "%s", b->daemon.target);
    b->daemon_pid = b->daemon.pid;
    return 0;
}

/* Creates the accounts with UpsertAccount (idempotent). The ids carry this
 * run's id, so on a shared daemon no earlier run's card can be on them and
 * every attach below is a new tokenisation, never the same-number path. */
static int create_accounts(bench *b)
{
    size_t n = (size_t)b->opt.accounts;
    b->account_ids = calloc(n, sizeof *b->account_ids);
    if (b->account_ids == NULL) {
        fprintf(stderr, PROG ": out of memory for %zu account ids\n", n);
        return -1;
    }
    mbc_channel_t *ch = mbc_channel_new(b->target);
    if (ch == NULL) {
        fprintf(stderr, PROG ": cannot create a channel to %s\n", b->target);
        return -1;
    }
    int ret = -1;
    if (mbc_channel_wait_ready(ch, SETUP_TIMEOUT_MS) != 0) {
        fprintf(stderr, PROG ": cannot connect to %s\n", b->target);
        goto out;
    }
    int64_t t0 = bc_now_ns();
    for (size_t i = 0; i < n; i++) {
        snprintf(b->account_ids[i], ACCOUNT_ID_MAX, "bench-%s-%06zu", b->run_id, i);
        if (bc_upsert_account(PROG, ch, b->platform_key, b->account_ids[i], NULL,
                              SETUP_TIMEOUT_MS) != 0)
            goto out;
    }
    b->accounts_s = (double)(bc_now_ns() - t0) / 1e9;
    ret = 0;
out:
    mbc_channel_free(ch);
    return ret;
}

static int setup(bench *b)
{
    /* Distinct per run: account ids and PANs of two runs never meet. */
    uint64_t seed = (uint64_t)bc_now_ns() ^ ((uint64_t)getpid() << 32);
    snprintf(b->run_id, sizeof b->run_id, "%08x", (unsigned)(seed ^ (seed >> 32)));
    b->pan_salt = (seed * 2862933555777941757ULL) % PAN_BODY_MOD;
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    b->exp_year = tm.tm_year + 1900 + 3;
    if (self_test_pan(b) != 0)
        return -1;
    if (b->opt.target != NULL) {
        snprintf(b->target, sizeof b->target, "%s", b->opt.target);
        snprintf(b->platform_key, sizeof b->platform_key, "%s", b->opt.api_key);
        snprintf(b->payments_key, sizeof b->payments_key, "%s", b->opt.payments_key);
        b->daemon_pid = (pid_t)b->opt.daemon_pid;
    } else if (start_daemon(b) != 0) {
        return -1;
    }
    printf("creating %ld accounts...\n", b->opt.accounts);
    fflush(stdout);
    return create_accounts(b);
}

/* --- phases --------------------------------------------------------------- */

/* The load both phases put on the daemon; they differ in the method, the
 * key, the calls in flight and the callbacks. */
static bc_load_spec phase_spec(bench *b, const char *method, const char *key, long inflight,
                               double seconds)
{
    return (bc_load_spec){.prog = PROG,
                          .target = b->target,
                          .method = method,
                          .api_key = key,
                          .threads = (size_t)b->opt.client_threads,
                          .connections = (size_t)b->opt.connections,
                          .inflight = (size_t)inflight,
                          .deadline_ms = CALL_DEADLINE_MS,
                          .warmup_s = b->opt.warmup,
                          .measure_s = seconds,
                          .user = b,
                          .on_window = on_window};
}

static int run_attach(bench *b)
{
    b->per_thread = calloc((size_t)b->opt.client_threads, sizeof *b->per_thread);
    if (b->per_thread == NULL) {
        fprintf(stderr, PROG ": out of memory for token lists\n");
        return -1;
    }
    printf("attach: %.0f s warm-up, %.0f s measured, %ld calls in flight...\n", b->opt.warmup,
           b->opt.seconds, b->opt.inflight);
    fflush(stdout);
    b->window = &b->attach_cpu;
    bc_load_spec sp = phase_spec(b, ATTACH, b->platform_key, b->opt.inflight, b->opt.seconds);
    sp.call_ctx_size = sizeof(attach_ctx);
    sp.make = make_attach;
    sp.check = check_attach;
    if (bc_load_run(&sp, &b->attach) != 0)
        return -1;
    /* One list for the reveal phase, in the order the threads hold them. */
    for (long t = 0; t < b->opt.client_threads; t++) {
        token_list *l = &b->per_thread[t];
        for (size_t i = 0; i < l->n; i++)
            if (token_add(&b->tokens, l->v[i].token, l->v[i].seq) != 0) {
                fprintf(stderr, PROG ": out of memory for tokens\n");
                return -1;
            }
        free(l->v);
        *l = (token_list){0};
    }
    return 0;
}

static int run_reveal(bench *b)
{
    if (b->tokens.n == 0) {
        fprintf(stderr, PROG ": no tokens to reveal\n");
        return -1;
    }
    printf("reveal: %.0f s warm-up, %.0f s measured, %ld calls in flight over %zu tokens...\n",
           b->opt.warmup, b->opt.reveal_seconds, b->opt.reveal_inflight, b->tokens.n);
    fflush(stdout);
    b->window = &b->reveal_cpu;
    bc_load_spec sp = phase_spec(b, REVEAL, b->payments_key, b->opt.reveal_inflight,
                                 b->opt.reveal_seconds);
    sp.call_ctx_size = sizeof(reveal_ctx);
    sp.make = make_reveal;
    sp.check = check_reveal;
    return bc_load_run(&sp, &b->reveal);
}

/* --- the report ----------------------------------------------------------- */

static double rate(const bc_load_result *r)
{
    return r->seconds > 0 ? (double)r->ok / r->seconds : 0;
}

/* Daemon CPU per counted call in microseconds, -1 if unknown: the figure a
 * busy shared machine moves least (calls/s moves with everyone's load). */
static double daemon_us_per_call(const bc_load_result *r, const cpu_window *w)
{
    return w->cpu.daemon >= 0 && r->ok > 0 ? w->cpu.daemon * 1e6 / (double)r->ok : -1;
}

static double other_cores(const bc_load_result *r, const cpu_window *w)
{
    return w->cpu.other >= 0 && r->seconds > 0 ? w->cpu.other / r->seconds : -1;
}

static void print_phase(const char *name, const bc_load_result *r, const cpu_window *w,
                        const char *per_s)
{
    const bc_cpu *c = &w->cpu;
    printf("  %-17s %ld OK in the %.3f s window (%ld OK in all, %ld not OK)\n", name, r->ok,
           r->seconds, r->ok_total, r->failed);
    printf("  %-17s %.0f\n", per_s, rate(r));
    printf("  %-17s p50 %u   p99 %u   max %u   (client-observed, %zu calls)\n", "latency (us)",
           bc_lat_pct(&r->lat, 0.50), bc_lat_pct(&r->lat, 0.99), bc_lat_max(&r->lat), r->lat.n);
    if (r->seconds <= 0)
        return;
    printf("  %-17s", "CPU (cores)");
    if (daemon_us_per_call(r, w) >= 0)
        printf(" daemon %.2f (%.1f us per call),", c->daemon / r->seconds,
               daemon_us_per_call(r, w));
    printf(" client %.2f", c->self / r->seconds);
    if (other_cores(r, w) >= 0)
        printf(", other %.2f", other_cores(r, w));
    printf("   (machine: %ld cores)\n", bc_cores());
    if (w->threads1.n > 0) {
        printf("  busiest daemon threads:\n");
        bc_threads_print(stdout, "    ", &w->threads0, &w->threads1, r->seconds, 6);
    }
}

/* Prints every reason to fail and returns how many there are. */
static int failures(const bench *b, bool daemon_ok)
{
    const char *in = "  ";
    int n = 0;
    n += bc_fail_if(stdout, in, rate(&b->attach) < (double)b->opt.min_rate,
                    "%.0f tokenisations/s is below the target of %ld", rate(&b->attach),
                    b->opt.min_rate);
    n += bc_fail_if(stdout, in, b->attach.failed > 0, "%ld attach calls failed; first: %s",
                    b->attach.failed, b->attach.first_error);
    n += bc_fail_if(stdout, in, b->reveal.failed > 0, "%ld reveal calls failed; first: %s",
                    b->reveal.failed, b->reveal.first_error);
    n += bc_fail_if(stdout, in, b->reveal.ok == 0, "no reveal completed in the measured window");
    n += bc_fail_if(stdout, in, !daemon_ok, "the daemon did not stop cleanly");
    return n;
}

static bool report(const bench *b, long rss_kib, bool daemon_ok)
{
    const opts *o = &b->opt;
    printf("\nminbill " PROG ": payment tokenisation, durable (WAL fsynced before each answer)\n");
    bc_print_daemon(b->own_daemon, b->daemon_pid, o->daemon_threads, b->target);
    printf("  client            C-core async: %ld thread(s), %ld connections; warm-up %.0f s "
           "per phase\n", o->client_threads, o->connections, o->warmup);
    printf("  accounts          %ld created with UpsertAccount in %.2f s\n", o->accounts,
           b->accounts_s);
    printf("AttachPaymentMethod (platform key, %ld in flight, each a new Visa PAN)\n",
           o->inflight);
    print_phase("attaches", &b->attach, &b->attach_cpu, "tokenisations/s");
    printf("RevealPaymentMethod (payments key, purpose \"" REVEAL_PURPOSE "\", %ld in flight, "
           "%zu tokens)\n", o->reveal_inflight, b->tokens.n);
    print_phase("reveals", &b->reveal, &b->reveal_cpu, "reveals/s");
    bc_print_peak_rss(rss_kib);
    double load[3] = {-1, -1, -1};
    if (getloadavg(load, 3) == 3)
        printf("  machine load      %.2f %.2f %.2f (1, 5, 15 min; %ld cores)\n", load[0], load[1],
               load[2], bc_cores());
    int fails = failures(b, daemon_ok);
    printf("  result            %s (target: >= %ld tokenisations/s, every call OK)\n",
           fails == 0 ? "PASS" : "FAIL", o->min_rate);
    /* One line for scripts that collect runs. */
    printf("RESULT tokenisations_per_s=%.0f attach_p50_us=%u attach_p99_us=%u "
           "reveals_per_s=%.0f reveal_p50_us=%u reveal_p99_us=%u reveal_max_us=%u "
           "attach_daemon_cpu_us=%.1f reveal_daemon_cpu_us=%.1f attach_other_cores=%.2f "
           "load1=%.2f not_ok=%ld peak_rss_kb=%ld verdict=%s\n",
           rate(&b->attach), bc_lat_pct(&b->attach.lat, 0.50), bc_lat_pct(&b->attach.lat, 0.99),
           rate(&b->reveal), bc_lat_pct(&b->reveal.lat, 0.50), bc_lat_pct(&b->reveal.lat, 0.99),
           bc_lat_max(&b->reveal.lat), daemon_us_per_call(&b->attach, &b->attach_cpu),
           daemon_us_per_call(&b->reveal, &b->reveal_cpu), other_cores(&b->attach, &b->attach_cpu),
           load[0], b->attach.failed + b->reveal.failed, rss_kib, fails == 0 ? "PASS" : "FAIL");
    return fails == 0;
}

/* --- main ----------------------------------------------------------------- */

static void cleanup(bench *b)
{
    if (b->per_thread != NULL)
        for (long t = 0; t < b->opt.client_threads; t++)
            free(b->per_thread[t].v);
    free(b->per_thread);
    free(b->tokens.v);
    free(b->account_ids);
    bc_load_result_free(&b->attach);
    bc_load_result_free(&b->reveal);
    bc_threads_free(&b->attach_cpu.threads0);
    bc_threads_free(&b->attach_cpu.threads1);
    bc_threads_free(&b->reveal_cpu.threads0);
    bc_threads_free(&b->reveal_cpu.threads1);
    if (b->own_daemon)
        mbt_daemon_cleanup(&b->daemon);
}

int main(int argc, char **argv)
{
    static bench b; /* large and zeroed */
    int rc = parse_args(argc, argv, &b.opt);
    if (rc != 0)
        return bc_options_exit(PROG, rc, usage);
    signal(SIGPIPE, SIG_IGN);
    /* One gRPC instance for the whole run, not one per phase. */
    grpc_init();
    int ret = 1;
    if (setup(&b) != 0 || run_attach(&b) != 0)
        goto out;
    if (b.attach.failed > 0) {
        /* Wrong answers make the figures meaningless: say so and stop. */
        fprintf(stderr, PROG ": FAIL: %ld attach calls failed; first: %s\n", b.attach.failed,
                b.attach.first_error);
        goto out;
    }
    if (run_reveal(&b) != 0)
        goto out;
    if (b.reveal.failed > 0) {
        fprintf(stderr, PROG ": FAIL: %ld reveal calls failed; first: %s\n", b.reveal.failed,
                b.reveal.first_error);
        goto out;
    }
    long rss = b.daemon_pid > 0 ? bc_peak_rss_kib(b.daemon_pid) : -1;
    bool daemon_ok = !b.own_daemon || bc_daemon_stop(PROG, &b.daemon, 30) == 0;
    ret = report(&b, rss, daemon_ok) ? 0 : 1;
out:
    cleanup(&b);
    grpc_shutdown_blocking();
    return ret;
}
