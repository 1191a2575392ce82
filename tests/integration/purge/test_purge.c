/*
 * test_purge.c - forgetting on schedule, against the real daemon and the
 * real `minbilld purge`, with the test clock (MINBILL_TEST_NOW) to make
 * data old.
 *
 * One database lives through four clocks: four years ago (an invoice), three
 * years ago (two invoices, one later reversed by a credit note), 75 days
 * ago, and now (an invoice, the credit note). The daemon ran with a 90-day
 * acceptance window and no purge of its own. Then:
 *   - `purge --dry-run` prints what is due and removes nothing; a flag that
 *     contradicts the stored window is refused;
 *   - `purge` removes exactly what is past each rule: hashes older than the
 *     stored 90 days (the 75-day-old ones stay: a purge with its own 62-day
 *     default would delete them, and their replay would count twice),
 *     invoices past retention (their class key destroyed, rendering them is
 *     NOT_FOUND) but not the one a kept credit note reverses, closed subject
 *     requests past their retention; younger data stays and still works;
 *   - each category removed is one audit event, the chain intact;
 *   - a daemon restarted with a 62-day window and a 1-second interval purges
 *     the 75-day-old hashes by itself, audits and counts them (metrics).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "common.h"
#include "inv_util.h"
#include "minbill/v1/audit.pb-c.h"
#include "usage_util.h"

static mbt_server srv;
static iu_keys keys;
static char seller[MBT_PATH + 32];
static int year; /* this year (UTC) */
static int64_t now;

/* Starts the daemon at the clock `at` (NULL: the real one) with the 90-day
 * window and no periodic purge unless interval says otherwise. */
static int serve_at(const char *at, const char *window, const char *interval)
{
    if (at != NULL) {
        setenv("MINBILL_TEST_CLOCK", "unsafe-test-clock", 1);
        setenv("MINBILL_TEST_NOW", at, 1);
    } else {
        unsetenv("MINBILL_TEST_NOW");
    }
    const char *args[] = {
        "--seller-config", seller, "--acceptance-window-days", window, "--purge-interval-s",
        interval,          NULL};
    return mbt_serve(&srv, args);
}

static int64_t at_time(int y, int mon, int day)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mon - 1, .tm_mday = day, .tm_hour = 12};
    return (int64_t)timegm(&tm);
}

static long db(const char *sql)
{
    return mbt_db_long(srv.d.db, sql);
}

static int purge(const char *const *extra, char *out, size_t size)
{
    const char *args[16] = {"purge", "--db", srv.d.db, "--key-file", srv.d.key_file};
    size_t n = 5;
    for (size_t i = 0; extra != NULL && extra[i] != NULL && n < 15; i++)
        args[n++] = extra[i];
    args[n] = NULL;
    return mbt_run_minbilld(args, out, size);
}

static char old4[32], old3a[32], old3b[32], young[32], credit[32];

/* Four and three years ago: invoices with a 1-year retention, long over. */
static void build_old_years(void)
{
    char clock[32], period[16];
    snprintf(clock, sizeof clock, "%d-06-15T12:00:00Z", year - 4);
    CHECK(serve_at(clock, "90", "0") == 0);
    CHECK(mbt_log_count(&srv, "event=test_clock", NULL) >= 1);
    mbt_key(&srv, "platform", keys.platform);
    mbt_key(&srv, "finance", keys.finance);
    mbt_key(&srv, "admin", keys.admin);
    mbt_key(&srv, "support", keys.support);
    CHECK(iu_plan(&srv, &keys) == 0);
    CHECK(iu_account(&srv, &keys, "acc-a", "Autohaus A GmbH", "DE", "", "pro") == GRPC_STATUS_OK);
    CHECK(iu_account(&srv, &keys, "acc-b", "Autohaus B GmbH", "DE", "", "pro") == GRPC_STATUS_OK);
    CHECK(iu_usage(&srv, &keys, "e-old4", "acc-a", "messages", 10, at_time(year - 4, 5, 20)) ==
          GRPC_STATUS_OK);
    snprintf(period, sizeof period, "%d-05", year - 4);
    iu_run r;
    iu_billing(&srv, &keys, period, false, mbt_deadline_ms(30000), &r);
    CHECK(r.code == GRPC_STATUS_OK);
    iu_run_free(&r);
    iu_number_of(&srv, &keys, "acc-a", period, old4);
    CHECK(mbt_stop(&srv, SIGTERM) == 0);

    snprintf(clock, sizeof clock, "%d-06-15T12:00:00Z", year - 3);
    CHECK(serve_at(clock, "90", "0") == 0);
    CHECK(iu_usage(&srv, &keys, "e-old3a", "acc-a", "messages", 10, at_time(year - 3, 5, 20)) ==
          GRPC_STATUS_OK);
    CHECK(iu_usage(&srv, &keys, "e-old3b", "acc-b", "messages", 10, at_time(year - 3, 5, 20)) ==
          GRPC_STATUS_OK);
    snprintf(period, sizeof period, "%d-05", year - 3);
    iu_billing(&srv, &keys, period, false, mbt_deadline_ms(30000), &r);
    CHECK(r.code == GRPC_STATUS_OK);
    iu_run_free(&r);
    iu_number_of(&srv, &keys, "acc-a", period, old3a);
    iu_number_of(&srv, &keys, "acc-b", period, old3b);
    CHECK(mbt_stop(&srv, SIGTERM) == 0);
    CHECK(old4[0] != '\0' && old3a[0] != '\0' && old3b[0] != '\0');
}

/* 75 days ago (inside the stored 90-day window, outside the old default of
 * 62), and now: an invoice of last month, a credit note of an old one. */
static void build_recent(void)
{
    char clock[32], period[8];
    snprintf(clock, sizeof clock, "%lld", (long long)(now - 75 * 86400));
    CHECK(serve_at(clock, "90", "0") == 0);
    CHECK(iu_usage(&srv, &keys, "e-75", "acc-a", "messages", 5, now - 75 * 86400 - 60) ==
          GRPC_STATUS_OK);
    CHECK(mbt_stop(&srv, SIGTERM) == 0);

    CHECK(serve_at(NULL, "90", "0") == 0);
    CHECK(iu_account(&srv, &keys, "acc-c", "Autohaus C GmbH", "DE", "", "pro") == GRPC_STATUS_OK);
    int64_t when = iu_month_ago(1, period);
    CHECK(iu_usage(&srv, &keys, "e-now", "acc-c", "messages", 7, when) == GRPC_STATUS_OK);
    iu_run r;
    iu_billing(&srv, &keys, period, false, mbt_deadline_ms(30000), &r);
    CHECK(r.code == GRPC_STATUS_OK);
    iu_run_free(&r);
    iu_number_of(&srv, &keys, "acc-c", period, young);
    mb_error st;
    CHECK(iu_credit(&srv, &keys, old3b, "wrong plan", credit, &st) == GRPC_STATUS_OK);
    CHECK(young[0] != '\0' && credit[0] != '\0');
    CHECK(mbt_stop(&srv, SIGTERM) == 0);

    /* Subject requests (no RPC closes them yet): one closed four years
     * ago, one two years ago, one open for four years. */
    char sql[1024];
    int64_t us = 1000000;
    snprintf(sql, sizeof sql,
             "INSERT INTO subject_requests(request_id, kind, state, subject_type, verified_by,"
             " received_us, due_us, completed_us) VALUES"
             " ('sr-old', 'access', 'completed', 'account', 'id card', %lld, %lld, %lld),"
             " ('sr-young', 'erasure', 'rejected', 'account', 'id card', %lld, %lld, %lld),"
             " ('sr-open', 'access', 'open', 'account', 'id card', %lld, %lld, NULL);"
             "INSERT INTO subject_request_scope(request_id, account_id) VALUES"
             " ('sr-old', 'acc-a'), ('sr-young', 'acc-b'), ('sr-open', 'acc-a');"
             "INSERT INTO subject_request_notices(request_id, recipient) VALUES"
             " ('sr-old', 'tax authority'), ('sr-young', 'tax authority');",
             (long long)((now - 1500 * 86400) * us), (long long)((now - 1470 * 86400) * us),
             (long long)((now - 1460 * 86400) * us), (long long)((now - 740 * 86400) * us),
             (long long)((now - 710 * 86400) * us), (long long)((now - 730 * 86400) * us),
             (long long)((now - 1500 * 86400) * us), (long long)((now - 1470 * 86400) * us));
    CHECK(mu_sql(&srv, sql) == 0);
}

#define HASHES "SELECT count(*) FROM usage_idem"
#define INVOICES "SELECT count(*) FROM invoices"
#define CLASSES "SELECT count(*) FROM retention_keys"
#define REQUESTS "SELECT count(*) FROM subject_requests"

static void test_dry_run_and_refusal(void)
{
    long hashes = db(HASHES), invoices = db(INVOICES), classes = db(CLASSES),
         keys_n = db("SELECT count(*) FROM data_keys"), requests = db(REQUESTS),
         audit = db("SELECT count(*) FROM audit_events");
    CHECK(hashes == 5 && invoices == 5 && classes == 3 && requests == 3);
    char out[2048];
    const char *dry[] = {"--dry-run", NULL};
    CHECK(purge(dry, out, sizeof out) == 0);
    CHECK_CONTAINS(out, "would delete 3 usage idempotency hashes");
    /* old4 (its class key too) and old3a; old3b is pinned by the credit
     * note, which keeps its class key. */
    CHECK_CONTAINS(out, "would delete 2 invoices and credit notes and destroy 1 data key(s)");
    CHECK_CONTAINS(out, "would delete 1 closed subject requests");
    CHECK_CONTAINS(out, "acceptance window 90 days");
    /* The flag the old purge took: contradicting the stored window, refused. */
    const char *flag[] = {"--acceptance-window-days", "62", NULL};
    CHECK(purge(flag, out, sizeof out) == 2);
    CHECK(db(HASHES) == hashes && db(INVOICES) == invoices && db(CLASSES) == classes &&
          db("SELECT count(*) FROM data_keys") == keys_n && db(REQUESTS) == requests &&
          db("SELECT count(*) FROM audit_events") == audit);
    /* The test clock without its guard stops every command. */
    unsetenv("MINBILL_TEST_CLOCK");
    setenv("MINBILL_TEST_NOW", "2020-01-01", 1);
    CHECK(purge(dry, out, sizeof out) == 2);
    unsetenv("MINBILL_TEST_NOW");
}

static void test_purge_command(void)
{
    char out[2048];
    CHECK(purge(NULL, out, sizeof out) == 0);
    CHECK_CONTAINS(out, "deleted 3 usage idempotency hashes");
    CHECK_CONTAINS(out, "deleted 2 invoices and credit notes and destroyed 1 data key(s)");
    CHECK_CONTAINS(out, "deleted 1 closed subject requests");
    /* The 75-day-old hash and today's stay. */
    CHECK(db(HASHES) == 2);
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM usage_idem_runs WHERE last_day < %lld",
             (long long)(now / 86400 - 91));
    CHECK(db(sql) == 0);
    CHECK(db(INVOICES) == 3);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM invoices WHERE invoice_number IN ('%s', '%s')",
             old4, old3a);
    CHECK(db(sql) == 0);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM retention_keys WHERE class = 'invoice:NL:%d'",
             year - 3);
    CHECK(db(sql) == 0);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM retention_keys WHERE class = 'invoice:NL:%d'",
             year - 2);
    CHECK(db(sql) == 1); /* pinned by the credit note */
    CHECK(db("SELECT count(*) FROM data_keys WHERE dek_id NOT IN (SELECT dek_id FROM "
             "retention_keys) AND dek_id NOT IN (SELECT dek_id FROM accounts WHERE dek_id IS NOT "
             "NULL) AND dek_id NOT IN (SELECT dek_id FROM contacts)") == 0);
    CHECK(db("SELECT count(*) FROM subject_requests WHERE request_id = 'sr-old'") == 0);
    CHECK(db("SELECT count(*) FROM subject_request_scope WHERE request_id = 'sr-old'") == 0);
    CHECK(db("SELECT count(*) FROM subject_request_notices WHERE request_id = 'sr-old'") == 0);
    CHECK(db(REQUESTS) == 2);
    CHECK(db("SELECT count(*) FROM subject_request_notices") == 1);
    /* One audit event per category, counts only. */
    CHECK(db("SELECT count(*) FROM audit_events WHERE action = 'retention.purge' AND "
             "actor_key_id = 'local-operator'") == 3);
    CHECK(db("SELECT count(*) FROM audit_events WHERE action = 'retention.purge' AND target_id ="
             " 'invoices' AND purpose = 'retention: removed 2, destroyed 1 data key(s)'") == 1);
    /* Nothing is due any more. */
    CHECK(purge(NULL, out, sizeof out) == 0);
    CHECK_CONTAINS(out, "deleted 0 usage idempotency hashes");
    CHECK(db("SELECT count(*) FROM audit_events WHERE action = 'retention.purge'") == 3);
}

static void test_after_purge(void)
{
    CHECK(serve_at(NULL, "90", "0") == 0);
    char path[MBT_PATH + 64];
    snprintf(path, sizeof path, "%s/doc.json", srv.d.dir);
    mb_error st;
    CHECK(iu_render(&srv, &keys, old4, false, path, &st) == GRPC_STATUS_NOT_FOUND);
    CHECK(iu_render(&srv, &keys, old3a, false, path, &st) == GRPC_STATUS_NOT_FOUND);
    CHECK(iu_render(&srv, &keys, old3b, false, path, &st) == GRPC_STATUS_OK);
    CHECK(iu_render(&srv, &keys, young, true, path, &st) == GRPC_STATUS_OK);
    CHECK(iu_render(&srv, &keys, credit, true, path, &st) == GRPC_STATUS_OK);
    /* A replay of the 75-day-old event is still a duplicate; one of the
     * purged is refused as too old, never counted again. */
    mu_event e75 = {.key = "e-75",
                    .account = "acc-a",
                    .metric = "messages",
                    .quantity = 5,
                    .occurred = now - 75 * 86400 - 60};
    int64_t accepted = -1, duplicates = -1;
    CHECK(mu_record(srv.ch, keys.platform, &e75, 1, &accepted, &duplicates, &st) == GRPC_STATUS_OK);
    CHECK(accepted == 0 && duplicates == 1);
    mu_event old = {.key = "e-old3a",
                    .account = "acc-a",
                    .metric = "messages",
                    .quantity = 10,
                    .occurred = at_time(year - 3, 5, 20)};
    CHECK(mu_record(srv.ch, keys.platform, &old, 1, &accepted, &duplicates, &st) ==
          GRPC_STATUS_INVALID_ARGUMENT);
    CHECK(mbt_stop(&srv, SIGTERM) == 0);
}

/* GET /metrics from the daemon's endpoint (its port from the log): the
 * body, malloc'd, or NULL. */
static char *scrape_metrics(void)
{
    char *log = mbt_read_file(srv.d.log), *body = NULL;
    const char *at = log != NULL ? strstr(log, "event=metrics_listening") : NULL;
    at = at != NULL ? strstr(at, " port=") : NULL;
    int port = at != NULL ? atoi(at + 6) : 0;
    free(log);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    static const char req[] = "GET /metrics HTTP/1.0\r\n\r\n";
    size_t cap = 1 << 20, len = 0;
    if (port > 0 && fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        write(fd, req, sizeof req - 1) == (ssize_t)(sizeof req - 1) &&
        (body = malloc(cap)) != NULL) {
        ssize_t r;
        while (len + 1 < cap && (r = read(fd, body + len, cap - len - 1)) > 0)
            len += (size_t)r;
        body[len] = '\0';
    }
    if (fd >= 0)
        close(fd);
    return body;
}

/* The daemon's own run: restarted with a 62-day window (stored) and a
 * 1-second interval, it removes the 75-day-old hash without the command. */
static void test_daemon_purges(void)
{
    setenv("MINBILL_METRICS_LISTEN", "127.0.0.1:0", 1);
    CHECK(serve_at(NULL, "62", "1") == 0);
    unsetenv("MINBILL_METRICS_LISTEN");
    CHECK(db("SELECT value FROM settings WHERE name = 'acceptance_window_days'") == 62);
    double until = mbt_now() + mbt_ms(15000) / 1000.0;
    while (db(HASHES) != 1 && mbt_now() < until)
        mbt_sleep_ms(100);
    CHECK(db(HASHES) == 1);
    while (mbt_log_count(&srv, "event=purge category=usage_idempotency_hashes removed=1", NULL) ==
               0 &&
           mbt_now() < until)
        mbt_sleep_ms(100);
    CHECK(mbt_log_count(&srv, "event=purge category=usage_idempotency_hashes removed=1", NULL) ==
          1);
    CHECK(db("SELECT count(*) FROM audit_events WHERE action = 'retention.purge' AND "
             "actor_key_id = 'system' AND target_id = 'usage_idempotency_hashes'") == 1);
    /* Later runs find nothing more: no further events. */
    mbt_sleep_ms(mbt_ms(2500));
    CHECK(db("SELECT count(*) FROM audit_events WHERE actor_key_id = 'system'") == 1);
    char *m = scrape_metrics();
    CHECK_CONTAINS(m, "minbill_purged_total{category=\"usage_idempotency_hashes\"} 1\n");
    CHECK_CONTAINS(m, "minbill_purged_total{category=\"invoices\"} 0\n");
    free(m);
}

/* Audit events past their retention go, anchored: the chain still
 * verifies, and younger events stay. (The test clock is not used here: the
 * invoices' no-delete trigger keeps SQLite's real date.) */
static int serve_audit_1000(void)
{
    const char *args[] = {"--seller-config",
                          seller,
                          "--acceptance-window-days",
                          "62",
                          "--purge-interval-s",
                          "0",
                          "--audit-retention-days",
                          "1000",
                          NULL};
    unsetenv("MINBILL_TEST_NOW");
    return mbt_serve(&srv, args);
}

static void test_audit_retention(void)
{
    CHECK(mbt_stop(&srv, SIGTERM) == 0);
    CHECK(serve_audit_1000() == 0);
    char privacy[MBT_KEY_MAX];
    mbt_key(&srv, "privacy", privacy);
    CHECK(mbt_stop(&srv, SIGTERM) == 0);
    char older[160], younger[160], out[2048];
    long long cutoff = (long long)(now - 1000LL * 86400) * 1000000;
    snprintf(older, sizeof older, "SELECT count(*) FROM audit_events WHERE occurred_us < %lld",
             cutoff);
    snprintf(younger, sizeof younger, "SELECT count(*) FROM audit_events WHERE occurred_us >= %lld",
             cutoff);
    long kept = db(younger);
    CHECK(db(older) > 0 && kept > 0);
    int rc = purge(NULL, out, sizeof out);
    if (rc != 0)
        fprintf(stderr, "   minbilld purge (%d): %s\n", rc, out);
    CHECK(rc == 0);
    CHECK_CONTAINS(out, "audit events");
    CHECK(db(older) == 0);
    CHECK(db(younger) >= kept);
    CHECK(db("SELECT count(*) FROM audit_anchors") == 1);

    CHECK(serve_audit_1000() == 0);
    Minbill__V1__VerifyAuditChainRequest req = MINBILL__V1__VERIFY_AUDIT_CHAIN_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    mb_error st;
    mbc_unary(srv.ch, "/minbill.v1.Audit/VerifyAuditChain", privacy, &req.base,
              &minbill__v1__verify_audit_chain_response__descriptor, 10000, &resp, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    Minbill__V1__VerifyAuditChainResponse *v = (Minbill__V1__VerifyAuditChainResponse *)resp;
    CHECK(v != NULL && v->intact);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
}

int main(void)
{
    now = (int64_t)time(NULL);
    struct tm tm;
    time_t t = (time_t)now;
    gmtime_r(&t, &tm);
    year = tm.tm_year + 1900;
    if (mbt_daemon_init(&srv.d) != 0 || iu_write_seller(&srv, seller) != 0)
        return 1;
    /* A one-year retention: the old years' invoices are long past it. */
    char *conf = mbt_read_file(seller);
    char *r = conf != NULL ? strstr(conf, "retention_years = 7") : NULL;
    FILE *f = r != NULL ? fopen(seller, "w") : NULL;
    if (f == NULL)
        return 1;
    r[strlen("retention_years = ")] = '1';
    fputs(conf, f);
    fclose(f);
    free(conf);
    RUN(build_old_years);
    RUN(build_recent);
    RUN(test_dry_run_and_refusal);
    RUN(test_purge_command);
    RUN(test_after_purge);
    RUN(test_daemon_purges);
    RUN(test_audit_retention);
    CHECK(mbt_down(&srv) == 0);
    return check_summary();
}
