/*
 * log.h - structured log lines on stderr.
 *
 * One line per event, logfmt style (`ts=... level=... event=... key=value`),
 * written with a single write(2) so lines from different threads never
 * interleave. Log lines carry ids, names and status codes only: never a
 * request payload, and never personal or payment data.
 */
#ifndef MB_LOG_H
#define MB_LOG_H

#include <stddef.h>
#include <stdint.h>

typedef enum { MB_LOG_INFO, MB_LOG_WARN, MB_LOG_ERROR } mb_log_level;

/* `fmt` produces the key=value tail of the line, e.g. "event=start listen=%s". */
void mb_log(mb_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Quotes a free-text value for a logfmt line into buf (escapes `"` and `\`,
 * drops control characters). Returns buf. */
const char *mb_log_quote(char *buf, size_t size, const char *text);

#endif
