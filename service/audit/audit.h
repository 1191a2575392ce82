/*
 * audit.h - the tamper-evident audit trail.
 *
 * Every reveal, export, rectification, erasure and admin action appends one
 * event inside the same transaction as the work it records, so there is
 * never an action without its event (or an event without its action). Each
 * event's hash is a keyed BLAKE2b over its fields and the previous event's
 * hash: editing, inserting or deleting an event behind minbill's back breaks
 * the chain at that event, and audit_verify() names it.
 *
 * Events carry ids, roles and purposes only: never an e-mail, phone number,
 * name, PAN or IBAN.
 */
#ifndef MB_AUDIT_H
#define MB_AUDIT_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"
#include "crypto/keyring.h"
#include "store/store.h"

#define AUDIT_HASH_BYTES 32
#define AUDIT_EVENT_ID_MAX 32

typedef struct audit_entry {
    const char *actor_key_id;
    const char *actor_role;
    const char *action;     /* e.g. "payment_method.reveal" */
    const char *account_id; /* may be NULL */
    const char *target_id;  /* may be NULL */
    const char *purpose;    /* may be NULL */
    const char *request_id; /* may be NULL */
} audit_entry;

/* Appends e inside the caller's write transaction. event_id (optional,
 * AUDIT_EVENT_ID_MAX bytes) receives the new event's id ("ae_<seq>"). */
int audit_append(store_conn_t *conn, const keyring_t *kr, const audit_entry *e, char *event_id,
                 mb_error *err);

typedef struct audit_verify_result {
    bool intact;
    int64_t events;
    char first_broken[AUDIT_EVENT_ID_MAX]; /* "" if intact */
    unsigned char head_hash[AUDIT_HASH_BYTES];
} audit_verify_result;

/* Recomputes the whole chain on a reader connection. */
int audit_verify(store_conn_t *conn, const keyring_t *kr, audit_verify_result *out, mb_error *err);

void audit_event_id(int64_t seq, char out[AUDIT_EVENT_ID_MAX]);

#endif
