/*
 * unit_db.h - small database helpers shared by the unit tests.
 */
#ifndef MB_TEST_UNIT_DB_H
#define MB_TEST_UNIT_DB_H

#include <sqlite3.h>

#include "crypto/keyring.h"
#include "store/store.h"

/* The first column of the first row of sql as a number; -1 on any error. */
static inline long unit_query_long(store_conn_t *c, const char *sql)
{
    sqlite3_stmt *st;
    long v = -1;
    if (sqlite3_prepare_v2(store_conn_db_borrow(c), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* keyring_attach() in a write transaction of its own, as minbilld does. */
static inline int unit_keyring_attach(keyring_t *kr, store_conn_t *c, mb_error *err)
{
    if (store_conn_exec(c, "BEGIN IMMEDIATE", err) != 0)
        return -1;
    if (keyring_attach(kr, c, err) != 0) {
        store_conn_exec(c, "ROLLBACK", NULL);
        return -1;
    }
    return store_conn_exec(c, "COMMIT", err);
}

#endif
