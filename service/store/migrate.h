/*
 * migrate.h - the schema history: migrations/NNNN_name.sql, embedded at build
 * time, applied in order, each in its own transaction, each recorded in the
 * schema_migrations table. A database whose history is longer than the
 * binary's, or differs from it, is refused: running an old binary on a newer
 * schema is how data gets silently corrupted.
 */
#ifndef MB_STORE_MIGRATE_H
#define MB_STORE_MIGRATE_H

#include "base/error.h"
#include "store/store.h"

typedef struct store_migration {
    int version;
    const char *name;
    const char *sql;
} store_migration;

extern const store_migration store_migrations[];
extern const int store_migrations_count;

/* Applies the missing migrations. *applied (if not NULL) receives how many
 * were applied now. FAILED_PRECONDITION if the database is newer or has a
 * different history. */
int store_migrate(store_conn_t *conn, int *applied, mb_error *err);

/* The same, stopping after migration `last`: for tests of a migration,
 * which need a database as the one before it left it. */
int store_migrate_upto(store_conn_t *conn, int last, int *applied, mb_error *err);

#endif
