/*
 * cmd_usage.c - see cmd_usage.h.
 *
 * usage import sends each batch with RecordUsage rather than StreamUsage:
 * a batch is all or nothing, and only a per-batch answer tells which lines
 * were accepted, which were duplicates and which one the server refused
 * ("events[12].metric: ..."). A refused line is reported with its line
 * number and the rest of its batch is sent again without it; a failure
 * that is not about one line (unreachable server, wrong key) stops the
 * import, and running it again is safe: lines already counted come back as
 * duplicates.
 */
#include "cmd_usage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/clock.h"
#include "cli_rpc.h"
#include "minbill/v1/metering.pb-c.h"
#include "table.h"

#define IMPORT_BATCH_DEFAULT 1000
#define IMPORT_BATCH_MAX 10000 /* the server's limit per request */
#define IMPORT_LINE_MAX 65536
#define REJECTS_KEPT 1000 /* rejected lines listed one by one; the rest counted */
#define WHY_MAX 384

/* --- JSON Lines ------------------------------------------------------------- */

typedef struct jp {
    const char *s;
    size_t i;
} jp;

static void skip_ws(jp *p)
{
    while (p->s[p->i] == ' ' || p->s[p->i] == '\t' || p->s[p->i] == '\r' || p->s[p->i] == '\n')
        p->i++;
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    for (int k = 0; k < 4; k++) {
        char c = s[k];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            return -1;
        v = v << 4 | (unsigned)d;
    }
    *out = v;
    return 0;
}

static size_t put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xc0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xe0 | cp >> 12);
        o[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        o[2] = (char)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | cp >> 18);
    o[1] = (char)(0x80 | (cp >> 12 & 0x3f));
    o[2] = (char)(0x80 | (cp >> 6 & 0x3f));
    o[3] = (char)(0x80 | (cp & 0x3f));
    return 4;
}

/* A JSON string at p into a malloc'd, NUL-terminated copy. */
static char *json_string(jp *p, const char **why)
{
    if (p->s[p->i] != '"') {
        *why = "must be a string";
        return NULL;
    }
    p->i++;
    size_t start = p->i, len = 0;
    while (p->s[start + len] != '\0' && p->s[start + len] != '"')
        len += p->s[start + len] == '\\' && p->s[start + len + 1] != '\0' ? 2 : 1;
    char *out = malloc(len + 1), *o = out;
    if (out == NULL) {
        *why = "out of memory";
        return NULL;
    }
    for (;;) {
        unsigned char c = (unsigned char)p->s[p->i];
        if (c == '"') {
            p->i++;
            *o = '\0';
            if (strlen(out) != (size_t)(o - out))
                break; /* an escaped NUL */
            return out;
        }
        if (c == '\0' || c < 0x20)
            break;
        if (c != '\\') {
            *o++ = (char)c;
            p->i++;
            continue;
        }
        char e = p->s[p->i + 1];
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e != '\0' && simple != NULL) {
            *o++ = "\"\\/\b\f\n\r\t"[simple - "\"\\/bfnrt"];
            p->i += 2;
            continue;
        }
        unsigned cp, lo;
        if (e != 'u' || hex4(p->s + p->i + 2, &cp) != 0)
            break;
        p->i += 6;
        if (cp >= 0xdc00 && cp <= 0xdfff)
            break; /* a lone low surrogate */
        if (cp >= 0xd800 && cp <= 0xdbff) {
            if (p->s[p->i] != '\\' || p->s[p->i + 1] != 'u' || hex4(p->s + p->i + 2, &lo) != 0 ||
                lo < 0xdc00 || lo > 0xdfff)
                break;
            p->i += 6;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        o += put_utf8(o, cp);
    }
    free(out);
    *why = "is not a valid JSON string";
    return NULL;
}

/* A JSON integer (no fraction, no exponent) within int64. */
static int json_int(jp *p, int64_t *out, const char **why)
{
    const char *s = p->s + p->i;
    size_t n = 0;
    bool neg = s[0] == '-';
    if (neg)
        n++;
    if (!(s[n] >= '0' && s[n] <= '9') || (s[n] == '0' && s[n + 1] >= '0' && s[n + 1] <= '9')) {
        *why = "must be a whole number";
        return -1;
    }
    int64_t v = 0;
    for (; s[n] >= '0' && s[n] <= '9'; n++) {
        int d = s[n] - '0';
        if (v > (INT64_MAX - d) / 10) {
            *why = "is out of range";
            return -1;
        }
        v = v * 10 + d;
    }
    if (s[n] == '.' || s[n] == 'e' || s[n] == 'E') {
        *why = "must be a whole number";
        return -1;
    }
    p->i += n;
    *out = neg ? -v : v;
    return 0;
}

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int k = 0; k < n; k++) {
        if (s[k] < '0' || s[k] > '9')
            return -1;
        v = v * 10 + (s[k] - '0');
    }
    *out = v;
    return 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant). */
static int64_t days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/* RFC 3339: 2026-10-01T12:00:00[.fraction](Z|+hh:mm|-hh:mm). */
static int rfc3339(const char *s, int64_t *sec, int32_t *nanos)
{
    int y, mo, d, h, mi, se, oh = 0, om = 0;
    if (strlen(s) < 20 || digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
        digits(s + 8, 2, &d) || (s[10] != 'T' && s[10] != 't') || digits(s + 11, 2, &h) ||
        s[13] != ':' || digits(s + 14, 2, &mi) || s[16] != ':' || digits(s + 17, 2, &se))
        return -1;
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap) ||
        h > 23 || mi > 59 || se > 59)
        return -1;
    const char *t = s + 19;
    int32_t ns = 0;
    if (*t == '.') {
        int n = 0;
        for (t++; *t >= '0' && *t <= '9'; t++, n++)
            if (n < 9)
                ns = ns * 10 + (*t - '0');
        if (n == 0)
            return -1;
        for (; n < 9; n++)
            ns *= 10;
    }
    int sign = 0;
    if ((t[0] == 'Z' || t[0] == 'z') && t[1] == '\0')
        sign = 0;
    else if ((t[0] == '+' || t[0] == '-') && digits(t + 1, 2, &oh) == 0 && t[3] == ':' &&
             digits(t + 4, 2, &om) == 0 && t[6] == '\0' && oh <= 23 && om <= 59)
        sign = t[0] == '+' ? 1 : -1;
    else
        return -1;
    *sec =
        days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se - sign * (oh * 3600 + om * 60);
    *nanos = ns;
    return 0;
}

enum { F_KEY, F_ACCOUNT, F_METRIC, F_QUANTITY, F_OCCURRED, F_COUNT };
static const char *const FIELDS[F_COUNT] = {"idempotency_key", "account_id", "metric", "quantity",
                                            "occurred_at"};

void usage_line_free(usage_line *l)
{
    free(l->idempotency_key);
    free(l->account_id);
    free(l->metric);
    memset(l, 0, sizeof *l);
}

static int field_value(jp *p, int f, usage_line *out, const char **why)
{
    char *str = NULL;
    if (f == F_QUANTITY && p->s[p->i] != '"')
        return json_int(p, &out->quantity, why);
    if ((str = json_string(p, why)) == NULL)
        return -1;
    int rc = 0;
    if (f == F_KEY) {
        out->idempotency_key = str;
        return 0;
    } else if (f == F_ACCOUNT) {
        out->account_id = str;
        return 0;
    } else if (f == F_METRIC) {
        out->metric = str;
        return 0;
    } else if (f == F_QUANTITY) { /* int64 as a JSON string, as protobuf writes it */
        jp q = {str, 0};
        rc = json_int(&q, &out->quantity, why) != 0 || str[q.i] != '\0' ? -1 : 0;
        if (rc != 0)
            *why = "must be a whole number";
    } else if (rfc3339(str, &out->seconds, &out->nanos) != 0) {
        *why = "must be an RFC 3339 time such as \"2026-10-01T12:00:00Z\"";
        rc = -1;
    }
    free(str);
    return rc;
}

int usage_line_parse(const char *s, usage_line *out, char *why, size_t why_size)
{
    jp p = {s, 0};
    bool seen[F_COUNT] = {false};
    const char *rule = NULL, *field = NULL;
    memset(out, 0, sizeof *out);
    skip_ws(&p);
    if (s[p.i] != '{') {
        snprintf(why, why_size, "not a JSON object");
        return -1;
    }
    p.i++;
    skip_ws(&p);
    bool first = true;
    while (s[p.i] != '}') {
        if (!first) {
            if (s[p.i] != ',') {
                rule = "expected ',' or '}'";
                goto fail;
            }
            p.i++;
            skip_ws(&p);
        }
        first = false;
        char *key = json_string(&p, &rule);
        if (key == NULL) {
            rule = "expected a field name";
            goto fail;
        }
        int f = 0;
        while (f < F_COUNT && strcmp(key, FIELDS[f]) != 0)
            f++;
        free(key);
        if (f == F_COUNT) {
            /* Minimal by schema: a field the API has no place for is refused,
             * not silently dropped. Its name is not echoed: it is input. */
            rule = "unknown field (allowed: idempotency_key, account_id, metric, quantity, "
                   "occurred_at)";
            goto fail;
        }
        field = FIELDS[f];
        if (seen[f]) {
            rule = "appears twice";
            goto fail;
        }
        seen[f] = true;
        skip_ws(&p);
        if (s[p.i] != ':') {
            rule = "expected ':'";
            goto fail;
        }
        p.i++;
        skip_ws(&p);
        if (field_value(&p, f, out, &rule) != 0)
            goto fail;
        field = NULL;
        skip_ws(&p);
    }
    p.i++;
    skip_ws(&p);
    if (s[p.i] != '\0') {
        rule = "text after the JSON object";
        goto fail;
    }
    for (int f = 0; f < F_COUNT; f++) {
        if (!seen[f]) {
            field = FIELDS[f];
            rule = "missing";
            goto fail;
        }
    }
    return 0;
fail:
    if (field != NULL)
        snprintf(why, why_size, "%s: %s", field, rule);
    else
        snprintf(why, why_size, "%s", rule);
    usage_line_free(out);
    return -1;
}

/* --- usage show ------------------------------------------------------------- */

enum { FLAG_PERIOD };
static const cli_flag show_flags[] = {
    [FLAG_PERIOD] = {"period", "YYYY-MM"},
    {NULL, NULL},
};

static int print_usage(const ProtobufCMessage *msg, const void *arg)
{
    const Minbill__V1__GetUsageResponse *r = (const void *)msg;
    const Minbill__V1__GetUsageRequest *req = arg;
    if (r->n_counters == 0) {
        printf("no usage recorded for this account in %s\n", req->period);
        return 0;
    }
    printf("usage in %s (UTC)\n", req->period);
    table t;
    table_init(&t, 4, (const char *[]){"METRIC", "QUANTITY", "INVOICED", "LATE"});
    for (size_t i = 0; i < r->n_counters; i++) {
        const Minbill__V1__UsageCounter *c = r->counters[i];
        char q[24], inv[24], late[24];
        snprintf(q, sizeof q, "%lld", (long long)c->quantity);
        snprintf(inv, sizeof inv, "%lld", (long long)c->invoiced_quantity);
        snprintf(late, sizeof late, "%lld", (long long)c->late_quantity);
        table_add(&t, (const char *[]){c->metric, q, inv, late});
    }
    int rc = table_print(&t, stdout);
    table_free(&t);
    return rc;
}

static int usage_show_run(cli_ctx *ctx, const cli_args *args)
{
    char period[8];
    const char *p = args->flag[FLAG_PERIOD];
    if (p == NULL) { /* this month, in UTC like every period */
        time_t now = time(NULL);
        struct tm tm;
        gmtime_r(&now, &tm);
        strftime(period, sizeof period, "%Y-%m", &tm);
        p = period;
    }
    Minbill__V1__GetUsageRequest req = MINBILL__V1__GET_USAGE_REQUEST__INIT;
    req.account_id = (char *)args->arg[0];
    req.period = (char *)p;
    return table_show(ctx, "/minbill.v1.Metering/GetUsage", &req.base,
                      &minbill__v1__get_usage_response__descriptor, print_usage, &req);
}

const cli_command cmd_usage_show = {
    .name = "usage show",
    .synopsis = "ACCOUNT_ID [--period YYYY-MM]",
    .summary = "show an account's usage counters for a month",
    .help = "Calls minbill.v1.Metering/GetUsage and prints one row per metric: the quantity\n"
            "counted for the month, the part already on an issued invoice, and late usage\n"
            "(counted after the month's invoice was issued; billed on the next invoice).\n"
            "\n"
            "  --period YYYY-MM  the calendar month in UTC (default: the current month)\n"
            "\n"
            "With --json: {\"counters\":[{account_id, period, metric, quantity,\n"
            "invoiced_quantity, late_quantity}, ...]}.\n"
            "\n"
            "exit status: 0 ok (also when nothing was recorded); 1 if the server refused\n"
            "(NOT_FOUND for an unknown account, INVALID_ARGUMENT for a bad period,\n"
            "PERMISSION_DENIED: finance and support may read usage); 2 usage error; 3 if the\n"
            "server cannot be reached.\n",
    .flags = show_flags,
    .min_args = 1,
    .max_args = 1,
    .run = usage_show_run,
};

/* --- usage import ------------------------------------------------------------- */

typedef struct reject {
    long line;
    char why[WHY_MAX];
} reject;

typedef struct import {
    cli_ctx *ctx;
    long lines; /* non-blank lines read */
    int64_t accepted, duplicates;
    long rejected;
    reject *rejects; /* the first REJECTS_KEPT */
    size_t batch_max;
    usage_line *batch; /* events waiting to be sent, and their line numbers */
    long *batch_line;
    size_t n;
    /* The request being built, batch_max long: allocated once per import. */
    Minbill__V1__UsageEvent *ev;
    Minbill__V1__UsageEvent **evp;
    Google__Protobuf__Timestamp *ts;
    /* progress */
    bool progress;
    off_t total_bytes, read_bytes;
    int64_t last_draw_ms;
} import;

static void note_reject(import *im, long line, const char *why)
{
    if (im->rejected < REJECTS_KEPT) {
        reject *r = &im->rejects[im->rejected];
        r->line = line;
        snprintf(r->why, sizeof r->why, "%s", why);
    }
    im->rejected++;
}

/* On a terminal: a bar by bytes when the size is known, else counts. */
static void draw_progress(import *im, bool force)
{
    int64_t now = mb_mono_ns() / 1000000;
    if (!im->progress || (!force && now - im->last_draw_ms < 100))
        return;
    im->last_draw_ms = now;
    char bar[32] = "";
    if (im->total_bytes > 0) {
        int pct = (int)(im->read_bytes * 100 / im->total_bytes);
        int fill = pct / 5;
        snprintf(bar, sizeof bar, "[%.*s%*s] %3d%% ", fill, "####################", 20 - fill, "",
                 pct);
    }
    fprintf(stderr, "\r%s%ld lines: %lld accepted, %lld duplicates, %ld rejected ", bar, im->lines,
            (long long)im->accepted, (long long)im->duplicates, im->rejected);
    fflush(stderr);
}

/* "events[12].metric: ..." -> 12 and the text after "events[12].". */
static int event_of_error(const char *msg, size_t n, size_t *index, const char **rest)
{
    if (strncmp(msg, "events[", 7) != 0)
        return -1;
    char *end;
    errno = 0;
    unsigned long v = strtoul(msg + 7, &end, 10);
    if (errno != 0 || end == msg + 7 || end[0] != ']' || end[1] != '.' || v >= n)
        return -1;
    *index = (size_t)v;
    *rest = end + 2;
    return 0;
}

static void drop_event(import *im, size_t k)
{
    usage_line_free(&im->batch[k]);
    memmove(&im->batch[k], &im->batch[k + 1], (im->n - k - 1) * sizeof *im->batch);
    memmove(&im->batch_line[k], &im->batch_line[k + 1], (im->n - k - 1) * sizeof *im->batch_line);
    im->n--;
}

/* Sends the batch; lines the server refuses are noted and the rest sent
 * again. Returns CLI_OK, or the exit code of a failure not about a line. */
static int send_batch(import *im)
{
    Minbill__V1__UsageEvent *ev = im->ev, **evp = im->evp;
    Google__Protobuf__Timestamp *ts = im->ts;
    int rc = CLI_OK;
    while (im->n > 0) {
        for (size_t k = 0; k < im->n; k++) {
            minbill__v1__usage_event__init(&ev[k]);
            google__protobuf__timestamp__init(&ts[k]);
            ev[k].idempotency_key = im->batch[k].idempotency_key;
            ev[k].account_id = im->batch[k].account_id;
            ev[k].metric = im->batch[k].metric;
            ev[k].quantity = im->batch[k].quantity;
            ts[k].seconds = im->batch[k].seconds;
            ts[k].nanos = im->batch[k].nanos;
            ev[k].occurred_at = &ts[k];
            evp[k] = &ev[k];
        }
        Minbill__V1__RecordUsageRequest req = MINBILL__V1__RECORD_USAGE_REQUEST__INIT;
        req.n_events = im->n;
        req.events = evp;
        ProtobufCMessage *resp = NULL;
        mb_error st;
        /* --timeout is per batch here: an import may take far longer. */
        if (mbc_unary(im->ctx->ch, "/minbill.v1.Metering/RecordUsage", im->ctx->api_key, &req.base,
                      &minbill__v1__record_usage_response__descriptor, im->ctx->timeout_ms, &resp,
                      &st) == 0) {
            const Minbill__V1__RecordUsageResponse *r = (const void *)resp;
            im->accepted += r->accepted;
            im->duplicates += r->duplicates;
            protobuf_c_message_free_unpacked(resp, NULL);
            for (size_t j = 0; j < im->n; j++)
                usage_line_free(&im->batch[j]);
            im->n = 0;
            break;
        }
        size_t k;
        const char *rest;
        if ((st.code == GRPC_STATUS_INVALID_ARGUMENT ||
             st.code == GRPC_STATUS_FAILED_PRECONDITION) &&
            event_of_error(st.msg, im->n, &k, &rest) == 0) {
            note_reject(im, im->batch_line[k], rest);
            drop_event(im, k);
            continue;
        }
        rc = cli_fail(im->ctx, CLI_FAILED,
                      "%s%s%s (stopped at line %ld; lines before it were sent: running the "
                      "import again is safe)",
                      mb_status_name(st.code), st.msg[0] ? ": " : "", st.msg, im->batch_line[0]);
        break;
    }
    return rc;
}

static bool blank(const char *s)
{
    for (; *s != '\0'; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            return false;
    return true;
}

static int read_lines(import *im, FILE *f)
{
    char *buf = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0;
    int rc = CLI_OK;
    while (rc == CLI_OK && (len = getline(&buf, &cap, f)) >= 0) {
        lineno++;
        im->read_bytes += len;
        if (blank(buf))
            continue;
        im->lines++;
        char why[WHY_MAX];
        if ((size_t)len > IMPORT_LINE_MAX) {
            note_reject(im, lineno, "line longer than 65536 bytes");
        } else if (strlen(buf) != (size_t)len) {
            note_reject(im, lineno, "contains a NUL byte");
        } else if (usage_line_parse(buf, &im->batch[im->n], why, sizeof why) != 0) {
            note_reject(im, lineno, why);
        } else {
            im->batch_line[im->n++] = lineno;
            if (im->n == im->batch_max)
                rc = send_batch(im);
        }
        draw_progress(im, false);
    }
    if (rc == CLI_OK && ferror(f))
        rc = cli_fail(im->ctx, CLI_FAILED, "cannot read the file: %s", strerror(errno));
    if (rc == CLI_OK && im->n > 0)
        rc = send_batch(im);
    free(buf);
    return rc;
}

static int by_line(const void *a, const void *b)
{
    long x = ((const reject *)a)->line, y = ((const reject *)b)->line;
    return (x > y) - (x < y);
}

/* Rejected lines in file order (the server's refusals come in later). */
static int report(import *im, const char *file)
{
    qsort(im->rejects, (size_t)(im->rejected < REJECTS_KEPT ? im->rejected : REJECTS_KEPT),
          sizeof *im->rejects, by_line);
    if (im->ctx->json) {
        json_out j;
        json_out_init(&j, stdout);
        json_out_object_begin(&j);
        json_out_key(&j, "file");
        json_out_string(&j, file);
        json_out_key(&j, "lines");
        json_out_int(&j, im->lines);
        json_out_key(&j, "accepted");
        json_out_int(&j, im->accepted);
        json_out_key(&j, "duplicates");
        json_out_int(&j, im->duplicates);
        json_out_key(&j, "rejected");
        json_out_int(&j, im->rejected);
        json_out_key(&j, "rejected_lines");
        json_out_array_begin(&j);
        for (long i = 0; i < im->rejected && i < REJECTS_KEPT; i++) {
            json_out_object_begin(&j);
            json_out_key(&j, "line");
            json_out_int(&j, im->rejects[i].line);
            json_out_key(&j, "error");
            json_out_string(&j, im->rejects[i].why);
            json_out_object_end(&j);
        }
        json_out_array_end(&j);
        json_out_object_end(&j);
        if (json_out_finish(&j) != 0 && !ferror(stdout))
            return cli_fail(im->ctx, CLI_FAILED, "internal error: incomplete JSON output");
    } else {
        printf("%ld lines: %lld accepted, %lld duplicates, %ld rejected\n", im->lines,
               (long long)im->accepted, (long long)im->duplicates, im->rejected);
        for (long i = 0; i < im->rejected && i < REJECTS_KEPT; i++) {
            char *why = table_clean(im->rejects[i].why);
            printf("line %ld: %s\n", im->rejects[i].line, why != NULL ? why : "?");
            free(why);
        }
        if (im->rejected > REJECTS_KEPT)
            printf("... and %ld more rejected lines\n", im->rejected - REJECTS_KEPT);
    }
    if (im->rejected > 0)
        return cli_fail(im->ctx, CLI_FAILED, "%ld line%s rejected", im->rejected,
                        im->rejected == 1 ? "" : "s");
    return CLI_OK;
}

enum { FLAG_BATCH };
static const cli_flag import_flags[] = {
    [FLAG_BATCH] = {"batch", "N"},
    {NULL, NULL},
};

static int usage_import_run(cli_ctx *ctx, const cli_args *args)
{
import im = {.ctx = ctx, .batch_max = IMPORT_BATCH_DEFAULT };
    const char *file = args->arg[0], *b = args->flag[FLAG_BATCH];
    if (b != NULL) {
        char *end;
        errno = 0;
        long v = strtol(b, &end, 10);
        if (errno != 0 || end == b || *end != '\0' || v < 1 || v > IMPORT_BATCH_MAX)
            return cli_usage_error(ctx, "--batch: must be a whole number from 1 to %d",
                                   IMPORT_BATCH_MAX);
        im.batch_max = (size_t)v;
    }
    FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
    if (f == NULL) {
        char w[CLI_WORD_MAX];
        return cli_fail(ctx, CLI_USAGE, "cannot open %s: %s", cli_word(ctx, file, w, sizeof w),
                        strerror(errno));
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode))
        im.total_bytes = st.st_size;
    im.progress = !ctx->json && isatty(STDERR_FILENO);
    im.rejects = calloc(REJECTS_KEPT, sizeof *im.rejects);
    im.batch = calloc(im.batch_max, sizeof *im.batch);
    im.batch_line = calloc(im.batch_max, sizeof *im.batch_line);
    im.ev = calloc(im.batch_max, sizeof *im.ev);
    im.evp = calloc(im.batch_max, sizeof *im.evp);
    im.ts = calloc(im.batch_max, sizeof *im.ts);
    int rc = CLI_OK;
    if (im.rejects == NULL || im.batch == NULL || im.batch_line == NULL || im.ev == NULL ||
        im.evp == NULL || im.ts == NULL)
        rc = cli_fail(ctx, CLI_FAILED, "out of memory");
    if (rc == CLI_OK)
        rc = cli_rpc_connect(ctx);
    if (rc == CLI_OK)
        rc = read_lines(&im, f);
    if (im.progress) {
        draw_progress(&im, true);
        fputc('\n', stderr);
    }
    if (rc == CLI_OK)
        rc = report(&im, file);
    for (size_t k = 0; k < im.n; k++)
        usage_line_free(&im.batch[k]);
    free(im.batch);
    free(im.batch_line);
    free(im.rejects);
    free(im.ev);
    free(im.evp);
    free(im.ts);
    if (f != stdin)
        fclose(f);
    return rc;
}

const cli_command cmd_usage_import = {
    .name = "usage import",
    .synopsis = "FILE [--batch N]",
    .summary = "record usage events from a JSON Lines file",
    .help = "Reads FILE ('-' for standard input), one usage event per line, e.g.\n"
            "  {\"idempotency_key\":\"evt-1\",\"account_id\":\"acc-1\",\"metric\":\"messages\",\n"
            "   \"quantity\":3,\"occurred_at\":\"2026-10-01T12:00:00Z\"}\n"
            "and sends them in batches with minbill.v1.Metering/RecordUsage. Each event is\n"
            "counted once however often it is sent, so running an import again (say, after\n"
            "an interruption) is safe: what was counted comes back as duplicates. Blank\n"
            "lines are skipped; a line that is not such an object, or that the server\n"
            "refuses (unknown account or metric, quantity out of range, occurred_at more\n"
            "than 5 minutes ahead or older than the acceptance window), is reported with\n"
            "its line number and the rest of its batch is sent without it. On a terminal a\n"
            "progress bar is drawn on stderr.\n"
            "\n"
            "  --batch N  events per request (default 1000, at most 10000)\n"
            "  --timeout applies to each request, not to the whole import.\n"
            "\n"
            "Prints '<lines> lines: <a> accepted, <d> duplicates, <r> rejected' and one\n"
            "'line <n>: <reason>' per rejected line. With --json: {file, lines, accepted,\n"
            "duplicates, rejected, rejected_lines:[{line, error}]}.\n"
            "\n"
            "exit status: 0 if every line was counted (or was a duplicate); 1 if lines were\n"
            "rejected or the server failed (the message says where it stopped); 2 usage\n"
            "error (also an unreadable FILE); 3 if the server cannot be reached.\n",
    .flags = import_flags,
    .min_args = 1,
    .max_args = 1,
    .run = usage_import_run,
};
