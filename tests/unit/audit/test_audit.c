/*
 * test_audit.c - the audit chain on a real SQLite file with every migration
 * applied: removals at the start, in the middle and at the end are named; a
 * forged, edited, replayed or missing head or anchor is named; an append
 * after a tampered head leaves an audit.head_lost event that stays named; audit_purge_before leaves
 * a chain that verifies (and keeps verifying after more appends and purges), counts the same on a
 * dry run without deleting, and refuses to purge a broken chain; a chain begun before migration
 * 0010 still verifies and is adopted once.
 *
 * The attacker has the database file, not the master key: raw SQL, with the
 * purge gate opened and triggers dropped as needed.
 */
#include <sodium.h>

#include "audit/audit.h"
#include "check.h"
#include "store/migrate.h"
#include "unit_db.h"
#include "unit_tmp.h"

typedef struct fixture {
    keyring_t *kr;
    store_conn_t *conn;
} fixture;

/* A new database (migrated up to `upto`, 0: all) with a key of its own. */
static fixture fixture_open(const char *name, int upto)
{
    char kpath[512], dbpath[512], kname[128];
    mb_error err;
    fixture f = {NULL, NULL};
    snprintf(kname, sizeof kname, "%s.key", name);
    unit_path(kpath, sizeof kpath, kname);
    unit_path(dbpath, sizeof dbpath, name);
    if (keyring_file_create(kpath, &err) != 0 || keyring_load(kpath, &f.kr, &err) != 0 ||
        store_conn_open(dbpath, true, false, &f.conn, &err) != 0 ||
        (upto > 0 ? store_migrate_upto(f.conn, upto, NULL, &err)
                  : store_migrate(f.conn, NULL, &err)) != 0 ||
        unit_keyring_attach(f.kr, f.conn, &err) != 0) {
        fprintf(stderr, "fixture %s: %s\n", name, err.msg);
        exit(1);
    }
    return f;
}

static void fixture_close(fixture *f)
{
    keyring_free(f->kr);
    store_conn_close(f->conn);
}

/* Appends n events, one transaction each; 0 or the first failure's code. */
static int append_n(fixture *f, int n, mb_error *err)
{
    for (int i = 0; i < n; i++) {
        char target[32];
        snprintf(target, sizeof target, "t%d", i);
        audit_entry e = {.actor_key_id = "k1",
                         .actor_role = "privacy",
                         .action = "account.reveal",
                         .account_id = "acc-1",
                         .target_id = target,
                         .purpose = "privacy reveal"};
        if (store_conn_exec(f->conn, "BEGIN IMMEDIATE", err) != 0)
            return err->code;
        if (audit_append(f->conn, f->kr, &e, NULL, err) != 0) {
            store_conn_exec(f->conn, "ROLLBACK", NULL);
            return err->code;
        }
        if (store_conn_exec(f->conn, "COMMIT", err) != 0)
            return err->code;
    }
    return 0;
}

/* What an attacker with the file does. */
static void attack(fixture *f, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(store_conn_db_borrow(f->conn), sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "  attack failed: %s\n", msg);
    sqlite3_free(msg);
    CHECK(rc == SQLITE_OK);
}

static void attack_delete_events(fixture *f, const char *where)
{
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO audit_purge_gate VALUES ('attacker');"
             "DELETE FROM audit_events WHERE %s;"
             "DELETE FROM audit_purge_gate;",
             where);
    attack(f, sql);
}

/* audit_verify; out->first_broken is "" when intact. */
static audit_verify_result verify(fixture *f)
{
    audit_verify_result r;
    mb_error err;
    CHECK(audit_verify(f->conn, f->kr, &r, &err) == 0);
    CHECK(r.intact == (r.first_broken[0] == '\0'));
    return r;
}

static bool broken_at(fixture *f, const char *id)
{
    audit_verify_result r = verify(f);
    if (strcmp(r.first_broken, id) != 0)
        fprintf(stderr, "  first broken: \"%s\", expected \"%s\"\n", r.first_broken, id);
    return !r.intact && strcmp(r.first_broken, id) == 0;
}

static bool head_hash_is_event(fixture *f, const audit_verify_result *r, int seq)
{
    char sql[96];
    sqlite3_stmt *st;
    bool same = false;
    snprintf(sql, sizeof sql, "SELECT hash FROM audit_events WHERE seq = %d", seq);
    if (sqlite3_prepare_v2(store_conn_db_borrow(f->conn), sql, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == AUDIT_HASH_BYTES)
        same = memcmp(sqlite3_column_blob(st, 0), r->head_hash, AUDIT_HASH_BYTES) == 0;
    sqlite3_finalize(st);
    return same && r->head_seq == seq;
}

static void test_intact(void)
{
    fixture f = fixture_open("intact.db", 0);
    mb_error err;
    audit_verify_result r = verify(&f);
    CHECK(r.intact && r.events == 0 && r.head_seq == 0); /* a new trail */
    CHECK(append_n(&f, 10, &err) == 0);
    r = verify(&f);
    CHECK(r.intact && r.events == 10);
    CHECK(head_hash_is_event(&f, &r, 10));
    CHECK(unit_query_long(f.conn, "SELECT seq FROM audit_head") == 10);
    fixture_close(&f);
}

/* Rows removed at the start, in the middle, or all of them: each named by
 * the first event missing. */
static void test_removed(void)
{
    static const struct {
        const char *db, *where, *broken;
    } cases[] = {{"start.db", "seq <= 3", "ae_1"},
                 {"middle.db", "seq = 5", "ae_5"},
                 {"all.db", "1", "ae_1"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fixture f = fixture_open(cases[i].db, 0);
        mb_error err;
        CHECK(append_n(&f, 10, &err) == 0);
        attack_delete_events(&f, cases[i].where);
        CHECK(broken_at(&f, cases[i].broken));
        fixture_close(&f);
    }
}

static void test_removed_at_end(void)
{
    fixture f = fixture_open("end.db", 0);
    mb_error err;
    CHECK(append_n(&f, 10, &err) == 0);
    attack_delete_events(&f, "seq >= 8");
    CHECK(broken_at(&f, "ae_8"));
    /* The next append continues after the head, not after the last row
     * left, so the gap stays visible. */
    CHECK(append_n(&f, 1, &err) == 0);
    CHECK(unit_query_long(f.conn, "SELECT max(seq) FROM audit_events") == 11);
    CHECK(broken_at(&f, "ae_8"));
    fixture_close(&f);
}

static int purge(fixture *f, int64_t cutoff_us, bool dry_run, int64_t *purged, mb_error *err)
{
    if (store_conn_exec(f->conn, "BEGIN IMMEDIATE", err) != 0)
        return -1;
    if (audit_purge_before(f->conn, f->kr, cutoff_us, dry_run, purged, err) != 0) {
        store_conn_exec(f->conn, "ROLLBACK", NULL);
        return -1;
    }
    return store_conn_exec(f->conn, "COMMIT", err);
}

/* The cutoff that purges every event before seq. */
static int64_t cutoff_at(fixture *f, int seq)
{
    char sql[96];
    snprintf(sql, sizeof sql, "SELECT occurred_us FROM audit_events WHERE seq = %d", seq);
    return unit_query_long(f->conn, sql);
}

static bool event_action_is(fixture *f, int seq, const char *action)
{
    char sql[160];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM audit_events WHERE seq = %d AND action = '%s'",
             seq, action);
    return unit_query_long(f->conn, sql) == 1;
}

/* A head moved back onto a truncated end, or removed, is named; the next
 * append does not seal a new one over the gap, but goes on after an
 * audit.head_lost event that verification keeps naming. */
static void test_head_forged(void)
{
    fixture f = fixture_open("head.db", 0);
    mb_error err;
    CHECK(append_n(&f, 10, &err) == 0);
    attack_delete_events(&f, "seq >= 9");
    attack(&f, "UPDATE audit_head SET seq = 8,"
               " hash = (SELECT hash FROM audit_events WHERE seq = 8)");
    CHECK(broken_at(&f, "audit_head"));
    CHECK(append_n(&f, 2, &err) == 0);
    CHECK(event_action_is(&f, 9, "audit.head_lost"));
    CHECK(unit_query_long(f.conn, "SELECT count(*) FROM audit_events WHERE seq = 9"
                                  " AND target_id = 'ae_8'") == 1); /* what the head said */
    CHECK(broken_at(&f, "ae_9"));
    fixture_close(&f);

    f = fixture_open("head-missing.db", 0);
    CHECK(append_n(&f, 10, &err) == 0);
    attack_delete_events(&f, "seq >= 9");
    attack(&f, "DROP TRIGGER audit_head_no_delete; DELETE FROM audit_head");
    CHECK(broken_at(&f, "audit_head"));
    CHECK(append_n(&f, 1, &err) == 0);
    CHECK(event_action_is(&f, 9, "audit.head_lost"));
    CHECK(broken_at(&f, "ae_9"));
    /* Nor can a purge hide it. */
    int64_t purged = -1;
    CHECK(purge(&f, INT64_MAX, false, &purged, &err) != 0);
    CHECK_STATUS(err, GRPC_STATUS_DATA_LOSS);
    CHECK(unit_query_long(f.conn, "SELECT count(*) FROM audit_events") == 10);
    fixture_close(&f);
}

static void test_purge(void)
{
    fixture f = fixture_open("purge.db", 0);
    mb_error err;
    int64_t purged = -1;
    CHECK(append_n(&f, 10, &err) == 0);
    CHECK(purge(&f, cutoff_at(&f, 5), true, &purged, &err) == 0);
    CHECK(purged == 4);
    CHECK(unit_query_long(f.conn, "SELECT count(*) FROM audit_events") == 10);
    CHECK(unit_query_long(f.conn, "SELECT count(*) FROM audit_anchors") == 0);

    CHECK(purge(&f, cutoff_at(&f, 5), false, &purged, &err) == 0);
    CHECK(purged == 4);
    CHECK(unit_query_long(f.conn, "SELECT min(seq) FROM audit_events") == 5);
    CHECK(unit_query_long(f.conn, "SELECT count(*) FROM audit_purge_gate") == 0);
    CHECK(unit_query_long(f.conn, "SELECT through_seq FROM audit_anchors") == 4);
    CHECK(unit_query_long(f.conn, "SELECT purged_total FROM audit_anchors") == 4);
    audit_verify_result r = verify(&f);
    CHECK(r.intact && r.events == 6 && head_hash_is_event(&f, &r, 10));

    /* Appends after a purge, and a second purge, still verify. */
    CHECK(append_n(&f, 3, &err) == 0);
    r = verify(&f);
    CHECK(r.intact && r.events == 9 && head_hash_is_event(&f, &r, 13));
    CHECK(purge(&f, cutoff_at(&f, 9), false, &purged, &err) == 0);
    CHECK(purged == 4);
    CHECK(unit_query_long(f.conn, "SELECT max(purged_total) FROM audit_anchors") == 8);
    r = verify(&f);
    CHECK(r.intact && r.events == 5);
    /* Nothing before the cutoff: nothing purged, no anchor. */
    CHECK(purge(&f, cutoff_at(&f, 9), false, &purged, &err) == 0);
    CHECK(purged == 0);
    CHECK(unit_query_long(f.conn, "SELECT count(*) FROM audit_anchors") == 2);

    /* The attacker now removes what the purge left at the start. */
    attack_delete_events(&f, "seq = 9");
    CHECK(broken_at(&f, "ae_9"));
    fixture_close(&f);
}

/* Purging everything keeps the head: the next event is 11, not 1. */
static void test_purge_everything(void)
{
    fixture f = fixture_open("purge-all.db", 0);
    mb_error err;
    int64_t purged = -1;
    CHECK(append_n(&f, 10, &err) == 0);
    CHECK(purge(&f, INT64_MAX, false, &purged, &err) == 0);
    CHECK(purged == 10);
    audit_verify_result r = verify(&f);
    CHECK(r.intact && r.events == 0 && r.head_seq == 10);
    CHECK(append_n(&f, 2, &err) == 0);
    CHECK(unit_query_long(f.conn, "SELECT min(seq) FROM audit_events") == 11);
    r = verify(&f);
    CHECK(r.intact && r.events == 2 && head_hash_is_event(&f, &r, 12));
    /* Removing the anchor makes the chain start at 1 again: named. */
    attack(&f, "DROP TRIGGER audit_anchors_no_delete; DELETE FROM audit_anchors");
    CHECK(broken_at(&f, "ae_1"));
    fixture_close(&f);
}

static void test_anchor_forged(void)
{
    fixture f = fixture_open("anchor.db", 0);
    mb_error err;
    int64_t purged;
    CHECK(append_n(&f, 10, &err) == 0);
    CHECK(purge(&f, cutoff_at(&f, 4), false, &purged, &err) == 0);
    CHECK(verify(&f).intact);
    /* The triggers refuse edits and deletions... */
    CHECK(sqlite3_exec(store_conn_db_borrow(f.conn), "UPDATE audit_anchors SET purged_us = 0", NULL,
                       NULL, NULL) != SQLITE_OK);
    CHECK(sqlite3_exec(store_conn_db_borrow(f.conn), "DELETE FROM audit_anchors", NULL, NULL,
                       NULL) != SQLITE_OK);
    /* ...so the attacker drops them, hides two more events behind the
     * anchor and moves it over them. */
    attack_delete_events(&f, "seq <= 5");
    attack(&f, "DROP TRIGGER audit_anchors_no_update;"
               "UPDATE audit_anchors SET through_seq = 5, purged_total = 5,"
               " through_hash = (SELECT prev_hash FROM audit_events WHERE seq = 6)");
    CHECK(broken_at(&f, "audit_anchor_1"));
    CHECK(purge(&f, cutoff_at(&f, 8), false, &purged, &err) != 0);
    CHECK_STATUS(err, GRPC_STATUS_DATA_LOSS);
    fixture_close(&f);

    /* A replayed anchor (a copy under a new id) does not match its MAC. */
    f = fixture_open("anchor-replay.db", 0);
    CHECK(append_n(&f, 10, &err) == 0);
    CHECK(purge(&f, cutoff_at(&f, 3), false, &purged, &err) == 0);
    attack_delete_events(&f, "seq <= 6");
    attack(&f, "INSERT INTO audit_anchors SELECT 2, 6,"
               " (SELECT prev_hash FROM audit_events WHERE seq = 7), 6, purged_us, mac"
               " FROM audit_anchors WHERE id = 1");
    CHECK(broken_at(&f, "audit_anchor_2"));
    fixture_close(&f);
}

/* A purge would hide a break behind its anchor: it refuses, deleting
 * nothing. */
static void test_purge_refuses_broken_chain(void)
{
    fixture f = fixture_open("purge-broken.db", 0);
    mb_error err;
    int64_t purged = -1;
    CHECK(append_n(&f, 10, &err) == 0);
    attack_delete_events(&f, "seq = 3");
    CHECK(purge(&f, cutoff_at(&f, 6), false, &purged, &err) != 0);
    CHECK_STATUS(err, GRPC_STATUS_DATA_LOSS);
    CHECK(purged == 0);
    CHECK(unit_query_long(f.conn, "SELECT count(*) FROM audit_events") == 9);
    CHECK(unit_query_long(f.conn, "SELECT count(*) FROM audit_anchors") == 0);
    CHECK(broken_at(&f, "ae_3"));
    fixture_close(&f);
}

/* An event as minbill wrote it before 0010 (the format is unchanged; the
 * first prev_hash was zeros then). */
static void legacy_event(fixture *f, int seq, unsigned char prev[AUDIT_HASH_BYTES])
{
    char seq_s[24];
    snprintf(seq_s, sizeof seq_s, "%d", seq);
    const char *fields[9] = {seq_s, "1700000000000000", "k0", "admin", "api_key.create", "", "", "",
                             ""};
    unsigned char buf[512], hash[AUDIT_HASH_BYTES];
    size_t o = 0;
    for (int i = 0; i < 9; i++) {
        size_t n = strlen(fields[i]);
        buf[o++] = (unsigned char)(n >> 24);
        buf[o++] = (unsigned char)(n >> 16);
        buf[o++] = (unsigned char)(n >> 8);
        buf[o++] = (unsigned char)n;
        memcpy(buf + o, fields[i], n);
        o += n;
    }
    memcpy(buf + o, prev, AUDIT_HASH_BYTES);
    o += AUDIT_HASH_BYTES;
    keyring_mac(f->kr, KEYRING_SECRET_AUDIT_CHAIN, buf, o, hash, sizeof hash);
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(store_conn_db_borrow(f->conn),
                             "INSERT INTO audit_events(seq, occurred_us, actor_key_id, actor_role,"
                             " action, prev_hash, hash) VALUES (?1, 1700000000000000, 'k0',"
                             " 'admin', 'api_key.create', ?2, ?3)",
                             -1, &st, NULL) == SQLITE_OK);
    sqlite3_bind_int(st, 1, seq);
    sqlite3_bind_blob(st, 2, prev, AUDIT_HASH_BYTES, SQLITE_TRANSIENT);
    sqlite3_bind_blob(st, 3, hash, AUDIT_HASH_BYTES, SQLITE_TRANSIENT);
    CHECK(sqlite3_step(st) == SQLITE_DONE);
    sqlite3_finalize(st);
    memcpy(prev, hash, AUDIT_HASH_BYTES);
}

static void test_legacy_chain_adopted_once(void)
{
    fixture f = fixture_open("legacy.db", 8);
    mb_error err;
    unsigned char prev[AUDIT_HASH_BYTES] = {0};
    for (int seq = 1; seq <= 3; seq++)
        legacy_event(&f, seq, prev);
    CHECK(store_migrate(f.conn, NULL, &err) == 0);
    audit_verify_result r = verify(&f);
    CHECK(r.intact && r.events == 3 && r.head_seq == 3);

    CHECK(append_n(&f, 1, &err) == 0);
    CHECK(unit_query_long(f.conn, "SELECT seq FROM audit_events"
                                  " WHERE action = 'audit.chain_adopted'") == 4);
    r = verify(&f);
    CHECK(r.intact && r.events == 5 && head_hash_is_event(&f, &r, 5));
    /* Adopted once: a head removed afterwards is tampering, not a second
     * adoption. */
    attack_delete_events(&f, "seq >= 5");
    attack(&f, "DROP TRIGGER audit_head_no_delete; DELETE FROM audit_head");
    CHECK(broken_at(&f, "audit_head"));
    CHECK(append_n(&f, 1, &err) == 0);
    CHECK(event_action_is(&f, 5, "audit.head_lost"));
    CHECK(broken_at(&f, "ae_5"));
    fixture_close(&f);
}

/* The chain of a new trail does not start from zeros: a chain cut short at
 * its start cannot pass for one begun before 0010. */
static void test_genesis_is_keyed(void)
{
    fixture f = fixture_open("genesis.db", 0);
    mb_error err;
    CHECK(append_n(&f, 1, &err) == 0);
    CHECK(unit_query_long(f.conn, "SELECT prev_hash = zeroblob(32) FROM audit_events") == 0);
    fixture_close(&f);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    RUN(test_intact);
    RUN(test_removed);
    RUN(test_removed_at_end);
    RUN(test_head_forged);
    RUN(test_purge);
    RUN(test_purge_everything);
    RUN(test_anchor_forged);
    RUN(test_purge_refuses_broken_chain);
    RUN(test_legacy_chain_adopted_once);
    RUN(test_genesis_is_keyed);
    return check_summary();
}
