/*
 * test_health.c - grpc.health.v1.Health against the real daemon.
 *
 * Covers: Check for the whole server and for each service in the method
 * table, NOT_FOUND for names that are not services (including prefixes and
 * full method paths), Watch sending the current status first (also
 * SERVICE_UNKNOWN for an unknown name, without ending the stream, as the
 * health protocol requires), Watch streams ended by the client's deadline or
 * by the client going away (the daemon must notice and keep serving), and
 * Watch streams open while the daemon is told to stop: NOT_SERVING, then
 * UNAVAILABLE, and a prompt exit 0 rather than waiting out the 10 s grace.
 * Storage that refuses writes: a read-only database file stops the start
 * (exit 1, saying so); a database locked by another process past the
 * writer's busy timeout makes Check and Watch say NOT_SERVING until a write
 * commits again.
 */
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "common.h"
#include "fixtures.h"
#include "grpc/health/v1/health.pb-c.h"

#define SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
#define NOT_SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
#define SERVICE_UNKNOWN GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN

static mbt_server srv; /* shared by the tests that leave the daemon running */

/* Waits until the log holds at least n lines with both needles. */
static bool wait_log(const mbt_server *s, const char *n1, const char *n2, int n, int timeout_ms)
{
    double until = mbt_now() + timeout_ms / 1000.0;
    while (mbt_log_count(s, n1, n2) < n) {
        if (mbt_now() > until)
            return false;
        mbt_sleep_ms(20);
    }
    return true;
}

static void test_check(void)
{
    static const char *const known[] = {
        "",
        "grpc.health.v1.Health",
        "minbill.v1.Metering",
        "minbill.v1.Accounts",
        "minbill.v1.Invoicing",
        "minbill.v1.Privacy",
        "minbill.v1.Audit",
    };
    /* Prefixes, extensions and method paths of real services are not
     * service names. */
    static const char *const unknown[] = {
        "minbill.v1.Nope",
        "minbill.v1",
        "minbill.v1.Account",
        "minbill.v1.Accountsx",
        "minbill.v1.Accounts/GetAccount",
        "/minbill.v1.Accounts",
        "Accounts",
        "minbill.v1.accounts",
    };
    mb_error st;
    for (size_t i = 0; i < sizeof known / sizeof *known; i++) {
        int serving = -1;
        CHECK(mbt_health_check(srv.ch, NULL, known[i], &serving, &st) == GRPC_STATUS_OK);
        CHECK_STATUS(st, GRPC_STATUS_OK);
        if (serving != SERVING)
            fprintf(stderr, "  service \"%s\": serving status %d\n", known[i], serving);
        CHECK(serving == SERVING);
    }
    for (size_t i = 0; i < sizeof unknown / sizeof *unknown; i++) {
        int serving = -1;
        mbt_health_check(srv.ch, NULL, unknown[i], &serving, &st);
        if (st.code != GRPC_STATUS_NOT_FOUND)
            fprintf(stderr, "  service \"%s\"\n", unknown[i]);
        CHECK_STATUS(st, GRPC_STATUS_NOT_FOUND);
        CHECK_CONTAINS(st.msg, "service");
    }
    CHECK(mbt_health_ok(srv.ch));
}

static void test_watch_sends_current_status_first(void)
{
    int serving = -1;
    mbc_call_t *w = mbt_watch_start(srv.ch, "", 0);
    CHECK(w != NULL);
    CHECK(mbt_watch_next(w, &serving) == 1);
    CHECK(serving == SERVING);

    mbc_call_t *acc = mbt_watch_start(srv.ch, "minbill.v1.Accounts", 0);
    serving = -1;
    CHECK(mbt_watch_next(acc, &serving) == 1);
    CHECK(serving == SERVING);

    /* Unknown service: SERVICE_UNKNOWN, and the stream stays open (the
     * service might appear later), so only the deadline ends it. */
    double t0 = mbt_now();
    mbc_call_t *unk = mbt_watch_start(srv.ch, "minbill.v1.Nope", mbt_deadline_ms(500));
    serving = -1;
    CHECK(mbt_watch_next(unk, &serving) == 1);
    CHECK(serving == SERVICE_UNKNOWN);
    CHECK(mbt_watch_next(unk, &serving) != 1);
    mb_error st;
    mbc_call_finish(unk, &st);
    CHECK_STATUS(st, GRPC_STATUS_DEADLINE_EXCEEDED);
    CHECK(mbt_now() - t0 >= mbt_deadline_ms(450) / 1000.0);
    mbc_call_free(unk);

    /* The client walks away: the daemon must finish those calls (logged as
     * ended) and keep answering. */
    int before = mbt_log_count(&srv, "method=/grpc.health.v1.Health/Watch", NULL);
    mbc_call_free(w);
    mbc_call_free(acc);
    CHECK(wait_log(&srv, "method=/grpc.health.v1.Health/Watch", NULL, before + 2, mbt_ms(3000)));
    CHECK(mbt_log_count(&srv, "method=/grpc.health.v1.Health/Watch", "status=OK") == 0);
    CHECK(mbt_health_ok(srv.ch));
}

static void test_watch_deadline(void)
{
    int serving = -1;
    double t0 = mbt_now();
    mbc_call_t *w = mbt_watch_start(srv.ch, "", mbt_deadline_ms(300));
    CHECK(mbt_watch_next(w, &serving) == 1);
    CHECK(serving == SERVING);
    /* Nothing changes, so the next thing to arrive is the end. */
    CHECK(mbt_watch_next(w, &serving) != 1);
    mb_error st;
    mbc_call_finish(w, &st);
    CHECK_STATUS(st, GRPC_STATUS_DEADLINE_EXCEEDED);
    double took = mbt_now() - t0;
    CHECK(took >= mbt_deadline_ms(250) / 1000.0);
    CHECK(took < mbt_deadline_ms(5000) / 1000.0);
    mbc_call_free(w);

    /* Many expiring watches at once, interleaved with checks. */
    mbc_call_t *many[16];
    for (int i = 0; i < 16; i++)
        many[i] = mbt_watch_start(srv.ch, i % 2 ? "" : "minbill.v1.Metering",
                                  mbt_deadline_ms(200 + 20 * i));
    CHECK(mbt_health_ok(srv.ch));
    for (int i = 0; i < 16; i++) {
        while (mbt_watch_next(many[i], &serving) == 1)
            ;
        mbc_call_finish(many[i], &st);
        CHECK_STATUS(st, GRPC_STATUS_DEADLINE_EXCEEDED);
        mbc_call_free(many[i]);
    }
    CHECK(mbt_health_ok(srv.ch));
}

static void test_watch_during_shutdown(void)
{
    mbt_server s;
    CHECK(mbt_up(&s, NULL) == 0);
    if (s.ch == NULL) {
        mbt_down(&s);
        return;
    }
    const char *services[] = {"", "minbill.v1.Accounts", "minbill.v1.Nope"};
    mbc_call_t *w[3];
    int serving;
    for (int i = 0; i < 3; i++) {
        w[i] = mbt_watch_start(s.ch, services[i], 0);
        /* Its first update proves the watch is registered. */
        serving = -1;
        CHECK(mbt_watch_next(w[i], &serving) == 1);
        CHECK(serving == (i < 2 ? SERVING : SERVICE_UNKNOWN));
    }

    double t0 = mbt_now();
    kill(s.d.pid, SIGTERM);
    for (int i = 0; i < 3; i++) {
        int got = -1, n = 0;
        while (mbt_watch_next(w[i], &serving) == 1) {
            got = serving;
            n++;
        }
        if (i < 2) {
            CHECK(n == 1);
            CHECK(got == NOT_SERVING);
        } else {
            CHECK(n == 0); /* an unknown service does not stop serving */
        }
        mb_error st;
        mbc_call_finish(w[i], &st);
        CHECK_STATUS(st, GRPC_STATUS_UNAVAILABLE);
        mbc_call_free(w[i]);
    }
    /* mbt_stop's SIGTERM is a no-op for a daemon already stopping. */
    CHECK(mbt_stop(&s, SIGTERM) == 0);
    double took = mbt_now() - t0;
    /* Ending the watches must not cost the 10 s grace. */
    if (!mbt_wrapped())
        CHECK(took < 5.0);
    CHECK(mbt_log_count(&s, "event=shutdown_grace_expired", NULL) == 0);
    CHECK(mbt_down(&s) == 0);
}

/* A database file the daemon may not write: refused at start, exit 1. Root
 * writes whatever the mode says, so as root the daemon runs as nobody. */
static void test_read_only_database(void)
{
    mbt_server s;
    CHECK(mbt_up(&s, NULL) == 0);
    CHECK(mbt_stop(&s, SIGTERM) == 0);
    const char *wrapper = getenv("MINBILL_DAEMON_WRAPPER");
    char *saved = wrapper != NULL ? strdup(wrapper) : NULL;
    char cmd[2 * MBT_PATH + 128], as_nobody[1024];
    if (geteuid() == 0) {
        /* With the wrapper (valgrind) too: it reads its own files as nobody. */
        snprintf(cmd, sizeof cmd,
                 "setpriv --reuid=65534 --regid=65534 --clear-groups %s '%s' --help >/dev/null 2>&1",
                 saved != NULL ? saved : "", mbt_minbilld_path());
        if (system(cmd) != 0) {
            fprintf(stderr,
                    "  nobody cannot run %s here (setpriv missing or the path closed "
                    "to others): not tested\n",
                    mbt_minbilld_path());
            free(saved);
            mbt_daemon_cleanup(&s.d);
            return;
        }
        snprintf(cmd, sizeof cmd, "chown -R 65534:65534 '%s'", s.d.dir);
        CHECK(system(cmd) == 0);
        snprintf(as_nobody, sizeof as_nobody,
                 "setpriv --reuid=65534 --regid=65534 --clear-groups %s",
                 saved != NULL ? saved : "");
        setenv("MINBILL_DAEMON_WRAPPER", as_nobody, 1);
    }
    CHECK(chmod(s.d.db, 0400) == 0);
    int rc = mbt_daemon_start(&s.d, NULL);
    CHECK(rc != 0);
    if (rc == 0)
        mbt_daemon_stop(&s.d, SIGTERM, 30, &(int){0});
    else
        CHECK(WIFEXITED(s.d.exit_status) && WEXITSTATUS(s.d.exit_status) == 1);
    char *log = mbt_read_file(s.d.log);
    CHECK(log != NULL && strstr(log, "is read-only for this process") != NULL);
    free(log);
    if (saved != NULL)
        setenv("MINBILL_DAEMON_WRAPPER", saved, 1);
    else
        unsetenv("MINBILL_DAEMON_WRAPPER");
    free(saved);
    mbt_daemon_cleanup(&s.d);
}

/* Another process holds the write lock past the writer's 5 s busy timeout:
 * writes fail UNAVAILABLE and health says NOT_SERVING (Check, and Watch
 * without ending the stream) until a write commits again. */
static void test_not_serving_while_writes_fail(void)
{
    mbt_server s;
    CHECK(mbt_up(&s, NULL) == 0);
    char key[MBT_KEY_MAX];
    mbt_key(&s, "platform", key);
    mb_error st;
    int timeout = mbt_deadline_ms(20000), serving = -1;
    CHECK(mbt_upsert_account(s.ch, key, "acc_hw1", "Health One GmbH", NULL, NULL, 0, timeout,
                             &st) == GRPC_STATUS_OK);
    mbc_call_t *w = mbt_watch_start(s.ch, "", mbt_deadline_ms(60000));
    CHECK(mbt_watch_next(w, &serving) == 1 && serving == SERVING);

    sqlite3 *db = NULL;
    CHECK(sqlite3_open(s.d.db, &db) == SQLITE_OK);
    /* The daemon may still hold the lock for a moment after acknowledging
     * (a TRUNCATE checkpoint that shreds the WAL of personal data): wait
     * for it rather than fail the test on timing. */
    sqlite3_busy_timeout(db, mbt_deadline_ms(10000));
    CHECK(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);
    CHECK(mbt_upsert_account(s.ch, key, "acc_hw2", "Health Two GmbH", NULL, NULL, 0, timeout,
                             &st) == GRPC_STATUS_UNAVAILABLE);
    CHECK(mbt_watch_next(w, &serving) == 1 && serving == NOT_SERVING);
    CHECK(mbt_health_check(s.ch, NULL, "", &serving, &st) == GRPC_STATUS_OK);
    CHECK(serving == NOT_SERVING);
    CHECK(mbt_log_count(&s, "event=storage_refuses_writes", NULL) == 1);
    CHECK(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);

    CHECK(mbt_upsert_account(s.ch, key, "acc_hw2", "Health Two GmbH", NULL, NULL, 0, timeout,
                             &st) == GRPC_STATUS_OK);
    CHECK(mbt_watch_next(w, &serving) == 1 && serving == SERVING);
    CHECK(mbt_health_ok(s.ch));
    mbc_call_free(w);
    CHECK(mbt_down(&s) == 0);
}

int main(void)
{
    if (mbt_up(&srv, NULL) != 0) {
        CHECK(!"daemon started");
        mbt_down(&srv);
        return check_summary();
    }
    RUN(test_check);
    RUN(test_watch_sends_current_status_first);
    RUN(test_watch_deadline);
    CHECK(mbt_health_ok(srv.ch));
    CHECK(mbt_down(&srv) == 0);
    RUN(test_watch_during_shutdown);
    RUN(test_read_only_database);
    RUN(test_not_serving_while_writes_fail);
    return check_summary();
}
