/*
 * invoice_purge.c - see invoice_purge.h.
 */
#include "invoicing/invoice_purge.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "crypto/dek.h"

/* The next expired class after the cursor, latest retention first. */
static const char SQL_NEXT_CLASS[] = "SELECT class, dek_id, retain_until FROM retention_keys"
                                     " WHERE retain_until < ?1 AND (retain_until, class) < (?2, ?3)"
                                     " ORDER BY retain_until DESC, class DESC LIMIT 1";
/* Documents of the class that no credit note references any more. */
static const char SQL_DELETE_CHUNK[] =
    "DELETE FROM invoices WHERE invoice_number IN"
    " (SELECT i.invoice_number FROM invoices i WHERE i.retention_class = ?1"
    " AND NOT EXISTS (SELECT 1 FROM invoices c WHERE c.original_number = i.invoice_number)"
    " LIMIT ?2)";
static const char SQL_CLASS_LEFT[] = "SELECT 1 FROM invoices WHERE retention_class = ?1 LIMIT 1";
static const char SQL_CLASS_DROP[] = "DELETE FROM retention_keys WHERE class = ?1";
/* A dry run: documents of the class, and those a kept credit note pins. */
static const char SQL_CLASS_COUNT[] =
    "SELECT count(*), coalesce(sum(EXISTS (SELECT 1 FROM invoices c"
    " WHERE c.original_number = i.invoice_number AND c.retain_until >= ?2)), 0)"
    " FROM invoices i WHERE i.retention_class = ?1";

typedef struct expired_class {
    char cls[32];
    char retain_until[11];
    int64_t dek_id;
} expired_class;

/* The cursor is "<retain_until> <class>" of the class visited last. */
static int next_class(store_conn_t *conn, const char *today, const char *cursor, expired_class *out,
                      mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_NEXT_CLASS, err);
    if (st == NULL)
        return -1;
    bool start = cursor[0] == '\0';
    sqlite3_bind_text(st, 1, today, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, start ? "9999-12-31" : cursor, start ? -1 : 10, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, start ? "\x7f" : cursor + 11, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        snprintf(out->cls, sizeof out->cls, "%s", (const char *)sqlite3_column_text(st, 0));
        out->dek_id = sqlite3_column_int64(st, 1);
        snprintf(out->retain_until, sizeof out->retain_until, "%s",
                 (const char *)sqlite3_column_text(st, 2));
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_error(conn, err, "finding invoices past their retention");
    return rc == SQLITE_ROW ? 1 : 0;
}

static int count_class(store_conn_t *conn, const expired_class *c, const char *today,
                       purge_step *step, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_CLASS_COUNT, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, c->cls, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, today, -1, SQLITE_STATIC);
    if (store_step_one(conn, st, "no count", "counting invoices past their retention", err) != 0) {
        sqlite3_reset(st);
        return -1;
    }
    int64_t all = sqlite3_column_int64(st, 0), pinned = sqlite3_column_int64(st, 1);
    sqlite3_reset(st);
    step->removed += all - pinned;
    step->keys_destroyed += pinned == 0;
    return 0;
}

/* Deletes up to max unreferenced documents of the class; *n: how many. */
static int delete_chunk(store_conn_t *conn, const char *cls, int max, int *n, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_DELETE_CHUNK, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, cls, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, max);
    if (store_step_done(conn, st, "deleting invoices past their retention", err) != 0)
        return -1;
    *n = sqlite3_changes(store_conn_db_borrow(conn));
    return 0;
}

/* The class is empty: its row and its key go. */
static int drop_class(store_conn_t *conn, const expired_class *c, purge_step *step, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_CLASS_LEFT, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, c->cls, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW) /* pinned by a kept credit note */
        return 0;
    if (rc != SQLITE_DONE)
        return store_error(conn, err, "checking a retention class");
    if (store_exec_text(conn, SQL_CLASS_DROP, c->cls, NULL, "dropping a retention class", err) !=
            0 ||
        dek_destroy(conn, c->dek_id, err) != 0)
        return -1;
    store_conn_note_shred(conn);
    step->keys_destroyed++;
    return 0;
}

int invoice_purge_step(store_conn_t *conn, void *arg, const purge_ctx *ctx, purge_step *step,
                       mb_error *err)
{
    (void)arg;
    char today[11];
    time_t t = (time_t)(ctx->now_us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(today, sizeof today, "%Y-%m-%d", &tm);
    int budget = ctx->chunk;
    expired_class c;
    int found;
    while ((found = next_class(conn, today, step->cursor, &c, err)) == 1) {
        if (ctx->dry_run) {
            if (count_class(conn, &c, today, step, err) != 0)
                return -1;
        } else {
            /* Deleting a credit note may free the invoice it reversed:
             * go on until a chunk finds nothing more. */
            int n;
            do {
                if (delete_chunk(conn, c.cls, budget, &n, err) != 0)
                    return -1;
                step->removed += n;
                budget -= n;
                if (budget == 0) { /* the cursor stays: this class again */
                    step->more = true;
                    return 0;
                }
            } while (n > 0);
            if (drop_class(conn, &c, step, err) != 0)
                return -1;
        }
        snprintf(step->cursor, sizeof step->cursor, "%s %s", c.retain_until, c.cls);
    }
    return found;
}
