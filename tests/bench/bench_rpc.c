/*
 * bench_rpc.c - the foundation load benchmark: unary /grpc.health.v1.Health/Check
 * through the whole minbill runtime (accept, API-key authentication, decode,
 * handler, encode, call log), driven by many concurrent calls.
 *
 * This file owns: the private minbilld's setup (its temporary directory and
 * support key; starting and stopping it is bench_common's) or the use of a
 * running one (--target), the pre-flight check, the warm-up and measured
 * phases by call count with h2load (default) or bench_common's asynchronous
 * C-core load engine (--client c), verification of every call's gRPC status
 * against the daemon's call log, and the report: calls, seconds, calls/s,
 * p50/p99/max latency, gRPC OK count, CPU, daemon peak RSS, and PASS/FAIL
 * against the throughput target.
 *
 * Exit status: 0 PASS, 1 FAIL (too slow, any non-OK call, or any step that
 * failed), 2 usage error. See README.md for the figures measured here.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <grpc/grpc.h>

#include "bench_common.h"
#include "grpc/health/v1/health.pb-c.h"
#include "harness.h"
#include "rpc_client.h"

#ifndef MINBILLD_DEFAULT
#define MINBILLD_DEFAULT "minbilld"
#endif

#define PROG "bench_rpc"
#define METHOD "/grpc.health.v1.Health/Check"
#define PREFLIGHT_TIMEOUT_MS 10000
/* A call slower than this is a hang, not a latency figure. */
#define CALL_DEADLINE_MS 60000
/* The daemon logs a call when its final batch completes, which can be a
 * little after the client saw the response: wait this long for stragglers. */
#define LOG_SETTLE_MS 5000
/* Other processes busier than this (in cores) make a run unrepresentative. */
#define NOISY_CORES 0.25

extern char **environ;

typedef enum { CLIENT_H2LOAD, CLIENT_C } client_kind;

typedef struct bench_opts {
    long calls;
    long warmup;
    long connections;
    long streams;
    long daemon_threads;
    long load_threads;
    long min_rate;
    client_kind client;
    const char *target;     /* NULL: start a private daemon */
    const char *api_key;    /* with --target */
    const char *daemon_log; /* with --target: the daemon's stderr file */
    long daemon_pid;        /* with --target: for the peak RSS */
    bool no_key;
} bench_opts;

/* What the daemon's call log says about the calls of one phase. */
typedef struct log_scan {
    const char *path; /* NULL: no log to check */
    long offset;      /* first byte not yet read (always a line start) */
    long ok, not_ok, authed;
    char first_error[512];
} log_scan;

/* One load phase as the client saw it. */
typedef struct phase_result {
    long requested;
    long completed; /* finished successfully as far as the client can tell */
    long failed;    /* the client saw an error (reset, timeout, non-OK status) */
    double seconds;
    /* CPU spent during the phase, to tell a slow runtime from a busy
     * machine; the load generator is h2load (a child) or this process. */
    bc_cpu cpu;
    bc_lat lat; /* one latency per completed call, sorted */
    char first_error[512];
} phase_result;

typedef struct bench {
    bench_opts opt;
    char target[128];
    char api_key[256];
    pid_t daemon_pid;
    mbt_daemon daemon;
    bool own_daemon;
    char h2load[PATH_MAX];
    /* Our temporary directory: request body, h2load output, and the daemon's
     * own directory (see start_daemon). */
    char work[MBT_PATH - 64];
    log_scan log;
} bench;

/* --- options -------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(f,
            "usage: bench_rpc [options]\n"
            "Drives " METHOD " through the full minbill runtime (with API-key auth)\n"
            "and reports calls/s, latency, gRPC OK count and daemon peak RSS.\n"
            "\n"
            "  --calls N          measured calls (default 500000)\n"
            "  --warmup N         warm-up calls, excluded from the figures (default 20000)\n"
            "  --connections N    HTTP/2 connections (default 8)\n"
            "  --streams N        concurrent calls per connection (default 32)\n"
            "  --threads N        daemon completion-queue threads (default: cores)\n"
            "  --load-threads N   load generator threads (h2load -t; default 1)\n"
            "  --client KIND      h2load (default) or c (built-in async C-core client)\n"
            "  --min-rate N       calls/s needed to PASS (default 50000)\n"
            "  --no-key           call anonymously (measures the runtime without auth)\n"
            "  --target HOST:PORT use a running daemon instead of starting one;\n"
            "    --api-key KEY      key to present (else anonymous)\n"
            "    --daemon-log FILE  the daemon's stderr log (needed with h2load: h2load\n"
            "                       counts HTTP 200 as success whatever the gRPC status)\n"
            "    --daemon-pid PID   for the peak RSS figure\n"
            "\n"
            "The daemon is $MINBILLD, else %s.\n",
            MINBILLD_DEFAULT);
}

/* 0, 1 for --help, -1 on a usage error (message printed). */
static int parse_args(int argc, char **argv, bench_opts *o)
{
    *o = (bench_opts){.calls = 500000, .warmup = 20000, .connections = 8, .streams = 32,
                      .daemon_threads = bc_cores(), .load_threads = 1, .min_rate = 50000};
    const char *client = "h2load";
    /* The counts go to h2load as ints. */
    const bc_option opts[] = {
        {"calls", BC_ARG_COUNT, &o->calls, 1, INT_MAX},
        {"warmup", BC_ARG_COUNT, &o->warmup, 0, INT_MAX},
        {"connections", BC_ARG_COUNT, &o->connections, 1, INT_MAX},
        {"streams", BC_ARG_COUNT, &o->streams, 1, INT_MAX},
        {"threads", BC_ARG_COUNT, &o->daemon_threads, 1, INT_MAX},
        {"load-threads", BC_ARG_COUNT, &o->load_threads, 1, INT_MAX},
        {"client", BC_ARG_TEXT, &client, 0, 0},
        {"min-rate", BC_ARG_COUNT, &o->min_rate, 0, INT_MAX},
        {"no-key", BC_ARG_NONE, &o->no_key, 0, 0},
        {"target", BC_ARG_TEXT, &o->target, 0, 0},
        {"api-key", BC_ARG_TEXT, &o->api_key, 0, 0},
        {"daemon-log", BC_ARG_TEXT, &o->daemon_log, 0, 0},
        {"daemon-pid", BC_ARG_COUNT, &o->daemon_pid, 1, INT_MAX},
    };
    int rc = bc_parse_options(PROG, argc, argv, opts, sizeof opts / sizeof opts[0]);
    if (rc != 0)
        return rc;
    if (strcmp(client, "h2load") == 0) {
        o->client = CLIENT_H2LOAD;
    } else if (strcmp(client, "c") == 0) {
        o->client = CLIENT_C;
    } else {
        fprintf(stderr, "bench_rpc: --client: must be h2load or c\n");
        return -1;
    }
    if (o->target == NULL && (o->api_key || o->daemon_log || o->daemon_pid)) {
        fprintf(stderr, "bench_rpc: --api-key, --daemon-log and --daemon-pid need --target\n");
        return -1;
    }
    if (o->target != NULL && o->client == CLIENT_H2LOAD && o->daemon_log == NULL) {
        fprintf(stderr, "bench_rpc: --target with h2load needs --daemon-log FILE: h2load counts "
                        "HTTP 200 as success even when the gRPC status is an error, so the\n"
                        "daemon's call log is the only proof the calls succeeded "
                        "(or use --client c)\n");
        return -1;
    }
    /* h2load spreads -n over -c clients and -c over -t threads. */
    if (o->load_threads > o->connections) {
        fprintf(stderr, "bench_rpc: --load-threads (%ld) must not exceed --connections (%ld)\n",
                o->load_threads, o->connections);
        return -1;
    }
    if (o->calls < o->connections || (o->warmup > 0 && o->warmup < o->connections)) {
        fprintf(stderr, "bench_rpc: --calls and --warmup (unless 0) must be at least "
                        "--connections (%ld)\n", o->connections);
        return -1;
    }
    return 0;
}

/* --- files and processes -------------------------------------------------- */

/* Finds an executable on $PATH; 0 and the full path in out, or -1. */
static int find_on_path(const char *name, char *out, size_t size)
{
    const char *path = getenv("PATH");
    if (path == NULL)
        path = "/usr/local/bin:/usr/bin:/bin";
    while (*path != '\0') {
        size_t n = strcspn(path, ":");
        int w = snprintf(out, size, "%.*s/%s", (int)n, n > 0 ? path : ".", name);
        if (w > 0 && (size_t)w < size && access(out, X_OK) == 0)
            return 0;
        path += n + (path[n] == ':');
    }
    return -1;
}

static long file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : 0;
}

/* Path of one of our temporary files. */
static const char *work_file(const bench *b, const char *name, char *buf, size_t size)
{
    snprintf(buf, size, "%s/%s", b->work, name);
    return buf;
}

static const char *const WORK_FILES[] = {"request.bin", "h2load.out", "h2load.log"};

static int make_workdir(bench *b)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(b->work, sizeof b->work, "%s/bench_rpc.XXXXXX", tmp ? tmp : "/tmp");
    if (mkdtemp(b->work) == NULL) {
        fprintf(stderr, "bench_rpc: cannot create a temporary directory %s: %s\n", b->work,
                strerror(errno));
        b->work[0] = '\0';
        return -1;
    }
    return 0;
}

static void remove_workdir(bench *b)
{
    if (b->work[0] == '\0')
        return;
    if (getenv("MINBILL_KEEP_TEST_DIR") != NULL) {
        fprintf(stderr, "bench_rpc: kept %s\n", b->work);
        return;
    }
    char path[PATH_MAX];
    for (size_t i = 0; i < sizeof WORK_FILES / sizeof WORK_FILES[0]; i++)
        unlink(work_file(b, WORK_FILES[i], path, sizeof path));
    if (rmdir(b->work) != 0)
        fprintf(stderr, "bench_rpc: could not remove %s: %s\n", b->work, strerror(errno));
}

/* Runs argv[0] (a full path) with stdout and stderr to out_path, waits for
 * it. posix_spawn, not fork: this process has run gRPC, whose threads and
 * atfork handlers have no business in a child that only execs. */
static int run_to_file(char *const argv[], const char *out_path, int *exit_code)
{
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, STDOUT_FILENO, out_path,
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, STDOUT_FILENO, STDERR_FILENO);
    pid_t pid;
    int rc = posix_spawn(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) {
        fprintf(stderr, "bench_rpc: cannot run %s: %s\n", argv[0], strerror(rc));
        return -1;
    }
    /* Reaped here, so its CPU shows in the phase's bc_cpu children figure. */
    int status;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            fprintf(stderr, "bench_rpc: waiting for %s: %s\n", argv[0], strerror(errno));
            return -1;
        }
    }
    if (!WIFEXITED(status)) {
        fprintf(stderr, "bench_rpc: %s was killed by signal %d\n", argv[0], WTERMSIG(status));
        return -1;
    }
    *exit_code = WEXITSTATUS(status);
    return 0;
}

/* The whole file, NUL-terminated, malloc'd; NULL (message printed) on error. */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "bench_rpc: cannot open %s: %s\n", path, strerror(errno));
        return NULL;
    }
    long size = file_size(path);
    char *buf = malloc((size_t)size + 1);
    size_t n = buf != NULL ? fread(buf, 1, (size_t)size, f) : 0;
    fclose(f);
    if (buf == NULL) {
        fprintf(stderr, "bench_rpc: out of memory reading %s\n", path);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* --- the daemon's call log ------------------------------------------------ */

/* Reads the complete log lines added since the last scan and counts the
 * event=call lines of METHOD. A key presented must show as a role, proving
 * the call went through authentication. */
static int log_scan_more(log_scan *s)
{
    FILE *f = fopen(s->path, "r");
    if (f == NULL || fseek(f, s->offset, SEEK_SET) != 0) {
        fprintf(stderr, "bench_rpc: cannot read the daemon log %s: %s\n", s->path,
                strerror(errno));
        if (f != NULL)
            fclose(f);
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (line[n - 1] != '\n')
            break; /* half-written: read it whole next time */
        s->offset += n;
        if (strstr(line, "event=call ") == NULL || strstr(line, " method=" METHOD " ") == NULL)
            continue;
        if (strstr(line, " status=OK ") != NULL) {
            s->ok++;
            if (strstr(line, " role=anonymous ") == NULL)
                s->authed++;
        } else {
            s->not_ok++;
            if (s->first_error[0] == '\0')
                snprintf(s->first_error, sizeof s->first_error, "%.*s", (int)(n - 1), line);
        }
    }
    free(line);
    fclose(f);
    return 0;
}

/* Scans until `expect` calls are logged or the log stops growing. */
static int log_scan_settle(log_scan *s, long expect)
{
    int64_t quiet_since = bc_now_ns();
    for (;;) {
        long before = s->ok + s->not_ok;
        if (log_scan_more(s) != 0)
            return -1;
        long seen = s->ok + s->not_ok;
        if (seen >= expect)
            return 0;
        if (seen > before)
            quiet_since = bc_now_ns();
        else if (bc_now_ns() - quiet_since > (int64_t)LOG_SETTLE_MS * 1000000)
            return 0; /* the caller reports the shortfall */
        bc_sleep_ms(20);
    }
}

static void log_scan_reset_counts(log_scan *s)
{
    s->ok = s->not_ok = s->authed = 0;
    s->first_error[0] = '\0';
}

/* --- load with h2load ----------------------------------------------------- */

static void note_error(char *dst, size_t size, const char *text)
{
    if (dst[0] == '\0')
        snprintf(dst, size, "%s", text);
}

/* The request: a gRPC frame (uncompressed, length 0) holding an empty
 * HealthCheckRequest, i.e. service "" = the whole server. */
static int write_request_body(const bench *b)
{
    char path[PATH_MAX];
    FILE *f = fopen(work_file(b, "request.bin", path, sizeof path), "w");
    static const unsigned char frame[5] = {0, 0, 0, 0, 0};
    if (f == NULL || fwrite(frame, 1, sizeof frame, f) != sizeof frame) {
        fprintf(stderr, "bench_rpc: cannot write %s: %s\n", path, strerror(errno));
        if (f != NULL)
            fclose(f);
        return -1;
    }
    if (fclose(f) != 0) {
        fprintf(stderr, "bench_rpc: cannot write %s: %s\n", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* h2load's summary: "finished in 5.83s, 85763.12 req/s, ..." and
 * "requests: N total, N started, N done, N succeeded, N failed, N errored,
 * N timeout". */
static int parse_h2load_summary(const char *out, phase_result *r)
{
    const char *fin = strstr(out, "finished in ");
    const char *req = strstr(out, "\nrequests: ");
    double dur, rps;
    char unit[4];
    long total, started, done, ok, failed, errored, timeout;
    if (fin == NULL || req == NULL ||
        sscanf(fin, "finished in %lf%3[a-z], %lf req/s", &dur, unit, &rps) != 3 ||
        sscanf(req, "\nrequests: %ld total, %ld started, %ld done, %ld succeeded, %ld failed, "
                    "%ld errored, %ld timeout",
               &total, &started, &done, &ok, &failed, &errored, &timeout) != 7) {
        fprintf(stderr, "bench_rpc: cannot parse h2load's summary; its output was:\n%s\n", out);
        return -1;
    }
    r->completed = ok;
    r->failed = (total - ok);
    /* "req/s" is succeeded / duration with more digits than the duration. */
    double scale = strcmp(unit, "s") == 0 ? 1.0 : strcmp(unit, "ms") == 0 ? 1e-3 : 1e-6;
    r->seconds = rps > 0 ? (double)ok / rps : dur * scale;
    if (r->failed > 0) {
        char msg[160];
        snprintf(msg, sizeof msg, "h2load: %ld failed, %ld errored, %ld timed out, %ld not done",
                 failed, errored, timeout, total - done);
        note_error(r->first_error, sizeof r->first_error, msg);
    }
    return 0;
}

/* h2load's --log-file: "start_us<TAB>http_status<TAB>duration_us" per request. */
static int parse_h2load_log(const char *path, phase_result *r)
{
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        fprintf(stderr, "bench_rpc: cannot open h2load's log %s: %s\n", path, strerror(errno));
        return -1;
    }
    char line[256];
    long non200 = 0;
    while (fgets(line, sizeof line, f) != NULL) {
        long long start;
        int status;
        unsigned long dur;
        if (sscanf(line, "%lld\t%d\t%lu", &start, &status, &dur) != 3)
            continue;
        if (status != 200) {
            non200++;
            continue;
        }
        if (r->lat.n < (size_t)r->requested && bc_lat_add(&r->lat, (int64_t)dur) != 0) {
            fclose(f);
            fprintf(stderr, "bench_rpc: out of memory for latencies\n");
            return -1;
        }
    }
    fclose(f);
    if (non200 > 0) {
        char msg[96];
        snprintf(msg, sizeof msg, "h2load: %ld responses with an HTTP status other than 200",
                 non200);
        note_error(r->first_error, sizeof r->first_error, msg);
        /* h2load may already count them as failed: do not count twice. */
        if (non200 > r->failed)
            r->failed = non200;
    }
    return 0;
}

static int run_h2load(bench *b, phase_result *r)
{
    char n[24], c[24], m[24], t[24], body[PATH_MAX], out[PATH_MAX], log[PATH_MAX];
    char log_arg[PATH_MAX + 16], auth[300], url[192];
    snprintf(n, sizeof n, "%ld", r->requested);
    snprintf(c, sizeof c, "%ld", b->opt.connections);
    snprintf(m, sizeof m, "%ld", b->opt.streams);
    snprintf(t, sizeof t, "%ld", b->opt.load_threads);
    snprintf(log_arg, sizeof log_arg, "--log-file=%s", work_file(b, "h2load.log", log,
                                                                   sizeof log));
    snprintf(auth, sizeof auth, "authorization: Bearer %s", b->api_key);
    snprintf(url, sizeof url, "http://%s%s", b->target, METHOD);
    work_file(b, "request.bin", body, sizeof body);
    char *argv[24];
    int k = 0;
    argv[k++] = b->h2load;
    argv[k++] = "-n", argv[k++] = n, argv[k++] = "-c", argv[k++] = c;
    argv[k++] = "-m", argv[k++] = m, argv[k++] = "-t", argv[k++] = t;
    argv[k++] = "-H", argv[k++] = "content-type: application/grpc";
    argv[k++] = "-H", argv[k++] = "te: trailers";
    if (b->api_key[0] != '\0')
        argv[k++] = "-H", argv[k++] = auth;
    argv[k++] = "-d", argv[k++] = body;
    argv[k++] = log_arg;
    argv[k++] = url;
    argv[k] = NULL;

    int code;
    if (run_to_file(argv, work_file(b, "h2load.out", out, sizeof out), &code) != 0)
        return -1;
    char *text = read_file(out);
    if (text == NULL)
        return -1;
    if (code != 0) {
        fprintf(stderr, "bench_rpc: h2load exited with %d; its output was:\n%s\n", code, text);
        free(text);
        return -1;
    }
    int rc = parse_h2load_summary(text, r);
    free(text);
    if (rc != 0)
        return -1;
    return parse_h2load_log(log, r);
}

/* --- phases --------------------------------------------------------------- */

/* Before a phase's calls: says what comes, and starts its figures afresh
 * (only the phase's own calls count in the daemon's log). */
static void phase_begin(bench *b, const char *what, long calls, phase_result *r)
{
    printf("%s: %ld calls...\n", what, calls);
    fflush(stdout);
    bc_lat_free(&r->lat);
    *r = (phase_result){.requested = calls};
    log_scan_reset_counts(&b->log);
    bc_cpu_begin(&r->cpu, b->daemon_pid);
}

/* After a phase's calls: waits for the daemon to log them. */
static int phase_settle(bench *b, const phase_result *r)
{
    return b->log.path != NULL ? log_scan_settle(&b->log, r->completed + r->failed) : 0;
}

static int failures(FILE *f, const char *prefix, const bench *b, const phase_result *r,
                    bool check_rate, bool daemon_ok);

/* The warm-up is held to every check but the rate; -1 (reasons printed) if
 * it fails, and then nothing is measured. */
static int check_warmup(bench *b, const phase_result *w)
{
    if (phase_settle(b, w) != 0)
        return -1;
    return failures(stderr, "bench_rpc: warm-up: ", b, w, false, true) > 0 ? -1 : 0;
}

/* Warm-up and measured phase with h2load, one run of it each. */
static int run_h2load_phases(bench *b, phase_result *r)
{
    if (b->opt.warmup > 0) {
        phase_result w = {0};
        phase_begin(b, "warm-up", b->opt.warmup, &w);
        int rc = run_h2load(b, &w) == 0 && check_warmup(b, &w) == 0 ? 0 : -1;
        bc_lat_free(&w.lat);
        if (rc != 0)
            return -1;
    }
    phase_begin(b, "measuring", b->opt.calls, r);
    if (run_h2load(b, r) != 0)
        return -1;
    bc_cpu_end(&r->cpu);
    bc_lat_sort(&r->lat);
    return phase_settle(b, r);
}

/* The C client's run: the engine's callbacks see the bench and the phases. */
typedef struct c_run {
    bench *b;
    phase_result warmup;
    phase_result *measured;
    bool opened; /* the measured window opened, i.e. the warm-up passed */
} c_run;

/* An empty HealthCheckRequest: service "", the whole server. */
static int make_check(void *user, size_t thread, void *call_ctx, grpc_byte_buffer **req,
                      char *why, size_t why_size)
{
    *req = grpc_raw_byte_buffer_create(NULL, 0);
    return 0;
}

/* Accepts a HealthCheckResponse that says SERVING. */
static int check_serving(void *user, size_t thread, void *call_ctx, const uint8_t *resp,
                         size_t len, char *why, size_t why_size)
{
    Grpc__Health__V1__HealthCheckResponse *m =
        (Grpc__Health__V1__HealthCheckResponse *)bc_unpack_response(
            &grpc__health__v1__health_check_response__descriptor, resp, len, why, why_size);
    if (m == NULL)
        return -1;
    bool serving = m->status == GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING;
    protobuf_c_message_free_unpacked(&m->base, NULL);
    if (!serving)
        snprintf(why, why_size, "an OK response that did not say SERVING");
    return serving ? 0 : -1;
}

/* Between the phases no call is in flight (the engine runs by calls): the
 * warm-up's log lines are checked before anything is measured, as with
 * h2load. */
static int c_on_window(void *user, bool start)
{
    c_run *cr = user;
    bench *b = cr->b;
    if (!start) {
        bc_cpu_end(&cr->measured->cpu);
        return 0;
    }
    if (b->opt.warmup > 0) {
        /* The engine opens the window only when every warm-up call was OK. */
        cr->warmup.completed = b->opt.warmup;
        if (check_warmup(b, &cr->warmup) != 0)
            return -1;
    }
    cr->opened = true;
    phase_begin(b, "measuring", b->opt.calls, cr->measured);
    return 0;
}

/* Warm-up and measured phase in one run of bench_common's engine, bounded by
 * calls: its connections stay open from the warm-up into the measurement. */
static int run_c_phases(bench *b, phase_result *r)
{
    c_run cr = {.b = b, .measured = r};
    if (b->opt.warmup > 0)
        phase_begin(b, "warm-up", b->opt.warmup, &cr.warmup);
    bc_load_spec sp = {.prog = PROG,
                       .target = b->target,
                       .method = METHOD,
                       .api_key = b->api_key[0] != '\0' ? b->api_key : NULL,
                       .threads = (size_t)b->opt.load_threads,
                       .connections = (size_t)b->opt.connections,
                       .inflight = (size_t)(b->opt.connections * b->opt.streams),
                       .deadline_ms = CALL_DEADLINE_MS,
                       .warmup_calls = b->opt.warmup,
                       .measure_calls = b->opt.calls,
                       .user = &cr,
                       .make = make_check,
                       .check = check_serving,
                       .on_window = c_on_window};
    bc_load_result res;
    int ret = -1;
    if (bc_load_run(&sp, &res) != 0)
        goto out; /* includes a warm-up that failed in the daemon's log */
    if (!cr.opened) {
        /* A warm-up call failed at the client: report it like h2load's. */
        cr.warmup.completed = res.ok_total;
        cr.warmup.failed = res.failed;
        snprintf(cr.warmup.first_error, sizeof cr.warmup.first_error, "%s", res.first_error);
        check_warmup(b, &cr.warmup);
        goto out;
    }
    r->completed = res.ok;
    r->failed = res.failed;
    r->seconds = res.seconds;
    snprintf(r->first_error, sizeof r->first_error, "%s", res.first_error);
    r->lat = res.lat; /* sorted; the result gives it up */
    res.lat = (bc_lat){0};
    ret = phase_settle(b, r);
out:
    bc_load_result_free(&res);
    bc_lat_free(&cr.warmup.lat);
    return ret;
}

/* One Health/Check with the key through the ordinary client: proves the
 * target, the key and the response before any load is sent. */
static int preflight(const bench *b)
{
    mbc_channel_t *ch = mbc_channel_new(b->target);
    if (ch == NULL) {
        fprintf(stderr, "bench_rpc: pre-flight: cannot create a channel to %s\n", b->target);
        return -1;
    }
    int ret = -1;
    Grpc__Health__V1__HealthCheckRequest req = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    ProtobufCMessage *resp = NULL;
    mb_error st;
    if (mbc_channel_wait_ready(ch, PREFLIGHT_TIMEOUT_MS) != 0) {
        fprintf(stderr, "bench_rpc: pre-flight: cannot connect to %s\n", b->target);
    } else if (mbc_unary(ch, METHOD, b->api_key[0] != '\0' ? b->api_key : NULL, &req.base,
                         &grpc__health__v1__health_check_response__descriptor,
                         PREFLIGHT_TIMEOUT_MS, &resp, &st) != 0) {
        fprintf(stderr, "bench_rpc: pre-flight: %s failed: %s: %s\n", METHOD,
                mb_status_name(st.code), st.msg);
    } else if (((Grpc__Health__V1__HealthCheckResponse *)resp)->status !=
               GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING) {
        fprintf(stderr, "bench_rpc: pre-flight: %s answered status %d, not SERVING\n", METHOD,
                (int)((Grpc__Health__V1__HealthCheckResponse *)resp)->status);
    } else {
        ret = 0;
    }
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    mbc_channel_free(ch);
    return ret;
}

/* Starts a private daemon with a fresh database and a support key. */
static int start_daemon(bench *b)
{
    /* The harness makes $TMPDIR/minbill-test-XXXXXX. On a shared machine a
     * daemon's /tmp/minbill-test-* directory (log included) once vanished in
     * the middle of a run; nested in ours, sweeps of that pattern miss it. */
    setenv("TMPDIR", b->work, 1);
    b->own_daemon = true;
    if (bc_daemon_start_threads(PROG, &b->daemon, MINBILLD_DEFAULT, b->opt.daemon_threads) != 0)
        return -1;
    if (!b->opt.no_key &&
        mbt_daemon_api_key(&b->daemon, "support", b->api_key, sizeof b->api_key) != 0) {
        fprintf(stderr, "bench_rpc: minbilld keys create-api-key --role support failed\n");
        return -1;
    }
    snprintf(b->target, sizeof b->target, "%s", b->daemon.target);
    b->daemon_pid = b->daemon.pid;
    b->log.path = b->daemon.log;
    return 0;
}

/* --- the report ----------------------------------------------------------- */

/* Prints every reason the phase fails (so one run shows them all) and
 * returns how many there are. The warm-up is held to everything but the rate. */
static int failures(FILE *f, const char *prefix, const bench *b, const phase_result *r,
                    bool check_rate, bool daemon_ok)
{
    const log_scan *lg = &b->log;
    bool logged = lg->path != NULL;
    double rate = r->seconds > 0 ? (double)r->completed / r->seconds : 0;
    int n = 0;
    n += bc_fail_if(f, prefix, check_rate && rate < (double)b->opt.min_rate,
                    "%.0f calls/s is below the target of %ld", rate, b->opt.min_rate);
    n += bc_fail_if(f, prefix, r->completed < r->requested || r->failed > 0,
                    "%ld of %ld calls did not complete successfully at the client (%s)",
                    r->requested - r->completed, r->requested,
                    r->first_error[0] ? r->first_error : "?");
    n += bc_fail_if(f, prefix, logged && lg->not_ok > 0,
                    "%ld calls were not OK in the daemon log; first: %s", lg->not_ok,
                    lg->first_error);
    n += bc_fail_if(f, prefix, logged && lg->ok < r->completed,
                    "the daemon logged %ld OK calls but the client completed %ld", lg->ok,
                    r->completed);
    n += bc_fail_if(f, prefix, logged && b->api_key[0] != '\0' && lg->authed < lg->ok,
                    "%ld OK calls were anonymous although a key was presented",
                    lg->ok - lg->authed);
    n += bc_fail_if(f, prefix, !daemon_ok, "the daemon did not stop cleanly");
    return n;
}

/* CPU seconds of the load generator in the phase: h2load is a child that
 * was reaped inside it; the C client is this process. */
static double load_cpu_s(const bench *b, const phase_result *r)
{
    return b->opt.client == CLIENT_H2LOAD ? r->cpu.children : r->cpu.self;
}

/* Where the CPU went during the measured phase, in cores (CPU seconds per
 * second): "other" is everything else on the machine, i.e. noise. */
static void print_cpu(const bench *b, const phase_result *r)
{
    if (r->seconds <= 0)
        return;
    const char *gen = b->opt.client == CLIENT_H2LOAD ? "h2load" : "C client";
    const bc_cpu *c = &r->cpu;
    if (c->daemon >= 0 && r->completed > 0)
        printf("  daemon CPU        %.1f us per call (%.2f cores)\n",
               c->daemon * 1e6 / (double)r->completed, c->daemon / r->seconds);
    printf("  load CPU          %s %.2f cores", gen, load_cpu_s(b, r) / r->seconds);
    if (c->other >= 0)
        printf("; other processes %.2f cores%s (machine: %ld cores)", c->other / r->seconds,
               c->daemon < 0 ? " incl. the daemon" : "", bc_cores());
    printf("\n");
}

/* Prints the figures; returns true on PASS. */
static bool report(const bench *b, const phase_result *r, long rss_kib, bool daemon_ok)
{
    const bench_opts *o = &b->opt;
    const log_scan *lg = &b->log;
    double rate = r->seconds > 0 ? (double)r->completed / r->seconds : 0;
    const bc_cpu *c = &r->cpu;
    uint32_t p50 = bc_lat_pct(&r->lat, 0.50);
    uint32_t p99 = bc_lat_pct(&r->lat, 0.99);
    uint32_t max = bc_lat_max(&r->lat);
    bool keyed = b->api_key[0] != '\0';

    printf("\nminbill bench_rpc: %s through the full runtime\n", METHOD);
    bc_print_daemon(b->own_daemon, b->daemon_pid, o->daemon_threads, b->target);
    printf("  load              %s, %ld connections x %ld streams, %ld load thread(s); "
           "warm-up of %ld calls not counted\n",
           o->client == CLIENT_H2LOAD ? "h2load" : "C-core async client", o->connections,
           o->streams, o->load_threads, o->warmup);
    printf("  auth              %s\n",
           keyed ? "API key on every call (keyed BLAKE2b + cache)" : "none (anonymous calls)");
    printf("  calls             %ld requested, %ld completed, %ld failed\n", r->requested,
           r->completed, r->failed);
    printf("  seconds           %.3f\n", r->seconds);
    printf("  calls/s           %.0f\n", rate);
    printf("  latency (us)      p50 %u   p99 %u   max %u   (client-observed, %zu calls)\n", p50,
           p99, max, r->lat.n);
    if (lg->path != NULL)
        printf("  gRPC OK           %ld OK, %ld not OK (daemon call log)\n", lg->ok, lg->not_ok);
    else
        printf("  gRPC OK           %ld (seen by the client; no daemon log given)\n",
               r->completed);
    if (lg->path != NULL && keyed)
        printf("  authenticated     %ld of the OK calls carry the key's role\n", lg->authed);
    print_cpu(b, r);
    bc_print_peak_rss(rss_kib);
    /* A busy machine is the usual reason for a low rate: say so. */
    if (c->other >= 0 && r->seconds > 0 && c->other / r->seconds > NOISY_CORES)
        printf("  note              other processes kept %.2f cores busy: calls/s and latency "
               "are not representative; rerun on a quiet machine\n",
               c->other / r->seconds);
    int fails = failures(stdout, "  ", b, r, true, daemon_ok);
    printf("  result            %s (target: >= %ld calls/s, every call gRPC OK)\n",
           fails == 0 ? "PASS" : "FAIL", o->min_rate);
    /* One line for scripts that collect runs. */
    printf("RESULT calls=%ld seconds=%.3f calls_per_s=%.0f p50_us=%u p99_us=%u max_us=%u "
           "grpc_ok=%ld grpc_not_ok=%ld peak_rss_kb=%ld daemon_cpu_us_per_call=%.1f "
           "other_cores=%.2f verdict=%s\n",
           r->completed, r->seconds, rate, p50, p99, max,
           lg->path != NULL ? lg->ok : r->completed, lg->path != NULL ? lg->not_ok : r->failed,
           rss_kib,
           c->daemon >= 0 && r->completed > 0 ? c->daemon * 1e6 / (double)r->completed : -1.0,
           c->other >= 0 && r->seconds > 0 ? c->other / r->seconds : -1.0,
           fails == 0 ? "PASS" : "FAIL");
    return fails == 0;
}

/* --- main ----------------------------------------------------------------- */

static int setup(bench *b)
{
    if (b->opt.client == CLIENT_H2LOAD && find_on_path("h2load", b->h2load, sizeof b->h2load)) {
        fprintf(stderr, "bench_rpc: h2load not found on PATH; install it with "
                        "`apt-get install nghttp2-client`, or use --client c\n");
        return -1;
    }
    if (make_workdir(b) != 0)
        return -1;
    if (b->opt.client == CLIENT_H2LOAD && write_request_body(b) != 0)
        return -1;
    if (b->opt.target != NULL) {
        snprintf(b->target, sizeof b->target, "%s", b->opt.target);
        if (b->opt.api_key != NULL && !b->opt.no_key)
            snprintf(b->api_key, sizeof b->api_key, "%s", b->opt.api_key);
        b->daemon_pid = (pid_t)b->opt.daemon_pid;
        b->log.path = b->opt.daemon_log;
    } else if (start_daemon(b) != 0) {
        return -1;
    }
    /* Only calls made from now on count. */
    if (b->log.path != NULL)
        b->log.offset = file_size(b->log.path);
    return preflight(b);
}

int main(int argc, char **argv)
{
    bench b = {0};
    int rc = parse_args(argc, argv, &b.opt);
    if (rc != 0)
        return bc_options_exit(PROG, rc, usage);
    signal(SIGPIPE, SIG_IGN);

    int ret = 1;
    phase_result r = {0};
    if (setup(&b) != 0)
        goto out;
    /* Wait for the pre-flight call's log line, so it is not counted below. */
    if (b.log.path != NULL && log_scan_settle(&b.log, 1) != 0)
        goto out;
    /* The C client has closed its connections when this returns: nothing
     * would poll them, and the daemon's graceful shutdown would wait out its
     * grace period for them. */
    rc = b.opt.client == CLIENT_H2LOAD ? run_h2load_phases(&b, &r) : run_c_phases(&b, &r);
    if (rc != 0)
        goto out;
    long rss = b.daemon_pid > 0 ? bc_peak_rss_kib(b.daemon_pid) : -1;
    bool daemon_ok = !b.own_daemon || bc_daemon_stop(PROG, &b.daemon, 30) == 0;
    ret = report(&b, &r, rss, daemon_ok) ? 0 : 1;
out:
    bc_lat_free(&r.lat);
    if (b.own_daemon)
        mbt_daemon_cleanup(&b.daemon);
    remove_workdir(&b);
    return ret;
}
