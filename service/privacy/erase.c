/*
 * erase.c - see erase.h.
 *
 * The statements are generated once from the inventory's table
 * declarations; rows are addressed by rowid, so one shape fits every
 * table. A child table (parent_table) holds rows sealed under its parent's
 * key: they are deleted with the parent row, before it, and the parent's
 * key is destroyed after both rows are gone (the rows refer to it).
 */
#include "privacy/erase.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "base/check.h"
#include "base/clock.h"
#include "crypto/dek.h"
#include "inventory/inventory.h"
#include "minbill/v1/privacy.pb-c.h"
#include "privacy/notices.h"
#include "privacy/requests.h"
#include "rpc/write.h"
#include "store/writer.h"

#define TABLES_MAX 16
#define CHILDREN_MAX 4
#define SQL_MAX 512

/* One inventory table's statements. ?1 is the account, ?2 the contact. */
typedef struct table_sql {
    const inv_table *t;
    char category[32];       /* the table's name in the singular */
    const char *legal_basis; /* of its personal columns */
    /* rowid, data key, report id of up to ERASE_CHUNK rows */
    char rows_of_account[SQL_MAX], rows_of_contact[SQL_MAX];
    char delete_row[SQL_MAX];             /* ?1 rowid */
    char clear_fields[SQL_MAX];           /* ERASE_FIELDS, ?1 rowid */
    char children[CHILDREN_MAX][SQL_MAX]; /* delete the child rows of rowid ?1 */
    size_t n_children;
    char retained[SQL_MAX];      /* ERASE_RETAIN: report id, retain until */
    char restrict_kept[SQL_MAX]; /* ERASE_RETAIN: restricts the account's rows, ?2 now */
    /* Restriction: the report ids, then the update (?3 now). */
    char ids_of_account[SQL_MAX], ids_of_contact[SQL_MAX];
    char restrict_account[SQL_MAX], restrict_contact[SQL_MAX];
} table_sql;

static table_sql tables[TABLES_MAX];
static size_t n_tables;
static bool sql_ok;
static pthread_once_t sql_once = PTHREAD_ONCE_INIT;

/* A payment method a row of accounts names as its default is gone after
 * an erasure: the reference goes too (tokens are not in the inventory's
 * subject links: the account row is kept). */
static const char SQL_CLEAR_DEFAULT[] =
    "UPDATE accounts SET default_payment_method = NULL WHERE account_id = ?1"
    " AND default_payment_method IS NOT NULL AND NOT EXISTS (SELECT 1 FROM payment_methods m"
    " WHERE m.account_id = ?1 AND m.token = accounts.default_payment_method)";

static void sql_put(char *buf, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void sql_put(char *buf, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf, SQL_MAX, fmt, ap);
    va_end(ap);
    if (n < 0 || n >= SQL_MAX)
        sql_ok = false;
}

/* What a report names a row by: its contact id, else the row id of its
 * sealed columns' associated data (a token, an invoice number). */
static void id_expr(const inv_table *t, char *out, size_t size)
{
    if (t->contact_col != NULL)
        snprintf(out, size, "r.%s", t->contact_col);
    else
        snprintf(out, size, "%s", t->ad_row_sql != NULL ? t->ad_row_sql : "r.rowid");
}

static void personal_columns(const inv_table *t, char *out, size_t size)
{
    size_t len = 0;
    out[0] = '\0';
    for (size_t i = 0; i < inventory_count; i++) {
        const inv_field *f = &inventory_fields[i];
        if (f->personal && strcmp(f->table, t->table) == 0 && len < size) {
            int n = snprintf(out + len, size - len, "%s = NULL, ", f->column);
            len += n > 0 ? (size_t)n : 0;
        }
    }
    if (len >= size)
        sql_ok = false;
}

static void build_table(table_sql *q, const inv_table *t)
{
    char id[128], cols[256];
    q->t = t;
    snprintf(q->category, sizeof q->category, "%s", t->table);
    size_t n = strlen(q->category);
    if (n > 1 && q->category[n - 1] == 's')
        q->category[n - 1] = '\0';
    for (size_t i = 0; i < inventory_count && q->legal_basis == NULL; i++)
        if (inventory_fields[i].personal && strcmp(inventory_fields[i].table, t->table) == 0)
            q->legal_basis = inventory_fields[i].legal_basis;
    if (t->account_col == NULL)
        return;
    id_expr(t, id, sizeof id);
    const char *key = t->key_col != NULL ? t->key_col : "NULL";
    sql_put(q->rows_of_account, "SELECT r.rowid, r.%s, %s FROM %s r WHERE r.%s = ?1 LIMIT %d", key,
            id, t->table, t->account_col, ERASE_CHUNK);
    sql_put(q->delete_row, "DELETE FROM %s WHERE rowid = ?1", t->table);
    sql_put(q->ids_of_account, "SELECT %s FROM %s r WHERE r.%s = ?1 ORDER BY 1", id, t->table,
            t->account_col);
    if (t->contact_col != NULL) {
        sql_put(q->rows_of_contact,
                "SELECT r.rowid, r.%s, %s FROM %s r WHERE r.%s = ?1 AND r.%s = ?2 LIMIT %d", key,
                id, t->table, t->account_col, t->contact_col, ERASE_CHUNK);
        sql_put(q->ids_of_contact, "SELECT %s FROM %s r WHERE r.%s = ?1 AND r.%s = ?2", id,
                t->table, t->account_col, t->contact_col);
    }
    if (t->restricted_col != NULL) {
        sql_put(q->restrict_account, "UPDATE %s SET %s = coalesce(%s, ?3) WHERE %s = ?1", t->table,
                t->restricted_col, t->restricted_col, t->account_col);
        if (t->contact_col != NULL)
            sql_put(q->restrict_contact,
                    "UPDATE %s SET %s = coalesce(%s, ?3) WHERE %s = ?1 AND %s = ?2", t->table,
                    t->restricted_col, t->restricted_col, t->account_col, t->contact_col);
    }
    if (t->erasure == ERASE_FIELDS) {
        personal_columns(t, cols, sizeof cols);
        sql_put(q->clear_fields, "UPDATE %s SET %s%s = NULL WHERE rowid = ?1", t->table, cols, key);
    }
    if (t->erasure == ERASE_RETAIN) {
        /* What is kept must say until when: the report and the purge need it. */
        if (t->retain_until_col == NULL) {
            sql_ok = false;
            return;
        }
        sql_put(q->retained, "SELECT %s, r.%s FROM %s r WHERE r.%s = ?1 ORDER BY 1", id,
                t->retain_until_col, t->table, t->account_col);
        /* Kept rows that cannot be updated follow their parent's
         * restriction (ROWS_PARENT). */
        const inv_table *p = t->parent_table != NULL ? inventory_table(t->parent_table) : NULL;
        if (t->restricted_col != NULL)
            sql_put(q->restrict_kept, "UPDATE %s SET %s = coalesce(%s, ?2) WHERE %s = ?1", t->table,
                    t->restricted_col, t->restricted_col, t->account_col);
        else if (p != NULL && p->restricted_col != NULL)
            sql_put(q->restrict_kept,
                    "UPDATE %s SET %s = coalesce(%s, ?2) WHERE %s IN (SELECT %s FROM %s WHERE %s = "
                    "?1)",
                    p->table, p->restricted_col, p->restricted_col, t->parent_col, t->parent_col,
                    t->table, t->account_col);
        else
            sql_ok = false; /* kept but never restricted: the declaration is incomplete */
    }
}

static void build_sql(void)
{
    sql_ok = inventory_tables_count <= TABLES_MAX;
    for (size_t i = 0; i < inventory_tables_count && sql_ok; i++)
        build_table(&tables[n_tables++], &inventory_tables[i]);
    /* Children: delete the rows of each table that names a parent. */
    for (size_t i = 0; i < n_tables; i++) {
        const inv_table *c = tables[i].t;
        if (c->parent_table == NULL || c->erasure != ERASE_ROWS)
            continue;
        for (size_t j = 0; j < n_tables; j++) {
            table_sql *p = &tables[j];
            if (strcmp(p->t->table, c->parent_table) != 0)
                continue;
            if (p->n_children == CHILDREN_MAX) {
                sql_ok = false;
                break;
            }
            sql_put(p->children[p->n_children++],
                    "DELETE FROM %s WHERE %s = (SELECT %s FROM %s WHERE rowid = ?1)", c->table,
                    c->parent_col, c->parent_col, p->t->table);
        }
    }
}

static int sql_ready(mb_error *err)
{
    pthread_once(&sql_once, build_sql);
    if (!sql_ok)
        return mb_error_set(err, GRPC_STATUS_INTERNAL,
                            "the data inventory's erasure declarations are incomplete");
    return 0;
}

static int oom(mb_error *err, const char *what)
{
    return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory for %s", what);
}

/* --- Erasing ------------------------------------------------------------- */

/* One table's rows of one subject: an account's (contact_id NULL) or one
 * contact's. */
typedef struct step {
    const table_sql *q;
    const char *account_id;
    const char *contact_id;
} step;

/* One writer job: up to ERASE_CHUNK rows of a step. */
typedef struct chunk {
    const step *s;
    mb_arena_t *a; /* for the report's ids; NULL: none wanted */
    char *ids[ERASE_CHUNK];
    int n;
} chunk;

static int bind_subject(sqlite3_stmt *st, const char *account_id, const char *contact_id)
{
    sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
    if (contact_id != NULL)
        sqlite3_bind_text(st, 2, contact_id, -1, SQLITE_STATIC);
    return 0;
}

static int chunk_run(store_conn_t *conn, void *arg, mb_error *err)
{
    chunk *c = arg;
    const table_sql *q = c->s->q;
    int64_t rowid[ERASE_CHUNK], key[ERASE_CHUNK];
    bool keyed[ERASE_CHUNK];
    c->n = 0;
    sqlite3_stmt *st = store_conn_prepare(
        conn, c->s->contact_id != NULL ? q->rows_of_contact : q->rows_of_account, err);
    if (st == NULL)
        return -1;
    bind_subject(st, c->s->account_id, c->s->contact_id);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && c->n < ERASE_CHUNK) {
        rowid[c->n] = sqlite3_column_int64(st, 0);
        keyed[c->n] = sqlite3_column_type(st, 1) != SQLITE_NULL;
        key[c->n] = sqlite3_column_int64(st, 1);
        c->ids[c->n] = NULL;
        if (c->a != NULL &&
            (c->ids[c->n] = mb_arena_printf(c->a, "%s", sqlite3_column_text(st, 2))) == NULL) {
            sqlite3_reset(st);
            return oom(err, "the erasure report");
        }
        c->n++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_error(conn, err, "finding the rows to erase");
    for (int i = 0; i < c->n; i++) {
        for (size_t j = 0; j < q->n_children; j++)
            if (store_exec_id(conn, q->children[j], rowid[i], "erasing a dependent row", err) != 0)
                return -1;
        if (store_exec_id(conn, q->delete_row, rowid[i], "erasing a row", err) != 0)
            return -1;
        /* The row is gone (secure_delete overwrites it); without its key,
         * its older copies in a backup cannot be read either. The WAL is
         * scrubbed once, after the last job (final_run, tidy_run). */
        if (keyed[i] && dek_destroy_unscrubbed(conn, key[i], err) != 0)
            return -1;
    }
    return 0;
}

/* The steps that delete rows for a subject (ERASE_ROWS, parents only:
 * children go with them), appended to out (room for TABLES_MAX more). */
static void steps_of(const char *account_id, const char *contact_id, step *out, size_t *n)
{
    for (size_t i = 0; i < n_tables; i++) {
        const inv_table *t = tables[i].t;
        if (t->erasure != ERASE_ROWS || t->parent_table != NULL || t->account_col == NULL ||
            (contact_id != NULL && t->contact_col == NULL))
            continue;
        out[(*n)++] = (step){.q = &tables[i], .account_id = account_id, .contact_id = contact_id};
    }
}

/* A report's items (pointers to messages), in the call's arena. */
typedef struct item_list {
    mb_arena_t *a;
    void **items;
    size_t n, cap;
} item_list;

static int item_list_push(item_list *l, void *item)
{
    if (item == NULL)
        return -1;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        void **items = mb_arena_alloc(l->a, cap * sizeof *items);
        if (items == NULL)
            return -1;
        if (l->n > 0)
            memcpy(items, l->items, l->n * sizeof *items);
        l->items = items;
        l->cap = cap;
    }
    l->items[l->n++] = item;
    return 0;
}

static int erased_add(item_list *l, const char *category, const char *id, int64_t count)
{
    Minbill__V1__ErasedItem *it = mb_arena_alloc(l->a, sizeof *it);
    if (it != NULL) {
        minbill__v1__erased_item__init(it);
        it->category = (char *)category;
        it->id = (char *)id;
        it->count = count;
    }
    return item_list_push(l, it);
}

static void count_add(privacy_erased *out, const char *category, int64_t n)
{
    for (size_t i = 0; i < out->n; i++)
        if (strcmp(out->by[i].category, category) == 0) {
            out->by[i].count += n;
            return;
        }
    if (out->n < PRIVACY_ERASED_MAX) {
        out->by[out->n].category = category;
        out->by[out->n++].count = n;
    }
}

/* Runs a step to its end, a chunk per writer job. stop (may be NULL) is
 * asked between jobs. */
static int step_run(store_t *store, const step *s, rpc_call_t *stop, item_list *report,
                    privacy_erased *counts, mb_error *err)
{
    chunk c = {.s = s, .a = report != NULL ? report->a : NULL};
    do {
        if (stop != NULL && rpc_call_stopped(stop))
            return mb_error_set(err, GRPC_STATUS_CANCELLED,
                                "erasure stopped: the call ended; erasing again finishes it");
        if (store_write_sync(store, chunk_run, &c, err) != 0)
            return -1;
        count_add(counts, s->q->category, c.n);
        for (int i = 0; report != NULL && i < c.n; i++)
            if (erased_add(report, s->q->category, c.ids[i], 1) != 0)
                return oom(err, "the erasure report");
    } while (c.n == ERASE_CHUNK);
    return 0;
}

/* The last job of an account's erasure: no dangling default, and the WAL
 * scrubbed of what the chunks destroyed (an erasure stopped before it
 * leaves its request open; running it again ends here). */
static int tidy_run(store_conn_t *conn, void *arg, mb_error *err)
{
    store_conn_note_shred(conn);
    return store_exec_text(conn, SQL_CLEAR_DEFAULT, arg, NULL,
                           "clearing the default payment method", err);
}

/* --- Accounts closed past their grace period ----------------------------- */

/* closed_at is stored as SQLite's strftime('%Y-%m-%dT%H:%M:%fZ'): compared
 * as text with the cutoff in the same form. */
static const char SQL_NEXT_CLOSED[] =
    "SELECT account_id FROM accounts WHERE state = 'closed' AND closed_at < ?1"
    " AND account_id > ?2 ORDER BY account_id LIMIT 1";

/* The next chunk of the account's rows in each table an erasure deletes
 * from; in a dry run, how many there are. *done: nothing of the account is
 * left after this step. */
static int closed_step(store_conn_t *conn, const char *account_id, bool dry_run, purge_step *out,
                       bool *done, mb_error *err)
{
    step steps[TABLES_MAX];
    size_t n = 0;
    steps_of(account_id, NULL, steps, &n);
    *done = true;
    for (size_t i = 0; i < n; i++) {
        chunk c = {.s = &steps[i]};
        if (dry_run) {
            sqlite3_stmt *st = store_conn_prepare(conn, steps[i].q->ids_of_account, err);
            if (st == NULL)
                return -1;
            sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
            while (sqlite3_step(st) == SQLITE_ROW)
                c.n++;
            sqlite3_reset(st);
        } else if (chunk_run(conn, &c, err) != 0) {
            return -1;
        }
        out->removed += c.n;
        out->keys_destroyed += c.n;
        if (c.n == ERASE_CHUNK)
            *done = false;
    }
    return 0;
}

int privacy_closed_purge_step(store_conn_t *conn, void *arg, const purge_ctx *ctx, purge_step *out,
                              mb_error *err)
{
    (void)arg;
    if (sql_ready(err) != 0)
        return -1;
    time_t cutoff =
        (time_t)((ctx->now_us / 1000000) - ctx->settings->closed_account_grace_days * 86400);
    struct tm tm;
    char cutoff_text[32];
    gmtime_r(&cutoff, &tm);
    strftime(cutoff_text, sizeof cutoff_text, "%Y-%m-%dT%H:%M:%S", &tm);
    /* A dry run counts every account in one call; a real run takes one
     * account's next chunk per step, cursor = the last account finished. */
    do {
        char account_id[72]; /* check_id: at most 64 */
        sqlite3_stmt *st = store_conn_prepare(conn, SQL_NEXT_CLOSED, err);
        if (st == NULL)
            return -1;
        sqlite3_bind_text(st, 1, cutoff_text, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, out->cursor, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        if (rc == SQLITE_ROW)
            snprintf(account_id, sizeof account_id, "%s", sqlite3_column_text(st, 0));
        sqlite3_reset(st);
        if (rc == SQLITE_DONE) {
            out->more = false;
            return 0;
        }
        if (rc != SQLITE_ROW)
            return store_error(conn, err, "finding accounts closed past their grace period");
        bool done;
        if (closed_step(conn, account_id, ctx->dry_run, out, &done, err) != 0)
            return -1;
        if (done || ctx->dry_run) {
            snprintf(out->cursor, sizeof out->cursor, "%s", account_id);
            if (!ctx->dry_run && tidy_run(conn, account_id, err) != 0)
                return -1;
        }
        out->more = true;
    } while (ctx->dry_run);
    return 0;
}

/* --- EraseSubject ------------------------------------------------------- */

typedef struct erasure {
    rpc_call_t *call;
    mb_app *app;
    mb_arena_t *a;
    const char *request_id;
    privacy_request req;
    item_list erased, retained;
    privacy_erased counts;
} erasure;

static int load_read(store_conn_t *conn, void *arg, mb_error *err)
{
    erasure *e = arg;
    return privacy_request_load(conn, e->request_id, e->a, &e->req, err);
}

static Google__Protobuf__Timestamp *date_timestamp(mb_arena_t *a, const char *ymd)
{
    int y, m, d;
    if (ymd == NULL || sscanf(ymd, "%4d-%2d-%2d", &y, &m, &d) != 3)
        return NULL;
    Google__Protobuf__Timestamp *t = mb_arena_alloc(a, sizeof *t);
    if (t == NULL)
        return NULL;
    google__protobuf__timestamp__init(t);
    /* The end of the last day kept, UTC (days from the civil date). */
    int yy = m <= 2 ? y - 1 : y;
    int era = (yy >= 0 ? yy : yy - 399) / 400;
    int yoe = yy - era * 400;
    int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t)era * 146097 + doe - 719468;
    t->seconds = days * 86400 + 86399;
    return t;
}

static int retained_add(erasure *e, const table_sql *q, sqlite3_stmt *st)
{
    Minbill__V1__RetainedItem *it = mb_arena_alloc(e->a, sizeof *it);
    if (it != NULL) {
        minbill__v1__retained_item__init(it);
        it->category = (char *)q->category;
        it->legal_basis = (char *)(q->legal_basis != NULL ? q->legal_basis : "");
        it->retain_until = date_timestamp(e->a, (const char *)sqlite3_column_text(st, 1));
        if ((it->id = mb_arena_printf(e->a, "%s", sqlite3_column_text(st, 0))) == NULL)
            it = NULL;
    }
    return item_list_push(&e->retained, it);
}

/* What a legal duty keeps of the account: reported and restricted. */
static int keep_retained(store_conn_t *conn, erasure *e, const table_sql *q, const char *account_id,
                         int64_t now, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, q->retained, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
    int rc;
    size_t kept = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (retained_add(e, q, st) != 0) {
            sqlite3_reset(st);
            return oom(err, "the erasure report");
        }
        kept++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_error(conn, err, "listing what is retained");
    if (kept == 0)
        return 0;
    if ((st = store_conn_prepare(conn, q->restrict_kept, err)) == NULL)
        return -1;
    sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, now);
    return store_step_done(conn, st, "restricting what is retained", err);
}

/* The row's own fields (ERASE_FIELDS): its key destroyed, its personal
 * columns and key cleared; the row stays for what refers to it. */
static int clear_fields(store_conn_t *conn, erasure *e, const table_sql *q, const char *account_id,
                        mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, q->rows_of_account, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    bool keyed = rc == SQLITE_ROW && sqlite3_column_type(st, 1) != SQLITE_NULL;
    int64_t rowid = keyed ? sqlite3_column_int64(st, 0) : 0;
    int64_t key = keyed ? sqlite3_column_int64(st, 1) : 0;
    char *id = keyed ? mb_arena_printf(e->a, "%s", sqlite3_column_text(st, 2)) : NULL;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_error(conn, err, "finding the fields to erase");
    if (!keyed) /* erased before, or never held personal data */
        return 0;
    if (store_exec_id(conn, q->clear_fields, rowid, "erasing personal fields", err) != 0 ||
        dek_destroy(conn, key, err) != 0)
        return -1;
    count_add(&e->counts, q->category, 1);
    if (id == NULL || erased_add(&e->erased, q->category, id, 1) != 0)
        return oom(err, "the erasure report");
    return 0;
}

/* A subject by account lists its contacts too (requests.h: the scope is
 * ordered by account, the account's own entry first): the account's
 * entry covers them. */
static bool scope_covered(const privacy_scope *sc, const char **whole)
{
    if (sc->contact_id[0] == '\0') {
        *whole = sc->account_id;
        return false;
    }
    return *whole != NULL && strcmp(*whole, sc->account_id) == 0;
}

/* Art. 19: the recipients of what erasing a subject's rows removes: the
 * tables erasure deletes or clears, and their children. */
static void erasure_recipients(const privacy_scope *sc, privacy_recipients *out)
{
    bool whole = sc->contact_id[0] == '\0';
    for (size_t j = 0; j < n_tables; j++) {
        const inv_table *t = tables[j].t;
        const inv_table *p = t->parent_table != NULL ? inventory_table(t->parent_table) : t;
        if ((t->erasure == ERASE_ROWS || t->erasure == ERASE_FIELDS) && p->account_col != NULL &&
            (whole || p->contact_col != NULL))
            privacy_recipients_add(out, t->table, NULL);
    }
}

/* The last job: the account's own fields, what is kept, the recipients to
 * notify, and the request closed with its audit event. Run again from the
 * start if it fails. */
static int final_run(store_conn_t *conn, void *arg, mb_error *err)
{
    erasure *e = arg;
    int64_t now = mb_now_us();
    size_t n_erased = e->erased.n, n_retained = e->retained.n;
    privacy_erased counts = e->counts;
    privacy_recipients notify = {0};
    const char *whole_account = NULL;
    int ret = 0;
    store_conn_note_shred(conn); /* what the chunks destroyed leaves the WAL */
    for (size_t i = 0; i < e->req.n_scope && ret == 0; i++) {
        const privacy_scope *sc = &e->req.scope[i];
        if (scope_covered(sc, &whole_account))
            continue;
        erasure_recipients(sc, &notify);
        if (sc->contact_id[0] != '\0')
            continue;
        for (size_t j = 0; j < n_tables && ret == 0; j++) {
            const table_sql *q = &tables[j];
            if (q->t->account_col == NULL)
                continue;
            if (q->t->erasure == ERASE_FIELDS)
                ret = clear_fields(conn, e, q, sc->account_id, err);
            else if (q->t->erasure == ERASE_RETAIN)
                ret = keep_retained(conn, e, q, sc->account_id, now, err);
        }
        if (ret == 0)
            ret = tidy_run(conn, (void *)sc->account_id, err);
    }
    char reason[160];
    int64_t total = 0;
    for (size_t i = 0; i < e->counts.n; i++)
        total += e->counts.by[i].count;
    snprintf(reason, sizeof reason, "erased %lld records; %zu kept under a legal duty, restricted",
             (long long)total, e->retained.n);
    if (ret == 0 && (privacy_notices_record(conn, e->req.request_id, &notify, err) != 0 ||
                     privacy_request_close(conn, e->call, e->req.request_id, "subject.erase",
                                           reason, err) != 0))
        ret = -1;
    if (ret != 0) { /* rolled back: so is what it reported */
        e->erased.n = n_erased;
        e->retained.n = n_retained;
        e->counts = counts;
    }
    return ret;
}

static int erase_all(erasure *e, mb_error *err)
{
    static const char *const kinds[] = {"erasure", NULL};
    if (sql_ready(err) != 0 || check_id("request_id", e->request_id, err) != 0 ||
        store_read_for(e->app->store, PURPOSE_EXPORT, load_read, e, err) != 0 ||
        privacy_request_expect(&e->req, kinds, err) != 0)
        return -1;
    const char *whole_account = NULL;
    for (size_t i = 0; i < e->req.n_scope; i++) {
        const privacy_scope *sc = &e->req.scope[i];
        if (scope_covered(sc, &whole_account))
            continue;
        step steps[TABLES_MAX];
        size_t n = 0;
        steps_of(sc->account_id, sc->contact_id[0] != '\0' ? sc->contact_id : NULL, steps, &n);
        for (size_t j = 0; j < n; j++)
            if (step_run(e->app->store, &steps[j], e->call, &e->erased, &e->counts, err) != 0)
                return -1;
    }
    if (rpc_call_stopped(e->call))
        return mb_error_set(err, GRPC_STATUS_CANCELLED,
                            "erasure stopped: the call ended; erasing again finishes it");
    return store_write_sync(e->app->store, final_run, e, err);
}

int privacy_erase(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Minbill__V1__EraseSubjectRequest *req = (const void *)msg;
    erasure e = {.call = call,
                 .app = rpc_call_app(call),
                 .a = rpc_call_arena(call),
                 .request_id = req->request_id};
    e.erased.a = e.retained.a = e.a;
    mb_error err;
    mb_error_clear(&err);
    if (erase_all(&e, &err) != 0) {
        rpc_call_finish(call, NULL, &err);
        return RPC_CONTINUE;
    }
    Minbill__V1__ErasureReport r = MINBILL__V1__ERASURE_REPORT__INIT;
    r.request_id = e.req.request_id;
    r.erased = (Minbill__V1__ErasedItem **)e.erased.items;
    r.n_erased = e.erased.n;
    r.retained = (Minbill__V1__RetainedItem **)e.retained.items;
    r.n_retained = e.retained.n;
    rpc_call_finish(call, &r.base, NULL);
    return RPC_CONTINUE;
}

/* --- RestrictSubject ---------------------------------------------------- */

typedef struct restriction {
    const char *request_id;
    item_list items;
} restriction;

static int restricted_add(restriction *r, const char *category, const char *id)
{
    Minbill__V1__RestrictedItem *it = mb_arena_alloc(r->items.a, sizeof *it);
    if (it != NULL) {
        minbill__v1__restricted_item__init(it);
        it->category = (char *)category;
        it->count = 1;
        if ((it->id = mb_arena_printf(r->items.a, "%s", id)) == NULL)
            it = NULL;
    }
    return item_list_push(&r->items, it);
}

/* Restricts one table's rows of one subject and lists them. */
static int restrict_rows(store_conn_t *conn, restriction *r, const table_sql *q,
                         const privacy_scope *sc, int64_t now, mb_error *err)
{
    bool whole = sc->contact_id[0] == '\0';
    const char *contact = whole ? NULL : sc->contact_id;
    sqlite3_stmt *st = store_conn_prepare(conn, whole ? q->ids_of_account : q->ids_of_contact, err);
    if (st == NULL)
        return -1;
    bind_subject(st, sc->account_id, contact);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (restricted_add(r, q->category, (const char *)sqlite3_column_text(st, 0)) != 0) {
            sqlite3_reset(st);
            return oom(err, "the restriction report");
        }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_error(conn, err, "listing the rows to restrict");
    if ((st = store_conn_prepare(conn, whole ? q->restrict_account : q->restrict_contact, err)) ==
        NULL)
        return -1;
    bind_subject(st, sc->account_id, contact);
    sqlite3_bind_int64(st, 3, now);
    return store_step_done(conn, st, "restricting rows", err);
}

static int restrict_run(store_conn_t *conn, rpc_call_t *call, void *arg, ProtobufCMessage **resp,
                        mb_error *err)
{
    static const char *const kinds[] = {"restriction", NULL};
    restriction *r = arg;
    mb_arena_t *a = rpc_call_arena(call);
    privacy_request p;
    int64_t now = mb_now_us();
    if (privacy_request_load(conn, r->request_id, a, &p, err) != 0 ||
        privacy_request_expect(&p, kinds, err) != 0)
        return -1;
    const char *whole_account = NULL;
    for (size_t i = 0; i < p.n_scope; i++) {
        if (scope_covered(&p.scope[i], &whole_account))
            continue;
        bool whole = p.scope[i].contact_id[0] == '\0';
        for (size_t j = 0; j < n_tables; j++) {
            const table_sql *q = &tables[j];
            if ((whole ? q->restrict_account : q->restrict_contact)[0] != '\0' &&
                restrict_rows(conn, r, q, &p.scope[i], now, err) != 0)
                return -1;
        }
    }
    Minbill__V1__RestrictSubjectResponse *m = mb_arena_alloc(a, sizeof *m);
    if (m == NULL)
        return oom(err, "the restriction report");
    minbill__v1__restrict_subject_response__init(m);
    if (privacy_request_close(conn, call, r->request_id, "subject.restrict", NULL, err) != 0 ||
        privacy_request_message(conn, r->request_id, a, &m->request, err) != 0)
        return -1;
    m->restricted = (Minbill__V1__RestrictedItem **)r->items.items;
    m->n_restricted = r->items.n;
    *resp = &m->base;
    return 0;
}

int privacy_restrict(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Minbill__V1__RestrictSubjectRequest *req = (const void *)msg;
    mb_error err;
    restriction *r = mb_arena_alloc(rpc_call_arena(call), sizeof *r);
    if (r == NULL) {
        oom(&err, "a restriction");
    } else if (sql_ready(&err) == 0 && check_id("request_id", req->request_id, &err) == 0) {
        *r = (restriction){.request_id = req->request_id, .items.a = rpc_call_arena(call)};
        rpc_call_write(call, ((mb_app *)rpc_call_app(call))->store, restrict_run, r);
        return RPC_CONTINUE;
    }
    rpc_call_finish(call, NULL, &err);
    return RPC_CONTINUE;
}
