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
                  inventory_fields[i].retention && inventory_fields[i].category &&
                  inventory_fields[i].source && inventory_fields[i].recipients);
    }
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
    CHECK(prepares(conns[PURPOSE_SUPPORT],
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
    const char *const vault[] = {
        "SELECT number_ct FROM payment_vault",
        "SELECT holder_ct FROM payment_vault",
        "SELECT method_id FROM payment_vault",
        "SELECT m.token FROM payment_methods m JOIN payment_vault v ON v.method_id = m.method_id",
        "SELECT dek_id FROM payment_methods",
        "SELECT count(*) FROM payment_vault",
        /* The lookup of tokens issued before 0006: reveal's alone. */
        "SELECT token, method_id FROM payment_token_legacy",
    };
    for (int p = 0; p < PURPOSE_COUNT; p++) {
        for (size_t i = 0; i < sizeof vault / sizeof vault[0]; i++) {
            bool ok = prepares(conns[p], vault[i]);
            if (ok != (p == PURPOSE_PAYMENT))
                fprintf(stderr, "   %s: %s %s\n", inventory_purpose_name(p), vault[i],
                        ok ? "runs" : "is denied");
            CHECK(ok == (p == PURPOSE_PAYMENT));
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
        store_conn_bind_purpose(conns[p], p, inventory_readable);
    }
    RUN(test_declared_columns_exist);
    RUN(test_support_and_invoicing_cannot_read_contact_details);
    RUN(test_only_payment_collection_reads_the_vault);
    RUN(test_masks_come_from_the_inventory);
    RUN(test_only_select);
    for (int p = 0; p < PURPOSE_COUNT; p++)
        store_conn_close(conns[p]);
    store_conn_close(admin);
    return check_summary();
}
