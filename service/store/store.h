/*
 * store.h - the SQLite database: connections, the reader pool, the writer.
 *
 * Owns every sqlite3 handle in the daemon. There is exactly one connection
 * that writes (the group-commit writer's, see writer.h) and a small pool of
 * query-only connections for reads on the calling thread. Every connection is
 * opened with WAL, synchronous=FULL, foreign_keys=ON and secure_delete=ON, so
 * a commit that returned is on disk and deleted rows are overwritten.
 *
 * Reads for a purpose (support lookup, invoicing, export, payment collection)
 * go through that purpose's pool, whose connections carry an SQLite
 * authorizer that denies every column the purpose may not read, and every
 * statement but SELECT: a wrong query fails at prepare time instead of
 * leaking. The internal pool (store_reader_acquire) is for minbill's own
 * bookkeeping, such as API-key lookups.
 *
 * Prepared statements are cached per connection, keyed by the address of the
 * SQL string: SQL lives as `static const char SQL_X[]` next to the code that
 * uses it and is compiled once per connection.
 */
#ifndef MB_STORE_H
#define MB_STORE_H

#include <stdbool.h>
#include <stdint.h>
#include <sqlite3.h>

#include "base/error.h"

typedef struct store store_t;
typedef struct store_conn store_conn_t;

/* May a connection of this purpose read table.column? (the inventory) */
typedef bool (*store_readable_fn)(int purpose, const char *table, const char *column);

typedef struct store_options {
    int readers;          /* connections per reader pool (>= 1) */
    bool create;          /* create the file if missing */
    int n_purposes;       /* purpose-bound pools, numbered 0..n_purposes-1 */
    store_readable_fn readable;
    const char *(*views)(int purpose); /* row filters (store_conn_bind_purpose) */
} store_options;

/* Process-wide SQLite settings; they only take effect before SQLite
 * initializes, so call this before any other SQLite use (registering a VFS
 * initializes it). store_conn_open() calls it too. Idempotent. */
void store_configure(void);

/* A row (or "?") written 4, 16 or 64 times, comma-separated: statements
 * that take many rows at once, so that their fixed cost is paid per batch
 * rather than per row. */
#define STORE_REPEAT4(r) r "," r "," r "," r
#define STORE_REPEAT16(r) STORE_REPEAT4(r) "," STORE_REPEAT4(r) "," STORE_REPEAT4(r) "," STORE_REPEAT4(r)
#define STORE_REPEAT64(r)                                                                          \
    STORE_REPEAT16(r) "," STORE_REPEAT16(r) "," STORE_REPEAT16(r) "," STORE_REPEAT16(r)

/* Opens a single connection with minbill's pragmas (used by the CLI
 * subcommands and by the pool). */
int store_conn_open(const char *path, bool create, bool query_only, store_conn_t **out,
                    mb_error *err);
void store_conn_close(store_conn_t *conn);
sqlite3 *store_conn_db_borrow(store_conn_t *conn);

/* A job that destroyed key material (dek_destroy) notes it: secure_delete
 * overwrites the row in the database, not the older copies in the WAL, so
 * after the commit the writer has the WAL checkpointed and truncated (see
 * writer.c). take: whether a shred was noted since the last take (clears). */
void store_conn_note_shred(store_conn_t *conn);
bool store_conn_take_shred(store_conn_t *conn);

/* The writer connection's epoch changes whenever what bulk jobs read of
 * the rest of the database may have changed: before a group that runs
 * other jobs, and after a group that failed to commit. Bulk jobs (ingest)
 * may cache what they read (which accounts are active) for as long as the
 * epoch stays the same. */
uint64_t store_conn_epoch(const store_conn_t *conn);
void store_conn_new_epoch(store_conn_t *conn);

/* The cached statement for `sql` (compared by address), reset and with its
 * bindings cleared. The caller resets it again when done so that a read does
 * not hold its snapshot (sqlite3_reset). NULL with err filled on failure. */
sqlite3_stmt *store_conn_prepare(store_conn_t *conn, const char *sql, mb_error *err);

/* Runs one or more statements without results. */
int store_conn_exec(store_conn_t *conn, const char *sql, mb_error *err);

/* Fills err from the connection's last SQLite error: UNAVAILABLE when the
 * storage cannot be written (full disk, I/O error, read-only, busy), INTERNAL
 * otherwise. `what` says what was being done. Returns -1. */
int store_error(store_conn_t *conn, mb_error *err, const char *what);

/* Runs the cached statement sql with text parameters ?1 = a and (if not
 * NULL) ?2 = b to completion; the storage error says `what` failed. */
int store_exec_text(store_conn_t *conn, const char *sql, const char *a, const char *b,
                    const char *what, mb_error *err);

/* The same with one integer parameter ?1 = id (deleting rows by key). */
int store_exec_id(store_conn_t *conn, const char *sql, int64_t id, const char *what, mb_error *err);

/* Runs a bound statement to completion and resets it; the storage error
 * says `what` failed. */
int store_step_done(store_conn_t *conn, sqlite3_stmt *st, const char *what, mb_error *err);

/* Steps a statement that must return a row: 0 on SQLITE_ROW; on no row,
 * NOT_FOUND with not_found as the message; otherwise the storage error,
 * saying `what` was being done. Does not reset the statement. */
int store_step_one(store_conn_t *conn, sqlite3_stmt *st, const char *not_found,
                   const char *what, mb_error *err);

/* Runs fn(conn, arg, err) inside one read transaction on conn: every read
 * fn makes sees one consistent state of the database, whatever commits
 * meanwhile. Keep fn short: an open snapshot holds the WAL back from being
 * checkpointed past it. Returns fn's result (or -1 with err if the
 * transaction cannot be opened or closed). */
int store_read_snapshot(store_conn_t *conn, int (*fn)(store_conn_t *conn, void *arg, mb_error *err),
                        void *arg, mb_error *err);

/* store_read_snapshot() on a connection of purpose's pool. */
int store_read_for(store_t *store, int purpose,
                   int (*fn)(store_conn_t *conn, void *arg, mb_error *err), void *arg,
                   mb_error *err);

/* Opens the database for the daemon: checks/applies migrations on a writer
 * connection, opens the reader pool and starts the writer thread. */
int store_open(const char *path, const store_options *opt, store_t **out, mb_error *err);

/* Stops the writer after it drained its queue, closes every connection (which
 * checkpoints the WAL). */
void store_close(store_t *store);

/* A query-only connection from the internal pool; blocks while all are in
 * use. */
store_conn_t *store_reader_acquire(store_t *store);
/* A query-only connection bound to a purpose (see store_options). */
store_conn_t *store_reader_acquire_for(store_t *store, int purpose);
/* Returns a connection to the pool it came from. */
void store_reader_release(store_t *store, store_conn_t *conn);

/* Installs the purpose authorizer on a connection (used by the pools; public
 * so tests can prove what a purpose cannot read), after creating the
 * purpose's row filters: views_sql (may be NULL) creates TEMP views named as
 * the tables they filter, which then shadow them, and the authorizer lets
 * those tables be read only from inside their views. Opened writable, the
 * connection becomes query-only if asked (after the views exist). */
#define STORE_VIEWS_MAX 8
int store_conn_bind_purpose(store_conn_t *conn, int purpose, store_readable_fn readable,
                            const char *views_sql, bool query_only, mb_error *err);

/* For the writer module. */
store_conn_t *store_writer_conn_borrow(store_t *store);

#endif
