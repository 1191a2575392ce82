/*
 * test_purposes.c - purpose-bound connections: the SQLite authorizer built
 * from the data inventory denies, at prepare time, every column a purpose may
 * not read, and every statement but SELECT, whatever SQL is written by hand.
 * Also checks that every column the inventory declares exists.
 */
#include "check.h"
#include "inventory/inventory.h"
#include "store/migrate.h"
#include "store/store.h"
#include "unit_tmp.h"

static store_conn_t *admin, *conns[PURPOSE_COUNT];

static bool prepares(store_conn_t *c, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(store_conn_db_borrow(c), sql, -1, &st, NULL);
    sqlite3_finalize(st);
    return rc == SQLITE_OK;
}

static void test_declared_columns_exist(void)
{
    for (size_t i = 0; i < inventory_count; i++) {
        char sql[256];
        snprintf(sql, sizeof sql, "SELECT %s FROM %s", inventory_fields[i].column,
                 inventory_fields[i].table);
        bool ok = prepares(admin, sql);
        if (!ok)
            fprintf(stderr, "   inventory declares missing column %s.%s\n",
                    inventory_fields[i].table, inventory_fields[i].column);
        CHECK(ok);
        /* Personal data must say why, on what basis, and how long. */
        if (inventory_fields[i].personal)
            CHECK(inventory_fields[i].why && inventory_fields[i].legal_basis &&
                  inventory_fields[i].category && inventory_fields[i].source &&
                  inventory_fields[i].recipients);
    }
}

/* Every column of every table the migrations create is declared: a new
 * column nobody classified cannot slip past the export, the erasure or the
 * authorizer. */
static void test_every_column_is_declared(void)
{
    sqlite3 *db = store_conn_db_borrow(admin);
    sqlite3_stmt *st = NULL;
    CHECK(
        sqlite3_prepare_v2(db,
                           "SELECT m.name, c.name FROM sqlite_schema m, pragma_table_info(m.name) c"
                           " WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
                           -1, &st, NULL) == SQLITE_OK);
    int columns = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        const char *table = (const char *)sqlite3_column_text(st, 0);
        const char *column = (const char *)sqlite3_column_text(st, 1);
        bool declared = false;
        for (size_t i = 0; i < inventory_count && !declared; i++)
            declared = strcmp(inventory_fields[i].table, table) == 0 &&
                       strcmp(inventory_fields[i].column, column) == 0;
        if (!declared)
            fprintf(stderr, "   column %s.%s is not in the inventory\n", table, column);
        CHECK(declared);
        columns++;
    }
    sqlite3_finalize(st);
    CHECK(columns > 100);
    /* Tables whose rows belong to a subject say how. */
    for (size_t i = 0; i < inventory_tables_count; i++) {
        const inv_table *t = &inventory_tables[i];
        CHECK(t->erasure == ERASE_NONE || t->account_col != NULL || t->parent_table != NULL);
        CHECK(t->rows == ROWS_ALL || t->rows == ROWS_PARENT || t->restricted_col != NULL);
        CHECK(t->parent_table == NULL || inventory_table(t->parent_table) != NULL);
    }
}

static int count_rows(store_conn_t *c, const char *sql)
{
    sqlite3_stmt *st = NULL;
    int n = -1;
    if (sqlite3_prepare_v2(store_conn_db_borrow(c), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
}

/* Art. 18 and 21 per row: restricted rows are invisible (or their personal
 * values are) to every purpose but the export and legal duties; contacts
 * who objected are invisible to marketing. Proven by reading through every
 * purpose, and by trying to go around the views. */
static void test_restricted_rows_through_every_purpose(void)
{
    mb_error err;
    CHECK(store_conn_exec(
              admin,
              "INSERT INTO keyring_master(version, key_id) VALUES (1, x'01');"
              "INSERT INTO data_keys(dek_id, master_version, nonce, wrapped)"
              " VALUES (1, 1, x'00', x'00');"
              "INSERT INTO accounts(account_id, currency, dek_id, legal_name_ct)"
              " VALUES ('ra', 'EUR', 1, x'aa'), ('rb', 'EUR', 1, x'bb');"
              "INSERT INTO contacts(account_id, contact_id, role, dek_id, name_ct)"
              " VALUES ('ra', 'c1', 'billing', 1, x'01'), ('ra', 'c2', 'owner', 1, x'02'),"
              " ('ra', 'c3', 'owner', 1, x'03');"
              "INSERT INTO payment_methods(method_id, token, account_id, type, last4,"
              " fingerprint, dek_id, created_us) VALUES"
              " (1, 'pm_1', 'ra', 'card', '4242', x'01', 1, 1),"
              " (2, 'pm_2', 'ra', 'card', '4444', x'02', 1, 1);"
              "INSERT INTO payment_vault(method_id, number_ct) VALUES (1, x'01'), (2, x'02');"
              /* Issued invoices cannot be updated: they follow their account. */
              "INSERT INTO retention_keys(class, dek_id, retain_until)"
              " VALUES ('invoice:NL:2000', 1, '2000-12-31');"
              "INSERT INTO invoices(invoice_number, type, account_id, period, issue_date,"
              " currency, net_minor, tax_minor, gross_minor, retention_class, retain_until,"
              " document_ct, created_us) VALUES"
              " ('INV-1', 'invoice', 'ra', '1993-01', '1993-02-01', 'EUR', 1, 0, 1,"
              "  'invoice:NL:2000', '2000-12-31', x'01', 1),"
              " ('INV-2', 'invoice', 'rb', '1993-01', '1993-02-01', 'EUR', 1, 0, 1,"
              "  'invoice:NL:2000', '2000-12-31', x'02', 1);"
              "UPDATE accounts SET restricted_us = 5 WHERE account_id = 'ra';"
              "UPDATE contacts SET restricted_us = 5 WHERE contact_id = 'c1';"
              "UPDATE contacts SET objected_us = 5 WHERE contact_id = 'c2';"
              "UPDATE payment_methods SET restricted_us = 5 WHERE method_id = 1;",
              &err) == 0);
    for (int p = 0; p < PURPOSE_COUNT; p++) {
        bool sees = !inventory_purpose_restricted(p);
        store_conn_t *c = conns[p];
        const char *name = inventory_purpose_name(p);
        if (inventory_readable(p, "contacts", "contact_id")) {
            int n = count_rows(c, "SELECT count(*) FROM contacts WHERE account_id = 'ra'");
            int want = sees ? 3 : p == PURPOSE_MARKETING ? 1 : 2;
            if (n != want)
                fprintf(stderr, "   %s sees %d contacts, want %d\n", name, n, want);
            CHECK(n == want);
            CHECK(count_rows(c, "SELECT count(*) FROM contacts WHERE contact_id = 'c1'") ==
                  (sees ? 1 : 0));
        }
        if (inventory_readable(p, "accounts", "legal_name_ct")) {
            CHECK(count_rows(c, "SELECT count(*) FROM accounts WHERE legal_name_ct IS NOT NULL") ==
                  (sees ? 2 : 1));
            CHECK(count_rows(c, "SELECT count(*) FROM accounts") == 2);
        }
        if (inventory_readable(p, "payment_methods", "token"))
            CHECK(count_rows(c, "SELECT count(*) FROM payment_methods WHERE account_id = 'ra'") ==
                  (sees ? 2 : 1));
        if (inventory_readable(p, "payment_vault", "number_ct"))
            CHECK(count_rows(c, "SELECT count(*) FROM payment_vault WHERE number_ct IS NOT NULL") ==
                  (sees ? 2 : 1));
        if (inventory_readable(p, "invoices", "invoice_number")) {
            int n = count_rows(c, "SELECT count(*) FROM invoices");
            if (n != (sees ? 2 : 1))
                fprintf(stderr, "   %s sees %d invoices, want %d\n", name, n, sees ? 2 : 1);
            CHECK(n == (sees ? 2 : 1));
        }
        /* Naming the main table does not go around the view. */
        if (!sees) {
            CHECK(!prepares(c, "SELECT contact_id FROM main.contacts"));
            CHECK(!prepares(c, "SELECT token FROM main.payment_methods"));
            CHECK(!prepares(c, "SELECT legal_name_ct FROM main.accounts"));
        }
    }
    CHECK(store_conn_exec(admin,
                          "DELETE FROM invoices; DELETE FROM retention_keys;"
                          "DELETE FROM payment_vault; DELETE FROM payment_methods;"
                          " DELETE FROM contacts; DELETE FROM accounts; DELETE FROM data_keys;"
                          " DELETE FROM keyring_master;",
                          &err) == 0);
}

static void test_support_and_invoicing_cannot_read_contact_details(void)
{
    const int purposes[] = {PURPOSE_SUPPORT, PURPOSE_INVOICING};
    const char *const denied[] = {
        "SELECT phone_ct FROM contacts",
        "SELECT email_ct FROM contacts WHERE account_id = 'a'",
        "SELECT account_id FROM contacts WHERE phone_ct IS NOT NULL",
        "SELECT * FROM contacts",
        "SELECT name_ct || '' FROM contacts",
        "SELECT (SELECT phone_ct FROM contacts LIMIT 1)",
        "WITH x AS (SELECT email_ct AS e FROM contacts) SELECT e FROM x",
        "SELECT secret_hash FROM api_keys",
        "SELECT wrapped FROM keyring_secrets",
    };
    for (size_t p = 0; p < 2; p++)
        for (size_t i = 0; i < sizeof denied / sizeof denied[0]; i++) {
            bool ok = prepares(conns[purposes[p]], denied[i]);
            if (ok)
                fprintf(stderr, "   %s may run: %s\n", inventory_purpose_name(purposes[p]),
                        denied[i]);
            CHECK(!ok);
        }
    /* What the support lookup needs still works. */
    CHECK(
        prepares(conns[PURPOSE_SUPPORT],
                 "SELECT contact_id, role, name_masked, email_masked, phone_masked FROM contacts"));
    CHECK(prepares(conns[PURPOSE_SUPPORT], "SELECT legal_name_ct, dek_id FROM accounts"));
    CHECK(!prepares(conns[PURPOSE_SUPPORT], "SELECT address_ct FROM accounts"));
    /* Invoicing reads the account's billing fields, not the masks either. */
    CHECK(prepares(conns[PURPOSE_INVOICING],
                   "SELECT legal_name_ct, address_ct, vat_id_ct FROM accounts"));
    CHECK(!prepares(conns[PURPOSE_INVOICING], "SELECT phone_masked FROM contacts"));
    /* The export purpose reads the contact ciphertext. */
    CHECK(prepares(conns[PURPOSE_EXPORT], "SELECT name_ct, email_ct, phone_ct FROM contacts"));
}

static void test_only_payment_collection_reads_the_vault(void)
{
    /* The number: payment collection alone. The holder's name (and the
     * joins to it): payment collection and the access-request export. */
    const struct {
        const char *sql;
        bool export;
    } vault[] = {
        {"SELECT number_ct FROM payment_vault", false},
        {"SELECT holder_ct FROM payment_vault", true},
        {"SELECT method_id FROM payment_vault", true},
        {"SELECT m.token FROM payment_methods m JOIN payment_vault v ON v.method_id = m.method_id",
         true},
        {"SELECT dek_id FROM payment_methods", true},
        {"SELECT count(*) FROM payment_vault", true},
        {"SELECT v.number_ct FROM payment_methods m JOIN payment_vault v USING (method_id)", false},
        /* The lookup of tokens issued before 0006: reveal's alone. */
        {"SELECT token, method_id FROM payment_token_legacy", false},
    };
    for (int p = 0; p < PURPOSE_COUNT; p++) {
        for (size_t i = 0; i < sizeof vault / sizeof vault[0]; i++) {
            bool ok = prepares(conns[p], vault[i].sql);
            bool want = p == PURPOSE_PAYMENT || (p == PURPOSE_EXPORT && vault[i].export);
            if (ok != want)
                fprintf(stderr, "   %s: %s %s\n", inventory_purpose_name(p), vault[i].sql,
                        ok ? "runs" : "is denied");
            CHECK(ok == want);
        }
    }
    /* Everyone else sees the token and its clear metadata. */
    CHECK(prepares(conns[PURPOSE_SUPPORT],
                   "SELECT token, brand, last4, exp_month, exp_year FROM payment_methods"));
    CHECK(prepares(conns[PURPOSE_INVOICING], "SELECT token, last4 FROM payment_methods"));
}

static void test_masks_come_from_the_inventory(void)
{
    char out[64];
    inventory_mask("contacts", "email_ct", "jane.doe@example.de", out, sizeof out);
    CHECK(strcmp(out, "j***@e***.de") == 0);
    inventory_mask("contacts", "phone_ct", "+4915112345667", out, sizeof out);
    CHECK(strcmp(out, "+49 *** *** 67") == 0);
    inventory_mask("contacts", "name_ct", "Jane Mary Doe", out, sizeof out);
    CHECK(strcmp(out, "J. M. D.") == 0);
    inventory_mask("payment_vault", "number_ct", "4242424242424242", out, sizeof out);
    CHECK(strcmp(out, "4242") == 0);
    /* Hidden, empty and undeclared columns show nothing. */
    inventory_mask("accounts", "vat_id_ct", "DE136695976", out, sizeof out);
    CHECK(out[0] == '\0');
    inventory_mask("contacts", "email_ct", "", out, sizeof out);
    CHECK(out[0] == '\0');
    inventory_mask("contacts", "no_such_column", "secret", out, sizeof out);
    CHECK(out[0] == '\0');
}

static void test_only_select(void)
{
    const char *const writes[] = {
        "INSERT INTO accounts(account_id, currency) VALUES ('x', 'EUR')",
        "UPDATE accounts SET currency = 'USD'",
        "DELETE FROM accounts",
        "PRAGMA query_only = OFF",
        "ATTACH DATABASE ':memory:' AS other",
        "CREATE TABLE t(x)",
    };
    for (int p = 0; p < PURPOSE_COUNT; p++)
        for (size_t i = 0; i < sizeof writes / sizeof writes[0]; i++)
            CHECK(!prepares(conns[p], writes[i]));
}

int main(void)
{
    char path[512];
    mb_error err;
    unit_path(path, sizeof path, "purposes.db");
    if (store_conn_open(path, true, false, &admin, &err) != 0 ||
        store_migrate(admin, NULL, &err) != 0) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    for (int p = 0; p < PURPOSE_COUNT; p++) {
        /* Not query_only: the authorizer alone must stop writes. */
        if (store_conn_open(path, false, false, &conns[p], &err) != 0)
            return 1;
        if (store_conn_bind_purpose(conns[p], p, inventory_readable, inventory_views_sql(p), false,
                                    &err) != 0) {
            fprintf(stderr, "bind %s: %s\n", inventory_purpose_name(p), err.msg);
            return 1;
        }
    }
    RUN(test_declared_columns_exist);
    RUN(test_every_column_is_declared);
    RUN(test_restricted_rows_through_every_purpose);
    RUN(test_support_and_invoicing_cannot_read_contact_details);
    RUN(test_only_payment_collection_reads_the_vault);
    RUN(test_masks_come_from_the_inventory);
    RUN(test_only_select);
    for (int p = 0; p < PURPOSE_COUNT; p++)
        store_conn_close(conns[p]);
    store_conn_close(admin);
    return check_summary();
}
