/*
 * period.c - see period.h.
 */
#include "metering/period.h"

#include <stdbool.h>
#include <string.h>
#include <time.h>

void period_of(int64_t unix_seconds, char out[PERIOD_SIZE])
{
    struct tm tm;
    time_t t = (time_t)unix_seconds;
    if (gmtime_r(&t, &tm) == NULL || tm.tm_year + 1900 < 0 || tm.tm_year + 1900 > 9999) {
        memcpy(out, "0000-00", PERIOD_SIZE);
        return;
    }
    int y = tm.tm_year + 1900, mon = tm.tm_mon + 1;
    out[0] = (char)('0' + y / 1000);
    out[1] = (char)('0' + y / 100 % 10);
    out[2] = (char)('0' + y / 10 % 10);
    out[3] = (char)('0' + y % 10);
    out[4] = '-';
    out[5] = (char)('0' + mon / 10);
    out[6] = (char)('0' + mon % 10);
    out[7] = '\0';
}

static int digit(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : -1;
}

int period_check(const char *field, const char *s, mb_error *err)
{
    if (s[0] == '\0')
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT, "%s: required (YYYY-MM)", field);
    bool ok = strlen(s) == 7 && s[4] == '-';
    for (int i = 0; ok && i < 7; i++)
        ok = i == 4 || digit(s[i]) >= 0;
    int year = ok ? digit(s[0]) * 1000 + digit(s[1]) * 100 + digit(s[2]) * 10 + digit(s[3]) : 0;
    int month = ok ? digit(s[5]) * 10 + digit(s[6]) : 0;
    if (!ok || year < 1970 || month < 1 || month > 12)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "%s: must be a calendar month written YYYY-MM, e.g. 2026-10", field);
    return 0;
}
