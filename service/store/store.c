/*
 * store.c - connections, statement cache and reader pool (see store.h).
 */
#include "store/store.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "store/migrate.h"
#include "store/pcache.h"
#include "store/writer.h"

/* Enough for every statement of the daemon on one connection; a full cache
 * is a programming error reported as INTERNAL, not a silent slowdown. */
#define STMT_CACHE 256

typedef struct stmt_slot {
    const char *sql;
    sqlite3_stmt *stmt;
} stmt_slot;

typedef struct reader_pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    store_conn_t *free;
    store_conn_t **all;
    int size;
} reader_pool;

struct store_conn {
    sqlite3 *db;
    stmt_slot stmts[STMT_CACHE];
    int purpose;
    store_readable_fn readable;
    /* The purpose's row filters: TEMP views named as the tables they
     * filter (see store_conn_bind_purpose). */
    char views[STORE_VIEWS_MAX][32];
    int n_views;
    reader_pool *pool;       /* the pool it belongs to, if any */
    store_conn_t *next_free; /* that pool's free list */
    bool shredded;           /* store_conn_note_shred() since the last take */
    uint64_t epoch;          /* store_conn_epoch() */
};

struct store {
    store_conn_t *writer_conn;
    store_writer_t *writer;
    reader_pool *pools; /* [0]: internal; [1 + purpose]: purpose-bound */
    int n_pools;
    int schema_lock; /* shared for the store's life (migrate.h) */
    int serve_lock;  /* exclusive for the store's life (migrate.h) */
};

int store_error(store_conn_t *conn, mb_error *err, const char *what)
{
    int rc = sqlite3_extended_errcode(conn->db) & 0xff;
    grpc_status_code code = GRPC_STATUS_INTERNAL;
    if (rc == SQLITE_FULL || rc == SQLITE_IOERR || rc == SQLITE_READONLY || rc == SQLITE_BUSY ||
        rc == SQLITE_LOCKED || rc == SQLITE_CANTOPEN || rc == SQLITE_NOMEM)
        code = GRPC_STATUS_UNAVAILABLE;
    return mb_error_set(err, code, "storage: %s: %s", what, sqlite3_errmsg(conn->db));
}

int store_step_done(store_conn_t *conn, sqlite3_stmt *st, const char *what, mb_error *err)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_error(conn, err, what);
}

int store_exec_text(store_conn_t *conn, const char *sql, const char *a, const char *b,
                    const char *what, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, sql, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (b != NULL)
        sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
    return store_step_done(conn, st, what, err);
}

int store_exec_id(store_conn_t *conn, const char *sql, int64_t id, const char *what, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, sql, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    return store_step_done(conn, st, what, err);
}
int store_step_one(store_conn_t *conn, sqlite3_stmt *st, const char *not_found, const char *what,
                   mb_error *err)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        return 0;
    if (rc == SQLITE_DONE)
        return mb_error_set(err, GRPC_STATUS_NOT_FOUND, "%s", not_found);
    return store_error(conn, err, what);
}

int store_conn_exec(store_conn_t *conn, const char *sql, mb_error *err)
{
    char *msg = NULL;
    if (sqlite3_exec(conn->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        store_error(conn, err, "exec");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

/* SQLite's memory statistics take a process-wide mutex around every
 * allocation (about 7% of the writer's time under ingest); minbill never
 * reads them. The page cache's truncate at every commit walked the whole
 * cache (pcache.h). */
static pthread_once_t configure_once = PTHREAD_ONCE_INIT;

static void configure(void)
{
    sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
    store_pcache_install();
}

void store_configure(void)
{
    pthread_once(&configure_once, configure);
}

int store_conn_open(const char *path, bool create, bool query_only, store_conn_t **out,
                    mb_error *err)
{
    store_configure();
    store_conn_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "storage: out of memory");
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
    if (sqlite3_open_v2(path, &c->db, flags, NULL) != SQLITE_OK) {
        mb_error_set(err, GRPC_STATUS_UNAVAILABLE, "storage: cannot open %s: %s", path,
                     c->db ? sqlite3_errmsg(c->db) : "out of memory");
        goto fail;
    }
    sqlite3_extended_result_codes(c->db, 1);
    sqlite3_busy_timeout(c->db, 5000);
    /* journal_mode=WAL persists in the file. Switching a new file to WAL
     * takes an exclusive lock without consulting the busy handler, so a
     * process racing another one opening the same new file retries here. */
    for (int tries = 0;; tries++) {
        int rc = sqlite3_exec(c->db, "PRAGMA journal_mode=WAL", NULL, NULL, NULL);
        if (rc == SQLITE_OK)
            break;
        if (((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED) || tries == 500) {
            store_error(c, err, "switching to WAL");
            goto fail;
        }
        sqlite3_sleep(10);
    }
    if (store_conn_exec(c,
                        "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;"
                        "PRAGMA secure_delete=ON;",
                        err) != 0)
        goto fail;
    if (query_only && store_conn_exec(c, "PRAGMA query_only=ON;", err) != 0)
        goto fail;
    *out = c;
    return 0;
fail:
    store_conn_close(c);
    return -1;
}

void store_conn_close(store_conn_t *conn)
{
    if (conn == NULL)
        return;
    for (int i = 0; i < STMT_CACHE; i++)
        sqlite3_finalize(conn->stmts[i].stmt);
    sqlite3_close(conn->db);
    free(conn);
}

void store_conn_note_shred(store_conn_t *conn)
{
    conn->shredded = true;
}

uint64_t store_conn_epoch(const store_conn_t *conn)
{
    return conn->epoch;
}

void store_conn_new_epoch(store_conn_t *conn)
{
    conn->epoch++;
}

bool store_conn_take_shred(store_conn_t *conn)
{
    bool shredded = conn->shredded;
    conn->shredded = false;
    return shredded;
}

sqlite3 *store_conn_db_borrow(store_conn_t *conn)
{
    return conn->db;
}

sqlite3_stmt *store_conn_prepare(store_conn_t *conn, const char *sql, mb_error *err)
{
    uintptr_t h = (uintptr_t)sql;
    h ^= h >> 17;
    h *= 0x9e3779b97f4a7c15u;
    size_t i = (size_t)(h >> 40) % STMT_CACHE;
    for (size_t n = 0; n < STMT_CACHE; n++, i = (i + 1) % STMT_CACHE) {
        stmt_slot *s = &conn->stmts[i];
        if (s->sql == sql) {
            sqlite3_reset(s->stmt);
            sqlite3_clear_bindings(s->stmt);
            return s->stmt;
        }
        if (s->sql == NULL) {
            if (sqlite3_prepare_v3(conn->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->stmt, NULL) !=
                SQLITE_OK) {
                store_error(conn, err, "prepare");
                s->stmt = NULL;
                return NULL;
            }
            s->sql = sql;
            return s->stmt;
        }
    }
    mb_error_set(err, GRPC_STATUS_INTERNAL, "storage: statement cache full");
    return NULL;
}

static bool is_view(const store_conn_t *c, const char *name)
{
    for (int i = 0; name != NULL && i < c->n_views; i++)
        if (strcmp(c->views[i], name) == 0)
            return true;
    return false;
}

static int authorize(void *ctx, int action, const char *a1, const char *a2, const char *db,
                     const char *trigger)
{
    const store_conn_t *c = ctx;
    switch (action) {
    case SQLITE_SELECT:
    case SQLITE_FUNCTION:
    case SQLITE_RECURSIVE:
    case SQLITE_TRANSACTION: /* BEGIN/COMMIT of a consistent read snapshot */
        return SQLITE_OK;
    case SQLITE_READ:
        /* A filtered table is read through its view only: the view's own
         * body (trigger names the view) may read the main table, a query
         * naming main.<table> may not. What the purpose may read of the
         * view is the inventory's column rule. A read without a column
         * (SQLite checks the table when it counts or probes rows, and
         * does so outside the view's context) reads no value. */
        if (db != NULL && strcmp(db, "main") == 0 && is_view(c, a1) && a2 != NULL && a2[0] != '\0')
            return is_view(c, trigger) ? SQLITE_OK : SQLITE_DENY;
        return c->readable(c->purpose, a1, a2) ? SQLITE_OK : SQLITE_DENY;
    default:
        return SQLITE_DENY;
    }
}

int store_conn_bind_purpose(store_conn_t *conn, int purpose, store_readable_fn readable,
                            const char *views_sql, bool query_only, mb_error *err)
{
    static const char SQL_VIEWS[] = "SELECT name FROM temp.sqlite_schema WHERE type = 'view'";
    conn->purpose = purpose;
    conn->readable = readable;
    conn->n_views = 0;
    if (views_sql != NULL && views_sql[0] != '\0') {
        if (store_conn_exec(conn, views_sql, err) != 0)
            return -1;
        sqlite3_stmt *st = store_conn_prepare(conn, SQL_VIEWS, err);
        if (st == NULL)
            return -1;
        while (sqlite3_step(st) == SQLITE_ROW && conn->n_views < STORE_VIEWS_MAX)
            snprintf(conn->views[conn->n_views++], sizeof conn->views[0], "%s",
                     (const char *)sqlite3_column_text(st, 0));
        sqlite3_reset(st);
    }
    /* TEMP views are schema writes: query-only once they exist. */
    if (query_only && store_conn_exec(conn, "PRAGMA query_only=ON;", err) != 0)
        return -1;
    sqlite3_set_authorizer(conn->db, authorize, conn);
    return 0;
}

static int pool_open(reader_pool *p, const char *path, int size, int purpose,
                     const store_options *opt, mb_error *err)
{
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    p->all = calloc((size_t)size, sizeof *p->all);
    if (p->all == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "storage: out of memory");
    for (int i = 0; i < size; i++) {
        if (store_conn_open(path, false, opt == NULL, &p->all[i], err) != 0)
            return -1;
        p->size++;
        if (opt != NULL && store_conn_bind_purpose(p->all[i], purpose, opt->readable,
                                                   opt->views != NULL ? opt->views(purpose) : NULL,
                                                   true, err) != 0)
            return -1;
        p->all[i]->pool = p;
        p->all[i]->next_free = p->free;
        p->free = p->all[i];
    }
    return 0;
}

static void pool_close(reader_pool *p)
{
    for (int i = 0; i < p->size; i++)
        store_conn_close(p->all[i]);
    free(p->all);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
}

int store_open(const char *path, const store_options *opt, store_t **out, mb_error *err)
{
    store_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "storage: out of memory");
    s->schema_lock = s->serve_lock = -1;
    /* Migrate first (exclusively, if there is a history), then share the
     * schema lock for as long as this store serves - and check again once
     * it is shared: a newer binary may have migrated in between. The locks
     * are named after the file SQLite opened (symbolic links resolved), as
     * store_migrate names them. A database this process may not write is
     * refused here: SQLite would open it read-only and fail every write. */
    if (store_conn_open(path, opt->create, false, &s->writer_conn, err) != 0 ||
        store_serve_lock(sqlite3_db_filename(store_conn_db_borrow(s->writer_conn), "main"),
                         &s->serve_lock, err) != 0)
        goto fail;
    if (sqlite3_db_readonly(store_conn_db_borrow(s->writer_conn), "main") == 1) {
        mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                     "storage: %s is read-only for this process (see the owner and mode of the "
                     "file and its directory): minbilld must be able to write it",
                     path);
        goto fail;
    }
    /* The writer's page cache holds the pages ingest keeps returning to
     * (this month's counters, the accounts, the newest idempotency run):
     * with SQLite's default 2 MB, a batch spanning a thousand accounts read
     * most of them back from the file on every group. */
    if (store_conn_exec(s->writer_conn, "PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;",
                        err) != 0 ||
        store_migrate(s->writer_conn, NULL, err) != 0 ||
        store_schema_lock(sqlite3_db_filename(store_conn_db_borrow(s->writer_conn), "main"), false,
                          &s->schema_lock, err) != 0 ||
        store_schema_current(s->writer_conn, err) != 0)
        goto fail;
    int n_purposes = opt->readable != NULL ? opt->n_purposes : 0;
    s->pools = calloc((size_t)(1 + n_purposes), sizeof *s->pools);
    if (s->pools == NULL) {
        mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "storage: out of memory");
        goto fail;
    }
    int size = opt->readers > 0 ? opt->readers : 1;
    for (int i = 0; i <= n_purposes; i++) {
        s->n_pools++;
        if (pool_open(&s->pools[i], path, size, i - 1, i == 0 ? NULL : opt, err) != 0)
            goto fail;
    }
    if (store_writer_start(s, path, &s->writer, err) != 0)
        goto fail;
    *out = s;
    return 0;
fail:
    store_close(s);
    return -1;
}

void store_close(store_t *s)
{
    if (s == NULL)
        return;
    store_writer_stop(s->writer);
    for (int i = 0; i < s->n_pools; i++)
        pool_close(&s->pools[i]);
    free(s->pools);
    /* The writer connection closes last: closing the last connection
     * checkpoints the WAL into the main file and removes it. */
    store_conn_close(s->writer_conn);
    store_schema_unlock(s->schema_lock);
    store_schema_unlock(s->serve_lock);
    free(s);
}

static store_conn_t *pool_acquire(reader_pool *p)
{
    pthread_mutex_lock(&p->lock);
    while (p->free == NULL)
        pthread_cond_wait(&p->cond, &p->lock);
    store_conn_t *c = p->free;
    p->free = c->next_free;
    pthread_mutex_unlock(&p->lock);
    return c;
}

store_conn_t *store_reader_acquire(store_t *s)
{
    return pool_acquire(&s->pools[0]);
}

store_conn_t *store_reader_acquire_for(store_t *s, int purpose)
{
    /* An unknown purpose is a programming error; it must never fall back
     * to the unrestricted internal pool. */
    if (purpose < 0 || purpose + 1 >= s->n_pools)
        abort();
    return pool_acquire(&s->pools[purpose + 1]);
}

void store_reader_release(store_t *s, store_conn_t *c)
{
    (void)s;
    reader_pool *p = c->pool;
    pthread_mutex_lock(&p->lock);
    c->next_free = p->free;
    p->free = c;
    pthread_cond_signal(&p->cond);
    pthread_mutex_unlock(&p->lock);
}

int store_submit(store_t *s, store_job *job, mb_error *err)
{
    return store_writer_submit(s->writer, job, err);
}

store_writer_t *store_writer_borrow(store_t *s)
{
    return s->writer;
}

store_conn_t *store_writer_conn_borrow(store_t *s)
{
    return s->writer_conn;
}

int store_read_snapshot(store_conn_t *conn, int (*fn)(store_conn_t *conn, void *arg, mb_error *err),
                        void *arg, mb_error *err)
{
    /* A deferred BEGIN takes its snapshot at the first read, which is fn's:
     * from there on the connection sees that state until COMMIT. */
    if (store_conn_exec(conn, "BEGIN", err) != 0)
        return -1;
    int ret = fn(conn, arg, err);
    mb_error ignored;
    if (store_conn_exec(conn, "COMMIT", ret == 0 ? err : &ignored) != 0) {
        store_conn_exec(conn, "ROLLBACK", &ignored);
        return -1;
    }
    return ret;
}

int store_read_for(store_t *store, int purpose,
                   int (*fn)(store_conn_t *conn, void *arg, mb_error *err), void *arg,
                   mb_error *err)
{
    store_conn_t *conn = store_reader_acquire_for(store, purpose);
    int ret = store_read_snapshot(conn, fn, arg, err);
    store_reader_release(store, conn);
    return ret;
}
