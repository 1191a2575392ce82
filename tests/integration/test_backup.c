/*
 * test_backup.c - `minbilld backup` against a serving daemon: the copy is
 * made while accounts are being written, is 0600, is one consistent
 * snapshot (of accounts upserted one after another it holds exactly the
 * first k, for some k), never overwrites a file, and restores: a daemon
 * started on the copy with the same key file serves the accounts in it,
 * decrypting their fields.
 */
#include <dirent.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "common.h"
#include "fixtures.h"
#include "minbill/v1/accounts.pb-c.h"

#define GET "/minbill.v1.Accounts/GetAccount"

static mbt_server srv;
static char platform[MBT_KEY_MAX], support[MBT_KEY_MAX];
static char backup[MBT_PATH + 64];

static int upsert(const char *id)
{
    return mbt_upsert_account(srv.ch, platform, id, "Autohaus Backup GmbH", NULL, NULL, 0, 10000,
                              NULL);
}

typedef struct backup_run {
    int exit_code;
    int done;
} backup_run;

static void *run_backup(void *arg)
{
    backup_run *b = arg;
    const char *args[] = {"backup", "--db", srv.d.db, "--to", backup, NULL};
    b->exit_code = mbt_run_minbilld(args, NULL, 0);
    __atomic_store_n(&b->done, 1, __ATOMIC_RELEASE);
    return NULL;
}

static int written; /* b-0 .. b-(written-1) were acknowledged */

static void test_backup_while_writing(void)
{
    snprintf(backup, sizeof backup, "%s/backup.db", srv.d.dir);
    for (int i = 0; i < 20; i++) {
        char id[16];
        snprintf(id, sizeof id, "a-%d", i);
        CHECK(upsert(id) == GRPC_STATUS_OK);
    }
    backup_run b = {.exit_code = -1};
    pthread_t th;
    CHECK(pthread_create(&th, NULL, run_backup, &b) == 0);
    /* Accounts go in one after another while the copy is taken, and a
     * few more after it, so the snapshot falls somewhere inside the run. */
    int after = 0;
    while (after < 50 && written < 20000) {
        char id[16];
        snprintf(id, sizeof id, "b-%d", written);
        if (upsert(id) != GRPC_STATUS_OK)
            break;
        written++;
        if (__atomic_load_n(&b.done, __ATOMIC_ACQUIRE))
            after++;
    }
    pthread_join(th, NULL);
    CHECK(b.exit_code == 0);
    struct stat sb;
    CHECK(stat(backup, &sb) == 0 && (sb.st_mode & 0777) == 0600);
    fprintf(stderr, "   %d accounts written around the backup\n", written);

    /* A second backup to the same file is refused and leaves it alone. */
    const char *again[] = {"backup", "--db", srv.d.db, "--to", backup, NULL};
    CHECK(mbt_run_minbilld(again, NULL, 0) == 1);
    struct stat sb2;
    CHECK(stat(backup, &sb2) == 0 && sb2.st_size == sb.st_size && sb2.st_mtime == sb.st_mtime);

    /* Not even an empty file someone else put there (it would receive the
     * whole database), nor an SQLite URI; a failed backup leaves no file and
     * no work directory behind. */
    char planted[MBT_PATH + 64], other[MBT_PATH + 64];
    snprintf(planted, sizeof planted, "%s/planted.db", srv.d.dir);
    FILE *f = fopen(planted, "w");
    CHECK(f != NULL && fclose(f) == 0 && chmod(planted, 0644) == 0);
    const char *onto[] = {"backup", "--db", srv.d.db, "--to", planted, NULL};
    CHECK(mbt_run_minbilld(onto, NULL, 0) == 1);
    CHECK(stat(planted, &sb2) == 0 && sb2.st_size == 0);
    snprintf(other, sizeof other, "file:%s/uri.db?vfs=unix-none", srv.d.dir);
    const char *uri[] = {"backup", "--db", srv.d.db, "--to", other, NULL};
    CHECK(mbt_run_minbilld(uri, NULL, 0) == 1);
    snprintf(other, sizeof other, "%s/never.db", srv.d.dir);
    const char *missing[] = {"backup", "--db", "/nonexistent/minbill.db", "--to", other, NULL};
    CHECK(mbt_run_minbilld(missing, NULL, 0) == 1);
    CHECK(access(other, F_OK) != 0);
    DIR *d = opendir(srv.d.dir);
    int leftovers = 0;
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;)
        leftovers += strncmp(e->d_name, ".minbill-backup-", 16) == 0 ||
                     strncmp(e->d_name, "uri.db", 6) == 0;
    if (d != NULL)
        closedir(d);
    CHECK(leftovers == 0);
}

static void test_restore(void)
{
    long in_copy = mbt_db_long(backup, "SELECT count(*) FROM accounts WHERE account_id LIKE 'b-%'");
    long top = mbt_db_long(backup, "SELECT coalesce(max(CAST(substr(account_id, 3) AS INTEGER)),"
                                   " -1) FROM accounts WHERE account_id LIKE 'b-%'");
    fprintf(stderr, "   the copy holds b-0 .. b-%ld (%ld accounts)\n", top, in_copy);
    /* One snapshot: a prefix of what was written, nothing missing in it. */
    CHECK(in_copy >= 0 && in_copy <= written && top == in_copy - 1);
    CHECK(mbt_db_long(backup, "SELECT count(*) FROM accounts WHERE account_id LIKE 'a-%'") == 20);

    CHECK(mbt_stop(&srv, SIGTERM) == 0);
    char path[MBT_PATH + 64];
    for (const char *suffix = "-wal"; suffix != NULL; suffix = suffix[1] == 'w' ? "-shm" : NULL) {
        snprintf(path, sizeof path, "%s%s", srv.d.db, suffix);
        unlink(path);
    }
    CHECK(rename(backup, srv.d.db) == 0);
    CHECK(mbt_serve(&srv, NULL) == 0);

    /* The API keys, the accounts and their encrypted fields came back (the
     * legal name is sealed under the account's data key). */
    Minbill__V1__GetAccountRequest req = MINBILL__V1__GET_ACCOUNT_REQUEST__INIT;
    req.account_id = "a-7";
    ProtobufCMessage *resp = NULL;
    mb_error st;
    mbc_unary(srv.ch, GET, support, &req.base, &minbill__v1__account__descriptor, 10000, &resp,
              &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    Minbill__V1__Account *a = (void *)resp;
    CHECK(a != NULL && strcmp(a->legal_name, "Autohaus Backup GmbH") == 0);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    char id[16];
    snprintf(id, sizeof id, "b-%ld", in_copy);
    req.account_id = id; /* the first account the copy does not hold */
    resp = NULL;
    mbc_unary(srv.ch, GET, support, &req.base, &minbill__v1__account__descriptor, 10000, &resp,
              &st);
    CHECK_STATUS(st, in_copy < written ? GRPC_STATUS_NOT_FOUND : GRPC_STATUS_OK);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
}

int main(void)
{
    if (mbt_up(&srv, NULL) != 0)
        return 1;
    mbt_key(&srv, "platform", platform);
    mbt_key(&srv, "support", support);
    RUN(test_backup_while_writing);
    RUN(test_restore);
    CHECK(mbt_down(&srv) == 0);
    return check_summary();
}
