/* clock.c - see clock.h. */
#include "base/clock.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"

/* Added to the real time; set once by mb_clock_init_from_env() before any
 * thread starts, read-only afterwards. */
static int64_t test_offset_us;

int64_t mb_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000 + test_offset_us;
}

/* "YYYY-MM-DD", "YYYY-MM-DDTHH:MM:SSZ" or Unix seconds. */
static int parse_test_now(const char *s, int64_t *seconds)
{
    struct tm tm = {0};
    char *end = NULL;
    if (strlen(s) >= 10 && s[4] == '-' && s[7] == '-') {
        end = strptime(s, "%Y-%m-%d", &tm);
        if (end != NULL && *end == 'T')
            end = strptime(end, "T%H:%M:%SZ", &tm);
        if (end == NULL || *end != '\0')
            return -1;
        *seconds = (int64_t)timegm(&tm);
        return 0;
    }
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v < 0)
        return -1;
    *seconds = v;
    return 0;
}

int mb_clock_init_from_env(mb_error *err)
{
    const char *now = getenv("MINBILL_TEST_NOW");
    if (now == NULL || now[0] == '\0')
        return 0;
    const char *guard = getenv("MINBILL_TEST_CLOCK");
    if (guard == NULL || strcmp(guard, MB_TEST_CLOCK_GUARD) != 0)
        return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                            "MINBILL_TEST_NOW is set: it moves the clock for tests only and "
                            "needs MINBILL_TEST_CLOCK=%s as well; unset it",
                            MB_TEST_CLOCK_GUARD);
    int64_t seconds;
    if (parse_test_now(now, &seconds) != 0)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "MINBILL_TEST_NOW: must be YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or Unix "
                            "seconds");
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    test_offset_us = (seconds - (int64_t)ts.tv_sec) * 1000000;
    char when[32];
    time_t t = (time_t)seconds;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    mb_log(
        MB_LOG_WARN,
        "event=test_clock now=%s msg=\"the wall clock is moved for a test: never in production\"",
        when);
    return 1;
}

void mb_mono_cond_init(pthread_cond_t *cond)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cond, &ca);
    pthread_condattr_destroy(&ca);
}

struct timespec mb_mono_timespec(int64_t ns)
{
    return (struct timespec){(time_t)(ns / 1000000000), (long)(ns % 1000000000)};
}

int64_t mb_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void mb_today_utc(char out[11])
{
    time_t t = (time_t)(mb_now_us() / 1000000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}
