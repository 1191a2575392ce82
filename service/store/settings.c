/*
 * settings.c - see settings.h.
 */
#include "store/settings.h"

#include "base/clock.h"

static const char SQL_PUT[] = "INSERT INTO settings(name, value, updated_us) VALUES (?1, ?2, ?3)"
                              " ON CONFLICT(name) DO UPDATE SET value = excluded.value,"
                              " updated_us = excluded.updated_us WHERE value <> excluded.value";
static const char SQL_GET[] = "SELECT value FROM settings WHERE name = ?1";

int store_setting_put(store_conn_t *conn, const char *name, int64_t value, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_PUT, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, value);
    sqlite3_bind_int64(st, 3, mb_now_us());
    return store_step_done(conn, st, "recording a setting", err);
}

int store_setting_get(store_conn_t *conn, const char *name, int64_t *value, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_GET, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = store_step_one(conn, st, "", "reading a setting", err);
    if (rc == 0)
        *value = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc != 0 && err->code == GRPC_STATUS_NOT_FOUND)
        mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                     "setting %s is not recorded in the database: minbilld serve records its "
                     "settings when it starts; start it once on this database",
                     name);
    return rc;
}
