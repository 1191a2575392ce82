/*
 * common.c - see common.h.
 */
#include "common.h"

#include <sqlite3.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "grpc/health/v1/health.pb-c.h"

/* Lines that never belong in the daemon's log (= its stderr): sanitizer
 * reports, and the runtime's "cannot happen" events, which mean a call was
 * mishandled even if every client got an answer. */
static const char *const BAD_MARKS[] = {
    "ERROR: AddressSanitizer",
    "ERROR: LeakSanitizer",
    "runtime error:",
    "WARNING: ThreadSanitizer",
    "Sanitizer has encountered a fatal error",
    "event=start_batch_failed",
    "event=double_finish",
    "event=post_request_failed",
};

bool mbt_wrapped(void)
{
    const char *w = getenv("MINBILL_DAEMON_WRAPPER");
    return w != NULL && w[0] != '\0';
}

bool mbt_instrumented(void)
{
#if defined(__SANITIZE_ADDRESS__)
    return true;
#else
    return mbt_wrapped();
#endif
}

int mbt_ms(int ms)
{
    return mbt_wrapped() ? ms * 20 : ms;
}

int mbt_deadline_ms(int ms)
{
    return mbt_wrapped() ? ms * 5 : ms;
}

double mbt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void mbt_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static long log_size(const mbt_server *s)
{
    struct stat st;
    return stat(s->d.log, &st) == 0 ? (long)st.st_size : 0;
}

/*
 * A C-core client that is not inside a call polls its connections only from
 * the backup poller, every 5 s by default. The daemon's shutdown waits for
 * its clients to acknowledge the GOAWAY, so an idle test channel would add
 * up to 5 s to every stop (and hide real slowness). Real clients read their
 * sockets all the time; make ours do too. Must run before grpc_init().
 */
static void client_env(void)
{
    setenv("GRPC_CLIENT_CHANNEL_BACKUP_POLL_INTERVAL_MS", "50", 0);
}

int mbt_up(mbt_server *s, const char *const *extra_args)
{
    client_env();
    memset(s, 0, sizeof *s);
    if (mbt_daemon_init(&s->d) != 0)
        return -1;
    return mbt_serve(s, extra_args);
}

int mbt_serve(mbt_server *s, const char *const *extra_args)
{
    return mbt_serve_tls(s, extra_args, NULL);
}

int mbt_serve_tls(mbt_server *s, const char *const *extra_args, const mbc_tls *tls)
{
    client_env();
    s->log_from = log_size(s);
    if (mbt_daemon_start(&s->d, extra_args) != 0)
        return -1;
    s->ch = mbc_channel_new_tls(s->d.target, tls);
    if (s->ch == NULL || mbc_channel_wait_ready(s->ch, mbt_ms(5000)) != 0) {
        fprintf(stderr, "common: cannot connect to minbilld on %s\n", s->d.target);
        return -1;
    }
    return 0;
}

/* Prints the last lines of the daemon log, for failures seen only there. */
static void print_log_tail(const mbt_server *s, long from)
{
    char *log = mbt_read_file(s->d.log);
    if (log == NULL)
        return;
    size_t len = strlen(log);
    const char *start = log + ((size_t)from < len ? (size_t)from : len);
    if (strlen(start) > 6000)
        start += strlen(start) - 6000;
    fprintf(stderr, "---- %s (tail) ----\n%s---- end of log ----\n", s->d.log, start);
    free(log);
}

int mbt_stop(mbt_server *s, int sig)
{
    int problems = 0;
    long from = s->log_from;
    if (s->d.pid <= 0) {
        fprintf(stderr, "common: minbilld is not running\n");
        problems++;
    } else {
        /* The grace period is 10 s; valgrind's leak check at exit is slow. */
        int status = 0;
        if (mbt_daemon_stop(&s->d, sig, mbt_wrapped() ? 180 : 30, &status) != 0) {
            fprintf(stderr, "common: minbilld did not exit after signal %d (killed)\n", sig);
            problems++;
        } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            if (WIFEXITED(status))
                fprintf(stderr, "common: minbilld exited with status %d%s\n", WEXITSTATUS(status),
                        WEXITSTATUS(status) == 99 ? " (valgrind found errors)" : "");
            else
                fprintf(stderr, "common: minbilld died of signal %d\n", WTERMSIG(status));
            problems++;
        }
    }
    mbc_channel_free(s->ch);
    s->ch = NULL;

    char *log = mbt_read_file(s->d.log);
    const char *mine = log;
    if (log != NULL && (size_t)from <= strlen(log))
        mine = log + from;
    /* The whole field, so that a logged request path cannot fake it. */
    if (mine == NULL || strstr(mine, " level=info event=stopped\n") == NULL) {
        fprintf(stderr, "common: the log has no event=stopped line\n");
        problems++;
    }
    for (size_t i = 0; mine != NULL && i < sizeof BAD_MARKS / sizeof *BAD_MARKS; i++) {
        if (strstr(mine, BAD_MARKS[i]) != NULL) {
            fprintf(stderr, "common: the log holds \"%s\"\n", BAD_MARKS[i]);
            problems++;
        }
    }
    /* Every call in these tests is short: a call still running when the
     * grace ran out means a call the daemon forgot to finish. */
    if (mine != NULL && strstr(mine, "event=shutdown_grace_expired") != NULL) {
        fprintf(stderr, "common: the shutdown grace expired (a call was never finished)\n");
        problems++;
    }
    free(log);
    if (problems > 0)
        print_log_tail(s, from);
    return problems > 0 ? -1 : 0;
}

int mbt_down(mbt_server *s)
{
    int rc = s->d.pid > 0 ? mbt_stop(s, SIGTERM) : 0;
    mbc_channel_free(s->ch);
    s->ch = NULL;
    mbt_daemon_cleanup(&s->d);
    return rc;
}

void mbt_key(mbt_server *s, const char *role, char out[MBT_KEY_MAX])
{
    if (mbt_daemon_api_key(&s->d, role, out, MBT_KEY_MAX) != 0) {
        fprintf(stderr, "common: keys create-api-key --role %s failed\n", role);
        out[0] = '\0';
    }
}

int mbt_call(mbc_channel_t *ch, const char *method, const char *api_key, const void *req,
             size_t len, mb_error *st)
{
    uint8_t *resp = NULL;
    size_t resp_len = 0;
    mbc_unary_raw(ch, method, api_key, req, len, mbt_ms(5000), &resp, &resp_len, st);
    free(resp);
    return (int)st->code;
}

bool mbt_auth_passed(int code)
{
    switch (code) {
    case GRPC_STATUS_UNAUTHENTICATED:
    case GRPC_STATUS_PERMISSION_DENIED:
    case GRPC_STATUS_UNAVAILABLE:
    case GRPC_STATUS_DEADLINE_EXCEEDED:
    case GRPC_STATUS_CANCELLED:
    case GRPC_STATUS_UNKNOWN:
    case GRPC_STATUS_INTERNAL:
        return false;
    default:
        return true;
    }
}

int mbt_call_authorization(const char *target, const char *method, const char *authorization,
                           const void *req, size_t len, mb_error *st)
{
    return mbt_call_trailer(target, method, authorization, req, len, st, NULL, NULL, NULL);
}

int mbt_call_trailer(const char *target, const char *method, const char *authorization,
                     const void *req, size_t len, mb_error *st, const char *key, uint8_t **value,
                     size_t *value_len)
{
    client_env();
    grpc_init();
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    grpc_channel *chan = grpc_channel_create(target, creds, NULL);
    grpc_channel_credentials_release(creds);
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    grpc_slice m = grpc_slice_from_copied_string(method);
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(mbt_ms(5000), GPR_TIMESPAN));
    grpc_call *call =
        grpc_channel_create_call(chan, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m, NULL, deadline, NULL);
    grpc_slice_unref(m);

    grpc_metadata md;
    memset(&md, 0, sizeof md);
    md.key = grpc_slice_from_static_string("authorization");
    md.value = grpc_slice_from_copied_string(authorization != NULL ? authorization : "");
    grpc_slice body = grpc_slice_from_copied_buffer(req, len);
    grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&body, 1);
    grpc_slice_unref(body);
    grpc_byte_buffer *recv = NULL;
    grpc_metadata_array initial, trailing;
    grpc_metadata_array_init(&initial);
    grpc_metadata_array_init(&trailing);
    grpc_status_code code = GRPC_STATUS_UNKNOWN;
    grpc_slice details = grpc_empty_slice();

    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    if (authorization != NULL) {
        ops[0].data.send_initial_metadata.count = 1;
        ops[0].data.send_initial_metadata.metadata = &md;
    }
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &initial;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv;
    ops[5].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[5].data.recv_status_on_client.status = &code;
    ops[5].data.recv_status_on_client.status_details = &details;
    ops[5].data.recv_status_on_client.trailing_metadata = &trailing;
    int tag = 0;
    bool ok =
        grpc_call_start_batch(call, ops, 6, &tag, NULL) == GRPC_CALL_OK &&
        grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).success;
    if (ok)
        mb_error_set(st, code, "%.*s", (int)GRPC_SLICE_LENGTH(details),
                     (const char *)GRPC_SLICE_START_PTR(details));
    else
        mb_error_set(st, GRPC_STATUS_INTERNAL, "call failed before a status arrived");
    for (size_t i = 0; ok && key != NULL && i < trailing.count; i++) {
        const grpc_metadata *t = &trailing.metadata[i];
        if (GRPC_SLICE_LENGTH(t->key) != strlen(key) ||
            memcmp(GRPC_SLICE_START_PTR(t->key), key, strlen(key)) != 0)
            continue;
        *value_len = GRPC_SLICE_LENGTH(t->value);
        *value = malloc(*value_len + 1);
        if (*value != NULL)
            memcpy(*value, GRPC_SLICE_START_PTR(t->value), *value_len);
    }

    if (recv != NULL)
        grpc_byte_buffer_destroy(recv);
    grpc_byte_buffer_destroy(send);
    grpc_slice_unref(md.value);
    grpc_slice_unref(details);
    grpc_metadata_array_destroy(&initial);
    grpc_metadata_array_destroy(&trailing);
    grpc_call_unref(call);
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_pluck(cq, NULL, gpr_inf_past(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(cq);
    grpc_channel_destroy(chan);
    grpc_shutdown_blocking();
    return (int)st->code;
}

int mbt_health_check(mbc_channel_t *ch, const char *api_key, const char *service, int *serving,
                     mb_error *st)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)service;
    ProtobufCMessage *resp = NULL;
    if (mbc_unary(ch, MBT_HEALTH_CHECK, api_key, &req.base,
                  &grpc__health__v1__health_check_response__descriptor, mbt_ms(5000), &resp,
                  st) == 0) {
        *serving = (int)((Grpc__Health__V1__HealthCheckResponse *)resp)->status;
        protobuf_c_message_free_unpacked(resp, NULL);
    }
    return (int)st->code;
}

bool mbt_health_ok(mbc_channel_t *ch)
{
    mb_error st;
    int serving = -1;
    if (mbt_health_check(ch, NULL, "", &serving, &st) != GRPC_STATUS_OK ||
        serving != GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING) {
        fprintf(stderr, "common: Health/Check: %s (%s), serving status %d\n",
                mb_status_name(st.code), st.msg, serving);
        return false;
    }
    return true;
}

int mbt_call_end(mbc_call_t *call, mb_error *st)
{
    uint8_t *msg = NULL;
    size_t len = 0;
    while (mbc_call_recv(call, &msg, &len) == 1) {
        free(msg);
        msg = NULL;
    }
    mbc_call_finish(call, st);
    return (int)st->code;
}

mbc_call_t *mbt_watch_start(mbc_channel_t *ch, const char *service, int timeout_ms)
{
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    req.service = (char *)service;
    return mbc_call_start_request(ch, MBT_HEALTH_WATCH, NULL, timeout_ms, &req.base);
}

int mbt_watch_next(mbc_call_t *call, int *serving)
{
    uint8_t *msg = NULL;
    size_t len = 0;
    int rc = mbc_call_recv(call, &msg, &len);
    if (rc != 1)
        return rc;
    Grpc__Health__V1__HealthCheckResponse *resp =
        grpc__health__v1__health_check_response__unpack(NULL, len, msg);
    free(msg);
    if (resp == NULL)
        return -1;
    *serving = (int)resp->status;
    grpc__health__v1__health_check_response__free_unpacked(resp, NULL);
    return 1;
}

static char *read_file_len(const char *path, size_t *out_len)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    while (buf != NULL) {
        len += fread(buf + len, 1, cap - len - 1, f);
        if (len + 1 < cap)
            break; /* short read: end of file */
        char *bigger = realloc(buf, cap * 2);
        if (bigger == NULL)
            free(buf);
        buf = bigger;
        cap *= 2;
    }
    fclose(f);
    if (buf != NULL)
        buf[len] = '\0';
    *out_len = len;
    return buf;
}

char *mbt_read_file(const char *path)
{
    size_t len;
    return read_file_len(path, &len);
}

bool mbt_file_contains(const char *path, const char *needle)
{
    return mbt_file_contains_bytes(path, needle, strlen(needle));
}

bool mbt_file_contains_bytes(const char *path, const void *needle, size_t n)
{
    size_t len = 0;
    char *data = read_file_len(path, &len);
    bool found = data != NULL && memmem(data, len, needle, n) != NULL;
    free(data);
    return found;
}

long mbt_daemon_rss_kib(const mbt_server *s)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/status", (int)s->d.pid);
    char *text = mbt_read_file(path);
    const char *p = text != NULL ? strstr(text, "VmRSS:") : NULL;
    long kib = p != NULL ? atol(p + 6) : -1;
    free(text);
    return kib;
}

int mbt_log_count(const mbt_server *s, const char *needle1, const char *needle2)
{
    char *log = mbt_read_file(s->d.log);
    int n = 0;
    for (char *line = log, *next; line != NULL && *line != '\0'; line = next) {
        next = strchr(line, '\n');
        if (next != NULL)
            *next++ = '\0';
        if (strstr(line, needle1) != NULL && (needle2 == NULL || strstr(line, needle2) != NULL))
            n++;
    }
    free(log);
    return n;
}

int mbt_db_text(const char *path, const char *sql, char *out, size_t size)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    out[0] = '\0';
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const unsigned char *t = sqlite3_column_text(st, 0);
            snprintf(out, size, "%s", t != NULL ? (const char *)t : "");
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            rc = SQLITE_OK;
        }
    }
    if (rc != SQLITE_OK)
        fprintf(stderr, "  sqlite: %s: %s\n", sql, db ? sqlite3_errmsg(db) : "cannot open");
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc == SQLITE_OK ? 0 : -1;
}

long mbt_db_long(const char *path, const char *sql)
{
    char buf[64];
    return mbt_db_text(path, sql, buf, sizeof buf) == 0 ? strtol(buf, NULL, 10) : -1;
}
