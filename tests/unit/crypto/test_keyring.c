/*
 * test_keyring.c - key file creation and loading rules, and binding a key
 * to a database (secrets created once, stable, wrapped; a foreign key
 * refused).
 */
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "check.h"
#include "crypto/keyring.h"
#include "store/migrate.h"
#include "unit_db.h"
#include "unit_tmp.h"

static void test_key_file_rules(void)
{
    char path[512];
    mb_error err;
    unit_path(path, sizeof path, "k1.key");
    CHECK(keyring_file_create(path, &err) == 0);
    struct stat st;
    CHECK(stat(path, &st) == 0 && (st.st_mode & 0777) == 0600 && st.st_size == 32);
    CHECK(keyring_file_create(path, &err) != 0); /* never overwrite a key */
    CHECK_CONTAINS(err.msg, "already exists");

    keyring_t *kr = NULL;
    CHECK(keyring_load(path, &kr, &err) == 0);
    keyring_free(kr);

    chmod(path, 0640);
    CHECK(keyring_load(path, &kr, &err) != 0);
    CHECK_CONTAINS(err.msg, "chmod 600");
    chmod(path, 0604);
    CHECK(keyring_load(path, &kr, &err) != 0);

    char shortp[512];
    unit_path(shortp, sizeof shortp, "short.key");
    FILE *f = fopen(shortp, "w");
    fputs("too short", f);
    fclose(f);
    chmod(shortp, 0600);
    CHECK(keyring_load(shortp, &kr, &err) != 0);
    CHECK_CONTAINS(err.msg, "exactly 32 bytes");

    CHECK(keyring_load("/nonexistent/minbill.key", &kr, &err) != 0);
    CHECK_CONTAINS(err.msg, "keys init");
}

static void test_attach(void)
{
    char kpath[512], k2path[512], dbpath[512];
    mb_error err;
    unit_path(kpath, sizeof kpath, "db.key");
    unit_path(k2path, sizeof k2path, "other.key");
    CHECK(keyring_file_create(kpath, &err) == 0);
    CHECK(keyring_file_create(k2path, &err) == 0);
    store_conn_t *c = NULL;
    CHECK(store_conn_open(unit_path(dbpath, sizeof dbpath, "keyring.db"), true, false, &c, &err) ==
          0);
    CHECK(store_migrate(c, NULL, &err) == 0);

    keyring_t *a = NULL, *b = NULL, *other = NULL;
    CHECK(keyring_load(kpath, &a, &err) == 0);
    CHECK(unit_keyring_attach(a, c, &err) == 0);
    /* The same key again (a restart) finds the same secret. */
    CHECK(keyring_load(kpath, &b, &err) == 0);
    CHECK(unit_keyring_attach(b, c, &err) == 0);
    CHECK(sodium_memcmp(keyring_secret_borrow(a, KEYRING_SECRET_APIKEY_HASH),
                        keyring_secret_borrow(b, KEYRING_SECRET_APIKEY_HASH),
                        KEYRING_KEY_BYTES) == 0);
    /* The secret is stored wrapped, never in clear. */
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(store_conn_db_borrow(c), "SELECT wrapped FROM keyring_secrets", -1, &st,
                             NULL) == SQLITE_OK);
    int rows = 0;
    while (sqlite3_step(st) == SQLITE_ROW) {
        rows++;
        const void *w = sqlite3_column_blob(st, 0);
        CHECK(sqlite3_column_bytes(st, 0) == KEYRING_KEY_BYTES + 16);
        CHECK(w != NULL && memcmp(w, keyring_secret_borrow(a, KEYRING_SECRET_APIKEY_HASH),
                                  KEYRING_KEY_BYTES) != 0);
    }
    sqlite3_finalize(st);
    CHECK(rows == KEYRING_SECRET_COUNT);

    /* Another key file is refused, and writes nothing. */
    CHECK(keyring_load(k2path, &other, &err) == 0);
    CHECK(unit_keyring_attach(other, c, &err) != 0);
    CHECK_STATUS(err, GRPC_STATUS_FAILED_PRECONDITION);
    CHECK_CONTAINS(err.msg, "not this database's master key");
    keyring_free(a);
    keyring_free(b);
    keyring_free(other);
    store_conn_close(c);
}

int main(void)
{
    RUN(test_key_file_rules);
    RUN(test_attach);
    return check_summary();
}
