/*
 * test_erase_data.c - privacy_closed_purge_step(), the purge rule for
 * accounts closed longer than their grace period: every contact and
 * payment method of such an account (with their vault rows, legacy tokens
 * and data keys) goes, a chunk per step; the account's own row and key
 * stay (the purge does not erase them), its default payment method no
 * longer names a deleted token, an account closed within its grace period
 * and an open one keep everything. A dry run counts and changes nothing;
 * a second run finds nothing left.
 */
#include "check.h"
#include "inventory/inventory.h"
#include "base/clock.h"
#include "privacy/erase.h"
#include "store/writer.h"
#include "unit_db.h"
#include "unit_tmp.h"

#define CONTACTS 150 /* more than two chunks */
#define METHODS 70

static store_t *store;

/* Rows written as the daemon would, keys made up (nothing is decrypted). */
static const char SQL_WORLD[] =
    "INSERT INTO keyring_master(version, key_id) VALUES (1, x'01');"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1000)"
    " INSERT INTO data_keys(dek_id, master_version, nonce, wrapped)"
    " SELECT i, 1, x'00', randomblob(40) FROM n;"
    "INSERT INTO accounts(account_id, currency, dek_id, legal_name_ct)"
    " VALUES ('a1', 'EUR', 1, x'aa'), ('a2', 'EUR', 2, x'bb');"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 150)"
    " INSERT INTO contacts(account_id, contact_id, role, dek_id, name_ct)"
    " SELECT 'a1', 'c' || i, 'billing', 10 + i, x'01' FROM n;"
    "INSERT INTO contacts(account_id, contact_id, role, dek_id, name_ct)"
    " VALUES ('a2', 'c1', 'billing', 3, x'02');"
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 70)"
    " INSERT INTO payment_methods(method_id, token, account_id, type, last4, fingerprint,"
    " dek_id, created_us) SELECT i, 'pm_' || i, 'a1', 'card', '4242', randomblob(8), 500 + i, 1"
    " FROM n;"
    "INSERT INTO payment_methods(method_id, token, account_id, type, last4, fingerprint, dek_id,"
    " created_us) VALUES (100, 'pm_other', 'a2', 'card', '4444', x'01', 4, 1);"
    "INSERT INTO payment_vault(method_id, number_ct) SELECT method_id, x'01' FROM payment_methods;"
    "INSERT INTO payment_token_legacy(token, method_id) VALUES ('old_1', 1), ('old_other', 100);"
    "UPDATE accounts SET default_payment_method = 'pm_5' WHERE account_id = 'a1';"
    "UPDATE accounts SET default_payment_method = 'pm_other' WHERE account_id = 'a2';"
    /* a1 closed 40 days ago, a2 10 days ago (grace: 30 days). */
    "UPDATE accounts SET state = 'closed', closed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now',"
    " '-40 days') WHERE account_id = 'a1';"
    "UPDATE accounts SET state = 'closed', closed_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now',"
    " '-10 days') WHERE account_id = 'a2';";

static int world_job(store_conn_t *conn, void *arg, mb_error *err)
{
    return store_conn_exec(conn, arg, err);
}

static long count(const char *sql)
{
    store_conn_t *c = store_reader_acquire(store);
    long n = unit_query_long(c, sql);
    store_reader_release(store, c);
    return n;
}

typedef struct run {
    purge_settings settings;
    purge_ctx ctx;
    purge_step step;
    int64_t removed, keys, steps;
} run;

static int step_job(store_conn_t *conn, void *arg, mb_error *err)
{
    run *r = arg;
    return privacy_closed_purge_step(conn, NULL, &r->ctx, &r->step, err);
}

/* Runs the rule to its end, one writer job per step, as the facility does. */
static int purge_closed(bool dry_run, run *r, mb_error *err)
{
    memset(r, 0, sizeof *r);
    purge_settings_default(&r->settings);
    r->ctx = (purge_ctx){.now_us = mb_now_us(),
                         .dry_run = dry_run,
                         .chunk = CLOSED_PURGE_CHUNK,
                         .settings = &r->settings};
    do {
        r->step.removed = r->step.keys_destroyed = 0;
        if (store_write_sync(store, step_job, r, err) != 0)
            return -1;
        r->removed += r->step.removed;
        r->keys += r->step.keys_destroyed;
        r->steps++;
    } while (r->step.more && r->steps < 100);
    return 0;
}

static void test_account_data_erased(void)
{
    mb_error err;
    CHECK(store_write_sync(store, world_job, (void *)SQL_WORLD, &err) == 0);
    run r;
    CHECK(purge_closed(true, &r, &err) == 0);
    CHECK(r.removed == CONTACTS + METHODS);
    CHECK(count("SELECT count(*) FROM contacts WHERE account_id = 'a1'") == CONTACTS);
    CHECK(purge_closed(false, &r, &err) == 0);
    CHECK(r.removed == CONTACTS + METHODS && r.keys == CONTACTS + METHODS);
    CHECK(r.steps > 3); /* in chunks */
    CHECK(count("SELECT count(*) FROM contacts WHERE account_id = 'a1'") == 0);
    CHECK(count("SELECT count(*) FROM payment_methods WHERE account_id = 'a1'") == 0);
    CHECK(count("SELECT count(*) FROM payment_vault") == 1);
    CHECK(count("SELECT count(*) FROM payment_token_legacy") == 1);
    /* The keys of what went are destroyed; the accounts' own stay. */
    CHECK(count("SELECT count(*) FROM data_keys WHERE dek_id > 10 AND dek_id <= 160") == 0);
    CHECK(count("SELECT count(*) FROM data_keys WHERE dek_id > 500 AND dek_id <= 570") == 0);
    CHECK(count("SELECT count(*) FROM data_keys WHERE dek_id <= 4") == 4);
    CHECK(count("SELECT count(*) FROM accounts WHERE account_id = 'a1'"
                " AND dek_id = 1 AND legal_name_ct IS NOT NULL"
                " AND default_payment_method IS NULL") == 1);
    /* Inside its grace period: untouched. */
    CHECK(count("SELECT count(*) FROM contacts WHERE account_id = 'a2'") == 1);
    CHECK(count("SELECT count(*) FROM accounts WHERE account_id = 'a2'"
                " AND default_payment_method = 'pm_other'") == 1);
    /* Nothing is left for a second run. */
    CHECK(purge_closed(false, &r, &err) == 0);
    CHECK(r.removed == 0);
}

int main(void)
{
    char path[512];
    mb_error err;
    store_options so = {.readers = 2,
                        .create = true,
                        .n_purposes = PURPOSE_COUNT,
                        .readable = inventory_readable,
                        .views = inventory_views_sql};
    if (store_open(unit_path(path, sizeof path, "erase.db"), &so, &store, &err) != 0) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    RUN(test_account_data_erased);
    store_close(store);
    return check_summary();
}
