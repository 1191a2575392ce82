/*
 * test_migrate.c - the migrations runner: applies everything on an empty
 * database, nothing on a current one, and refuses a database that is newer
 * than the binary or has a different history.
 */
#include "check.h"
#include "store/migrate.h"
#include "store/store.h"
#include "unit_tmp.h"

static store_conn_t *open_db(const char *name)
{
    char path[512];
    store_conn_t *c = NULL;
    mb_error err;
    if (store_conn_open(unit_path(path, sizeof path, name), true, false, &c, &err) != 0)
        fprintf(stderr, "open: %s\n", err.msg);
    return c;
}

static int version_rows(store_conn_t *c)
{
    sqlite3_stmt *st;
    int n = -1;
    if (sqlite3_prepare_v2(store_conn_db_borrow(c), "SELECT count(*) FROM schema_migrations", -1,
                           &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

static void test_empty_then_current(void)
{
    store_conn_t *c = open_db("fresh.db");
    mb_error err;
    int applied = -1;
    CHECK(store_migrate(c, &applied, &err) == 0);
    CHECK(applied == store_migrations_count);
    CHECK(version_rows(c) == store_migrations_count);
    CHECK(store_migrate(c, &applied, &err) == 0);
    CHECK(applied == 0);
    CHECK(version_rows(c) == store_migrations_count);
    /* The foundation tables exist. */
    CHECK(store_conn_exec(c, "SELECT key_id, role, secret_hash FROM api_keys", &err) == 0);
    store_conn_close(c);
}

static void test_newer_database_refused(void)
{
    store_conn_t *c = open_db("newer.db");
    mb_error err;
    CHECK(store_migrate(c, NULL, &err) == 0);
    char sql[128];
    snprintf(sql, sizeof sql, "INSERT INTO schema_migrations(version, name) VALUES (%d, 'future')",
             store_migrations_count + 1);
    CHECK(store_conn_exec(c, sql, &err) == 0);
    CHECK(store_migrate(c, NULL, &err) != 0);
    CHECK_STATUS(err, GRPC_STATUS_FAILED_PRECONDITION);
    CHECK_CONTAINS(err.msg, "newer than this minbilld");
    store_conn_close(c);
}

static void test_different_history_refused(void)
{
    store_conn_t *c = open_db("forked.db");
    mb_error err;
    CHECK(store_migrate(c, NULL, &err) == 0);
    CHECK(store_conn_exec(c, "UPDATE schema_migrations SET name = 'something_else' WHERE version = 1",
                          &err) == 0);
    CHECK(store_migrate(c, NULL, &err) != 0);
    CHECK_CONTAINS(err.msg, "history differs");
    store_conn_close(c);
}

static void test_failed_migration_leaves_nothing(void)
{
    /* A database where migration 1's first table already exists: the
     * migration fails, and neither its other tables nor its row remain. */
    store_conn_t *c = open_db("clash.db");
    mb_error err;
    CHECK(store_conn_exec(c, "CREATE TABLE keyring_master(x)", &err) == 0);
    CHECK(store_migrate(c, NULL, &err) != 0);
    CHECK_CONTAINS(err.msg, "migration 0001_foundation");
    CHECK(store_conn_exec(c, "SELECT * FROM api_keys", &err) != 0);
    /* Even the history table went with the rolled-back transaction. */
    CHECK(version_rows(c) == -1);
    store_conn_close(c);
}

int main(void)
{
    RUN(test_empty_then_current);
    RUN(test_newer_database_refused);
    RUN(test_different_history_refused);
    RUN(test_failed_migration_leaves_nothing);
    return check_summary();
}
