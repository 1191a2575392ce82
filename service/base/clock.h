/*
 * clock.h - wall-clock time as minbill stores it (microseconds since the
 * Unix epoch, UTC), and the monotonic clock deadlines are measured on.
 */
#ifndef MB_CLOCK_H
#define MB_CLOCK_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

int64_t mb_now_us(void);

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
