/*
 * test_tls.c - minbilld serve --tls-cert/--tls-key/--tls-client-ca against
 * clients over TLS: a client certificate the daemon's CA signed and whose
 * identity `minbilld keys allow-client` mapped to a role authenticates calls
 * without an API key, with that role's rights only; identities are typed (a
 * DNS name allowed as dns: is not matched by a common name or a URI of the
 * same text, a common name only counts in a certificate without subject
 * alternative names, DNS names ignore case) and a certificate matching two
 * allowed identities is refused; one the CA signed but nobody allowed is
 * UNAUTHENTICATED (its identity not repeated), and so is the allowed one once
 * revoked (within the auth cache's 10 s), after which it may be allowed
 * again; a certificate from another CA, or a plaintext
 * client, gets no connection at all; API keys keep working over TLS; a
 * private key readable by others is refused at start, and half a
 * certificate/key pair is a usage error. The gRPC core's complaints (failed
 * handshakes) reach the log as events.
 *
 * The certificates are made for the test with the openssl command (a CA,
 * the server's for 127.0.0.1, three clients); the test skips, saying so,
 * where openssl is missing.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "common.h"
#include "minbill/v1/accounts.pb-c.h"
#include "rpc/auth.h"

#define GET_ACCOUNT "/minbill.v1.Accounts/GetAccount"
#define REVEAL "/minbill.v1.Accounts/RevealPaymentMethod"

static mbt_server srv;
static char *ca_pem, *billing_pem, *billing_key, *stranger_pem, *stranger_key, *rogue_pem,
    *rogue_key;

static char *dir_file(const char *name)
{
    static char paths[16][MBT_PATH + 64];
    static int next;
    char *p = paths[next++ % 16];
    snprintf(p, MBT_PATH + 64, "%s/%s", srv.d.dir, name);
    return p;
}

/* A CA, the server's certificate (IP 127.0.0.1) and the clients' (common
 * names only: their identity is the CN), all EC P-256, valid for a day. */
static int make_certificates(void)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd,
             "set -e; cd '%s'; umask 077;"
             "req() { openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes"
             "  -keyout \"$1.key\" -out \"$1.csr\" -subj \"/CN=$2\" 2>/dev/null; };"
             "sign() { openssl x509 -req -in \"$1.csr\" -CA \"$2.pem\" -CAkey \"$2.key\""
             "  -CAcreateserial -days 1 -out \"$1.pem\" $3 2>/dev/null; };"
             "for ca in ca rogue-ca; do openssl req -x509 -newkey ec"
             "  -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $ca.key -out $ca.pem -days 1"
             "  -subj \"/CN=minbill test $ca\" 2>/dev/null; done;"
             "printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\n' > server.ext;"
             "req server localhost; sign server ca '-extfile server.ext';"
             "req billing billing-job; sign billing ca;"
             "req stranger stranger-job; sign stranger ca;"
             "req rogue billing-job; sign rogue rogue-ca;"
             "san() { printf \"subjectAltName=$2\\n\" > $1.ext; sign $1 ca \"-extfile $1.ext\"; };"
             "req sanjob some-cn; san sanjob DNS:Billing.Internal;"
             "req cnlike billing.internal; sign cnlike ca;"
             "req urijob admin-ops; san urijob URI:admin-ops;"
             "req multi multi; san multi DNS:billing.internal,DNS:admin-ops;"
             "rm -f *.csr *.srl *.ext",
             srv.d.dir);
    if (system(cmd) != 0)
        return -1;
    ca_pem = mbt_read_file(dir_file("ca.pem"));
    billing_pem = mbt_read_file(dir_file("billing.pem"));
    billing_key = mbt_read_file(dir_file("billing.key"));
    stranger_pem = mbt_read_file(dir_file("stranger.pem"));
    stranger_key = mbt_read_file(dir_file("stranger.key"));
    rogue_pem = mbt_read_file(dir_file("rogue.pem"));
    rogue_key = mbt_read_file(dir_file("rogue.key"));
    return ca_pem && billing_pem && billing_key && stranger_pem && stranger_key && rogue_pem &&
                   rogue_key
               ? 0
               : -1;
}

static const char *tls_args[] = {"--tls-cert",      NULL, "--tls-key", NULL,
                                 "--tls-client-ca", NULL, NULL};

/* GetAccount of an account nobody made: NOT_FOUND means the caller got
 * past authentication and authorization. */
static int get_account(mbc_channel_t *ch, const char *key, mb_error *st)
{
    Minbill__V1__GetAccountRequest req = MINBILL__V1__GET_ACCOUNT_REQUEST__INIT;
    req.account_id = "nobody";
    uint8_t buf[64];
    size_t len = protobuf_c_message_pack(&req.base, buf);
    return mbt_call(ch, GET_ACCOUNT, key, buf, len, st);
}

static mbc_channel_t *channel(const char *cert, const char *key)
{
    mbc_tls tls = {.ca_pem = ca_pem, .cert_pem = cert, .key_pem = key};
    return mbc_channel_new_tls(srv.d.target, &tls);
}

static char billing_id[32];

/* A channel presenting the client certificate dir/name.pem. */
static mbc_channel_t *client(const char *name)
{
    char file[64];
    snprintf(file, sizeof file, "%s.pem", name);
    char *cert = mbt_read_file(dir_file(file));
    snprintf(file, sizeof file, "%s.key", name);
    char *key = mbt_read_file(dir_file(file));
    mbc_channel_t *ch = channel(cert, key);
    free(cert);
    free(key);
    return ch;
}

/* keys allow-client; id (if not NULL, 32 bytes) receives the credential's
 * id. Returns the exit status; out holds what it printed. */
static int allow(const char *identity, const char *role, char *id, char *out, size_t size)
{
    const char *args[] = {"keys",       "allow-client", "--db",       srv.d.db,
                          "--key-file", srv.d.key_file, "--identity", identity,
                          "--role",     role,           "--name",     "test client",
                          NULL};
    int rc = mbt_run_minbilld(args, out, size);
    /* "allowed client certificates of that identity as <id> (...)" */
    const char *as = strstr(out, " as ");
    if (id != NULL)
        snprintf(id, 32, "%.12s", as != NULL ? as + 4 : "");
    return rc;
}

/* `minbill --server ... --tls-ca ca.pem [--tls-cert C.pem --tls-key C.key]
 * WORDS`: its exit status; its output (stdout and stderr) into out. */
static int run_cli(const char *client, const char *words, char *out, size_t size)
{
    char cmd[4096], cert[2 * MBT_PATH + 160] = "";
    if (client != NULL)
        snprintf(cert, sizeof cert, "--tls-cert '%s/%s.pem' --tls-key '%s/%s.key'", srv.d.dir,
                 client, srv.d.dir, client);
    snprintf(cmd, sizeof cmd,
             "env -u MINBILL_API_KEY '%s' --server %s --tls-ca '%s/ca.pem' %s %s 2>&1",
             getenv("MINBILL"), srv.d.target, srv.d.dir, cert, words);
    FILE *p = popen(cmd, "r");
    size_t n = p != NULL ? fread(out, 1, size - 1, p) : 0;
    out[n] = '\0';
    int status = p != NULL ? pclose(p) : -1;
    return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_allowed_certificate(void)
{
    char out[512];
    CHECK(allow("billing-job", "finance", NULL, out, sizeof out) == 1); /* untyped: refused */
    CHECK(allow("cn:billing-job", "finance", billing_id, out, sizeof out) == 0);
    CHECK(strlen(billing_id) == AUTH_KEY_ID_LEN);
    CHECK(strstr(out, "billing-job") == NULL); /* not even echoed to the operator */

    mbc_channel_t *ch = channel(billing_pem, billing_key);
    mb_error st;
    CHECK(get_account(ch, NULL, &st) == GRPC_STATUS_NOT_FOUND);
    /* Its role's rights only: finance may not reveal. */
    CHECK(mbt_call(ch, REVEAL, NULL, "", 0, &st) == GRPC_STATUS_PERMISSION_DENIED);
    CHECK_CONTAINS(st.msg, "finance");
    /* An API key, when sent, is the credential (and must be valid). */
    char support[MBT_KEY_MAX];
    mbt_key(&srv, "support", support);
    CHECK(get_account(ch, support, &st) == GRPC_STATUS_NOT_FOUND);
    CHECK(get_account(ch, "mbk_wrong", &st) == GRPC_STATUS_UNAUTHENTICATED);
    mbc_channel_free(ch);

    /* The minbill client, with the same certificate and without. */
    char cli[2048];
    CHECK(run_cli("billing", "health", cli, sizeof cli) == 0);
    CHECK_CONTAINS(cli, "SERVING");
    CHECK(run_cli("billing", "account show nobody", cli, sizeof cli) == 1);
    CHECK_CONTAINS(cli, "NOT_FOUND");
    CHECK(run_cli("stranger", "account show nobody", cli, sizeof cli) == 1);
    CHECK_CONTAINS(cli, "UNAUTHENTICATED");
    CHECK(run_cli(NULL, "account show nobody", cli, sizeof cli) == 1);
    CHECK_CONTAINS(cli, "UNAUTHENTICATED");

    /* The call log names the credential's id, the audit trail its creation. */
    char *log = mbt_read_file(srv.d.log);
    char want[64];
    snprintf(want, sizeof want, "key=%s", billing_id);
    CHECK(log != NULL && strstr(log, want) != NULL);
    CHECK(log != NULL && strstr(log, "billing-job") == NULL);
    free(log);
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM audit_events"
                                " WHERE action = 'client_certificate.allow'") == 1);
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM api_keys WHERE kind = 'x509'") == 1);
}

static void test_typed_identities(void)
{
    char out[512];
    mb_error st;
    CHECK(allow("dns:billing.internal", "finance", NULL, out, sizeof out) == 0);
    CHECK(allow("dns:admin-ops", "privacy", NULL, out, sizeof out) == 0);
    struct {
        const char *cert;
        int want;
        const char *why;
    } cases[] = {
        {"sanjob", GRPC_STATUS_NOT_FOUND, "DNS:Billing.Internal matches dns:billing.internal"},
        {"cnlike", GRPC_STATUS_UNAUTHENTICATED, "a common name is not a DNS name"},
        {"urijob", GRPC_STATUS_UNAUTHENTICATED, "a URI is not a DNS name; the CN is ignored"},
        {"multi", GRPC_STATUS_UNAUTHENTICATED, "two allowed names: which role?"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mbc_channel_t *ch = client(cases[i].cert);
        int code = get_account(ch, NULL, &st);
        if (code != cases[i].want)
            fprintf(stderr, "   %s: status %d (%s), want %d: %s\n", cases[i].cert, code, st.msg,
                    cases[i].want, cases[i].why);
        CHECK(code == cases[i].want);
        CHECK(strstr(st.msg, "admin-ops") == NULL && strstr(st.msg, "illing.") == NULL);
        mbc_channel_free(ch);
    }
    mbc_channel_t *ch = client("multi");
    get_account(ch, NULL, &st);
    CHECK_CONTAINS(st.msg, "matches 2 allowed identities");
    mbc_channel_free(ch);
}

static void test_refused_certificates(void)
{
    mb_error st;
    /* Signed by the CA, but nobody allowed its identity. */
    mbc_channel_t *ch = channel(stranger_pem, stranger_key);
    CHECK(get_account(ch, NULL, &st) == GRPC_STATUS_UNAUTHENTICATED);
    CHECK(strstr(st.msg, "stranger") == NULL);
    mbc_channel_free(ch);
    /* The allowed identity, but from another CA: no TLS connection. */
    ch = channel(rogue_pem, rogue_key);
    CHECK(get_account(ch, NULL, &st) == GRPC_STATUS_UNAVAILABLE);
    mbc_channel_free(ch);
    /* No certificate and no key. */
    ch = channel(NULL, NULL);
    CHECK(get_account(ch, NULL, &st) == GRPC_STATUS_UNAUTHENTICATED);
    CHECK_CONTAINS(st.msg, "client certificate");
    mbc_channel_free(ch);
    /* Plaintext to a TLS port. */
    ch = mbc_channel_new(srv.d.target);
    CHECK(mbc_channel_wait_ready(ch, mbt_ms(1000)) != 0);
    mbc_channel_free(ch);
    /* The failed handshakes are log events, not the gRPC core's own lines
     * ("E1129 05:10:27.52 ... Handshake failed") between them. */
    char *log = mbt_read_file(srv.d.log);
    CHECK(log != NULL && strstr(log, "event=grpc_core") != NULL);
    CHECK(log != NULL && strstr(log, "\nE1") == NULL && strstr(log, "\nI1") == NULL);
    free(log);
}

static void test_revoked_certificate(void)
{
    const char *revoke[] = {"keys",         "revoke-api-key", "--db",     srv.d.db, "--key-file",
                            srv.d.key_file, "--key-id",       billing_id, NULL};
    CHECK(mbt_run_minbilld(revoke, NULL, 0) == 0);
    mbc_channel_t *ch = channel(billing_pem, billing_key);
    mb_error st;
    double start = mbt_now();
    int code = GRPC_STATUS_OK;
    while (mbt_now() - start < AUTH_CACHE_TTL_SECONDS + 5 &&
           (code = get_account(ch, NULL, &st)) != GRPC_STATUS_UNAUTHENTICATED)
        mbt_sleep_ms(200);
    CHECK(code == GRPC_STATUS_UNAUTHENTICATED);
    CHECK(mbt_now() - start <= AUTH_CACHE_TTL_SECONDS + 1);
    /* Allowed again (say, with the right role this time). */
    char out[512], again[32];
    CHECK(allow("cn:billing-job", "support", again, out, sizeof out) == 0);
    CHECK(strcmp(again, billing_id) != 0);
    /* Refusals are cached like grants: the name was just refused. */
    start = mbt_now();
    while (mbt_now() - start < AUTH_CACHE_TTL_SECONDS + 5 &&
           (code = get_account(ch, NULL, &st)) != GRPC_STATUS_NOT_FOUND)
        mbt_sleep_ms(200);
    CHECK(code == GRPC_STATUS_NOT_FOUND);
    CHECK(mbt_now() - start <= AUTH_CACHE_TTL_SECONDS + 1);
    mbc_channel_free(ch);
}

static void test_loose_private_key_refused(void)
{
    /* A half-given pair is a usage error, found before any database is
     * created. */
    char fresh[MBT_PATH + 64];
    snprintf(fresh, sizeof fresh, "%s/fresh.db", srv.d.dir);
    const char *half[] = {"serve", "--db", fresh, "--key-file", srv.d.key_file, "--tls-cert",
                          tls_args[1], NULL};
    CHECK(mbt_run_minbilld(half, NULL, 0) == 2);
    CHECK(access(fresh, F_OK) != 0);
    CHECK(mbt_stop(&srv, SIGTERM) == 0);
    CHECK(chmod(tls_args[3], 0644) == 0);
    CHECK(mbt_daemon_start(&srv.d, tls_args) != 0);
    char *log = mbt_read_file(srv.d.log);
    CHECK(log != NULL && strstr(log, "chmod 600") != NULL);
    free(log);
    CHECK(chmod(tls_args[3], 0600) == 0);
    CHECK(mbt_serve_tls(&srv, tls_args, &(mbc_tls){.ca_pem = ca_pem}) == 0);
}

int main(void)
{
    if (system("command -v openssl >/dev/null") != 0) {
        fprintf(stderr, "SKIP: the openssl command is not installed (apt-get install openssl)\n");
        return MBT_SKIP;
    }
    if (mbt_daemon_init(&srv.d) != 0 || make_certificates() != 0) {
        fprintf(stderr, "cannot make the test certificates\n");
        return 1;
    }
    tls_args[1] = dir_file("server.pem");
    tls_args[3] = dir_file("server.key");
    tls_args[5] = dir_file("ca.pem");
    /* The harness channel presents no certificate: API keys and health. */
    mbc_tls server_only = {.ca_pem = ca_pem};
    if (mbt_serve_tls(&srv, tls_args, &server_only) != 0) {
        mbt_daemon_cleanup(&srv.d);
        return 1;
    }
    RUN(test_allowed_certificate);
    RUN(test_typed_identities);
    RUN(test_refused_certificates);
    RUN(test_revoked_certificate);
    RUN(test_loose_private_key_refused);
    CHECK(mbt_down(&srv) == 0);
    free(ca_pem);
    free(billing_pem);
    free(billing_key);
    free(stranger_pem);
    free(stranger_key);
    free(rogue_pem);
    free(rogue_key);
    return check_summary();
}
