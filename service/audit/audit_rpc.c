/*
 * audit_rpc.c - see audit_rpc.h. Reads use the internal reader pool: the
 * audit trail holds no personal data, and the privacy role that calls these
 * must see all of it.
 */
#include "audit/audit_rpc.h"

#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "audit/audit.h"
#include "base/check.h"
#include "minbill/v1/audit.pb-c.h"

#define PAGE_DEFAULT 100
#define PAGE_MAX 1000

/* Filtered by account, the listing walks audit_events_account; written as
 * "(?2 = '' OR account_id = ?2)" it would walk the whole trail by seq. */
#define SQL_LIST_HEAD                                                                            \
    "SELECT seq, occurred_us, actor_key_id, actor_role, action, account_id, target_id, purpose," \
    " request_id, prev_hash, hash FROM audit_events WHERE "
#define SQL_LIST_TAIL " AND seq > ?1 AND occurred_us >= ?3 ORDER BY seq LIMIT ?4"
static const char SQL_LIST_ALL[] = SQL_LIST_HEAD "?2 = ''" SQL_LIST_TAIL;
static const char SQL_LIST_ACCOUNT[] = SQL_LIST_HEAD "account_id = ?2" SQL_LIST_TAIL;

int audit_role_enum(unsigned role_bit)
{
    for (int i = 0; i < 6; i++)
        if (role_bit == (1u << i))
            return i + 1; /* proto Role numbering follows the ROLE_* bits */
    return 0;
}

int audit_call_append(store_conn_t *conn, rpc_call_t *call, const char *action,
                      const char *account_id, const char *target_id, const char *purpose,
                      char *event_id, mb_error *err)
{
    audit_entry e = {.action = action,
                     .account_id = account_id,
                     .target_id = target_id,
                     .purpose = purpose};
    return audit_call_append_entry(conn, call, &e, event_id, err);
}

int audit_call_append_entry(store_conn_t *conn, rpc_call_t *call, audit_entry *e, char *event_id,
                            mb_error *err)
{
    const auth_identity *who = rpc_call_identity(call);
    e->actor_key_id = who->key_id;
    e->actor_role = auth_role_name(who->role);
    return audit_append(conn, ((mb_app *)rpc_call_app(call))->keyring, e, event_id, err);
}

static int role_enum_by_name(const char *name)
{
    unsigned bit = 0;
    return auth_role_parse(name, &bit, NULL) == 0 ? audit_role_enum(bit) : 0;
}

static char *copy_text(mb_arena_t *a, sqlite3_stmt *st, int col)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    return mb_arena_printf(a, "%s", s != NULL ? s : "");
}

static int fill_event(mb_arena_t *a, sqlite3_stmt *st, Minbill__V1__AuditEvent **out)
{
    Minbill__V1__AuditEvent *ev = mb_arena_alloc(a, sizeof *ev);
    Google__Protobuf__Timestamp *ts = mb_arena_alloc(a, sizeof *ts);
    char *id = mb_arena_alloc(a, AUDIT_EVENT_ID_MAX);
    void *prev = mb_arena_alloc(a, AUDIT_HASH_BYTES), *hash = mb_arena_alloc(a, AUDIT_HASH_BYTES);
    if (ev == NULL || ts == NULL || id == NULL || prev == NULL || hash == NULL)
        return -1;
    minbill__v1__audit_event__init(ev);
    google__protobuf__timestamp__init(ts);
    audit_event_id(sqlite3_column_int64(st, 0), id);
    int64_t us = sqlite3_column_int64(st, 1);
    ts->seconds = us / 1000000;
    ts->nanos = (int32_t)(us % 1000000) * 1000;
    ev->event_id = id;
    ev->occurred_at = ts;
    ev->actor_key_id = copy_text(a, st, 2);
    ev->actor_role = role_enum_by_name((const char *)sqlite3_column_text(st, 3));
    ev->action = copy_text(a, st, 4);
    ev->account_id = copy_text(a, st, 5);
    ev->target_id = copy_text(a, st, 6);
    ev->purpose = copy_text(a, st, 7);
    ev->request_id = copy_text(a, st, 8);
    if (sqlite3_column_bytes(st, 9) == AUDIT_HASH_BYTES)
        memcpy(prev, sqlite3_column_blob(st, 9), AUDIT_HASH_BYTES);
    if (sqlite3_column_bytes(st, 10) == AUDIT_HASH_BYTES)
        memcpy(hash, sqlite3_column_blob(st, 10), AUDIT_HASH_BYTES);
    ev->prev_hash = (ProtobufCBinaryData){AUDIT_HASH_BYTES, prev};
    ev->hash = (ProtobufCBinaryData){AUDIT_HASH_BYTES, hash};
    *out = ev;
    return ev->actor_key_id && ev->action && ev->account_id && ev->target_id && ev->purpose &&
                   ev->request_id
               ? 0
               : -1;
}

int audit_rpc_list(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Minbill__V1__ListAuditEventsRequest *req = (const void *)msg;
    mb_app *app = rpc_call_app(call);
    mb_arena_t *a = rpc_call_arena(call);
    mb_error err;
    mb_error_clear(&err);
    int64_t after = 0, since = 0;
    if (req->page_token[0] != '\0') {
        char *end;
        after = strtoll(req->page_token, &end, 10);
        if (*end != '\0' || after < 0)
            mb_error_set(&err, GRPC_STATUS_INVALID_ARGUMENT,
                         "page_token: not a token from a previous page");
    }
    if (err.code == GRPC_STATUS_OK && req->page_size < 0)
        mb_error_set(&err, GRPC_STATUS_INVALID_ARGUMENT, "page_size: must not be negative");
    if (err.code == GRPC_STATUS_OK && req->account_id[0] != '\0')
        check_id("account_id", req->account_id, &err);
    if (err.code == GRPC_STATUS_OK && req->since != NULL)
        check_timestamp("since", req->since->seconds, req->since->nanos, &since, &err);
    if (err.code != GRPC_STATUS_OK)
        return rpc_call_fail(call, &err);
    int limit = req->page_size == 0         ? PAGE_DEFAULT
                : req->page_size > PAGE_MAX ? PAGE_MAX
                                            : req->page_size;

    Minbill__V1__ListAuditEventsResponse resp = MINBILL__V1__LIST_AUDIT_EVENTS_RESPONSE__INIT;
    resp.events = mb_arena_alloc(a, (size_t)(limit + 1) * sizeof *resp.events);
    store_conn_t *conn = store_reader_acquire(app->store);
    sqlite3_stmt *st = store_conn_prepare(
        conn, req->account_id[0] != '\0' ? SQL_LIST_ACCOUNT : SQL_LIST_ALL, &err);
    int rc = SQLITE_DONE, failed = resp.events == NULL || st == NULL;
    int64_t last = after;
    if (!failed) {
        sqlite3_bind_int64(st, 1, after);
        sqlite3_bind_text(st, 2, req->account_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, since);
        sqlite3_bind_int(st, 4, limit + 1); /* one more tells whether a next page exists */
        while ((rc = sqlite3_step(st)) == SQLITE_ROW && (int)resp.n_events < limit) {
            if (fill_event(a, st, &resp.events[resp.n_events]) != 0) {
                failed = 1;
                break;
            }
            last = sqlite3_column_int64(st, 0);
            resp.n_events++;
        }
        if (rc == SQLITE_ROW && !failed)
            resp.next_page_token = mb_arena_printf(a, "%lld", (long long)last);
        else if (rc != SQLITE_DONE && !failed)
            failed = store_error(conn, &err, "listing audit events") != 0;
        sqlite3_reset(st);
    }
    store_reader_release(app->store, conn);
    if (failed && err.code == GRPC_STATUS_OK)
        mb_error_set(&err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    rpc_call_finish(call, failed ? NULL : &resp.base, failed ? &err : NULL);
    return RPC_CONTINUE;
}

int audit_rpc_verify(rpc_call_t *call, const ProtobufCMessage *msg)
{
    (void)msg;
    mb_app *app = rpc_call_app(call);
    mb_error err;
    audit_verify_result r;
    store_conn_t *conn = store_reader_acquire(app->store);
    int rc = audit_verify(conn, app->keyring, &r, &err);
    store_reader_release(app->store, conn);
    if (rc != 0)
        return rpc_call_fail(call, &err);
    Minbill__V1__VerifyAuditChainResponse resp = MINBILL__V1__VERIFY_AUDIT_CHAIN_RESPONSE__INIT;
    resp.intact = r.intact;
    resp.events = r.events;
    resp.first_broken_event = r.first_broken;
    if (r.head_seq > 0 && r.intact)
        resp.head_hash = (ProtobufCBinaryData){AUDIT_HASH_BYTES, r.head_hash};
    rpc_call_finish(call, &resp.base, NULL);
    return RPC_CONTINUE;
}
