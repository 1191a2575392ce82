/*
 * invoice_store.c - see invoice_store.h.
 */
#include "invoicing/invoice_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "google/protobuf/timestamp.pb-c.h"

static const char SQL_INVOICED[] =
    "SELECT invoice_number FROM invoiced_periods WHERE account_id = ?1 AND period = ?2";
/* Compare-and-set: the counter must still be billed up to what the run
 * read. Usage arriving meanwhile only raises quantity, which stays billable
 * later; another run billing the same late usage first makes this fail. */
static const char SQL_BILL_COUNTER[] =
    "UPDATE usage_counters SET invoiced_quantity = ?5"
    " WHERE account_id = ?1 AND period = ?2 AND metric = ?3 AND invoiced_quantity = ?4"
    " AND quantity >= ?5";
static const char SQL_NEXT_NUMBER[] =
    "INSERT INTO invoice_series(series, last) VALUES (?1, 1)"
    " ON CONFLICT(series) DO UPDATE SET last = last + 1 RETURNING last";
static const char SQL_HAS_CREDIT[] = "SELECT 1 FROM invoices WHERE original_number = ?1";
static const char SQL_INSERT[] =
    "INSERT INTO invoices(invoice_number, type, account_id, period, issue_date, currency,"
    " net_minor, tax_minor, gross_minor, original_number, retention_class, retain_until,"
    " document_ct, created_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13,"
    " ?14)";
static const char SQL_RECORD_PERIOD[] =
    "INSERT INTO invoiced_periods(account_id, period, invoice_number) VALUES (?1, ?2, ?3)";

/* A document with its class key and whether a credit note references it. */
#define SQL_DOCUMENT                                                                             \
    "SELECT i.invoice_number, i.document_ct, i.created_us,"                                      \
    " EXISTS (SELECT 1 FROM invoices c WHERE c.original_number = i.invoice_number),"             \
    " k.dek_id, k.master_version, k.nonce, k.wrapped"                                            \
    " FROM invoices i JOIN retention_keys r ON r.class = i.retention_class"                      \
    " JOIN data_keys k ON k.dek_id = r.dek_id"
static const char SQL_LOAD[] = SQL_DOCUMENT " WHERE i.invoice_number = ?1";
/* One listing per filter, each written so that SQLite walks the index of
 * the filtered column: "(?2 = '' OR account_id = ?2)" would make it walk
 * every invoice in number order and look each one up (an export of one
 * account's 24 invoices read all 48,000 of the benchmark's). */
#define SQL_LIST_TAIL " AND i.invoice_number > ?1 ORDER BY i.invoice_number LIMIT ?4"
static const char SQL_LIST_ALL[] = SQL_DOCUMENT " WHERE ?2 = '' AND ?3 = ''" SQL_LIST_TAIL;
static const char SQL_LIST_ACCOUNT[] =
    SQL_DOCUMENT " WHERE i.account_id = ?2 AND (?3 = '' OR i.period = ?3)" SQL_LIST_TAIL;
static const char SQL_LIST_PERIOD[] = SQL_DOCUMENT " WHERE i.period = ?3 AND ?2 = ''" SQL_LIST_TAIL;

static int text_or_done(store_conn_t *conn, sqlite3_stmt *st, char *out, size_t size,
                        const char *what, mb_error *err)
{
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        snprintf(out, size, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_error(conn, err, what);
    return rc == SQLITE_ROW;
}

static int bill_counters(store_conn_t *conn, const invoice_issue_in *in, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_BILL_COUNTER, err);
    if (st == NULL)
        return -1;
    for (size_t i = 0; i < in->n_billed; i++) {
        const invoice_billed *b = &in->billed[i];
        sqlite3_bind_text(st, 1, in->inv->account_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, b->period, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, b->metric, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, b->read_invoiced);
        sqlite3_bind_int64(st, 5, b->new_invoiced);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return store_error(conn, err, "recording the quantities billed");
        if (sqlite3_changes(store_conn_db_borrow(conn)) != 1)
            return mb_error_set(err, GRPC_STATUS_ABORTED,
                                "usage of %s was billed meanwhile by another run", b->period);
    }
    return 0;
}

static int next_number(store_conn_t *conn, invoice_issue_in *in, mb_error *err)
{
    char series[24];
    snprintf(series, sizeof series, "%s-%.4s", in->prefix, in->inv->issue_date);
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_NEXT_NUMBER, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, series, -1, SQLITE_TRANSIENT);
    if (store_step_one(conn, st, "no number", "taking the next invoice number", err) != 0) {
        sqlite3_reset(st);
        return -1;
    }
    long long n = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    snprintf(in->inv->invoice_number, INVOICE_NUMBER_SIZE, "%s-%06lld", series, n);
    return 0;
}

static int insert_document(store_conn_t *conn, const invoice_issue_in *in, mb_error *err)
{
    const Minbill__V1__Invoice *inv = in->inv;
    size_t n = protobuf_c_message_get_packed_size(&inv->base);
    unsigned char *plain = malloc(n + 1), *ct = malloc(n + DEK_SEAL_OVERHEAD);
    if (plain == NULL || ct == NULL) {
        free(plain);
        free(ct);
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory sealing an invoice");
    }
    protobuf_c_message_pack(&inv->base, plain);
    dek_seal(in->class_key, "invoices", "document_ct", inv->invoice_number, plain, n, ct);
    free(plain);
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_INSERT, err);
    if (st == NULL) {
        free(ct);
        return -1;
    }
    bool credit = inv->type == MINBILL__V1__INVOICE_TYPE__INVOICE_TYPE_CREDIT_NOTE;
    sqlite3_bind_text(st, 1, inv->invoice_number, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, credit ? "credit_note" : "invoice", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, inv->account_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, inv->period, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, inv->issue_date, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 6, inv->currency, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 7, inv->net_total_minor);
    sqlite3_bind_int64(st, 8, inv->tax_total_minor);
    sqlite3_bind_int64(st, 9, inv->gross_total_minor);
    if (credit)
        sqlite3_bind_text(st, 10, inv->original_invoice_number, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 11, in->retention_class, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 12, in->retain_until, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 13, ct, (int)(n + DEK_SEAL_OVERHEAD), free);
    sqlite3_bind_int64(st, 14, mb_now_us());
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_error(conn, err, "storing the invoice");
}

int invoice_store_issue(store_conn_t *conn, invoice_issue_in *in,
                        char existing[INVOICE_NUMBER_SIZE], mb_error *err)
{
    Minbill__V1__Invoice *inv = in->inv;
    bool credit = inv->type == MINBILL__V1__INVOICE_TYPE__INVOICE_TYPE_CREDIT_NOTE;
    sqlite3_stmt *st;
    if (!credit) {
        if ((st = store_conn_prepare(conn, SQL_INVOICED, err)) == NULL)
            return -1;
        sqlite3_bind_text(st, 1, inv->account_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, inv->period, -1, SQLITE_STATIC);
        int found = text_or_done(conn, st, existing, INVOICE_NUMBER_SIZE,
                                 "checking the invoiced periods", err);
        if (found != 0)
            return found < 0 ? -1 : INVOICE_EXISTS;
        if (bill_counters(conn, in, err) != 0)
            return -1;
    } else {
        if ((st = store_conn_prepare(conn, SQL_HAS_CREDIT, err)) == NULL)
            return -1;
        sqlite3_bind_text(st, 1, inv->original_invoice_number, -1, SQLITE_STATIC);
        char dummy[4];
        int found = text_or_done(conn, st, dummy, sizeof dummy, "checking credit notes", err);
        if (found != 0)
            return found < 0 ? -1
                             : mb_error_set(err, GRPC_STATUS_ALREADY_EXISTS,
                                            "invoice_number: the invoice has a credit note already");
    }
    if (next_number(conn, in, err) != 0)
        return -1;
    if (inv->payment != NULL)
        inv->payment->payment_id = inv->invoice_number;
    if (insert_document(conn, in, err) != 0)
        return -1;
    if (!credit) {
        if ((st = store_conn_prepare(conn, SQL_RECORD_PERIOD, err)) == NULL)
            return -1;
        sqlite3_bind_text(st, 1, inv->account_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, inv->period, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, inv->invoice_number, -1, SQLITE_STATIC);
        int rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return store_error(conn, err, "recording the invoiced period");
    }
    return INVOICE_ISSUED;
}

/* The current row of SQL_DOCUMENT as an Invoice in a. */
static int open_document(store_conn_t *conn, keyring_t *kr, mb_arena_t *a, sqlite3_stmt *st,
                         Minbill__V1__Invoice **out, mb_error *err)
{
    const char *number = (const char *)sqlite3_column_text(st, 0);
    dek key;
    if (dek_from_row(conn, kr, st, 4, &key, err) != 0)
        return -1;
    char *plain;
    int ret = dek_column_open(st, 1, &key, "invoices", "document_ct", number, a, &plain, err);
    dek_release(&key);
    if (ret != 0)
        return -1;
    ProtobufCAllocator al = mb_arena_allocator(a);
    size_t n = (size_t)sqlite3_column_bytes(st, 1) - DEK_SEAL_OVERHEAD;
    Minbill__V1__Invoice *inv = (Minbill__V1__Invoice *)protobuf_c_message_unpack(
        &minbill__v1__invoice__descriptor, &al, n, (const uint8_t *)plain);
    if (inv == NULL)
        return mb_error_set(err, GRPC_STATUS_DATA_LOSS, "invoice %s does not decode", number);
    inv->status = sqlite3_column_int(st, 3) ? MINBILL__V1__INVOICE_STATUS__INVOICE_STATUS_CREDITED
                                            : MINBILL__V1__INVOICE_STATUS__INVOICE_STATUS_ISSUED;
    Google__Protobuf__Timestamp *ts = mb_arena_alloc(a, sizeof *ts);
    if (ts == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    google__protobuf__timestamp__init(ts);
    int64_t us = sqlite3_column_int64(st, 2);
    ts->seconds = us / 1000000;
    ts->nanos = (int32_t)(us % 1000000) * 1000;
    inv->created_at = ts;
    *out = inv;
    return 0;
}

int invoice_store_load(store_conn_t *conn, keyring_t *kr, mb_arena_t *a, const char *number,
                       Minbill__V1__Invoice **out, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_LOAD, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, number, -1, SQLITE_STATIC);
    int ret = store_step_one(conn, st, "invoice_number: no such invoice", "reading the invoice",
                             err);
    if (ret == 0)
        ret = open_document(conn, kr, a, st, out, err);
    sqlite3_reset(st);
    return ret;
}

int invoice_store_list(store_conn_t *conn, keyring_t *kr, mb_arena_t *a, const char *account_id,
                       const char *period, const char *after, size_t limit,
                       Minbill__V1__Invoice ***out, size_t *n, bool *more, mb_error *err)
{
    *n = 0;
    *more = false;
    Minbill__V1__Invoice **list = mb_arena_alloc(a, (limit + 1) * sizeof *list);
    if (list == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    const char *sql = account_id[0] != '\0' ? SQL_LIST_ACCOUNT
                      : period[0] != '\0'   ? SQL_LIST_PERIOD
                                             : SQL_LIST_ALL;
    sqlite3_stmt *st = store_conn_prepare(conn, sql, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, after, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, account_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, period, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (int64_t)limit + 1);
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (*n == limit) {
            *more = true;
            break;
        }
        if (open_document(conn, kr, a, st, &list[*n], err) != 0) {
            ret = -1;
            break;
        }
        (*n)++;
    }
    if (ret == 0 && rc != SQLITE_ROW && rc != SQLITE_DONE)
        ret = store_error(conn, err, "listing invoices");
    sqlite3_reset(st);
    *out = list;
    return ret;
}
