/*
 * audit.c - see audit.h.
 *
 * The hashed form of an event is the concatenation of its fields, each
 * preceded by its length as 4 big-endian bytes, in a fixed order, then the
 * previous hash. Length prefixes make the encoding unambiguous ("ab"+"c" and
 * "a"+"bc" hash differently). The head's and the anchors' MACs and the
 * genesis value use the same encoding under the same secret, with a tag as
 * the first field: an event's encoding starts with a zero byte (the length
 * of its seq), a tag's with 'm', so no MAC can pass for an event hash.
 */
#include "audit/audit.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "base/clock.h"

#define FIELDS 9
#define CANON_MAX 4096

static const char TAG_GENESIS[] = "minbill.audit.genesis.v1";
static const char TAG_HEAD[] = "minbill.audit.head.v1";
static const char TAG_ANCHOR[] = "minbill.audit.anchor.v1";
static const char ACTION_ADOPTED[] = "audit.chain_adopted";
static const char ACTION_HEAD_LOST[] = "audit.head_lost";

static const char SQL_INSERT[] =
    "INSERT INTO audit_events(seq, occurred_us, actor_key_id, actor_role, action, account_id,"
    " target_id, purpose, request_id, prev_hash, hash)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
static const char SQL_UPTO[] =
    "SELECT seq, occurred_us, actor_key_id, actor_role, action, account_id, target_id, purpose,"
    " request_id, prev_hash, hash FROM audit_events WHERE seq <= ?1 ORDER BY seq";
static const char SQL_HEAD[] = "SELECT seq, hash, mac FROM audit_head WHERE id = 1";
static const char SQL_HEAD_SET[] =
    "INSERT INTO audit_head(id, seq, hash, mac) VALUES (1, ?1, ?2, ?3)"
    " ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, hash = excluded.hash, mac = excluded.mac";
static const char SQL_ANCHORS[] =
    "SELECT id, through_seq, through_hash, purged_total, purged_us, mac FROM audit_anchors"
    " ORDER BY id";
static const char SQL_ANCHOR_ADD[] =
    "INSERT INTO audit_anchors(id, through_seq, through_hash, purged_total, purged_us, mac)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
/* first seq, its prev_hash, last seq, its hash, whether the chain was
 * adopted, the newest anchor's seq and hash */
static const char SQL_ENDS[] = "SELECT (SELECT seq FROM audit_events ORDER BY seq LIMIT 1),"
                               " (SELECT prev_hash FROM audit_events ORDER BY seq LIMIT 1),"
                               " (SELECT seq FROM audit_events ORDER BY seq DESC LIMIT 1),"
                               " (SELECT hash FROM audit_events ORDER BY seq DESC LIMIT 1),"
                               " EXISTS (SELECT 1 FROM audit_events WHERE action = ?1),"
                               " (SELECT through_seq FROM audit_anchors ORDER BY id DESC LIMIT 1),"
                               " (SELECT through_hash FROM audit_anchors ORDER BY id DESC LIMIT 1)";
/* The purge deletes up to the event before the first one at or after the
 * cutoff: seq order, so a clock step back never leaves a hole. */
static const char SQL_PURGE_RANGE[] =
    "SELECT (SELECT seq FROM audit_events ORDER BY seq LIMIT 1),"
    " coalesce((SELECT seq FROM audit_events WHERE occurred_us >= ?1 ORDER BY seq LIMIT 1) - 1,"
    " (SELECT seq FROM audit_events ORDER BY seq DESC LIMIT 1))";
static const char SQL_GATE_OPEN[] =
    "INSERT INTO audit_purge_gate(opened_by) VALUES ('audit_purge_before')";
static const char SQL_GATE_CLOSE[] = "DELETE FROM audit_purge_gate";
static const char SQL_PURGE[] = "DELETE FROM audit_events WHERE seq <= ?1";

/* A point of the chain: an event's seq and hash (seq 0: before the first). */
typedef struct chain_point {
    int64_t seq;
    unsigned char hash[AUDIT_HASH_BYTES];
} chain_point;

typedef struct anchor {
    int64_t id, purged_total, purged_us;
    chain_point through;
} anchor;

/* The anchors as verified: the newest one, and where they broke. */
typedef struct anchors_state {
    bool have;
    anchor newest;
    int64_t broken_id; /* 0: all intact */
} anchors_state;

/* A walk along the events from a start point. */
typedef struct chain_walk {
    chain_point last;   /* the last event checked (or the start point) */
    bool legacy;        /* began before 0010: the first prev_hash is zeros */
    int adoptions;      /* ACTION_ADOPTED events seen */
    int64_t events;     /* events checked */
    int64_t broken_seq; /* first missing or mismatching event; 0: none */
} chain_walk;

void audit_event_id(int64_t seq, char out[AUDIT_EVENT_ID_MAX])
{
    snprintf(out, AUDIT_EVENT_ID_MAX, "ae_%lld", (long long)seq);
}

static const char *nz(const char *s)
{
    return s != NULL ? s : "";
}

static void i64_text(int64_t v, char out[24])
{
    snprintf(out, 24, "%lld", (long long)v);
}

/* Copies a 32-byte blob column; false if it has another size. */
static bool column_hash(sqlite3_stmt *st, int col, unsigned char out[AUDIT_HASH_BYTES])
{
    if (sqlite3_column_bytes(st, col) != AUDIT_HASH_BYTES)
        return false;
    memcpy(out, sqlite3_column_blob(st, col), AUDIT_HASH_BYTES);
    return true;
}

/* Keyed BLAKE2b over n length-prefixed fields, then tail as it is. */
static int canon_mac(const keyring_t *kr, const char *const *fields, int n,
                     const unsigned char *tail, size_t tail_len,
                     unsigned char out[AUDIT_HASH_BYTES])
{
    unsigned char buf[CANON_MAX];
    size_t o = 0;
    for (int i = 0; i < n; i++) {
        size_t len = strlen(fields[i]);
        if (o + 4 + len > sizeof buf)
            return -1;
        buf[o++] = (unsigned char)(len >> 24);
        buf[o++] = (unsigned char)(len >> 16);
        buf[o++] = (unsigned char)(len >> 8);
        buf[o++] = (unsigned char)len;
        memcpy(buf + o, fields[i], len);
        o += len;
    }
    if (o + tail_len > sizeof buf)
        return -1;
    if (tail_len > 0)
        memcpy(buf + o, tail, tail_len);
    o += tail_len;
    keyring_mac(kr, KEYRING_SECRET_AUDIT_CHAIN, buf, o, out, AUDIT_HASH_BYTES);
    return 0;
}

/* The prev_hash of seq 1 in a chain begun since 0010: keyed, so a chain
 * cut short at its start cannot be dressed up as a new one. */
static void genesis_hash(const keyring_t *kr, unsigned char out[AUDIT_HASH_BYTES])
{
    const char *const fields[] = {TAG_GENESIS};
    canon_mac(kr, fields, 1, NULL, 0, out);
}

static void head_mac(const keyring_t *kr, const chain_point *p, unsigned char out[AUDIT_HASH_BYTES])
{
    char seq_s[24];
    i64_text(p->seq, seq_s);
    const char *const fields[] = {TAG_HEAD, seq_s};
    canon_mac(kr, fields, 2, p->hash, AUDIT_HASH_BYTES, out);
}

static void anchor_mac(const keyring_t *kr, const anchor *a, unsigned char out[AUDIT_HASH_BYTES])
{
    char id_s[24], seq_s[24], total_s[24], us_s[24];
    i64_text(a->id, id_s);
    i64_text(a->through.seq, seq_s);
    i64_text(a->purged_total, total_s);
    i64_text(a->purged_us, us_s);
    const char *const fields[] = {TAG_ANCHOR, id_s, seq_s, total_s, us_s};
    canon_mac(kr, fields, 5, a->through.hash, AUDIT_HASH_BYTES, out);
}

/* Reads the head: *present false if there is none, *sealed whether its MAC
 * holds. */
static int head_read(store_conn_t *conn, const keyring_t *kr, chain_point *head, bool *present,
                     bool *sealed, mb_error *err)
{
    *present = *sealed = false;
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_HEAD, err);
    if (st == NULL)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        unsigned char mac[AUDIT_HASH_BYTES], want[AUDIT_HASH_BYTES];
        *present = true;
        head->seq = sqlite3_column_int64(st, 0);
        if (column_hash(st, 1, head->hash) && column_hash(st, 2, mac)) {
            head_mac(kr, head, want);
            *sealed = sodium_memcmp(mac, want, AUDIT_HASH_BYTES) == 0;
        }
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_error(conn, err, "reading the audit chain head");
    return 0;
}

static int head_write(store_conn_t *conn, const keyring_t *kr, const chain_point *p, mb_error *err)
{
    unsigned char mac[AUDIT_HASH_BYTES];
    head_mac(kr, p, mac);
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_HEAD_SET, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, p->seq);
    sqlite3_bind_blob(st, 2, p->hash, AUDIT_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, mac, sizeof mac, SQLITE_STATIC);
    return store_step_done(conn, st, "updating the audit chain head", err);
}

/* Appends e after tip (in the caller's transaction) and moves the head,
 * and tip, to it. */
static int append_after(store_conn_t *conn, const keyring_t *kr, chain_point *tip,
                        const audit_entry *e, char *event_id, mb_error *err)
{
    chain_point next = {.seq = tip->seq + 1};
    int64_t now = mb_now_us();
    char seq_s[24], now_s[24];
    i64_text(next.seq, seq_s);
    i64_text(now, now_s);
    const char *fields[FIELDS] = {seq_s,
                                  now_s,
                                  nz(e->actor_key_id),
                                  nz(e->actor_role),
                                  nz(e->action),
                                  nz(e->account_id),
                                  nz(e->target_id),
                                  nz(e->purpose),
                                  nz(e->request_id)};
    if (canon_mac(kr, fields, FIELDS, tip->hash, AUDIT_HASH_BYTES, next.hash) != 0)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT, "audit event fields too long");
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_INSERT, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, next.seq);
    sqlite3_bind_int64(st, 2, now);
    for (int i = 2; i < FIELDS; i++)
        sqlite3_bind_text(st, i + 1, fields[i], -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 10, tip->hash, AUDIT_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_blob(st, 11, next.hash, AUDIT_HASH_BYTES, SQLITE_STATIC);
    if (store_step_done(conn, st, "appending an audit event", err) != 0 ||
        head_write(conn, kr, &next, err) != 0)
        return -1;
    *tip = next;
    if (event_id != NULL)
        audit_event_id(next.seq, event_id);
    return 0;
}

static int tampered(mb_error *err, const char *what)
{
    return mb_error_set(err, GRPC_STATUS_DATA_LOSS,
                        "audit trail: %s; it was tampered with (VerifyAuditChain names where), "
                        "and a purge would hide that: nothing purged",
                        what);
}

/* Where the next event goes when the head is missing (head NULL) or does
 * not match its MAC. A chain nothing was appended to since 0010 has no head
 * by right: a new one starts at the genesis, one begun before 0010 is
 * adopted. Any other chain lost its head to tampering. Refusing to append
 * would stop every audited action, and sealing a head at the last row left
 * would hide a truncation at the end; so the chain goes on from the last
 * row left (else the newest anchor, else the genesis) with an
 * ACTION_HEAD_LOST event naming what the head said, which verification
 * reports for good. */
static int chain_resume(store_conn_t *conn, const keyring_t *kr, const chain_point *head,
                        chain_point *tip, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_ENDS, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, ACTION_ADOPTED, -1, SQLITE_STATIC);
    if (store_step_one(conn, st, "no row", "reading the ends of the audit chain", err) != 0) {
        sqlite3_reset(st);
        return -1;
    }
    static const unsigned char zeros[AUDIT_HASH_BYTES];
    unsigned char first_prev[AUDIT_HASH_BYTES];
    bool empty = sqlite3_column_type(st, 0) == SQLITE_NULL;
    bool anchored = sqlite3_column_type(st, 5) != SQLITE_NULL;
    bool legacy =
        !empty && !anchored && sqlite3_column_int64(st, 0) == 1 && column_hash(st, 1, first_prev) &&
        memcmp(first_prev, zeros, AUDIT_HASH_BYTES) == 0 && sqlite3_column_int(st, 4) == 0;
    int col = !empty ? 2 : anchored ? 5 : -1;
    memset(tip, 0, sizeof *tip);
    if (col < 0) {
        genesis_hash(kr, tip->hash);
    } else {
        tip->seq = sqlite3_column_int64(st, col);
        column_hash(st, col + 1, tip->hash); /* a mangled one stays zeros: the break shows */
    }
    sqlite3_reset(st);
    if (head == NULL && empty && !anchored)
        return 0;
    char said[AUDIT_EVENT_ID_MAX] = "";
    if (head != NULL)
        audit_event_id(head->seq, said);
    audit_entry e = {.actor_key_id = "minbilld", .actor_role = "admin", .target_id = said};
    if (head == NULL && legacy) {
        e.action = ACTION_ADOPTED;
        e.purpose = "the end of a chain begun before its head existed";
    } else {
        e.action = ACTION_HEAD_LOST;
        e.purpose = head != NULL ? "the chain head (target) did not match its MAC"
                                 : "the chain head was missing";
    }
    return append_after(conn, kr, tip, &e, NULL, err);
}

/* Where the next event goes: after the head, if its MAC holds. */
static int chain_tip(store_conn_t *conn, const keyring_t *kr, chain_point *tip, mb_error *err)
{
    bool present, sealed;
    chain_point head;
    if (head_read(conn, kr, &head, &present, &sealed, err) != 0)
        return -1;
    if (present && sealed) {
        *tip = head;
        return 0;
    }
    return chain_resume(conn, kr, present ? &head : NULL, tip, err);
}

int audit_append(store_conn_t *conn, const keyring_t *kr, const audit_entry *e, char *event_id,
                 mb_error *err)
{
    chain_point tip;
    if (chain_tip(conn, kr, &tip, err) != 0)
        return -1;
    return append_after(conn, kr, &tip, e, event_id, err);
}

/* Checks every anchor's MAC and that they only ever move forward, each
 * counting every event up to its seq as purged (seqs are contiguous from
 * 1). out->newest is the newest good one. */
static int anchors_check(store_conn_t *conn, const keyring_t *kr, anchors_state *out, mb_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_ANCHORS, err);
    if (st == NULL)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        anchor a = {.id = sqlite3_column_int64(st, 0),
                    .through.seq = sqlite3_column_int64(st, 1),
                    .purged_total = sqlite3_column_int64(st, 3),
                    .purged_us = sqlite3_column_int64(st, 4)};
        unsigned char mac[AUDIT_HASH_BYTES], want[AUDIT_HASH_BYTES];
        bool ok = column_hash(st, 2, a.through.hash) && column_hash(st, 5, mac);
        if (ok)
            anchor_mac(kr, &a, want);
        ok = ok && sodium_memcmp(mac, want, AUDIT_HASH_BYTES) == 0 &&
             a.purged_total == a.through.seq &&
             (!out->have || (a.id > out->newest.id && a.through.seq > out->newest.through.seq));
        if (!ok) {
            out->broken_id = a.id;
            break;
        }
        out->newest = a;
        out->have = true;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return store_error(conn, err, "reading the audit anchors");
    return 0;
}

/* The point the first remaining event must follow: the newest anchor, or
 * the genesis. */
static void walk_start(const keyring_t *kr, const anchors_state *as, chain_walk *w)
{
    memset(w, 0, sizeof *w);
    if (as->have)
        w->last = as->newest.through;
    else
        genesis_hash(kr, w->last.hash);
}

/* Checks the events up to seq `through` against w, stopping at the first
 * missing or mismatching one (w->broken_seq). */
static int walk_events(store_conn_t *conn, const keyring_t *kr, int64_t through, chain_walk *w,
                       mb_error *err)
{
    static const unsigned char zeros[AUDIT_HASH_BYTES];
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_UPTO, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, through);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(st, 0);
        if (seq != w->last.seq + 1) {
            w->broken_seq = w->last.seq + 1; /* removed */
            break;
        }
        char seq_s[24], us_s[24];
        i64_text(seq, seq_s);
        i64_text(sqlite3_column_int64(st, 1), us_s);
        const char *fields[FIELDS] = {seq_s, us_s};
        for (int i = 2; i < FIELDS; i++)
            fields[i] = nz((const char *)sqlite3_column_text(st, i));
        unsigned char prev[AUDIT_HASH_BYTES], hash[AUDIT_HASH_BYTES], want[AUDIT_HASH_BYTES];
        bool ok = column_hash(st, 9, prev) && column_hash(st, 10, hash);
        if (ok && seq == 1 && memcmp(prev, zeros, AUDIT_HASH_BYTES) == 0)
            w->legacy = true;
        else
            ok = ok && memcmp(prev, w->last.hash, AUDIT_HASH_BYTES) == 0;
        ok = ok && canon_mac(kr, fields, FIELDS, prev, AUDIT_HASH_BYTES, want) == 0 &&
             memcmp(want, hash, AUDIT_HASH_BYTES) == 0;
        /* Adoption happens once: a second one covers a truncated end. A
         * lost head is tampering on record. */
        if (ok && strcmp(fields[4], ACTION_ADOPTED) == 0)
            ok = ++w->adoptions == 1 && w->legacy;
        ok = ok && strcmp(fields[4], ACTION_HEAD_LOST) != 0;
        w->events++;
        if (!ok) {
            w->broken_seq = seq;
            break;
        }
        w->last.seq = seq;
        memcpy(w->last.hash, hash, AUDIT_HASH_BYTES);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return store_error(conn, err, "reading the audit trail");
    return 0;
}

typedef struct verify_args {
    const keyring_t *kr;
    audit_verify_result *out;
} verify_args;

static int verify_snapshot(store_conn_t *conn, void *arg, mb_error *err)
{
    const keyring_t *kr = ((verify_args *)arg)->kr;
    audit_verify_result *out = ((verify_args *)arg)->out;
    anchors_state as;
    chain_walk w;
    chain_point head;
    bool present, sealed;
    if (anchors_check(conn, kr, &as, err) != 0 ||
        head_read(conn, kr, &head, &present, &sealed, err) != 0)
        return -1;
    if (as.broken_id != 0) {
        snprintf(out->first_broken, sizeof out->first_broken, "audit_anchor_%lld",
                 (long long)as.broken_id);
        return 0;
    }
    walk_start(kr, &as, &w);
    if (walk_events(conn, kr, INT64_MAX, &w, err) != 0)
        return -1;
    out->events = w.events;
    if (w.broken_seq != 0) {
        audit_event_id(w.broken_seq, out->first_broken);
        return 0;
    }
    /* Only a chain nothing was appended to since 0010 may lack its head. */
    bool head_optional = !as.have && (w.events == 0 || (w.legacy && w.adoptions == 0));
    if (present && sealed && head.seq > w.last.seq)
        audit_event_id(w.last.seq + 1, out->first_broken); /* removed at the end */
    else if (present ? !sealed || head.seq != w.last.seq ||
                           memcmp(head.hash, w.last.hash, AUDIT_HASH_BYTES) != 0
                     : !head_optional)
        snprintf(out->first_broken, sizeof out->first_broken, "audit_head");
    out->head_seq = w.last.seq;
    memcpy(out->head_hash, w.last.hash, AUDIT_HASH_BYTES);
    return 0;
}

int audit_verify(store_conn_t *conn, const keyring_t *kr, audit_verify_result *out, mb_error *err)
{
    memset(out, 0, sizeof *out);
    verify_args args = {kr, out};
    if (store_read_snapshot(conn, verify_snapshot, &args, err) != 0)
        return -1;
    out->intact = out->first_broken[0] == '\0';
    if (!out->intact) {
        out->head_seq = 0;
        memset(out->head_hash, 0, sizeof out->head_hash);
    }
    return 0;
}

static int anchor_append(store_conn_t *conn, const keyring_t *kr, const anchors_state *as,
                         const chain_point *through, mb_error *err)
{
    anchor a = {.id = as->have ? as->newest.id + 1 : 1,
                .through = *through,
                .purged_total = through->seq,
                .purged_us = mb_now_us()};
    unsigned char mac[AUDIT_HASH_BYTES];
    anchor_mac(kr, &a, mac);
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_ANCHOR_ADD, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, a.id);
    sqlite3_bind_int64(st, 2, a.through.seq);
    sqlite3_bind_blob(st, 3, a.through.hash, AUDIT_HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, a.purged_total);
    sqlite3_bind_int64(st, 5, a.purged_us);
    sqlite3_bind_blob(st, 6, mac, sizeof mac, SQLITE_STATIC);
    return store_step_done(conn, st, "writing the audit anchor", err);
}

int audit_purge_before(store_conn_t *conn, const keyring_t *kr, int64_t cutoff_us, bool dry_run,
                       int64_t *purged, mb_error *err)
{
    *purged = 0;
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_PURGE_RANGE, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, cutoff_us);
    if (store_step_one(conn, st, "no row", "finding the audit events to purge", err) != 0) {
        sqlite3_reset(st);
        return -1;
    }
    bool none = sqlite3_column_type(st, 0) == SQLITE_NULL;
    int64_t first = sqlite3_column_int64(st, 0), last = sqlite3_column_int64(st, 1);
    sqlite3_reset(st);
    if (none || last < first)
        return 0;
    if (dry_run) {
        *purged = last - first + 1; /* seqs are contiguous */
        return 0;
    }

    /* A chain broken where it is cut would be anchored as if intact. */
    chain_point tip;
    anchors_state as;
    chain_walk w;
    if (chain_tip(conn, kr, &tip, err) != 0 || anchors_check(conn, kr, &as, err) != 0)
        return -1;
    if (as.broken_id != 0)
        return tampered(err, "an anchor does not match its MAC");
    walk_start(kr, &as, &w);
    if (walk_events(conn, kr, last, &w, err) != 0)
        return -1;
    if (w.broken_seq != 0 || w.last.seq != last)
        return tampered(err, "it is broken before the purge cutoff");

    if (store_conn_exec(conn, SQL_GATE_OPEN, err) != 0 ||
        store_exec_id(conn, SQL_PURGE, last, "purging audit events", err) != 0 ||
        store_conn_exec(conn, SQL_GATE_CLOSE, err) != 0 ||
        anchor_append(conn, kr, &as, &w.last, err) != 0)
        return -1;
    *purged = w.events;
    return 0;
}
