/*
 * test_migrate.c - the migrations runner: applies everything on an empty
 * database, nothing on a current one, and refuses a database that is newer
 * than the binary or has a different history; never migrates a database
 * with a history while a daemon serves it (the schema lock), and the
 * subcommands that run beside one migrate only a new database; and
 * migration 0006 moves
 * the tokens already issued to payment_token_legacy without losing or
 * changing a payment method or its vault row, drops the UNIQUE index on
 * token only, and leaves every foreign key pointing at payment_methods.
 */
#include <unistd.h>

#include "check.h"
#include "store/migrate.h"
#include "store/store.h"
#include "unit_db.h"
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

/* Every row of `sql`, each column as SQLite's quote() would write it, rows
 * separated by newlines: equal strings mean equal rows. */
static void test_no_migration_under_a_daemon(void)
{
    char path[512];
    store_conn_t *c = open_db("served.db");
    unit_path(path, sizeof path, "served.db");
    mb_error err;
    int applied = -1, lock = -1;
    CHECK(store_migrate_upto(c, store_migrations_count - 1, &applied, &err) == 0);
    /* An older daemon serves it: it holds the schema lock shared. */
    CHECK(store_schema_lock(path, false, &lock, &err) == 0);
    CHECK(store_migrate(c, &applied, &err) != 0);
    CHECK_STATUS(err, GRPC_STATUS_FAILED_PRECONDITION);
    CHECK_CONTAINS(err.msg, "a minbilld serves this database");
    CHECK(version_rows(c) == store_migrations_count - 1);
    /* keys / purge: never migrate a database with a history. */
    store_schema_unlock(lock);
    CHECK(store_migrate_new_only(c, &err) != 0);
    CHECK_STATUS(err, GRPC_STATUS_FAILED_PRECONDITION);
    CHECK_CONTAINS(err.msg, "run minbilld migrate");
    CHECK(version_rows(c) == store_migrations_count - 1);
    /* Once the daemon is gone, migrate does it. */
    CHECK(store_migrate(c, &applied, &err) == 0 && applied == 1);
    CHECK(store_migrate_new_only(c, &err) == 0);
    /* A serving daemon keeps migrations out, but not a daemon that shares. */
    int other = -1;
    CHECK(store_schema_lock(path, false, &lock, &err) == 0);
    CHECK(store_schema_lock(path, false, &other, &err) == 0);
    store_schema_unlock(other);
    store_schema_unlock(lock);
    store_conn_close(c);

    /* A new database is migrated by them: nobody can be serving it. */
    c = open_db("new-for-keys.db");
    CHECK(store_migrate_new_only(c, &err) == 0);
    CHECK(version_rows(c) == store_migrations_count);
    store_conn_close(c);
}

/* A serving store (store_open) holds the lock, under the name of the file
 * SQLite opened: a store opened through a symbolic link keeps out a
 * migration through the real path. */
static void test_serving_store_holds_the_lock(void)
{
    char real[512], link[512];
    unit_path(real, sizeof real, "real.db");
    unit_path(link, sizeof link, "link.db");
    store_conn_t *c = open_db("real.db");
    mb_error err;
    CHECK(store_migrate(c, NULL, &err) == 0);
    store_conn_close(c);
    CHECK(symlink(real, link) == 0);
    store_options opt = {.readers = 1};
    store_t *store = NULL;
    CHECK(store_open(link, &opt, &store, &err) == 0);
    int lock = -1;
    CHECK(store_schema_lock(real, true, &lock, &err) != 0);
    CHECK_STATUS(err, GRPC_STATUS_FAILED_PRECONDITION);
    store_close(store);
    CHECK(store_schema_lock(real, true, &lock, &err) == 0);
    store_schema_unlock(lock);
}

static void dump_rows(store_conn_t *c, const char *sql, char *out, size_t size)
{
    sqlite3_stmt *st;
    size_t n = 0;
    out[0] = '\0';
    if (sqlite3_prepare_v2(store_conn_db_borrow(c), sql, -1, &st, NULL) != SQLITE_OK) {
        snprintf(out, size, "(prepare failed: %s)", sqlite3_errmsg(store_conn_db_borrow(c)));
        return;
    }
    while (sqlite3_step(st) == SQLITE_ROW && n < size) {
        for (int i = 0; i < sqlite3_column_count(st) && n < size; i++) {
            const char *sep = i == 0 ? "" : ",";
            switch (sqlite3_column_type(st, i)) {
            case SQLITE_INTEGER:
                n += snprintf(out + n, size - n, "%s%lld", sep, sqlite3_column_int64(st, i));
                break;
            case SQLITE_TEXT:
                n += snprintf(out + n, size - n, "%s'%s'", sep, sqlite3_column_text(st, i));
                break;
            case SQLITE_BLOB: {
                const unsigned char *b = sqlite3_column_blob(st, i);
                n += snprintf(out + n, size - n, "%sX'", sep);
                for (int j = 0; j < sqlite3_column_bytes(st, i) && n < size; j++)
                    n += snprintf(out + n, size - n, "%02X", b[j]);
                if (n < size)
                    n += snprintf(out + n, size - n, "'");
                break;
            }
            case SQLITE_NULL:
                n += snprintf(out + n, size - n, "%sNULL", sep);
                break;
            default:
                n += snprintf(out + n, size - n, "%s?", sep);
            }
        }
        if (n < size)
            n += snprintf(out + n, size - n, "\n");
    }
    sqlite3_finalize(st);
}

/* The unique indexes of table whose columns, in order and separated by
 * commas, are exactly cols (e.g. "account_id,fingerprint"); and in *with
 * the number of unique indexes that include column `col` at all. */
static int unique_indexes_on(store_conn_t *c, const char *table, const char *cols, const char *col,
                             int *with)
{
    sqlite3 *db = store_conn_db_borrow(c);
    sqlite3_stmt *list, *info;
    char sql[256];
    int exact = 0;
    *with = 0;
    snprintf(sql, sizeof sql, "SELECT name FROM pragma_index_list('%s') WHERE \"unique\"", table);
    if (sqlite3_prepare_v2(db, sql, -1, &list, NULL) != SQLITE_OK)
        return -1;
    if (sqlite3_prepare_v2(db,
                           "SELECT group_concat(name, ',') FROM"
                           " (SELECT name FROM pragma_index_info(?1) ORDER BY seqno)",
                           -1, &info, NULL) != SQLITE_OK) {
        sqlite3_finalize(list);
        return -1;
    }
    while (sqlite3_step(list) == SQLITE_ROW) {
        sqlite3_bind_text(info, 1, (const char *)sqlite3_column_text(list, 0), -1,
                          SQLITE_TRANSIENT);
        if (sqlite3_step(info) == SQLITE_ROW && sqlite3_column_text(info, 0) != NULL) {
            const char *got = (const char *)sqlite3_column_text(info, 0);
            exact += strcmp(got, cols) == 0;
            char padded[256], needle[64];
            snprintf(padded, sizeof padded, ",%s,", got);
            snprintf(needle, sizeof needle, ",%s,", col);
            *with += strstr(padded, needle) != NULL;
        }
        sqlite3_reset(info);
    }
    sqlite3_finalize(info);
    sqlite3_finalize(list);
    return exact;
}

/* How many of table's foreign keys take column `from` to parent(to). */
static long fk_to(store_conn_t *c, const char *table, const char *from, const char *parent,
                  const char *to)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pragma_foreign_key_list('%s')"
             " WHERE \"from\" = '%s' AND \"table\" = '%s' AND \"to\" = '%s'",
             table, from, parent, to);
    return unit_query_long(c, sql);
}

/* Runs sql directly; the SQLite extended result code. */
static int exec_rc(store_conn_t *c, const char *sql)
{
    sqlite3 *db = store_conn_db_borrow(c);
    int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    return rc == SQLITE_OK ? rc : sqlite3_extended_errcode(db);
}

static void test_0006_token_locator(void)
{
    store_conn_t *c = open_db("0006.db");
    mb_error err;
    int applied = -1;
    CHECK(store_migrate_upto(c, 5, &applied, &err) == 0);
    CHECK(applied == 5);
    CHECK(unit_query_long(c, "SELECT max(version) FROM schema_migrations") == 5);

    /* Three payment methods as 0005 stored them: random tokens under a
     * UNIQUE index, method ids with gaps (one was detached), one vault row
     * each, one without a holder. */
    static const char *const tokens[] = {"pm_4fQz9KcT2mWx7LbR1nYs8DvE",
                                         "pm_Ta0Pq6ZeW3uHk9JcM5rXg2Ny",
                                         "pm_b8LmV1sQ7dZr4FkT0wHy6CjA"};
    static const int ids[] = {3, 17, 42};
    CHECK(store_conn_exec(
              c,
              "INSERT INTO keyring_master(version, key_id) VALUES (1, X'0101');"
              "INSERT INTO data_keys(dek_id, master_version, nonce, wrapped)"
              " VALUES (1, 1, X'11', X'21'), (2, 1, X'12', X'22'), (3, 1, X'13', X'23'),"
              " (4, 1, X'14', X'24');"
              "INSERT INTO accounts(account_id, currency, dek_id, default_payment_method)"
              " VALUES ('acct_1', 'EUR', 1, 'pm_Ta0Pq6ZeW3uHk9JcM5rXg2Ny');"
              "INSERT INTO payment_methods(method_id, token, account_id, type, brand, last4,"
              " exp_month, exp_year, country_code, bic, mandate_reference, mandate_signed_us,"
              " fingerprint, dek_id, created_us) VALUES"
              " (3, 'pm_4fQz9KcT2mWx7LbR1nYs8DvE', 'acct_1', 'card', 'visa', '1111', 12, 2030,"
              "  'DE', '', '', 0, X'F00D01', 2, 1700000000000001),"
              " (17, 'pm_Ta0Pq6ZeW3uHk9JcM5rXg2Ny', 'acct_1', 'sepa_debit', '', '3000', 0, 0,"
              "  'DE', 'COBADEFFXXX', 'MANDATE-17', 1700000000000000, X'F00D02', 3,"
              "  1700000000000002),"
              " (42, 'pm_b8LmV1sQ7dZr4FkT0wHy6CjA', 'acct_1', 'card', 'mastercard', '4444', 1,"
              "  2031, 'FR', '', '', 0, X'F00D03', 4, 1700000000000003);"
              "INSERT INTO payment_vault(method_id, number_ct, holder_ct) VALUES"
              " (3, X'C0FFEE0001', X'AB01'), (17, X'C0FFEE0002', NULL),"
              " (42, randomblob(64), X'AB03');",
              &err) == 0);
    static const char SQL_METHODS[] = "SELECT method_id, token, account_id, type, brand, last4,"
                                      " exp_month, exp_year, country_code, bic, mandate_reference,"
                                      " mandate_signed_us, fingerprint, dek_id, created_us"
                                      " FROM payment_methods ORDER BY method_id";
    static const char SQL_VAULT[] =
        "SELECT method_id, number_ct, holder_ct FROM payment_vault ORDER BY method_id";
    static char methods_before[4096], vault_before[4096], methods_after[4096], vault_after[4096];
    dump_rows(c, SQL_METHODS, methods_before, sizeof methods_before);
    dump_rows(c, SQL_VAULT, vault_before, sizeof vault_before);
    CHECK_CONTAINS(methods_before, "'MANDATE-17'"); /* the dump sees every column */
    CHECK_CONTAINS(vault_before, "3,X'C0FFEE0001',X'AB01'\n17,X'C0FFEE0002',NULL\n42,X'");
    int with_token = -1;
    CHECK(unique_indexes_on(c, "payment_methods", "token", "token", &with_token) == 1);

    CHECK(store_migrate(c, &applied, &err) == 0);
    CHECK(applied == store_migrations_count - 5);
    CHECK(unit_query_long(c, "SELECT max(version) FROM schema_migrations") >= 6);
    CHECK(version_rows(c) == store_migrations_count);

    /* Every token issued before stays findable, by the method it names. */
    CHECK(unit_query_long(c, "SELECT count(*) FROM payment_token_legacy") == 3);
    for (int i = 0; i < 3; i++) {
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT method_id FROM payment_token_legacy WHERE token = '%s'",
                 tokens[i]);
        CHECK(unit_query_long(c, sql) == ids[i]);
    }
    /* Nothing else changed, column for column. */
    dump_rows(c, SQL_METHODS, methods_after, sizeof methods_after);
    dump_rows(c, SQL_VAULT, vault_after, sizeof vault_after);
    CHECK(strcmp(methods_before, methods_after) == 0);
    CHECK(strcmp(vault_before, vault_after) == 0);
    CHECK(unit_query_long(c, "SELECT default_payment_method = 'pm_Ta0Pq6ZeW3uHk9JcM5rXg2Ny'"
                             " FROM accounts WHERE account_id = 'acct_1'") == 1);
    /* No leftovers of the rebuild, and no dangling reference. */
    CHECK(unit_query_long(
              c, "SELECT count(*) FROM sqlite_schema WHERE name LIKE '%_new'"
                 " OR sql LIKE '%payment_methods_new%' OR sql LIKE '%payment_vault_new%'") == 0);
    CHECK(unit_query_long(c, "SELECT count(*) FROM pragma_foreign_key_check") == 0);

    /* The UNIQUE index on token is gone; the one on (account_id,
     * fingerprint) is not. */
    CHECK(unique_indexes_on(c, "payment_methods", "account_id,fingerprint", "token", &with_token) ==
          1);
    CHECK(with_token == 0);
    CHECK(exec_rc(c, "INSERT INTO payment_methods(method_id, token, account_id, type, last4,"
                     " fingerprint, dek_id, created_us) VALUES (50, 'pm_x', 'acct_1', 'card',"
                     " '0000', X'F00D01', 1, 1)") == SQLITE_CONSTRAINT_UNIQUE);
    CHECK(exec_rc(c, "INSERT INTO payment_methods(method_id, token, account_id, type, last4,"
                     " fingerprint, dek_id, created_us) VALUES (51, 'pm_4fQz9KcT2mWx7LbR1nYs8DvE',"
                     " 'acct_1', 'card', '0000', X'F00D51', 1, 1)") == SQLITE_OK);

    /* payment_vault and payment_token_legacy point at payment_methods, the
     * table as renamed, not at payment_methods_new. */
    CHECK(fk_to(c, "payment_vault", "method_id", "payment_methods", "method_id") == 1);
    CHECK(fk_to(c, "payment_token_legacy", "method_id", "payment_methods", "method_id") == 1);
    CHECK(unit_query_long(c, "SELECT count(*) FROM pragma_foreign_key_list('payment_vault')") == 1);
    CHECK(unit_query_long(
              c, "SELECT count(*) FROM pragma_foreign_key_list('payment_token_legacy')") == 1);
    CHECK(fk_to(c, "payment_methods", "account_id", "accounts", "account_id") == 1);
    CHECK(fk_to(c, "payment_methods", "dek_id", "data_keys", "dek_id") == 1);

    /* And the keys hold: a method goes only after its legacy token and its
     * vault row, each of which alone keeps it. */
    CHECK(exec_rc(c, "DELETE FROM payment_methods WHERE method_id = 3") ==
          SQLITE_CONSTRAINT_FOREIGNKEY);
    CHECK(exec_rc(c, "DELETE FROM payment_token_legacy WHERE method_id = 3") == SQLITE_OK);
    CHECK(exec_rc(c, "DELETE FROM payment_methods WHERE method_id = 3") ==
          SQLITE_CONSTRAINT_FOREIGNKEY);
    CHECK(exec_rc(c, "DELETE FROM payment_vault WHERE method_id = 17") == SQLITE_OK);
    CHECK(exec_rc(c, "DELETE FROM payment_methods WHERE method_id = 17") ==
          SQLITE_CONSTRAINT_FOREIGNKEY);
    CHECK(exec_rc(c, "DELETE FROM payment_vault WHERE method_id = 3") == SQLITE_OK);
    CHECK(exec_rc(c, "DELETE FROM payment_methods WHERE method_id = 3") == SQLITE_OK);
    CHECK(exec_rc(c, "DELETE FROM payment_token_legacy WHERE method_id = 17") == SQLITE_OK);
    CHECK(exec_rc(c, "DELETE FROM payment_methods WHERE method_id = 17") == SQLITE_OK);
    /* Nor can a legacy token or vault row name a method that does not exist. */
    CHECK(exec_rc(c, "INSERT INTO payment_token_legacy(token, method_id) VALUES ('pm_y', 99)") ==
          SQLITE_CONSTRAINT_FOREIGNKEY);
    CHECK(exec_rc(c, "INSERT INTO payment_vault(method_id, number_ct) VALUES (99, X'00')") ==
          SQLITE_CONSTRAINT_FOREIGNKEY);
    CHECK(unit_query_long(c, "SELECT count(*) FROM pragma_foreign_key_check") == 0);
    store_conn_close(c);
}

int main(void)
{
    RUN(test_empty_then_current);
    RUN(test_newer_database_refused);
    RUN(test_different_history_refused);
    RUN(test_failed_migration_leaves_nothing);
    RUN(test_no_migration_under_a_daemon);
    RUN(test_serving_store_holds_the_lock);
    RUN(test_0006_token_locator);
    return check_summary();
}
