/*
 * clock.h - wall-clock time as minbill stores it (microseconds since the
 * Unix epoch, UTC), and the monotonic clock deadlines are measured on.
 */
#ifndef MB_CLOCK_H
#define MB_CLOCK_H

#include <stdint.h>

int64_t mb_now_us(void);

/* Today's date in UTC, "YYYY-MM-DD" (the issue date of documents). */
void mb_today_utc(char out[11]);

/* CLOCK_MONOTONIC nanoseconds: for deadlines and durations. */
int64_t mb_mono_ns(void);

#endif
