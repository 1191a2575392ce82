/*
 * bench_billing.c - a month's billing at production size, through the real
 * daemon (issue 8's figures):
 *
 *   1. N accounts (default 100,000) on a plan of P metered prices (default 5,
 *      one graduated), spread over Germany with VAT ids (reverse charge), the
 *      Netherlands (domestic), France (non-taxable, French VAT) and the US;
 *   2. last month's usage: N x P counters, sent as RecordUsage batches of 100;
 *   3. RunBilling of last month, timed to its last message, while another
 *      client sends single-event RecordUsage calls (this month's usage) and
 *      records their latency: ingest must keep its p99 while the run issues;
 *   4. RenderInvoice (UBL) of random issued invoices, documents/s;
 *   5. the daemon's peak RSS over all of it.
 *
 * Targets: run <= 20 s, p99 of ingest during the run < 10 ms, >= 2,000
 * UBL documents/s, peak RSS < 200 MiB. Every invoice is checked to exist
 * (issued == N) and rendered documents are checked to be UBL Invoices.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_common.h"
#include "minbill/v1/accounts.pb-c.h"
#include "minbill/v1/invoicing.pb-c.h"
#include "minbill/v1/metering.pb-c.h"

#define PROG "bench_billing"
#define KEY_MAX 128
#define BATCH 100
#define CALL_DEADLINE_MS 30000
#define MAX_PRICES 20

typedef struct bench_opts {
    long accounts, prices, inflight, ingest_inflight, threads;
    double ingest_seconds, render_seconds;
} bench_opts;

typedef struct bench {
    bench_opts o;
    mbt_daemon d;
    char platform[KEY_MAX], finance[KEY_MAX], admin[KEY_MAX];
    char period[8], year[5];
    int64_t last_month, this_month; /* usage timestamps */
    _Atomic uint64_t seq;
    /* the billing run, on its own thread */
    pthread_t runner;
    double run_s;
    int64_t issued, steps;
    int run_code;
    char run_msg[MB_ERROR_MSG_MAX];
    _Atomic bool run_done;
} bench;

static void account_id(uint64_t i, char out[24])
{
    snprintf(out, 24, "b-%07llu", (unsigned long long)i);
}

/* --- setup ------------------------------------------------------------------ */

static int start(bench *b)
{
    char conf[MBT_PATH + 32], threads[16];
    if (mbt_daemon_init(&b->d) != 0 || bc_write_seller_config(PROG, &b->d, conf, sizeof conf) != 0)
        return -1;
    snprintf(threads, sizeof threads, "%ld", b->o.threads > 0 ? b->o.threads : bc_cores());
    /* The load generators are one key per role: no per-key rate limit. */
    const char *args[] = {"--seller-config", conf,           "--threads",  threads, "--rate-limit",
                          "finance=0",       "--rate-limit", "platform=0", NULL};
    if (mbt_daemon_start(&b->d, args) != 0 ||
        mbt_daemon_api_key(&b->d, "platform", b->platform, KEY_MAX) != 0 ||
        mbt_daemon_api_key(&b->d, "finance", b->finance, KEY_MAX) != 0 ||
        mbt_daemon_api_key(&b->d, "admin", b->admin, KEY_MAX) != 0) {
        fprintf(stderr, PROG ": starting minbilld or creating keys failed\n");
        return -1;
    }
    return 0;
}

static int upsert_plan(bench *b)
{
    Minbill__V1__Tier t1 = MINBILL__V1__TIER__INIT, t2 = MINBILL__V1__TIER__INIT;
    t1.up_to = 1000;
    t1.unit_price = "0.01";
    t2.unit_price = "0.005";
    Minbill__V1__Tier *tiers[] = {&t1, &t2};
    Minbill__V1__Price prices[MAX_PRICES], *pp[MAX_PRICES];
    char metric[MAX_PRICES][24];
    for (long i = 0; i < b->o.prices; i++) {
        minbill__v1__price__init(&prices[i]);
        snprintf(metric[i], sizeof metric[i], "m%ld", i);
        prices[i].metric = metric[i];
        prices[i].description = "Metered usage";
        prices[i].included_quantity = i == 0 ? 100 : 0;
        if (i > 0) {
            prices[i].unit_price = "0.0025";
        } else {
            prices[i].n_tiers = 2;
            prices[i].tiers = tiers;
        }
        pp[i] = &prices[i];
    }
    Minbill__V1__Plan p = MINBILL__V1__PLAN__INIT;
    p.plan_id = "bench";
    p.currency = "EUR";
    p.base_fee_minor = 4900;
    p.n_prices = (size_t)b->o.prices;
    p.prices = pp;
    mbc_channel_t *ch = mbc_channel_new(b->d.target);
    ProtobufCMessage *resp = NULL;
    mb_error st;
    mbc_unary(ch, "/minbill.v1.Invoicing/UpsertPlan", b->admin, &p.base,
              &minbill__v1__plan__descriptor, CALL_DEADLINE_MS, &resp, &st);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    mbc_channel_free(ch);
    if (st.code != GRPC_STATUS_OK)
        fprintf(stderr, PROG ": UpsertPlan: %s\n", st.msg);
    return st.code == GRPC_STATUS_OK ? 0 : -1;
}

static int make_account(void *user, size_t thread, void *ctx, grpc_byte_buffer **req, char *why,
                        size_t why_size)
{
    (void)thread;
    (void)ctx;
    bench *b = user;
    uint64_t i = atomic_fetch_add(&b->seq, 1);
    static const char *const cc[] = {"DE", "NL", "FR", "US"};
    char id[24];
    account_id(i, id);
    Minbill__V1__PostalAddress addr = MINBILL__V1__POSTAL_ADDRESS__INIT;
    addr.line1 = "Industriestrasse 7";
    addr.postal_code = "12345";
    addr.city = "Springfield";
    addr.country_code = (char *)cc[i % 4];
    Minbill__V1__Account acc = MINBILL__V1__ACCOUNT__INIT;
    acc.account_id = id;
    acc.legal_name = "Bench Motors GmbH";
    acc.billing_address = &addr;
    acc.vat_id = i % 4 == 0 ? "DE136695976" : "";
    acc.currency = "EUR";
    acc.plan_id = "bench";
    Minbill__V1__UpsertAccountRequest r = MINBILL__V1__UPSERT_ACCOUNT_REQUEST__INIT;
    r.account = &acc;
    return bc_pack_request(&r.base, req, why, why_size);
}

/* Call s carries events s*100 .. s*100+99 of the N x P counters. */
static int make_usage_batch(void *user, size_t thread, void *ctx, grpc_byte_buffer **req, char *why,
                            size_t why_size)
{
    (void)thread;
    (void)ctx;
    bench *b = user;
    uint64_t s = atomic_fetch_add(&b->seq, 1);
    Minbill__V1__UsageEvent ev[BATCH], *evp[BATCH];
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = b->last_month;
    char ids[BATCH][24], keys[BATCH][24], metrics[BATCH][24];
    for (int j = 0; j < BATCH; j++) {
        uint64_t e = s * BATCH + (uint64_t)j;
        minbill__v1__usage_event__init(&ev[j]);
        account_id(e / (uint64_t)b->o.prices, ids[j]);
        snprintf(keys[j], sizeof keys[j], "u-%llu", (unsigned long long)e);
        snprintf(metrics[j], sizeof metrics[j], "m%llu",
                 (unsigned long long)(e % (uint64_t)b->o.prices));
        ev[j].idempotency_key = keys[j];
        ev[j].account_id = ids[j];
        ev[j].metric = metrics[j];
        ev[j].quantity = (int64_t)(e % 5000) + 1;
        ev[j].occurred_at = &ts;
        evp[j] = &ev[j];
    }
    Minbill__V1__RecordUsageRequest r = MINBILL__V1__RECORD_USAGE_REQUEST__INIT;
    r.n_events = BATCH;
    r.events = evp;
    return bc_pack_request(&r.base, req, why, why_size);
}

static int make_single_event(void *user, size_t thread, void *ctx, grpc_byte_buffer **req,
                             char *why, size_t why_size)
{
    (void)thread;
    (void)ctx;
    bench *b = user;
    uint64_t s = atomic_fetch_add(&b->seq, 1);
    char id[24], key[32];
    account_id(s * 7919 % (uint64_t)b->o.accounts, id);
    snprintf(key, sizeof key, "live-%llu", (unsigned long long)s);
    return bc_pack_usage_event(id, "m1", key, b->this_month, req, why, why_size);
}

static int make_render(void *user, size_t thread, void *ctx, grpc_byte_buffer **req, char *why,
                       size_t why_size)
{
    (void)thread;
    (void)ctx;
    bench *b = user;
    uint64_t s = atomic_fetch_add(&b->seq, 1);
    char number[32];
    snprintf(number, sizeof number, "INV-%s-%06llu", b->year,
             (unsigned long long)(s * 7919 % (uint64_t)b->issued + 1));
    Minbill__V1__RenderInvoiceRequest r = MINBILL__V1__RENDER_INVOICE_REQUEST__INIT;
    r.invoice_number = number;
    r.format = MINBILL__V1__INVOICE_FORMAT__INVOICE_FORMAT_UBL;
    return bc_pack_request(&r.base, req, why, why_size);
}

static int check_render(void *user, size_t thread, void *ctx, const uint8_t *resp, size_t len,
                        char *why, size_t why_size)
{
    (void)user;
    (void)thread;
    (void)ctx;
    Minbill__V1__RenderedInvoice *r = (Minbill__V1__RenderedInvoice *)bc_unpack_response(
        &minbill__v1__rendered_invoice__descriptor, resp, len, why, why_size);
    if (r == NULL)
        return -1;
    int ret = 0;
    if (r->content.len < 1000 || memmem(r->content.data, r->content.len, "<Invoice", 8) == NULL) {
        snprintf(why, why_size, "the document is not a UBL Invoice");
        ret = -1;
    }
    protobuf_c_message_free_unpacked(&r->base, NULL);
    return ret;
}

/* Setup and ingest calls only need to succeed. */
static bc_load_spec spec(bench *b, const char *method, const char *key, long inflight,
                         bc_make_fn make)
{
    bc_load_spec sp = bc_unary_spec(PROG, b->d.target, method, key, inflight, make, b);
    sp.deadline_ms = CALL_DEADLINE_MS;
    return sp;
}

/* --- the run ------------------------------------------------------------------ */

static void *run_billing(void *arg)
{
    bench *b = arg;
    mbc_channel_t *ch = mbc_channel_new(b->d.target);
    Minbill__V1__RunBillingRequest req = MINBILL__V1__RUN_BILLING_REQUEST__INIT;
    req.period = b->period;
    int64_t t0 = bc_now_ns();
    mbc_call_t *call = mbc_call_start(ch, "/minbill.v1.Invoicing/RunBilling", b->finance, 600000);
    mbc_call_send_msg(call, &req.base);
    mbc_call_close_send(call);
    uint8_t *msg;
    size_t len;
    while (mbc_call_recv(call, &msg, &len) == 1) {
        Minbill__V1__RunBillingProgress *p =
            minbill__v1__run_billing_progress__unpack(NULL, len, msg);
        free(msg);
        if (p == NULL)
            continue;
        if (p->done && p->summary != NULL)
            b->issued = p->summary->invoices_issued;
        else
            b->steps++;
        minbill__v1__run_billing_progress__free_unpacked(p, NULL);
    }
    mb_error st;
    mbc_call_finish(call, &st);
    b->run_s = (double)(bc_now_ns() - t0) / 1e9;
    b->run_code = st.code;
    snprintf(b->run_msg, sizeof b->run_msg, "%s", st.msg);
    mbc_call_free(call);
    mbc_channel_free(ch);
    atomic_store(&b->run_done, true);
    return NULL;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: " PROG " [--accounts N] [--prices P] [--inflight N] [--ingest-inflight N]\n"
               "       [--ingest-seconds S] [--render-seconds S] [--threads N]\n"
               "  --accounts N          accounts billed (default 100000)\n"
               "  --prices P            metered prices of the plan (default 5)\n"
               "  --inflight N          setup and render calls in flight (default 64)\n"
               "  --ingest-inflight N   single-event RecordUsage calls in flight during\n"
               "                        the run (default 8)\n"
               "  --ingest-seconds S    how long that ingest is measured (default 15; it\n"
               "                        starts with the run)\n"
               "  --render-seconds S    RenderInvoice UBL window (default 10)\n"
               "  --threads N           the daemon's completion-queue threads (default: cores)\n");
}

int main(int argc, char **argv)
{
    bench b = {.o = {.accounts = 100000,
                     .prices = 5,
                     .inflight = 64,
                     .ingest_inflight = 8,
                     .ingest_seconds = 15,
                     .render_seconds = 10}};
    bc_option opts[] = {
        {"accounts", BC_ARG_COUNT, &b.o.accounts, 1, 10000000},
        {"prices", BC_ARG_COUNT, &b.o.prices, 1, MAX_PRICES},
        {"inflight", BC_ARG_COUNT, &b.o.inflight, 1, 1024},
        {"ingest-inflight", BC_ARG_COUNT, &b.o.ingest_inflight, 1, 1024},
        {"ingest-seconds", BC_ARG_SECONDS, &b.o.ingest_seconds, 1, 3600},
        {"render-seconds", BC_ARG_SECONDS, &b.o.render_seconds, 1, 3600},
        {"threads", BC_ARG_COUNT, &b.o.threads, 0, 256},
    };
    int rc = bc_parse_options(PROG, argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc != 0)
        return bc_options_exit(PROG, rc, usage);
    bc_use_minbilld(MINBILLD_DEFAULT);

    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(b.year, sizeof b.year, "%Y", &tm);
    b.this_month = (int64_t)now - 60;
    tm.tm_mon -= 1;
    tm.tm_mday = 10;
    tm.tm_hour = 12;
    b.last_month = (int64_t)timegm(&tm);
    gmtime_r(&(time_t){(time_t)b.last_month}, &tm);
    strftime(b.period, sizeof b.period, "%Y-%m", &tm);

    int fails = 0;
    if (start(&b) != 0 || upsert_plan(&b) != 0) {
        mbt_daemon_cleanup(&b.d);
        return 1;
    }
    printf(PROG ": %ld accounts x %ld prices, billing %s\nsetup:\n", b.o.accounts, b.o.prices,
           b.period);
    fflush(stdout);
    if (bc_load_calls(
            "UpsertAccount",
            spec(&b, "/minbill.v1.Accounts/UpsertAccount", b.platform, b.o.inflight, make_account),
            b.o.accounts, &b.seq) != 0 ||
        bc_load_calls(
            "RecordUsage (100 events)",
            spec(&b, "/minbill.v1.Metering/RecordUsage", b.platform, 32, make_usage_batch),
            (b.o.accounts * b.o.prices + BATCH - 1) / BATCH, &b.seq) != 0) {
        mbt_daemon_cleanup(&b.d);
        return 1;
    }

    /* The run, with single-event ingest beside it. */
    bc_cpu cpu;
    bc_cpu_begin(&cpu, b.d.pid);
    pthread_create(&b.runner, NULL, run_billing, &b);
    bc_load_spec live = spec(&b, "/minbill.v1.Metering/RecordUsage", b.platform,
                             b.o.ingest_inflight, make_single_event);
    live.measure_s = b.o.ingest_seconds;
    atomic_store(&b.seq, 0);
    bc_load_result ingest;
    int ingest_rc = bc_load_run(&live, &ingest);
    bool overlapped = !atomic_load(&b.run_done);
    pthread_join(b.runner, NULL);
    bc_cpu_end(&cpu);

    bc_load_result render = {0};
    int render_rc = -1;
    if (b.issued > 0) {
        bc_load_spec rs =
            spec(&b, "/minbill.v1.Invoicing/RenderInvoice", b.finance, b.o.inflight, make_render);
        rs.check = check_render;
        rs.warmup_s = 1;
        rs.measure_s = b.o.render_seconds;
        atomic_store(&b.seq, 0);
        render_rc = bc_load_run(&rs, &render);
    }
    long rss = bc_peak_rss_kib(b.d.pid);

    double render_rate = render.seconds > 0 ? (double)render.ok / render.seconds : 0;
    uint32_t p50 = bc_lat_pct(&ingest.lat, 0.50), p99 = bc_lat_pct(&ingest.lat, 0.99);
    double ingest_rate = ingest.seconds > 0 ? (double)ingest.ok / ingest.seconds : 0;
    printf("billing run:\n"
           "  RunBilling %s            %lld invoices issued in %.2f s (%.0f invoices/s), %s\n"
           "  CPU during the run       daemon %.1f s, this process %.1f s, other %.1f s\n"
           "single-event RecordUsage during the run (%ld in flight, %s):\n"
           "  %.0f calls/s, p50 %.2f ms, p99 %.2f ms, max %.2f ms\n"
           "RenderInvoice UBL (%ld in flight):\n"
           "  %.0f documents/s\n",
           b.period, (long long)b.issued, b.run_s, b.run_s > 0 ? (double)b.issued / b.run_s : 0,
           b.run_code == 0 ? "OK" : b.run_msg, cpu.daemon, cpu.self, cpu.other, b.o.ingest_inflight,
           overlapped ? "the run outlasted the window" : "the run ended inside the window",
           ingest_rate, p50 / 1000.0, p99 / 1000.0, bc_lat_max(&ingest.lat) / 1000.0, b.o.inflight,
           render_rate);
    bc_print_peak_rss(rss);
    fails +=
        bc_fail_if(stdout, "", b.run_code != 0, "RunBilling ended %d: %s", b.run_code, b.run_msg);
    fails += bc_fail_if(stdout, "", b.issued != b.o.accounts,
                        "%lld invoices issued for %ld accounts", (long long)b.issued, b.o.accounts);
    fails += bc_fail_if(stdout, "", b.run_s > 20, "the run took %.1f s (target 20 s)", b.run_s);
    fails += bc_fail_if(stdout, "", ingest_rc != 0 || ingest.failed != 0,
                        "ingest during the run failed: %s", ingest.first_error);
    fails += bc_fail_if(stdout, "", p99 >= 10000, "ingest p99 %.2f ms during the run (target < 10)",
                        p99 / 1000.0);
    fails += bc_fail_if(stdout, "", render_rc != 0 || render.failed != 0, "rendering failed: %s",
                        render.first_error);
    fails += bc_fail_if(stdout, "", render_rate < 2000, "%.0f UBL documents/s (target 2,000)",
                        render_rate);
    fails += bc_fail_if(stdout, "", rss < 0 || rss >= 200 * 1024,
                        "daemon peak RSS %.1f MiB (target < 200)", rss / 1024.0);
    printf("RESULT accounts=%ld prices=%ld run_s=%.2f issued=%lld ingest_p99_ms=%.2f "
           "ingest_per_s=%.0f render_per_s=%.0f peak_rss_kib=%ld fails=%d\n",
           b.o.accounts, b.o.prices, b.run_s, (long long)b.issued, p99 / 1000.0, ingest_rate,
           render_rate, rss, fails);
    printf("%s\n", fails == 0 ? "PASS" : "FAIL");
    bc_load_result_free(&ingest);
    bc_load_result_free(&render);
    if (bc_daemon_stop(PROG, &b.d, 30) != 0)
        fails++;
    mbt_daemon_cleanup(&b.d);
    return fails == 0 ? 0 : 1;
}
