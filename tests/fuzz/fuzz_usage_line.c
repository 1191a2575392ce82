/*
 * fuzz_usage_line.c - the client's JSON Lines parser for `minbill usage
 * import` (client/cmd_usage.c, usage_line_parse), on one line as
 * read_lines() hands it over (no NUL inside).
 *
 * Invariants: an accepted line has all five fields, nanos 0..999999999;
 * written back as JSON (strings escaped, the time as RFC 3339 UTC) it
 * parses to the same event. A refusal says why in a bounded message that
 * quotes none of the line's values.
 */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd_usage.h"

typedef struct buf {
    char *s;
    size_t n, cap;
} buf;

static void put(buf *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        b->cap = (b->n + n + 1) * 2;
        if ((b->s = realloc(b->s, b->cap)) == NULL)
            abort();
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = '\0';
}

static void put_string(buf *b, const char *key, const char *v)
{
    put(b, "\"", 1);
    put(b, key, strlen(key));
    put(b, "\":\"", 3);
    for (const unsigned char *p = (const unsigned char *)v; *p != '\0'; p++) {
        char esc[8];
        if (*p == '"' || *p == '\\') {
            esc[0] = '\\';
            esc[1] = (char)*p;
            put(b, esc, 2);
        } else if (*p < 0x20) {
            snprintf(esc, sizeof esc, "\\u%04x", *p);
            put(b, esc, 6);
        } else {
            put(b, (const char *)p, 1);
        }
    }
    put(b, "\",", 2);
}

/* The line for l, or NULL if its time has no four-digit UTC year. */
static char *write_line(const usage_line *l)
{
    time_t t = (time_t)l->seconds;
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999)
        return NULL;
    buf b = {0};
    put(&b, "{", 1);
    put_string(&b, "idempotency_key", l->idempotency_key);
    put_string(&b, "account_id", l->account_id);
    put_string(&b, "metric", l->metric);
    char tail[96];
    int n = snprintf(tail, sizeof tail,
                     "\"quantity\":%lld,\"occurred_at\":\"%04d-%02d-%02dT%02d:%02d:%02d.%09dZ\"}",
                     (long long)l->quantity, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, (int)l->nanos);
    put(&b, tail, (size_t)n);
    return b.s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (memchr(data, '\0', size) != NULL)
        return 0;
    char *line = malloc(size + 1);
    if (line == NULL)
        abort();
    memcpy(line, data, size);
    line[size] = '\0';
    usage_line l, back;
    char why[384];
    memset(why, 'x', sizeof why);
    if (usage_line_parse(line, &l, why, sizeof why) == 0) {
        FUZZ_ASSERT(l.idempotency_key != NULL && l.account_id != NULL && l.metric != NULL);
        FUZZ_ASSERT(l.nanos >= 0 && l.nanos <= 999999999);
        char *again = write_line(&l);
        if (again != NULL) {
            FUZZ_ASSERT(usage_line_parse(again, &back, why, sizeof why) == 0);
            FUZZ_ASSERT(strcmp(l.idempotency_key, back.idempotency_key) == 0 &&
                        strcmp(l.account_id, back.account_id) == 0 &&
                        strcmp(l.metric, back.metric) == 0 && l.quantity == back.quantity &&
                        l.seconds == back.seconds && l.nanos == back.nanos);
            usage_line_free(&back);
            free(again);
        }
        usage_line_free(&l);
    } else {
        FUZZ_ASSERT(memchr(why, '\0', sizeof why) != NULL && why[0] != '\0');
        FUZZ_ASSERT(l.idempotency_key == NULL && l.account_id == NULL && l.metric == NULL);
        /* The longest run of letters and digits in a rule is "01T12". */
        fuzz_assert_no_echo(why, line, 6);
    }
    free(line);
    return 0;
}
