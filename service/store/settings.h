/*
 * settings.h - named integer settings stored in the database (table
 * settings, migrations/0009_privacy.sql).
 *
 * What `minbilld serve` was started with and the tools beside it must use
 * too (the acceptance window, the retention periods): serve records them at
 * start, `minbilld purge` reads them, so a tool never acts on a default
 * the daemon does not use. updated_us is when a value last changed.
 */
#ifndef MB_STORE_SETTINGS_H
#define MB_STORE_SETTINGS_H

#include <stdint.h>

#include "base/error.h"
#include "store/store.h"

/* Records name = value (writer connection, inside the caller's
 * transaction); updated_us changes only when the value does. */
int store_setting_put(store_conn_t *conn, const char *name, int64_t value, mb_error *err)
    __attribute__((warn_unused_result));

/* The stored value of name; FAILED_PRECONDITION naming it when it was never
 * recorded. */
int store_setting_get(store_conn_t *conn, const char *name, int64_t *value, mb_error *err)
    __attribute__((warn_unused_result));

#endif
