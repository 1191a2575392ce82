/*
 * test_pcache.c - the page-cache wrapper (store/pcache.h): under inserts
 * that split pages (and park one under the lock-byte page's number),
 * transactions rolled back after growing the file, savepoints rolled back
 * and a VACUUM that shrinks it, the long-lived connection reads exactly
 * what a fresh one reads and the database stays intact; truncates with
 * nothing to remove are skipped, the others passed on.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "store/pcache.h"
#include "store/store.h"
#include "unit_tmp.h"

static int exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "  %s: %s\n", sql, msg ? msg : "?");
    sqlite3_free(msg);
    return rc;
}

/* n rows of random 16-byte keys and 200-byte values. */
static int insert_random(sqlite3 *db, int n)
{
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "INSERT INTO t(k, v) VALUES (?1, randomblob(200))", -1, &st,
                           NULL) != SQLITE_OK)
        return -1;
    int rc = SQLITE_DONE;
    for (int i = 0; i < n && rc == SQLITE_DONE; i++) {
        unsigned char k[16];
        randombytes_buf(k, sizeof k);
        sqlite3_bind_blob(st, 1, k, sizeof k, SQLITE_TRANSIENT);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc == SQLITE_DONE ? 0 : -1;
}

/* A digest of every row, in key order. */
static void digest(sqlite3 *db, unsigned char out[32], long *rows)
{
    crypto_generichash_state h;
    crypto_generichash_init(&h, NULL, 0, 32);
    sqlite3_stmt *st;
    *rows = 0;
    if (sqlite3_prepare_v2(db, "SELECT k, v FROM t ORDER BY k", -1, &st, NULL) == SQLITE_OK) {
        while (sqlite3_step(st) == SQLITE_ROW) {
            for (int c = 0; c < 2; c++)
                crypto_generichash_update(&h, sqlite3_column_blob(st, c),
                                          (size_t)sqlite3_column_bytes(st, c));
            (*rows)++;
        }
        sqlite3_finalize(st);
    }
    crypto_generichash_final(&h, out, 32);
}

static void check_same(sqlite3 *db, const char *path, long want_rows)
{
    sqlite3 *fresh = NULL;
    unsigned char a[32], b[32];
    long ra = -1, rb = -2;
    CHECK(sqlite3_open(path, &fresh) == SQLITE_OK);
    digest(db, a, &ra);
    digest(fresh, b, &rb);
    CHECK(ra == want_rows && rb == want_rows);
    CHECK(memcmp(a, b, sizeof a) == 0);
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW &&
          strcmp((const char *)sqlite3_column_text(st, 0), "ok") == 0);
    sqlite3_finalize(st);
    sqlite3_close(fresh);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    store_configure(); /* installs the wrapper, before SQLite initializes */
    char path[512];
    unit_path(path, sizeof path, "pcache.db");
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(exec(db, "PRAGMA journal_mode=WAL; PRAGMA cache_size=-65536;"
                   "CREATE TABLE t(k BLOB PRIMARY KEY, v BLOB) WITHOUT ROWID") == SQLITE_OK);
    long rows = 0;
    uint64_t passed0, skipped0, passed, skipped;
    store_pcache_counts(&passed0, &skipped0);
    for (int round = 0; round < 60; round++) {
        /* Committed growth: splits, some of them reordering new pages. */
        CHECK(exec(db, "BEGIN") == SQLITE_OK);
        CHECK(insert_random(db, 200) == 0);
        CHECK(exec(db, "COMMIT") == SQLITE_OK);
        rows += 200;
        if (round % 5 == 1) {
            /* Growth rolled back: the pages past the end must go. */
            CHECK(exec(db, "BEGIN") == SQLITE_OK);
            CHECK(insert_random(db, 3000) == 0);
            CHECK(exec(db, "ROLLBACK") == SQLITE_OK);
        }
        if (round % 5 == 2) {
            /* A savepoint rolled back inside a committed transaction. */
            CHECK(exec(db, "BEGIN; SAVEPOINT s") == SQLITE_OK);
            CHECK(insert_random(db, 2000) == 0);
            CHECK(exec(db, "ROLLBACK TO s; RELEASE s") == SQLITE_OK);
            CHECK(insert_random(db, 50) == 0);
            CHECK(exec(db, "COMMIT") == SQLITE_OK);
            rows += 50;
        }
        if (round % 20 == 19) {
            /* Fewer pages: the file shrinks under the cache. */
            CHECK(exec(db, "DELETE FROM t WHERE k < x'40'") == SQLITE_OK);
            rows -= sqlite3_changes(db);
            CHECK(exec(db, "VACUUM") == SQLITE_OK);
        }
        if (round % 10 == 9)
            check_same(db, path, rows);
    }
    store_pcache_counts(&passed, &skipped);
    fprintf(stderr, "  truncates passed on %llu, skipped %llu\n",
            (unsigned long long)(passed - passed0), (unsigned long long)(skipped - skipped0));
    CHECK(skipped > skipped0);
    CHECK(passed > passed0);
    sqlite3_close(db);
    return check_summary();
}
