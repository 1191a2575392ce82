/*
 * store.c - connections, statement cache and reader pool (see store.h).
 */
#include "store/store.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "store/migrate.h"
#include "store/writer.h"

/* Enough for every statement of the daemon on one connection; a full cache
 * is a programming error reported as INTERNAL, not a silent slowdown. */
#define STMT_CACHE 256

typedef struct stmt_slot {
    const char *sql;
    sqlite3_stmt *stmt;
} stmt_slot;

struct store_conn {
    sqlite3 *db;
    stmt_slot stmts[STMT_CACHE];
    store_conn_t *next_free; /* reader pool free list */
};

struct store {
    store_conn_t *writer_conn;
    store_writer_t *writer;
    pthread_mutex_t pool_lock;
    pthread_cond_t pool_cond;
    store_conn_t *pool_free;
    store_conn_t **pool_all;
    int pool_size;
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

int store_conn_open(const char *path, bool create, bool query_only, store_conn_t **out,
                    mb_error *err)
{
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
    /* journal_mode=WAL persists in the file; the others are per connection. */
    if (store_conn_exec(c, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                           "PRAGMA foreign_keys=ON; PRAGMA secure_delete=ON;",
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
            if (sqlite3_prepare_v3(conn->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &s->stmt,
                                   NULL) != SQLITE_OK) {
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

int store_open(const char *path, const store_options *opt, store_t **out, mb_error *err)
{
    store_t *s = calloc(1, sizeof *s);
    if (s == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "storage: out of memory");
    pthread_mutex_init(&s->pool_lock, NULL);
    pthread_cond_init(&s->pool_cond, NULL);
    if (store_conn_open(path, opt->create, false, &s->writer_conn, err) != 0)
        goto fail;
    if (store_migrate(s->writer_conn, NULL, err) != 0)
        goto fail;
    s->pool_size = opt->readers > 0 ? opt->readers : 1;
    s->pool_all = calloc((size_t)s->pool_size, sizeof *s->pool_all);
    if (s->pool_all == NULL) {
        mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "storage: out of memory");
        goto fail;
    }
    for (int i = 0; i < s->pool_size; i++) {
        if (store_conn_open(path, false, true, &s->pool_all[i], err) != 0)
            goto fail;
        s->pool_all[i]->next_free = s->pool_free;
        s->pool_free = s->pool_all[i];
    }
    if (store_writer_start(s, &s->writer, err) != 0)
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
    for (int i = 0; s->pool_all != NULL && i < s->pool_size; i++)
        store_conn_close(s->pool_all[i]);
    free(s->pool_all);
    /* The writer connection closes last: closing the last connection
     * checkpoints the WAL into the main file and removes it. */
    store_conn_close(s->writer_conn);
    pthread_mutex_destroy(&s->pool_lock);
    pthread_cond_destroy(&s->pool_cond);
    free(s);
}

store_conn_t *store_reader_acquire(store_t *s)
{
    pthread_mutex_lock(&s->pool_lock);
    while (s->pool_free == NULL)
        pthread_cond_wait(&s->pool_cond, &s->pool_lock);
    store_conn_t *c = s->pool_free;
    s->pool_free = c->next_free;
    pthread_mutex_unlock(&s->pool_lock);
    return c;
}

void store_reader_release(store_t *s, store_conn_t *c)
{
    pthread_mutex_lock(&s->pool_lock);
    c->next_free = s->pool_free;
    s->pool_free = c;
    pthread_cond_signal(&s->pool_cond);
    pthread_mutex_unlock(&s->pool_lock);
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
