/*
 * payments.c - see payments.h.
 */
#include "accounts/payments.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "accounts/payment_validate.h"
#include "accounts/pm_token.h"
#include "base/check.h"
#include "app.h"
#include "audit/audit.h"
#include "audit/audit_rpc.h"
#include "base/clock.h"
#include "crypto/dek.h"
#include "crypto/secmem.h"
#include "inventory/inventory.h"
#include "minbill/v1/accounts.pb-c.h"
#include "rpc/write.h"

#define NO_SUCH_TOKEN "token: no such payment method"
#define FP_BYTES 16
#define PAGE_DEFAULT 100
#define PAGE_MAX 500

static const char SQL_ACCOUNT_EXISTS[] = "SELECT 1 FROM accounts WHERE account_id = ?1";
/* One statement for what attach reads before it writes: the account's
 * state, the payment method the same number already is on it, if any, and
 * the id a new one gets. The id goes into the token, so it is chosen before
 * the insert. Ids are never needed to be unique over time: a token matches
 * its row's stored token too, so an id reused after a detach finds nothing
 * for the old one. */
static const char SQL_ATTACH_CHECK[] =
    "SELECT a.state, (SELECT m.method_id FROM payment_methods m"
    " WHERE m.account_id = a.account_id AND m.fingerprint = ?2),"
    " (SELECT coalesce(max(method_id), 0) + 1 FROM payment_methods)"
    " FROM accounts a WHERE a.account_id = ?1";
static const char SQL_INSERT_METHOD[] =
    "INSERT INTO payment_methods(method_id, token, account_id, type, brand, last4, exp_month,"
    " exp_year, country_code, bic, mandate_reference, mandate_signed_us, fingerprint, dek_id,"
    " created_us) VALUES (?15, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)";
static const char SQL_INSERT_VAULT[] =
    "INSERT INTO payment_vault(method_id, number_ct, holder_ct) VALUES (?1, ?2, ?3)";
/* A payment method as answered: metadata only, never the vault. */
#define SQL_METHOD                                                                               \
    "SELECT m.token, m.type, m.brand, m.last4, m.exp_month, m.exp_year, m.country_code,"         \
    " m.mandate_reference, m.fingerprint, m.created_us, m.account_id,"                           \
    " coalesce(a.default_payment_method = m.token, 0)"                                           \
    " FROM payment_methods m JOIN accounts a ON a.account_id = m.account_id"
static const char SQL_GET_METHOD[] = SQL_METHOD " WHERE m.method_id = ?1";
/* Pages list the default first (on the first page), then the others in
 * the order they were attached, after the page token's (created_us, token). */
static const char SQL_DEFAULT_METHOD[] =
    SQL_METHOD " WHERE m.account_id = ?1 AND m.token = a.default_payment_method";
static const char SQL_LIST_METHODS[] =
    SQL_METHOD " WHERE m.account_id = ?1 AND m.token IS NOT a.default_payment_method"
               " AND (m.created_us, m.token) > (?2, ?3) ORDER BY m.created_us, m.token LIMIT ?4";
/* What a re-attach may renew: the metadata and the sealed holder name. */
static const char SQL_RENEWABLE[] =
    "SELECT m.token, m.exp_month, m.exp_year, m.bic, m.mandate_reference, m.mandate_signed_us,"
    " m.dek_id, v.holder_ct FROM payment_methods m"
    " JOIN payment_vault v ON v.method_id = m.method_id WHERE m.method_id = ?1";
static const char SQL_RENEW_METHOD[] =
    "UPDATE payment_methods SET exp_month = ?2, exp_year = ?3, bic = ?4, mandate_reference = ?5,"
    " mandate_signed_us = ?6 WHERE method_id = ?1";
static const char SQL_RENEW_HOLDER[] =
    "UPDATE payment_vault SET holder_ct = ?2 WHERE method_id = ?1";
/* The row of token ?1: the one whose id it carries (?2, see pm_token.h),
 * unless it is a token issued before migration 0006; and the token must be
 * the row's own. */
#define BY_TOKEN                                                                                   \
    " m.method_id = coalesce((SELECT l.method_id FROM payment_token_legacy l"                      \
    " WHERE l.token = ?1), ?2) AND m.token = ?1"
static const char SQL_OWNER[] =
    "SELECT m.method_id, m.account_id, m.dek_id, a.state FROM payment_methods m"
    " JOIN accounts a ON a.account_id = m.account_id WHERE" BY_TOKEN;
static const char SQL_DELETE_LEGACY[] = "DELETE FROM payment_token_legacy WHERE method_id = ?1";
static const char SQL_DELETE_VAULT[] = "DELETE FROM payment_vault WHERE method_id = ?1";
static const char SQL_DELETE_METHOD[] = "DELETE FROM payment_methods WHERE method_id = ?1";
static const char SQL_CLEAR_DEFAULT[] =
    "UPDATE accounts SET default_payment_method = NULL"
    " WHERE account_id = ?1 AND default_payment_method = ?2";
static const char SQL_SET_DEFAULT[] =
    "UPDATE accounts SET default_payment_method = ?2 WHERE account_id = ?1";
static const char SQL_REVEAL[] =
    "SELECT m.type, m.exp_month, m.exp_year, m.bic, m.mandate_reference, m.mandate_signed_us,"
    " m.dek_id, m.account_id, v.number_ct, v.holder_ct"
    " FROM payment_methods m JOIN payment_vault v ON v.method_id = m.method_id WHERE" BY_TOKEN;

static int oom(rpc_call_t *call)
{
    mb_error err;
    mb_error_set(&err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    return rpc_call_fail(call, &err);
}

/* Locked memory that is wiped and freed with the call. */
static void *call_secret(rpc_call_t *call, size_t n)
{
    void *p = secmem_alloc(n);
    if (p != NULL && rpc_call_defer(call, secmem_free, p) != 0) {
        secmem_free(p);
        return NULL;
    }
    return p;
}

static const keyring_t *call_keyring(rpc_call_t *call)
{
    return ((const mb_app *)rpc_call_app(call))->keyring;
}

/* Binds BY_TOKEN's parameters. */
static void bind_token(sqlite3_stmt *st, const keyring_t *kr, const char *token)
{
    sqlite3_bind_text(st, 1, token, -1, SQLITE_STATIC);
    int64_t id = pm_token_id(kr, token);
    if (id > 0)
        sqlite3_bind_int64(st, 2, id);
    else
        sqlite3_bind_null(st, 2);
}

/* ---- Attach -------------------------------------------------------------- */

typedef struct attach {
    const char *account_id;
    int card; /* else SEPA debit */
    char *number; /* secure memory: PAN digits or compact IBAN */
    const char *holder;
    const char *brand;
    char last4[5];
    char country[3];
    int exp_month, exp_year;
    const char *bic;
    const char *mandate_reference;
    int64_t mandate_signed_us;
    unsigned char fingerprint[FP_BYTES];
    char token[PM_TOKEN_LEN + 1];
    int64_t created_us;
} attach;

static int check_card(const Minbill__V1__CardDetails *c, attach *a, mb_error *err)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    pay_brand brand;
    if (pay_check_card("card", c->pan, c->exp_month, c->exp_year, tm.tm_year + 1900,
                       tm.tm_mon + 1, a->number, &brand, a->last4, err) != 0 ||
        check_text("card.holder_name", c->holder_name, 0, 200, err) != 0)
        return -1;
    a->card = 1;
    a->brand = pay_brand_name(brand);
    a->exp_month = c->exp_month;
    a->exp_year = c->exp_year;
    a->holder = c->holder_name;
    a->bic = a->mandate_reference = "";
    return 0;
}

static int check_sepa(const Minbill__V1__SepaDebitDetails *s, attach *a, mb_error *err)
{
    int64_t signed_us;
    if (check_iban("sepa_debit.iban", s->iban, a->number, CHECK_IBAN_SIZE, a->country, a->last4,
                   err) != 0 ||
        check_bic("sepa_debit.bic", s->bic, false, err) != 0 ||
        pay_check_sepa_reach("sepa_debit.iban", a->country, "sepa_debit.bic", s->bic, err) != 0 ||
        check_text("sepa_debit.account_holder", s->account_holder, 1, 70, err) != 0 ||
        pay_check_mandate_reference("sepa_debit.mandate_reference", s->mandate_reference, err) != 0)
        return -1;
    if (s->mandate_signed_at == NULL || s->mandate_signed_at->seconds <= 0)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "sepa_debit.mandate_signed_at: required");
    if (check_timestamp("sepa_debit.mandate_signed_at", s->mandate_signed_at->seconds,
                        s->mandate_signed_at->nanos, &signed_us, err) != 0)
        return -1;
    if (signed_us > mb_now_us() + 300 * 1000000LL)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "sepa_debit.mandate_signed_at: must not be in the future");
    a->card = 0;
    a->brand = "";
    a->holder = s->account_holder;
    a->bic = s->bic;
    a->mandate_reference = s->mandate_reference;
    a->mandate_signed_us = signed_us;
    return 0;
}

static void fingerprint_hex(const unsigned char *fp, int n, char *out)
{
    sodium_bin2hex(out, (size_t)n * 2 + 1, fp, (size_t)n);
}

/* What a PaymentMethod answer is made of, from a row or from an attach. */
typedef struct method_fields {
    const char *token, *type, *brand, *last4, *country, *mandate_reference, *account_id;
    int exp_month, exp_year;
    const unsigned char *fingerprint;
    int fingerprint_len;
    int64_t created_us;
    bool is_default;
} method_fields;

static Minbill__V1__PaymentMethod *method_new(mb_arena_t *ar, const method_fields *f)
{
    Minbill__V1__PaymentMethod *m = mb_arena_alloc(ar, sizeof *m);
    Google__Protobuf__Timestamp *ts = mb_arena_alloc(ar, sizeof *ts);
    char *fp = mb_arena_alloc(ar, 3 + FP_BYTES * 2 + 1);
    if (m == NULL || ts == NULL || fp == NULL)
        return NULL;
    minbill__v1__payment_method__init(m);
    google__protobuf__timestamp__init(ts);
    m->token = mb_arena_printf(ar, "%s", f->token);
    m->type = strcmp(f->type, "card") == 0
                  ? MINBILL__V1__PAYMENT_METHOD_TYPE__PAYMENT_METHOD_TYPE_CARD
                  : MINBILL__V1__PAYMENT_METHOD_TYPE__PAYMENT_METHOD_TYPE_SEPA_DEBIT;
    m->brand = mb_arena_printf(ar, "%s", f->brand);
    m->last4 = mb_arena_printf(ar, "%s", f->last4);
    m->exp_month = f->exp_month;
    m->exp_year = f->exp_year;
    m->country_code = mb_arena_printf(ar, "%s", f->country);
    m->mandate_reference = mb_arena_printf(ar, "%s", f->mandate_reference);
    memcpy(fp, "fp_", 3);
    fingerprint_hex(f->fingerprint, f->fingerprint_len > FP_BYTES ? FP_BYTES : f->fingerprint_len,
                    fp + 3);
    m->fingerprint = fp;
    ts->seconds = f->created_us / 1000000;
    ts->nanos = (int32_t)(f->created_us % 1000000) * 1000;
    m->created_at = ts;
    m->account_id = mb_arena_printf(ar, "%s", f->account_id);
    m->is_default = f->is_default;
    return m->token && m->brand && m->last4 && m->country_code && m->mandate_reference &&
                   m->account_id
               ? m
               : NULL;
}

/* A PaymentMethod from a row of SQL_METHOD. */
static Minbill__V1__PaymentMethod *method_from_row(mb_arena_t *ar, sqlite3_stmt *st)
{
#define TEXT(col) ((const char *)sqlite3_column_text(st, col))
    method_fields f = {.token = TEXT(0),
                       .type = TEXT(1),
                       .brand = TEXT(2),
                       .last4 = TEXT(3),
                       .exp_month = sqlite3_column_int(st, 4),
                       .exp_year = sqlite3_column_int(st, 5),
                       .country = TEXT(6),
                       .mandate_reference = TEXT(7),
                       .fingerprint = sqlite3_column_blob(st, 8),
                       .fingerprint_len = sqlite3_column_bytes(st, 8),
                       .created_us = sqlite3_column_int64(st, 9),
                       .account_id = TEXT(10),
                       .is_default = sqlite3_column_int(st, 11) != 0};
#undef TEXT
    return method_new(ar, &f);
}

/* Reads one payment method by token on conn into *out. */
static int read_method(store_conn_t *conn, mb_arena_t *ar, int64_t method_id,
                       Minbill__V1__PaymentMethod **out, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_GET_METHOD, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, method_id);
    int ret = store_step_one(conn, st, NO_SUCH_TOKEN, "reading the payment method", err);
    if (ret == 0 && (*out = method_from_row(ar, st)) == NULL)
        ret = mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    sqlite3_reset(st);
    return ret;
}

/* The account must exist and be active; *existing receives the id of the
 * payment method the same number already is on it, or 0 (attaching again
 * answers that one instead of storing a second copy), *next_id the id of a
 * new one. */
static int check_attach(store_conn_t *conn, const attach *a, int64_t *existing, int64_t *next_id,
                        mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_ATTACH_CHECK, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, a->account_id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 2, a->fingerprint, FP_BYTES, SQLITE_STATIC);
    int ret = store_step_one(conn, st, "account_id: no such account", "reading the account", err);
    if (ret == 0 && strcmp((const char *)sqlite3_column_text(st, 0), "active") != 0)
        ret = mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                           "account_id: the account is closed");
    *existing = ret == 0 ? sqlite3_column_int64(st, 1) : 0; /* NULL reads as 0 */
    *next_id = ret == 0 ? sqlite3_column_int64(st, 2) : 0;
    sqlite3_reset(st);
    return ret;
}

/* Stores a new payment method as row method_id; completes a->token with
 * that id. */
static int store_new(store_conn_t *conn, keyring_t *kr, attach *a, int64_t method_id, mb_error *err)
{
    pm_token_bind(kr, method_id, a->token);
    dek key = {0};
    if (dek_create(conn, kr, &key, err) != 0)
        return -1;
    int ret = -1;
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_INSERT_METHOD, err);
    if (st == NULL)
        goto out;
    sqlite3_bind_text(st, 1, a->token, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, a->account_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, a->card ? "card" : "sepa_debit", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, a->brand, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, a->last4, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 6, a->exp_month);
    sqlite3_bind_int(st, 7, a->exp_year);
    sqlite3_bind_text(st, 8, a->country, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 9, a->bic, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 10, a->mandate_reference, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 11, a->mandate_signed_us);
    sqlite3_bind_blob(st, 12, a->fingerprint, FP_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 13, key.id);
    sqlite3_bind_int64(st, 14, a->created_us);
    sqlite3_bind_int64(st, 15, method_id);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        store_error(conn, err, "storing the payment method");
        goto out;
    }
    if ((st = store_conn_prepare(conn, SQL_INSERT_VAULT, err)) == NULL)
        goto out;
    sqlite3_bind_int64(st, 1, method_id);
    if (dek_bind_sealed(st, 2, &key, "payment_vault", "number_ct", a->token, a->number, err) !=
            0 ||
        dek_bind_sealed(st, 3, &key, "payment_vault", "holder_ct", a->token, a->holder, err) != 0) {
        sqlite3_reset(st);
        goto out;
    }
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    ret = rc == SQLITE_DONE ? 0 : store_error(conn, err, "storing the vault entry");
out:
    dek_release(&key);
    return ret;
}

/* Re-attaching a known number renews what may change while the number
 * stays: a card's expiry (a renewed card) and holder, a debit's holder, BIC
 * and mandate. *changed tells whether anything did; a change is audited as
 * a rectification. */
static int renew_existing(store_conn_t *conn, rpc_call_t *call, const attach *a, int64_t method_id,
                          bool *changed, mb_error *err)
{
    mb_app *app = rpc_call_app(call);
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_RENEWABLE, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, method_id);
    char token[PM_TOKEN_LEN + 1] = "", *holder = NULL;
    dek key = {0};
    int ret = store_step_one(conn, st, NO_SUCH_TOKEN, "reading the payment method", err);
    if (ret == 0) {
        snprintf(token, sizeof token, "%s", sqlite3_column_text(st, 0));
        *changed = sqlite3_column_int(st, 1) != a->exp_month ||
                   sqlite3_column_int(st, 2) != a->exp_year ||
                   strcmp((const char *)sqlite3_column_text(st, 3), a->bic) != 0 ||
                   strcmp((const char *)sqlite3_column_text(st, 4), a->mandate_reference) != 0 ||
                   sqlite3_column_int64(st, 5) != a->mandate_signed_us;
        ret = dek_load(conn, app->keyring, sqlite3_column_int64(st, 6), &key, err);
        if (ret == 0)
            ret = dek_column_open(st, 7, &key, "payment_vault", "holder_ct", token,
                                  rpc_call_arena(call), &holder, err);
    }
    sqlite3_reset(st);
    if (ret != 0)
        goto out;
    *changed = *changed || strcmp(holder, a->holder) != 0;
    sodium_memzero(holder, strlen(holder));
    if (!*changed)
        goto out;
    ret = -1;
    if ((st = store_conn_prepare(conn, SQL_RENEW_METHOD, err)) == NULL)
        goto out;
    sqlite3_bind_int64(st, 1, method_id);
    sqlite3_bind_int(st, 2, a->exp_month);
    sqlite3_bind_int(st, 3, a->exp_year);
    sqlite3_bind_text(st, 4, a->bic, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, a->mandate_reference, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, a->mandate_signed_us);
    if (store_step_done(conn, st, "renewing the payment method", err) != 0 ||
        (st = store_conn_prepare(conn, SQL_RENEW_HOLDER, err)) == NULL)
        goto out;
    sqlite3_bind_int64(st, 1, method_id);
    if (dek_bind_sealed(st, 2, &key, "payment_vault", "holder_ct", token, a->holder, err) != 0) {
        sqlite3_reset(st);
        goto out;
    }
    if (store_step_done(conn, st, "renewing the vault entry", err) != 0 ||
        audit_call_append(conn, call, "payment_method.update", a->account_id, token,
                          "rectification", NULL, err) != 0)
        goto out;
    ret = 0;
out:
    dek_release(&key);
    return ret;
}

static int attach_run(store_conn_t *conn, rpc_call_t *call, void *arg, ProtobufCMessage **resp,
                      mb_error *err)
{
    attach *a = arg;
    mb_app *app = rpc_call_app(call);
    int64_t existing, next_id;
    if (check_attach(conn, a, &existing, &next_id, err) != 0)
        return -1;
    Minbill__V1__PaymentMethod *m;
    if (existing != 0) {
        bool changed = false;
        if (renew_existing(conn, call, a, existing, &changed, err) != 0 ||
            read_method(conn, rpc_call_arena(call), existing, &m, err) != 0)
            return -1;
        m->already_attached = true;
        m->updated_existing = changed;
        *resp = &m->base;
        return 0;
    }
    /* Collecting a payment method, like UpsertAccount, is recorded in the
     * call log (time, key id, role, outcome), not in the audit trail: that
     * holds what architecture principle 6 lists (reveals, exports,
     * rectifications, erasures such as detach, admin actions). */
    a->created_us = mb_now_us();
    if (store_new(conn, app->keyring, a, next_id, err) != 0)
        return -1;
    /* The answer is what was just stored; a new method is never the default. */
    method_fields f = {.token = a->token,
                       .type = a->card ? "card" : "sepa_debit",
                       .brand = a->brand,
                       .last4 = a->last4,
                       .exp_month = a->exp_month,
                       .exp_year = a->exp_year,
                       .country = a->country,
                       .mandate_reference = a->mandate_reference,
                       .fingerprint = a->fingerprint,
                       .fingerprint_len = FP_BYTES,
                       .created_us = a->created_us,
                       .account_id = a->account_id};
    if ((m = method_new(rpc_call_arena(call), &f)) == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    *resp = &m->base;
    return 0;
}

int payments_attach(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Minbill__V1__AttachPaymentMethodRequest *req = (const void *)msg;
    mb_app *app = rpc_call_app(call);
    mb_error err;
    attach *a = mb_arena_alloc(rpc_call_arena(call), sizeof *a);
    if (a == NULL)
        return oom(call);
    memset(a, 0, sizeof *a);
    if ((a->number = call_secret(call, CHECK_IBAN_SIZE)) == NULL)
        return oom(call);
    if (check_id("account_id", req->account_id, &err) != 0)
        return rpc_call_fail(call, &err);
    a->account_id = req->account_id;
    int rc;
    if (req->method_case == MINBILL__V1__ATTACH_PAYMENT_METHOD_REQUEST__METHOD_CARD)
        rc = check_card(req->card, a, &err);
    else if (req->method_case == MINBILL__V1__ATTACH_PAYMENT_METHOD_REQUEST__METHOD_SEPA_DEBIT)
        rc = check_sepa(req->sepa_debit, a, &err);
    else
        rc = mb_error_set(&err, GRPC_STATUS_INVALID_ARGUMENT, "method: card or sepa_debit required");
    if (rc != 0)
        return rpc_call_fail(call, &err);
    /* The type is part of the fingerprint input so that a PAN and an IBAN
     * can never collide. */
    char fp_in[CHECK_IBAN_SIZE + 8];
    int n = snprintf(fp_in, sizeof fp_in, "%s:%s", a->card ? "card" : "iban", a->number);
    keyring_mac(app->keyring, KEYRING_SECRET_FINGERPRINT, fp_in, (size_t)n, a->fingerprint,
                FP_BYTES);
    sodium_memzero(fp_in, sizeof fp_in);
    pm_token_new(a->token); /* random now; its row id is bound in by the writer */
    rpc_call_write(call, app->store, attach_run, a);
    return RPC_CONTINUE;
}

/* ---- List ---------------------------------------------------------------- */

/* Where a page starts: after (created_us, token) of the last method the
 * previous page listed, "CREATED_US:TOKEN". The default is listed first on
 * the first page and never again. */
typedef struct page_cursor {
    int64_t created_us;
    const char *token;
} page_cursor;

static int parse_page_token(const char *s, page_cursor *c, mb_error *err)
{
    static const char rule[] = "page_token: not a token from a previous page";
    c->created_us = -1;
    c->token = "";
    if (s[0] == '\0')
        return 0;
    char *end;
    c->created_us = strtoll(s, &end, 10);
    mb_error ignored;
    if (end == s || *end != ':' || c->created_us < 0 || pm_token_check("", end + 1, &ignored) != 0)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT, "%s", rule);
    c->token = end + 1;
    return 0;
}

typedef struct list_page {
    const char *account_id;
    page_cursor after;
    int size;
    Minbill__V1__ListPaymentMethodsResponse *resp;
} list_page;

/* Appends the methods st yields, at most `room`; *more is set when st had
 * another row. */
static int append_methods(store_conn_t *conn, mb_arena_t *ar, sqlite3_stmt *st, size_t room,
                          list_page *p, bool *more, mb_error *err)
{
    int rc;
    size_t added = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (added == room) {
            *more = true;
            break;
        }
        Minbill__V1__PaymentMethod *m = method_from_row(ar, st);
        if (m == NULL) {
            sqlite3_reset(st);
            return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        }
        p->resp->payment_methods[p->resp->n_payment_methods++] = m;
        added++;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE || rc == SQLITE_ROW
               ? 0
               : store_error(conn, err, "listing payment methods");
}

static int list_read(store_conn_t *conn, mb_arena_t *ar, list_page *p, mb_error *err)
{
    /* A closed account still lists what it had. */
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_ACCOUNT_EXISTS, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, p->account_id, -1, SQLITE_STATIC);
    int ret = store_step_one(conn, st, "account_id: no such account", "reading the account", err);
    sqlite3_reset(st);
    bool more = false;
    if (ret != 0)
        return -1;
    if (p->after.created_us < 0) {
        if ((st = store_conn_prepare(conn, SQL_DEFAULT_METHOD, err)) == NULL)
            return -1;
        sqlite3_bind_text(st, 1, p->account_id, -1, SQLITE_STATIC);
        if (append_methods(conn, ar, st, 1, p, &more, err) != 0)
            return -1;
    }
    size_t room = (size_t)p->size - p->resp->n_payment_methods;
    if ((st = store_conn_prepare(conn, SQL_LIST_METHODS, err)) == NULL)
        return -1;
    sqlite3_bind_text(st, 1, p->account_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, p->after.created_us);
    sqlite3_bind_text(st, 3, p->after.token, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 4, (int)room + 1); /* one more tells whether a next page exists */
    size_t before = p->resp->n_payment_methods;
    if (append_methods(conn, ar, st, room, p, &more, err) != 0)
        return -1;
    if (!more)
        return 0;
    /* The cursor is the last method of the listing proper: when the page
     * holds only the default, the next one starts from the beginning. */
    const Minbill__V1__PaymentMethod *last =
        p->resp->n_payment_methods > before
            ? p->resp->payment_methods[p->resp->n_payment_methods - 1]
            : NULL;
    p->resp->next_page_token =
        last == NULL ? mb_arena_printf(ar, "0:%s", "pm_000000000000000000000000")
                     : mb_arena_printf(ar, "%lld:%s",
                                       (long long)(last->created_at->seconds * 1000000 +
                                                   last->created_at->nanos / 1000),
                                       last->token);
    return p->resp->next_page_token != NULL
               ? 0
               : mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
}

int payments_list(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Minbill__V1__ListPaymentMethodsRequest *req = (const void *)msg;
    mb_app *app = rpc_call_app(call);
    mb_arena_t *ar = rpc_call_arena(call);
    mb_error err;
    if (check_id("account_id", req->account_id, &err) != 0)
        return rpc_call_fail(call, &err);
    if (req->page_size < 0 || req->page_size > PAGE_MAX) {
        mb_error_set(&err, GRPC_STATUS_INVALID_ARGUMENT,
                     "page_size: must be from 0 (server default, %d) to %d", PAGE_DEFAULT,
                     PAGE_MAX);
        return rpc_call_fail(call, &err);
    }
    Minbill__V1__ListPaymentMethodsResponse resp = MINBILL__V1__LIST_PAYMENT_METHODS_RESPONSE__INIT;
    list_page p = {.account_id = req->account_id,
                   .size = req->page_size != 0 ? req->page_size : PAGE_DEFAULT,
                   .resp = &resp};
    if (parse_page_token(req->page_token, &p.after, &err) != 0)
        return rpc_call_fail(call, &err);
    resp.payment_methods = mb_arena_alloc(ar, (size_t)p.size * sizeof *resp.payment_methods);
    if (resp.payment_methods == NULL)
        return oom(call);
    /* Support and finance see metadata only: the support purpose cannot read
     * the vault at all. */
    store_conn_t *conn = store_reader_acquire_for(app->store, PURPOSE_SUPPORT);
    int ret = list_read(conn, ar, &p, &err);
    store_reader_release(app->store, conn);
    rpc_call_finish(call, ret == 0 ? &resp.base : NULL, ret == 0 ? NULL : &err);
    return RPC_CONTINUE;
}

/* ---- Detach and default -------------------------------------------------- */

typedef struct owner {
    int64_t method_id;
    char account_id[72];
    int64_t dek_id;
    bool active;
} owner;

static int find_owner(store_conn_t *conn, const keyring_t *kr, const char *token, owner *o,
                      mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_OWNER, err);
    if (st == NULL)
        return -1;
    bind_token(st, kr, token);
    int ret = store_step_one(conn, st, NO_SUCH_TOKEN, "reading the payment method", err);
    if (ret == 0) {
        o->method_id = sqlite3_column_int64(st, 0);
        snprintf(o->account_id, sizeof o->account_id, "%s", sqlite3_column_text(st, 1));
        o->dek_id = sqlite3_column_int64(st, 2);
        o->active = strcmp((const char *)sqlite3_column_text(st, 3), "active") == 0;
    }
    sqlite3_reset(st);
    return ret;
}

static int detach_run(store_conn_t *conn, rpc_call_t *call, void *arg, ProtobufCMessage **resp,
                      mb_error *err)
{
    const char *token = arg;
    owner o;
    if (find_owner(conn, call_keyring(call), token, &o, err) != 0 ||
        store_exec_text(conn, SQL_CLEAR_DEFAULT, o.account_id, token, "clearing the default",
                        err) != 0 ||
        store_exec_id(conn, SQL_DELETE_LEGACY, o.method_id, "deleting the token", err) != 0 ||
        store_exec_id(conn, SQL_DELETE_VAULT, o.method_id, "deleting the vault entry", err) != 0 ||
        store_exec_id(conn, SQL_DELETE_METHOD, o.method_id, "deleting the payment method", err) !=
            0 ||
        dek_destroy(conn, o.dek_id, err) != 0 ||
        audit_call_append(conn, call, "payment_method.detach", o.account_id, token,
                      "payment collection", NULL, err) != 0)
        return -1;
    mb_arena_t *ar = rpc_call_arena(call);
    Minbill__V1__DetachPaymentMethodResponse *r = mb_arena_alloc(ar, sizeof *r);
    if (r == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    minbill__v1__detach_payment_method_response__init(r);
    r->token = (char *)token;
    r->account_id = mb_arena_printf(ar, "%s", o.account_id);
    *resp = &r->base;
    return r->account_id != NULL ? 0 : mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
}

/* Detach and SetDefault: a token in, a write keyed by it. */
static int write_for_token(rpc_call_t *call, const char *token, rpc_write_fn fn)
{
    mb_error err;
    if (pm_token_check("token", token, &err) != 0)
        return rpc_call_fail(call, &err);
    rpc_call_write(call, ((mb_app *)rpc_call_app(call))->store, fn, (void *)token);
    return RPC_CONTINUE;
}

int payments_detach(rpc_call_t *call, const ProtobufCMessage *msg)
{
    return write_for_token(call, ((const Minbill__V1__DetachPaymentMethodRequest *)msg)->token,
                           detach_run);
}

static int default_run(store_conn_t *conn, rpc_call_t *call, void *arg, ProtobufCMessage **resp,
                       mb_error *err)
{
    const char *token = arg;
    owner o;
    if (find_owner(conn, call_keyring(call), token, &o, err) != 0)
        return -1;
    if (!o.active)
        return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION, "token: the account is closed");
    if (store_exec_text(conn, SQL_SET_DEFAULT, o.account_id, token, "setting the default", err) != 0)
        return -1;
    mb_arena_t *ar = rpc_call_arena(call);
    Minbill__V1__SetDefaultPaymentMethodResponse *r = mb_arena_alloc(ar, sizeof *r);
    if (r == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    minbill__v1__set_default_payment_method_response__init(r);
    r->account_id = mb_arena_printf(ar, "%s", o.account_id);
    r->default_payment_method = (char *)token;
    *resp = &r->base;
    return r->account_id != NULL ? 0 : mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
}

int payments_set_default(rpc_call_t *call, const ProtobufCMessage *msg)
{
    return write_for_token(
        call, ((const Minbill__V1__SetDefaultPaymentMethodRequest *)msg)->token, default_run);
}

/* ---- Reveal -------------------------------------------------------------- */

typedef struct revealed {
    const char *token;
    const char *purpose;
    char account_id[72];
    Minbill__V1__RevealPaymentMethodResponse resp;
    Minbill__V1__CardDetails card;
    Minbill__V1__SepaDebitDetails sepa;
    Google__Protobuf__Timestamp signed_at;
    char *event_id;
} revealed;

/* Opens a sealed vault column into locked memory freed with the call. */
static int open_secret(rpc_call_t *call, sqlite3_stmt *st, int col, const dek *key,
                       const char *column, const char *token, char **out, mb_error *err)
{
    int n = sqlite3_column_bytes(st, col);
    char *tmp;
    /* dek_column_open decrypts into the call arena (wiped when the call is
     * freed); copy into locked memory and wipe the arena copy at once. */
    if (dek_column_open(st, col, key, "payment_vault", column, token, rpc_call_arena(call), &tmp,
                        err) != 0)
        return -1;
    size_t len = strlen(tmp);
    *out = call_secret(call, len + 1);
    if (*out == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of locked memory");
    memcpy(*out, tmp, len + 1);
    sodium_memzero(tmp, n > DEK_SEAL_OVERHEAD ? (size_t)(n - DEK_SEAL_OVERHEAD) : len);
    return 0;
}

static int read_vault(rpc_call_t *call, store_conn_t *conn, revealed *r, mb_error *err)
{
    mb_app *app = rpc_call_app(call);
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_REVEAL, err);
    if (st == NULL)
        return -1;
    bind_token(st, app->keyring, r->token);
    int ret = -1;
    dek key = {0};
    if (store_step_one(conn, st, NO_SUCH_TOKEN, "reading the vault", err) != 0)
        goto out;
    if (dek_load(conn, app->keyring, sqlite3_column_int64(st, 6), &key, err) != 0)
        goto out;
    snprintf(r->account_id, sizeof r->account_id, "%s", sqlite3_column_text(st, 7));
    minbill__v1__reveal_payment_method_response__init(&r->resp);
    r->resp.token = (char *)r->token;
    char *number, *holder;
    if (open_secret(call, st, 8, &key, "number_ct", r->token, &number, err) != 0 ||
        open_secret(call, st, 9, &key, "holder_ct", r->token, &holder, err) != 0)
        goto out;
    if (strcmp((const char *)sqlite3_column_text(st, 0), "card") == 0) {
        minbill__v1__card_details__init(&r->card);
        r->card.pan = number;
        r->card.holder_name = holder;
        r->card.exp_month = sqlite3_column_int(st, 1);
        r->card.exp_year = sqlite3_column_int(st, 2);
        r->resp.type = MINBILL__V1__PAYMENT_METHOD_TYPE__PAYMENT_METHOD_TYPE_CARD;
        r->resp.details_case = MINBILL__V1__REVEAL_PAYMENT_METHOD_RESPONSE__DETAILS_CARD;
        r->resp.card = &r->card;
    } else {
        minbill__v1__sepa_debit_details__init(&r->sepa);
        google__protobuf__timestamp__init(&r->signed_at);
        int64_t us = sqlite3_column_int64(st, 5);
        r->signed_at.seconds = us / 1000000;
        r->signed_at.nanos = (int32_t)(us % 1000000) * 1000;
        r->sepa.iban = number;
        r->sepa.account_holder = holder;
        r->sepa.bic = mb_arena_printf(rpc_call_arena(call), "%s", sqlite3_column_text(st, 3));
        r->sepa.mandate_reference =
            mb_arena_printf(rpc_call_arena(call), "%s", sqlite3_column_text(st, 4));
        r->sepa.mandate_signed_at = &r->signed_at;
        r->resp.type = MINBILL__V1__PAYMENT_METHOD_TYPE__PAYMENT_METHOD_TYPE_SEPA_DEBIT;
        r->resp.details_case = MINBILL__V1__REVEAL_PAYMENT_METHOD_RESPONSE__DETAILS_SEPA_DEBIT;
        r->resp.sepa_debit = &r->sepa;
        if (r->sepa.bic == NULL || r->sepa.mandate_reference == NULL) {
            mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
            goto out;
        }
    }
    ret = 0;
out:
    sqlite3_reset(st);
    dek_release(&key);
    return ret;
}

/* The number leaves only once the reveal's audit event is committed. */
static int reveal_run(store_conn_t *conn, rpc_call_t *call, void *arg, ProtobufCMessage **resp,
                      mb_error *err)
{
    revealed *r = arg;
    if (audit_call_append(conn, call, "payment_method.reveal", r->account_id, r->token, r->purpose,
                      r->event_id, err) != 0)
        return -1;
    r->resp.audit_event_id = r->event_id;
    *resp = &r->resp.base;
    return 0;
}

int payments_reveal(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Minbill__V1__RevealPaymentMethodRequest *req = (const void *)msg;
    mb_app *app = rpc_call_app(call);
    mb_error err;
    if (pm_token_check("token", req->token, &err) != 0 ||
        pay_check_purpose("purpose", req->purpose, &err) != 0)
        return rpc_call_fail(call, &err);
    revealed *r = mb_arena_alloc(rpc_call_arena(call), sizeof *r);
    char *event_id = mb_arena_alloc(rpc_call_arena(call), AUDIT_EVENT_ID_MAX);
    if (r == NULL || event_id == NULL)
        return oom(call);
    memset(r, 0, sizeof *r);
    r->token = req->token;
    r->purpose = req->purpose;
    r->event_id = event_id;
    store_conn_t *conn = store_reader_acquire_for(app->store, PURPOSE_PAYMENT);
    int rc = read_vault(call, conn, r, &err);
    store_reader_release(app->store, conn);
    if (rc != 0)
        return rpc_call_fail(call, &err);
    rpc_call_write(call, app->store, reveal_run, r);
    return RPC_CONTINUE;
}
