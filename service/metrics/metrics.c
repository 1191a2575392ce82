/*
 * metrics.c - see metrics.h.
 *
 * Histograms keep one atomic count per bucket (not cumulative) and an
 * atomic sum in the unit they observe (microseconds, nanoseconds, jobs);
 * the renderer makes the buckets cumulative and derives _count from them,
 * so a scrape always shows `le="+Inf"` equal to _count. A scrape that races
 * with recording may see a sum one observation ahead of the buckets: the
 * format allows that, and nothing is ever lost.
 */
#include "metrics/metrics.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/error.h"

#define CODES 17 /* OK .. UNAUTHENTICATED */
#define BUCKETS_MAX 16
#define UNKNOWN_ROW METRICS_METHODS_MAX

typedef struct bucket {
    int64_t le;        /* upper bound, in the observed unit */
    const char *label; /* the same in the rendered unit */
} bucket;

typedef struct histogram {
    _Atomic uint64_t count[BUCKETS_MAX + 1]; /* [n]: above the last bound */
    _Atomic uint64_t sum;
} histogram;

typedef struct histogram_kind {
    const bucket *b;
    size_t n;
    double scale; /* observed unit -> rendered unit */
} histogram_kind;

/* Call latency, in microseconds: 100 us to 10 s. */
static const bucket LATENCY[] = {
    {100, "0.0001"},  {250, "0.00025"}, {500, "0.0005"},  {1000, "0.001"},
    {2500, "0.0025"}, {5000, "0.005"},  {10000, "0.01"},  {25000, "0.025"},
    {50000, "0.05"},  {100000, "0.1"},  {250000, "0.25"}, {500000, "0.5"},
    {1000000, "1"},   {2500000, "2.5"}, {5000000, "5"},   {10000000, "10"},
};
/* fsync, in nanoseconds: 50 us to 1 s. */
static const bucket FSYNC[] = {
    {50000, "0.00005"},  {100000, "0.0001"},  {250000, "0.00025"}, {500000, "0.0005"},
    {1000000, "0.001"},  {2500000, "0.0025"}, {5000000, "0.005"},  {10000000, "0.01"},
    {25000000, "0.025"}, {50000000, "0.05"},  {100000000, "0.1"},  {250000000, "0.25"},
    {500000000, "0.5"},  {1000000000, "1"},
};
/* Jobs per writer group. */
static const bucket GROUP[] = {
    {1, "1"},   {2, "2"},     {4, "4"},     {8, "8"},     {16, "16"},     {32, "32"},
    {64, "64"}, {128, "128"}, {256, "256"}, {512, "512"}, {1024, "1024"}, {2048, "2048"},
};
#define KIND(a, s)                                                                                 \
    {                                                                                              \
        a, sizeof a / sizeof a[0], s                                                               \
    }
static const histogram_kind LATENCY_KIND = KIND(LATENCY, 1e-6);
static const histogram_kind FSYNC_KIND = KIND(FSYNC, 1e-9);
static const histogram_kind GROUP_KIND = KIND(GROUP, 1);

static const char *const FILE_LABEL[] = {"database", "wal", "other"};

static struct {
    const rpc_method *methods;
    size_t n_methods;
    const char *db_path;
    _Atomic uint64_t calls[METRICS_METHODS_MAX + 1][CODES];
    histogram latency[METRICS_METHODS_MAX + 1];
    _Atomic uint64_t events_accepted, events_duplicate, invoices_issued;
    const char *purge_category[METRICS_PURGE_CATEGORIES];
    _Atomic uint64_t purged[METRICS_PURGE_CATEGORIES];
    _Atomic int n_purge_categories;
    _Atomic uint64_t jobs_submitted, jobs_taken;
    histogram group;
    histogram fsync[3];
    pthread_mutex_t source_lock; /* the access-request callback only */
    metrics_access_requests_fn source;
    void *source_arg;
} m = {.source_lock = PTHREAD_MUTEX_INITIALIZER};

void metrics_init(const rpc_method *methods, size_t n_methods, const char *db_path)
{
    m.methods = methods;
    m.n_methods = n_methods < METRICS_METHODS_MAX ? n_methods : METRICS_METHODS_MAX;
    m.db_path = db_path;
}

static void observe(histogram *h, const histogram_kind *k, int64_t v)
{
    size_t i = 0;
    while (i < k->n && v > k->b[i].le)
        i++;
    atomic_fetch_add_explicit(&h->count[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum, v > 0 ? (uint64_t)v : 0, memory_order_relaxed);
}

void metrics_call(long method_index, grpc_status_code code, int64_t latency_us)
{
    size_t row = method_index >= 0 && (size_t)method_index < m.n_methods ? (size_t)method_index
                                                                         : UNKNOWN_ROW;
    size_t c = code >= 0 && code < CODES ? (size_t)code : GRPC_STATUS_UNKNOWN;
    atomic_fetch_add_explicit(&m.calls[row][c], 1, memory_order_relaxed);
    observe(&m.latency[row], &LATENCY_KIND, latency_us);
}

void metrics_events_add(int64_t accepted, int64_t duplicates)
{
    atomic_fetch_add_explicit(&m.events_accepted, (uint64_t)accepted, memory_order_relaxed);
    atomic_fetch_add_explicit(&m.events_duplicate, (uint64_t)duplicates, memory_order_relaxed);
}

void metrics_invoices_issued_add(uint64_t n)
{
    atomic_fetch_add_explicit(&m.invoices_issued, n, memory_order_relaxed);
}

int metrics_purge_category(const char *category)
{
    int n = atomic_load(&m.n_purge_categories);
    for (int i = 0; i < n; i++)
        if (strcmp(m.purge_category[i], category) == 0)
            return i;
    if (n == METRICS_PURGE_CATEGORIES)
        return -1;
    m.purge_category[n] = category;
    atomic_store(&m.n_purge_categories, n + 1);
    return n;
}

void metrics_purged_add(int slot, uint64_t n)
{
    if (slot >= 0 && slot < METRICS_PURGE_CATEGORIES)
        atomic_fetch_add_explicit(&m.purged[slot], n, memory_order_relaxed);
}

void metrics_writer_submitted(void)
{
    atomic_fetch_add_explicit(&m.jobs_submitted, 1, memory_order_relaxed);
}

void metrics_writer_group(size_t n)
{
    atomic_fetch_add_explicit(&m.jobs_taken, n, memory_order_relaxed);
    observe(&m.group, &GROUP_KIND, (int64_t)n);
}

void metrics_fsync(metrics_file kind, int64_t ns)
{
    observe(&m.fsync[kind], &FSYNC_KIND, ns);
}

void metrics_access_requests_source(metrics_access_requests_fn fn, void *arg)
{
    pthread_mutex_lock(&m.source_lock);
    m.source = fn;
    m.source_arg = arg;
    pthread_mutex_unlock(&m.source_lock);
}

/* --- rendering --------------------------------------------------------------- */

typedef struct text {
    char *p;
    size_t len, cap;
    bool failed;
} text;

__attribute__((format(printf, 2, 3))) static void put(text *t, const char *fmt, ...)
{
    for (int attempt = 0; attempt < 2 && !t->failed; attempt++) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(t->p + t->len, t->cap - t->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            t->failed = true;
        } else if ((size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        } else {
            size_t cap = (t->cap + (size_t)n + 1) * 2;
            char *p = realloc(t->p, cap);
            if (p == NULL)
                t->failed = true;
            else
                t->p = p, t->cap = cap;
        }
    }
}

static void header(text *t, const char *name, const char *type, const char *help)
{
    put(t, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* Method paths come from our own table, but a label value is escaped the
 * way the format requires all the same: a backslash, a quote or a newline
 * would otherwise break every line after it. */
static const char *label_value(char *out, size_t size, const char *v)
{
    size_t o = 0;
    for (; *v != '\0' && o + 3 < size; v++) {
        if (*v == '\\' || *v == '"' || *v == '\n') {
            out[o++] = '\\';
            out[o++] = *v == '\n' ? 'n' : *v;
        } else {
            out[o++] = *v;
        }
    }
    out[o] = '\0';
    return out;
}

static const char *method_label(size_t row, char *out, size_t size)
{
    return row < m.n_methods ? label_value(out, size, m.methods[row].path) : "unknown";
}

/* One histogram series; labels is "" or `key="value"` (without braces). */
static void put_histogram(text *t, const char *name, const char *labels, const histogram *h,
                          const histogram_kind *k)
{
    const char *sep = labels[0] != '\0' ? "," : "";
    uint64_t cumulative = 0;
    for (size_t i = 0; i <= k->n; i++) {
        cumulative += atomic_load_explicit(&h->count[i], memory_order_relaxed);
        put(t, "%s_bucket{%s%sle=\"%s\"} %llu\n", name, labels, sep,
            i < k->n ? k->b[i].label : "+Inf", (unsigned long long)cumulative);
    }
    double sum = (double)atomic_load_explicit(&h->sum, memory_order_relaxed) * k->scale;
    const char *open = labels[0] != '\0' ? "{" : "", *close = labels[0] != '\0' ? "}" : "";
    put(t, "%s_sum%s%s%s %.17g\n", name, open, labels, close, sum);
    put(t, "%s_count%s%s%s %llu\n", name, open, labels, close, (unsigned long long)cumulative);
}

static uint64_t histogram_total(const histogram *h)
{
    uint64_t n = 0;
    for (size_t i = 0; i <= BUCKETS_MAX; i++)
        n += atomic_load_explicit(&h->count[i], memory_order_relaxed);
    return n;
}

static bool row_used(size_t row)
{
    return row < m.n_methods || row == UNKNOWN_ROW;
}

static void render_calls(text *t)
{
    char method[160], labels[192];
    header(t, "minbill_calls_total", "counter", "Finished gRPC calls by method and status code.");
    for (size_t row = 0; row <= UNKNOWN_ROW; row++) {
        if (!row_used(row))
            continue;
        for (size_t c = 0; c < CODES; c++) {
            uint64_t v = atomic_load_explicit(&m.calls[row][c], memory_order_relaxed);
            if (v > 0)
                put(t, "minbill_calls_total{method=\"%s\",code=\"%s\"} %llu\n",
                    method_label(row, method, sizeof method), mb_status_name((grpc_status_code)c),
                    (unsigned long long)v);
        }
    }
    header(t, "minbill_call_duration_seconds", "histogram",
           "Time from accepting a gRPC call to sending its status, by method.");
    for (size_t row = 0; row <= UNKNOWN_ROW; row++) {
        if (!row_used(row) || histogram_total(&m.latency[row]) == 0)
            continue;
        snprintf(labels, sizeof labels, "method=\"%s\"", method_label(row, method, sizeof method));
        put_histogram(t, "minbill_call_duration_seconds", labels, &m.latency[row], &LATENCY_KIND);
    }
}

static void put_counter(text *t, const char *name, const char *help, _Atomic uint64_t *v)
{
    header(t, name, "counter", help);
    put(t, "%s %llu\n", name, (unsigned long long)atomic_load_explicit(v, memory_order_relaxed));
}

static void put_gauge(text *t, const char *name, const char *help, long long v)
{
    header(t, name, "gauge", help);
    put(t, "%s %lld\n", name, v);
}

/* Size of the file at path, suffix appended; 0 if it does not exist. */
static long long file_bytes(const char *path, const char *suffix)
{
    char p[4096];
    struct stat st;
    if (path == NULL || (size_t)snprintf(p, sizeof p, "%s%s", path, suffix) >= sizeof p ||
        stat(p, &st) != 0)
        return 0;
    return (long long)st.st_size;
}

static void render_storage(text *t)
{
    uint64_t submitted = atomic_load_explicit(&m.jobs_submitted, memory_order_relaxed);
    uint64_t taken = atomic_load_explicit(&m.jobs_taken, memory_order_relaxed);
    /* Two loads, not one snapshot: a group taken in between may briefly
     * make taken the larger. */
    put_gauge(t, "minbill_writer_queue_jobs", "Write jobs waiting for the writer thread.",
              submitted > taken ? (long long)(submitted - taken) : 0);
    header(t, "minbill_writer_group_jobs", "histogram",
           "Jobs committed together in one writer transaction.");
    put_histogram(t, "minbill_writer_group_jobs", "", &m.group, &GROUP_KIND);
    header(t, "minbill_fsync_duration_seconds", "histogram",
           "Duration of each fsync of a database file (wal: the commits).");
    for (size_t k = 0; k < 3; k++) {
        char labels[32];
        snprintf(labels, sizeof labels, "file=\"%s\"", FILE_LABEL[k]);
        put_histogram(t, "minbill_fsync_duration_seconds", labels, &m.fsync[k], &FSYNC_KIND);
    }
    put_gauge(t, "minbill_database_bytes", "Size of the database file.", file_bytes(m.db_path, ""));
    put_gauge(t, "minbill_wal_bytes", "Size of the database's write-ahead log file.",
              file_bytes(m.db_path, "-wal"));
}

static void render_purged(text *t)
{
    int n = atomic_load(&m.n_purge_categories);
    if (n == 0)
        return;
    header(t, "minbill_purged_total", "counter",
           "Items removed by the retention purges, by category.");
    for (int i = 0; i < n; i++)
        put(t, "minbill_purged_total{category=\"%s\"} %llu\n", m.purge_category[i],
            (unsigned long long)atomic_load_explicit(&m.purged[i], memory_order_relaxed));
}

static void render_privacy(text *t)
{
    int64_t open = 0, overdue = 0;
    pthread_mutex_lock(&m.source_lock);
    int rc = m.source != NULL ? m.source(m.source_arg, &open, &overdue) : -1;
    pthread_mutex_unlock(&m.source_lock);
    if (rc != 0)
        return;
    put_gauge(t, "minbill_access_requests_open", "Data subject access requests not answered yet.",
              (long long)open);
    put_gauge(t, "minbill_access_requests_overdue",
              "Open access requests past their legal deadline.", (long long)overdue);
}

char *metrics_render(size_t *len)
{
    text t = {.cap = 16384};
    if ((t.p = malloc(t.cap)) == NULL)
        return NULL;
    render_calls(&t);
    put_counter(&t, "minbill_usage_events_accepted_total",
                "Usage events counted (committed; each idempotency key once).", &m.events_accepted);
    put_counter(&t, "minbill_usage_events_duplicate_total",
                "Usage events refused as already counted (same idempotency key).",
                &m.events_duplicate);
    put_counter(&t, "minbill_invoices_issued_total", "Invoices issued.", &m.invoices_issued);
    render_purged(&t);
    render_privacy(&t);
    render_storage(&t);
    if (t.failed) {
        free(t.p);
        return NULL;
    }
    *len = t.len;
    return t.p;
}
