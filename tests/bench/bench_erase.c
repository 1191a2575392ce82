/*
 * bench_erase.c - erasures (Privacy.EraseSubject) through the real daemon
 * while ingest runs (issue 9's figures):
 *
 *   1. N large accounts (default 4) of C contacts each (default 2,000) and
 *      the four public test cards, and S small accounts (default 20) of 5
 *      contacts and one card, each with an open erasure request;
 *   2. another client sends single-event RecordUsage calls and records
 *      their latency, while the large accounts and then the small ones are
 *      erased one after another.
 *
 * Targets: ingest p99 < 10 ms during the erasures; a small account's
 * erasure < 100 ms. Every erasure must succeed and report every contact.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_common.h"
#include "minbill/v1/accounts.pb-c.h"
#include "minbill/v1/metering.pb-c.h"
#include "minbill/v1/privacy.pb-c.h"

#define PROG "bench_erase"
#define KEY_MAX 128
#define PER_UPSERT 50
#define SMALL_CONTACTS 5
#define CALL_DEADLINE_MS 600000

static const char *const CARDS[] = {"4242424242424242", "5555555555554444", "4111111111111111",
                                    "378282246310005"};

typedef struct bench_opts {
    long accounts, contacts, small, ingest_inflight, threads;
    double ingest_seconds;
} bench_opts;

typedef struct erasure {
    char account[32], request[64];
    double seconds;
    long contacts;
    int code;
} erasure;

typedef struct bench {
    bench_opts o;
    mbt_daemon d;
    mbc_channel_t *ch;
    char platform[KEY_MAX], admin[KEY_MAX], privacy[KEY_MAX];
    int64_t now;
    _Atomic uint64_t seq;
    erasure *e; /* the large accounts, then the small ones */
    size_t n_e;
    pthread_t eraser;
    double erase_s;
    _Atomic bool erase_done;
} bench;

static int unary(bench *b, const char *method, const char *key, const ProtobufCMessage *req,
                 const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp)
{
    mb_error st;
    ProtobufCMessage *r = NULL;
    mbc_unary(b->ch, method, key, req, desc, CALL_DEADLINE_MS, &r, &st);
    if (st.code != GRPC_STATUS_OK) {
        fprintf(stderr, PROG ": %s: %s %s\n", method, mb_status_name(st.code), st.msg);
        if (r != NULL)
            protobuf_c_message_free_unpacked(r, NULL);
        return -1;
    }
    if (resp != NULL)
        *resp = r;
    else if (r != NULL)
        protobuf_c_message_free_unpacked(r, NULL);
    return 0;
}

/* --- setup ------------------------------------------------------------------ */

static int start(bench *b)
{
    char threads[16];
    snprintf(threads, sizeof threads, "%ld", b->o.threads > 0 ? b->o.threads : bc_cores());
    const char *args[] = {"--threads", threads, "--rate-limit", "platform=0", "--rate-limit",
                          "privacy=0", NULL};
    if (bc_daemon_start(PROG, &b->d, MINBILLD_DEFAULT, args) != 0 ||
        mbt_daemon_api_key(&b->d, "platform", b->platform, KEY_MAX) != 0 ||
        mbt_daemon_api_key(&b->d, "admin", b->admin, KEY_MAX) != 0 ||
        mbt_daemon_api_key(&b->d, "privacy", b->privacy, KEY_MAX) != 0 ||
        (b->ch = mbc_channel_new(b->d.target)) == NULL) {
        fprintf(stderr, PROG ": starting minbilld or creating keys failed\n");
        return -1;
    }
    return 0;
}

/* UpsertAccount of contacts [from, from + n) of account id. */
static int upsert_contacts(bench *b, const char *id, long from, long n)
{
    Minbill__V1__Contact c[PER_UPSERT], *cp[PER_UPSERT];
    char cid[PER_UPSERT][24], name[PER_UPSERT][64], email[PER_UPSERT][80];
    for (long i = 0; i < n; i++) {
        minbill__v1__contact__init(&c[i]);
        snprintf(cid[i], sizeof cid[i], "c%05ld", from + i);
        snprintf(name[i], sizeof name[i], "Person %ld of %s", from + i, id);
        snprintf(email[i], sizeof email[i], "p%ld@%s.example", from + i, id);
        c[i].contact_id = cid[i];
        c[i].name = name[i];
        c[i].email = email[i];
        c[i].phone = "+4930123456789";
        c[i].role = MINBILL__V1__CONTACT_ROLE__CONTACT_ROLE_BILLING;
        cp[i] = &c[i];
    }
    Minbill__V1__PostalAddress addr = MINBILL__V1__POSTAL_ADDRESS__INIT;
    addr.line1 = "Hauptstrasse 1";
    addr.postal_code = "10115";
    addr.city = "Berlin";
    addr.country_code = "DE";
    Minbill__V1__Account acc = MINBILL__V1__ACCOUNT__INIT;
    acc.account_id = (char *)id;
    acc.legal_name = "Erasure Bench e.K.";
    acc.billing_address = &addr;
    acc.currency = "EUR";
    acc.contacts = cp;
    acc.n_contacts = (size_t)n;
    Minbill__V1__UpsertAccountRequest req = MINBILL__V1__UPSERT_ACCOUNT_REQUEST__INIT;
    req.account = &acc;
    return unary(b, "/minbill.v1.Accounts/UpsertAccount", b->platform, &req.base,
                 &minbill__v1__account__descriptor, NULL);
}

static int attach_card(bench *b, const char *id, const char *pan)
{
    Minbill__V1__CardDetails card = MINBILL__V1__CARD_DETAILS__INIT;
    card.pan = (char *)pan;
    card.exp_month = 12;
    card.exp_year = 2031;
    card.holder_name = "Erasure Bench";
    Minbill__V1__AttachPaymentMethodRequest req = MINBILL__V1__ATTACH_PAYMENT_METHOD_REQUEST__INIT;
    req.account_id = (char *)id;
    req.method_case = MINBILL__V1__ATTACH_PAYMENT_METHOD_REQUEST__METHOD_CARD;
    req.card = &card;
    return unary(b, "/minbill.v1.Accounts/AttachPaymentMethod", b->platform, &req.base,
                 &minbill__v1__payment_method__descriptor, NULL);
}

static int open_erasure(bench *b, erasure *e)
{
    Minbill__V1__OpenSubjectRequestRequest req = MINBILL__V1__OPEN_SUBJECT_REQUEST_REQUEST__INIT;
    req.kind = MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_ERASURE;
    req.subject_case = MINBILL__V1__OPEN_SUBJECT_REQUEST_REQUEST__SUBJECT_ACCOUNT_ID;
    req.account_id = e->account;
    req.verified_by = "bench";
    ProtobufCMessage *r = NULL;
    if (unary(b, "/minbill.v1.Privacy/OpenSubjectRequest", b->privacy, &req.base,
              &minbill__v1__subject_request__descriptor, &r) != 0)
        return -1;
    snprintf(e->request, sizeof e->request, "%s", ((Minbill__V1__SubjectRequest *)r)->request_id);
    protobuf_c_message_free_unpacked(r, NULL);
    return 0;
}

static int setup_account(bench *b, erasure *e, long contacts, size_t cards)
{
    for (long at = 0; at < contacts; at += PER_UPSERT)
        if (upsert_contacts(b, e->account, at,
                            contacts - at < PER_UPSERT ? contacts - at : PER_UPSERT) != 0)
            return -1;
    for (size_t i = 0; i < cards; i++)
        if (attach_card(b, e->account, CARDS[i]) != 0)
            return -1;
    return open_erasure(b, e);
}

/* EraseSubject of e's request; e says how long it took and how many
 * contacts it reported. 0 if it succeeded. */
static int erase_one(bench *b, mbc_channel_t *ch, erasure *e)
{
    Minbill__V1__EraseSubjectRequest req = MINBILL__V1__ERASE_SUBJECT_REQUEST__INIT;
    req.request_id = e->request;
    ProtobufCMessage *r = NULL;
    mb_error st;
    int64_t s0 = bc_now_ns();
    mbc_unary(ch, "/minbill.v1.Privacy/EraseSubject", b->privacy, &req.base,
              &minbill__v1__erasure_report__descriptor, CALL_DEADLINE_MS, &r, &st);
    e->seconds = (double)(bc_now_ns() - s0) / 1e9;
    e->code = st.code;
    for (size_t j = 0; r != NULL && j < ((Minbill__V1__ErasureReport *)r)->n_erased; j++)
        if (strcmp(((Minbill__V1__ErasureReport *)r)->erased[j]->category, "contact") == 0)
            e->contacts++;
    if (r != NULL)
        protobuf_c_message_free_unpacked(r, NULL);
    if (st.code != GRPC_STATUS_OK)
        fprintf(stderr, PROG ": erasing %s: %s %s\n", e->account, mb_status_name(st.code), st.msg);
    return st.code == GRPC_STATUS_OK ? 0 : -1;
}

static int setup(bench *b)
{
    b->n_e = (size_t)(b->o.accounts + b->o.small);
    if ((b->e = calloc(b->n_e, sizeof *b->e)) == NULL)
        return -1;
    if (bc_upsert_bench_plan(PROG, b->ch, b->admin, CALL_DEADLINE_MS) != 0 ||
        bc_upsert_account(PROG, b->ch, b->platform, "live", "bench", CALL_DEADLINE_MS) != 0)
        return -1;
    int64_t t0 = bc_now_ns();
    for (size_t i = 0; i < b->n_e; i++) {
        bool big = i < (size_t)b->o.accounts;
        snprintf(b->e[i].account, sizeof b->e[i].account, "%s-%zu", big ? "big" : "small", i);
        if (setup_account(b, &b->e[i], big ? b->o.contacts : SMALL_CONTACTS, big ? 4 : 1) != 0)
            return -1;
    }
    /* One erasure before the measurement: its WAL scrub truncates what the
     * setup wrote, so the window sees the steady state. */
    erasure warm = {.account = "warm-up"};
    if (setup_account(b, &warm, SMALL_CONTACTS, 1) != 0 || erase_one(b, b->ch, &warm) != 0)
        return -1;
    bc_sleep_ms(1000);
    printf("setup: %ld accounts of %ld contacts, %ld of %d, in %.1f s\n", b->o.accounts,
           b->o.contacts, b->o.small, SMALL_CONTACTS, (double)(bc_now_ns() - t0) / 1e9);
    fflush(stdout);
    return 0;
}

/* --- the erasures --------------------------------------------------------------- */

static void *erase_all(void *arg)
{
    bench *b = arg;
    mbc_channel_t *ch = mbc_channel_new(b->d.target);
    int64_t t0 = bc_now_ns();
    for (size_t i = 0; i < b->n_e; i++)
        erase_one(b, ch, &b->e[i]);
    b->erase_s = (double)(bc_now_ns() - t0) / 1e9;
    mbc_channel_free(ch);
    atomic_store(&b->erase_done, true);
    return NULL;
}

static int make_single_event(void *user, size_t thread, void *ctx, grpc_byte_buffer **req,
                             char *why, size_t why_size)
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
    ev.account_id = "live";
    ev.metric = "messages";
    ev.quantity = 1;
    ev.occurred_at = &ts;
    Minbill__V1__RecordUsageRequest r = MINBILL__V1__RECORD_USAGE_REQUEST__INIT;
    r.n_events = 1;
    r.events = &evp;
    return bc_pack_request(&r.base, req, why, why_size);
}

static int check_one_accepted(void *user, size_t thread, void *ctx, const uint8_t *resp, size_t len,
                              char *why, size_t why_size)
{
    (void)user;
    (void)thread;
    (void)ctx;
    return bc_check_usage_counts(resp, len, 1, 0, why, why_size);
}

static int compare_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: " PROG " [--accounts N] [--contacts C] [--small S] [--ingest-inflight N]\n"
               "       [--ingest-seconds T] [--threads N]\n"
               "  --accounts N          large accounts erased (default 4)\n"
               "  --contacts C          contacts of each large account (default 2000)\n"
               "  --small S             small accounts (5 contacts, 1 card) erased after\n"
               "                        them (default 20)\n"
               "  --ingest-inflight N   single-event RecordUsage calls in flight (default 8)\n"
               "  --ingest-seconds T    how long ingest is measured (default 10; the\n"
               "                        erasures start with it)\n"
               "  --threads N           daemon completion-queue threads (default: cores)\n");
}

int main(int argc, char **argv)
{
    bench b = {.o = {.accounts = 4,
                     .contacts = 2000,
                     .small = 20,
                     .ingest_inflight = 8,
                     .ingest_seconds = 10}};
    const bc_option opts[] = {
        {"accounts", BC_ARG_COUNT, &b.o.accounts, 0, 1000},
        {"contacts", BC_ARG_COUNT, &b.o.contacts, 1, 100000},
        {"small", BC_ARG_COUNT, &b.o.small, 0, 100000},
        {"ingest-inflight", BC_ARG_COUNT, &b.o.ingest_inflight, 1, 1024},
        {"ingest-seconds", BC_ARG_SECONDS, &b.o.ingest_seconds, 1, 3600},
        {"threads", BC_ARG_COUNT, &b.o.threads, 1, 64},
    };
    int rc = bc_parse_options(PROG, argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc != 0)
        return bc_options_exit(PROG, rc, usage);
    b.now = (int64_t)time(NULL) - 60;
    if (start(&b) != 0 || setup(&b) != 0) {
        if (b.ch != NULL)
            mbc_channel_free(b.ch);
        free(b.e);
        mbt_daemon_cleanup(&b.d);
        return 1;
    }

    bc_cpu cpu;
    bc_cpu_begin(&cpu, b.d.pid);
    pthread_create(&b.eraser, NULL, erase_all, &b);
    bc_load_spec live = {.prog = PROG,
                         .target = b.d.target,
                         .method = "/minbill.v1.Metering/RecordUsage",
                         .api_key = b.platform,
                         .threads = 1,
                         .connections = 1,
                         .inflight = (size_t)b.o.ingest_inflight,
                         .deadline_ms = 30000,
                         .measure_s = b.o.ingest_seconds,
                         .user = &b,
                         .make = make_single_event,
                         .check = check_one_accepted};
    bc_load_result ingest;
    int ingest_rc = bc_load_run(&live, &ingest);
    bool overlapped = !atomic_load(&b.erase_done);
    pthread_join(b.eraser, NULL);
    bc_cpu_end(&cpu);

    int fails = 0;
    double big_s = 0, *small_s = calloc(b.o.small + 1, sizeof *small_s);
    long big_contacts = 0;
    for (size_t i = 0; i < b.n_e; i++) {
        erasure *e = &b.e[i];
        bool big = i < (size_t)b.o.accounts;
        long want = big ? b.o.contacts : SMALL_CONTACTS;
        fails += bc_fail_if(stdout, "", e->code != 0 || e->contacts != want,
                            "erasure of %s ended %d with %ld of %ld contacts", e->account, e->code,
                            e->contacts, want);
        if (big) {
            big_s += e->seconds;
            big_contacts += e->contacts;
        } else if (small_s != NULL) {
            small_s[i - (size_t)b.o.accounts] = e->seconds;
        }
    }
    double small_p50 = 0, small_max = 0;
    if (small_s != NULL && b.o.small > 0) {
        qsort(small_s, (size_t)b.o.small, sizeof *small_s, compare_double);
        small_p50 = small_s[(b.o.small - 1) / 2];
        small_max = small_s[b.o.small - 1];
    }
    free(small_s);
    uint32_t p50 = bc_lat_pct(&ingest.lat, 0.50), p99 = bc_lat_pct(&ingest.lat, 0.99);
    double rate = ingest.seconds > 0 ? (double)ingest.ok / ingest.seconds : 0;
    printf("erasures (one after another, %.2f s in all, %s):\n"
           "  large: %ld accounts, %.2f s each on average, %.0f contacts/s\n"
           "  small (%d contacts, 1 card): %ld accounts, p50 %.1f ms, max %.1f ms\n"
           "  CPU meanwhile            daemon %.1f s, this process %.1f s, other %.1f s\n"
           "single-event RecordUsage meanwhile (%ld in flight):\n"
           "  %.0f calls/s, p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
           b.erase_s, overlapped ? "ingest measured throughout" : "they ended inside the window",
           b.o.accounts, b.o.accounts > 0 ? big_s / (double)b.o.accounts : 0,
           big_s > 0 ? (double)big_contacts / big_s : 0, SMALL_CONTACTS, b.o.small,
           small_p50 * 1000, small_max * 1000, cpu.daemon, cpu.self, cpu.other, b.o.ingest_inflight,
           rate, p50 / 1000.0, p99 / 1000.0, bc_lat_max(&ingest.lat) / 1000.0);
    fails += bc_fail_if(stdout, "", ingest_rc != 0 || ingest.failed != 0,
                        "ingest during the erasures failed: %s", ingest.first_error);
    fails += bc_fail_if(stdout, "", p99 >= 10000,
                        "ingest p99 %.2f ms during the erasures (target < 10)", p99 / 1000.0);
    fails += bc_fail_if(stdout, "", small_max >= 0.1,
                        "a small account's erasure took %.1f ms (target < 100)", small_max * 1000);
    printf("RESULT accounts=%ld contacts=%ld small=%ld erase_s=%.2f small_p50_ms=%.1f "
           "small_max_ms=%.1f ingest_p99_ms=%.2f ingest_per_s=%.0f fails=%d\n",
           b.o.accounts, b.o.contacts, b.o.small, b.erase_s, small_p50 * 1000, small_max * 1000,
           p99 / 1000.0, rate, fails);
    printf("%s\n", fails == 0 ? "PASS" : "FAIL");
    bc_load_result_free(&ingest);
    mbc_channel_free(b.ch);
    free(b.e);
    if (bc_daemon_stop(PROG, &b.d, 30) != 0)
        fails++;
    mbt_daemon_cleanup(&b.d);
    return fails == 0 ? 0 : 1;
}
