/*
 * fuzz_period.c - billing periods (metering/period.c): period_check on the
 * input as text, period_of on its first eight bytes as a Unix time.
 *
 * Invariants: an accepted period is "YYYY-MM" with a year of at least 1970
 * and a month 01..12; period_of() gives the UTC month of any time (checked
 * against gmtime_r) or "0000-00", and a month it gives from 1970 on is
 * accepted by period_check().
 */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/period.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mb_error err;
    if (size >= 8) {
        uint64_t x = 0;
        for (int i = 0; i < 8; i++)
            x = x << 8 | data[i];
        /* Mostly times a year 0..9999 can hold, sometimes anything. */
        int64_t t = data[0] & 1 ? (int64_t)x : (int64_t)(x % 315537897600ULL) - 62167219200LL;
        char p[PERIOD_SIZE];
        period_of(t, p);
        FUZZ_ASSERT(strlen(p) == 7 && p[4] == '-');
        if (strcmp(p, "0000-00") != 0) {
            time_t tt = (time_t)t;
            struct tm tm;
            FUZZ_ASSERT(gmtime_r(&tt, &tm) != NULL);
            int y = atoi(p), m = atoi(p + 5);
            FUZZ_ASSERT(y == tm.tm_year + 1900 && m == tm.tm_mon + 1);
            FUZZ_ASSERT((period_check("period", p, &err) == 0) == (y >= 1970));
        }
    }
    char *s = fuzz_text(data, size);
    if (s == NULL)
        return 0;
    if (period_check("period", s, &err) == 0) {
        FUZZ_ASSERT(strlen(s) == 7 && s[4] == '-');
        for (int i = 0; i < 7; i++)
            FUZZ_ASSERT(i == 4 || (s[i] >= '0' && s[i] <= '9'));
        int y = atoi(s), m = atoi(s + 5);
        FUZZ_ASSERT(y >= 1970 && y <= 9999 && m >= 1 && m <= 12);
    } else {
        fuzz_assert_field_error(&err, "period");
    }
    free(s);
    return 0;
}
