/*
 * bench_purge.c - the daemon's retention purge over a large backlog, and
 * what it does to single-event ingest meanwhile (issue 9 §5: "ingest's
 * single-event p99 during purges under 10 ms").
 *
 * Steps, against a private minbilld (WAL fsynced before each answer):
 *   1. setup: the plan "bench" and an account, through the daemon (its
 *      periodic purge off); the daemon is stopped.
 *   2. plant, with SQLite directly: --hashes idempotency hashes in runs
 *      100 days old (past the 62-day window) and --invoices issued
 *      documents of --doc-bytes each in a retention class that ended in
 *      2000 (the purge deletes them without opening them).
 *   3. the daemon is started with --purge-interval-s 1: its first run
 *      begins a second later. Single-event RecordUsage (--inflight calls
 *      in flight) runs for --seconds from the start; the purge's log lines
 *      say when each category was done and how long it took.
 * PASS: everything planted is gone, the purge finished inside the window,
 * ingest p99 during it < 10 ms, no ingest call failed.
 *
 * Exit status: 0 PASS, 1 FAIL, 2 usage error.
 */
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_common.h"

#ifndef MINBILLD_DEFAULT
#define MINBILLD_DEFAULT "minbilld"
#endif

#define PROG "bench_purge"
#define TIMEOUT_MS 30000
#define ACCOUNT "pb-live"

static struct {
    long hashes, invoices, doc_bytes, inflight;
    double seconds;
} opt = {.hashes = 2000000, .invoices = 20000, .doc_bytes = 3000, .inflight = 16, .seconds = 15};

static mbt_daemon d;
static atomic_ullong seq;
static int64_t now_s;

static void usage(FILE *f)
{
    fprintf(f, "usage: " PROG " [--hashes N] [--invoices N] [--doc-bytes N] [--inflight N]"
               " [--seconds S]\n");
}

static int setup(void)
{
    char admin[128], platform[128];
    const char *off[] = {"--purge-interval-s", "0", NULL};
    if (bc_daemon_start(PROG, &d, MINBILLD_DEFAULT, off) != 0 ||
        mbt_daemon_api_key(&d, "admin", admin, sizeof admin) != 0 ||
        mbt_daemon_api_key(&d, "platform", platform, sizeof platform) != 0)
        return -1;
    mbc_channel_t *ch = mbc_channel_new(d.target);
    int rc = ch != NULL && mbc_channel_wait_ready(ch, TIMEOUT_MS) == 0 &&
                     bc_upsert_bench_plan(PROG, ch, admin, TIMEOUT_MS) == 0 &&
                     bc_upsert_account(PROG, ch, platform, ACCOUNT, "bench", TIMEOUT_MS) == 0
                 ? 0
                 : -1;
    mbc_channel_free(ch);
    return rc == 0 ? bc_daemon_stop(PROG, &d, 30) : -1;
}

static int sql(sqlite3 *db, const char *s)
{
    char *msg = NULL;
    if (sqlite3_exec(db, s, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, PROG ": plant: %s\n", msg ? msg : "?");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

static int plant(void)
{
    sqlite3 *db = NULL;
    char s[1024];
    int rc = -1;
    long day = (long)(now_s / 86400) - 100;
    if (sqlite3_open(d.db, &db) != SQLITE_OK || sql(db, "BEGIN") != 0)
        goto out;
    for (long run = 0, left = opt.hashes; left > 0; run++, left -= 32768) {
        long n = left < 32768 ? left : 32768;
        snprintf(s, sizeof s,
                 "INSERT INTO usage_idem_runs(run, first_day, last_day) VALUES (%ld, %ld, %ld);"
                 "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %ld)"
                 " INSERT INTO usage_idem(run, hash) SELECT %ld, randomblob(16) FROM c",
                 -1000 - run, day, day, n, -1000 - run);
        if (sql(db, s) != 0)
            goto out;
    }
    snprintf(s, sizeof s,
             "INSERT INTO data_keys(dek_id, master_version, nonce, wrapped)"
             " SELECT 1000000, max(version), randomblob(24), randomblob(48) FROM keyring_master;"
             "INSERT INTO retention_keys(class, dek_id, retain_until)"
             " VALUES ('invoice:NL:2000', 1000000, '2000-12-31');"
             "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < %ld)"
             " INSERT INTO invoices(invoice_number, type, account_id, period, issue_date,"
             " currency, net_minor, tax_minor, gross_minor, retention_class, retain_until,"
             " document_ct, created_us) SELECT printf('INV-1993-%%06d', i), 'invoice',"
             " 'pb-old-' || i, '1993-05', '1993-06-01', 'EUR', 100, 21, 121, 'invoice:NL:2000',"
             " '2000-12-31', randomblob(%ld), 0 FROM c",
             opt.invoices, opt.doc_bytes);
    if (sql(db, s) != 0 || sql(db, "COMMIT") != 0)
        goto out;
    rc = 0;
out:
    sqlite3_close(db);
    return rc;
}

static long count(const char *q)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long v = -1;
    if (sqlite3_open_v2(d.db, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, q, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        v = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static int make_event(void *user, size_t thread, void *ctx, grpc_byte_buffer **req, char *why,
                      size_t why_size)
{
    (void)user, (void)thread, (void)ctx;
    char key[32];
    snprintf(key, sizeof key, "live-%llu", (unsigned long long)atomic_fetch_add(&seq, 1));
    return bc_pack_usage_event(ACCOUNT, "messages", key, now_s, req, why, why_size);
}

static int check_counted(void *user, size_t thread, void *ctx, const uint8_t *resp, size_t len,
                         char *why, size_t why_size)
{
    (void)user, (void)thread, (void)ctx;
    return bc_check_usage_counts(resp, len, 1, 0, why, why_size);
}

/* The value of `key` (" ms=") in the daemon's "event=purge category=CAT"
 * line, or -1. */
static long purge_figure(const char *category, const char *key)
{
    char line[1024], needle[96];
    long v = -1;
    snprintf(needle, sizeof needle, "event=purge category=%s ", category);
    FILE *f = fopen(d.log, "r");
    while (f != NULL && v < 0 && fgets(line, sizeof line, f) != NULL) {
        const char *at = strstr(line, needle);
        at = at != NULL ? strstr(at, key) : NULL;
        if (at != NULL)
            v = strtol(at + strlen(key), NULL, 10);
    }
    if (f != NULL)
        fclose(f);
    return v;
}

int main(int argc, char **argv)
{
    const bc_option opts[] = {
        {"hashes", BC_ARG_COUNT, &opt.hashes, 1, 100000000},
        {"invoices", BC_ARG_COUNT, &opt.invoices, 1, 10000000},
        {"doc-bytes", BC_ARG_COUNT, &opt.doc_bytes, 16, 65536},
        {"inflight", BC_ARG_COUNT, &opt.inflight, 1, 1024},
        {"seconds", BC_ARG_SECONDS, &opt.seconds, 1, 600},
    };
    int rc = bc_parse_options(PROG, argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc != 0)
        return bc_options_exit(PROG, rc, usage);
    now_s = (int64_t)time(NULL);
    char platform[128];
    int fails = 0;
    int64_t t0 = bc_now_ns();
    if (setup() != 0 || plant() != 0) {
        mbt_daemon_cleanup(&d);
        return 1;
    }
    printf(PROG ": planted %ld expired idempotency hashes and %ld expired invoices of %ld bytes"
                " in %.1f s\n",
           opt.hashes, opt.invoices, opt.doc_bytes, (double)(bc_now_ns() - t0) / 1e9);
    const char *on[] = {"--purge-interval-s", "1", NULL};
    if (mbt_daemon_start(&d, on) != 0 ||
        mbt_daemon_api_key(&d, "platform", platform, sizeof platform) != 0) {
        mbt_daemon_cleanup(&d);
        return 1;
    }
    bc_load_spec live = {.prog = PROG,
                         .target = d.target,
                         .method = "/minbill.v1.Metering/RecordUsage",
                         .api_key = platform,
                         .threads = 2,
                         .connections = 2,
                         .inflight = (size_t)opt.inflight,
                         .deadline_ms = TIMEOUT_MS,
                         .measure_s = opt.seconds,
                         .make = make_event,
                         .check = check_counted};
    bc_load_result r;
    int load_rc = bc_load_run(&live, &r);
    long hashes_ms = purge_figure("usage_idempotency_hashes", " ms="),
         invoices_ms = purge_figure("invoices", " ms="),
         hashes_step = purge_figure("usage_idempotency_hashes", " longest_step_us="),
         invoices_step = purge_figure("invoices", " longest_step_us=");
    long hashes_left = count("SELECT count(*) FROM usage_idem WHERE run <= -1000");
    long invoices_left = count("SELECT count(*) FROM invoices WHERE retention_class ="
                               " 'invoice:NL:2000'");
    uint32_t p50 = bc_lat_pct(&r.lat, 0.50), p99 = bc_lat_pct(&r.lat, 0.99);
    printf("purge (the daemon's own run, a second after start):\n"
           "  %ld hashes in %ld ms, %ld invoices and their class key in %ld ms; left: %ld, %ld\n"
           "  longest step on the writer: hashes %.2f ms, invoices %.2f ms\n"
           "single-event RecordUsage meanwhile (%ld in flight, %.0f s):\n"
           "  %.0f calls/s, p50 %.2f ms, p99 %.2f ms, max %.2f ms\n",
           opt.hashes, hashes_ms, opt.invoices, invoices_ms, hashes_left, invoices_left,
           hashes_step / 1000.0, invoices_step / 1000.0, opt.inflight, opt.seconds,
           r.seconds > 0 ? (double)r.ok / r.seconds : 0, p50 / 1000.0, p99 / 1000.0,
           bc_lat_max(&r.lat) / 1000.0);
    fails += bc_fail_if(stdout, "",
                        hashes_ms < 0 || invoices_ms < 0 || hashes_left != 0 || invoices_left != 0,
                        "the purge did not finish inside the window");
    fails +=
        bc_fail_if(stdout, "", load_rc != 0 || r.failed != 0, "ingest failed: %s", r.first_error);
    fails += bc_fail_if(stdout, "", p99 >= 10000,
                        "ingest p99 %.2f ms during the purge (target < 10)", p99 / 1000.0);
    printf("RESULT hashes=%ld hashes_ms=%ld invoices=%ld invoices_ms=%ld hashes_step_ms=%.2f "
           "invoices_step_ms=%.2f ingest_p99_ms=%.2f\n",
           opt.hashes, hashes_ms, opt.invoices, invoices_ms, hashes_step / 1000.0,
           invoices_step / 1000.0, p99 / 1000.0);
    bc_load_result_free(&r);
    fails += bc_daemon_stop(PROG, &d, 30) != 0;
    mbt_daemon_cleanup(&d);
    printf("%s\n", fails == 0 ? "PASS" : "FAIL");
    return fails == 0 ? 0 : 1;
}
