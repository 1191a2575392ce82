/*
 * test_metrics.c - the metrics endpoint of the real daemon, scraped over
 * HTTP while it serves.
 *
 * The daemon gets MINBILL_METRICS_LISTEN=127.0.0.1:0 from the environment
 * (so the variable is what is tested; the flag shares its code) and logs
 * the port it bound. Covers: every line of a scrape is a `# HELP`, a
 * `# TYPE` or a sample `name{labels} value` of a declared family; histogram
 * buckets are cumulative and end in +Inf == _count; between two scrapes the
 * call counters by method and code, the latency counts, the usage events
 * accepted and duplicate move by exactly what the test sent (OK, refused
 * and failed calls, an unknown method, a stream), the writer groups and WAL
 * fsyncs move, the file sizes are real; no account id, API key id or
 * idempotency key appears; 404 / 405 / 400 / 431 for what is not
 * GET /metrics; a silent client neither delays gRPC calls nor stops the
 * next scrape for longer than the endpoint's timeout, nor the shutdown.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "common.h"
#include "usage_util.h"

#define RECORD_PATH "/minbill.v1.Metering/RecordUsage"
#define STREAM_PATH "/minbill.v1.Metering/StreamUsage"

static mbt_server srv;
static char platform[MBT_KEY_MAX], finance[MBT_KEY_MAX];
static int metrics_port;
static int64_t now;

/* --- a tiny HTTP client ------------------------------------------------------ */

static int connect_metrics(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)metrics_port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct timeval tv = {.tv_sec = 10};
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        fprintf(stderr, "  connect to the metrics port %d: %s\n", metrics_port, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Sends request as is and reads the whole answer (the endpoint closes
 * every connection); malloc'd, NUL-terminated, NULL on failure. */
static char *http(const char *request, size_t len)
{
    int fd = connect_metrics();
    if (fd < 0)
        return NULL;
    if (send(fd, request, len, MSG_NOSIGNAL) != (ssize_t)len) {
        close(fd);
        return NULL;
    }
    size_t have = 0, cap = 1 << 16;
    char *buf = malloc(cap);
    ssize_t n;
    while (buf != NULL && (n = recv(fd, buf + have, cap - have - 1, 0)) > 0) {
        have += (size_t)n;
        if (cap - have < 1024) {
            char *p = realloc(buf, cap *= 2);
            if (p == NULL)
                free(buf);
            buf = p;
        }
    }
    close(fd);
    if (buf != NULL)
        buf[have] = '\0';
    return buf;
}

/* The status line's code, or -1. */
static int http_code(const char *resp)
{
    return resp != NULL && strncmp(resp, "HTTP/1.1 ", 9) == 0 ? atoi(resp + 9) : -1;
}

/* GET /metrics: the body (malloc'd), or NULL after saying why. */
static char *scrape(void)
{
    static const char req[] = "GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n";
    char *resp = http(req, sizeof req - 1);
    char *body = resp != NULL ? strstr(resp, "\r\n\r\n") : NULL;
    if (http_code(resp) != 200 || body == NULL ||
        strstr(resp, "Content-Type: text/plain; version=0.0.4") == NULL) {
        fprintf(stderr, "  scrape failed: %.200s\n", resp != NULL ? resp : "(no answer)");
        free(resp);
        return NULL;
    }
    char *out = strdup(body + 4);
    free(resp);
    return out;
}

/* --- the text format ----------------------------------------------------------- */

#define SAMPLES_MAX 4096
#define FAMILIES_MAX 64

typedef struct sample {
    char key[256]; /* name{labels} as written */
    double value;
} sample;

typedef struct scrape_t {
    sample s[SAMPLES_MAX];
    size_t n;
    char families[FAMILIES_MAX][64];
    char types[FAMILIES_MAX][16];
    size_t n_families;
} scrape_t;

static bool name_char(char c, bool first)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
           (!first && c >= '0' && c <= '9');
}

/* Length of a metric or label name at p (0 if none). */
static size_t name_len(const char *p)
{
    size_t n = 0;
    while (name_char(p[n], n == 0))
        n++;
    return n;
}

/* `{k="v",...}` at p: its length, or 0 if malformed. */
static size_t labels_len(const char *p)
{
    size_t i = 1;
    if (p[0] != '{')
        return 0;
    while (p[i] != '}') {
        size_t k = name_len(p + i);
        if (k == 0 || p[i + k] != '=' || p[i + k + 1] != '"')
            return 0;
        i += k + 2;
        while (p[i] != '"') {
            if (p[i] == '\0' || p[i] == '\n')
                return 0;
            i += p[i] == '\\' ? 2 : 1;
        }
        i++;
        if (p[i] == ',')
            i++;
        else if (p[i] != '}')
            return 0;
    }
    return i + 1;
}

static const char *family_type(const scrape_t *sc, const char *name, size_t len)
{
    for (size_t f = 0; f < sc->n_families; f++)
        if (strlen(sc->families[f]) == len && memcmp(sc->families[f], name, len) == 0)
            return sc->types[f];
    return NULL;
}

/* The family a sample name belongs to: itself, or a histogram's name
 * without _bucket / _sum / _count. */
static bool declared(const scrape_t *sc, const char *name, size_t len)
{
    if (family_type(sc, name, len) != NULL)
        return true;
    static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
    for (size_t i = 0; i < 3; i++) {
        size_t sl = strlen(suffixes[i]);
        const char *t;
        if (len > sl && memcmp(name + len - sl, suffixes[i], sl) == 0 &&
            (t = family_type(sc, name, len - sl)) != NULL && strcmp(t, "histogram") == 0)
            return true;
    }
    return false;
}

/* Parses text into sc; false (after printing the line) if any line breaks
 * the format. */
static bool parse(const char *text, scrape_t *sc)
{
    memset(sc, 0, sizeof *sc);
    bool ok = true;
    char *copy = strdup(text);
    for (char *line = copy, *next; line != NULL && *line != '\0'; line = next) {
        next = strchr(line, '\n');
        if (next == NULL) {
            fprintf(stderr, "  the text does not end with a newline\n");
            ok = false;
            break;
        }
        *next++ = '\0';
        if (strncmp(line, "# HELP ", 7) == 0) {
            size_t n = name_len(line + 7);
            ok = ok && n > 0 && line[7 + n] == ' ' && line[8 + n] != '\0';
            continue;
        }
        if (strncmp(line, "# TYPE ", 7) == 0) {
            size_t n = name_len(line + 7);
            const char *t = line + 8 + n;
            bool good = n > 0 && n < 64 && line[7 + n] == ' ' &&
                        (strcmp(t, "counter") == 0 || strcmp(t, "gauge") == 0 ||
                         strcmp(t, "histogram") == 0) &&
                        sc->n_families < FAMILIES_MAX;
            if (good) {
                memcpy(sc->families[sc->n_families], line + 7, n);
                snprintf(sc->types[sc->n_families++], 16, "%s", t);
            } else {
                fprintf(stderr, "  bad TYPE line: %s\n", line);
                ok = false;
            }
            continue;
        }
        size_t n = name_len(line), l = line[n] == '{' ? labels_len(line + n) : 0;
        char *end = NULL;
        double v = line[n + l] == ' ' ? strtod(line + n + l + 1, &end) : 0;
        if (n == 0 || (line[n] == '{' && l == 0) || end == NULL || *end != '\0' ||
            n + l >= sizeof sc->s[0].key || !declared(sc, line, n) || sc->n >= SAMPLES_MAX) {
            fprintf(stderr, "  bad sample line: %s\n", line);
            ok = false;
            continue;
        }
        memcpy(sc->s[sc->n].key, line, n + l);
        sc->s[sc->n++].value = v;
    }
    free(copy);
    return ok;
}

/* The value of the sample written exactly as key; 0 when absent (a
 * counter that has not moved is not shown). */
static double value(const scrape_t *sc, const char *key)
{
    for (size_t i = 0; i < sc->n; i++)
        if (strcmp(sc->s[i].key, key) == 0)
            return sc->s[i].value;
    return 0;
}

static bool present(const scrape_t *sc, const char *key)
{
    for (size_t i = 0; i < sc->n; i++)
        if (strcmp(sc->s[i].key, key) == 0)
            return true;
    return false;
}

/* Every histogram series: buckets never decrease and +Inf equals _count. */
static bool histograms_consistent(const scrape_t *sc)
{
    bool ok = true;
    double last = -1;
    char series[256] = "";
    for (size_t i = 0; i < sc->n; i++) {
        const char *k = sc->s[i].key, *b = strstr(k, "_bucket{");
        if (b == NULL)
            continue;
        /* the le label is last; "file=\"" also ends in le=" */
        const char *le = strstr(k, ",le=\"");
        le = le != NULL ? le + 1 : b + 8;
        char prefix[256];
        snprintf(prefix, sizeof prefix, "%.*s", (int)(le - k), k);
        if (strcmp(prefix, series) != 0) {
            snprintf(series, sizeof series, "%s", prefix);
            last = -1;
        }
        if (sc->s[i].value < last) {
            fprintf(stderr, "  %s decreases\n", k);
            ok = false;
        }
        last = sc->s[i].value;
        if (strstr(le, "+Inf") != NULL) {
            /* name_count{labels without le} */
            char count[300];
            const char *labels = b + 8;
            size_t lablen = (size_t)(le - labels);
            if (lablen > 0)
                snprintf(count, sizeof count, "%.*s_count{%.*s}", (int)(b - k), k, (int)lablen - 1,
                         labels);
            else
                snprintf(count, sizeof count, "%.*s_count", (int)(b - k), k);
            if (!present(sc, count) || value(sc, count) != last) {
                fprintf(stderr, "  %s: +Inf %.0f, count %.0f\n", count, last, value(sc, count));
                ok = false;
            }
        }
    }
    return ok;
}

static scrape_t before, after;

static double calls_total(const scrape_t *sc)
{
    double n = 0;
    for (size_t i = 0; i < sc->n; i++)
        if (strncmp(sc->s[i].key, "minbill_calls_total{", 20) == 0)
            n += sc->s[i].value;
    return n;
}

/* A call is counted when the runtime sees its status sent, which may come
 * just after the client has read it. So a scrape is taken once at least
 * `calls` calls are counted and the count stood still for 250 ms (a few
 * seconds at most): the text (malloc'd) parsed into sc, or NULL. */
static char *settled_scrape(scrape_t *sc, double calls)
{
    char *text = NULL;
    double last = -1, t0 = mbt_now();
    while (mbt_now() - t0 < mbt_ms(5000) / 1000.0) {
        free(text);
        if ((text = scrape()) == NULL || !parse(text, sc)) {
            free(text);
            return NULL;
        }
        double n = calls_total(sc);
        if (n >= calls && n == last)
            break;
        last = n;
        mbt_sleep_ms(250);
    }
    return text;
}

static void calls_key(char *out, size_t size, const char *method, const char *code)
{
    snprintf(out, size, "minbill_calls_total{method=\"%s\",code=\"%s\"}", method, code);
}

static double delta(const char *key)
{
    return value(&after, key) - value(&before, key);
}

static double calls_delta(const char *method, const char *code)
{
    char k[256];
    calls_key(k, sizeof k, method, code);
    return delta(k);
}

/* --- tests ---------------------------------------------------------------------- */

static mu_event ev(const char *key, const char *account, int64_t q)
{
    return (mu_event){
        .key = key, .account = account, .metric = "messages", .quantity = q, .occurred = now - 60};
}

static void test_figures_move_with_the_load(void)
{
    char *text1 = settled_scrape(&before, 0);
    CHECK(text1 != NULL);
    CHECK(histograms_consistent(&before));

    int64_t a, d, accepted = 0, duplicates = 0;
    mb_error st;
    /* 5 calls of 3 new events each, then 2 replays of the first call. */
    char keys[15][32];
    mu_event batch[15];
    for (int i = 0; i < 15; i++) {
        snprintf(keys[i], sizeof keys[i], "metrics-evt-%d", i);
        batch[i] = ev(keys[i], i % 2 ? "acc-metrics-1" : "acc-metrics-2", 1 + i);
    }
    for (int c = 0; c < 5; c++) {
        a = d = -1;
        mu_record(srv.ch, platform, batch + 3 * c, 3, &a, &d, &st);
        CHECK_STATUS(st, GRPC_STATUS_OK);
        accepted += a;
        duplicates += d;
    }
    for (int c = 0; c < 2; c++) {
        a = d = -1;
        mu_record(srv.ch, platform, batch, 3, &a, &d, &st);
        CHECK_STATUS(st, GRPC_STATUS_OK);
        accepted += a;
        duplicates += d;
    }
    CHECK(accepted == 15 && duplicates == 6);
    /* Refused before the writer: a bad quantity (3 calls), a role (2). */
    mu_event bad = ev("metrics-bad", "acc-metrics-1", 0);
    for (int c = 0; c < 3; c++) {
        mu_record(srv.ch, platform, &bad, 1, &a, &d, &st);
        CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    }
    for (int c = 0; c < 2; c++) {
        mu_record(srv.ch, finance, batch, 1, &a, &d, &st);
        CHECK_STATUS(st, GRPC_STATUS_PERMISSION_DENIED);
    }
    /* Refused by the writer (rolled back): nothing counted. */
    mu_event unknown = ev("metrics-unknown", "acc-metrics-none", 1);
    mu_record(srv.ch, platform, &unknown, 1, &a, &d, &st);
    CHECK_STATUS(st, GRPC_STATUS_FAILED_PRECONDITION);
    /* A stream of 2 batches of 4 new events. */
    char skeys[8][32];
    mu_event sev[8];
    for (int i = 0; i < 8; i++) {
        snprintf(skeys[i], sizeof skeys[i], "metrics-stream-%d", i);
        sev[i] = ev(skeys[i], "acc-metrics-1", 2);
    }
    a = d = -1;
    mu_stream(srv.ch, platform, sev, 2, 4, mbt_ms(10000), &a, &d, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(a == 8 && d == 0);
    /* A method the daemon does not have. */
    mbt_call(srv.ch, "/minbill.v1.Nope/Nothing", platform, "", 0, &st);
    CHECK_STATUS(st, GRPC_STATUS_UNIMPLEMENTED);

    char *text2 = settled_scrape(&after, calls_total(&before) + 15);
    CHECK(text2 != NULL);
    CHECK(calls_total(&after) - calls_total(&before) == 15);
    CHECK(histograms_consistent(&after));

    CHECK(calls_delta(RECORD_PATH, "OK") == 7);
    CHECK(calls_delta(RECORD_PATH, "INVALID_ARGUMENT") == 3);
    CHECK(calls_delta(RECORD_PATH, "PERMISSION_DENIED") == 2);
    CHECK(calls_delta(RECORD_PATH, "FAILED_PRECONDITION") == 1);
    CHECK(calls_delta(STREAM_PATH, "OK") == 1);
    CHECK(calls_delta("unknown", "UNIMPLEMENTED") == 1);
    CHECK(delta("minbill_call_duration_seconds_count{method=\"" RECORD_PATH "\"}") == 13);
    CHECK(delta("minbill_call_duration_seconds_bucket{method=\"" RECORD_PATH "\",le=\"+Inf\"}") ==
          13);
    CHECK(delta("minbill_call_duration_seconds_sum{method=\"" RECORD_PATH "\"}") > 0);
    CHECK(delta("minbill_call_duration_seconds_count{method=\"" STREAM_PATH "\"}") == 1);
    CHECK(delta("minbill_usage_events_accepted_total") == 15 + 8);
    CHECK(delta("minbill_usage_events_duplicate_total") == 6);
    CHECK(present(&after, "minbill_invoices_issued_total"));
    /* Writer jobs: 7 RecordUsage + 2 stream batches + 1 refused by the
     * writer (the daemon's own purge may add one). */
    double jobs = delta("minbill_writer_group_jobs_sum");
    CHECK(jobs >= 10 && jobs <= 12);
    CHECK(delta("minbill_writer_group_jobs_count") >= 1);
    CHECK(delta("minbill_fsync_duration_seconds_count{file=\"wal\"}") >= 1);
    CHECK(delta("minbill_fsync_duration_seconds_sum{file=\"wal\"}") > 0);
    CHECK(present(&after, "minbill_writer_queue_jobs") &&
          value(&after, "minbill_writer_queue_jobs") >= 0);
    /* The sizes are the files' own. */
    FILE *f = fopen(srv.d.db, "rb");
    long db_bytes = -1;
    if (f != NULL && fseek(f, 0, SEEK_END) == 0)
        db_bytes = ftell(f);
    if (f != NULL)
        fclose(f);
    CHECK(db_bytes > 0 && value(&after, "minbill_database_bytes") == (double)db_bytes);
    CHECK(present(&after, "minbill_wal_bytes"));
    /* The privacy domain registers its figures (main.c). */
    CHECK(present(&after, "minbill_access_requests_open"));

    /* No personal data or credential in any label or value. */
    CHECK(text2 != NULL && strstr(text2, "acc-metrics") == NULL);
    CHECK(text2 != NULL && strstr(text2, "metrics-evt") == NULL);
    CHECK(text2 != NULL && strstr(text2, "mbk_") == NULL);
    char key_id[16]; /* mbk_<id>_<secret> */
    snprintf(key_id, sizeof key_id, "%.12s", platform + 4);
    CHECK(text2 != NULL && strlen(key_id) == 12 && strstr(text2, key_id) == NULL);
    CHECK(text2 != NULL && strstr(text2, "Nope") == NULL);
    free(text1);
    free(text2);
}

static void expect_http(const char *request, size_t len, int code)
{
    char *resp = http(request, len);
    int got = http_code(resp);
    if (got != code)
        fprintf(stderr, "  %.40s...: got %d, expected %d\n", request, got, code);
    CHECK(got == code);
    free(resp);
}

static void test_only_get_metrics(void)
{
#define REQ(s) s, sizeof s - 1
    expect_http(REQ("GET /other HTTP/1.1\r\n\r\n"), 404);
    expect_http(REQ("GET /metricsx HTTP/1.1\r\n\r\n"), 404);
    expect_http(REQ("POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n"), 405);
    expect_http(REQ("HELLO\r\n\r\n"), 400);
    expect_http(REQ("GET /metrics SMTP/1.0\r\n\r\n"), 400);
    expect_http(REQ("GET /metrics?name=x HTTP/1.0\r\n\r\n"), 200);
#undef REQ
    /* A head that never ends within the limit. */
    size_t big = 8192;
    char *req = malloc(big);
    memcpy(req, "GET /metrics HTTP/1.1\r\nX: ", 26);
    memset(req + 26, 'a', big - 26);
    expect_http(req, big, 431);
    free(req);
}

/* A client that connects and says nothing holds the endpoint's one thread
 * for at most its timeout: gRPC calls go on at once meanwhile, the next
 * scrape is answered after it, and shutdown does not wait for it. */
static void test_silent_client(void)
{
    int silent = connect_metrics();
    CHECK(silent >= 0);
    double t0 = mbt_now();
    CHECK(mbt_health_ok(srv.ch));
    CHECK(mbt_now() - t0 < 1.0);
    t0 = mbt_now();
    char *text = scrape();
    double waited = mbt_now() - t0;
    CHECK(text != NULL);
    CHECK(waited < 2.0 + 3.0); /* METRICS_IO_TIMEOUT_MS plus slack */
    free(text);
    int again = connect_metrics(); /* kept open through the shutdown */
    CHECK(again >= 0);
    t0 = mbt_now();
    CHECK(mbt_down(&srv) == 0);
    CHECK(mbt_now() - t0 < mbt_ms(5000) / 1000.0);
    if (silent >= 0)
        close(silent);
    if (again >= 0)
        close(again);
}

static int find_metrics_port(void)
{
    char *log = mbt_read_file(srv.d.log);
    const char *p = log, *last = NULL;
    while (p != NULL && (p = strstr(p, "event=metrics_listening")) != NULL)
        last = p++;
    const char *port = last != NULL ? strstr(last, " port=") : NULL;
    int n = port != NULL ? atoi(port + 6) : 0;
    free(log);
    return n;
}

int main(void)
{
    now = (int64_t)time(NULL);
    setenv("MINBILL_METRICS_LISTEN", "127.0.0.1:0", 1);
    const char *const accounts[] = {"acc-metrics-1", "acc-metrics-2"};
    const char *const metrics[] = {"messages"};
    if (mu_up(&srv, platform, finance, accounts, 2, "basic", metrics, 1) != 0 ||
        (metrics_port = find_metrics_port()) <= 0) {
        fprintf(stderr, "daemon did not come up with a metrics endpoint\n");
        mbt_down(&srv);
        return 1;
    }
    RUN(test_figures_move_with_the_load);
    RUN(test_only_get_metrics);
    RUN(test_silent_client);
    return check_summary();
}
