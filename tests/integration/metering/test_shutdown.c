/*
 * test_shutdown.c - SIGTERM while the writer still has usage queued.
 *
 * The test holds the database's write lock (BEGIN IMMEDIATE on a connection
 * of its own), so RecordUsage jobs queue behind a writer waiting for it.
 * Then: SIGTERM; the clients give up on their calls and close their
 * connection (which lets the gRPC core report its shutdown as done while
 * the jobs are still queued); only then the lock goes, and the writer runs
 * the queued jobs. They must run against a live metering index (the bug:
 * it was freed first, a heap use after free the sanitizer build reports and
 * the release build may crash on), the daemon must exit 0, and the counters
 * must hold exactly the batches acknowledged before, plus each queued batch
 * whole (their deadlines had not passed: the writer had time for them).
 *
 * The timing rests on SQLite's 5 s busy timeout of the daemon's writer:
 * the lock is released well before it, so no run under valgrind (where the
 * daemon is 20 times slower).
 */
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <time.h>

#include "check.h"
#include "common.h"
#include "usage_util.h"

#define QUEUED 16
#define PER_BATCH 10
#define QUANTITY 3

static const char *const ACCOUNTS[] = {"sd-0"};
static const char *const METRICS[] = {"messages"};

/* One batch of PER_BATCH events with keys "<prefix>-<b>-<e>". */
static uint8_t *batch(const char *prefix, int b, int64_t now, size_t *len)
{
    static char keys[PER_BATCH][48];
    mu_event ev[PER_BATCH];
    for (int e = 0; e < PER_BATCH; e++) {
        snprintf(keys[e], sizeof keys[e], "%s-%d-%d", prefix, b, e);
        ev[e] = (mu_event){.key = keys[e],
                           .account = ACCOUNTS[0],
                           .metric = METRICS[0],
                           .quantity = QUANTITY,
                           .occurred = now - 60};
    }
    return mu_pack(ev, PER_BATCH, len);
}

static void test_sigterm_with_queued_writes(void)
{
    mbt_server s;
    char platform[MBT_KEY_MAX], finance[MBT_KEY_MAX];
    CHECK(mu_up(&s, platform, finance, ACCOUNTS, 1, "plan-sd", METRICS, 1) == 0);
    int64_t now = (int64_t)time(NULL);

    /* Acknowledged before anything else happens. */
    int acked = 0;
    for (int b = 0; b < 4; b++) {
        size_t len;
        uint8_t *req = batch("before", b, now, &len);
        mb_error st;
        if (mbt_call(s.ch, MU_RECORD, platform, req, len, &st) == GRPC_STATUS_OK)
            acked++;
        free(req);
    }
    CHECK(acked == 4);

    sqlite3 *db = NULL;
    CHECK(sqlite3_open(s.d.db, &db) == SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    CHECK(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK);

    /* Calls with plenty of time left, stuck behind the lock. */
    mbc_channel_t *ch = mbc_channel_new(s.d.target);
    mbc_call_t *calls[QUEUED];
    for (int b = 0; b < QUEUED; b++) {
        size_t len;
        uint8_t *req = batch("queued", b, now, &len);
        calls[b] = mbc_call_start(ch, MU_RECORD, platform, 30000);
        CHECK(calls[b] != NULL && mbc_call_send(calls[b], req, len) == 0 &&
              mbc_call_close_send(calls[b]) == 0);
        free(req);
    }
    mbt_sleep_ms(400);
    CHECK(kill(s.d.pid, SIGTERM) == 0);
    mbt_sleep_ms(300);
    /* The clients give up: nothing of theirs holds the server up now. */
    for (int b = 0; b < QUEUED; b++)
        mbc_call_free(calls[b]);
    mbc_channel_free(ch);
    mbt_sleep_ms(700);
    CHECK(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK);
    sqlite3_close(db);

    /* mbt_stop signals again (harmless) and checks exit 0, event=stopped and
     * a log without a sanitizer report. */
    CHECK(mbt_stop(&s, SIGTERM) == 0);
    long want = (long)(acked + QUEUED) * PER_BATCH * QUANTITY;
    long got = mbt_db_long(s.d.db, "SELECT coalesce(sum(quantity), 0) FROM usage_counters");
    if (got != want)
        fprintf(stderr, "  counters hold %ld, want %ld\n", got, want);
    CHECK(got == want);
    CHECK(mbt_db_long(s.d.db, "SELECT count(*) FROM usage_counters") == 1);
    mbt_daemon_cleanup(&s.d);
}

int main(void)
{
    RUN(test_sigterm_with_queued_writes);
    return check_summary();
}
