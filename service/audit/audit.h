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
 * Both ends are anchored too (migration 0010). The head (audit_head: the
 * newest seq and hash, with a MAC) is rewritten with every append, so
 * removing events at the end leaves a head naming an event that is gone.
 * The retention purge (audit_purge_before) writes an anchor (audit_anchors,
 * append-only, with a MAC) naming the last purged event, so the first event
 * left must link to it; without an anchor the chain must start at seq 1,
 * whose prev_hash is a keyed genesis value. An attacker with the database
 * file but not the master key can delete rows, not forge an anchor or a
 * head; what no file-only scheme can catch is a whole earlier copy of the
 * file put back, or every row deleted: publish head_hash to catch those.
 *
 * A chain begun before 0010 starts from zero bytes and has no head; its
 * first append afterwards adopts it: it appends "audit.chain_adopted"
 * (once per chain, which verification checks) and seals the head. Until
 * then its end cannot be attested. An append that finds the head missing
 * (in any other chain) or not matching its MAC goes on from the last event
 * left, after an "audit.head_lost" event naming what the head said: audited
 * actions keep working, and verification reports that event for good.
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
    int64_t events; /* events checked (those left after purges) */
    /* "" if intact; else the first event that is missing or does not match
     * ("ae_<seq>"), or "audit_head" / "audit_anchor_<id>" for a head or an
     * anchor that is forged, edited or missing. */
    char first_broken[AUDIT_EVENT_ID_MAX];
    int64_t head_seq; /* newest seq the chain vouches for; 0: none yet */
    unsigned char head_hash[AUDIT_HASH_BYTES];
} audit_verify_result;

/* Recomputes the whole chain, its anchors and its head in one read
 * snapshot on conn (a reader connection outside any transaction). */
int audit_verify(store_conn_t *conn, const keyring_t *kr, audit_verify_result *out, mb_error *err);

/* The retention purge of the trail, inside the caller's write transaction
 * on the writer connection: deletes, in seq order, the events before the
 * first one that occurred at or after cutoff_us (through audit_purge_gate)
 * and appends the anchor that keeps the rest verifiable. It first checks
 * the anchors, the head and the part it deletes, and refuses (DATA_LOSS,
 * nothing deleted) to purge a broken chain: that would hide the break.
 * *purged receives how many events were (dry_run: would be) deleted. */
int audit_purge_before(store_conn_t *conn, const keyring_t *kr, int64_t cutoff_us, bool dry_run,
                       int64_t *purged, mb_error *err) __attribute__((warn_unused_result));

void audit_event_id(int64_t seq, char out[AUDIT_EVENT_ID_MAX]);

#endif
