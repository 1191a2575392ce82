/*
 * bench_privacy.c - access requests at production shape, through the real
 * daemon (issue 9's figures):
 *
 *   1. N dealer accounts (default 2,000), each with 5 contacts and a card,
 *      24 months of usage (5 metered prices) and 24 issued invoices (one
 *      RunBilling per month, oldest first);
 *   2. ExportSubjectData of random accounts (one access request each, opened
 *      beforehand) while another client sends RecordUsage batches of 100
 *      events at full speed: export latency p50/p99, the document checked
 *      to hold the account's 24 invoices;
 *   3. EraseSubject of whole accounts, one after another, while single-event
 *      RecordUsage calls (8 in flight) measure ingest latency: erasure
 *      latency p50/p99 and ingest p99 during the erasures;
 *   4. the daemon's peak RSS over all of it.
 *
 * Targets: export p99 < 50 ms with ingest at full speed beside it; erasure
 * of such an account < 100 ms; ingest's single-event p99 < 10 ms during the
 * erasures.
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
#include "minbill/v1/privacy.pb-c.h"

#define PROG "bench_privacy"
#define KEY_MAX 128
#define BATCH 100
#define MONTHS 24
#define PRICES 5
#define CONTACTS 5
#define CALL_DEADLINE_MS 60000

typedef struct bench_opts {
    long accounts, exports, erasures, inflight;
} bench_opts;

typedef struct bench {
    bench_opts o;
    mbt_daemon d;
    char platform[KEY_MAX], finance[KEY_MAX], admin[KEY_MAX], privacy[KEY_MAX];
    int64_t month_ts[MONTHS]; /* a moment in each of the last 24 months, oldest first */
    char periods[MONTHS][8];
    int64_t now_ts;
    _Atomic uint64_t seq;
    _Atomic bool stop;
    char (*requests)[48]; /* [account]: its open request */
} bench;

static void account_id(uint64_t i, char out[24])
{
    snprintf(out, 24, "p-%06llu", (unsigned long long)i);
}

/* --- setup ------------------------------------------------------------------ */

static int start(bench *b)
{
    char conf[MBT_PATH + 32];
    if (mbt_daemon_init(&b->d) != 0 || bc_write_seller_config(PROG, &b->d, conf, sizeof conf) != 0)
        return -1;
    /* Two years of usage must be accepted; the load generators are one key
     * per role: no per-key rate limit. */
    const char *args[] = {"--seller-config",
                          conf,
                          "--acceptance-window-days",
                          "800",
                          "--rate-limit",
                          "finance=0",
                          "--rate-limit",
                          "platform=0",
                          "--rate-limit",
                          "privacy=0",
                          NULL};
    if (mbt_daemon_start(&b->d, args) != 0 ||
        mbt_daemon_api_key(&b->d, "platform", b->platform, KEY_MAX) != 0 ||
        mbt_daemon_api_key(&b->d, "finance", b->finance, KEY_MAX) != 0 ||
        mbt_daemon_api_key(&b->d, "admin", b->admin, KEY_MAX) != 0 ||
        mbt_daemon_api_key(&b->d, "privacy", b->privacy, KEY_MAX) != 0) {
        fprintf(stderr, PROG ": starting minbilld or creating keys failed\n");
        return -1;
    }
    return 0;
}

static int unary(bench *b, const char *method, const char *key, const ProtobufCMessage *req,
                 const ProtobufCMessageDescriptor *desc, ProtobufCMessage **out)
{
    mbc_channel_t *ch = mbc_channel_new(b->d.target);
    ProtobufCMessage *resp = NULL;
    mb_error st;
    mbc_unary(ch, method, key, req, desc, CALL_DEADLINE_MS, &resp, &st);
    mbc_channel_free(ch);
    if (st.code != GRPC_STATUS_OK) {
        fprintf(stderr, PROG ": %s: %s\n", method, st.msg);
        return -1;
    }
    if (out != NULL)
        *out = resp;
    else if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    return 0;
}

static int upsert_plan(bench *b)
{
    Minbill__V1__Price prices[PRICES], *pp[PRICES];
    char metric[PRICES][8];
    for (int i = 0; i < PRICES; i++) {
        minbill__v1__price__init(&prices[i]);
        snprintf(metric[i], sizeof metric[i], "m%d", i);
        prices[i].metric = metric[i];
        prices[i].description = "Messages";
        prices[i].unit_price = "0.0025";
        pp[i] = &prices[i];
    }
    Minbill__V1__Plan p = MINBILL__V1__PLAN__INIT;
    p.plan_id = "bench";
    p.currency = "EUR";
    p.base_fee_minor = 4900;
    p.n_prices = PRICES;
    p.prices = pp;
    return unary(b, "/minbill.v1.Invoicing/UpsertPlan", b->admin, &p.base,
                 &minbill__v1__plan__descriptor, NULL);
}

static int make_account(void *user, size_t thread, void *ctx, grpc_byte_buffer **req, char *why,
                        size_t why_size)
{
    (void)thread;
    (void)ctx;
    bench *b = user;
    uint64_t i = atomic_fetch_add(&b->seq, 1);
    char id[24], names[CONTACTS][48], emails[CONTACTS][64], phones[CONTACTS][24], cids[CONTACTS][8];
    account_id(i, id);
    Minbill__V1__Contact c[CONTACTS], *cp[CONTACTS];
    for (int j = 0; j < CONTACTS; j++) {
        minbill__v1__contact__init(&c[j]);
        snprintf(cids[j], sizeof cids[j], "c%d", j);
        snprintf(names[j], sizeof names[j], "Contact %d of %s", j, id);
        snprintf(emails[j], sizeof emails[j], "c%d.%s@dealer.example", j, id);
        snprintf(phones[j], sizeof phones[j], "+4930%07llu%d", (unsigned long long)i, j);
        c[j].contact_id = cids[j];
        c[j].role = MINBILL__V1__CONTACT_ROLE__CONTACT_ROLE_BILLING;
        c[j].name = names[j];
        c[j].email = emails[j];
        c[j].phone = phones[j];
        cp[j] = &c[j];
    }
    Minbill__V1__PostalAddress addr = MINBILL__V1__POSTAL_ADDRESS__INIT;
    addr.line1 = "Industriestrasse 7";
    addr.postal_code = "12345";
    addr.city = "Springfield";
    addr.country_code = "NL";
    Minbill__V1__Account acc = MINBILL__V1__ACCOUNT__INIT;
    acc.account_id = id;
    acc.legal_name = "Bench Motors";
    acc.billing_address = &addr;
    acc.currency = "EUR";
    acc.plan_id = "bench";
    acc.n_contacts = CONTACTS;
    acc.contacts = cp;
    Minbill__V1__UpsertAccountRequest r = MINBILL__V1__UPSERT_ACCOUNT_REQUEST__INIT;
    r.account = &acc;
    return bc_pack_request(&r.base, req, why, why_size);
}

static int make_card(void *user, size_t thread, void *ctx, grpc_byte_buffer **req, char *why,
                     size_t why_size)
{
    (void)thread;
    (void)ctx;
    bench *b = user;
    char id[24];
    account_id(atomic_fetch_add(&b->seq, 1), id);
    Minbill__V1__CardDetails card = MINBILL__V1__CARD_DETAILS__INIT;
    card.pan = "4242424242424242";
    card.exp_month = 12;
    card.exp_year = 2031;
    card.holder_name = "Bench Holder";
    Minbill__V1__AttachPaymentMethodRequest r = MINBILL__V1__ATTACH_PAYMENT_METHOD_REQUEST__INIT;
    r.account_id = id;
    r.method_case = MINBILL__V1__ATTACH_PAYMENT_METHOD_REQUEST__METHOD_CARD;
    r.card = &card;
    return bc_pack_request(&r.base, req, why, why_size);
}

/* Event e of the N x 24 months x P setup counters; call s sends 100. */
static int make_history(void *user, size_t thread, void *ctx, grpc_byte_buffer **req, char *why,
                        size_t why_size)
{
    (void)thread;
    (void)ctx;
    bench *b = user;
    uint64_t s = atomic_fetch_add(&b->seq, 1);
    uint64_t total = (uint64_t)b->o.accounts * MONTHS * PRICES;
    Minbill__V1__UsageEvent ev[BATCH], *evp[BATCH];
    Google__Protobuf__Timestamp ts[BATCH];
    char ids[BATCH][24], keys[BATCH][24], metrics[BATCH][8];
    size_t n = 0;
    for (uint64_t e = s * BATCH; e < total && n < BATCH; e++, n++) {
        uint64_t account = e / (MONTHS * PRICES), month = e / PRICES % MONTHS;
        minbill__v1__usage_event__init(&ev[n]);
        google__protobuf__timestamp__init(&ts[n]);
        ts[n].seconds = b->month_ts[month];
        account_id(account, ids[n]);
        snprintf(keys[n], sizeof keys[n], "h-%llu", (unsigned long long)e);
        snprintf(metrics[n], sizeof metrics[n], "m%llu", (unsigned long long)(e % PRICES));
        ev[n].idempotency_key = keys[n];
        ev[n].account_id = ids[n];
        ev[n].metric = metrics[n];
        ev[n].quantity = (int64_t)(e % 900) + 1;
        ev[n].occurred_at = &ts[n];
        evp[n] = &ev[n];
    }
    Minbill__V1__RecordUsageRequest r = MINBILL__V1__RECORD_USAGE_REQUEST__INIT;
    r.n_events = n;
    r.events = evp;
    return bc_pack_request(&r.base, req, why, why_size);
}

/* Live ingest: batches of 100 (full speed) or single events, this month. */
static int make_live(bench *b, size_t n, grpc_byte_buffer **req, char *why, size_t why_size)
{
    Minbill__V1__UsageEvent ev[BATCH], *evp[BATCH];
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = b->now_ts;
    char ids[BATCH][24], keys[BATCH][32];
    for (size_t j = 0; j < n; j++) {
        uint64_t s = atomic_fetch_add(&b->seq, 1);
        minbill__v1__usage_event__init(&ev[j]);
        /* The upper half of the accounts: the erasures take the lower. */
        account_id((uint64_t)b->o.accounts / 2 + s * 7919 % ((uint64_t)b->o.accounts / 2), ids[j]);
        snprintf(keys[j], sizeof keys[j], "live-%llu", (unsigned long long)s);
        ev[j].idempotency_key = keys[j];
        ev[j].account_id = ids[j];
        ev[j].metric = "m1";
        ev[j].quantity = 1;
        ev[j].occurred_at = &ts;
        evp[j] = &ev[j];
    }
    Minbill__V1__RecordUsageRequest r = MINBILL__V1__RECORD_USAGE_REQUEST__INIT;
    r.n_events = n;
    r.events = evp;
    return bc_pack_request(&r.base, req, why, why_size);
}

static int make_live_batch(void *user, size_t thread, void *ctx, grpc_byte_buffer **req, char *why,
                           size_t why_size)
{
    (void)thread;
    (void)ctx;
    return make_live(user, BATCH, req, why, why_size);
}

static int make_live_single(void *user, size_t thread, void *ctx, grpc_byte_buffer **req, char *why,
                            size_t why_size)
{
    (void)thread;
    (void)ctx;
    return make_live(user, 1, req, why, why_size);
}

static bc_load_spec spec(bench *b, const char *method, const char *key, long inflight,
                         bc_make_fn make)
{
    bc_load_spec sp = bc_unary_spec(PROG, b->d.target, method, key, inflight, make, b);
    sp.deadline_ms = CALL_DEADLINE_MS;
    return sp;
}

static int bill_history(bench *b)
{
    int64_t t0 = bc_now_ns();
    mbc_channel_t *ch = mbc_channel_new(b->d.target);
    int ret = 0;
    for (int m = 0; m < MONTHS && ret == 0; m++) {
        Minbill__V1__RunBillingRequest req = MINBILL__V1__RUN_BILLING_REQUEST__INIT;
        req.period = b->periods[m];
        mbc_call_t *call = mbc_call_start_request(ch, "/minbill.v1.Invoicing/RunBilling",
                                                  b->finance, 600000, &req.base);
        uint8_t *msg;
        size_t len;
        while (mbc_call_recv(call, &msg, &len) == 1)
            free(msg);
        mb_error st;
        if (mbc_call_finish(call, &st) != 0 || st.code != GRPC_STATUS_OK) {
            fprintf(stderr, PROG ": RunBilling %s: %s\n", b->periods[m], st.msg);
            ret = -1;
        }
        mbc_call_free(call);
    }
    mbc_channel_free(ch);
    printf("  %-28s %d periods in %.1f s\n", "RunBilling", MONTHS,
           (double)(bc_now_ns() - t0) / 1e9);
    fflush(stdout);
    return ret;
}

/* One request per account among the first n, of kind k. */
static int open_requests(bench *b, long n, Minbill__V1__SubjectRequestKind k)
{
    for (long i = 0; i < n; i++) {
        char id[24];
        account_id((uint64_t)i, id);
        Minbill__V1__OpenSubjectRequestRequest req =
            MINBILL__V1__OPEN_SUBJECT_REQUEST_REQUEST__INIT;
        req.kind = k;
        req.subject_case = MINBILL__V1__OPEN_SUBJECT_REQUEST_REQUEST__SUBJECT_ACCOUNT_ID;
        req.account_id = id;
        req.verified_by = "bench";
        ProtobufCMessage *resp = NULL;
        if (unary(b, "/minbill.v1.Privacy/OpenSubjectRequest", b->privacy, &req.base,
                  &minbill__v1__subject_request__descriptor, &resp) != 0)
            return -1;
        snprintf(b->requests[i], sizeof b->requests[i], "%s",
                 ((Minbill__V1__SubjectRequest *)resp)->request_id);
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    return 0;
}

/* --- the measured parts -------------------------------------------------------- */

/* ExportSubjectData of request i: latency and a check of the document. */
static int export_one(bench *b, mbc_channel_t *ch, long i, bc_lat *lat, char *why, size_t size)
{
    Minbill__V1__ExportSubjectDataRequest req = MINBILL__V1__EXPORT_SUBJECT_DATA_REQUEST__INIT;
    req.request_id = b->requests[i];
    int64_t t0 = bc_now_ns();
    mbc_call_t *call =
        mbc_call_start(ch, "/minbill.v1.Privacy/ExportSubjectData", b->privacy, CALL_DEADLINE_MS);
    mbc_call_send_msg(call, &req.base);
    mbc_call_close_send(call);
    uint8_t *msg;
    size_t len, doc = 0;
    int invoices = 0;
    while (mbc_call_recv(call, &msg, &len) == 1) {
        Minbill__V1__ExportChunk *c = minbill__v1__export_chunk__unpack(NULL, len, msg);
        if (c != NULL) {
            doc += c->data.len;
            for (const uint8_t *p = c->data.data;
                 (p = memmem(p, c->data.len - (size_t)(p - c->data.data), "INV-", 4)) != NULL;
                 p += 4)
                invoices++;
            minbill__v1__export_chunk__free_unpacked(c, NULL);
        }
        free(msg);
    }
    mb_error st;
    mbc_call_finish(call, &st);
    mbc_call_free(call);
    bc_lat_add(lat, (bc_now_ns() - t0) / 1000);
    if (st.code != GRPC_STATUS_OK) {
        snprintf(why, size, "ExportSubjectData: %s", st.msg);
        return -1;
    }
    /* Each invoice number appears at least once (more where referenced). */
    if (doc < 1000 || invoices < MONTHS) {
        snprintf(why, size, "the export of %s holds %zu bytes and %d invoice numbers",
                 b->requests[i], doc, invoices);
        return -1;
    }
    return 0;
}

static int erase_one(bench *b, mbc_channel_t *ch, long i, bc_lat *lat, char *why, size_t size)
{
    Minbill__V1__EraseSubjectRequest req = MINBILL__V1__ERASE_SUBJECT_REQUEST__INIT;
    req.request_id = b->requests[i];
    int64_t t0 = bc_now_ns();
    ProtobufCMessage *resp = NULL;
    mb_error st;
    mbc_unary(ch, "/minbill.v1.Privacy/EraseSubject", b->privacy, &req.base,
              &minbill__v1__erasure_report__descriptor, CALL_DEADLINE_MS, &resp, &st);
    bc_lat_add(lat, (bc_now_ns() - t0) / 1000);
    if (st.code != GRPC_STATUS_OK) {
        snprintf(why, size, "EraseSubject: %s", st.msg);
        return -1;
    }
    Minbill__V1__ErasureReport *r = (Minbill__V1__ErasureReport *)resp;
    int ret = 0;
    if (r->n_retained < MONTHS) {
        snprintf(why, size, "the erasure of %s retained %zu invoices, not %d", b->requests[i],
                 r->n_retained, MONTHS);
        ret = -1;
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    return ret;
}

typedef struct measured {
    bench *b;
    long calls;
    bool erase;
    bc_lat lat;
    int failed;
    char why[256];
} measured;

static void *measure(void *arg)
{
    measured *m = arg;
    bench *b = m->b;
    mbc_channel_t *ch = mbc_channel_new(b->d.target);
    for (long i = 0; i < m->calls && m->failed == 0; i++)
        if ((m->erase ? erase_one : export_one)(b, ch, i, &m->lat, m->why, sizeof m->why) != 0)
            m->failed++;
    mbc_channel_free(ch);
    atomic_store(&b->stop, true);
    return NULL;
}

/* Runs the exports or erasures on their own thread while `ingest` loads
 * the daemon, until they are done. */
static int beside_ingest(bench *b, measured *m, bc_load_spec ingest, bc_load_result *ing)
{
    pthread_t t;
    atomic_store(&b->stop, false);
    atomic_store(&b->seq, 0);
    pthread_create(&t, NULL, measure, m);
    /* Ingest in windows of a second until the measured calls are done. */
    bc_lat all = {0};
    long ok = 0, failed = 0;
    double seconds = 0;
    int ret = 0;
    while (!atomic_load(&b->stop) && ret == 0) {
        bc_load_result r;
        ingest.measure_s = 1;
        ret = bc_load_run(&ingest, &r);
        bc_lat_append(&all, &r.lat);
        ok += r.ok;
        failed += r.failed;
        seconds += r.seconds;
        if (r.failed != 0 && ing->first_error[0] == '\0')
            snprintf(ing->first_error, sizeof ing->first_error, "%s", r.first_error);
        bc_load_result_free(&r);
    }
    pthread_join(t, NULL);
    bc_lat_sort(&all);
    ing->lat = all;
    ing->ok = ok;
    ing->failed = failed;
    ing->seconds = seconds;
    bc_lat_sort(&m->lat);
    return ret;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: " PROG " [--accounts N] [--exports N] [--erasures N] [--inflight N]\n"
               "  --accounts N   dealer accounts, each with 5 contacts, a card, 24 months of\n"
               "                 usage and 24 invoices (default 2000)\n"
               "  --exports N    accounts exported while ingest runs (default 200)\n"
               "  --erasures N   accounts erased while ingest runs (default 200)\n"
               "  --inflight N   setup calls in flight (default 32)\n");
}

int main(int argc, char **argv)
{
    bench b = {.o = {.accounts = 2000, .exports = 200, .erasures = 200, .inflight = 32}};
    bc_option opts[] = {
        {"accounts", BC_ARG_COUNT, &b.o.accounts, 2, 1000000},
        {"exports", BC_ARG_COUNT, &b.o.exports, 1, 100000},
        {"erasures", BC_ARG_COUNT, &b.o.erasures, 1, 100000},
        {"inflight", BC_ARG_COUNT, &b.o.inflight, 1, 1024},
    };
    int rc = bc_parse_options(PROG, argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc != 0)
        return bc_options_exit(PROG, rc, usage);
    if (b.o.exports > b.o.accounts / 2 || b.o.erasures > b.o.accounts / 2) {
        fprintf(stderr, PROG ": --exports and --erasures take at most half the accounts each\n");
        return BC_EXIT_USAGE;
    }
    setenv("MINBILLD", getenv("MINBILLD") ? getenv("MINBILLD") : MINBILLD_DEFAULT, 1);
    b.requests = calloc((size_t)b.o.accounts, sizeof *b.requests);

    time_t now = time(NULL);
    b.now_ts = (int64_t)now - 60;
    for (int m = 0; m < MONTHS; m++) {
        struct tm tm;
        gmtime_r(&now, &tm);
        tm.tm_mon -= MONTHS - m;
        tm.tm_mday = 10;
        tm.tm_hour = 12;
        b.month_ts[m] = (int64_t)timegm(&tm);
        gmtime_r(&(time_t){(time_t)b.month_ts[m]}, &tm);
        strftime(b.periods[m], sizeof b.periods[m], "%Y-%m", &tm);
    }

    int fails = 0;
    if (b.requests == NULL || start(&b) != 0 || upsert_plan(&b) != 0) {
        mbt_daemon_cleanup(&b.d);
        return 1;
    }
    printf(PROG ": %ld accounts x (%d contacts, a card, %d months x %d prices, %d invoices)\n"
                "setup:\n",
           b.o.accounts, CONTACTS, MONTHS, PRICES, MONTHS);
    fflush(stdout);
    if (bc_load_calls(
            "UpsertAccount (5 contacts)",
            spec(&b, "/minbill.v1.Accounts/UpsertAccount", b.platform, b.o.inflight, make_account),
            b.o.accounts, &b.seq) != 0 ||
        bc_load_calls("AttachPaymentMethod",
                      spec(&b, "/minbill.v1.Accounts/AttachPaymentMethod", b.platform, b.o.inflight,
                           make_card),
                      b.o.accounts, &b.seq) != 0 ||
        bc_load_calls(
            "RecordUsage (24 months)",
            spec(&b, "/minbill.v1.Metering/RecordUsage", b.platform, b.o.inflight, make_history),
            (b.o.accounts * MONTHS * PRICES + BATCH - 1) / BATCH, &b.seq) != 0 ||
        bill_history(&b) != 0) {
        mbt_daemon_cleanup(&b.d);
        return 1;
    }

    /* Exports, with batched ingest at full speed beside them. */
    measured ex = {.b = &b, .calls = b.o.exports};
    bc_load_result ex_ingest = {0};
    if (open_requests(&b, b.o.exports,
                      MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_ACCESS) != 0 ||
        beside_ingest(&b, &ex,
                      spec(&b, "/minbill.v1.Metering/RecordUsage", b.platform, 32, make_live_batch),
                      &ex_ingest) != 0) {
        mbt_daemon_cleanup(&b.d);
        return 1;
    }
    /* Erasures of the same accounts, with single-event ingest beside them. */
    measured er = {.b = &b, .calls = b.o.erasures, .erase = true};
    bc_load_result er_ingest = {0};
    if (open_requests(&b, b.o.erasures,
                      MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_ERASURE) != 0 ||
        beside_ingest(&b, &er,
                      spec(&b, "/minbill.v1.Metering/RecordUsage", b.platform, 8, make_live_single),
                      &er_ingest) != 0) {
        mbt_daemon_cleanup(&b.d);
        return 1;
    }
    long rss = bc_peak_rss_kib(b.d.pid);

    uint32_t ex50 = bc_lat_pct(&ex.lat, 0.50), ex99 = bc_lat_pct(&ex.lat, 0.99);
    uint32_t er50 = bc_lat_pct(&er.lat, 0.50), er99 = bc_lat_pct(&er.lat, 0.99);
    uint32_t in99 = bc_lat_pct(&er_ingest.lat, 0.99);
    double ex_rate = ex_ingest.seconds > 0 ? (double)ex_ingest.ok * BATCH / ex_ingest.seconds : 0;
    double er_rate = er_ingest.seconds > 0 ? (double)er_ingest.ok / er_ingest.seconds : 0;
    printf("ExportSubjectData (%ld accounts, one at a time) beside RecordUsage batches "
           "(32 in flight, %.0f events/s):\n"
           "  p50 %.2f ms, p99 %.2f ms, max %.2f ms\n"
           "EraseSubject (%ld accounts, one at a time) beside single-event RecordUsage "
           "(8 in flight, %.0f calls/s):\n"
           "  p50 %.2f ms, p99 %.2f ms, max %.2f ms\n"
           "  ingest p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
           b.o.exports, ex_rate, ex50 / 1000.0, ex99 / 1000.0, bc_lat_max(&ex.lat) / 1000.0,
           b.o.erasures, er_rate, er50 / 1000.0, er99 / 1000.0, bc_lat_max(&er.lat) / 1000.0,
           bc_lat_pct(&er_ingest.lat, 0.50) / 1000.0, in99 / 1000.0,
           bc_lat_max(&er_ingest.lat) / 1000.0);
    bc_print_peak_rss(rss);
    fails += bc_fail_if(stdout, "", ex.failed != 0, "export failed: %s", ex.why);
    fails += bc_fail_if(stdout, "", er.failed != 0, "erasure failed: %s", er.why);
    fails += bc_fail_if(stdout, "", ex_ingest.failed + er_ingest.failed != 0,
                        "ingest beside them failed: %s %s", ex_ingest.first_error,
                        er_ingest.first_error);
    fails +=
        bc_fail_if(stdout, "", ex99 >= 50000, "export p99 %.2f ms (target < 50)", ex99 / 1000.0);
    fails +=
        bc_fail_if(stdout, "", er99 >= 100000, "erasure p99 %.2f ms (target < 100)", er99 / 1000.0);
    fails += bc_fail_if(stdout, "", in99 >= 10000,
                        "ingest p99 %.2f ms during erasures (target < 10)", in99 / 1000.0);
    printf("RESULT accounts=%ld export_p99_ms=%.2f erase_p99_ms=%.2f ingest_p99_ms=%.2f "
           "peak_rss_kib=%ld fails=%d\n",
           b.o.accounts, ex99 / 1000.0, er99 / 1000.0, in99 / 1000.0, rss, fails);
    printf("%s\n", fails == 0 ? "PASS" : "FAIL");
    bc_lat_free(&ex.lat);
    bc_lat_free(&er.lat);
    bc_lat_free(&ex_ingest.lat);
    bc_lat_free(&er_ingest.lat);
    free(b.requests);
    if (bc_daemon_stop(PROG, &b.d, 30) != 0)
        fails++;
    mbt_daemon_cleanup(&b.d);
    return fails == 0 ? 0 : 1;
}
