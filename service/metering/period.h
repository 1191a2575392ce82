/*
 * period.h - billing periods: calendar months in UTC, written "YYYY-MM".
 *
 * The period of a usage event is the UTC month of its occurred_at; counters,
 * GetUsage and invoices all speak in these strings.
 */
#ifndef MB_METERING_PERIOD_H
#define MB_METERING_PERIOD_H

#include <stdint.h>

#include "base/error.h"

#define PERIOD_SIZE 8 /* "YYYY-MM" + NUL */

/* The period of a Unix time (years 0..9999; others give "0000-00"). */
void period_of(int64_t unix_seconds, char out[PERIOD_SIZE]);

/* Checks that s is a period "YYYY-MM" (month 01..12, year 1970..9999);
 * INVALID_ARGUMENT "<field>: ..." otherwise. */
int period_check(const char *field, const char *s, mb_error *err);

#endif
