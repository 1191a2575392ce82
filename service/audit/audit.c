/*
 * audit.c - see audit.h.
 *
 * The hashed form of an event is the concatenation of its fields, each
 * preceded by its length as 4 big-endian bytes, in a fixed order, then the
 * previous hash. Length prefixes make the encoding unambiguous ("ab"+"c" and
 * "a"+"bc" hash differently).
 */
#include "audit/audit.h"

#include <stdio.h>
#include <string.h>

#include "base/clock.h"

#define FIELDS 9
#define CANON_MAX 4096

static const char SQL_LAST[] = "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1";
static const char SQL_INSERT[] =
    "INSERT INTO audit_events(seq, occurred_us, actor_key_id, actor_role, action, account_id,"
    " target_id, purpose, request_id, prev_hash, hash)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
static const char SQL_ALL[] =
    "SELECT seq, occurred_us, actor_key_id, actor_role, action, account_id, target_id, purpose,"
    " request_id, prev_hash, hash FROM audit_events ORDER BY seq";

void audit_event_id(int64_t seq, char out[AUDIT_EVENT_ID_MAX])
{
    snprintf(out, AUDIT_EVENT_ID_MAX, "ae_%lld", (long long)seq);
}

static const char *nz(const char *s)
{
    return s != NULL ? s : "";
}

/* fields: seq, occurred_us (decimal) then the seven text fields. */
static int event_hash(const keyring_t *kr, const char *const fields[FIELDS],
                      const unsigned char *prev, size_t prev_len,
                      unsigned char out[AUDIT_HASH_BYTES])
{
    unsigned char buf[CANON_MAX];
    size_t o = 0;
    for (int i = 0; i < FIELDS; i++) {
        size_t n = strlen(fields[i]);
        if (o + 4 + n > sizeof buf)
            return -1;
        buf[o++] = (unsigned char)(n >> 24);
        buf[o++] = (unsigned char)(n >> 16);
        buf[o++] = (unsigned char)(n >> 8);
        buf[o++] = (unsigned char)n;
        memcpy(buf + o, fields[i], n);
        o += n;
    }
    if (o + prev_len > sizeof buf)
        return -1;
    memcpy(buf + o, prev, prev_len);
    o += prev_len;
    keyring_mac(kr, KEYRING_SECRET_AUDIT_CHAIN, buf, o, out, AUDIT_HASH_BYTES);
    return 0;
}

int audit_append(store_conn_t *conn, const keyring_t *kr, const audit_entry *e, char *event_id,
                 mb_error *err)
{
    unsigned char prev[AUDIT_HASH_BYTES] = {0}, hash[AUDIT_HASH_BYTES];
    int64_t seq = 1;
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_LAST, err);
    if (st == NULL)
        return -1;
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        seq = sqlite3_column_int64(st, 0) + 1;
        if (sqlite3_column_bytes(st, 1) == AUDIT_HASH_BYTES)
            memcpy(prev, sqlite3_column_blob(st, 1), AUDIT_HASH_BYTES);
    }
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_error(conn, err, "reading the audit chain head");

    int64_t now = mb_now_us();
    char seq_s[24], now_s[24];
    snprintf(seq_s, sizeof seq_s, "%lld", (long long)seq);
    snprintf(now_s, sizeof now_s, "%lld", (long long)now);
    const char *fields[FIELDS] = {seq_s,         now_s,         nz(e->actor_key_id),
                                  nz(e->actor_role), nz(e->action), nz(e->account_id),
                                  nz(e->target_id),  nz(e->purpose), nz(e->request_id)};
    if (event_hash(kr, fields, prev, sizeof prev, hash) != 0)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT, "audit event fields too long");
    if ((st = store_conn_prepare(conn, SQL_INSERT, err)) == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, seq);
    sqlite3_bind_int64(st, 2, now);
    for (int i = 2; i < FIELDS; i++)
        sqlite3_bind_text(st, i + 1, fields[i], -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 10, prev, sizeof prev, SQLITE_STATIC);
    sqlite3_bind_blob(st, 11, hash, sizeof hash, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_error(conn, err, "appending an audit event");
    if (event_id != NULL)
        audit_event_id(seq, event_id);
    return 0;
}

int audit_verify(store_conn_t *conn, const keyring_t *kr, audit_verify_result *out, mb_error *err)
{
    memset(out, 0, sizeof *out);
    out->intact = true;
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_ALL, err);
    if (st == NULL)
        return -1;
    /* After a retention purge the first remaining event's prev_hash is the
     * anchor; every later one must link to its predecessor. */
    unsigned char expect_prev[AUDIT_HASH_BYTES];
    bool first = true;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        int64_t seq = sqlite3_column_int64(st, 0);
        char seq_s[24], us_s[24];
        snprintf(seq_s, sizeof seq_s, "%lld", (long long)seq);
        snprintf(us_s, sizeof us_s, "%lld", (long long)sqlite3_column_int64(st, 1));
        const char *fields[FIELDS] = {seq_s, us_s};
        for (int i = 2; i < FIELDS; i++)
            fields[i] = nz((const char *)sqlite3_column_text(st, i));
        const unsigned char *prev = sqlite3_column_blob(st, 9);
        const unsigned char *hash = sqlite3_column_blob(st, 10);
        unsigned char want[AUDIT_HASH_BYTES];
        bool ok = sqlite3_column_bytes(st, 9) == AUDIT_HASH_BYTES &&
                  sqlite3_column_bytes(st, 10) == AUDIT_HASH_BYTES &&
                  (first || memcmp(prev, expect_prev, AUDIT_HASH_BYTES) == 0) &&
                  event_hash(kr, fields, prev, AUDIT_HASH_BYTES, want) == 0 &&
                  memcmp(want, hash, AUDIT_HASH_BYTES) == 0;
        out->events++;
        if (!ok) {
            out->intact = false;
            audit_event_id(seq, out->first_broken);
            break;
        }
        memcpy(expect_prev, hash, AUDIT_HASH_BYTES);
        memcpy(out->head_hash, hash, AUDIT_HASH_BYTES);
        first = false;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return store_error(conn, err, "reading the audit trail");
    return 0;
}
