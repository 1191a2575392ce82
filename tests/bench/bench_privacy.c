/*
 * bench_privacy.c - ExportSubjectData latency through the real daemon (issue
 * 9's export figure):
 *
 *   1. one account with 5 contacts and a card, 24 months of usage and 24
 *      invoices (one billing run per month), and an access request for it
 *      by account;
 *   2. exports of that request one after another, each timed from the call
 *      to its status, while single-event RecordUsage calls of another
 *      account run at full speed beside them (the exports share the writer
 *      with ingest: each commits its audit event before sending).
 *
 * Target: export p99 < 50 ms. Also reported: the document's size, ingest
 * calls/s and p99 meanwhile, the daemon's peak RSS. Every export must end OK
 * with a document naming all 24 invoices.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_common.h"
#include "fixtures.h"
#include "inv_util.h"
#include "minbill/v1/metering.pb-c.h"
#include "minbill/v1/privacy.pb-c.h"

#define PROG "bench_privacy"
#define ACCOUNT "bp-subject"
#define OTHER "bp-ingest"
#define MONTHS 24
#define CONTACTS 5
#define CALL_DEADLINE_MS 30000

typedef struct bench {
    long inflight, threads;
    double seconds;
    mbt_server s;
    iu_keys k;
    char privacy[MBT_KEY_MAX];
    char request_id[64];
    char first_invoice[32], last_invoice[32];
    int64_t now;
    _Atomic uint64_t seq;
    _Atomic bool ingest_done;
} bench;

/* --- setup ------------------------------------------------------------------ */

static int start(bench *b)
{
    char conf[MBT_PATH + 32], threads[16];
    if (mbt_daemon_init(&b->s.d) != 0 || iu_write_seller(&b->s, conf) != 0)
        return -1;
    snprintf(threads, sizeof threads, "%ld", b->threads > 0 ? b->threads : bc_cores());
    /* Usage 24 months back must be accepted; one key per role: no rate
     * limit. */
    const char *args[] = {"--seller-config",
                          conf,
                          "--acceptance-window-days",
                          "800",
                          "--threads",
                          threads,
                          "--rate-limit",
                          "platform=0",
                          "--rate-limit",
                          "privacy=0",
                          NULL};
    if (mbt_serve(&b->s, args) != 0)
        return -1;
    mbt_key(&b->s, "platform", b->k.platform);
    mbt_key(&b->s, "finance", b->k.finance);
    mbt_key(&b->s, "admin", b->k.admin);
    mbt_key(&b->s, "privacy", b->privacy);
    return b->k.platform[0] && b->k.finance[0] && b->k.admin[0] && b->privacy[0] ? 0 : -1;
}

static int setup_account(bench *b)
{
    Minbill__V1__Contact c[CONTACTS], *pc[CONTACTS];
    char ids[CONTACTS][8], names[CONTACTS][32], emails[CONTACTS][48], phones[CONTACTS][20];
    for (int i = 0; i < CONTACTS; i++) {
        minbill__v1__contact__init(&c[i]);
        snprintf(names[i], sizeof names[i], "Contact Person %d", i);
        snprintf(emails[i], sizeof emails[i], "person%d@bench-dealer.example", i);
        snprintf(phones[i], sizeof phones[i], "+4915112345%03d", i);
        snprintf(ids[i], sizeof ids[i], "c%d", i);
        c[i].contact_id = ids[i];
        c[i].role = MINBILL__V1__CONTACT_ROLE__CONTACT_ROLE_BILLING;
        c[i].name = names[i];
        c[i].email = emails[i];
        c[i].phone = phones[i];
        pc[i] = &c[i];
    }
    mb_error st;
    char token[64];
    if (iu_plan(&b->s, &b->k) != 0 ||
        mbt_upsert_account(b->s.ch, b->k.platform, ACCOUNT, "Autohaus Export e.K.", "pro", pc,
                           CONTACTS, CALL_DEADLINE_MS, &st) != 0 ||
        mbt_upsert_account(b->s.ch, b->k.platform, OTHER, "Autohaus Ingest GmbH", "pro", NULL, 0,
                           CALL_DEADLINE_MS, &st) != 0 ||
        mbt_attach_card(b->s.ch, b->k.platform, ACCOUNT, "4242424242424242", "Export Holder", token,
                        sizeof token, CALL_DEADLINE_MS) != 0) {
        fprintf(stderr, PROG ": setting up the account failed\n");
        return -1;
    }
    /* Oldest month first, so invoice numbers follow the periods. */
    for (int m = MONTHS; m >= 1; m--) {
        char period[8], idem[32];
        int64_t when = iu_month_ago(m, period);
        snprintf(idem, sizeof idem, "hist-%d", m);
        if (iu_usage(&b->s, &b->k, idem, ACCOUNT, "messages", 1000 + 37 * m, when) != 0)
            return -1;
        iu_run run;
        iu_billing(&b->s, &b->k, period, false, CALL_DEADLINE_MS, &run);
        int code = run.code;
        if (run.issued_steps == 1 && m == MONTHS)
            snprintf(b->first_invoice, sizeof b->first_invoice, "%s", run.first_number);
        if (run.issued_steps == 1)
            snprintf(b->last_invoice, sizeof b->last_invoice, "%s", run.last_number);
        int64_t issued = run.issued_steps;
        iu_run_free(&run);
        if (code != GRPC_STATUS_OK || issued != 1) {
            fprintf(stderr, PROG ": billing %s issued %lld invoices (status %d)\n", period,
                    (long long)issued, code);
            return -1;
        }
    }
    Minbill__V1__OpenSubjectRequestRequest req = MINBILL__V1__OPEN_SUBJECT_REQUEST_REQUEST__INIT;
    req.kind = MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_ACCESS;
    req.subject_case = MINBILL__V1__OPEN_SUBJECT_REQUEST_REQUEST__SUBJECT_ACCOUNT_ID;
    req.account_id = ACCOUNT;
    req.verified_by = "bench";
    ProtobufCMessage *resp = NULL;
    mbc_unary(b->s.ch, "/minbill.v1.Privacy/OpenSubjectRequest", b->privacy, &req.base,
              &minbill__v1__subject_request__descriptor, CALL_DEADLINE_MS, &resp, &st);
    if (resp == NULL) {
        fprintf(stderr, PROG ": OpenSubjectRequest: %s\n", st.msg);
        return -1;
    }
    snprintf(b->request_id, sizeof b->request_id, "%s",
             ((Minbill__V1__SubjectRequest *)resp)->request_id);
    protobuf_c_message_free_unpacked(resp, NULL);
    return 0;
}

/* --- ingest beside the exports -------------------------------------------- */

static int make_event(void *user, size_t thread, void *ctx, grpc_byte_buffer **req, char *why,
                      size_t why_size)
{
    (void)thread;
    (void)ctx;
    bench *b = user;
    char key[32];
    snprintf(key, sizeof key, "live-%llu", (unsigned long long)atomic_fetch_add(&b->seq, 1));
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = b->now;
    Minbill__V1__UsageEvent ev = MINBILL__V1__USAGE_EVENT__INIT, *evp = &ev;
    ev.idempotency_key = key;
    ev.account_id = OTHER;
    ev.metric = "messages";
    ev.quantity = 1;
    ev.occurred_at = &ts;
    Minbill__V1__RecordUsageRequest r = MINBILL__V1__RECORD_USAGE_REQUEST__INIT;
    r.n_events = 1;
    r.events = &evp;
    return bc_pack_request(&r.base, req, why, why_size);
}

static int accept_ok(void *user, size_t thread, void *ctx, const uint8_t *resp, size_t len,
                     char *why, size_t why_size)
{
    return bc_check_usage_counts(resp, len, 1, 0, why, why_size);
}

typedef struct ingest_run {
    bench *b;
    bc_load_result r;
    int rc;
} ingest_run;

static void *ingest(void *arg)
{
    ingest_run *in = arg;
    bench *b = in->b;
    bc_load_spec sp = {.prog = PROG,
                       .target = b->s.d.target,
                       .method = "/minbill.v1.Metering/RecordUsage",
                       .api_key = b->k.platform,
                       .threads = 1,
                       .connections = 1,
                       .inflight = (size_t)b->inflight,
                       .deadline_ms = CALL_DEADLINE_MS,
                       .warmup_s = 1,
                       .measure_s = b->seconds,
                       .user = b,
                       .make = make_event,
                       .check = accept_ok};
    in->rc = bc_load_run(&sp, &in->r);
    atomic_store(&b->ingest_done, true);
    return NULL;
}

/* --- one export ------------------------------------------------------------ */

/* Runs the export; *bytes receives the document's size. 0 if it ended OK
 * with every invoice in it. */
static int export_once(bench *b, mbc_channel_t *ch, size_t *bytes, char *why, size_t why_size)
{
    Minbill__V1__ExportSubjectDataRequest req = MINBILL__V1__EXPORT_SUBJECT_DATA_REQUEST__INIT;
    req.request_id = b->request_id;
    mbc_call_t *call =
        mbc_call_start(ch, "/minbill.v1.Privacy/ExportSubjectData", b->privacy, CALL_DEADLINE_MS);
    if (call == NULL) {
        snprintf(why, why_size, "cannot start the call");
        return -1;
    }
    mbc_call_send_msg(call, &req.base);
    mbc_call_close_send(call);
    char *doc = NULL;
    size_t len = 0;
    uint8_t *msg;
    size_t n;
    while (mbc_call_recv(call, &msg, &n) == 1) {
        Minbill__V1__ExportChunk *c = minbill__v1__export_chunk__unpack(NULL, n, msg);
        free(msg);
        char *grown = c != NULL ? realloc(doc, len + c->data.len + 1) : NULL;
        if (grown != NULL) {
            doc = grown;
            memcpy(doc + len, c->data.data, c->data.len);
            len += c->data.len;
            doc[len] = '\0';
        }
        if (c != NULL)
            minbill__v1__export_chunk__free_unpacked(c, NULL);
    }
    mb_error st;
    int code = mbt_call_end(call, &st);
    mbc_call_free(call);
    int ret = 0;
    if (code != GRPC_STATUS_OK) {
        snprintf(why, why_size, "status %s: %.200s", mb_status_name(code), st.msg);
        ret = -1;
    } else if (doc == NULL || strstr(doc, b->first_invoice) == NULL ||
               strstr(doc, b->last_invoice) == NULL) {
        snprintf(why, why_size, "the document lacks the account's invoices");
        ret = -1;
    }
    *bytes = len;
    free(doc);
    return ret;
}

/* --- main ------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f, "usage: " PROG " [--seconds S] [--ingest-inflight N] [--threads N]\n"
               "  --seconds S           how long exports and ingest run together (default 10)\n"
               "  --ingest-inflight N   single-event RecordUsage calls in flight (default 8)\n"
               "  --threads N           the daemon's completion-queue threads\n");
}

int main(int argc, char **argv)
{
    bench b = {.seconds = 10, .inflight = 8};
    const bc_option opts[] = {
        {"seconds", BC_ARG_SECONDS, &b.seconds, 1, 600},
        {"ingest-inflight", BC_ARG_COUNT, &b.inflight, 1, 1024},
        {"threads", BC_ARG_COUNT, &b.threads, 1, 64},
    };
    int rc = bc_parse_options(PROG, argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc != 0)
        return bc_options_exit(PROG, rc, usage);
    setenv("MINBILLD", getenv("MINBILLD") ? getenv("MINBILLD") : MINBILLD_DEFAULT, 1);
    b.now = (int64_t)time(NULL) - 60;
    if (start(&b) != 0 || setup_account(&b) != 0) {
        mbt_down(&b.s);
        return 1;
    }
    printf(PROG ": account with %d contacts, %d months of usage, %d invoices (%s .. %s)\n",
           CONTACTS, MONTHS, MONTHS, b.first_invoice, b.last_invoice);
    fflush(stdout);

    ingest_run in = {.b = &b};
    pthread_t t;
    pthread_create(&t, NULL, ingest, &in);
    bc_sleep_ms(1000); /* the ingest's warm-up */
    mbc_channel_t *ch = mbc_channel_new(b.s.d.target);
    bc_lat lat = {0};
    size_t bytes = 0, first_bytes = 0;
    char why[MB_ERROR_MSG_MAX + 64] = "";
    int failed = 0;
    bc_cpu cpu;
    bc_cpu_begin(&cpu, b.s.d.pid);
    while (!atomic_load(&b.ingest_done) && failed == 0) {
        int64_t t0 = bc_now_ns();
        failed = export_once(&b, ch, &bytes, why, sizeof why) != 0;
        bc_lat_add(&lat, (bc_now_ns() - t0) / 1000);
        if (first_bytes == 0)
            first_bytes = bytes;
    }
    bc_cpu_end(&cpu);
    pthread_join(t, NULL);
    mbc_channel_free(ch);
    bc_lat_sort(&lat);
    uint32_t p50 = bc_lat_pct(&lat, 0.50), p99 = bc_lat_pct(&lat, 0.99);
    bc_lat *il = &in.r.lat;
    double ingest_rate = in.r.seconds > 0 ? (double)in.r.ok / in.r.seconds : 0;
    /* Every export adds its audit event to the account's access log: the
     * document grows during the run. */
    printf("exports:  %zu in %.1f s, document %zu .. %zu bytes; p50 %.2f ms, p99 %.2f ms, "
           "max %.2f ms\n",
           lat.n, b.seconds, first_bytes, bytes, p50 / 1000.0, p99 / 1000.0,
           bc_lat_max(&lat) / 1000.0);
    printf("ingest:   %.0f events/s beside them (%ld in flight), p99 %.2f ms\n", ingest_rate,
           b.inflight, bc_lat_pct(il, 0.99) / 1000.0);
    printf("cpu:      daemon %.1f s, this process %.1f s, other %.1f s\n", cpu.daemon, cpu.self,
           cpu.other);
    long rss = bc_peak_rss_kib(b.s.d.pid);
    bc_print_peak_rss(rss);
    int fails = 0;
    fails += bc_fail_if(stdout, "", failed != 0, "an export failed: %s", why);
    fails += bc_fail_if(stdout, "", lat.n < 20, "only %zu exports ran", lat.n);
    fails += bc_fail_if(stdout, "", in.rc != 0 || in.r.failed != 0, "ingest failed: %s",
                        in.r.first_error);
    fails += bc_fail_if(stdout, "", p99 >= 50000, "export p99 %.2f ms (target < 50)", p99 / 1000.0);
    printf("%s\n", fails == 0 ? "PASS" : "FAIL");
    printf("RESULT exports=%zu export_p50_ms=%.2f export_p99_ms=%.2f document_bytes=%zu "
           "ingest_per_s=%.0f ingest_p99_ms=%.2f peak_rss_kib=%ld fails=%d\n",
           lat.n, p50 / 1000.0, p99 / 1000.0, bytes, ingest_rate, bc_lat_pct(il, 0.99) / 1000.0,
           rss, fails);
    bc_lat_free(&lat);
    bc_load_result_free(&in.r);
    if (mbt_down(&b.s) != 0)
        fails++;
    return fails == 0 ? 0 : 1;
}
