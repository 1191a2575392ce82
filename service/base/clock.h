/*
 * clock.h - wall-clock time as minbill stores it: microseconds since the
 * Unix epoch (UTC), and its ISO 8601 form.
 */
#ifndef MB_CLOCK_H
#define MB_CLOCK_H

#include <stddef.h>
#include <stdint.h>

int64_t mb_now_us(void);

/* "2026-11-29T01:30:00.123456Z" into out (>= 28 bytes). */
void mb_format_iso(int64_t us, char *out, size_t size);

#endif
