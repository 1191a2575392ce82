/*
 * test_rotation.c - master key rotation while the daemon serves: writes keep
 * succeeding during `minbilld keys rotate`, no rotation transaction holds
 * the write lock for 100 ms, afterwards every data key and secret is wrapped
 * by the new version, and the old key is needed by nothing but the backups
 * taken before: the restarted daemon reads everything (API keys, account
 * reveals, card reveals) with the new key file alone, and refuses to start
 * on the old one, which the rotation kept as <key file>.v1 (0600) so that a
 * backup taken before the rotation can still be restored. A daemon serving
 * through 30 rotations under load keeps reading and writing encrypted data.
 */
#include <sys/stat.h>
#include <pthread.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <unistd.h>

#include "check.h"
#include "common.h"
#include "fixtures.h"
#include "minbill/v1/accounts.pb-c.h"

#define GET "/minbill.v1.Accounts/GetAccount"
#define ACCOUNTS 40

static mbt_server srv;
static char backup_before[MBT_PATH + 40], retired[MBT_PATH + 40];
static char platform[MBT_KEY_MAX], payments[MBT_KEY_MAX], privacy[MBT_KEY_MAX];
static char tokens[ACCOUNTS][32];
static atomic_int stop_writer, writes_ok, writes_failed;

static int upsert(mbc_channel_t *ch, const char *id)
{
    Minbill__V1__Contact c = MINBILL__V1__CONTACT__INIT, *cp = &c;
    c.contact_id = "c1";
    c.role = MINBILL__V1__CONTACT_ROLE__CONTACT_ROLE_BILLING;
    c.name = "Jane Doe";
    c.email = "jane.doe@example.de";
    return mbt_upsert_account(ch, platform, id, "Autohaus Example GmbH", NULL, &cp, 1, 20000, NULL);
}

static int attach(const char *account, const char *pan, char *token_out)
{
    return mbt_attach_card(srv.ch, platform, account, pan, NULL, token_out, 32, 20000);
}

/* A distinct valid Visa number per i (Luhn check digit computed). */
static void make_pan(int i, char out[17])
{
    char body[16];
    snprintf(body, sizeof body, "411111%09u", (unsigned)i % 1000000000u);
    mbt_luhn_pan(body, out);
}

static int reveal_pan(const char *token, char *pan_out)
{
    return mbt_reveal_card(srv.ch, payments, token, "collect-payment:rotation-test", pan_out, 20,
                           20000);
}

static int revealed_email(const char *account, char *email_out)
{
    Minbill__V1__GetAccountRequest req = MINBILL__V1__GET_ACCOUNT_REQUEST__INIT;
    req.account_id = (char *)account;
    req.reveal = 1;
    ProtobufCMessage *resp = NULL;
    mb_error st;
    mbc_unary(srv.ch, GET, privacy, &req.base, &minbill__v1__account__descriptor, 20000, &resp,
              &st);
    Minbill__V1__Account *a = (void *)resp;
    if (a != NULL && a->n_contacts > 0)
        snprintf(email_out, 64, "%s", a->contacts[0]->email);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    return st.code;
}

static void *writer_main(void *arg)
{
    (void)arg;
    mbc_channel_t *ch = mbc_channel_new(srv.d.target);
    for (int i = 0; !atomic_load(&stop_writer); i++) {
        char id[32];
        snprintf(id, sizeof id, "during-%d", i);
        int code = upsert(ch, id);
        if (code == GRPC_STATUS_OK) {
            atomic_fetch_add(&writes_ok, 1);
        } else {
            atomic_fetch_add(&writes_failed, 1);
            fprintf(stderr, "   write during rotation failed: %s\n", mb_status_name(code));
        }
    }
    mbc_channel_free(ch);
    return NULL;
}

static int read_key(const char *path, unsigned char out[32])
{
    FILE *f = fopen(path, "rb");
    size_t n = f != NULL ? fread(out, 1, 32, f) : 0;
    if (f != NULL)
        fclose(f);
    return n == 32 ? 0 : -1;
}

static int rotate(char *out, size_t size)
{
    const char *args[] = {"keys", "rotate", "--db", srv.d.db, "--key-file", srv.d.key_file, NULL};
    return mbt_run_minbilld(args, out, size);
}

/* "(longest 12.3 ms)" in the rotate report. */
static double longest_ms(const char *report)
{
    const char *p = strstr(report, "(longest ");
    return p != NULL ? atof(p + 9) : 1e9;
}

static void test_rotate_while_serving(void)
{
    char pan[20];
    for (int i = 0; i < ACCOUNTS; i++) {
        char id[32], p[17];
        snprintf(id, sizeof id, "before-%d", i);
        make_pan(i, p);
        CHECK(upsert(srv.ch, id) == GRPC_STATUS_OK);
        CHECK(attach(id, p, tokens[i]) == GRPC_STATUS_OK);
    }
    unsigned char old_key[32], new_key[32], retired_key[32];
    CHECK(read_key(srv.d.key_file, old_key) == 0);
    const char *backup_args[] = {"backup", "--db", srv.d.db, "--to", backup_before, NULL};
    snprintf(backup_before, sizeof backup_before, "%s/before-rotation.db", srv.d.dir);
    CHECK(mbt_run_minbilld(backup_args, NULL, 0) == 0);

    pthread_t th;
    pthread_create(&th, NULL, writer_main, NULL);
    mbt_sleep_ms(200);
    char report[1024];
    int rc = rotate(report, sizeof report);
    mbt_sleep_ms(200);
    atomic_store(&stop_writer, 1);
    pthread_join(th, NULL);
    fprintf(stderr, "   %s   writes during rotation: %d ok, %d failed\n", report,
            atomic_load(&writes_ok), atomic_load(&writes_failed));
    CHECK(rc == 0);
    CHECK_CONTAINS(report, "from version 1 to 2");
    snprintf(retired, sizeof retired, "%s.v1", srv.d.key_file);
    CHECK_CONTAINS(report, retired);
    /* The 100 ms bound is the release build's; the sanitizers make each
     * re-wrap several times slower, more so on a loaded machine. */
    CHECK(longest_ms(report) < (mbt_instrumented() ? 400.0 : 100.0));
    CHECK(atomic_load(&writes_ok) > 0 && atomic_load(&writes_failed) == 0);
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM data_keys WHERE master_version <> 2") == 0);
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM keyring_secrets WHERE master_version <> 2") == 0);

    /* The key file now holds the new key; <key file>.v1 the old one. */
    CHECK(read_key(srv.d.key_file, new_key) == 0 && memcmp(old_key, new_key, 32) != 0);
    struct stat st;
    CHECK(stat(retired, &st) == 0 && (st.st_mode & 0777) == 0600);
    CHECK(read_key(retired, retired_key) == 0 && memcmp(old_key, retired_key, 32) == 0);
    char next[MBT_PATH + 40];
    snprintf(next, sizeof next, "%s.next", srv.d.key_file);
    CHECK(access(next, F_OK) != 0);

    /* The running daemon reads old and new data and writes with version 2. */
    CHECK(reveal_pan(tokens[3], pan) == GRPC_STATUS_OK);
    char want[17];
    make_pan(3, want);
    CHECK(strcmp(pan, want) == 0);
    char tok[32];
    make_pan(ACCOUNTS + 1, want);
    CHECK(attach("before-0", want, tok) == GRPC_STATUS_OK);
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM data_keys WHERE master_version <> 2") == 0);
    memset(old_key, 0, sizeof old_key);
}

static void test_old_key_needed_for_nothing(void)
{
    /* Restart on the new key file alone. */
    CHECK(mbt_stop(&srv, SIGTERM) == 0);
    CHECK(mbt_serve(&srv, NULL) == 0);
    char pan[20] = "", want[17], email[64] = "";
    CHECK(reveal_pan(tokens[ACCOUNTS - 1], pan) == GRPC_STATUS_OK); /* API keys still verify */
    make_pan(ACCOUNTS - 1, want);
    CHECK(strcmp(pan, want) == 0);
    CHECK(revealed_email("before-7", email) == GRPC_STATUS_OK);
    CHECK(strcmp(email, "jane.doe@example.de") == 0);
    CHECK(revealed_email("during-0", email) == GRPC_STATUS_OK);
    CHECK(strcmp(email, "jane.doe@example.de") == 0);

    /* A second rotation works the same way. */
    char report[1024];
    CHECK(rotate(report, sizeof report) == 0);
    CHECK_CONTAINS(report, "from version 2 to 3");
    CHECK(reveal_pan(tokens[0], pan) == GRPC_STATUS_OK);

    /* Both rotations are admin actions in the audit trail. */
    CHECK(mbt_db_long(srv.d.db,
                      "SELECT count(*) FROM audit_events WHERE action ="
                      " 'master_key.rotate' AND target_id IN"
                      " ('master-key-v2', 'master-key-v3') AND actor_role = 'admin'") == 2);
}

/* The backup taken before the first rotation, restored beside the running
 * daemon with the key file that rotation retired: it serves and reveals. */
static void test_backup_needs_retired_key(void)
{
    mbt_server b;
    memset(&b, 0, sizeof b);
    CHECK(mbt_daemon_init(&b.d) == 0);
    CHECK(rename(backup_before, b.d.db) == 0);
    CHECK(strlen(retired) < sizeof b.d.key_file);
    memcpy(b.d.key_file, retired, strlen(retired) + 1);
    CHECK(mbt_serve(&b, NULL) == 0);
    char pan[20] = "", want[17];
    CHECK(b.ch != NULL && mbt_reveal_card(b.ch, payments, tokens[5], "collect-payment:restore-test", pan,
                                          sizeof pan, 20000) == GRPC_STATUS_OK);
    make_pan(5, want);
    CHECK(strcmp(pan, want) == 0);
    CHECK(mbt_down(&b) == 0);
}

/* 30 rotations while the daemon serves and writes: it never runs out of
 * room for master keys (it did after 15), and reads and writes encrypted
 * data after the last one without a restart. */
static void test_thirty_rotations_under_load(void)
{
    atomic_store(&stop_writer, 0);
    atomic_store(&writes_failed, 0);
    pthread_t th;
    pthread_create(&th, NULL, writer_main, NULL);
    int failed = 0, first = 0;
    char report[1024];
    for (int i = 0; i < 30; i++) {
        if (rotate(report, sizeof report) != 0 && failed++ == 0)
            fprintf(stderr, "   rotation %d failed: %s\n", i + 1, report);
        char pan[20] = "";
        int code = reveal_pan(tokens[i % ACCOUNTS], pan);
        if (code != GRPC_STATUS_OK && first == 0) {
            first = i + 1;
            fprintf(stderr, "   after rotation %d: reveal %s\n", i + 1, mb_status_name(code));
        }
    }
    atomic_store(&stop_writer, 1);
    pthread_join(th, NULL);
    CHECK(failed == 0);
    CHECK(first == 0);
    CHECK(atomic_load(&writes_failed) == 0);
    CHECK_CONTAINS(report, "from version 32 to 33");
    char pan[20] = "", want[17], tok[32];
    make_pan(ACCOUNTS + 2, want);
    CHECK(attach("before-1", want, tok) == GRPC_STATUS_OK);
    CHECK(reveal_pan(tok, pan) == GRPC_STATUS_OK && strcmp(pan, want) == 0);
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM data_keys WHERE master_version <> 33") == 0);
}

int main(void)
{
    if (mbt_up(&srv, NULL) != 0)
        return 1;
    mbt_key(&srv, "platform", platform);
    mbt_key(&srv, "payments", payments);
    mbt_key(&srv, "privacy", privacy);
    RUN(test_rotate_while_serving);
    RUN(test_old_key_needed_for_nothing);
    RUN(test_backup_needs_retired_key);
    RUN(test_thirty_rotations_under_load);
    CHECK(mbt_down(&srv) == 0);
    return check_summary();
}
