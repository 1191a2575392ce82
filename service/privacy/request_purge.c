/*
 * request_purge.c - see request_purge.h.
 */
#include "privacy/request_purge.h"

/* The same requests for the three deletes of a step (one transaction):
 * the oldest closed before the cutoff, in a stable order. */
#define SQL_DUE                                                                                    \
    "SELECT request_id FROM subject_requests WHERE state <> 'open' AND completed_us < ?1"          \
    " ORDER BY completed_us, request_id LIMIT ?2"

static const char SQL_COUNT[] =
    "SELECT count(*) FROM subject_requests WHERE state <> 'open' AND completed_us < ?1";
static const char SQL_DELETE_NOTICES[] =
    "DELETE FROM subject_request_notices WHERE request_id IN (" SQL_DUE ")";
static const char SQL_DELETE_SCOPE[] =
    "DELETE FROM subject_request_scope WHERE request_id IN (" SQL_DUE ")";
static const char SQL_DELETE_REQUESTS[] =
    "DELETE FROM subject_requests WHERE request_id IN (" SQL_DUE ")";

/* Runs a delete of the step's requests; the rows it deleted, or -1. */
static int delete_due(store_conn_t *conn, const char *sql, int64_t cutoff, int limit, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, sql, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, cutoff);
    sqlite3_bind_int(st, 2, limit);
    if (store_step_done(conn, st, "purging closed subject requests", err) != 0)
        return -1;
    return sqlite3_changes(store_conn_db_borrow(conn));
}

static int count_due(store_conn_t *conn, int64_t cutoff, int64_t *n, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_COUNT, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, cutoff);
    int rc = store_step_one(conn, st, "no count", "counting closed subject requests", err);
    if (rc == 0)
        *n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    return rc;
}

int request_purge_step(store_conn_t *conn, void *arg, const purge_ctx *ctx, purge_step *step,
                       mb_error *err)
{
    (void)arg;
    int64_t cutoff =
        ctx->now_us - ctx->settings->subject_request_retention_days * 86400 * (int64_t)1000000;
    if (ctx->dry_run)
        return count_due(conn, cutoff, &step->removed, err);
    int n;
    if (delete_due(conn, SQL_DELETE_NOTICES, cutoff, ctx->chunk, err) < 0 ||
        delete_due(conn, SQL_DELETE_SCOPE, cutoff, ctx->chunk, err) < 0 ||
        (n = delete_due(conn, SQL_DELETE_REQUESTS, cutoff, ctx->chunk, err)) < 0)
        return -1;
    step->removed = n;
    step->more = n == ctx->chunk;
    return 0;
}
