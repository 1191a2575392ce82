/*
 * test_usage_cli.c - `minbill usage import` and `minbill usage show`.
 *
 * First the JSON Lines reader in-process (what a line must hold, every way
 * it can be wrong, escapes and RFC 3339 offsets), then the built `minbill`
 * against a real daemon: an import with good and bad lines reports each
 * rejected line by number and exits 1; running it again counts nothing
 * twice; --json output; usage show (human and JSON); exit 3 when nothing
 * answers.
 */
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "cmd_usage.h"
#include "common.h"
#include "usage_util.h"

static mbt_server srv;
static char platform[MBT_KEY_MAX], finance[MBT_KEY_MAX];

static void parses(const char *line, const char *key, int64_t q, int64_t sec, int32_t nanos)
{
    usage_line l;
    char why[256] = "";
    int rc = usage_line_parse(line, &l, why, sizeof why);
    if (rc != 0)
        fprintf(stderr, "  %s: %s\n", line, why);
    CHECK(rc == 0);
    if (rc == 0) {
        CHECK(strcmp(l.idempotency_key, key) == 0);
        CHECK(l.quantity == q && l.seconds == sec && l.nanos == nanos);
        usage_line_free(&l);
    }
}

static void refuses(const char *line, const char *why_part)
{
    usage_line l;
    char why[256] = "";
    CHECK(usage_line_parse(line, &l, why, sizeof why) == -1);
    CHECK_CONTAINS(why, why_part);
}

#define EV(extra) "{\"idempotency_key\":\"k\",\"account_id\":\"a\",\"metric\":\"m\"" extra "}"

static void test_parse(void)
{
    parses(EV(",\"quantity\":3,\"occurred_at\":\"2026-10-01T12:00:00Z\""), "k", 3, 1790856000, 0);
    parses(" { \"occurred_at\" : \"2026-10-01T14:00:00.25+02:00\" , \"quantity\" : \"42\" ,"
           "\"metric\":\"m\",\"account_id\":\"a\",\"idempotency_key\":\"k\\u00e9\\\"\" }\r\n",
           "k\xc3\xa9\"", 42, 1790856000, 250000000);
    parses(EV(",\"quantity\":1,\"occurred_at\":\"2024-02-29T00:00:00z\""), "k", 1, 1709164800, 0);
    refuses("", "not a JSON object");
    refuses("[1]", "not a JSON object");
    refuses(EV(",\"quantity\":3"), "occurred_at: missing");
    refuses(EV(",\"quantity\":3.5,\"occurred_at\":\"2026-10-01T12:00:00Z\""),
            "quantity: must be a whole number");
    refuses(EV(",\"quantity\":1e3,\"occurred_at\":\"2026-10-01T12:00:00Z\""),
            "quantity: must be a whole number");
    refuses(EV(",\"quantity\":99999999999999999999,\"occurred_at\":\"2026-10-01T12:00:00Z\""),
            "quantity: is out of range");
    refuses(EV(",\"quantity\":\"3x\",\"occurred_at\":\"2026-10-01T12:00:00Z\""),
            "quantity: must be a whole number");
    refuses(EV(",\"quantity\":3,\"occurred_at\":\"2026-02-30T12:00:00Z\""), "occurred_at: must be");
    refuses(EV(",\"quantity\":3,\"occurred_at\":\"2026-10-01 12:00:00\""), "occurred_at: must be");
    refuses(EV(",\"quantity\":3,\"occurred_at\":1790856000"), "occurred_at: must be a string");
    refuses(EV(",\"quantity\":3,\"occurred_at\":\"2026-10-01T12:00:00Z\",\"vin\":\"W0L0\""),
            "unknown field");
    refuses(EV(",\"metric\":\"x\",\"quantity\":3,\"occurred_at\":\"2026-10-01T12:00:00Z\""),
            "metric: appears twice");
    refuses(EV(",\"quantity\":3,\"occurred_at\":\"2026-10-01T12:00:00Z\"} x"), "text after");
    refuses("{\"idempotency_key\":\"a\\u0000b\"}", "idempotency_key: is not a valid JSON string");
    refuses("{\"idempotency_key\":\"a\\ud800\"}", "is not a valid JSON string");
    refuses("{\"idempotency_key\":\"a\tb\"}", "is not a valid JSON string");
    refuses("{\"idempotency_key\":\"abc", "is not a valid JSON string");
    /* A value is never quoted back. */
    usage_line l;
    char why[256];
    CHECK(usage_line_parse("{\"vin\":\"WVWZZZ1JZ3W386752\"}", &l, why, sizeof why) == -1);
    CHECK(strstr(why, "WVWZZZ") == NULL && strstr(why, "vin") == NULL);
}

/* Runs `minbill ARGS...`; out gets stdout, err stderr; returns the exit code. */
static int minbill(const char *const *args, char *out, size_t out_size, char *err, size_t err_size)
{
    char errpath[sizeof srv.d.dir + 16];
    snprintf(errpath, sizeof errpath, "%s/cli.err", srv.d.dir);
    int fds[2];
    if (pipe(fds) != 0)
        return -1;
    pid_t pid = fork();
    if (pid == 0) {
        const char *argv[32];
        int n = 0;
        argv[n++] = getenv("MINBILL");
        for (int i = 0; args[i] != NULL && n < 31; i++)
            argv[n++] = args[i];
        argv[n] = NULL;
        int e = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        dup2(fds[1], STDOUT_FILENO);
        dup2(e, STDERR_FILENO);
        close(fds[0]);
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    close(fds[1]);
    size_t used = 0;
    ssize_t r;
    while ((r = read(fds[0], out + used, out_size - used - 1)) > 0)
        used += (size_t)r;
    out[used] = '\0';
    close(fds[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    char *e = mbt_read_file(errpath);
    snprintf(err, err_size, "%s", e != NULL ? e : "");
    free(e);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static void test_import_and_show(void)
{
    char file[sizeof srv.d.dir + 16], now[32], line[512];
    snprintf(file, sizeof file, "%s/usage.jsonl", srv.d.dir);
    time_t t = time(NULL) - 60;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);
    /* line: key, account, metric, quantity as JSON; NULL key: raw text. */
    static const struct {
        const char *key, *account, *metric, *quantity;
    } lines[] = {
        {"i-1", "cli-1", "messages", "3"},
        {"i-2", "cli-1", "messages", "\"4\""},
        {NULL, "", NULL, NULL},
        {"i-3", "cli-nobody", "messages", "3"},
        {"i-4", "cli-1", "faxes", "3"},
        {NULL, "not json at all", NULL, NULL},
        {"i-5", "cli-1", "messages", "0"},
        {"i-6", "cli-1", "seats", "5"},
    };
    FILE *f = fopen(file, "w");
    for (size_t i = 0; i < sizeof lines / sizeof *lines; i++) {
        if (lines[i].key == NULL)
            snprintf(line, sizeof line, "%s", lines[i].account);
        else
            snprintf(line, sizeof line,
                     "{\"idempotency_key\":\"%s\",\"account_id\":\"%s\",\"metric\":\"%s\","
                     "\"quantity\":%s,\"occurred_at\":\"%s\"}",
                     lines[i].key, lines[i].account, lines[i].metric, lines[i].quantity, now);
        fprintf(f, "%s\n", line);
    }
    fclose(f);

    char out[8192], err[2048];
    /* Batches of 2: refused lines fall in different batches. */
    const char *const import[] = {"--server", srv.d.target, "--api-key", platform, "usage",
                                  "import",   file,         "--batch",   "2",      NULL};
    CHECK(minbill(import, out, sizeof out, err, sizeof err) == 1);
    CHECK_CONTAINS(out, "7 lines: 3 accepted, 0 duplicates, 4 rejected");
    CHECK_CONTAINS(out, "line 4: account_id: no such account");
    CHECK_CONTAINS(out, "line 5: metric: not in the metric catalog");
    CHECK_CONTAINS(out, "line 6: not a JSON object");
    CHECK_CONTAINS(out, "line 7: quantity: must be > 0");
    CHECK(strstr(out, "line 4:") < strstr(out, "line 6:")); /* in file order */
    CHECK_CONTAINS(err, "4 lines rejected");
    /* Again: nothing is counted twice. */
    const char *const again[] = {"--server", srv.d.target, "--api-key", platform, "--json",
                                 "usage",    "import",     file,        NULL};
    CHECK(minbill(again, out, sizeof out, err, sizeof err) == 1);
    CHECK_CONTAINS(out, "\"lines\":7,\"accepted\":0,\"duplicates\":3,\"rejected\":4");
    CHECK_CONTAINS(out, "{\"line\":4,\"error\":\"account_id: no such account\"}");

    char period[8];
    mu_period(t, period);
    const char *const show[] = {"--server", srv.d.target, "--api-key", finance, "usage",
                                "show",     "cli-1",      "--period",  period,  NULL};
    CHECK(minbill(show, out, sizeof out, err, sizeof err) == 0);
    CHECK_CONTAINS(out, "METRIC    QUANTITY  INVOICED  LATE");
    CHECK_CONTAINS(out, "messages  7         0         0");
    CHECK_CONTAINS(out, "seats     5         0         0");
    const char *const show_json[] = {"--server", srv.d.target, "--api-key", finance, "--json",
                                     "usage",    "show",       "cli-1",     NULL};
    CHECK(minbill(show_json, out, sizeof out, err, sizeof err) == 0);
    CHECK_CONTAINS(out, "\"metric\":\"messages\",\"quantity\":7,\"invoiced_quantity\":0,"
                        "\"late_quantity\":0");
    const char *const unknown[] = {"--server", srv.d.target, "--api-key",  finance,
                                   "usage",    "show",       "cli-nobody", NULL};
    CHECK(minbill(unknown, out, sizeof out, err, sizeof err) == 1);
    CHECK_CONTAINS(err, "NOT_FOUND");
    const char *const denied[] = {"--server", srv.d.target, "--api-key", finance,
                                  "usage",    "import",     file,        NULL};
    CHECK(minbill(denied, out, sizeof out, err, sizeof err) == 1);
    CHECK_CONTAINS(err, "PERMISSION_DENIED");
    const char *const nowhere[] = {"--server", "127.0.0.1:1", "--timeout", "1",
                                   "usage",    "import",      file,        NULL};
    CHECK(minbill(nowhere, out, sizeof out, err, sizeof err) == 3);
    const char *const missing[] = {
        "--server", srv.d.target, "usage", "import", "/nonexistent/usage.jsonl", NULL};
    CHECK(minbill(missing, out, sizeof out, err, sizeof err) == 2);
}

int main(void)
{
    RUN(test_parse);
    if (getenv("MINBILL") == NULL) {
        fprintf(stderr, "MINBILL (the minbill binary) is not set\n");
        return 1;
    }
    const char *const accounts[] = {"cli-1"};
    const char *const metrics[] = {"messages", "seats"};
    if (mu_up(&srv, platform, finance, accounts, 1, "cli", metrics, 2) != 0) {
        mbt_down(&srv);
        return 1;
    }
    RUN(test_import_and_show);
    CHECK(mbt_down(&srv) == 0);
    return check_summary();
}
