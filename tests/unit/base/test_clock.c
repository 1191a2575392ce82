/*
 * test_clock.c - the test clock cannot be turned on by accident:
 * MINBILL_TEST_NOW alone is refused, a malformed one too, and with the
 * guard the wall clock starts at the given time and runs on.
 */
#include <stdlib.h>
#include <time.h>

#include "base/clock.h"
#include "check.h"

static void test_refused(void)
{
    mb_error err;
    unsetenv("MINBILL_TEST_CLOCK");
    CHECK(mb_clock_init_from_env(&err) == 0); /* nothing set */
    setenv("MINBILL_TEST_NOW", "2020-01-01", 1);
    CHECK(mb_clock_init_from_env(&err) == -1);
    CHECK_CONTAINS(err.msg, "MINBILL_TEST_CLOCK");
    setenv("MINBILL_TEST_CLOCK", "yes", 1);
    CHECK(mb_clock_init_from_env(&err) == -1);
    setenv("MINBILL_TEST_CLOCK", MB_TEST_CLOCK_GUARD, 1);
    setenv("MINBILL_TEST_NOW", "2020-13-45", 1);
    CHECK(mb_clock_init_from_env(&err) == -1);
    CHECK_STATUS(err, GRPC_STATUS_INVALID_ARGUMENT);
    int64_t real = (int64_t)time(NULL);
    CHECK(mb_now_us() / 1000000 - real <= 1);
}

static void test_moved(void)
{
    mb_error err;
    char today[11];
    setenv("MINBILL_TEST_CLOCK", MB_TEST_CLOCK_GUARD, 1);
    setenv("MINBILL_TEST_NOW", "2021-03-04T05:06:07Z", 1);
    CHECK(mb_clock_init_from_env(&err) == 1);
    int64_t s = mb_now_us() / 1000000;
    CHECK(s >= 1614834367 && s <= 1614834369);
    mb_today_utc(today);
    CHECK_CONTAINS(today, "2021-03-04");
    setenv("MINBILL_TEST_NOW", "1600000000", 1);
    CHECK(mb_clock_init_from_env(&err) == 1);
    s = mb_now_us() / 1000000;
    CHECK(s >= 1600000000 && s <= 1600000001);
}

int main(void)
{
    RUN(test_refused);
    RUN(test_moved);
    return check_summary();
}
