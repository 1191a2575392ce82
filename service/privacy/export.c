/*
 * export.c - see export.h. The document's layout is docs/export-schema.md;
 * change both together (and EXPORT_SCHEMA_VERSION when a consumer would
 * notice).
 */
#include "privacy/export.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "audit/audit_rpc.h"
#include "base/clock.h"
#include "base/json_out.h"
#include "crypto/dek.h"
#include "inventory/inventory.h"
#include "invoicing/invoice_store.h"
#include "minbill/v1/common.pb-c.h"
#include "minbill/v1/privacy.pb-c.h"
#include "privacy/requests.h"
#include "purge/purge.h"
#include "store/writer.h"

#define INVOICE_PAGE 16

static const char *const EXPORT_KINDS[] = {"access", "portability", NULL};

static const char NO_DATA[] =
    "The billing service of the messaging platform holds no data about this e-mail address. "
    "If a dealer processes your messages through the platform, that dealer is the controller "
    "of those messages and of your contact details: please ask that dealer.";

/* --- Reading a table the inventory describes ----------------------------- */

#define PLAN_MAX_TABLES 16
#define PLAN_MAX_COLS 32

/* One table whose rows belong to a subject: the query reading a subject's
 * rows and the inventory entry of each column it selects. Columns after
 * the fields: the data key (4, see dek_from_row), the row id of the
 * associated data, restricted, objected. */
typedef struct table_plan {
    const inv_table *t;
    const inv_table *subject; /* t, or the parent whose subject it shares */
    char sql[1024];
    const inv_field *cols[PLAN_MAX_COLS];
    int n_cols;
} table_plan;

static table_plan plans[PLAN_MAX_TABLES];
static size_t n_plans;
static bool plans_fit; /* every plan's query and columns fit its limits */
static pthread_once_t plans_once = PTHREAD_ONCE_INIT;

static bool exported(const inv_field *f)
{
    return (f->purposes & INV_PURPOSE(PURPOSE_EXPORT)) != 0 &&
           !(f->personal && f->export_as == EXPORT_OMIT);
}

/* A table is read generically when its rows belong to a subject and hold
 * personal data; invoices are sealed documents, read with invoice_store. */
static bool generic_table(const inv_table *t)
{
    if ((t->account_col == NULL && t->parent_table == NULL) || strcmp(t->table, "invoices") == 0)
        return false;
    for (size_t i = 0; i < inventory_count; i++)
        if (inventory_fields[i].personal && strcmp(inventory_fields[i].table, t->table) == 0)
            return true;
    return false;
}

/* Writes the plan's query into p->sql; false if it does not fit. */
static bool plan_build(table_plan *p)
{
    const inv_table *t = p->t;
    const char *s = t->parent_table != NULL ? "p" : "r"; /* the subject's row */
    FILE *f = fmemopen(p->sql, sizeof p->sql, "w");
    if (f == NULL)
        return false;
    bool fits = true;
    fprintf(f, "SELECT ");
    for (size_t i = 0; i < inventory_count; i++) {
        const inv_field *c = &inventory_fields[i];
        if (strcmp(c->table, t->table) != 0 || !exported(c))
            continue;
        if (p->n_cols == PLAN_MAX_COLS)
            fits = false;
        else
            p->cols[p->n_cols++] = c;
        fprintf(f, "r.%s, ", c->column);
    }
    fprintf(f, "%s, %s, ",
            t->key_col != NULL ? "k.dek_id, k.master_version, k.nonce, k.wrapped"
                               : "NULL, NULL, NULL, NULL",
            t->ad_row_sql != NULL ? t->ad_row_sql : "NULL");
    if (p->subject->restricted_col != NULL)
        fprintf(f, "%s.%s IS NOT NULL, ", s, p->subject->restricted_col);
    else
        fprintf(f, "0, ");
    if (t->objected_col != NULL)
        fprintf(f, "r.%s IS NOT NULL", t->objected_col);
    else
        fprintf(f, "0");
    fprintf(f, " FROM %s r", t->table);
    if (t->parent_table != NULL)
        fprintf(f, " JOIN %s p ON p.%s = r.%s", t->parent_table, t->parent_col, t->parent_col);
    if (t->key_col != NULL)
        fprintf(f, " LEFT JOIN data_keys k ON k.dek_id = %s.%s", s, t->key_col);
    fprintf(f, " WHERE %s.%s = ?1", s, p->subject->account_col);
    if (p->subject->contact_col != NULL)
        fprintf(f, " AND (?2 = '' OR %s.%s = ?2)", s, p->subject->contact_col);
    fprintf(f, " ORDER BY 1");
    fits = fits && ftell(f) < (long)sizeof p->sql - 1;
    return fclose(f) == 0 && fits;
}

static void plans_build(void)
{
    plans_fit = true;
    for (size_t i = 0; i < inventory_tables_count; i++) {
        const inv_table *t = &inventory_tables[i];
        if (!generic_table(t))
            continue;
        if (n_plans == PLAN_MAX_TABLES) {
            plans_fit = false;
            break;
        }
        table_plan *p = &plans[n_plans++];
        p->t = t;
        p->subject = t->parent_table != NULL ? inventory_table(t->parent_table) : t;
        plans_fit = plan_build(p) && plans_fit;
    }
}

/* --- The stream ---------------------------------------------------------- */

/* The document goes out through a stdio stream whose buffer is one chunk:
 * json_out writes, stdio flushes full chunks here. */
typedef struct sink {
    rpc_call_t *call;
    bool ended; /* the call ended: nothing more can be sent */
} sink;

static ssize_t sink_write(void *cookie, const char *buf, size_t len)
{
    sink *s = cookie;
    for (size_t at = 0; at < len;) {
        size_t n = len - at < EXPORT_CHUNK_BYTES ? len - at : EXPORT_CHUNK_BYTES;
        Minbill__V1__ExportChunk m = MINBILL__V1__EXPORT_CHUNK__INIT;
        m.data.data = (uint8_t *)buf + at;
        m.data.len = n;
        if (s->ended || rpc_call_send_wait(s->call, &m.base) != 0) {
            s->ended = true;
            return -1;
        }
        at += n;
    }
    return (ssize_t)len;
}

typedef struct exporter {
    rpc_call_t *call;
    mb_app *app;
    const char *request_id;
    mb_arena_t *a;   /* the request, for the whole export */
    mb_arena_t *row; /* one record or one page at a time */
    privacy_request req;
    json_out j;
    sink s;
    int64_t now_us;
    purge_settings settings; /* the retention amounts serve stored */
} exporter;

/* --- Small writers ------------------------------------------------------- */

static void put_time(json_out *j, const char *key, int64_t us)
{
    json_out_key(j, key);
    if (us <= 0) {
        json_out_null(j);
        return;
    }
    time_t secs = (time_t)(us / 1000000);
    struct tm tm;
    char buf[40];
    if (gmtime_r(&secs, &tm) == NULL || strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm) == 0) {
        json_out_null(j);
        return;
    }
    snprintf(buf + strlen(buf), sizeof buf - strlen(buf), ".%06lldZ", (long long)(us % 1000000));
    json_out_string(j, buf);
}

static void put_str(json_out *j, const char *key, const char *v)
{
    json_out_key(j, key);
    json_out_string(j, v);
}

static void put_int(json_out *j, const char *key, int64_t v)
{
    json_out_key(j, key);
    json_out_int(j, v);
}

static void put_bool(json_out *j, const char *key, bool v)
{
    json_out_key(j, key);
    json_out_bool(j, v);
}

/* A column of the current row as JSON: NULL, integer or text. */
static void put_column(json_out *j, sqlite3_stmt *st, int col)
{
    switch (sqlite3_column_type(st, col)) {
    case SQLITE_NULL:
        json_out_null(j);
        break;
    case SQLITE_INTEGER:
        json_out_int(j, sqlite3_column_int64(st, col));
        break;
    default:
        json_out_string(j, (const char *)sqlite3_column_text(st, col));
    }
}

static void put_address(json_out *j, const Minbill__V1__PostalAddress *ad)
{
    json_out_object_begin(j);
    put_str(j, "line1", ad->line1);
    put_str(j, "line2", ad->line2);
    put_str(j, "postal_code", ad->postal_code);
    put_str(j, "city", ad->city);
    put_str(j, "country_code", ad->country_code);
    json_out_object_end(j);
}

/* --- Records ------------------------------------------------------------- */

static int put_field(exporter *x, sqlite3_stmt *st, int col, const inv_field *f, const dek *key,
                     const char *row_id, mb_error *err)
{
    json_out *j = &x->j;
    json_out_object_begin(j);
    put_str(j, "name", f->name);
    put_str(j, "column", f->column);
    put_str(j, "category", f->category);
    put_bool(j, "portable", f->portable);
    json_out_key(j, "value");
    if (f->export_as == EXPORT_OMIT) {
        json_out_null(j);
        put_str(j, "withheld",
                strncmp(f->source, "derived", 7) == 0
                    ? f->source
                    : "kept for payment collection only; never handed out");
    } else if (sqlite3_column_type(st, col) == SQLITE_NULL) {
        json_out_null(j);
    } else if (f->export_as == EXPORT_VALUE) {
        put_column(j, st, col);
    } else {
        char *clear;
        if (key->key == NULL)
            return mb_error_set(err, GRPC_STATUS_DATA_LOSS, "%s.%s of %s has no data key", f->table,
                                f->column, row_id);
        if (dek_column_open(st, col, key, f->table, f->column, row_id, x->row, &clear, err) != 0)
            return -1;
        if (f->export_as == EXPORT_SEALED) {
            json_out_string(j, clear);
        } else {
            ProtobufCAllocator al = mb_arena_allocator(x->row);
            size_t n = (size_t)sqlite3_column_bytes(st, col) - DEK_SEAL_OVERHEAD;
            Minbill__V1__PostalAddress *ad = (void *)protobuf_c_message_unpack(
                &minbill__v1__postal_address__descriptor, &al, n, (const uint8_t *)clear);
            if (ad == NULL)
                return mb_error_set(err, GRPC_STATUS_DATA_LOSS,
                                    "%s.%s of %s does not decode as an address", f->table,
                                    f->column, row_id);
            put_address(j, ad);
        }
    }
    json_out_object_end(j);
    return 0;
}

/* The fields a table holds but the export never selects (masks, keyed
 * hashes, the full card number): named, without a value. */
static void put_withheld(exporter *x, const table_plan *p)
{
    for (size_t i = 0; i < inventory_count; i++) {
        const inv_field *f = &inventory_fields[i];
        if (f->personal && f->export_as == EXPORT_OMIT && strcmp(f->table, p->t->table) == 0)
            put_field(x, NULL, 0, f, NULL, NULL, NULL);
    }
}

/* Whether f is the table's column col (NULL: none). */
static bool is_col(const inv_field *f, const char *col)
{
    return col != NULL && strcmp(f->column, col) == 0;
}

/* One row: its plain attributes (ids, states, dates; the restriction and
 * objection as flags) and its personal fields. */
static int put_record(exporter *x, store_conn_t *conn, const table_plan *p, sqlite3_stmt *st,
                      mb_error *err)
{
    json_out *j = &x->j;
    int k = p->n_cols;
    const char *row_id = (const char *)sqlite3_column_text(st, k + 4);
    dek key = {0};
    if (sqlite3_column_type(st, k) != SQLITE_NULL &&
        dek_from_row(conn, x->app->keyring, st, k, &key, err) != 0)
        return -1;
    json_out_object_begin(j);
    put_str(j, "table", p->t->table);
    put_str(j, "record", row_id);
    put_bool(j, "restricted", sqlite3_column_int(st, k + 5) != 0);
    if (p->t->objected_col != NULL)
        put_bool(j, "marketing_objection", sqlite3_column_int(st, k + 6) != 0);
    json_out_key(j, "attributes");
    json_out_object_begin(j);
    for (int c = 0; c < p->n_cols; c++) {
        const inv_field *f = p->cols[c];
        if (f->personal || sqlite3_column_type(st, c) == SQLITE_BLOB || is_col(f, p->t->key_col) ||
            is_col(f, p->t->restricted_col) || is_col(f, p->t->objected_col))
            continue;
        json_out_key(j, f->column);
        put_column(j, st, c);
    }
    json_out_object_end(j);
    json_out_key(j, "fields");
    json_out_array_begin(j);
    int ret = 0;
    for (int c = 0; c < p->n_cols && ret == 0; c++)
        if (p->cols[c]->personal)
            ret = put_field(x, st, c, p->cols[c], &key, row_id, err);
    put_withheld(x, p);
    json_out_array_end(j);
    json_out_object_end(j);
    dek_release(&key);
    return ret;
}

/* --- One account's part -------------------------------------------------- */

/* The scope entries of one account: scope[from..to) of the request. */
typedef struct account_part {
    const char *account_id;
    const privacy_scope *scope;
    size_t n;
    bool whole; /* subject by account: its own fields and all of its data */
} account_part;

/* Whether an item about `contact_id` ("" for the account as a whole)
 * concerns the part's subject. */
static bool part_covers(const account_part *g, const char *contact_id)
{
    if (g->whole || contact_id == NULL || contact_id[0] == '\0')
        return true;
    for (size_t i = 0; i < g->n; i++)
        if (strcmp(g->scope[i].contact_id, contact_id) == 0)
            return true;
    return false;
}

/* Lists read by name, per account part: the columns of `sql` (?1 the
 * account, ?2 this request), written under the member `key`. */
typedef struct list_col {
    const char *name;
    bool time; /* microseconds, written as a timestamp */
} list_col;

typedef struct listing {
    const char *key;
    const char *sql;
    const list_col *cols; /* the first n_cols columns of sql */
    size_t n_cols;
    int about_col; /* the contact a row is about ("": all); -1: every row */
    bool once;     /* rows with the same first column are one item */
    const char *what;
} listing;

#define COLS(c) c, sizeof c / sizeof c[0]

/* Usage counters (and invoices) are about the account as a whole: read for
 * subjects by account only. */
static const char SQL_USAGE[] =
    "SELECT period, metric, quantity, invoiced_quantity"
    " FROM usage_counters WHERE account_id = ?1 ORDER BY period, metric";
static const list_col USAGE_COLS[] = {
    {"period", false}, {"metric", false}, {"quantity", false}, {"invoiced_quantity", false}};
static const listing USAGE = {"usage_counters",        SQL_USAGE, COLS(USAGE_COLS), -1, false,
                              "reading usage counters"};

/* Earlier requests that covered the account, one row per scope entry (a
 * request's rows together): kept if about the subject's contacts or the
 * whole account. */
static const char SQL_REQUESTS[] =
    "SELECT q.request_id, q.kind, q.state, q.received_us, q.due_us, q.completed_us,"
    " q.outcome_reason, s.contact_id FROM subject_request_scope s"
    " JOIN subject_requests q ON q.request_id = s.request_id"
    " WHERE s.account_id = ?1 AND q.request_id <> ?2 ORDER BY q.received_us, q.request_id";
static const list_col REQUEST_COLS[] = {
    {"request_id", false}, {"kind", false},        {"state", false},         {"received_at", true},
    {"due_at", true},      {"completed_at", true}, {"outcome_reason", false}};
static const listing REQUESTS = {
    "earlier_requests", SQL_REQUESTS, COLS(REQUEST_COLS), 7, true, "reading earlier requests"};

/* Who acted on the account's data and when: its audit trail, but events
 * about other contacts of the account. */
static const char SQL_ACCESS[] =
    "SELECT occurred_us, actor_role, actor_key_id, action, target_id, purpose, request_id"
    " FROM audit_events WHERE account_id = ?1 ORDER BY seq";
static const list_col ACCESS_COLS[] = {
    {"at", true},         {"actor_role", false}, {"actor_key_id", false}, {"action", false},
    {"target_id", false}, {"purpose", false},    {"request_id", false}};
static const listing ACCESS = {
    "access_log", SQL_ACCESS, COLS(ACCESS_COLS), 4, false, "reading the audit trail"};

static int put_rows(exporter *x, store_conn_t *conn, const table_plan *p, const char *account_id,
                    const char *contact_id, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, p->sql, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, account_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, contact_id, -1, SQLITE_STATIC);
    int rc, ret = 0;
    while (ret == 0 && (rc = sqlite3_step(st)) == SQLITE_ROW && !x->s.ended) {
        mb_arena_reset(x->row);
        ret = put_record(x, conn, p, st, err);
    }
    if (ret == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
        ret = store_error(conn, err, "reading the subject's records");
    sqlite3_reset(st);
    return ret;
}

static int put_records(exporter *x, store_conn_t *conn, const account_part *g, mb_error *err)
{
    pthread_once(&plans_once, plans_build);
    if (!plans_fit)
        return mb_error_set(err, GRPC_STATUS_INTERNAL,
                            "the inventory outgrew the export's table plans");
    json_out_key(&x->j, "records");
    json_out_array_begin(&x->j);
    int ret = 0;
    for (size_t i = 0; i < n_plans && ret == 0; i++) {
        const table_plan *p = &plans[i];
        if (g->whole)
            ret = put_rows(x, conn, p, g->account_id, "", err);
        else if (p->subject->contact_col != NULL)
            for (size_t c = 0; c < g->n && ret == 0; c++)
                ret = put_rows(x, conn, p, g->account_id, g->scope[c].contact_id, err);
    }
    json_out_array_end(&x->j);
    return ret;
}

static const char *enum_name(const ProtobufCEnumDescriptor *d, int v)
{
    const ProtobufCEnumValue *e = protobuf_c_enum_descriptor_get_value(d, v);
    return e != NULL ? e->name : "";
}

static void put_invoice(json_out *j, const Minbill__V1__Invoice *inv)
{
    json_out_object_begin(j);
    put_str(j, "invoice_number", inv->invoice_number);
    put_str(j, "type", enum_name(&minbill__v1__invoice_type__descriptor, inv->type));
    put_str(j, "status", enum_name(&minbill__v1__invoice_status__descriptor, inv->status));
    put_str(j, "period", inv->period);
    put_str(j, "issue_date", inv->issue_date);
    put_str(j, "due_date", inv->due_date);
    put_str(j, "currency", inv->currency);
    put_int(j, "net_total_minor", inv->net_total_minor);
    put_int(j, "tax_total_minor", inv->tax_total_minor);
    put_int(j, "gross_total_minor", inv->gross_total_minor);
    put_str(j, "original_invoice_number", inv->original_invoice_number);
    json_out_key(j, "recipient");
    if (inv->buyer == NULL) {
        json_out_null(j);
    } else {
        json_out_object_begin(j);
        put_str(j, "name", inv->buyer->name);
        json_out_key(j, "address");
        if (inv->buyer->address != NULL)
            put_address(j, inv->buyer->address);
        else
            json_out_null(j);
        put_str(j, "vat_id", inv->buyer->vat_id);
        put_str(j, "electronic_address", inv->buyer->electronic_address);
        json_out_object_end(j);
    }
    json_out_key(j, "payment");
    if (inv->payment == NULL) {
        json_out_null(j);
    } else {
        json_out_object_begin(j);
        put_str(j, "means_code", inv->payment->means_code);
        put_str(j, "card_network", inv->payment->card_network);
        put_str(j, "card_last4", inv->payment->card_last4);
        put_str(j, "mandate_reference", inv->payment->mandate_reference);
        put_str(j, "debited_account", inv->payment->debited_account);
        json_out_object_end(j);
    }
    json_out_object_end(j);
}

/* Issued invoices and credit notes, a page at a time (the sealed documents
 * hold the recipient snapshot). */
static int put_invoices(exporter *x, store_conn_t *conn, const char *account_id, mb_error *err)
{
    json_out *j = &x->j;
    json_out_key(j, "invoices");
    json_out_array_begin(j);
    char after[INVOICE_NUMBER_SIZE] = "";
    bool more = true;
    while (more && !x->s.ended) {
        mb_arena_reset(x->row);
        Minbill__V1__Invoice **page;
        size_t n;
        if (invoice_store_list(conn, x->app->keyring, x->row, account_id, "", after, INVOICE_PAGE,
                               &page, &n, &more, err) != 0)
            return -1;
        for (size_t i = 0; i < n; i++)
            put_invoice(j, page[i]);
        if (n > 0)
            snprintf(after, sizeof after, "%s", page[n - 1]->invoice_number);
        else
            more = false;
    }
    json_out_array_end(j);
    return 0;
}

/* Writes the listing's rows for the account part: those about the part's
 * subject, a request's rows once. */
static int put_list(exporter *x, store_conn_t *conn, const account_part *g, const listing *l,
                    mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, l->sql, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, g->account_id, -1, SQLITE_STATIC);
    if (sqlite3_bind_parameter_count(st) >= 2)
        sqlite3_bind_text(st, 2, x->req.request_id, -1, SQLITE_STATIC);
    json_out *j = &x->j;
    json_out_key(j, l->key);
    json_out_array_begin(j);
    char last[PRIVACY_REQUEST_ID_MAX] = "";
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && !x->s.ended) {
        const char *first = (const char *)sqlite3_column_text(st, 0);
        if ((l->about_col >= 0 &&
             !part_covers(g, (const char *)sqlite3_column_text(st, l->about_col))) ||
            (l->once && strcmp(first, last) == 0))
            continue;
        if (l->once)
            snprintf(last, sizeof last, "%s", first);
        json_out_object_begin(j);
        for (size_t c = 0; c < l->n_cols; c++) {
            if (l->cols[c].time)
                put_time(j, l->cols[c].name, sqlite3_column_int64(st, (int)c));
            else {
                json_out_key(j, l->cols[c].name);
                put_column(j, st, (int)c);
            }
        }
        json_out_object_end(j);
    }
    json_out_array_end(j);
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : store_error(conn, err, l->what);
}

static int put_account(exporter *x, store_conn_t *conn, const account_part *g, mb_error *err)
{
    json_out *j = &x->j;
    json_out_object_begin(j);
    put_str(j, "account_id", g->account_id);
    put_bool(j, "whole_account", g->whole);
    json_out_key(j, "contact_ids");
    json_out_array_begin(j);
    for (size_t i = 0; i < g->n; i++)
        if (g->scope[i].contact_id[0] != '\0')
            json_out_string(j, g->scope[i].contact_id);
    json_out_array_end(j);
    int ret = put_records(x, conn, g, err);
    if (ret == 0 && g->whole)
        ret =
            put_list(x, conn, g, &USAGE, err) == 0 && put_invoices(x, conn, g->account_id, err) == 0
                ? 0
                : -1;
    if (ret == 0)
        ret = put_list(x, conn, g, &REQUESTS, err) == 0 && put_list(x, conn, g, &ACCESS, err) == 0
                  ? 0
                  : -1;
    json_out_object_end(j);
    return ret;
}

/* --- Art. 15 information from the inventory ------------------------------ */

/* A rule's amount: the stored setting it names (what the purges use), or
 * the inventory's own figure for rules without one. */
static int64_t retention_amount(const inv_retention *r, const purge_settings *s)
{
    for (size_t i = 0; r->setting != NULL && i < purge_setting_count; i++)
        if (strcmp(purge_setting_defs[i].name, r->setting) == 0)
            return *purge_setting_field((purge_settings *)s, &purge_setting_defs[i]);
    return r->amount;
}

static void put_retention(json_out *j, const inv_table *t, const purge_settings *s)
{
    static const char *const triggers[] = {
        [RETAIN_NOT_PERSONAL] = "not_personal",
        [RETAIN_UNTIL_ERASED] = "until_erased_or_days_after_account_closure",
        [RETAIN_AFTER_ISSUE_YEAR] = "years_after_end_of_issue_year",
        [RETAIN_AFTER_EVENT] = "days_after_recorded",
        [RETAIN_AFTER_COMPLETION] = "days_after_request_closed",
        [RETAIN_WINDOW] = "days_acceptance_window",
    };
    if (t == NULL || t->retention_text == NULL || t->retention.setting == NULL) {
        put_str(j, "retention", t != NULL ? t->retention_text : NULL);
    } else { /* every setting is in days */
        char text[512];
        snprintf(text, sizeof text, "%s; the period is %lld days", t->retention_text,
                 (long long)retention_amount(&t->retention, s));
        put_str(j, "retention", text);
    }
    json_out_key(j, "retention_rule");
    if (t == NULL) {
        json_out_null(j);
        return;
    }
    json_out_object_begin(j);
    put_str(j, "trigger", triggers[t->retention.trigger]);
    put_int(j, "amount", retention_amount(&t->retention, s));
    put_str(j, "setting", t->retention.setting);
    json_out_object_end(j);
}

static void put_category(json_out *j, const char *category, const purge_settings *s)
{
    json_out_object_begin(j);
    put_str(j, "category", category);
    json_out_key(j, "data");
    json_out_array_begin(j);
    for (size_t i = 0; i < inventory_count; i++) {
        const inv_field *f = &inventory_fields[i];
        if (!f->personal || strcmp(f->category, category) != 0)
            continue;
        json_out_object_begin(j);
        put_str(j, "name", f->name);
        put_str(j, "table", f->table);
        put_str(j, "column", f->column);
        put_str(j, "purpose", f->why);
        put_str(j, "legal_basis", f->legal_basis);
        put_str(j, "recipients", f->recipients);
        put_str(j, "source", f->source);
        put_retention(j, inventory_table(f->table), s);
        put_bool(j, "portable", f->portable);
        put_bool(j, "shown", f->export_as != EXPORT_OMIT);
        json_out_object_end(j);
    }
    json_out_array_end(j);
    json_out_object_end(j);
}

static const struct right {
    const char *right, *article, *text;
} RIGHTS[] = {
    {"access", "Art. 15 GDPR", "this document: the data held about you and how it is processed"},
    {"rectification", "Art. 16 GDPR",
     "inaccurate or incomplete data is corrected on request; the recipients are told"},
    {"erasure", "Art. 17 GDPR",
     "data is erased on request unless a legal duty keeps it (issued invoices are kept, "
     "restricted, until their retention period ends)"},
    {"restriction", "Art. 18 GDPR",
     "data is kept but no longer processed, except to meet legal duties"},
    {"portability", "Art. 20 GDPR",
     "the values marked portable (the data you provided) are yours to take, in this "
     "machine-readable document"},
    {"objection", "Art. 21 GDPR",
     "you may object at any time to the use of your contact details for marketing; it then "
     "stops"},
    {"complaint", "Art. 77 GDPR",
     "you may lodge a complaint with a supervisory authority, in particular in the Member "
     "State of your habitual residence, place of work or of the alleged infringement"},
};

static void put_information(json_out *j, const purge_settings *s)
{
    json_out_key(j, "information");
    json_out_object_begin(j);
    json_out_key(j, "categories");
    json_out_array_begin(j);
    for (size_t i = 0; i < inventory_count; i++) {
        const inv_field *f = &inventory_fields[i];
        bool first = f->personal;
        for (size_t k = 0; k < i && first; k++)
            first = !(inventory_fields[k].personal &&
                      strcmp(inventory_fields[k].category, f->category) == 0);
        if (first)
            put_category(j, f->category, s);
    }
    json_out_array_end(j);
    json_out_key(j, "rights");
    json_out_array_begin(j);
    for (size_t i = 0; i < sizeof RIGHTS / sizeof RIGHTS[0]; i++) {
        json_out_object_begin(j);
        put_str(j, "right", RIGHTS[i].right);
        put_str(j, "article", RIGHTS[i].article);
        put_str(j, "description", RIGHTS[i].text);
        json_out_object_end(j);
    }
    json_out_array_end(j);
    json_out_object_end(j);
}

/* --- The document -------------------------------------------------------- */

static void put_request(exporter *x)
{
    json_out *j = &x->j;
    const privacy_request *r = &x->req;
    json_out_key(j, "request");
    json_out_object_begin(j);
    put_str(j, "request_id", r->request_id);
    put_str(j, "kind", r->kind);
    put_str(j, "subject_type", r->subject_type);
    put_time(j, "received_at", r->received_us);
    put_time(j, "due_at", r->due_us);
    put_time(j, "original_due_at", r->original_due_us);
    json_out_object_end(j);
}

static int write_document(store_conn_t *conn, void *arg, mb_error *err)
{
    exporter *x = arg;
    if (purge_settings_load(conn, &x->settings, err) != 0 ||
        privacy_request_load(conn, x->request_id, x->a, &x->req, err) != 0)
        return -1;
    json_out *j = &x->j;
    json_out_object_begin(j);
    put_str(j, "schema", "minbill.subject_export");
    put_int(j, "schema_version", EXPORT_SCHEMA_VERSION);
    put_time(j, "generated_at", x->now_us);
    put_request(x);
    put_bool(j, "found", x->req.n_scope > 0);
    if (x->req.n_scope == 0)
        put_str(j, "notice", NO_DATA);
    json_out_key(j, "accounts");
    json_out_array_begin(j);
    int ret = 0;
    for (size_t i = 0; i < x->req.n_scope && ret == 0 && !x->s.ended;) {
        account_part g = {.account_id = x->req.scope[i].account_id, .scope = &x->req.scope[i]};
        while (i + g.n < x->req.n_scope &&
               strcmp(x->req.scope[i + g.n].account_id, g.account_id) == 0)
            g.n++;
        g.whole = privacy_scope_whole_account(&x->req, g.account_id);
        ret = put_account(x, conn, &g, err);
        i += g.n;
    }
    json_out_array_end(j);
    put_information(j, &x->settings);
    json_out_object_end(j);
    return ret;
}

/* Records the export before anything leaves, on the writer: the request
 * must (still) be an OPEN access or portability request. One event per
 * account in scope, so each account's trail shows it. */
static int audit_job(store_conn_t *conn, void *arg, mb_error *err)
{
    exporter *x = arg;
    privacy_request r;
    if (privacy_request_load(conn, x->request_id, x->a, &r, err) != 0 ||
        privacy_request_expect(&r, EXPORT_KINDS, err) != 0)
        return -1;
    audit_entry e = {.action = "subject.export", .purpose = "export", .request_id = r.request_id};
    int ret = 0;
    for (size_t i = 0; i < r.n_scope && ret == 0; i++) {
        if (i > 0 && strcmp(r.scope[i].account_id, r.scope[i - 1].account_id) == 0)
            continue;
        e.account_id = r.scope[i].account_id;
        ret = audit_call_append_entry(conn, x->call, &e, NULL, err);
    }
    if (r.n_scope == 0)
        ret = audit_call_append_entry(conn, x->call, &e, NULL, err);
    return ret;
}

static int export_run(exporter *x, mb_error *err)
{
    void *arg = x;
    if (store_write_all(x->app->store, audit_job, &arg, 1, err) != 0)
        return -1;
    char *buf = malloc(EXPORT_CHUNK_BYTES);
    FILE *f = fopencookie(&x->s, "w", (cookie_io_functions_t){.write = sink_write});
    int ret = -1;
    if (buf == NULL || f == NULL || setvbuf(f, buf, _IOFBF, EXPORT_CHUNK_BYTES) != 0) {
        mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory for the export stream");
    } else {
        json_out_init(&x->j, f);
        ret = store_read_for(x->app->store, PURPOSE_EXPORT, write_document, x, err);
        if (ret == 0 && json_out_finish(&x->j) != 0)
            ret = mb_error_set(err, GRPC_STATUS_INTERNAL, "the export document is incomplete");
    }
    if (f != NULL && fclose(f) != 0 && ret == 0)
        ret = mb_error_set(err, GRPC_STATUS_INTERNAL, "the export document could not be sent");
    free(buf);
    if (x->s.ended || rpc_call_stopped(x->call))
        ret = mb_error_set(err, GRPC_STATUS_CANCELLED, "export stopped: the call ended");
    return ret;
}

int privacy_export(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Minbill__V1__ExportSubjectDataRequest *req = (const void *)msg;
    exporter x = {.call = call,
                  .app = rpc_call_app(call),
                  .request_id = req->request_id,
                  .s = {.call = call},
                  .now_us = mb_now_us()};
    mb_error err;
    mb_error_clear(&err);
    int ret;
    if (req->request_id[0] == '\0')
        ret = mb_error_set(&err, GRPC_STATUS_INVALID_ARGUMENT, "request_id: required");
    else if ((x.a = mb_arena_new(0)) == NULL || (x.row = mb_arena_new(0)) == NULL)
        ret = mb_error_set(&err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory for an export");
    else
        ret = export_run(&x, &err);
    rpc_call_finish(call, NULL, ret == 0 ? NULL : &err);
    mb_arena_free(x.a);
    mb_arena_free(x.row);
    return RPC_CONTINUE;
}
