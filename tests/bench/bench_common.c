/*
 * bench_common.c - see bench_common.h.
 *
 * The load engine keeps one slot per call in flight. A slot belongs to one
 * connection and one client thread; when its call completes the thread
 * judges the response, records the latency if the measured window is open,
 * and starts the slot's next call at once, so the number of calls in flight
 * stays constant until the phase allows no more. The controlling thread only
 * moves the phase (warm-up, measured window, stop) and waits: for a time, or,
 * when the run is bounded by calls, for the phase's last call; by calls each
 * phase hands out its number of tickets, one per call, and the workers idle
 * between phases on open connections.
 */
#include "bench_common.h"

#include <dirent.h>
#include <inttypes.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/time.h>

#include "base/error.h"
#include "fixtures.h"
#include "minbill/v1/accounts.pb-c.h"
#include "minbill/v1/invoicing.pb-c.h"
#include "minbill/v1/metering.pb-c.h"

/* --- time and options ------------------------------------------------------ */

int64_t bc_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void bc_sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int bc_parse_long(const char *prog, const char *flag, const char *s, long min, long max, long *out)
{
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "%s: %s: must be a whole number from %ld to %ld\n", prog, flag, min, max);
        return -1;
    }
    *out = v;
    return 0;
}

int bc_parse_seconds(const char *prog, const char *flag, const char *s, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v > 0) || v > max) {
        fprintf(stderr, "%s: %s: must be a number of seconds above 0 and at most %.0f\n", prog,
                flag, max);
        return -1;
    }
    *out = v;
    return 0;
}

int bc_parse_options(const char *prog, int argc, char **argv, const bc_option *opts, size_t n)
{
    /* getopt_long's table: option i answers 256 + i, --help 256 + n; above
     * anything it returns itself ('?' for a bad option). */
    struct option *lo = calloc(n + 2, sizeof *lo);
    if (lo == NULL) {
        fprintf(stderr, "%s: out of memory parsing the options\n", prog);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        lo[i] = (struct option){opts[i].name,
                                opts[i].kind == BC_ARG_NONE ? no_argument : required_argument, NULL,
                                256 + (int)i};
    lo[n] = (struct option){"help", no_argument, NULL, 256 + (int)n};
    int c, rc = 0;
    while (rc == 0 && (c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        if (c == 256 + (int)n) {
            rc = 1;
            break;
        }
        if (c < 256 || c > 256 + (int)n) {
            rc = -1; /* getopt_long has said what is wrong */
            break;
        }
        const bc_option *o = &opts[c - 256];
        char flag[64];
        snprintf(flag, sizeof flag, "--%s", o->name);
        switch (o->kind) {
        case BC_ARG_NONE:
            *(bool *)o->out = true;
            break;
        case BC_ARG_TEXT:
            *(const char **)o->out = optarg;
            break;
        case BC_ARG_COUNT:
            rc = bc_parse_long(prog, flag, optarg, o->min, o->max, o->out);
            break;
        case BC_ARG_SECONDS:
            if (o->min == 0 && strcmp(optarg, "0") == 0)
                *(double *)o->out = 0;
            else
                rc = bc_parse_seconds(prog, flag, optarg, (double)o->max, o->out);
            break;
        }
    }
    free(lo);
    if (rc == 0 && optind != argc) {
        fprintf(stderr, "%s: unexpected argument '%s'\n", prog, argv[optind]);
        rc = -1;
    }
    return rc;
}

int bc_options_exit(const char *prog, int rc, void (*usage)(FILE *f))
{
    if (rc > 0) {
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "%s: see %s --help\n", prog, prog);
    return BC_EXIT_USAGE;
}

long bc_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? n : 1;
}

/* --- arrays ---------------------------------------------------------------- */

void *bc_grow(void *v, size_t *cap, size_t need, size_t elem_size, size_t first)
{
    if (v != NULL && need <= *cap)
        return v;
    size_t ncap = *cap > 0 ? *cap : first;
    while (ncap < need)
        ncap *= 2;
    void *nv = realloc(v, ncap * elem_size);
    if (nv != NULL)
        *cap = ncap;
    return nv;
}

/* --- processes and CPU ----------------------------------------------------- */

long bc_peak_rss_kib(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    long kib = -1;
    while (fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "VmHWM: %ld kB", &kib) == 1)
            break;
    fclose(f);
    return kib;
}

int bc_reset_peak_rss(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/clear_refs", (long)pid);
    FILE *f = fopen(path, "w");
    if (f == NULL)
        return -1;
    int rc = fputs("5", f) < 0 ? -1 : 0;
    return fclose(f) != 0 ? -1 : rc;
}

/* utime + stime of a /proc .../stat file, and the command name if comm is
 * not NULL; -1 if unreadable. The name may hold spaces and parentheses, so
 * the fields count from the last ')'. */
static double stat_cpu_s(const char *path, char *comm, size_t comm_size)
{
    char buf[1024];
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    const char *open = strchr(buf, '('), *close = strrchr(buf, ')');
    unsigned long utime, stime;
    if (open == NULL || close == NULL || close < open ||
        sscanf(close + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) !=
            2)
        return -1;
    if (comm != NULL)
        snprintf(comm, comm_size, "%.*s", (int)(close - open - 1), open + 1);
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

double bc_process_cpu_s(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
    return stat_cpu_s(path, NULL, 0);
}

/* User + system CPU seconds of getrusage(who). */
static double rusage_cpu_s(int who)
{
    struct rusage ru;
    getrusage(who, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

double bc_self_cpu_s(void)
{
    return rusage_cpu_s(RUSAGE_SELF);
}

double bc_machine_busy_s(void)
{
    FILE *f = fopen("/proc/stat", "r");
    if (f == NULL)
        return -1;
    unsigned long long v[8] = {0};
    int n = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3],
                   &v[4], &v[5], &v[6], &v[7]);
    fclose(f);
    if (n < 5)
        return -1;
    unsigned long long busy = 0;
    for (int i = 0; i < 8; i++)
        busy += i == 3 || i == 4 ? 0 : v[i]; /* all but idle and iowait */
    return (double)busy / (double)sysconf(_SC_CLK_TCK);
}

void bc_threads_free(bc_threads *t)
{
    free(t->v);
    t->v = NULL;
    t->n = 0;
}

int bc_threads_snapshot(const char *prog, pid_t pid, bc_threads *out)
{
    bc_threads_free(out);
    char path[96];
    snprintf(path, sizeof path, "/proc/%ld/task", (long)pid);
    DIR *dir = opendir(path);
    if (dir == NULL) {
        fprintf(stderr, "%s: cannot list the threads of %ld: %s\n", prog, (long)pid,
                strerror(errno));
        return -1;
    }
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(dir)) != NULL) {
        if (e->d_name[0] < '0' || e->d_name[0] > '9')
            continue;
        bc_thread_cpu *nv = bc_grow(out->v, &cap, out->n + 1, sizeof *nv, 32);
        if (nv == NULL) {
            closedir(dir);
            fprintf(stderr, "%s: out of memory listing threads\n", prog);
            return -1;
        }
        out->v = nv;
        bc_thread_cpu *t = &out->v[out->n];
        t->tid = (pid_t)atol(e->d_name);
        snprintf(path, sizeof path, "/proc/%ld/task/%ld/stat", (long)pid, (long)t->tid);
        /* A thread that ended meanwhile is simply left out. */
        if ((t->cpu_s = stat_cpu_s(path, t->comm, sizeof t->comm)) >= 0)
            out->n++;
    }
    closedir(dir);
    return 0;
}

static int cmp_cpu_desc(const void *a, const void *b)
{
    double x = ((const bc_thread_cpu *)a)->cpu_s, y = ((const bc_thread_cpu *)b)->cpu_s;
    return (x < y) - (x > y);
}

void bc_threads_print(FILE *f, const char *indent, const bc_threads *before,
                      const bc_threads *after, double seconds, size_t top)
{
    if (after->n == 0 || seconds <= 0)
        return;
    bc_thread_cpu *d = malloc(after->n * sizeof *d);
    if (d == NULL)
        return;
    for (size_t i = 0; i < after->n; i++) {
        d[i] = after->v[i];
        /* A thread born inside the window counts from zero. */
        for (size_t j = 0; j < before->n; j++)
            if (before->v[j].tid == d[i].tid) {
                d[i].cpu_s -= before->v[j].cpu_s;
                break;
            }
    }
    qsort(d, after->n, sizeof *d, cmp_cpu_desc);
    for (size_t i = 0; i < after->n && i < top; i++)
        fprintf(f, "%stid %-7ld %-16s %.2f cores\n", indent, (long)d[i].tid, d[i].comm,
                d[i].cpu_s / seconds);
    free(d);
}

void bc_cpu_begin(bc_cpu *c, pid_t daemon_pid)
{
    *c = (bc_cpu){.pid = daemon_pid};
    c->pid0 = daemon_pid > 0 ? bc_process_cpu_s(daemon_pid) : -1;
    c->self0 = bc_self_cpu_s();
    c->children0 = rusage_cpu_s(RUSAGE_CHILDREN);
    c->machine0 = bc_machine_busy_s();
}

void bc_cpu_end(bc_cpu *c)
{
    double pid1 = c->pid > 0 ? bc_process_cpu_s(c->pid) : -1;
    double machine1 = bc_machine_busy_s();
    c->self = bc_self_cpu_s() - c->self0;
    c->children = rusage_cpu_s(RUSAGE_CHILDREN) - c->children0;
    c->daemon = c->pid0 >= 0 && pid1 >= 0 ? pid1 - c->pid0 : -1;
    c->other = c->machine0 >= 0 && machine1 >= 0 ? machine1 - c->machine0 - c->self - c->children -
                                                       (c->daemon > 0 ? c->daemon : 0)
                                                 : -1;
    if (machine1 >= 0 && c->other < 0)
        c->other = 0; /* clock-tick rounding */
}

/* --- latencies ------------------------------------------------------------- */

int bc_lat_add(bc_lat *l, int64_t us)
{
    uint32_t *nv = bc_grow(l->v, &l->cap, l->n + 1, sizeof *nv, 4096);
    if (nv == NULL)
        return -1;
    l->v = nv;
    l->v[l->n++] = us < 0 ? 0 : us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
    return 0;
}

int bc_lat_append(bc_lat *dst, const bc_lat *src)
{
    if (src->n == 0)
        return 0;
    uint32_t *nv = bc_grow(dst->v, &dst->cap, dst->n + src->n, sizeof *nv, dst->n + src->n);
    if (nv == NULL)
        return -1;
    dst->v = nv;
    memcpy(dst->v + dst->n, src->v, src->n * sizeof *src->v);
    dst->n += src->n;
    return 0;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

void bc_lat_sort(bc_lat *l)
{
    if (l->n > 1)
        qsort(l->v, l->n, sizeof *l->v, cmp_u32);
}

uint32_t bc_lat_pct(const bc_lat *l, double q)
{
    if (l->n == 0)
        return 0;
    size_t rank = (size_t)ceil(q * (double)l->n);
    return l->v[rank > 0 ? rank - 1 : 0];
}

uint32_t bc_lat_max(const bc_lat *l)
{
    return l->n > 0 ? l->v[l->n - 1] : 0;
}

void bc_lat_free(bc_lat *l)
{
    free(l->v);
    *l = (bc_lat){0};
}

/* --- the verdict ----------------------------------------------------------- */

int bc_fail_if(FILE *f, const char *prefix, bool cond, const char *fmt, ...)
{
    if (!cond)
        return 0;
    va_list ap;
    va_start(ap, fmt);
    fprintf(f, "%sFAIL: ", prefix);
    vfprintf(f, fmt, ap);
    fprintf(f, "\n");
    va_end(ap);
    return 1;
}

/* --- the daemon ------------------------------------------------------------ */

void bc_use_minbilld(const char *default_path)
{
    if (getenv("MINBILLD") == NULL)
        setenv("MINBILLD", default_path, 0);
}

int bc_daemon_start(const char *prog, mbt_daemon *d, const char *default_path,
                    const char *const *extra_args)
{
    memset(d, 0, sizeof *d);
    bc_use_minbilld(default_path);
    if (access(mbt_minbilld_path(), X_OK) != 0) {
        fprintf(stderr, "%s: cannot run the daemon %s: %s (build it, or set MINBILLD)\n", prog,
                mbt_minbilld_path(), strerror(errno));
        return -1;
    }
    if (mbt_daemon_init(d) != 0) {
        fprintf(stderr, "%s: cannot prepare the daemon's directory and key\n", prog);
        return -1;
    }
    if (mbt_daemon_start(d, extra_args) != 0) {
        fprintf(stderr, "%s: minbilld did not start (see %s)\n", prog, d->log);
        return -1;
    }
    return 0;
}

int bc_daemon_start_threads(const char *prog, mbt_daemon *d, const char *default_path, long threads)
{
    char n[24];
    snprintf(n, sizeof n, "%ld", threads);
    const char *extra[] = {"--threads", n, NULL};
    return bc_daemon_start(prog, d, default_path, threads > 0 ? extra : NULL);
}

int bc_daemon_stop(const char *prog, mbt_daemon *d, int timeout_s)
{
    int status = 0;
    if (mbt_daemon_stop(d, SIGTERM, timeout_s, &status) != 0) {
        fprintf(stderr, "%s: minbilld did not stop within %d s of SIGTERM (see %s)\n", prog,
                timeout_s, d->log);
        return -1;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "%s: minbilld stopped with %s %d (see %s)\n", prog,
                WIFEXITED(status) ? "exit code" : "signal",
                WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), d->log);
        return -1;
    }
    return 0;
}

void bc_print_daemon(bool own, pid_t pid, long threads, const char *target)
{
    if (own)
        printf("  daemon            %s serve --threads %ld (pid %ld)\n", mbt_minbilld_path(),
               threads, (long)pid);
    else
        printf("  daemon            %s (already running)\n", target);
}

long bc_log_figure(const char *path, const char *event, const char *name)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return -1;
    char line[4096], ev[80], want[80];
    snprintf(ev, sizeof ev, "event=%s ", event);
    snprintf(want, sizeof want, " %s=", name);
    long v = -1;
    while (fgets(line, sizeof line, f) != NULL) {
        const char *p = strstr(line, ev);
        if (p != NULL && (p = strstr(p, want)) != NULL)
            v = atol(p + strlen(want));
    }
    fclose(f);
    return v;
}

void bc_print_load(const char *label)
{
    FILE *f = fopen("/proc/loadavg", "r");
    char line[128] = "?";
    if (f != NULL) {
        if (fgets(line, sizeof line, f) == NULL)
            line[0] = '\0';
        fclose(f);
    }
    line[strcspn(line, "\n")] = '\0';
    printf("%s%s (/proc/loadavg; %ld cores)\n", label, line, bc_cores());
}

void bc_print_peak_rss(long rss_kib)
{
    if (rss_kib >= 0)
        printf("  daemon peak RSS   %.1f MiB (VmHWM %ld kB)\n", (double)rss_kib / 1024.0, rss_kib);
    else
        printf("  daemon peak RSS   n/a (give --daemon-pid)\n");
}

int bc_upsert_account(const char *prog, mbc_channel_t *ch, const char *key, const char *id,
                      const char *plan_id, int timeout_ms)
{
    mb_error st;
    if (mbt_upsert_account(ch, key, id, "Autohaus Bench GmbH", plan_id, NULL, 0, timeout_ms, &st) !=
        GRPC_STATUS_OK) {
        fprintf(stderr, "%s: UpsertAccount %s: %s: %s\n", prog, id, mb_status_name(st.code),
                st.msg);
        return -1;
    }
    return 0;
}

int bc_upsert_bench_plan(const char *prog, mbc_channel_t *ch, const char *admin_key, int timeout_ms)
{
    Minbill__V1__Price prices[2] = {MINBILL__V1__PRICE__INIT, MINBILL__V1__PRICE__INIT};
    Minbill__V1__Price *pp[2] = {&prices[0], &prices[1]};
    prices[0].metric = "messages";
    prices[0].description = "Messages";
    prices[0].unit_price = "0.0025";
    prices[1].metric = "seats";
    prices[1].description = "Active seats";
    prices[1].unit_price = "4.5";
    Minbill__V1__Plan plan = MINBILL__V1__PLAN__INIT;
    plan.plan_id = "bench";
    plan.currency = "EUR";
    plan.n_prices = 2;
    plan.prices = pp;
    ProtobufCMessage *resp = NULL;
    mb_error st;
    if (mbc_unary(ch, "/minbill.v1.Invoicing/UpsertPlan", admin_key, &plan.base,
                  &minbill__v1__plan__descriptor, timeout_ms, &resp, &st) != 0) {
        fprintf(stderr, "%s: UpsertPlan: %s: %s\n", prog, mb_status_name(st.code), st.msg);
        return -1;
    }
    protobuf_c_message_free_unpacked(resp, NULL);
    return 0;
}

int64_t bc_usage_total(const char *prog, mbc_channel_t *ch, const char *finance_key,
                       const char *account, const char *period, int timeout_ms)
{
    Minbill__V1__GetUsageRequest req = MINBILL__V1__GET_USAGE_REQUEST__INIT;
    req.account_id = (char *)account;
    req.period = (char *)period;
    ProtobufCMessage *resp = NULL;
    mb_error st;
    if (mbc_unary(ch, "/minbill.v1.Metering/GetUsage", finance_key, &req.base,
                  &minbill__v1__get_usage_response__descriptor, timeout_ms, &resp, &st) != 0) {
        fprintf(stderr, "%s: GetUsage %s: %s: %s\n", prog, account, mb_status_name(st.code),
                st.msg);
        return -1;
    }
    const Minbill__V1__GetUsageResponse *r = (const Minbill__V1__GetUsageResponse *)resp;
    int64_t sum = 0;
    for (size_t k = 0; k < r->n_counters; k++)
        sum += r->counters[k]->quantity;
    protobuf_c_message_free_unpacked(resp, NULL);
    return sum;
}

bc_load_spec bc_record_usage_spec(const char *prog, const char *target, const char *platform_key,
                                  long inflight, int deadline_ms)
{
    return (bc_load_spec){.prog = prog,
                          .target = target,
                          .method = BC_RECORD_USAGE,
                          .api_key = platform_key,
                          .threads = 1,
                          .connections = 2,
                          .inflight = (size_t)inflight,
                          .deadline_ms = deadline_ms};
}

int bc_check_usage_counts(const uint8_t *resp, size_t len, int64_t accepted, int64_t duplicates,
                          char *why, size_t why_size)
{
    Minbill__V1__RecordUsageResponse *m =
        minbill__v1__record_usage_response__unpack(NULL, len, resp);
    bool ok = m != NULL && m->accepted == accepted && m->duplicates == duplicates;
    if (m == NULL)
        snprintf(why, why_size, "the response is not a RecordUsageResponse");
    else if (!ok)
        snprintf(why, why_size,
                 "answered accepted=%" PRId64 " duplicates=%" PRId64 " (expected %" PRId64
                 " and %" PRId64 ")",
                 m->accepted, m->duplicates, accepted, duplicates);
    if (m != NULL)
        minbill__v1__record_usage_response__free_unpacked(m, NULL);
    return ok ? 0 : -1;
}

/* --- asynchronous unary load ----------------------------------------------- */

void bc_recv_ops(grpc_op ops[3], grpc_metadata_array *initial_md, grpc_byte_buffer **resp,
                 grpc_status_code *status, grpc_slice *details, grpc_metadata_array *trailing_md)
{
    grpc_metadata_array_init(initial_md);
    grpc_metadata_array_init(trailing_md);
    ops[0] = (grpc_op){.op = GRPC_OP_RECV_INITIAL_METADATA};
    ops[0].data.recv_initial_metadata.recv_initial_metadata = initial_md;
    ops[1] = (grpc_op){.op = GRPC_OP_RECV_MESSAGE};
    ops[1].data.recv_message.recv_message = resp;
    ops[2] = (grpc_op){.op = GRPC_OP_RECV_STATUS_ON_CLIENT};
    ops[2].data.recv_status_on_client.trailing_metadata = trailing_md;
    ops[2].data.recv_status_on_client.status = status;
    ops[2].data.recv_status_on_client.status_details = details;
}

enum { PHASE_WARMUP, PHASE_MEASURE, PHASE_STOP };

typedef struct load_run load_run;
typedef struct load_worker load_worker;

/* One call in flight; reused for the next call when it completes. */
typedef struct load_slot {
    load_worker *w;
    size_t channel;
    grpc_call *call;
    grpc_byte_buffer *req, *resp;
    grpc_metadata_array initial_md, trailing_md;
    grpc_status_code status;
    grpc_slice details;
    int64_t start_ns;
    void *ctx;
} load_slot;

struct load_worker {
    load_run *run;
    size_t index;
    pthread_t thread;
    load_slot *slots;
    size_t n_slots;
    unsigned char *ctx_mem;
    /* Only this thread touches these until it is joined. */
    long ok, ok_total, failed;
    bc_lat lat;
};

struct load_run {
    const bc_load_spec *spec;
    grpc_channel **channels;
    void **registered; /* grpc_channel_register_call handle per channel */
    grpc_metadata auth_md;
    size_t n_md;
    char auth_value[512];
    bool by_calls; /* the run is bounded by calls, not by time */
    atomic_int phase;
    /* By calls: calls of the phase left to start, and left to finish. */
    atomic_long tickets, pending;
    /* Bumped each time the controller enters a phase: an idle worker waits
     * for it rather than for the phase, which it may have seen change before
     * the phase's tickets were there to take. */
    atomic_int round;
    pthread_mutex_t lock;
    pthread_cond_t cond;       /* to the controller: a failure stopped the run,
                                * or (by calls) the phase's last call finished */
    pthread_cond_t round_cond; /* to idle workers: a new round, or the stop */
    bool stopped;
    char first_error[512];
};

/* Counts a failure, keeps the first description and stops the run: after
 * one wrong answer the figures are meaningless and the caller exits 1. */
static void load_fail(load_worker *w, const char *what)
{
    load_run *r = w->run;
    w->failed++;
    atomic_store(&r->phase, PHASE_STOP);
    pthread_mutex_lock(&r->lock);
    if (r->first_error[0] == '\0')
        snprintf(r->first_error, sizeof r->first_error, "%s", what);
    r->stopped = true;
    pthread_cond_signal(&r->cond);
    pthread_cond_broadcast(&r->round_cond);
    pthread_mutex_unlock(&r->lock);
}

/* Whether a slot may start another call now: by time, until the run stops;
 * by calls, while the phase has calls left (taking one). */
static bool load_may_start(load_run *r)
{
    if (atomic_load(&r->phase) == PHASE_STOP)
        return false;
    return !r->by_calls || atomic_fetch_sub(&r->tickets, 1) > 0;
}

/* Moves the run to `phase`; by calls, with `calls` calls to make. The counts
 * are stored before the phase and the tickets after it, so whoever takes a
 * ticket already sees the phase its call belongs to (and counts it right). */
static void load_enter(load_run *r, int phase, long calls)
{
    if (r->by_calls)
        atomic_store(&r->pending, calls);
    atomic_store(&r->phase, phase);
    if (r->by_calls)
        atomic_store(&r->tickets, calls);
    atomic_fetch_add(&r->round, 1);
    pthread_mutex_lock(&r->lock);
    pthread_cond_broadcast(&r->round_cond);
    pthread_mutex_unlock(&r->lock);
}

/* Ends the run: no new calls; idle workers wake up and leave. */
static void load_stop(load_run *r)
{
    atomic_store(&r->phase, PHASE_STOP);
    pthread_mutex_lock(&r->lock);
    pthread_cond_broadcast(&r->round_cond);
    pthread_mutex_unlock(&r->lock);
}

static void slot_release(load_slot *s)
{
    if (s->call != NULL)
        grpc_call_unref(s->call);
    if (s->req != NULL)
        grpc_byte_buffer_destroy(s->req);
    if (s->resp != NULL)
        grpc_byte_buffer_destroy(s->resp);
    grpc_slice_unref(s->details);
    grpc_metadata_array_destroy(&s->initial_md);
    grpc_metadata_array_destroy(&s->trailing_md);
    s->call = NULL;
    s->req = s->resp = NULL;
    s->details = grpc_empty_slice();
}

/* Starts the slot's next call; false if it could not (failure recorded). */
static bool slot_start(load_slot *s, grpc_completion_queue *cq)
{
    load_worker *w = s->w;
    load_run *r = w->run;
    const bc_load_spec *sp = r->spec;
    char why[400] = "";
    s->call = NULL;
    s->req = s->resp = NULL;
    s->details = grpc_empty_slice();
    /* The receiving half first: slot_release destroys its arrays on any
     * failure below. */
    grpc_op ops[6];
    bc_recv_ops(&ops[3], &s->initial_md, &s->resp, &s->status, &s->details, &s->trailing_md);
    if (sp->make(sp->user, w->index, s->ctx, &s->req, why, sizeof why) != 0 || s->req == NULL) {
        load_fail(w, why[0] != '\0' ? why : "building a request failed");
        slot_release(s);
        return false;
    }
    gpr_timespec deadline = gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC),
                                         gpr_time_from_millis(sp->deadline_ms, GPR_TIMESPAN));
    /* A registered call skips parsing and interning the method path on every
     * call: the client's CPU is the daemon's CPU on a two-core machine. */
    s->call =
        grpc_channel_create_registered_call(r->channels[s->channel], NULL, GRPC_PROPAGATE_DEFAULTS,
                                            cq, r->registered[s->channel], deadline, NULL);
    ops[0] = (grpc_op){.op = GRPC_OP_SEND_INITIAL_METADATA};
    ops[0].data.send_initial_metadata.count = r->n_md;
    ops[0].data.send_initial_metadata.metadata = r->n_md > 0 ? &r->auth_md : NULL;
    ops[1] = (grpc_op){.op = GRPC_OP_SEND_MESSAGE};
    ops[1].data.send_message.send_message = s->req;
    ops[2] = (grpc_op){.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT};
    s->start_ns = bc_now_ns();
    grpc_call_error e = grpc_call_start_batch(s->call, ops, 6, s, NULL);
    if (e != GRPC_CALL_OK) {
        snprintf(why, sizeof why, "%s: grpc_call_start_batch refused the call (error %d)",
                 sp->method, (int)e);
        load_fail(w, why);
        slot_release(s);
        return false;
    }
    return true;
}

static void slot_complete(load_slot *s, bool batch_ok)
{
    load_worker *w = s->w;
    load_run *r = w->run;
    const bc_load_spec *sp = r->spec;
    int64_t us = (bc_now_ns() - s->start_ns) / 1000;
    /* Read before judging: a call completing inside the window counts. */
    bool in_window = atomic_load(&r->phase) == PHASE_MEASURE;
    char why[600] = "";
    if (!batch_ok) {
        snprintf(why, sizeof why, "%s: the call's batch failed", sp->method);
        load_fail(w, why);
    } else if (s->status != GRPC_STATUS_OK) {
        char *d = grpc_slice_to_c_string(s->details);
        snprintf(why, sizeof why, "%s: gRPC status %s%s%.400s%s", sp->method,
                 mb_status_name(s->status), d[0] != '\0' ? " (" : "", d, d[0] != '\0' ? ")" : "");
        gpr_free(d);
        load_fail(w, why);
    } else {
        grpc_byte_buffer_reader rd;
        if (s->resp == NULL || !grpc_byte_buffer_reader_init(&rd, s->resp)) {
            snprintf(why, sizeof why, "%s: status OK without a response message", sp->method);
            load_fail(w, why);
        } else {
            grpc_slice sl = grpc_byte_buffer_reader_readall(&rd);
            grpc_byte_buffer_reader_destroy(&rd);
            char cwhy[400] = "";
            int rc = sp->check(sp->user, w->index, s->ctx, GRPC_SLICE_START_PTR(sl),
                               GRPC_SLICE_LENGTH(sl), cwhy, sizeof cwhy);
            grpc_slice_unref(sl);
            if (rc != 0) {
                snprintf(why, sizeof why, "%s: %s", sp->method,
                         cwhy[0] != '\0' ? cwhy : "unexpected response");
                load_fail(w, why);
            } else {
                w->ok_total++;
                if (in_window) {
                    w->ok++;
                    if (bc_lat_add(&w->lat, us) != 0)
                        load_fail(w, "out of memory for latencies");
                }
            }
        }
    }
    slot_release(s);
    if (r->by_calls && atomic_fetch_sub(&r->pending, 1) == 1) {
        /* The phase's last call: the controller moves on. */
        pthread_mutex_lock(&r->lock);
        pthread_cond_signal(&r->cond);
        pthread_mutex_unlock(&r->lock);
    }
}

/* Waits until the controller starts a round after `seen`, or the run stops. */
static void load_wait_round(load_run *r, int seen)
{
    pthread_mutex_lock(&r->lock);
    while (atomic_load(&r->round) == seen && atomic_load(&r->phase) != PHASE_STOP)
        pthread_cond_wait(&r->round_cond, &r->lock);
    pthread_mutex_unlock(&r->lock);
}

/* Rounds of: start every slot the phase allows, then re-issue each call as it
 * completes until the phase allows no more. By time, one round lasts the
 * whole run; by calls, the warm-up and the measured calls are two rounds,
 * with the worker idle (its connections open) in between. */
static void *load_worker_main(void *arg)
{
    load_worker *w = arg;
    load_run *r = w->run;
    grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
    bool broken = false;
    while (!broken && atomic_load(&r->phase) != PHASE_STOP) {
        /* Read before looking for calls to make: see load_run.round. */
        int round = atomic_load(&r->round);
        size_t active = 0;
        for (size_t i = 0; i < w->n_slots && load_may_start(r); i++)
            active += slot_start(&w->slots[i], cq);
        while (active > 0) {
            grpc_event ev =
                grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL);
            if (ev.type != GRPC_OP_COMPLETE) {
                load_fail(w, "the completion queue ended with calls in flight");
                broken = true;
                break;
            }
            load_slot *s = ev.tag;
            slot_complete(s, ev.success != 0);
            if (!load_may_start(r) || !slot_start(s, cq))
                active--;
        }
        if (!broken)
            load_wait_round(r, round);
    }
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_MONOTONIC), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(cq);
    return NULL;
}

/* Waits until until_ns (CLOCK_MONOTONIC), a failure, or (by calls) the end
 * of the phase's last call; true on failure. */
static bool load_wait(load_run *r, int64_t until_ns)
{
    pthread_mutex_lock(&r->lock);
    while (!r->stopped && bc_now_ns() < until_ns &&
           !(r->by_calls && atomic_load(&r->pending) <= 0)) {
        struct timespec ts = {(time_t)(until_ns / 1000000000), (long)(until_ns % 1000000000)};
        pthread_cond_timedwait(&r->cond, &r->lock, &ts);
    }
    bool stopped = r->stopped;
    pthread_mutex_unlock(&r->lock);
    return stopped;
}

/* The measured window opens: on_window first (by calls, nothing is in
 * flight yet), then the clock, then the workers' phase. -1 if on_window
 * stopped the run. */
static int load_open_window(load_run *r, int64_t *t0)
{
    const bc_load_spec *sp = r->spec;
    if (sp->on_window != NULL && sp->on_window(sp->user, true) != 0)
        return -1;
    *t0 = bc_now_ns();
    load_enter(r, PHASE_MEASURE, sp->measure_calls);
    return 0;
}

static int load_check_spec(const bc_load_spec *sp)
{
    const char *prog = sp->prog != NULL ? sp->prog : "bench";
    if (sp->target == NULL || sp->method == NULL || sp->make == NULL || sp->check == NULL) {
        fprintf(stderr, "%s: load: target, method, make and check are required\n", prog);
        return -1;
    }
    if (sp->threads < 1 || sp->connections < sp->threads || sp->inflight < sp->connections) {
        fprintf(stderr,
                "%s: load: need 1 <= threads (%zu) <= connections (%zu) <= calls in "
                "flight (%zu)\n",
                prog, sp->threads, sp->connections, sp->inflight);
        return -1;
    }
    if (sp->deadline_ms < 1) {
        fprintf(stderr, "%s: load: need a deadline per call\n", prog);
        return -1;
    }
    bool by_time =
        sp->measure_s > 0 && sp->warmup_s >= 0 && sp->warmup_calls == 0 && sp->measure_calls == 0;
    bool by_calls =
        sp->measure_calls > 0 && sp->warmup_calls >= 0 && sp->warmup_s == 0 && sp->measure_s == 0;
    if (!by_time && !by_calls) {
        fprintf(stderr,
                "%s: load: bound the run either by time (measure_s > 0, warmup_s >= 0) "
                "or by calls (measure_calls > 0, warmup_calls >= 0), not both\n",
                prog);
        return -1;
    }
    return 0;
}

/* Frees what load_new made; safe on a partly built run. */
static void load_free(load_run *r, load_worker *w)
{
    if (w != NULL) {
        for (size_t i = 0; i < r->spec->threads; i++) {
            free(w[i].slots);
            free(w[i].ctx_mem);
            bc_lat_free(&w[i].lat);
        }
        free(w);
    }
    if (r->channels != NULL)
        for (size_t i = 0; i < r->spec->connections; i++)
            if (r->channels[i] != NULL)
                grpc_channel_destroy(r->channels[i]);
    free(r->channels);
    free(r->registered);
    pthread_mutex_destroy(&r->lock);
    pthread_cond_destroy(&r->cond);
    pthread_cond_destroy(&r->round_cond);
}

/* Channels, registered methods, workers and their slots. */
static int load_new(load_run *r, load_worker **out)
{
    const bc_load_spec *sp = r->spec;
    const char *prog = sp->prog != NULL ? sp->prog : "bench";
    /* Scratch per call, 16-aligned so it can hold any struct. */
    size_t ctx_size = (sp->call_ctx_size + 15) / 16 * 16;
    r->channels = calloc(sp->connections, sizeof *r->channels);
    r->registered = calloc(sp->connections, sizeof *r->registered);
    load_worker *w = calloc(sp->threads, sizeof *w);
    *out = w;
    if (r->channels == NULL || r->registered == NULL || w == NULL)
        goto oom;
    if (sp->api_key != NULL && sp->api_key[0] != '\0') {
        /* Static slices over our own buffer: no refcounting per call. */
        snprintf(r->auth_value, sizeof r->auth_value, "Bearer %s", sp->api_key);
        r->auth_md.key = grpc_slice_from_static_string("authorization");
        r->auth_md.value = grpc_slice_from_static_string(r->auth_value);
        r->n_md = 1;
    }
    /* Equal channel args would share one subchannel, i.e. one connection:
     * a local pool per channel gives real separate connections. */
    grpc_arg arg = {
        .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, .value.integer = 1};
    grpc_channel_args args = {1, &arg};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    for (size_t i = 0; i < sp->connections; i++) {
        r->channels[i] = grpc_channel_create(sp->target, creds, &args);
        r->registered[i] = grpc_channel_register_call(r->channels[i], sp->method, NULL, NULL);
    }
    grpc_channel_credentials_release(creds);
    /* Call j runs on connection j % connections, which belongs to thread
     * (j % connections) % threads. */
    for (size_t j = 0; j < sp->inflight; j++)
        w[(j % sp->connections) % sp->threads].n_slots++;
    for (size_t t = 0; t < sp->threads; t++) {
        w[t].run = r;
        w[t].index = t;
        w[t].slots = calloc(w[t].n_slots, sizeof *w[t].slots);
        w[t].ctx_mem = calloc(w[t].n_slots, ctx_size > 0 ? ctx_size : 1);
        if (w[t].slots == NULL || w[t].ctx_mem == NULL)
            goto oom;
        w[t].n_slots = 0;
    }
    for (size_t j = 0; j < sp->inflight; j++) {
        size_t ch = j % sp->connections;
        load_worker *wk = &w[ch % sp->threads];
        load_slot *s = &wk->slots[wk->n_slots];
        *s = (load_slot){.w = wk, .channel = ch, .ctx = wk->ctx_mem + wk->n_slots * ctx_size};
        wk->n_slots++;
    }
    return 0;
oom:
    fprintf(stderr, "%s: out of memory for the load client\n", prog);
    return -1;
}

int bc_load_run(const bc_load_spec *sp, bc_load_result *out)
{
    memset(out, 0, sizeof *out);
    if (load_check_spec(sp) != 0)
        return -1;
    const char *prog = sp->prog != NULL ? sp->prog : "bench";
    grpc_init();
    load_run r = {.spec = sp, .by_calls = sp->measure_calls > 0};
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&r.cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&r.round_cond, NULL);
    pthread_mutex_init(&r.lock, NULL);
    load_worker *w = NULL;
    int ret = -1;
    size_t started = 0;
    if (load_new(&r, &w) != 0)
        goto out;

    int64_t t0 = 0, t1 = 0;
    bool warmup = r.by_calls ? sp->warmup_calls > 0 : sp->warmup_s > 0;
    bool window = false, stopped_by_prog = false;
    if (warmup)
        load_enter(&r, PHASE_WARMUP, sp->warmup_calls);
    else if (load_open_window(&r, &t0) == 0)
        window = true;
    else
        goto out;
    int64_t started_ns = bc_now_ns();
    for (; started < sp->threads; started++) {
        if (pthread_create(&w[started].thread, NULL, load_worker_main, &w[started]) != 0) {
            fprintf(stderr, "%s: cannot start load thread %zu\n", prog, started);
            load_stop(&r); /* the running ones drain and end */
            break;
        }
    }
    if (started == sp->threads) {
        int64_t warmup_end = r.by_calls ? INT64_MAX : started_ns + (int64_t)(sp->warmup_s * 1e9);
        if (!window && !load_wait(&r, warmup_end)) {
            if (load_open_window(&r, &t0) == 0)
                window = true;
            else
                stopped_by_prog = true;
        }
        if (window) {
            load_wait(&r, r.by_calls ? INT64_MAX : t0 + (int64_t)(sp->measure_s * 1e9));
            /* Close the window before anything else: the window end is the
             * last moment a completion may count. */
            load_stop(&r);
            t1 = bc_now_ns();
            if (sp->on_window != NULL && sp->on_window(sp->user, false) != 0)
                stopped_by_prog = true;
        }
    }
    load_stop(&r);
    for (size_t i = 0; i < started; i++)
        pthread_join(w[i].thread, NULL);
    if (started < sp->threads || stopped_by_prog)
        goto out;

    out->seconds = window ? (double)(t1 - t0) / 1e9 : 0;
    for (size_t i = 0; i < sp->threads; i++) {
        out->ok += w[i].ok;
        out->ok_total += w[i].ok_total;
        out->failed += w[i].failed;
        if (bc_lat_append(&out->lat, &w[i].lat) != 0) {
            fprintf(stderr, "%s: out of memory for latencies\n", prog);
            goto out;
        }
    }
    bc_lat_sort(&out->lat);
    snprintf(out->first_error, sizeof out->first_error, "%s", r.first_error);
    ret = 0;
out:
    load_free(&r, w);
    grpc_shutdown_blocking();
    return ret;
}

ProtobufCMessage *bc_unpack_response(const ProtobufCMessageDescriptor *desc, const uint8_t *resp,
                                     size_t len, char *why, size_t why_size)
{
    ProtobufCMessage *m = protobuf_c_message_unpack(desc, NULL, len, resp);
    if (m == NULL)
        snprintf(why, why_size, "the response is not a %s", desc->short_name);
    return m;
}

void bc_load_result_free(bc_load_result *r)
{
    bc_lat_free(&r->lat);
}

int bc_pack_request(const ProtobufCMessage *msg, grpc_byte_buffer **out, char *why, size_t why_size)
{
    uint8_t buf[65536];
    size_t n = protobuf_c_message_get_packed_size(msg);
    if (n > sizeof buf) {
        snprintf(why, why_size, "request of %zu bytes exceeds the bench's buffer", n);
        return -1;
    }
    protobuf_c_message_pack(msg, buf);
    grpc_slice sl = grpc_slice_from_copied_buffer((const char *)buf, n);
    *out = grpc_raw_byte_buffer_create(&sl, 1);
    grpc_slice_unref(sl);
    return 0;
}

static const char SELLER[] = "legal_name = Bench Billing B.V.\n"
                             "address.line1 = Herengracht 1\n"
                             "address.postal_code = 1015 BS\n"
                             "address.city = Amsterdam\n"
                             "address.country_code = NL\n"
                             "vat_id = NL123456789B01\n"
                             "electronic_address = 9944:NL123456789B01\n"
                             "contact.name = Billing\n"
                             "contact.phone = +31 20 123 4567\n"
                             "contact.email = billing@bench.example\n"
                             "bank.iban = NL91ABNA0417164300\n"
                             "payment_terms_days = 14\n"
                             "invoice_prefix = INV\n"
                             "credit_note_prefix = CN\n"
                             "retention_years = 7\n";

int bc_write_seller_config(const char *prog, const mbt_daemon *d, char *path, size_t size)
{
    snprintf(path, size, "%s/seller.conf", d->dir);
    FILE *f = fopen(path, "w");
    if (f == NULL || fputs(SELLER, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "%s: cannot write %s\n", prog, path);
        return -1;
    }
    return 0;
}

int bc_pack_usage_event(const char *account, const char *metric, const char *key, int64_t seconds,
                        grpc_byte_buffer **out, char *why, size_t why_size)
{
    Google__Protobuf__Timestamp ts = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    ts.seconds = seconds;
    Minbill__V1__UsageEvent ev = MINBILL__V1__USAGE_EVENT__INIT, *evp = &ev;
    ev.idempotency_key = (char *)key;
    ev.account_id = (char *)account;
    ev.metric = (char *)metric;
    ev.quantity = 1;
    ev.occurred_at = &ts;
    Minbill__V1__RecordUsageRequest r = MINBILL__V1__RECORD_USAGE_REQUEST__INIT;
    r.n_events = 1;
    r.events = &evp;
    return bc_pack_request(&r.base, out, why, why_size);
}

int bc_check_ok(void *user, size_t thread, void *ctx, const uint8_t *resp, size_t len, char *why,
                size_t why_size)
{
    (void)user;
    (void)thread;
    (void)ctx;
    (void)resp;
    (void)len;
    (void)why;
    (void)why_size;
    return 0;
}

bc_load_spec bc_unary_spec(const char *prog, const char *target, const char *method,
                           const char *key, long inflight, bc_make_fn make, void *user)
{
    return (bc_load_spec){.prog = prog,
                          .target = target,
                          .method = method,
                          .api_key = key,
                          .threads = 2,
                          .connections = 2,
                          .inflight = (size_t)inflight,
                          .deadline_ms = 30000,
                          .user = user,
                          .make = make,
                          .check = bc_check_ok};
}

int bc_load_calls(const char *what, bc_load_spec sp, long calls, _Atomic uint64_t *seq)
{
    atomic_store(seq, 0);
    sp.measure_calls = calls;
    bc_load_result r;
    int64_t t0 = bc_now_ns();
    if (bc_load_run(&sp, &r) != 0 || r.failed != 0) {
        fprintf(stderr, "%s: %s failed: %s\n", sp.prog, what, r.first_error);
        bc_load_result_free(&r);
        return -1;
    }
    printf("  %-28s %ld calls in %.1f s\n", what, calls, (double)(bc_now_ns() - t0) / 1e9);
    fflush(stdout);
    bc_load_result_free(&r);
    return 0;
}
