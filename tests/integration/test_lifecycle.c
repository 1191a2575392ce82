/*
 * test_lifecycle.c - start-up, migrations and shutdown of the real daemon.
 *
 * Covers: `minbilld migrate` on an empty and on a migrated database (and
 * several at once on a fresh one); `serve` refusing a database whose schema
 * is newer than the binary or whose history differs, a key file readable by
 * group or others, a missing or malformed key file and the key file of
 * another database, each with exit status 1, a message naming the problem,
 * and the database left as it was; SIGTERM while clients hammer the daemon
 * (unary calls, Watch streams, API keys created through the CLI): exit 0,
 * clients see answers and then refusals only, one call line per answered
 * call, watches NOT_SERVING then UNAVAILABLE, `event=stopped`, a database that passes
 * `PRAGMA integrity_check` and a WAL that was checkpointed away; SIGINT
 * with one completion-queue thread; connections that never speak HTTP/2
 * not delaying the exit; and a second daemon refused on a served database.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sqlite3.h>

#include "check.h"
#include "common.h"
#include "grpc/health/v1/health.pb-c.h"

#define NOT_SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING
#define SERVING GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING

/* --- small helpers ------------------------------------------------------- */

static int db_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        fprintf(stderr, "  sqlite: %s: %s\n", sql, db ? sqlite3_errmsg(db) : "cannot open");
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

/* Parses "P: N migration(s) applied, schema at M". */
static bool parse_migrate(const char *out, long *applied, long *schema)
{
    const char *p = strstr(out, ": ");
    const char *q = strstr(out, "schema at ");
    if (p == NULL || q == NULL || strstr(out, "migration(s) applied") == NULL)
        return false;
    *applied = strtol(p + 2, NULL, 10);
    *schema = strtol(q + 10, NULL, 10);
    return true;
}

static bool file_exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* A start-up that must fail: exit status 1 (also under valgrind, where a
 * leak on the error path would make it 99), the reason in the log. */
static void check_refused(mbt_server *s, const char *needle)
{
    long from = 0;
    struct stat st;
    if (stat(s->d.log, &st) == 0)
        from = (long)st.st_size;
    int rc = mbt_daemon_start(&s->d, NULL);
    CHECK(rc != 0);
    if (rc == 0) {
        mbt_stop(s, SIGTERM);
        return;
    }
    int es = s->d.exit_status;
    if (!(WIFEXITED(es) && WEXITSTATUS(es) == 1))
        fprintf(stderr, "  refused start-up: waitpid status %#x\n", (unsigned)es);
    CHECK(WIFEXITED(es) && WEXITSTATUS(es) == 1);
    char *log = mbt_read_file(s->d.log);
    const char *mine = log != NULL && (size_t)from <= strlen(log) ? log + from : "";
    CHECK_CONTAINS(mine, needle);
    CHECK(strstr(mine, "event=serving") == NULL);
    free(log);
}

/* --- migrations ----------------------------------------------------------- */

static void test_migrate(void)
{
    mbt_daemon d;
    CHECK(mbt_daemon_init(&d) == 0);
    char out[512];
    long applied = -1, schema = -1;
    const char *args[] = {"migrate", "--db", d.db, NULL};

    CHECK(mbt_run_minbilld(args, out, sizeof out) == 0);
    CHECK(parse_migrate(out, &applied, &schema));
    CHECK_CONTAINS(out, d.db);
    CHECK(applied >= 1);
    CHECK(applied == schema);
    CHECK(mbt_db_long(d.db, "SELECT count(*) FROM schema_migrations") == schema);
    CHECK(mbt_db_long(d.db, "SELECT max(version) FROM schema_migrations") == schema);

    CHECK(mbt_run_minbilld(args, out, sizeof out) == 0);
    long applied2 = -1, schema2 = -1;
    CHECK(parse_migrate(out, &applied2, &schema2));
    CHECK(applied2 == 0);
    CHECK(schema2 == schema);
    CHECK(mbt_db_long(d.db, "SELECT count(*) FROM schema_migrations") == schema);
    mbt_daemon_cleanup(&d);
}

typedef struct migrate_job {
    const char *db;
    int rc;
    char out[512];
    pthread_t th;
} migrate_job;

static void *run_migrate(void *arg)
{
    migrate_job *j = arg;
    const char *args[] = {"migrate", "--db", j->db, NULL};
    j->rc = mbt_run_minbilld(args, j->out, sizeof j->out);
    return NULL;
}

/* Several processes migrating one fresh database at once: each migration
 * is applied exactly once, nobody fails. */
static void test_migrate_concurrently(void)
{
    mbt_daemon d;
    CHECK(mbt_daemon_init(&d) == 0);
    migrate_job jobs[4];
    for (int i = 0; i < 4; i++) {
        jobs[i].db = d.db;
        jobs[i].out[0] = '\0';
        pthread_create(&jobs[i].th, NULL, run_migrate, &jobs[i]);
    }
    long total = 0, schema = -1;
    for (int i = 0; i < 4; i++) {
        pthread_join(jobs[i].th, NULL);
        long applied = -1;
        CHECK(jobs[i].rc == 0);
        CHECK(parse_migrate(jobs[i].out, &applied, &schema));
        total += applied;
    }
    CHECK(total == schema);
    CHECK(mbt_db_long(d.db, "SELECT count(*) FROM schema_migrations") == schema);
    char ok[64];
    CHECK(mbt_db_text(d.db, "PRAGMA integrity_check", ok, sizeof ok) == 0);
    CHECK(strcmp(ok, "ok") == 0);
    mbt_daemon_cleanup(&d);
}

static void test_refuses_foreign_schema(void)
{
    mbt_server s;
    memset(&s, 0, sizeof s);
    CHECK(mbt_daemon_init(&s.d) == 0);
    const char *args[] = {"migrate", "--db", s.d.db, NULL};
    char out[512];
    CHECK(mbt_run_minbilld(args, out, sizeof out) == 0);
    long schema = mbt_db_long(s.d.db, "SELECT max(version) FROM schema_migrations");
    CHECK(schema >= 1);

    /* A migration from a newer minbilld. */
    char sql[256];
    snprintf(sql, sizeof sql,
             "INSERT INTO schema_migrations(version, name) VALUES (%ld, 'from_the_future')",
             schema + 1);
    CHECK(db_exec(s.d.db, sql) == 0);
    check_refused(&s, "newer");
    CHECK(mbt_run_minbilld(args, out, sizeof out) != 0);
    /* Nothing was touched. */
    CHECK(mbt_db_long(s.d.db, "SELECT count(*) FROM schema_migrations") == schema + 1);

    /* Same count, different history. */
    snprintf(sql, sizeof sql,
             "DELETE FROM schema_migrations WHERE version = %ld;"
             "UPDATE schema_migrations SET name = 'someone_elses' WHERE version = 1",
             schema + 1);
    CHECK(db_exec(s.d.db, sql) == 0);
    check_refused(&s, "differs");
    CHECK(mbt_run_minbilld(args, out, sizeof out) != 0);
    mbt_daemon_cleanup(&s.d);
}

/* --- key file ---------------------------------------------------------------- */

static void test_key_file_checks(void)
{
    mbt_server s;
    CHECK(mbt_up(&s, NULL) == 0);
    char key[MBT_KEY_MAX];
    mbt_key(&s, "support", key);
    CHECK(mbt_stop(&s, SIGTERM) == 0);

    /* Readable by others, then by the group. */
    CHECK(chmod(s.d.key_file, 0644) == 0);
    check_refused(&s, "chmod");
    CHECK(chmod(s.d.key_file, 0640) == 0);
    check_refused(&s, "chmod");
    /* Owner read-only is fine. */
    CHECK(chmod(s.d.key_file, 0400) == 0);
    CHECK(mbt_serve(&s, NULL) == 0);
    CHECK(mbt_stop(&s, SIGTERM) == 0);
    CHECK(chmod(s.d.key_file, 0600) == 0);

    /* The key file of another database, a missing one, a short one. */
    char saved[sizeof s.d.key_file];
    memcpy(saved, s.d.key_file, sizeof saved);
    snprintf(s.d.key_file, sizeof s.d.key_file, "%s/other.key", s.d.dir);
    const char *init[] = {"keys", "init", "--key-file", s.d.key_file, NULL};
    CHECK(mbt_run_minbilld(init, NULL, 0) == 0);
    check_refused(&s, "not this database's");
    unlink(s.d.key_file);
    check_refused(&s, "keys init");
    FILE *f = fopen(s.d.key_file, "wb");
    if (f != NULL) {
        fwrite("0123456789abcdef0123456789abcde", 1, 31, f);
        fclose(f);
    }
    chmod(s.d.key_file, 0600);
    check_refused(&s, "32 bytes");
    unlink(s.d.key_file);
    memcpy(s.d.key_file, saved, sizeof saved);

    /* None of that harmed the database: the right key file still works and
     * so does the API key made before. */
    CHECK(mbt_serve(&s, NULL) == 0);
    CHECK(mbt_health_ok(s.ch));
    mb_error st;
    CHECK(mbt_auth_passed(mbt_call(s.ch, "/minbill.v1.Accounts/GetAccount", key, "", 0, &st)));
    CHECK(mbt_down(&s) == 0);
}

/* --- shutdown ------------------------------------------------------------------ */

enum load_kind { LOAD_CHECK, LOAD_AUTHED, LOAD_WATCH, LOAD_KEYS };

typedef struct load {
    enum load_kind kind;
    mbt_server *s;
    const char *key;
    atomic_int *ready;
    atomic_int *stop;
    int ok, unavailable, other, last_serving, updates;
    grpc_status_code end; /* final status of a watch */
    pthread_t th;
} load;

static void *load_thread(void *arg)
{
    load *l = arg;
    double until = mbt_now() + mbt_ms(30000) / 1000.0;
    if (l->kind == LOAD_KEYS) {
        /* Writes through a second process while the daemon stops. */
        while (!atomic_load(l->stop) && mbt_now() < until) {
            char key[MBT_KEY_MAX];
            if (mbt_daemon_api_key(&l->s->d, "finance", key, sizeof key) == 0)
                l->ok++;
            else
                l->other++;
            if (l->ok == 1)
                atomic_fetch_add(l->ready, 1);
        }
        return NULL;
    }
    mbc_channel_t *ch = mbc_channel_new(l->s->d.target);
    mb_error st;
    if (l->kind == LOAD_WATCH) {
        mbc_call_t *w = mbt_watch_start(ch, "", 0);
        int serving;
        while (mbt_watch_next(w, &serving) == 1) {
            if (l->updates++ == 0)
                atomic_fetch_add(l->ready, 1);
            l->last_serving = serving;
        }
        l->end = mbc_call_finish(w, &st) == 0 ? GRPC_STATUS_OK : st.code;
        mbc_call_free(w);
    } else {
        const char *method =
            l->kind == LOAD_CHECK ? MBT_HEALTH_CHECK : "/minbill.v1.Accounts/GetAccount";
        /* A GetAccount for an account that does not exist: authenticated,
         * then a read (or UNIMPLEMENTED where the handler is not built). */
        const char *req = l->kind == LOAD_CHECK ? ""
                                                : "\x0a\x08"
                                                  "acc_0001";
        size_t len = strlen(req);
        while (mbt_now() < until) {
            int code = mbt_call(ch, method, l->key, req, len, &st);
            if (l->kind == LOAD_CHECK ? code == GRPC_STATUS_OK : mbt_auth_passed(code)) {
                if (l->ok++ == 0)
                    atomic_fetch_add(l->ready, 1);
                continue;
            }
            /* Refused by the shutdown. UNAVAILABLE once the client saw the
             * GOAWAY; CANCELLED for a call that reached the server after
             * its shutdown began but before the GOAWAY reached the client:
             * gRPC core drops such unmatched calls as CANCELLED
             * (grpc/grpc#41785). The daemon never saw those calls. */
            if (code == GRPC_STATUS_UNAVAILABLE || code == GRPC_STATUS_CANCELLED) {
                l->unavailable++;
            } else {
                l->other++;
                fprintf(stderr, "  %s during shutdown: %s (%s)\n", method, mb_status_name(st.code),
                        st.msg);
            }
            break;
        }
    }
    mbc_channel_free(ch);
    return NULL;
}

static void test_sigterm_under_load(void)
{
    mbt_server s;
    const char *const two[] = {"--threads", "2", NULL};
    CHECK(mbt_up(&s, two) == 0);
    char key[MBT_KEY_MAX];
    mbt_key(&s, "support", key);
    long keys_before = mbt_db_long(s.d.db, "SELECT count(*) FROM api_keys");

    atomic_int ready = 0, stop = 0;
    enum load_kind kinds[] = {LOAD_CHECK, LOAD_CHECK, LOAD_CHECK, LOAD_AUTHED, LOAD_AUTHED,
                              LOAD_WATCH, LOAD_WATCH, LOAD_WATCH, LOAD_WATCH,  LOAD_KEYS};
    enum { N = sizeof kinds / sizeof *kinds };
    load loads[N];
    memset(loads, 0, sizeof loads);
    for (int i = 0; i < N; i++) {
        loads[i] = (load){.kind = kinds[i],
                          .s = &s,
                          .key = key,
                          .ready = &ready,
                          .stop = &stop,
                          .last_serving = -1,
                          .end = GRPC_STATUS_OK};
        pthread_create(&loads[i].th, NULL, load_thread, &loads[i]);
    }
    /* Everyone is busy (and every watch registered) before the signal. */
    double until = mbt_now() + mbt_ms(10000) / 1000.0;
    while (atomic_load(&ready) < N && mbt_now() < until)
        mbt_sleep_ms(10);
    CHECK(atomic_load(&ready) == N);
    mbt_sleep_ms(mbt_ms(300));

    double t0 = mbt_now();
    CHECK(mbt_stop(&s, SIGTERM) == 0);
    double took = mbt_now() - t0;
    atomic_store(&stop, 1);
    for (int i = 0; i < N; i++)
        pthread_join(loads[i].th, NULL);
    if (!mbt_wrapped())
        CHECK(took < 5.0);

    int calls = 0, keys_made = 0, checks = 0;
    for (int i = 0; i < N; i++) {
        const load *l = &loads[i];
        switch (l->kind) {
        case LOAD_CHECK:
        case LOAD_AUTHED:
            calls += l->ok;
            checks += l->kind == LOAD_CHECK ? l->ok : 0;
            CHECK(l->other == 0);       /* only answers, then refusals */
            CHECK(l->unavailable == 1); /* each loop ended by the shutdown */
            break;
        case LOAD_WATCH:
            CHECK(l->updates == 2);
            CHECK(l->last_serving == NOT_SERVING);
            CHECK(l->end == GRPC_STATUS_UNAVAILABLE);
            break;
        case LOAD_KEYS:
            keys_made = l->ok;
            CHECK(l->other == 0);
            break;
        }
    }
    fprintf(stderr, "  %d calls and %d new API keys before and during the shutdown (%.2f s)\n",
            calls, keys_made, took);
    CHECK(calls > 0);

    /* The database closed cleanly: intact, WAL checkpointed and removed,
     * and every key the CLI reported is there. */
    char wal[MBT_PATH + 40];
    snprintf(wal, sizeof wal, "%s-wal", s.d.db);
    CHECK(!file_exists(wal));
    char ok[64];
    CHECK(mbt_db_text(s.d.db, "PRAGMA integrity_check", ok, sizeof ok) == 0);
    CHECK(strcmp(ok, "ok") == 0);
    CHECK(mbt_db_long(s.d.db, "SELECT count(*) FROM api_keys") == keys_before + keys_made);
    /* Every call the daemon accepted, it finished properly. */
    CHECK(mbt_log_count(&s, "event=call", "status=INTERNAL") == 0);
    CHECK(mbt_log_count(&s, "method=/grpc.health.v1.Health/Check", "status=CANCELLED") == 0);
    CHECK(mbt_log_count(&s, "method=/minbill.v1.Accounts/GetAccount", "status=CANCELLED") == 0);
    /* Call lines are written per pass of a server thread (log.h): every call
     * answered before and during the shutdown has its line, none twice. */
    int check_lines = mbt_log_count(&s, "event=call", "method=" MBT_HEALTH_CHECK " ");
    int account_lines = mbt_log_count(&s, "event=call", "method=/minbill.v1.Accounts/GetAccount");
    if (check_lines != checks || account_lines != calls - checks)
        fprintf(stderr, "  call lines: %d Health/Check for %d answered, %d GetAccount for %d\n",
                check_lines, checks, account_lines, calls - checks);
    CHECK(check_lines == checks);
    CHECK(account_lines == calls - checks);
    mbt_down(&s);
}

static void test_sigint(void)
{
    mbt_server s;
    /* One completion-queue thread: an open Watch must not block it. */
    const char *const one[] = {"--threads", "1", NULL};
    CHECK(mbt_up(&s, one) == 0);
    mbc_call_t *w = mbt_watch_start(s.ch, "", 0);
    int serving = -1;
    CHECK(mbt_watch_next(w, &serving) == 1);
    CHECK(serving == SERVING);
    CHECK(mbt_health_ok(s.ch));
    CHECK(mbt_stop(&s, SIGINT) == 0);
    mb_error st;
    mbt_call_end(w, &st);
    CHECK_STATUS(st, GRPC_STATUS_UNAVAILABLE);
    mbc_call_free(w);
    CHECK(mbt_log_count(&s, "event=shutdown", "signal=INT") == 1);
    mbt_down(&s);
}

/* A TCP connection that sends something other than HTTP/2 is dropped at
 * once; one that connects and says nothing (a load balancer's TCP probe, a
 * port scan, a client that vanished mid-handshake) must not hold up the
 * exit either: no call is in flight, so there is nothing to wait for. */
static void check_stop_with_connection(const char *send, const char *what)
{
    mbt_server s;
    CHECK(mbt_up(&s, NULL) == 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)s.d.port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0);
    if (send != NULL)
        CHECK(write(fd, send, strlen(send)) == (ssize_t)strlen(send));
    mbt_sleep_ms(mbt_ms(100));
    CHECK(mbt_health_ok(s.ch));
    double t0 = mbt_now();
    int rc = mbt_stop(&s, SIGTERM); /* fails if the 10 s grace ran out */
    double took = mbt_now() - t0;
    if (rc != 0 || took >= 5.0)
        fprintf(stderr, "  with %s open, the daemon took %.1f s to stop\n", what, took);
    CHECK(rc == 0);
    if (!mbt_wrapped())
        CHECK(took < 5.0);
    close(fd);
    mbt_down(&s);
}

static void test_stop_with_junk_connection(void)
{
    check_stop_with_connection("GET / HTTP/1.1\r\nHost: x\r\n\r\n", "an HTTP/1.1 connection");
}

static void test_stop_with_silent_connection(void)
{
    check_stop_with_connection(NULL, "a silent TCP connection");
}

/* One daemon per database: each keeps its own idempotency filter, so a
 * second one would count the same usage again. The second `serve` is
 * refused (exit 1, naming the first one's pid) while the tools that work
 * beside a daemon keep working; once the first stops, it may serve. */
static void test_two_daemons_one_database(void)
{
    mbt_server a, b;
    CHECK(mbt_up(&a, NULL) == 0);
    memset(&b, 0, sizeof b);
    b.d = a.d;
    b.d.pid = 0;
    snprintf(b.d.log, sizeof b.d.log, "%s/second.log", a.d.dir);
    char pid[48];
    snprintf(pid, sizeof pid, "another minbilld (pid %ld)", (long)a.d.pid);
    check_refused(&b, pid);
    char key[MBT_KEY_MAX];
    mbt_key(&a, "finance", key); /* keys create-api-key beside the daemon */
    CHECK(key[0] != '\0');
    const char *args[] = {"keys", "list-api-keys", "--db", a.d.db, NULL};
    char out[4096];
    CHECK(mbt_run_minbilld(args, out, sizeof out) == 0);
    mb_error st;
    CHECK(mbt_health_ok(a.ch));
    CHECK(mbt_auth_passed(mbt_call(a.ch, "/minbill.v1.Accounts/GetAccount", key, "", 0, &st)));
    CHECK(mbt_stop(&a, SIGTERM) == 0);
    CHECK(mbt_serve(&b, NULL) == 0);
    CHECK(b.ch != NULL && mbt_health_ok(b.ch));
    unlink(a.d.log);
    CHECK(mbt_down(&b) == 0);
}

int main(void)
{
    RUN(test_migrate);
    RUN(test_migrate_concurrently);
    RUN(test_refuses_foreign_schema);
    RUN(test_key_file_checks);
    RUN(test_sigterm_under_load);
    RUN(test_sigint);
    RUN(test_stop_with_junk_connection);
    RUN(test_stop_with_silent_connection);
    RUN(test_two_daemons_one_database);
    return check_summary();
}
