/*
 * test_auth.c - API-key authentication and role checks over the wire.
 *
 * Covers: every way a credential can be wrong (none, another scheme, empty,
 * malformed, well-formed but unknown, one character off, a key of another
 * database) answering UNAUTHENTICATED without echoing the key, even on the
 * health service that needs no key; PERMISSION_DENIED naming the role; and
 * api.md's role table as data: every minbill.v1 method called with every
 * role (allowed roles get past authorization: UNIMPLEMENTED while a handler
 * is not built, the handler's own answer once it is; all others
 * PERMISSION_DENIED), and without a key.
 * A key created while the daemon runs works at once; one revoked while it
 * runs (`minbilld keys revoke-api-key`) is refused within the verified-key
 * cache's lifetime, and both are in the audit trail. The call log names the
 * key_id of authenticated calls and never holds any key's secret part.
 */
#include <signal.h>
#include <string.h>

#include "check.h"
#include "common.h"
#include "minbill/v1/accounts.pb-c.h"
#include "rpc/auth.h"

#define GET_ACCOUNT "/minbill.v1.Accounts/GetAccount"

static const char *const ROLES[] = {"platform", "finance", "support",
                                    "payments", "privacy", "admin"};
#define N_ROLES (sizeof ROLES / sizeof *ROLES)

/* api.md's "Callers and roles" table (plus UpsertPlan from Invoicing),
 * written out independently of service/methods.c so the two are compared. */
static const struct {
    const char *method;
    const char *roles; /* space-separated */
} ROLE_TABLE[] = {
    {"/minbill.v1.Metering/RecordUsage", "platform"},
    {"/minbill.v1.Metering/StreamUsage", "platform"},
    {"/minbill.v1.Metering/GetUsage", "finance support"},
    {"/minbill.v1.Accounts/UpsertAccount", "platform"},
    {"/minbill.v1.Accounts/RemoveContact", "platform"},
    {"/minbill.v1.Accounts/GetAccount", "finance support privacy"},
    {"/minbill.v1.Accounts/CloseAccount", "platform"},
    {"/minbill.v1.Accounts/AttachPaymentMethod", "platform"},
    {"/minbill.v1.Accounts/ListPaymentMethods", "finance support"},
    {"/minbill.v1.Accounts/DetachPaymentMethod", "platform"},
    {"/minbill.v1.Accounts/SetDefaultPaymentMethod", "platform"},
    {"/minbill.v1.Accounts/RevealPaymentMethod", "payments"},
    {"/minbill.v1.Invoicing/UpsertPlan", "admin finance"},
    {"/minbill.v1.Invoicing/RunBilling", "finance"},
    {"/minbill.v1.Invoicing/GetInvoice", "finance support"},
    {"/minbill.v1.Invoicing/ListInvoices", "finance support"},
    {"/minbill.v1.Invoicing/RenderInvoice", "finance"},
    {"/minbill.v1.Invoicing/IssueCreditNote", "finance"},
    {"/minbill.v1.Privacy/OpenSubjectRequest", "privacy support"},
    {"/minbill.v1.Privacy/ExportSubjectData", "privacy"},
    {"/minbill.v1.Privacy/RectifySubject", "privacy"},
    {"/minbill.v1.Privacy/EraseSubject", "privacy"},
    {"/minbill.v1.Privacy/RestrictSubject", "privacy"},
    {"/minbill.v1.Privacy/ListSubjectRequests", "privacy"},
    {"/minbill.v1.Audit/ListAuditEvents", "privacy"},
    {"/minbill.v1.Audit/VerifyAuditChain", "privacy"},
};

static mbt_server srv;
static char keys[N_ROLES][MBT_KEY_MAX]; /* one per ROLES[i] */
/* Every key this program made or invented, for the log check. */
static char all_keys[16][MBT_KEY_MAX];
static size_t n_all_keys;

static void remember_key(const char *key)
{
    if (n_all_keys < sizeof all_keys / sizeof *all_keys) {
        size_t n = strnlen(key, MBT_KEY_MAX - 1);
        memcpy(all_keys[n_all_keys], key, n);
        all_keys[n_all_keys++][n] = '\0';
    }
}

static const char *key_of(const char *role)
{
    for (size_t i = 0; i < N_ROLES; i++)
        if (strcmp(ROLES[i], role) == 0)
            return keys[i];
    return "";
}

/* A packed GetAccountRequest; *len receives its size. */
static uint8_t *get_account_request(size_t *len)
{
    Minbill__V1__GetAccountRequest req = MINBILL__V1__GET_ACCOUNT_REQUEST__INIT;
    req.account_id = "acc_0001";
    *len = minbill__v1__get_account_request__get_packed_size(&req);
    uint8_t *buf = malloc(*len);
    minbill__v1__get_account_request__pack(&req, buf);
    return buf;
}

static bool role_listed(const char *list, const char *role)
{
    size_t n = strlen(role);
    for (const char *p = list; (p = strstr(p, role)) != NULL; p += n)
        if ((p == list || p[-1] == ' ') && (p[n] == '\0' || p[n] == ' '))
            return true;
    return false;
}

static void check_auth_passed(const mb_error *st, const char *method, const char *role)
{
    bool passed = mbt_auth_passed((int)st->code);
    if (!passed)
        fprintf(stderr, "  %s as %s: %s (%s)\n", method, role, mb_status_name(st->code), st->msg);
    CHECK(passed);
    if (st->code == GRPC_STATUS_UNIMPLEMENTED)
        CHECK_CONTAINS(st->msg, method + 1); /* "... is not implemented yet" */
}

/* Checks that neither the key nor its secret part is in msg. */
static void check_not_echoed(const char *msg, const char *key)
{
    CHECK(strstr(msg, key) == NULL);
    if (strlen(key) > 17)
        CHECK(strstr(msg, key + 17) == NULL); /* the secret part */
}

/* "2026-12-04T13:55:47.366Z", as list-api-keys prints created and revoked. */
static bool is_timestamp(const char *s)
{
    return strlen(s) == 24 && s[4] == '-' && s[10] == 'T' && s[19] == '.' && s[23] == 'Z';
}

static void test_key_format(void)
{
    for (size_t i = 0; i < N_ROLES; i++) {
        const char *k = keys[i];
        bool ok = strlen(k) == 49 && strncmp(k, "mbk_", 4) == 0 && k[16] == '_';
        for (size_t j = 4; ok && j < 49; j++)
            ok = j == 16 || strchr("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                   "abcdefghijklmnopqrstuvwxyz",
                                   k[j]) != NULL;
        if (!ok)
            fprintf(stderr, "  key for %s: \"%s\"\n", ROLES[i], k);
        CHECK(ok);
    }
}

static void test_get_account(void)
{
    size_t len;
    uint8_t *req = get_account_request(&len);
    mb_error st;
    const char *support = key_of("support");
    char header[MBT_KEY_MAX + 16];

    /* No credential at all. */
    mbt_call(srv.ch, GET_ACCOUNT, NULL, req, len, &st);
    CHECK_STATUS(st, GRPC_STATUS_UNAUTHENTICATED);
    CHECK_CONTAINS(st.msg, "API key");

    /* Another scheme, an empty bearer token, a token that is no key. */
    static const char *const bad_headers[] = {"Basic x", "Basic bWU6cHc=", "Bearer",   "Bearer ",
                                              "Bearerx", "Bearer mbk_",    "Bearer x", "mbk_x"};
    for (size_t i = 0; i < sizeof bad_headers / sizeof *bad_headers; i++) {
        mbt_call_authorization(srv.d.target, GET_ACCOUNT, bad_headers[i], req, len, &st);
        if (st.code != GRPC_STATUS_UNAUTHENTICATED)
            fprintf(stderr, "  authorization: \"%s\"\n", bad_headers[i]);
        CHECK_STATUS(st, GRPC_STATUS_UNAUTHENTICATED);
    }
    /* The support key without "Bearer " is not a bearer token. */
    mbt_call_authorization(srv.d.target, GET_ACCOUNT, support, req, len, &st);
    CHECK_STATUS(st, GRPC_STATUS_UNAUTHENTICATED);
    check_not_echoed(st.msg, support);

    /* Well-formed but unknown. */
    const char *unknown = "mbk_AAAAAAAAAAAA_0123456789abcdefghijABCDEFGHIJ0123";
    remember_key(unknown);
    mbt_call(srv.ch, GET_ACCOUNT, unknown, req, len, &st);
    CHECK_STATUS(st, GRPC_STATUS_UNAUTHENTICATED);
    check_not_echoed(st.msg, unknown);

    /* A real key with its last character changed, or its id swapped. */
    char tampered[MBT_KEY_MAX];
    snprintf(tampered, sizeof tampered, "%s", support);
    size_t n = strlen(tampered);
    if (n > 0) {
        tampered[n - 1] = tampered[n - 1] == 'a' ? 'b' : 'a';
        remember_key(tampered);
        mbt_call(srv.ch, GET_ACCOUNT, tampered, req, len, &st);
        CHECK_STATUS(st, GRPC_STATUS_UNAUTHENTICATED);
        check_not_echoed(st.msg, tampered);
        snprintf(tampered, sizeof tampered, "%.17s%s", key_of("finance"), support + 17);
        mbt_call(srv.ch, GET_ACCOUNT, tampered, req, len, &st);
        CHECK_STATUS(st, GRPC_STATUS_UNAUTHENTICATED);
    }
    /* Extra characters around a valid key. */
    snprintf(header, sizeof header, "Bearer %s ", support);
    mbt_call_authorization(srv.d.target, GET_ACCOUNT, header, req, len, &st);
    CHECK_STATUS(st, GRPC_STATUS_UNAUTHENTICATED);
    snprintf(header, sizeof header, "Bearer  %s", support);
    mbt_call_authorization(srv.d.target, GET_ACCOUNT, header, req, len, &st);
    CHECK_STATUS(st, GRPC_STATUS_UNAUTHENTICATED);

    /* A valid key whose role may not call GetAccount. */
    mbt_call(srv.ch, GET_ACCOUNT, key_of("platform"), req, len, &st);
    CHECK_STATUS(st, GRPC_STATUS_PERMISSION_DENIED);
    CHECK_CONTAINS(st.msg, "platform");
    CHECK_CONTAINS(st.msg, "GetAccount");
    check_not_echoed(st.msg, key_of("platform"));

    /* Allowed: authentication and authorization pass (the account does not
     * exist, or the handler is not built). */
    mbt_call(srv.ch, GET_ACCOUNT, support, req, len, &st);
    check_auth_passed(&st, GET_ACCOUNT, "support");
    /* The scheme name is case-insensitive (RFC 7235). */
    snprintf(header, sizeof header, "bearer %s", support);
    mbt_call_authorization(srv.d.target, GET_ACCOUNT, header, req, len, &st);
    check_auth_passed(&st, GET_ACCOUNT, "support");

    free(req);
    CHECK(mbt_health_ok(srv.ch));
}

/* Health needs no key, but a key that is presented must be valid. */
static void test_health_with_keys(void)
{
    mb_error st;
    int serving = -1;
    mbt_health_check(srv.ch, key_of("platform"), "", &serving, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    mbt_health_check(srv.ch, "mbk_AAAAAAAAAAAA_0123456789abcdefghijABCDEFGHIJ0123", "", &serving,
                     &st);
    CHECK_STATUS(st, GRPC_STATUS_UNAUTHENTICATED);
    mbt_call_authorization(srv.d.target, MBT_HEALTH_CHECK, "Basic x", "", 0, &st);
    CHECK_STATUS(st, GRPC_STATUS_UNAUTHENTICATED);
    mbt_health_check(srv.ch, "short", "", &serving, &st);
    CHECK_STATUS(st, GRPC_STATUS_UNAUTHENTICATED);
    CHECK(mbt_health_ok(srv.ch));
}

/* The empty request decodes to an all-default message of any type. */
static void test_role_table(void)
{
    mb_error st;
    for (size_t m = 0; m < sizeof ROLE_TABLE / sizeof *ROLE_TABLE; m++) {
        const char *method = ROLE_TABLE[m].method;
        mbt_call(srv.ch, method, NULL, "", 0, &st);
        if (st.code != GRPC_STATUS_UNAUTHENTICATED)
            fprintf(stderr, "  %s without a key\n", method);
        CHECK_STATUS(st, GRPC_STATUS_UNAUTHENTICATED);
        for (size_t r = 0; r < N_ROLES; r++) {
            mbt_call(srv.ch, method, keys[r], "", 0, &st);
            if (role_listed(ROLE_TABLE[m].roles, ROLES[r])) {
                check_auth_passed(&st, method, ROLES[r]);
                continue;
            }
            if (st.code != GRPC_STATUS_PERMISSION_DENIED)
                fprintf(stderr, "  %s as %s\n", method, ROLES[r]);
            CHECK_STATUS(st, GRPC_STATUS_PERMISSION_DENIED);
            CHECK_CONTAINS(st.msg, ROLES[r]);
            CHECK_CONTAINS(st.msg, method);
        }
    }
    CHECK(mbt_health_ok(srv.ch));
}

static void test_key_created_while_running(void)
{
    char key[MBT_KEY_MAX];
    size_t len;
    uint8_t *req = get_account_request(&len);
    mb_error st;
    /* Fill the verified-key cache first, so a stale cache would show. */
    mbt_call(srv.ch, GET_ACCOUNT, key_of("support"), req, len, &st);
    mbt_key(&srv, "privacy", key);
    remember_key(key);
    CHECK(key[0] != '\0');
    mbt_call(srv.ch, GET_ACCOUNT, key, req, len, &st);
    check_auth_passed(&st, GET_ACCOUNT, "privacy (new key)");
    mbt_call(srv.ch, "/minbill.v1.Accounts/RevealPaymentMethod", key, "", 0, &st);
    CHECK_STATUS(st, GRPC_STATUS_PERMISSION_DENIED);
    free(req);
}

static void test_key_revoked_while_running(void)
{
    char key[MBT_KEY_MAX], key_id[16], sql[160], out[4096];
    size_t len;
    uint8_t *req = get_account_request(&len);
    mb_error st;
    mbt_key(&srv, "support", key);
    remember_key(key);
    snprintf(key_id, sizeof key_id, "%.12s", key + 4); /* mbk_<key_id>_<secret> */
    mbt_call(srv.ch, GET_ACCOUNT, key, req, len, &st); /* now in the cache */
    check_auth_passed(&st, GET_ACCOUNT, "support (to be revoked)");

    const char *revoke[] = {"keys",         "revoke-api-key", "--db", srv.d.db, "--key-file",
                            srv.d.key_file, "--key-id",       key_id, NULL};
    CHECK(mbt_run_minbilld(revoke, NULL, 0) == 0);
    /* The cache entry was made before the revocation, so every call sent
     * AUTH_CACHE_TTL_SECONDS after it must be refused however slow the
     * machine is: times are when each call was sent, not when it returned. */
    double start = mbt_now(), accepted_at = -1, refused_at = -1;
    while (mbt_now() - start < AUTH_CACHE_TTL_SECONDS + 5) {
        double sent = mbt_now() - start;
        mbt_call(srv.ch, GET_ACCOUNT, key, req, len, &st);
        if (st.code == GRPC_STATUS_UNAUTHENTICATED) {
            refused_at = sent;
            break;
        }
        accepted_at = sent;
        mbt_sleep_ms(200);
    }
    fprintf(stderr, "   revoked key last accepted at %.1f s, refused at %.1f s (%s)\n", accepted_at,
            refused_at, st.msg);
    CHECK(refused_at >= 0 && accepted_at < AUTH_CACHE_TTL_SECONDS);
    /* Refused as revoked, not because this address ran out of tries. */
    CHECK_CONTAINS(st.msg, "unknown or revoked API key");
    mbt_call(srv.ch, GET_ACCOUNT, key_of("support"), req, len, &st);
    check_auth_passed(&st, GET_ACCOUNT, "support (another key)");

    CHECK(mbt_run_minbilld(revoke, NULL, 0) == 1); /* revoked already */
    const char *list[] = {"keys", "list-api-keys", "--db", srv.d.db, NULL};
    CHECK(mbt_run_minbilld(list, out, sizeof out) == 0);
    /* Its line: id, kind, role, created and revoked times, name; never a
     * secret. Parsed by column: a key id may itself end in "Z". */
    char id[16] = "", kind[8] = "", role[16] = "", created[32] = "", revoked[32] = "",
         name[16] = "";
    const char *at = strstr(out, key_id);
    int fields = at == NULL ? 0
                            : sscanf(at, "%15s %7s %15s %31s %31s %15s", id, kind, role, created,
                                     revoked, name);
    bool ok = fields == 6 && strcmp(id, key_id) == 0 && strcmp(kind, "key") == 0 &&
              strcmp(role, "support") == 0 && is_timestamp(created) && is_timestamp(revoked) &&
              strcmp(name, "test") == 0;
    if (!ok)
        fprintf(stderr, "   the revoked key's line in list-api-keys is wrong; listing:\n%s\n", out);
    CHECK(ok);
    CHECK(strstr(out, "mbk_") == NULL);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM audit_events WHERE action = 'api_key.revoke' AND "
             "target_id = '%s' AND actor_role = 'admin'",
             key_id);
    CHECK(mbt_db_long(srv.d.db, sql) == 1);
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM audit_events"
                                " WHERE action = 'api_key.create'") >= (long)N_ROLES + 1);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM audit_events WHERE action = 'api_key.create' AND "
             "target_id = '%s' AND purpose = 'grants role support'",
             key_id);
    CHECK(mbt_db_long(srv.d.db, sql) == 1);
    free(req);
}

/* A key made for another database (another hashing secret) is unknown. */
static void test_key_of_other_database(void)
{
    mbt_daemon other;
    CHECK(mbt_daemon_init(&other) == 0);
    char key[MBT_KEY_MAX] = "";
    CHECK(mbt_daemon_api_key(&other, "support", key, sizeof key) == 0);
    remember_key(key);
    mb_error st;
    mbt_call(srv.ch, GET_ACCOUNT, key, "", 0, &st);
    CHECK_STATUS(st, GRPC_STATUS_UNAUTHENTICATED);
    mbt_daemon_cleanup(&other);
}

/* Run last: the log must now hold the calls of all tests above. */
static void test_log(void)
{
    char *log = mbt_read_file(srv.d.log);
    CHECK(log != NULL);
    if (log == NULL)
        return;
    char want[128];
    for (size_t i = 0; i < N_ROLES; i++) {
        snprintf(want, sizeof want, "role=%s key=%.12s ", ROLES[i], keys[i] + 4);
        CHECK_CONTAINS(log, want);
    }
    snprintf(want, sizeof want,
             "method=" GET_ACCOUNT " role=support key=%.12s status=", key_of("support") + 4);
    CHECK_CONTAINS(log, want);
    snprintf(want, sizeof want,
             "method=" GET_ACCOUNT " role=platform key=%.12s status=PERMISSION_DENIED",
             key_of("platform") + 4);
    CHECK_CONTAINS(log, want);
    CHECK_CONTAINS(log, "method=" GET_ACCOUNT " role=anonymous key=- status=UNAUTHENTICATED");
    for (size_t i = 0; i < n_all_keys; i++) {
        const char *k = all_keys[i];
        if (strlen(k) != 49)
            continue;
        if (strstr(log, k + 17) != NULL)
            fprintf(stderr, "  the log holds the secret part of %.16s...\n", k);
        CHECK(strstr(log, k + 17) == NULL);
    }
    free(log);
}

int main(void)
{
    if (mbt_up(&srv, NULL) != 0) {
        CHECK(!"daemon started");
        mbt_down(&srv);
        return check_summary();
    }
    for (size_t i = 0; i < N_ROLES; i++) {
        mbt_key(&srv, ROLES[i], keys[i]);
        remember_key(keys[i]);
    }
    RUN(test_key_format);
    RUN(test_get_account);
    RUN(test_health_with_keys);
    RUN(test_role_table);
    RUN(test_key_created_while_running);
    RUN(test_key_revoked_while_running);
    RUN(test_key_of_other_database);
    CHECK(mbt_stop(&srv, SIGTERM) == 0);
    RUN(test_log); /* after the stop: the log is complete */
    mbt_down(&srv);
    return check_summary();
}
