/*
 * test_purge.c - the purge facility on a real database with a rule of the
 * test's own: steps are bounded by the rule's chunk and repeated until
 * nothing is due; the last step audits the run's counts (one event per
 * category, none when nothing went); a dry run counts and changes nothing;
 * a failing step rolls back its own changes only, calls rolled_back and
 * still audits what committed; settings round-trip and a missing one is
 * refused by name.
 */
#include <string.h>

#include "check.h"
#include "purge/purge.h"
#include "store/migrate.h"
#include "store/settings.h"
#include "unit_db.h"
#include "unit_tmp.h"

static store_conn_t *conn;
static keyring_t *kr;

typedef struct fake {
    int steps, rolled_back;
    int fail_at; /* fail the step with this number (1-based); 0: never */
} fake;

static const char SQL_DELETE[] =
    "DELETE FROM items WHERE rowid IN (SELECT rowid FROM items ORDER BY rowid LIMIT ?1)";

static int fake_step(store_conn_t *c, void *arg, const purge_ctx *ctx, purge_step *step,
                     mb_error *err)
{
    fake *f = arg;
    f->steps++;
    if (ctx->dry_run) {
        step->removed = unit_query_long(c, "SELECT count(*) FROM items");
        return 0;
    }
    sqlite3_stmt *st = store_conn_prepare(c, SQL_DELETE, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_int(st, 1, ctx->chunk);
    if (store_step_done(c, st, "deleting items", err) != 0)
        return -1;
    if (f->steps == f->fail_at)
        return mb_error_set(err, GRPC_STATUS_INTERNAL, "step %d fails", f->steps);
    step->removed = sqlite3_changes(store_conn_db_borrow(c));
    step->more = step->removed == ctx->chunk;
    return 0;
}

static void fake_rolled_back(void *arg)
{
    ((fake *)arg)->rolled_back++;
}

static void fill(int n)
{
    char sql[256];
    mb_error err;
    snprintf(sql, sizeof sql,
             "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < %d)"
             " INSERT INTO items SELECT i FROM s",
             n);
    CHECK(store_conn_exec(conn, sql, &err) == 0);
}

static purge_t *with_rule(fake *f)
{
    purge_t *p = purge_new("system");
    mb_error err;
    purge_rule r = {.category = "items",
                    .what = "items",
                    .fn = fake_step,
                    .rolled_back = fake_rolled_back,
                    .arg = f,
                    .chunk = 100};
    CHECK(p != NULL && purge_add(p, &r, &err) == 0);
    return p;
}

static long audit_events(void)
{
    return unit_query_long(conn, "SELECT count(*) FROM audit_events WHERE action = "
                                 "'retention.purge' AND target_id = 'items'");
}

static void test_settings(void)
{
    mb_error err;
    purge_settings s, back;
    CHECK(purge_settings_load(conn, &back, &err) != 0);
    CHECK_STATUS(err, GRPC_STATUS_FAILED_PRECONDITION);
    CHECK_CONTAINS(err.msg, "acceptance_window_days");
    purge_settings_default(&s);
    CHECK(s.acceptance_window_days == 62 && s.subject_request_retention_days == 1095);
    s.acceptance_window_days = 90;
    CHECK(purge_settings_store(conn, &s, &err) == 0);
    CHECK(purge_settings_load(conn, &back, &err) == 0);
    CHECK(memcmp(&s, &back, sizeof s) == 0);
    /* Storing the same value again keeps when it last changed. */
    long t0 = unit_query_long(conn, "SELECT updated_us FROM settings WHERE name = "
                                    "'acceptance_window_days'");
    CHECK(purge_settings_store(conn, &s, &err) == 0);
    CHECK(unit_query_long(conn, "SELECT updated_us FROM settings WHERE name = "
                                "'acceptance_window_days'") == t0);
}

static void test_chunked_run(void)
{
    fake f = {0};
    purge_t *p = with_rule(&f);
    purge_report rep;
    mb_error err;
    fill(1050);
    CHECK(purge_run_conn(p, conn, kr, true, &rep, &err) == 0);
    CHECK(rep.n == 1 && rep.counts[0].removed == 1050 && f.steps == 1);
    CHECK(unit_query_long(conn, "SELECT count(*) FROM items") == 1050);
    CHECK(audit_events() == 0);
    f.steps = 0;
    CHECK(purge_run_conn(p, conn, kr, false, &rep, &err) == 0);
    CHECK(rep.counts[0].removed == 1050);
    CHECK(f.steps == 11); /* ten full chunks and the rest */
    CHECK(unit_query_long(conn, "SELECT count(*) FROM items") == 0);
    CHECK(audit_events() == 1);
    CHECK(unit_query_long(conn, "SELECT count(*) FROM audit_events WHERE purpose = "
                                "'retention: removed 1050, destroyed 0 data key(s)' AND "
                                "actor_key_id = 'system'") == 1);
    /* Nothing due: no event. */
    CHECK(purge_run_conn(p, conn, kr, false, &rep, &err) == 0);
    CHECK(rep.counts[0].removed == 0 && audit_events() == 1);
    purge_free(p);
}

static void test_failing_step(void)
{
    fake f = {.fail_at = 3};
    purge_t *p = with_rule(&f);
    purge_report rep;
    mb_error err;
    fill(500);
    CHECK(purge_run_conn(p, conn, kr, false, &rep, &err) != 0);
    CHECK_CONTAINS(err.msg, "step 3 fails");
    CHECK(f.rolled_back == 1);
    CHECK(rep.counts[0].removed == 200);
    CHECK(unit_query_long(conn, "SELECT count(*) FROM items") == 300);
    /* What committed is audited all the same. */
    CHECK(unit_query_long(conn, "SELECT count(*) FROM audit_events WHERE purpose = "
                                "'retention: removed 200, destroyed 0 data key(s)'") == 1);
    purge_free(p);
}

int main(void)
{
    char path[512], key[512];
    mb_error err;
    int applied;
    if (store_conn_open(unit_path(path, sizeof path, "purge.db"), true, false, &conn, &err) != 0 ||
        store_migrate(conn, &applied, &err) != 0 ||
        keyring_file_create(unit_path(key, sizeof key, "master.key"), &err) != 0 ||
        keyring_load(key, &kr, &err) != 0 || unit_keyring_attach(kr, conn, &err) != 0 ||
        store_conn_exec(conn, "CREATE TABLE items(x INTEGER)", &err) != 0) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    RUN(test_settings);
    RUN(test_chunked_run);
    RUN(test_failing_step);
    store_conn_close(conn);
    keyring_free(kr);
    return check_summary();
}
