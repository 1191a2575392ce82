/*
 * requests.c - see requests.h.
 *
 * Opening, completing, rejecting and extending run as writer jobs: the
 * match, the request, its scope and its audit event commit together. Reads
 * (Get, List) go through the export purpose, whose connections may read
 * the requests and see restricted rows.
 */
#include "privacy/requests.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "audit/audit_rpc.h"
#include "base/check.h"
#include "base/clock.h"
#include "crypto/keyring.h"
#include "inventory/inventory.h"
#include "minbill/v1/privacy.pb-c.h"
#include "rpc/write.h"

#define REASON_MAX 500
#define VERIFIED_BY_MAX 200
#define PAGE_DEFAULT 50
#define PAGE_MAX 500

/* Proto enum values index this table. */
static const char *const KINDS[] = {
    "", "access", "rectification", "erasure", "restriction", "portability", "objection"};
static const char *const STATES[] = {"", "open", "completed", "rejected"};

static int index_of(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 1; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return (int)i;
    return 0;
}

#define KIND_COUNT (sizeof KINDS / sizeof KINDS[0])
#define STATE_COUNT (sizeof STATES / sizeof STATES[0])

/* ---- dates ------------------------------------------------------------ */

static int days_in_month(int year, int month /* 1..12 */)
{
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

/* us + `months` calendar months, the day clamped to the target month's
 * last (31 January + 1 month = the last day of February), Art. 12(3). */
int64_t privacy_add_months(int64_t us, int months)
{
    time_t t = (time_t)(us / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    int m = tm.tm_mon + months;
    tm.tm_year += m / 12;
    tm.tm_mon = m % 12;
    int dim = days_in_month(tm.tm_year + 1900, tm.tm_mon + 1);
    if (tm.tm_mday > dim)
        tm.tm_mday = dim;
    return (int64_t)timegm(&tm) * 1000000 + us % 1000000;
}

/* ---- loading ------------------------------------------------------------ */

static const char SQL_LOAD[] =
    "SELECT request_id, kind, state, subject_type, received_us, due_us,"
    " coalesce(original_due_us, 0), coalesce(completed_us, 0), verified_by, extension_reason,"
    " outcome_reason FROM subject_requests WHERE request_id = ?1";
static const char SQL_SCOPE[] = "SELECT account_id, contact_id FROM subject_request_scope"
                                " WHERE request_id = ?1 ORDER BY account_id, contact_id";
static const char SQL_NOTICES[] =
    "SELECT recipient FROM subject_request_notices WHERE request_id = ?1 ORDER BY recipient";

static char *text_col(mb_arena_t *a, sqlite3_stmt *st, int col)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    return mb_arena_printf(a, "%s", s != NULL ? s : "");
}

/* The request's row fields into out; extra (optional) receives the texts the
 * loader does not keep. */
typedef struct request_texts {
    char *verified_by, *extension_reason, *outcome_reason;
} request_texts;

static int load(store_conn_t *conn, const char *request_id, mb_arena_t *a, privacy_request *out,
                request_texts *texts, mb_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_LOAD, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, request_id, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc != SQLITE_ROW) {
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return store_error(conn, err, "reading a subject request");
        return mb_error_set(err, GRPC_STATUS_NOT_FOUND, "request_id: no subject request %s",
                            request_id);
    }
    snprintf(out->request_id, sizeof out->request_id, "%s", sqlite3_column_text(st, 0));
    snprintf(out->kind, sizeof out->kind, "%s", sqlite3_column_text(st, 1));
    snprintf(out->state, sizeof out->state, "%s", sqlite3_column_text(st, 2));
    snprintf(out->subject_type, sizeof out->subject_type, "%s", sqlite3_column_text(st, 3));
    out->received_us = sqlite3_column_int64(st, 4);
    out->due_us = sqlite3_column_int64(st, 5);
    out->original_due_us = sqlite3_column_int64(st, 6);
    out->completed_us = sqlite3_column_int64(st, 7);
    if (texts != NULL) {
        texts->verified_by = text_col(a, st, 8);
        texts->extension_reason = text_col(a, st, 9);
        texts->outcome_reason = text_col(a, st, 10);
    }
    sqlite3_reset(st);

    if ((st = store_conn_prepare(conn, SQL_SCOPE, err)) == NULL)
        return -1;
    sqlite3_bind_text(st, 1, request_id, -1, SQLITE_STATIC);
    size_t cap = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (out->n_scope == cap) {
            size_t ncap = cap == 0 ? 8 : cap * 2;
            privacy_scope *n = mb_arena_alloc(a, ncap * sizeof *n);
            if (n == NULL) {
                sqlite3_reset(st);
                return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
            }
            if (cap > 0)
                memcpy(n, out->scope, cap * sizeof *n);
            out->scope = n;
            cap = ncap;
        }
        out->scope[out->n_scope].account_id = text_col(a, st, 0);
        out->scope[out->n_scope].contact_id = text_col(a, st, 1);
        out->n_scope++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_error(conn, err, "reading a subject request's scope");
    return 0;
}

int privacy_request_load(store_conn_t *conn, const char *request_id, mb_arena_t *a,
                         privacy_request *out, mb_error *err)
{
    return load(conn, request_id, a, out, NULL, err);
}

int privacy_request_expect(const privacy_request *r, const char *const *kinds, mb_error *err)
{
    if (strcmp(r->state, "open") != 0)
        return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                            "request_id: request %s is %s, not open", r->request_id, r->state);
    for (size_t i = 0; kinds[i] != NULL; i++)
        if (strcmp(kinds[i], r->kind) == 0)
            return 0;
    char want[128] = "";
    for (size_t i = 0; kinds[i] != NULL; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), "%s%s", i > 0 ? " or " : "",
                 kinds[i]);
    return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                        "request_id: request %s is an %s request; this needs %s", r->request_id,
                        r->kind, want);
}

bool privacy_scope_whole_account(const privacy_request *r, const char *account_id)
{
    for (size_t i = 0; i < r->n_scope; i++)
        if (r->scope[i].contact_id[0] == '\0' && strcmp(r->scope[i].account_id, account_id) == 0)
            return true;
    return false;
}

static int audit_request(store_conn_t *conn, rpc_call_t *call, const char *action,
                         const char *request_id, const char *account_id, mb_error *err)
{
    audit_entry e = {.action = action, .account_id = account_id, .request_id = request_id};
    return audit_call_append_entry(conn, call, &e, NULL, err);
}

static const char SQL_CLOSE[] =
    "UPDATE subject_requests SET state = ?2, completed_us = ?3, outcome_reason = ?4"
    " WHERE request_id = ?1 AND state = 'open'";

static int close_as(store_conn_t *conn, rpc_call_t *call, const char *request_id, const char *state,
                    const char *action, const char *reason, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_CLOSE, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, request_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, state, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, mb_now_us());
    sqlite3_bind_text(st, 4, reason != NULL ? reason : "", -1, SQLITE_STATIC);
    if (store_step_done(conn, st, "closing a subject request", err) != 0)
        return -1;
    if (sqlite3_changes(store_conn_db_borrow(conn)) != 1)
        return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                            "request_id: request %s is not open", request_id);
    return audit_request(conn, call, action, request_id, NULL, err);
}

int privacy_request_close(store_conn_t *conn, rpc_call_t *call, const char *request_id,
                          const char *action, const char *reason, mb_error *err)
{
    return close_as(conn, call, request_id, "completed", action, reason, err);
}

/* ---- the response --------------------------------------------------- */

static Google__Protobuf__Timestamp *timestamp(mb_arena_t *a, int64_t us)
{
    if (us == 0)
        return NULL;
    Google__Protobuf__Timestamp *t = mb_arena_alloc(a, sizeof *t);
    if (t == NULL)
        return NULL;
    google__protobuf__timestamp__init(t);
    t->seconds = us / 1000000;
    t->nanos = (int32_t)(us % 1000000) * 1000;
    return t;
}

int privacy_request_message(store_conn_t *conn, const char *request_id, mb_arena_t *a,
                            Minbill__V1__SubjectRequest **out, mb_error *err)
{
    privacy_request r;
    request_texts t;
    if (load(conn, request_id, a, &r, &t, err) != 0)
        return -1;
    Minbill__V1__SubjectRequest *m = mb_arena_alloc(a, sizeof *m);
    char **contacts = mb_arena_alloc(a, (r.n_scope + 1) * sizeof *contacts);
    char **accounts = mb_arena_alloc(a, (r.n_scope + 1) * sizeof *accounts);
    if (m == NULL || contacts == NULL || accounts == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    minbill__v1__subject_request__init(m);
    m->request_id = mb_arena_printf(a, "%s", r.request_id);
    m->kind = index_of(KINDS, KIND_COUNT, r.kind);
    m->state = index_of(STATES, STATE_COUNT, r.state);
    m->received_at = timestamp(a, r.received_us);
    m->due_at = timestamp(a, r.due_us);
    m->original_due_at = timestamp(a, r.original_due_us);
    m->completed_at = timestamp(a, r.completed_us);
    m->verified_by = t.verified_by;
    m->extension_reason = t.extension_reason;
    m->outcome_reason = t.outcome_reason;
    m->overdue = strcmp(r.state, "open") == 0 && r.due_us < mb_now_us();
    /* Contacts as "account/contact": contact ids are unique per account. */
    for (size_t i = 0; i < r.n_scope; i++) {
        if (r.scope[i].contact_id[0] == '\0')
            accounts[m->n_account_ids++] = (char *)r.scope[i].account_id;
        else
            contacts[m->n_contact_ids++] =
                mb_arena_printf(a, "%s/%s", r.scope[i].account_id, r.scope[i].contact_id);
    }
    m->contact_ids = contacts;
    m->account_ids = accounts;

    sqlite3_stmt *st = store_conn_prepare(conn, SQL_NOTICES, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, request_id, -1, SQLITE_STATIC);
    size_t cap = 0;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (m->n_notify_recipients == cap) {
            size_t ncap = cap == 0 ? 4 : cap * 2;
            char **n = mb_arena_alloc(a, ncap * sizeof *n);
            if (n == NULL)
                break;
            if (cap > 0)
                memcpy(n, m->notify_recipients, cap * sizeof *n);
            m->notify_recipients = n;
            cap = ncap;
        }
        m->notify_recipients[m->n_notify_recipients++] = text_col(a, st, 0);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_error(conn, err, "reading a subject request's notices");
    *out = m;
    return 0;
}

/* ---- OpenSubjectRequest ---------------------------------------------- */

typedef struct open_args {
    const Minbill__V1__OpenSubjectRequestRequest *req;
    char email[CHECK_EMAIL_SIZE];
    char account_id[256], contact_id[256]; /* subject by contact */
    char request_id[PRIVACY_REQUEST_ID_MAX];
} open_args;

static const char SQL_INSERT[] =
    "INSERT INTO subject_requests(request_id, kind, state, subject_type, verified_by,"
    " received_us, due_us, completed_us) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
static const char SQL_SCOPE_EMAIL[] =
    "INSERT INTO subject_request_scope(request_id, account_id, contact_id)"
    " SELECT ?1, account_id, contact_id FROM contacts WHERE email_bidx = ?2";
static const char SQL_SCOPE_CONTACT[] =
    "INSERT INTO subject_request_scope(request_id, account_id, contact_id)"
    " SELECT ?1, account_id, contact_id FROM contacts WHERE account_id = ?2 AND contact_id = ?3";
static const char SQL_SCOPE_ACCOUNT[] =
    "INSERT INTO subject_request_scope(request_id, account_id, contact_id)"
    " SELECT ?1, account_id, '' FROM accounts WHERE account_id = ?2"
    " UNION ALL SELECT ?1, account_id, contact_id FROM contacts WHERE account_id = ?2";
static const char SQL_CONTACT_ACCOUNTS[] =
    "SELECT account_id FROM contacts WHERE contact_id = ?1 LIMIT 2";
static const char SQL_OBJECT[] =
    "UPDATE contacts SET objected_us = coalesce(objected_us, ?2)"
    " WHERE (account_id, contact_id) IN (SELECT account_id, contact_id FROM"
    " subject_request_scope WHERE request_id = ?1 AND contact_id != '')";

/* A bare contact id is resolved when exactly one account has it. */
static int resolve_contact(store_conn_t *conn, open_args *o, mb_error *err)
{
    if (o->account_id[0] != '\0')
        return 0;
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_CONTACT_ACCOUNTS, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, o->contact_id, -1, SQLITE_STATIC);
    int found = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW)
        if (found++ == 0)
            snprintf(o->account_id, sizeof o->account_id, "%s", sqlite3_column_text(st, 0));
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_error(conn, err, "finding a contact");
    if (found > 1)
        return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                            "contact_id: %s names contacts on several accounts; give it as "
                            "ACCOUNT_ID/CONTACT_ID",
                            o->contact_id);
    return 0;
}

static int open_run(store_conn_t *conn, rpc_call_t *call, void *arg, ProtobufCMessage **resp,
                    mb_error *err)
{
    open_args *o = arg;
    const Minbill__V1__OpenSubjectRequestRequest *req = o->req;
    mb_app *app = rpc_call_app(call);
    const char *subject = "email";
    sqlite3_stmt *st;
    if (req->subject_case == MINBILL__V1__OPEN_SUBJECT_REQUEST_REQUEST__SUBJECT_CONTACT_ID) {
        subject = "contact";
        if (resolve_contact(conn, o, err) != 0)
            return -1;
    } else if (req->subject_case == MINBILL__V1__OPEN_SUBJECT_REQUEST_REQUEST__SUBJECT_ACCOUNT_ID) {
        subject = "account";
    }

    int64_t now = mb_now_us();
    bool objection = req->kind == MINBILL__V1__SUBJECT_REQUEST_KIND__SUBJECT_REQUEST_KIND_OBJECTION;
    if ((st = store_conn_prepare(conn, SQL_INSERT, err)) == NULL)
        return -1;
    sqlite3_bind_text(st, 1, o->request_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, KINDS[req->kind], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, objection ? "completed" : "open", -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 4, subject, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, req->verified_by, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 6, now);
    sqlite3_bind_int64(st, 7, privacy_add_months(now, 1));
    if (objection)
        sqlite3_bind_int64(st, 8, now);
    if (store_step_done(conn, st, "storing a subject request", err) != 0)
        return -1;

    if (strcmp(subject, "email") == 0) {
        unsigned char bidx[32];
        keyring_mac(app->keyring, KEYRING_SECRET_BLIND_INDEX, o->email, strlen(o->email), bidx,
                    sizeof bidx);
        sodium_memzero(o->email, sizeof o->email);
        if ((st = store_conn_prepare(conn, SQL_SCOPE_EMAIL, err)) == NULL)
            return -1;
        sqlite3_bind_text(st, 1, o->request_id, -1, SQLITE_STATIC);
        sqlite3_bind_blob(st, 2, bidx, sizeof bidx, SQLITE_TRANSIENT);
    } else {
        bool contact = strcmp(subject, "contact") == 0;
        if ((st = store_conn_prepare(conn, contact ? SQL_SCOPE_CONTACT : SQL_SCOPE_ACCOUNT, err)) ==
            NULL)
            return -1;
        sqlite3_bind_text(st, 1, o->request_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, contact ? o->account_id : req->account_id, -1, SQLITE_STATIC);
        if (contact)
            sqlite3_bind_text(st, 3, o->contact_id, -1, SQLITE_STATIC);
    }
    if (store_step_done(conn, st, "recording what a subject request covers", err) != 0)
        return -1;
    /* A contact or an account named by id must exist; an e-mail that
     * matches nothing is a valid request (the answer says we hold nothing). */
    if (strcmp(subject, "email") != 0 && sqlite3_changes(store_conn_db_borrow(conn)) == 0)
        return strcmp(subject, "contact") == 0
                   ? mb_error_set(err, GRPC_STATUS_NOT_FOUND, "contact_id: no contact %s%s%s",
                                  o->account_id, o->account_id[0] ? "/" : "", o->contact_id)
                   : mb_error_set(err, GRPC_STATUS_NOT_FOUND, "account_id: no account %s",
                                  req->account_id);
    if (objection) {
        if ((st = store_conn_prepare(conn, SQL_OBJECT, err)) == NULL)
            return -1;
        sqlite3_bind_text(st, 1, o->request_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, now);
        if (store_step_done(conn, st, "recording an objection", err) != 0)
            return -1;
    }
    if (audit_request(conn, call, objection ? "subject.object" : "subject_request.open",
                      o->request_id, NULL, err) != 0)
        return -1;
    Minbill__V1__SubjectRequest *m;
    if (privacy_request_message(conn, o->request_id, rpc_call_arena(call), &m, err) != 0)
        return -1;
    *resp = &m->base;
    return 0;
}

static void request_id_new(char out[PRIVACY_REQUEST_ID_MAX])
{
    unsigned char r[12];
    randombytes_buf(r, sizeof r);
    memcpy(out, "sr_", 3);
    sodium_bin2hex(out + 3, PRIVACY_REQUEST_ID_MAX - 3, r, sizeof r);
}

int privacy_open(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Minbill__V1__OpenSubjectRequestRequest *req = (const void *)msg;
    mb_error err;
    open_args *o = mb_arena_alloc(rpc_call_arena(call), sizeof *o);
    if (o == NULL)
        return rpc_call_fail(call, &(mb_error){GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory"});
    memset(o, 0, sizeof *o);
    o->req = req;
    if (req->kind <= 0 || (size_t)req->kind >= KIND_COUNT)
        return rpc_call_fail(call, &(mb_error){GRPC_STATUS_INVALID_ARGUMENT,
                                               "kind: must be access, rectification, erasure, "
                                               "restriction, portability or objection"});
    if (check_stored_text("verified_by", req->verified_by, 1, VERIFIED_BY_MAX, &err) != 0)
        return rpc_call_fail(call, &err);
    switch (req->subject_case) {
    case MINBILL__V1__OPEN_SUBJECT_REQUEST_REQUEST__SUBJECT_EMAIL:
        if (check_email("email", req->email, o->email, sizeof o->email, &err) != 0)
            return rpc_call_fail(call, &err);
        break;
    case MINBILL__V1__OPEN_SUBJECT_REQUEST_REQUEST__SUBJECT_CONTACT_ID: {
        /* "ACCOUNT_ID/CONTACT_ID", or a contact id unique across accounts. */
        const char *slash = strchr(req->contact_id, '/');
        if (slash != NULL) {
            snprintf(o->account_id, sizeof o->account_id, "%.*s", (int)(slash - req->contact_id),
                     req->contact_id);
            snprintf(o->contact_id, sizeof o->contact_id, "%s", slash + 1);
            if (check_id("contact_id (account part)", o->account_id, &err) != 0)
                return rpc_call_fail(call, &err);
        } else {
            snprintf(o->contact_id, sizeof o->contact_id, "%s", req->contact_id);
        }
        if (check_id("contact_id", o->contact_id, &err) != 0)
            return rpc_call_fail(call, &err);
        break;
    }
    case MINBILL__V1__OPEN_SUBJECT_REQUEST_REQUEST__SUBJECT_ACCOUNT_ID:
        if (check_id("account_id", req->account_id, &err) != 0)
            return rpc_call_fail(call, &err);
        break;
    default:
        return rpc_call_fail(call, &(mb_error){GRPC_STATUS_INVALID_ARGUMENT,
                                               "subject: one of email, contact_id or account_id is "
                                               "required"});
    }
    request_id_new(o->request_id);
    rpc_call_write(call, ((mb_app *)rpc_call_app(call))->store, open_run, o);
    return RPC_CONTINUE;
}

/* ---- Get and List ------------------------------------------------------ */

typedef struct get_args {
    const char *request_id;
    mb_arena_t *arena;
    Minbill__V1__SubjectRequest *out;
} get_args;

static int get_read(store_conn_t *conn, void *arg, mb_error *err)
{
    get_args *g = arg;
    return privacy_request_message(conn, g->request_id, g->arena, &g->out, err);
}

static int check_request_id(const char *id, mb_error *err)
{
    return check_id("request_id", id, err);
}

int privacy_get(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Minbill__V1__GetSubjectRequestRequest *req = (const void *)msg;
    mb_error err;
    get_args g = {.request_id = req->request_id, .arena = rpc_call_arena(call)};
    if (check_request_id(req->request_id, &err) != 0 ||
        store_read_for(((mb_app *)rpc_call_app(call))->store, PURPOSE_EXPORT, get_read, &g, &err) !=
            0)
        return rpc_call_fail(call, &err);
    rpc_call_finish(call, &g.out->base, NULL);
    return RPC_CONTINUE;
}

/* Keyset paging on (received_us, request_id); the token is
 * "<received_us>.<request_id>". */
static const char SQL_LIST[] =
    "SELECT request_id, received_us FROM subject_requests r"
    " WHERE (?1 = '' OR state = ?1) AND (?2 = '' OR kind = ?2)"
    " AND (?3 = '' OR EXISTS (SELECT 1 FROM subject_request_scope s"
    "      WHERE s.request_id = r.request_id AND s.account_id = ?3))"
    " AND (?4 = 0 OR due_us < ?4) AND (?5 = 0 OR (state = 'open' AND due_us < ?6))"
    " AND (received_us, request_id) > (?7, ?8)"
    " ORDER BY received_us, request_id LIMIT ?9";

typedef struct list_args {
    const Minbill__V1__ListSubjectRequestsRequest *req;
    int64_t due_before_us, after_us;
    const char *after_id;
    int limit;
    mb_arena_t *arena;
    Minbill__V1__ListSubjectRequestsResponse *out;
} list_args;

static int list_read(store_conn_t *conn, void *arg, mb_error *err)
{
    list_args *l = arg;
    const Minbill__V1__ListSubjectRequestsRequest *req = l->req;
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_LIST, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, STATES[req->state], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, KINDS[req->kind], -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, req->account_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, l->due_before_us);
    sqlite3_bind_int(st, 5, req->overdue);
    sqlite3_bind_int64(st, 6, mb_now_us());
    sqlite3_bind_int64(st, 7, l->after_us);
    sqlite3_bind_text(st, 8, l->after_id, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 9, l->limit + 1);
    /* Ids first, then each request: privacy_request_message() prepares its own
     * statements. */
    char **ids = mb_arena_alloc(l->arena, (size_t)(l->limit + 1) * sizeof *ids);
    int64_t *received = mb_arena_alloc(l->arena, (size_t)(l->limit + 1) * sizeof *received);
    if (ids == NULL || received == NULL) {
        sqlite3_reset(st);
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    int n = 0, rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW && n <= l->limit) {
        ids[n] = text_col(l->arena, st, 0);
        received[n++] = sqlite3_column_int64(st, 1);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return store_error(conn, err, "listing subject requests");
    Minbill__V1__ListSubjectRequestsResponse *out = l->out;
    int shown = n > l->limit ? l->limit : n;
    out->requests = mb_arena_alloc(l->arena, (size_t)(shown + 1) * sizeof *out->requests);
    if (out->requests == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    for (int i = 0; i < shown; i++)
        if (privacy_request_message(conn, ids[i], l->arena, &out->requests[out->n_requests++],
                                    err) != 0)
            return -1;
    if (n > l->limit)
        out->next_page_token =
            mb_arena_printf(l->arena, "%lld.%s", (long long)received[shown - 1], ids[shown - 1]);
    return 0;
}

int privacy_list(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Minbill__V1__ListSubjectRequestsRequest *req = (const void *)msg;
    mb_arena_t *a = rpc_call_arena(call);
    mb_error err;
    list_args l = {.req = req, .after_id = "", .arena = a};
    Minbill__V1__ListSubjectRequestsResponse *out = mb_arena_alloc(a, sizeof *out);
    if (out == NULL)
        return rpc_call_fail(call, &(mb_error){GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory"});
    minbill__v1__list_subject_requests_response__init(out);
    out->next_page_token = "";
    l.out = out;
    if (req->state < 0 || (size_t)req->state >= STATE_COUNT)
        return rpc_call_fail(call,
                             &(mb_error){GRPC_STATUS_INVALID_ARGUMENT, "state: unknown value"});
    if (req->kind < 0 || (size_t)req->kind >= KIND_COUNT)
        return rpc_call_fail(call,
                             &(mb_error){GRPC_STATUS_INVALID_ARGUMENT, "kind: unknown value"});
    if (req->account_id[0] != '\0' && check_id("account_id", req->account_id, &err) != 0)
        return rpc_call_fail(call, &err);
    if (req->due_before != NULL &&
        check_timestamp("due_before", req->due_before->seconds, req->due_before->nanos,
                        &l.due_before_us, &err) != 0)
        return rpc_call_fail(call, &err);
    if (req->page_size < 0)
        return rpc_call_fail(call,
                             &(mb_error){GRPC_STATUS_INVALID_ARGUMENT, "page_size: must be >= 0"});
    l.limit = req->page_size == 0         ? PAGE_DEFAULT
              : req->page_size > PAGE_MAX ? PAGE_MAX
                                          : req->page_size;
    if (req->page_token[0] != '\0') {
        char *dot = strchr(req->page_token, '.');
        long long us = 0;
        int used = 0;
        if (dot == NULL || sscanf(req->page_token, "%lld%n", &us, &used) != 1 ||
            req->page_token + used != dot || check_request_id(dot + 1, &err) != 0)
            return rpc_call_fail(call, &(mb_error){GRPC_STATUS_INVALID_ARGUMENT,
                                                   "page_token: not a token this server issued"});
        l.after_us = us;
        l.after_id = dot + 1;
    } else {
        l.after_us = -1;
    }
    if (store_read_for(((mb_app *)rpc_call_app(call))->store, PURPOSE_EXPORT, list_read, &l,
                       &err) != 0)
        return rpc_call_fail(call, &err);
    rpc_call_finish(call, &out->base, NULL);
    return RPC_CONTINUE;
}

/* ---- Complete, Reject, Extend ------------------------------------------- */

typedef struct step_args {
    const char *request_id;
    const char *reason;
    int months;         /* extend only */
    const char *action; /* "subject_request.complete", ... */
} step_args;

static int respond(store_conn_t *conn, rpc_call_t *call, const char *request_id,
                   ProtobufCMessage **resp, mb_error *err)
{
    Minbill__V1__SubjectRequest *m;
    if (privacy_request_message(conn, request_id, rpc_call_arena(call), &m, err) != 0)
        return -1;
    *resp = &m->base;
    return 0;
}

static int close_run(store_conn_t *conn, rpc_call_t *call, void *arg, ProtobufCMessage **resp,
                     mb_error *err)
{
    step_args *s = arg;
    privacy_request r;
    const char *any[] = {"access",      "rectification", "erasure", "restriction",
                         "portability", "objection",     NULL};
    bool reject = strcmp(s->action, "subject_request.reject") == 0;
    if (load(conn, s->request_id, rpc_call_arena(call), &r, NULL, err) != 0 ||
        privacy_request_expect(&r, any, err) != 0 ||
        close_as(conn, call, s->request_id, reject ? "rejected" : "completed", s->action, s->reason,
                 err) != 0)
        return -1;
    return respond(conn, call, s->request_id, resp, err);
}

static const char SQL_EXTEND[] =
    "UPDATE subject_requests SET original_due_us = due_us, due_us = ?2, extension_reason = ?3"
    " WHERE request_id = ?1 AND state = 'open' AND original_due_us IS NULL";

static int extend_run(store_conn_t *conn, rpc_call_t *call, void *arg, ProtobufCMessage **resp,
                      mb_error *err)
{
    step_args *s = arg;
    privacy_request r;
    if (load(conn, s->request_id, rpc_call_arena(call), &r, NULL, err) != 0)
        return -1;
    if (strcmp(r.state, "open") != 0)
        return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                            "request_id: request %s is %s, not open", r.request_id, r.state);
    if (r.original_due_us != 0)
        return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                            "request_id: request %s was already extended once (Art. 12(3))",
                            r.request_id);
    /* The subject must be told within the first month. */
    if (mb_now_us() > r.due_us)
        return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                            "request_id: request %s is past its due date; an extension must be "
                            "notified before it (Art. 12(3))",
                            r.request_id);
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_EXTEND, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, s->request_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, privacy_add_months(r.due_us, s->months));
    sqlite3_bind_text(st, 3, s->reason, -1, SQLITE_STATIC);
    if (store_step_done(conn, st, "extending a subject request", err) != 0 ||
        audit_request(conn, call, s->action, s->request_id, NULL, err) != 0)
        return -1;
    return respond(conn, call, s->request_id, resp, err);
}

static int step(rpc_call_t *call, const char *request_id, const char *reason, bool need_reason,
                int months, const char *action, rpc_write_fn fn)
{
    mb_error err;
    step_args *s = mb_arena_alloc(rpc_call_arena(call), sizeof *s);
    if (s == NULL)
        return rpc_call_fail(call, &(mb_error){GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory"});
    if (check_request_id(request_id, &err) != 0 ||
        check_stored_text("reason", reason, need_reason ? 1 : 0, REASON_MAX, &err) != 0)
        return rpc_call_fail(call, &err);
    *s =
        (step_args){.request_id = request_id, .reason = reason, .months = months, .action = action};
    rpc_call_write(call, ((mb_app *)rpc_call_app(call))->store, fn, s);
    return RPC_CONTINUE;
}

int privacy_complete(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Minbill__V1__CompleteSubjectRequestRequest *req = (const void *)msg;
    return step(call, req->request_id, req->reason, false, 0, "subject_request.complete",
                close_run);
}

int privacy_reject(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Minbill__V1__RejectSubjectRequestRequest *req = (const void *)msg;
    return step(call, req->request_id, req->reason, true, 0, "subject_request.reject", close_run);
}

int privacy_extend(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Minbill__V1__ExtendSubjectRequestRequest *req = (const void *)msg;
    if (req->months < 1 || req->months > 2)
        return rpc_call_fail(call, &(mb_error){GRPC_STATUS_INVALID_ARGUMENT,
                                               "months: must be 1 or 2 (Art. 12(3): at most two "
                                               "further months)"});
    return step(call, req->request_id, req->reason, true, req->months, "subject_request.extend",
                extend_run);
}

/* ---- metrics ------------------------------------------------------------ */

static const char SQL_COUNTS[] =
    "SELECT count(*), coalesce(sum(due_us < ?1), 0) FROM subject_requests WHERE state = 'open'";

int privacy_requests_count(void *arg, int64_t *open, int64_t *overdue)
{
    store_t *store = arg;
    store_conn_t *conn = store_reader_acquire(store);
    mb_error err;
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_COUNTS, &err);
    int ret = -1;
    if (st != NULL) {
        sqlite3_bind_int64(st, 1, mb_now_us());
        if (sqlite3_step(st) == SQLITE_ROW) {
            *open = sqlite3_column_int64(st, 0);
            *overdue = sqlite3_column_int64(st, 1);
            ret = 0;
        }
        sqlite3_reset(st);
    }
    store_reader_release(store, conn);
    return ret;
}
