/*
 * period.c - see period.h.
 */
#include "base/period.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

/* Writes "YYYY-MM" (year 0..9999) into out; "0000-00" outside. */
static void format_period(int y, int mon, char out[PERIOD_SIZE])
{
    if (y < 0 || y > 9999) {
        memcpy(out, "0000-00", PERIOD_SIZE);
        return;
    }
    out[0] = (char)('0' + y / 1000);
    out[1] = (char)('0' + y / 100 % 10);
    out[2] = (char)('0' + y / 10 % 10);
    out[3] = (char)('0' + y % 10);
    out[4] = '-';
    out[5] = (char)('0' + mon / 10);
    out[6] = (char)('0' + mon % 10);
    out[7] = '\0';
}

void period_of(int64_t unix_seconds, char out[PERIOD_SIZE])
{
    struct tm tm;
    time_t t = (time_t)unix_seconds;
    if (gmtime_r(&t, &tm) == NULL) {
        memcpy(out, "0000-00", PERIOD_SIZE);
        return;
    }
    format_period(tm.tm_year + 1900, tm.tm_mon + 1, out);
}

static int digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : -1;
}

int period_parse(const char *s, int *year, int *month)
{
    bool ok = s != NULL && strlen(s) == 7 && s[4] == '-';
    for (int i = 0; ok && i < 7; i++)
        ok = i == 4 || digit(s[i]) >= 0;
    int y = ok ? digit(s[0]) * 1000 + digit(s[1]) * 100 + digit(s[2]) * 10 + digit(s[3]) : 0;
    int m = ok ? digit(s[5]) * 10 + digit(s[6]) : 0;
    if (!ok || y < 1970 || m < 1 || m > 12)
        return -1;
    *year = y;
    *month = m;
    return 0;
}

int period_check(const char *field, const char *s, mb_error *err)
{
    int year, month;
    if (s[0] == '\0')
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT, "%s: required (YYYY-MM)", field);
    if (period_parse(s, &year, &month) != 0)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "%s: must be a calendar month written YYYY-MM, e.g. 2026-10", field);
    return 0;
}

static bool is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

static void format_day(const char *period, int day, char out[PERIOD_DAY_SIZE])
{
    memcpy(out, period, PERIOD_SIZE - 1);
    out[7] = '-';
    out[8] = (char)('0' + day / 10);
    out[9] = (char)('0' + day % 10);
    out[10] = '\0';
}

void period_first_day(const char *period, char out[PERIOD_DAY_SIZE])
{
    int y, m;
    if (period_parse(period, &y, &m) != 0)
        memcpy(out, "0000-00-00", PERIOD_DAY_SIZE);
    else
        format_day(period, 1, out);
}

void period_last_day(const char *period, char out[PERIOD_DAY_SIZE])
{
    int y, m;
    if (period_parse(period, &y, &m) != 0)
        memcpy(out, "0000-00-00", PERIOD_DAY_SIZE);
    else
        format_day(period, days_in_month(y, m), out);
}

/* Days from 1970-01-01 to y-m-01 (H. Hinnant's days_from_civil, for y >= 1). */
static int64_t days_from_civil(int y, int m)
{
    y -= m <= 2;
    int64_t era = y / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

int64_t period_end_unix(const char *period)
{
    int y, m;
    if (period_parse(period, &y, &m) != 0)
        return 0;
    return days_from_civil(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1) * 86400;
}

void period_prev(const char *period, char out[PERIOD_SIZE])
{
    int y, m;
    if (period_parse(period, &y, &m) != 0)
        format_period(-1, 0, out);
    else
        format_period(m == 1 ? y - 1 : y, m == 1 ? 12 : m - 1, out);
}

void period_next(const char *period, char out[PERIOD_SIZE])
{
    int y, m;
    if (period_parse(period, &y, &m) != 0)
        format_period(-1, 0, out);
    else
        format_period(m == 12 ? y + 1 : y, m == 12 ? 1 : m + 1, out);
}
