/*
 * test_metrics.c - the metrics module in-process: which bucket an
 * observation lands in, method and status labels (and what is counted as
 * "unknown"), label escaping, invoices issued, the access-request source
 * (absent until registered, left out when it fails, gone when removed), the
 * fsync timing VFS under a real WAL database (data intact, WAL and database
 * syncs counted), the endpoint's refusal of bad listen addresses and its
 * pause (no spinning) while out of descriptors.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "metrics/endpoint.h"
#include "metrics/metrics.h"
#include "metrics/sync_vfs.h"
#include "unit_tmp.h"

static const rpc_method methods[] = {
    {.path = "/t.v1.A/One"},
    {.path = "/t.v1.A/Two"},
    {.path = "/t.v1.A/Quote\"Back\\slash"},
};

/* The value of the sample line that starts with prefix (name and labels,
 * then a space), or -1 when there is none. */
static double sample(const char *prefix)
{
    size_t len = 0;
    char *text = metrics_render(&len);
    double v = -1;
    size_t pl = strlen(prefix);
    for (char *line = text; line != NULL && *line != '\0';) {
        char *next = strchr(line, '\n');
        if (strncmp(line, prefix, pl) == 0 && line[pl] == ' ') {
            v = strtod(line + pl + 1, NULL);
            break;
        }
        line = next != NULL ? next + 1 : NULL;
    }
    CHECK(text != NULL && strlen(text) == len);
    free(text);
    return v;
}

static void test_latency_buckets(void)
{
    metrics_call(0, GRPC_STATUS_OK, 100);      /* on the bound: le="0.0001" */
    metrics_call(0, GRPC_STATUS_OK, 101);      /* just above: le="0.00025" */
    metrics_call(0, GRPC_STATUS_OK, 20000000); /* 20 s: only +Inf */
    const char *b = "minbill_call_duration_seconds_bucket{method=\"/t.v1.A/One\",le=";
    char k[160];
    snprintf(k, sizeof k, "%s\"0.0001\"}", b);
    CHECK(sample(k) == 1);
    snprintf(k, sizeof k, "%s\"0.00025\"}", b);
    CHECK(sample(k) == 2);
    snprintf(k, sizeof k, "%s\"10\"}", b);
    CHECK(sample(k) == 2);
    snprintf(k, sizeof k, "%s\"+Inf\"}", b);
    CHECK(sample(k) == 3);
    CHECK(sample("minbill_call_duration_seconds_count{method=\"/t.v1.A/One\"}") == 3);
    double sum = sample("minbill_call_duration_seconds_sum{method=\"/t.v1.A/One\"}");
    CHECK(sum > 20.0002009 && sum < 20.0002011);
    CHECK(sample("minbill_calls_total{method=\"/t.v1.A/One\",code=\"OK\"}") == 3);
    /* A method never called shows no series. */
    CHECK(sample("minbill_call_duration_seconds_count{method=\"/t.v1.A/Two\"}") == -1);
}

static void test_labels(void)
{
    metrics_call(1, GRPC_STATUS_UNAUTHENTICATED, 5);
    metrics_call(1, (grpc_status_code)99, 5); /* not a status code: UNKNOWN */
    metrics_call(-1, GRPC_STATUS_UNIMPLEMENTED, 5);
    metrics_call(3, GRPC_STATUS_OK, 5); /* past the table given to metrics_init */
    metrics_call(METRICS_METHODS_MAX + 7, GRPC_STATUS_OK, 5);
    CHECK(sample("minbill_calls_total{method=\"/t.v1.A/Two\",code=\"UNAUTHENTICATED\"}") == 1);
    CHECK(sample("minbill_calls_total{method=\"/t.v1.A/Two\",code=\"UNKNOWN\"}") == 1);
    CHECK(sample("minbill_calls_total{method=\"unknown\",code=\"UNIMPLEMENTED\"}") == 1);
    CHECK(sample("minbill_calls_total{method=\"unknown\",code=\"OK\"}") == 2);
    metrics_call(2, GRPC_STATUS_OK, 5);
    CHECK(sample("minbill_calls_total{method=\"/t.v1.A/Quote\\\"Back\\\\slash\",code=\"OK\"}") ==
          1);
}

static void test_counters(void)
{
    CHECK(sample("minbill_invoices_issued_total") == 0);
    metrics_invoices_issued_add(3);
    CHECK(sample("minbill_invoices_issued_total") == 3);
    metrics_events_add(10, 4);
    metrics_events_add(1, 0);
    CHECK(sample("minbill_usage_events_accepted_total") == 11);
    CHECK(sample("minbill_usage_events_duplicate_total") == 4);
    metrics_writer_submitted();
    metrics_writer_submitted();
    metrics_writer_submitted();
    CHECK(sample("minbill_writer_queue_jobs") == 3);
    metrics_writer_group(2);
    CHECK(sample("minbill_writer_queue_jobs") == 1);
    CHECK(sample("minbill_writer_group_jobs_bucket{le=\"1\"}") == 0);
    CHECK(sample("minbill_writer_group_jobs_bucket{le=\"2\"}") == 1);
    CHECK(sample("minbill_writer_group_jobs_sum") == 2);
}

static int source_calls;

static int access_source(void *arg, int64_t *open, int64_t *overdue)
{
    source_calls++;
    *open = ((int64_t *)arg)[0];
    *overdue = ((int64_t *)arg)[1];
    return ((int64_t *)arg)[2] == 0 ? 0 : -1;
}

static void test_access_requests(void)
{
    CHECK(sample("minbill_access_requests_open") == -1);
    int64_t figures[3] = {4, 1, 0};
    metrics_access_requests_source(access_source, figures);
    CHECK(sample("minbill_access_requests_open") == 4);
    CHECK(sample("minbill_access_requests_overdue") == 1);
    figures[2] = 1; /* the source fails: left out, not shown as 0 */
    CHECK(sample("minbill_access_requests_open") == -1);
    metrics_access_requests_source(NULL, NULL);
    int before = source_calls;
    CHECK(sample("minbill_access_requests_overdue") == -1);
    CHECK(source_calls == before);
}

static int exec(sqlite3 *db, const char *sql)
{
    char *msg = NULL;
    int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);
    if (rc != SQLITE_OK)
        fprintf(stderr, "  %s: %s\n", sql, msg);
    sqlite3_free(msg);
    return rc;
}

static void test_sync_vfs(void)
{
    mb_error err;
    CHECK(metrics_sync_vfs_register(&err) == 0);
    CHECK(metrics_sync_vfs_register(&err) == 0); /* idempotent */
    CHECK(strcmp(sqlite3_vfs_find(NULL)->zName, "minbill-timed") == 0);
    double wal0 = sample("minbill_fsync_duration_seconds_count{file=\"wal\"}");
    double db0 = sample("minbill_fsync_duration_seconds_count{file=\"database\"}");
    char path[512];
    unit_path(path, sizeof path, "vfs.db");
    sqlite3 *db = NULL;
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    CHECK(exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;"
                   "CREATE TABLE t(x INTEGER);") == SQLITE_OK);
    for (int i = 0; i < 5; i++)
        CHECK(exec(db, "INSERT INTO t VALUES (42)") == SQLITE_OK);
    double wal1 = sample("minbill_fsync_duration_seconds_count{file=\"wal\"}");
    CHECK(wal1 >= wal0 + 6); /* one per commit at least */
    CHECK(exec(db, "PRAGMA wal_checkpoint(TRUNCATE)") == SQLITE_OK);
    CHECK(sample("minbill_fsync_duration_seconds_count{file=\"database\"}") > db0);
    sqlite3_close(db);
    /* What went through the VFS reads back, from a fresh connection. */
    CHECK(sqlite3_open(path, &db) == SQLITE_OK);
    sqlite3_stmt *st = NULL;
    CHECK(sqlite3_prepare_v2(db, "SELECT count(*), sum(x) FROM t", -1, &st, NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW);
    CHECK(sqlite3_column_int(st, 0) == 5 && sqlite3_column_int(st, 1) == 210);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_endpoint_addresses(void)
{
    static const char *const bad[] = {"127.0.0.1",       "127.0.0.1:",   "127.0.0.1:65536",
                                      "127.0.0.1:99999", "127.0.0.1:-1", ":9100",
                                      "127.0.0.1:9x",    "[::1]:123456"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        metrics_endpoint_t *ep = NULL;
        int port = 0;
        mb_error err;
        CHECK(metrics_endpoint_start(bad[i], &ep, &port, &err) == -1);
        CHECK(err.code == GRPC_STATUS_INVALID_ARGUMENT);
        CHECK_CONTAINS(err.msg, "--metrics-listen");
    }
    metrics_endpoint_t *ep = NULL;
    int port = 0;
    mb_error err;
    CHECK(metrics_endpoint_start("127.0.0.1:0", &ep, &port, &err) == 0);
    CHECK(port > 0);
    /* The port is taken now: a second endpoint says so. */
    char addr[32];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", port);
    metrics_endpoint_t *ep2 = NULL;
    int port2 = 0;
    CHECK(metrics_endpoint_start(addr, &ep2, &port2, &err) == -1);
    CHECK(err.code == GRPC_STATUS_UNAVAILABLE);
    CHECK_CONTAINS(err.msg, "cannot listen on");
    metrics_endpoint_stop(ep);
    metrics_endpoint_stop(NULL);
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* Out of descriptors, a waiting connection cannot be accepted and the
 * listener stays readable: the endpoint must pause, not spin, and serve the
 * connection once descriptors are back. */
static void test_endpoint_out_of_descriptors(void)
{
    metrics_endpoint_t *ep = NULL;
    int port = 0;
    mb_error err;
    CHECK(metrics_endpoint_start("127.0.0.1:0", &ep, &port, &err) == 0);
    int client = socket(AF_INET, SOCK_STREAM, 0);
    int lowest = dup(0); /* the next descriptor the process would get */
    close(lowest);
    struct rlimit saved, low;
    getrlimit(RLIMIT_NOFILE, &saved);
    low = saved;
    low.rlim_cur = (rlim_t)lowest;
    CHECK(setrlimit(RLIMIT_NOFILE, &low) == 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CHECK(connect(client, (struct sockaddr *)&a, sizeof a) == 0);
    static const char req[] = "GET /metrics HTTP/1.1\r\n\r\n";
    CHECK(send(client, req, sizeof req - 1, 0) == (ssize_t)(sizeof req - 1));
    double cpu0 = cpu_seconds();
    struct timespec half = {.tv_nsec = 500000000};
    nanosleep(&half, NULL);
    double spent = cpu_seconds() - cpu0;
    if (spent >= 0.03)
        fprintf(stderr, "  the endpoint used %.3f s of CPU in 0.5 s\n", spent);
    CHECK(spent < 0.03);
    CHECK(setrlimit(RLIMIT_NOFILE, &saved) == 0);
    char buf[32] = "";
    struct timeval tv = {.tv_sec = 5};
    setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    CHECK(recv(client, buf, sizeof buf - 1, MSG_WAITALL) > 0);
    CHECK(strncmp(buf, "HTTP/1.1 200 OK", 15) == 0);
    close(client);
    metrics_endpoint_stop(ep);
}

int main(void)
{
    metrics_init(methods, 3, NULL);
    RUN(test_latency_buckets);
    RUN(test_labels);
    RUN(test_counters);
    RUN(test_access_requests);
    RUN(test_sync_vfs);
    RUN(test_endpoint_addresses);
    RUN(test_endpoint_out_of_descriptors);
    return check_summary();
}
