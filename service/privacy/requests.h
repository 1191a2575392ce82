/*
 * requests.h - data-subject requests (GDPR Art. 12-21): opening one (the
 * subject found by e-mail through the blind index, by contact or by
 * account, and only what it matched recorded: never the e-mail), the
 * deadline (received + one calendar month, one extension of up to two
 * more), listing, completing, rejecting, extending; and the loader that
 * the export, rectification, restriction and erasure use to learn what a
 * request covers.
 *
 * Every step appends an audit event carrying the request's id.
 */
#ifndef MB_PRIVACY_REQUESTS_H
#define MB_PRIVACY_REQUESTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/error.h"
#include "minbill/v1/privacy.pb-c.h"
#include "rpc/server.h"
#include "store/store.h"

#define PRIVACY_REQUEST_ID_MAX 40

/* One thing a request covers: a contact, or (contact_id "") the account's
 * own fields (a sole trader's name, address, VAT id) and everything else
 * of the account: its payment methods and usage. */
typedef struct privacy_scope {
    const char *account_id;
    const char *contact_id;
} privacy_scope;

typedef struct privacy_request {
    char request_id[PRIVACY_REQUEST_ID_MAX];
    char kind[16];        /* as stored: "access", "erasure", ... */
    char state[12];       /* "open", "completed", "rejected" */
    char subject_type[8]; /* "email", "contact", "account" */
    int64_t received_us, due_us, original_due_us, completed_us; /* 0: unset */
    privacy_scope *scope; /* in the arena, ordered by account then contact */
    size_t n_scope;
} privacy_request;

/* Loads a request and its scope on conn (the writer, or a reader of the
 * export purpose). NOT_FOUND names request_id if there is none. */
int privacy_request_load(store_conn_t *conn, const char *request_id, mb_arena_t *a,
                         privacy_request *out, mb_error *err);

/* The SubjectRequest message of request_id (every field, as the RPCs
 * answer it), read on conn into the arena. */
int privacy_request_message(store_conn_t *conn, const char *request_id, mb_arena_t *a,
                            Minbill__V1__SubjectRequest **out, mb_error *err);

/* FAILED_PRECONDITION unless r is OPEN and its kind is one of kinds (a
 * NULL-terminated list); the message names the request's state or kind. */
int privacy_request_expect(const privacy_request *r, const char *const *kinds, mb_error *err);

/* Closes an OPEN request as completed, on the writer inside the caller's
 * transaction, with the audit event `action` (e.g. "subject.erase"). */
int privacy_request_close(store_conn_t *conn, rpc_call_t *call, const char *request_id,
                          const char *action, const char *reason, mb_error *err);

/* Whether the scope covers the account's own fields (subject by account). */
bool privacy_scope_whole_account(const privacy_request *r, const char *account_id);

/* us (microseconds, UTC) plus `months` calendar months, the day clamped to
 * the last of the target month: 31 January + 1 = 28 or 29 February. */
int64_t privacy_add_months(int64_t us, int months);

/* Open and overdue requests, for the metrics endpoint
 * (metrics_access_requests_source; arg is the store_t). */
int privacy_requests_count(void *arg, int64_t *open, int64_t *overdue);

/* The RPC handlers. */
int privacy_open(rpc_call_t *call, const ProtobufCMessage *req);
int privacy_get(rpc_call_t *call, const ProtobufCMessage *req);
int privacy_list(rpc_call_t *call, const ProtobufCMessage *req);
int privacy_complete(rpc_call_t *call, const ProtobufCMessage *req);
int privacy_reject(rpc_call_t *call, const ProtobufCMessage *req);
int privacy_extend(rpc_call_t *call, const ProtobufCMessage *req);

#endif
