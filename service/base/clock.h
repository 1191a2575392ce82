/*
 * clock.h - wall-clock time as minbill stores it (microseconds since the
 * Unix epoch, UTC), and the monotonic clock deadlines are measured on.
 *
 * Tests of retention need a wall clock they can set: with MINBILL_TEST_NOW
 * (YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or Unix seconds) in the environment
 * AND MINBILL_TEST_CLOCK=unsafe-test-clock, mb_now_us() and
 * mb_today_utc() start at that time and run on at the real pace. It cannot
 * be turned on by accident: MINBILL_TEST_NOW alone stops minbilld with an
 * error, and when it is on minbilld logs a warning at start. Log
 * timestamps and SQLite's 'now' keep the real time.
 */
#ifndef MB_CLOCK_H
#define MB_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "base/error.h"

#define MB_TEST_CLOCK_GUARD "unsafe-test-clock"

int64_t mb_now_us(void);

/* Reads MINBILL_TEST_NOW (see above) once, before any thread starts: 0
 * when it is not set, 1 when the clock is moved (and a warning logged), -1
 * with err when it is malformed or set without the guard. */
int mb_clock_init_from_env(mb_error *err);

/* Today's date in UTC, "YYYY-MM-DD" (the issue date of documents). */
void mb_today_utc(char out[11]);

/* CLOCK_MONOTONIC nanoseconds: for deadlines and durations. */
int64_t mb_mono_ns(void);

/* A CLOCK_MONOTONIC time in ns as a timespec, for pthread_cond_timedwait on
 * a condition variable whose clock is CLOCK_MONOTONIC. */
struct timespec mb_mono_timespec(int64_t ns);

/* Initialises cond to measure timed waits on CLOCK_MONOTONIC (immune to
 * wall-clock steps). */
void mb_mono_cond_init(pthread_cond_t *cond);

#endif
