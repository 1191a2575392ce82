/*
 * migrate.h - the schema history: migrations/NNNN_name.sql, embedded at build
 * time, applied in order, each in its own transaction, each recorded in the
 * schema_migrations table. A database whose history is longer than the
 * binary's, or differs from it, is refused: running an old binary on a newer
 * schema is how data gets silently corrupted.
 *
 * The same goes for a daemon that keeps serving while a newer binary
 * migrates under it (0006, say, moves tokens the old daemon still looks up
 * by a column it no longer indexes, and the old daemon would issue tokens
 * the new one cannot find). So a serving daemon holds the schema lock
 * "<db>.lock" shared (flock) for its life; migrating a database that
 * already has a history needs it exclusively, and only `minbilld migrate`
 * and `minbilld serve` (at start, before it shares it) migrate at all. The
 * other subcommands only migrate a database that has no history yet.
 */
#ifndef MB_STORE_MIGRATE_H
#define MB_STORE_MIGRATE_H

#include <stdbool.h>

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
 * different history, or if it has a history, migrations are missing and the
 * schema lock stays taken (a daemon serves it) for STORE_LOCK_WAIT_MS. */
int store_migrate(store_conn_t *conn, int *applied, mb_error *err);

/* For the subcommands that work beside a serving daemon (keys, purge): a
 * new database is migrated (nobody can be serving it); one with a history
 * must be at this binary's schema, else FAILED_PRECONDITION naming
 * `minbilld migrate`. */
int store_migrate_new_only(store_conn_t *conn, mb_error *err);

/* FAILED_PRECONDITION unless the database is at exactly this binary's
 * schema (after taking the shared schema lock, nobody can change that). */
int store_schema_current(store_conn_t *conn, mb_error *err);

#define STORE_LOCK_WAIT_MS 2000

/* Takes the schema lock of the database at db_path, shared or exclusive,
 * trying for STORE_LOCK_WAIT_MS; *fd receives the lock's descriptor, for
 * store_schema_unlock(). FAILED_PRECONDITION when it stays taken. */
int store_schema_lock(const char *db_path, bool exclusive, int *fd, mb_error *err);
void store_schema_unlock(int fd); /* -1 is a no-op; also releases a serve lock */

/* The serving lock "<db>.serve.lock", taken exclusively for a daemon's
 * life: one serving process per database, since each keeps its own
 * idempotency filter and a second one would count the same usage again.
 * (The schema lock cannot say this: the tools that work beside a daemon
 * share it.) The holder writes its pid into the file, so that one refused
 * (FAILED_PRECONDITION) can name it. */
int store_serve_lock(const char *db_path, int *fd, mb_error *err);

/* The same, stopping after migration `last`: for tests of a migration,
 * which need a database as the one before it left it. */
int store_migrate_upto(store_conn_t *conn, int last, int *applied, mb_error *err);

#endif
