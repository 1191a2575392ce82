/*
 * billing.c - see billing.h.
 *
 * An account whose own fields were erased (Art. 17: its key and personal
 * columns are gone, the row stays for what refers to it) is never
 * invoiced: an invoice must name its buyer, and open amounts are no reason
 * to have kept the name. Its usage stays unbilled; each run reports the
 * account as not invoiced, with a reason that holds no personal data, and
 * counts it apart (accounts_erased). The issuing job checks again, so an
 * erasure that commits between a chunk's read and its issue leaves no
 * invoice written from data read before it.
 */
#include "invoicing/billing.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "audit/audit_rpc.h"
#include "base/clock.h"
#include "base/period.h"
#include "crypto/dek.h"
#include "inventory/inventory.h"
#include "invoicing/invoice_build.h"
#include "invoicing/invoice_store.h"
#include "invoicing/plans.h"
#include "metrics/metrics.h"
#include "store/writer.h"

/* An issue that lost a race for a counter is computed again from a fresh
 * snapshot; more than a few losses in a row means something is wrong. */
#define ISSUE_ATTEMPTS 4
#define MAX_CURRENCIES 32

static const char ERASED[] = "not invoiced: the account's personal data was erased on request "
                             "(Art. 17 GDPR) and an invoice must name its buyer; its usage "
                             "stays unbilled";

/* The accounts of a period: those that existed in it, or that usage of it
 * was reported for (an account the platform registered late), unless they
 * closed before it began. */
static const char SQL_SCOPE[] =
    "SELECT a.account_id FROM accounts a WHERE (a.created_at < ?1 OR EXISTS ("
    " SELECT 1 FROM usage_counters c WHERE c.account_id = a.account_id AND c.period = ?3))"
    " AND (a.state = 'active' OR a.closed_at >= ?2) ORDER BY a.account_id";
static const char SQL_ACCOUNT[] =
    "SELECT a.currency, a.plan_id, a.default_payment_method, a.legal_name_ct, a.address_ct,"
    " a.vat_id_ct, k.dek_id, k.master_version, k.nonce, k.wrapped,"
    " (SELECT invoice_number FROM invoiced_periods p"
    "   WHERE p.account_id = a.account_id AND p.period = ?2)"
    " FROM accounts a LEFT JOIN data_keys k ON k.dek_id = a.dek_id WHERE a.account_id = ?1";
/* The period's own counters, and late usage of earlier periods that were
 * invoiced (an earlier period not invoiced yet is billed by its own run). */
static const char SQL_COUNTERS[] =
    "SELECT c.period, c.metric, c.quantity, c.invoiced_quantity FROM usage_counters c"
    " WHERE c.account_id = ?1 AND c.quantity > c.invoiced_quantity AND (c.period = ?2"
    " OR (c.period < ?2 AND EXISTS (SELECT 1 FROM invoiced_periods p"
    "   WHERE p.account_id = c.account_id AND p.period = c.period)))"
    " ORDER BY c.period, c.metric";
/* In the issuing transaction: the account still has its own fields. */
static const char SQL_NOT_ERASED[] =
    "SELECT 1 FROM accounts WHERE account_id = ?1 AND dek_id IS NOT NULL";
static const char SQL_PAYMENT[] =
    "SELECT type, last4, country_code, mandate_reference FROM payment_methods"
    " WHERE account_id = ?1 AND token = ?2";

typedef struct cached_plan {
    char *plan_id;
    int status; /* 0 loaded, else the error code */
    mb_error err;
    plan p;
} cached_plan;

typedef struct currency_totals {
    char currency[4];
    int64_t invoices, net, tax, gross;
} currency_totals;

typedef struct run {
    rpc_call_t *call;
    mb_app *app;
    const char *period;
    bool dry;
    char start[32], end[32]; /* the period's bounds as stored timestamps */
    char issue_date[11];
    char cls[32], retain_until[11];
    dek class_key;
    mb_arena_t *keep; /* account ids and plans, for the whole run */
    char **ids;
    size_t n_ids;
    cached_plan *plans;
    size_t n_plans, cap_plans;
    currency_totals totals[MAX_CURRENCIES];
    size_t n_totals;
    int64_t processed, issued, skipped, failed, erased;
} run;

/* One account's step: inputs, computed invoice, issue job, outcome. */
typedef struct work {
    const char *account_id;
    billing_input in;
    const plan *p;
    const char *skip;  /* why nothing is issued, or NULL */
    bool failed;       /* skip is an error, not a normal skip */
    bool erased;       /* skip is ERASED */
    mb_error err;
    Minbill__V1__Invoice *inv;
    invoice_issue_in issue;
    char existing[INVOICE_NUMBER_SIZE];
    int outcome;
} work;

static int oom(mb_error *err, const char *what)
{
    return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory for %s", what);
}

static char *column_text(mb_arena_t *a, sqlite3_stmt *st, int col)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    return mb_arena_printf(a, "%s", s != NULL ? s : "");
}

/* --- Reading -------------------------------------------------------------- */

static int read_scope(store_conn_t *conn, void *arg, mb_error *err)
{
    run *r = arg;
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_SCOPE, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, r->end, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->start, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, r->period, -1, SQLITE_STATIC);
    size_t cap = 0;
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (r->n_ids == cap) {
            cap = cap ? cap * 2 : 1024;
            char **ids = realloc(r->ids, cap * sizeof *ids);
            if (ids == NULL) {
                ret = oom(err, "the accounts of the run");
                break;
            }
            r->ids = ids;
        }
        if ((r->ids[r->n_ids] = column_text(r->keep, st, 0)) == NULL) {
            ret = oom(err, "the accounts of the run");
            break;
        }
        r->n_ids++;
    }
    if (ret == 0 && rc != SQLITE_DONE)
        ret = store_error(conn, err, "listing the accounts to bill");
    sqlite3_reset(st);
    return ret;
}

static const plan *plan_cached(run *r, store_conn_t *conn, const char *plan_id, mb_error *err)
{
    for (size_t i = 0; i < r->n_plans; i++)
        if (strcmp(r->plans[i].plan_id, plan_id) == 0) {
            if (r->plans[i].status != 0) {
                *err = r->plans[i].err;
                return NULL;
            }
            return &r->plans[i].p;
        }
    if (r->n_plans == r->cap_plans) {
        size_t cap = r->cap_plans ? r->cap_plans * 2 : 8;
        cached_plan *p = realloc(r->plans, cap * sizeof *p);
        if (p == NULL) {
            oom(err, "plans");
            return NULL;
        }
        r->plans = p;
        r->cap_plans = cap;
    }
    cached_plan *c = &r->plans[r->n_plans];
    memset(c, 0, sizeof *c);
    if ((c->plan_id = mb_arena_printf(r->keep, "%s", plan_id)) == NULL) {
        oom(err, "plans");
        return NULL;
    }
    r->n_plans++;
    if (plan_load(conn, r->keep, plan_id, &c->p, &c->err) != 0) {
        if (c->err.code == GRPC_STATUS_NOT_FOUND)
            mb_error_set(&c->err, GRPC_STATUS_FAILED_PRECONDITION,
                         "plan_id: the account's plan does not exist");
        c->status = c->err.code;
        *err = c->err;
        return NULL;
    }
    return &c->p;
}

static int read_counters(store_conn_t *conn, mb_arena_t *a, const char *period, work *w,
                         mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_COUNTERS, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, w->account_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, period, -1, SQLITE_STATIC);
    size_t cap = 8, n = 0;
    rating_counter *c = mb_arena_alloc(a, cap * sizeof *c);
    int rc, ret = 0;
    while (c != NULL && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (n == cap) {
            rating_counter *bigger = mb_arena_alloc(a, 2 * cap * sizeof *c);
            if (bigger == NULL) {
                c = NULL;
                break;
            }
            memcpy(bigger, c, n * sizeof *c);
            c = bigger;
            cap *= 2;
        }
        c[n] = (rating_counter){.period = column_text(a, st, 0),
                                .metric = column_text(a, st, 1),
                                .quantity = sqlite3_column_int64(st, 2),
                                .invoiced_quantity = sqlite3_column_int64(st, 3)};
        if (c[n].period == NULL || c[n].metric == NULL)
            c = NULL;
        else
            n++;
    }
    if (c == NULL)
        ret = oom(err, "usage counters");
    else if (rc != SQLITE_DONE)
        ret = store_error(conn, err, "reading usage counters");
    sqlite3_reset(st);
    w->in.counters = c;
    w->in.n_counters = n;
    return ret;
}

static int read_payment(store_conn_t *conn, mb_arena_t *a, const char *token, work *w,
                        mb_error *err)
{
    w->in.pm_type = w->in.pm_last4 = w->in.pm_country = w->in.pm_mandate_reference = "";
    if (token[0] == '\0')
        return 0;
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_PAYMENT, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, w->account_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, token, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        w->in.pm_type = column_text(a, st, 0);
        w->in.pm_last4 = column_text(a, st, 1);
        w->in.pm_country = column_text(a, st, 2);
        w->in.pm_mandate_reference = column_text(a, st, 3);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_error(conn, err, "reading the default payment method");
    return 0;
}

/* Reads everything one account's invoice needs; a problem of the account
 * (no plan, already invoiced, a missing plan) is recorded in w, not
 * returned: only storage failures stop the run. */
static int read_account(run *r, store_conn_t *conn, mb_arena_t *a, work *w, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_ACCOUNT, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, w->account_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, r->period, -1, SQLITE_STATIC);
    int ret = -1;
    dek key = {0};
    char *plan_id = NULL, *token = NULL, *addr = NULL, *vat = NULL, *name = NULL;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_DONE) {
        w->skip = "the account no longer exists";
        ret = 0;
        goto out;
    }
    if (rc != SQLITE_ROW) {
        store_error(conn, err, "reading the account");
        goto out;
    }
    if (sqlite3_column_type(st, 10) != SQLITE_NULL) {
        w->skip = "already invoiced";
        ret = 0;
        goto out;
    }
    if (sqlite3_column_type(st, 6) == SQLITE_NULL) { /* no data key: erased */
        w->skip = ERASED;
        w->erased = true;
        ret = 0;
        goto out;
    }
    w->in.account_id = w->account_id;
    if ((w->in.currency = column_text(a, st, 0)) == NULL ||
        (plan_id = column_text(a, st, 1)) == NULL || (token = column_text(a, st, 2)) == NULL) {
        oom(err, "an account");
        goto out;
    }
    if (dek_from_row(conn, r->app->keyring, st, 6, &key, err) != 0 ||
        dek_column_open(st, 3, &key, "accounts", "legal_name_ct", w->account_id, a, &name,
                        err) != 0 ||
        dek_column_open(st, 4, &key, "accounts", "address_ct", w->account_id, a, &addr, err) != 0 ||
        dek_column_open(st, 5, &key, "accounts", "vat_id_ct", w->account_id, a, &vat, err) != 0)
        goto out;
    w->in.legal_name = name;
    w->in.vat_id = vat;
    int n = sqlite3_column_bytes(st, 4) - DEK_SEAL_OVERHEAD;
    ProtobufCAllocator al = mb_arena_allocator(a);
    w->in.address = n > 0 ? (const Minbill__V1__PostalAddress *)protobuf_c_message_unpack(
                                &minbill__v1__postal_address__descriptor, &al, (size_t)n,
                                (const uint8_t *)addr)
                          : NULL;
    sqlite3_reset(st);
    st = NULL;
    if (plan_id[0] == '\0') {
        w->skip = "the account has no plan";
        ret = 0;
        goto out;
    }
    if ((w->p = plan_cached(r, conn, plan_id, &w->err)) == NULL) {
        if (w->err.code == GRPC_STATUS_FAILED_PRECONDITION) {
            w->skip = w->err.msg;
            w->failed = true;
            ret = 0;
        } else {
            *err = w->err;
        }
        goto out;
    }
    ret = read_payment(conn, a, token, w, err) == 0 && read_counters(conn, a, r->period, w, err) == 0
              ? 0
              : -1;
out:
    if (st != NULL)
        sqlite3_reset(st);
    dek_release(&key);
    return ret;
}

typedef struct chunk_read {
    run *r;
    mb_arena_t *a;
    work *w;
    size_t n;
} chunk_read;

static int read_chunk(store_conn_t *conn, void *arg, mb_error *err)
{
    chunk_read *c = arg;
    for (size_t i = 0; i < c->n; i++)
        if (read_account(c->r, conn, c->a, &c->w[i], err) != 0)
            return -1;
    return 0;
}

/* --- Computing and issuing ----------------------------------------------- */

static void compute(run *r, mb_arena_t *a, work *w)
{
    if (w->skip != NULL)
        return;
    invoice_billed *billed;
    size_t n_billed;
    if (invoice_build(a, r->app->seller, w->p, &w->in, r->period, r->issue_date, &w->inv,
                      &billed, &n_billed, &w->err) != 0) {
        w->skip = w->err.msg;
        w->failed = true;
        return;
    }
    if (w->inv->n_lines == 0) {
        w->skip = "nothing to bill";
        w->inv = NULL;
        return;
    }
    w->issue = (invoice_issue_in){.inv = w->inv,
                                  .prefix = r->app->seller->invoice_prefix,
                                  .class_key = &r->class_key,
                                  .retention_class = r->cls,
                                  .retain_until = r->retain_until,
                                  .billed = billed,
                                  .n_billed = n_billed};
}

static int issue_job(store_conn_t *conn, void *arg, mb_error *err)
{
    work *w = arg;
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_NOT_ERASED, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, w->account_id, -1, SQLITE_STATIC);
    int rc = store_step_one(conn, st, "erased", "checking the account before issuing", err);
    sqlite3_reset(st);
    if (rc != 0 && err->code != GRPC_STATUS_NOT_FOUND)
        return -1;
    if (rc != 0) { /* erased since it was read: nothing is written */
        w->erased = true;
        return 0;
    }
    int outcome = invoice_store_issue(conn, &w->issue, w->existing, err);
    if (outcome < 0)
        return -1;
    w->outcome = outcome;
    return 0;
}

/* Reads, computes and issues one account again, until it does not lose a
 * race for a counter (another run billed its late usage meanwhile). */
static int retry_account(run *r, mb_arena_t *a, work *w, mb_error *err)
{
    for (int attempt = 1; attempt < ISSUE_ATTEMPTS; attempt++) {
        const char *id = w->account_id;
        memset(w, 0, sizeof *w);
        w->account_id = id;
        chunk_read c = {.r = r, .a = a, .w = w, .n = 1};
        if (store_read_for(r->app->store, PURPOSE_INVOICING, read_chunk, &c, err) != 0)
            return -1;
        compute(r, a, w);
        if (w->inv == NULL)
            return 0;
        if (store_write_sync(r->app->store, issue_job, w, &w->err) == 0 ||
            w->err.code != GRPC_STATUS_ABORTED)
            return 0;
    }
    return 0;
}

/* A chunk of accounts on its way: read and computed, its issue jobs queued
 * while the next chunk is read, then finished and reported. */
typedef struct chunk {
    mb_arena_t *a;
    work *w;
    size_t n;
    void **args;    /* the works with an invoice to issue ... */
    mb_error *errs; /* ... and how their jobs ended */
    size_t k;
    store_batch_t *batch;
} chunk;

static int chunk_init(chunk *c, mb_error *err)
{
    c->a = mb_arena_new(0);
    c->w = calloc(BILLING_CHUNK, sizeof *c->w);
    c->args = calloc(BILLING_CHUNK, sizeof *c->args);
    c->errs = calloc(BILLING_CHUNK, sizeof *c->errs);
    if (c->a == NULL || c->w == NULL || c->args == NULL || c->errs == NULL)
        return oom(err, "a chunk of accounts");
    return 0;
}

static void chunk_free(chunk *c)
{
    mb_arena_free(c->a);
    free(c->w);
    free(c->args);
    free(c->errs);
}

/* Reads and computes the accounts ids[0..n) into c. */
static int chunk_prepare(run *r, chunk *c, char *const *ids, size_t n, mb_error *err)
{
    mb_arena_reset(c->a);
    memset(c->w, 0, n * sizeof *c->w);
    c->n = n;
    c->k = 0;
    for (size_t i = 0; i < n; i++)
        c->w[i].account_id = ids[i];
    chunk_read cr = {.r = r, .a = c->a, .w = c->w, .n = n};
    if (store_read_for(r->app->store, PURPOSE_INVOICING, read_chunk, &cr, err) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        compute(r, c->a, &c->w[i]);
        if (c->w[i].inv != NULL)
            c->args[c->k++] = &c->w[i];
    }
    return 0;
}

static void chunk_submit(run *r, chunk *c)
{
    if (!r->dry && c->k > 0)
        c->batch = store_batch_submit(r->app->store, issue_job, c->args, c->k, c->errs);
}

/* Waits for c's issues; computes again the accounts that lost a race for
 * a counter; turns an account's refusal into its reason. A storage failure
 * stops the run rather than skipping accounts. */
static int chunk_finish(run *r, chunk *c, mb_error *err)
{
    if (r->dry || c->k == 0)
        return 0;
    store_batch_wait(c->batch);
    c->batch = NULL;
    int ret = 0;
    for (size_t j = 0; j < c->k && ret == 0; j++) {
        work *x = c->args[j];
        x->err = c->errs[j];
        if (x->err.code == GRPC_STATUS_ABORTED)
            ret = retry_account(r, c->a, x, err);
    }
    for (size_t j = 0; j < c->k && ret == 0; j++) {
        work *x = c->args[j];
        if (x->erased) {
            x->skip = ERASED;
            x->inv = NULL;
            continue;
        }
        if (x->inv == NULL || x->err.code == GRPC_STATUS_OK)
            continue;
        if (x->err.code == GRPC_STATUS_UNAVAILABLE || x->err.code == GRPC_STATUS_INTERNAL ||
            x->err.code == GRPC_STATUS_RESOURCE_EXHAUSTED) {
            *err = x->err;
            ret = -1;
            break;
        }
        x->skip = x->err.msg;
        x->failed = true;
        x->inv = NULL;
    }
    return ret;
}

/* --- Reporting ----------------------------------------------------------- */

static void count(run *r, const work *w)
{
    r->processed++;
    if (w->erased) {
        r->erased++;
        return;
    }
    if (w->failed) {
        r->failed++;
        return;
    }
    if (w->inv == NULL || w->outcome == INVOICE_EXISTS) {
        r->skipped++;
        return;
    }
    r->issued++;
    if (!r->dry)
        metrics_invoices_issued_add(1);
    currency_totals *t = NULL;
    for (size_t i = 0; i < r->n_totals && t == NULL; i++)
        if (strcmp(r->totals[i].currency, w->inv->currency) == 0)
            t = &r->totals[i];
    if (t == NULL && r->n_totals < MAX_CURRENCIES) {
        t = &r->totals[r->n_totals++];
        snprintf(t->currency, sizeof t->currency, "%s", w->inv->currency);
    }
    if (t == NULL)
        return;
    t->invoices++;
    t->net += w->inv->net_total_minor;
    t->tax += w->inv->tax_total_minor;
    t->gross += w->inv->gross_total_minor;
}

static int send_step(run *r, const work *w)
{
    Minbill__V1__RunBillingProgress m = MINBILL__V1__RUN_BILLING_PROGRESS__INIT;
    m.processed = r->processed;
    m.total = (int64_t)r->n_ids;
    m.account_id = (char *)w->account_id;
    if (w->inv != NULL && !r->dry && w->outcome == INVOICE_ISSUED)
        m.invoice_number = w->inv->invoice_number;
    if (w->skip != NULL)
        m.skipped_reason = (char *)w->skip;
    else if (w->outcome == INVOICE_EXISTS)
        m.skipped_reason = "already invoiced";
    return rpc_call_send_wait(r->call, &m.base);
}

static int send_summary(run *r)
{
    Minbill__V1__CurrencyTotals ct[MAX_CURRENCIES], *ctp[MAX_CURRENCIES];
    Minbill__V1__BillingSummary s = MINBILL__V1__BILLING_SUMMARY__INIT;
    s.period = (char *)r->period;
    s.dry_run = r->dry;
    s.invoices_issued = r->issued;
    s.invoices_skipped = r->skipped;
    s.invoices_failed = r->failed;
    s.accounts_erased = r->erased;
    for (size_t i = 0; i < r->n_totals; i++) {
        minbill__v1__currency_totals__init(&ct[i]);
        ct[i].currency = r->totals[i].currency;
        ct[i].invoices = r->totals[i].invoices;
        ct[i].net_total_minor = r->totals[i].net;
        ct[i].tax_total_minor = r->totals[i].tax;
        ct[i].gross_total_minor = r->totals[i].gross;
        ctp[i] = &ct[i];
    }
    s.n_totals = r->n_totals;
    s.totals = ctp;
    if (r->n_totals == 1) {
        s.currency = ct[0].currency;
        s.net_total_minor = ct[0].net_total_minor;
        s.tax_total_minor = ct[0].tax_total_minor;
        s.gross_total_minor = ct[0].gross_total_minor;
    }
    Minbill__V1__RunBillingProgress m = MINBILL__V1__RUN_BILLING_PROGRESS__INIT;
    m.processed = r->processed;
    m.total = (int64_t)r->n_ids;
    m.done = true;
    m.summary = &s;
    return rpc_call_send_wait(r->call, &m.base);
}

/* --- The run ------------------------------------------------------------- */

static int class_key_job(store_conn_t *conn, void *arg, mb_error *err)
{
    run *r = arg;
    return dek_for_class(conn, r->app->keyring, r->cls, r->retain_until, &r->class_key, err);
}

static int audit_job(store_conn_t *conn, void *arg, mb_error *err)
{
    run *r = arg;
    char what[128];
    snprintf(what, sizeof what, "issued=%lld skipped=%lld failed=%lld erased=%lld",
             (long long)r->issued, (long long)r->skipped, (long long)r->failed,
             (long long)r->erased);
    return audit_call_append(conn, r->call, "billing.run", NULL, r->period, what, NULL, err);
}

static int report_chunk(run *r, const chunk *c, mb_error *err)
{
    for (size_t i = 0; i < c->n; i++) {
        count(r, &c->w[i]);
        if (send_step(r, &c->w[i]) != 0)
            return mb_error_set(err, GRPC_STATUS_CANCELLED, "billing run stopped: the call ended");
    }
    return 0;
}

/* Two chunks in turn: while one chunk's invoices commit (sharing group
 * commits with ingest), the next is read and computed, so the run is not
 * one fsync per chunk slower than its reads. */
static int run_chunks(run *r, mb_error *err)
{
    chunk c[2] = {0};
    int ret = chunk_init(&c[0], err) == 0 && chunk_init(&c[1], err) == 0 ? 0 : -1;
    chunk *pending = NULL;
    for (size_t at = 0, cur = 0; ret == 0 && at < r->n_ids; at += BILLING_CHUNK, cur ^= 1) {
        if (rpc_call_stopped(r->call)) {
            ret = mb_error_set(err, GRPC_STATUS_CANCELLED,
                               "billing run stopped after %lld accounts: the call ended",
                               (long long)r->processed);
            break;
        }
        size_t n = r->n_ids - at < BILLING_CHUNK ? r->n_ids - at : BILLING_CHUNK;
        if (chunk_prepare(r, &c[cur], r->ids + at, n, err) != 0) {
            ret = -1;
            break;
        }
        chunk_submit(r, &c[cur]);
        if (pending != NULL &&
            (chunk_finish(r, pending, err) != 0 || report_chunk(r, pending, err) != 0))
            ret = -1;
        pending = &c[cur];
    }
    if (pending != NULL && ret == 0 &&
        (chunk_finish(r, pending, err) != 0 || report_chunk(r, pending, err) != 0))
        ret = -1;
    /* Whatever stopped the run, no queued job may outlive its chunk. */
    for (int i = 0; i < 2; i++)
        if (c[i].batch != NULL)
            store_batch_wait(c[i].batch);
    chunk_free(&c[0]);
    chunk_free(&c[1]);
    return ret;
}

static int billing_prepare(run *r, const Minbill__V1__RunBillingRequest *req, mb_error *err)
{
    if (r->app->seller == NULL)
        return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                            "the seller is not configured: start minbilld with --seller-config FILE");
    if (period_check("period", req->period, err) != 0)
        return -1;
    int64_t now = mb_now_us() / 1000000;
    if (period_end_unix(req->period) > now)
        return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                            "period: has not ended yet; a period is billed once it is over");
    char next[PERIOD_SIZE];
    period_next(req->period, next);
    snprintf(r->start, sizeof r->start, "%s-01T00:00:00.000Z", req->period);
    snprintf(r->end, sizeof r->end, "%s-01T00:00:00.000Z", next);
    mb_today_utc(r->issue_date);
    invoice_retention(r->app->seller, r->issue_date, r->cls, r->retain_until);
    if ((r->keep = mb_arena_new(0)) == NULL)
        return oom(err, "a billing run");
    if (store_read_for(r->app->store, PURPOSE_INVOICING, read_scope, r, err) != 0)
        return -1;
    if (!r->dry && r->n_ids > 0 && store_write_sync(r->app->store, class_key_job, r, err) != 0)
        return -1;
    return 0;
}

int billing_run(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Minbill__V1__RunBillingRequest *req = (const void *)msg;
    run r = {.call = call, .app = rpc_call_app(call), .period = req->period, .dry = req->dry_run};
    mb_error err;
    mb_error_clear(&err);
    int ret = billing_prepare(&r, req, &err);
    if (ret == 0)
        ret = run_chunks(&r, &err);
    /* What was issued is audited even if the run stopped part way. */
    mb_error audit_err;
    if (!r.dry && (ret == 0 || r.issued > 0) &&
        store_write_sync(r.app->store, audit_job, &r, &audit_err) != 0 && ret == 0) {
        err = audit_err;
        ret = -1;
    }
    if (ret == 0 && send_summary(&r) != 0)
        ret = mb_error_set(&err, GRPC_STATUS_CANCELLED, "billing run stopped: the call ended");
    rpc_call_finish(call, NULL, ret == 0 ? NULL : &err);
    dek_release(&r.class_key);
    free(r.ids);
    free(r.plans);
    mb_arena_free(r.keep);
    return RPC_CONTINUE;
}
