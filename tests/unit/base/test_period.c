/*
 * test_period.c - billing periods: the month of an instant, what a period
 * string must look like, its first and last day (leap years included), its
 * end instant, and the periods around it across year boundaries.
 */
#include "check.h"
#include "base/period.h"

#include <stdbool.h>
#include <time.h>

static void test_of_and_check(void)
{
    char p[PERIOD_SIZE];
    mb_error err;
    period_of(1793491199, p); /* 2026-10-31T23:59:59Z */
    CHECK(strcmp(p, "2026-10") == 0);
    period_of(1793491200, p);
    CHECK(strcmp(p, "2026-11") == 0);
    CHECK(period_check("period", "2026-10", &err) == 0);
    const char *bad[] = {"",        "2026-13",    "2026-00", "2026-1", "26-10",
                         "2026/10", "2026-10-01", "1969-12", "abcd-ef"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        CHECK(period_check("period", bad[i], &err) == -1);
        CHECK_CONTAINS(err.msg, "period: ");
    }
}

static void test_parse(void)
{
    int y = -1, m = -1;
    CHECK(period_parse("2026-02", &y, &m) == 0 && y == 2026 && m == 2);
    CHECK(period_parse("1970-01", &y, &m) == 0 && y == 1970 && m == 1);
    y = m = -7;
    CHECK(period_parse("2026-13", &y, &m) == -1 && y == -7 && m == -7);
    CHECK(period_parse("1969-12", &y, &m) == -1);
    CHECK(period_parse("2026-1", &y, &m) == -1);
    CHECK(period_parse("2026-011", &y, &m) == -1);
    CHECK(period_parse(NULL, &y, &m) == -1);
}

static void days(const char *period, const char *first, const char *last)
{
    char f[PERIOD_DAY_SIZE], l[PERIOD_DAY_SIZE];
    period_first_day(period, f);
    period_last_day(period, l);
    if (strcmp(f, first) != 0 || strcmp(l, last) != 0)
        fprintf(stderr, "  %s: %s..%s, want %s..%s\n", period, f, l, first, last);
    CHECK(strcmp(f, first) == 0 && strcmp(l, last) == 0);
}

static void test_days(void)
{
    days("2026-01", "2026-01-01", "2026-01-31");
    days("2026-02", "2026-02-01", "2026-02-28");
    days("2024-02", "2024-02-01", "2024-02-29"); /* divisible by 4 */
    days("2100-02", "2100-02-01", "2100-02-28"); /* by 100, not 400 */
    days("2000-02", "2000-02-01", "2000-02-29"); /* by 400 */
    days("2026-04", "2026-04-01", "2026-04-30");
    days("2026-12", "2026-12-01", "2026-12-31");
    days("2026-13", "0000-00-00", "0000-00-00");
}

/* The end of a period is the start of the next: its first second belongs
 * to the next period, the second before to this one. */
static void end_is(const char *period, int64_t want)
{
    char p[PERIOD_SIZE];
    int64_t end = period_end_unix(period);
    if (end != want)
        fprintf(stderr, "  %s: end %lld, want %lld\n", period, (long long)end, (long long)want);
    CHECK(end == want);
    period_of(end - 1, p);
    CHECK(strcmp(p, period) == 0);
}

static void test_end(void)
{
    end_is("2026-10", 1793491200); /* 2026-11-01T00:00:00Z */
    end_is("2026-12", 1798761600); /* 2027-01-01T00:00:00Z */
    end_is("2024-02", 1709251200); /* 2024-03-01T00:00:00Z, after a 29th */
    end_is("1970-01", 2678400);
    /* Every month of four centuries against the C library's calendar. */
    bool all = true;
    for (int y = 1970; y < 2370 && all; y++)
        for (int m = 1; m <= 12 && all; m++) {
            char p[PERIOD_SIZE];
            struct tm tm = {
                .tm_year = (m == 12 ? y + 1 : y) - 1900, .tm_mon = m % 12, .tm_mday = 1};
            snprintf(p, sizeof p, "%04d-%02d", y, m);
            all = period_end_unix(p) == (int64_t)timegm(&tm);
            if (!all)
                fprintf(stderr, "  %s: %lld\n", p, (long long)period_end_unix(p));
        }
    CHECK(all);
    CHECK(period_end_unix("2026-00") == 0);
}

static void test_prev_next(void)
{
    static const struct {
        void (*step)(const char *, char[PERIOD_SIZE]);
        const char *from, *want;
    } cases[] = {
        {period_prev, "2026-03", "2026-02"}, {period_prev, "2026-01", "2025-12"},
        {period_next, "2026-12", "2027-01"}, {period_next, "2026-09", "2026-10"},
        {period_prev, "1970-01", "1969-12"}, {period_next, "9999-12", "0000-00"},
        {period_next, "bogus", "0000-00"},   {period_prev, "2026-00", "0000-00"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char p[PERIOD_SIZE];
        cases[i].step(cases[i].from, p);
        if (strcmp(p, cases[i].want) != 0)
            fprintf(stderr, "  from %s: %s, want %s\n", cases[i].from, p, cases[i].want);
        CHECK(strcmp(p, cases[i].want) == 0);
    }
}

int main(void)
{
    RUN(test_of_and_check);
    RUN(test_parse);
    RUN(test_days);
    RUN(test_end);
    RUN(test_prev_next);
    return check_summary();
}
