/*
 * period.h - billing periods: calendar months in UTC, written "YYYY-MM".
 *
 * The period of a usage event is the UTC month of its occurred_at; counters,
 * GetUsage and invoices all speak in these strings. Metering and invoicing
 * share them, so they live in base/. Days and end instants are computed
 * here on the proleptic Gregorian calendar, never through the host's time
 * zone: a period is a UTC month whatever TZ says.
 */
#ifndef MB_BASE_PERIOD_H
#define MB_BASE_PERIOD_H

#include <stdint.h>

#include "base/error.h"

#define PERIOD_SIZE 8 /* "YYYY-MM" + NUL */

/* The period of a Unix time (years 0..9999; others give "0000-00"). */
void period_of(int64_t unix_seconds, char out[PERIOD_SIZE]);

/* Checks that s is a period "YYYY-MM" (month 01..12, year 1970..9999);
 * INVALID_ARGUMENT "<field>: ..." otherwise. */
int period_check(const char *field, const char *s, mb_error *err);

/* Parses "YYYY-MM" (as period_check) into year and month; -1 (outputs
 * untouched) if s is not a period. */
int period_parse(const char *s, int *year, int *month);

/* "YYYY-MM-DD" of the first and last day of period (out: 11 bytes each);
 * "0000-00-00" if period is not one. */
#define PERIOD_DAY_SIZE 11
void period_first_day(const char *period, char out[PERIOD_DAY_SIZE]);
void period_last_day(const char *period, char out[PERIOD_DAY_SIZE]);

/* Unix seconds of the first instant after the period (its end, exclusive:
 * period_end_unix("2026-10") is 2026-11-01T00:00:00Z); 0 if period is not
 * one. */
int64_t period_end_unix(const char *period);

/* The period before / after. "1970-01" has "1969-12" before it (which
 * period_check refuses); after "9999-12", and around anything that is not a
 * period, out is "0000-00". */
void period_prev(const char *period, char out[PERIOD_SIZE]);
void period_next(const char *period, char out[PERIOD_SIZE]);

#endif
