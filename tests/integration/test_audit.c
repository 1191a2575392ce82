/*
 * test_audit.c - Audit.VerifyAuditChain on the real daemon when someone
 * with the database file (not the master key) removes events at the start
 * or at the end of the trail while the daemon is stopped: both are named
 * after the restart, and putting the rows back makes the chain whole again
 * (the check is about the rows, not a sticky flag). Removal in the middle,
 * forged anchors and heads, and the retention purge are covered in
 * tests/unit/audit/test_audit.c.
 */
#include <signal.h>
#include <sqlite3.h>

#include "check.h"
#include "common.h"
#include "minbill/v1/audit.pb-c.h"

#define VERIFY "/minbill.v1.Audit/VerifyAuditChain"

static mbt_server srv;
static char privacy[MBT_KEY_MAX];

/* VerifyAuditChain: 0 and *out (caller frees) on OK. */
static int verify(Minbill__V1__VerifyAuditChainResponse **out)
{
    mb_error st;
    Minbill__V1__VerifyAuditChainRequest req = MINBILL__V1__VERIFY_AUDIT_CHAIN_REQUEST__INIT;
    *out = NULL;
    int code = mbc_unary(srv.ch, VERIFY, privacy, &req.base,
                         &minbill__v1__verify_audit_chain_response__descriptor, 10000,
                         (ProtobufCMessage **)out, &st);
    if (code != 0)
        fprintf(stderr, "   VerifyAuditChain: %s\n", st.msg);
    return code;
}

/* Whether the chain verifies as expected: intact, or broken first at
 * `broken`. */
static bool verifies(const char *broken)
{
    Minbill__V1__VerifyAuditChainResponse *v;
    if (verify(&v) != 0 || v == NULL)
        return false;
    bool ok = broken == NULL ? v->intact && v->first_broken_event[0] == '\0'
                             : !v->intact && strcmp(v->first_broken_event, broken) == 0;
    if (!ok)
        fprintf(stderr, "   intact=%d first_broken_event=\"%s\", expected %s\n", v->intact,
                v->first_broken_event, broken != NULL ? broken : "intact");
    protobuf_c_message_free_unpacked(&v->base, NULL);
    return ok;
}

/* Stops the daemon, runs sql on its file as an attacker would, restarts. */
static void edit_stopped(const char *sql)
{
    CHECK(mbt_stop(&srv, SIGTERM) == 0);
    sqlite3 *db;
    char *msg = NULL;
    CHECK(sqlite3_open(srv.d.db, &db) == SQLITE_OK);
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "   %s\n", msg);
    CHECK(rc == SQLITE_OK);
    sqlite3_free(msg);
    sqlite3_close(db);
    CHECK(mbt_serve(&srv, NULL) == 0);
}

static void test_truncation_named(void)
{
    char key[MBT_KEY_MAX];
    for (int i = 0; i < 5; i++)
        mbt_key(&srv, "support", key); /* each is an api_key.create event */
    long n = mbt_db_long(srv.d.db, "SELECT max(seq) FROM audit_events");
    CHECK(n >= 6);
    CHECK(verifies(NULL));

    /* The last two events go: named by the first one missing. */
    char sql[512], first_gone[32];
    snprintf(sql, sizeof sql,
             "CREATE TABLE kept AS SELECT * FROM audit_events WHERE seq > %ld;"
             "INSERT INTO audit_purge_gate VALUES ('attacker');"
             "DELETE FROM audit_events WHERE seq > %ld;"
             "DELETE FROM audit_purge_gate;",
             n - 2, n - 2);
    edit_stopped(sql);
    snprintf(first_gone, sizeof first_gone, "ae_%ld", n - 1);
    CHECK(verifies(first_gone));
    edit_stopped("INSERT INTO audit_events SELECT * FROM kept; DROP TABLE kept;");
    CHECK(verifies(NULL));

    /* The first two go. */
    edit_stopped("INSERT INTO audit_purge_gate VALUES ('attacker');"
                 "DELETE FROM audit_events WHERE seq <= 2;"
                 "DELETE FROM audit_purge_gate;");
    CHECK(verifies("ae_1"));
}

int main(void)
{
    if (mbt_up(&srv, NULL) != 0)
        return 1;
    mbt_key(&srv, "privacy", privacy);
    RUN(test_truncation_named);
    CHECK(mbt_down(&srv) == 0);
    return check_summary();
}
