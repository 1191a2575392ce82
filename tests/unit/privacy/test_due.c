/*
 * test_due.c - Art. 12(3) deadlines: one calendar month after receipt (the
 * day clamped to the end of a shorter month), extensions by whole months,
 * across year ends and leap years, the time of day kept.
 */
#include <time.h>

#include "check.h"
#include "privacy/requests.h"

/* Microseconds of y-m-d h:00:00.000123 UTC. */
static int64_t at(int y, int m, int d, int h)
{
    struct tm tm = {.tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d, .tm_hour = h};
    return (int64_t)timegm(&tm) * 1000000 + 123;
}

static void test_one_month(void)
{
    CHECK(privacy_add_months(at(2026, 1, 31, 9), 1) == at(2026, 2, 28, 9));
    CHECK(privacy_add_months(at(2028, 1, 31, 9), 1) == at(2028, 2, 29, 9));
    CHECK(privacy_add_months(at(2100, 1, 31, 9), 1) == at(2100, 2, 28, 9));
    CHECK(privacy_add_months(at(2000, 1, 30, 9), 1) == at(2000, 2, 29, 9));
    CHECK(privacy_add_months(at(2026, 3, 31, 23), 1) == at(2026, 4, 30, 23));
    CHECK(privacy_add_months(at(2026, 12, 15, 0), 1) == at(2027, 1, 15, 0));
    CHECK(privacy_add_months(at(2026, 2, 28, 9), 1) == at(2026, 3, 28, 9));
}

static void test_extension(void)
{
    /* Due 28 February, extended by two months: 28 April. */
    CHECK(privacy_add_months(at(2026, 2, 28, 9), 2) == at(2026, 4, 28, 9));
    CHECK(privacy_add_months(at(2026, 11, 30, 9), 2) == at(2027, 1, 30, 9));
    CHECK(privacy_add_months(at(2026, 12, 31, 9), 2) == at(2027, 2, 28, 9));
}

int main(void)
{
    RUN(test_one_month);
    RUN(test_extension);
    return check_summary();
}
