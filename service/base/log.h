/*
 * log.h - structured log lines on stderr.
 *
 * One line per event, logfmt style (`ts=... level=... event=... key=value`).
 * Log lines carry ids, names and status codes only: never a request
 * payload, and never personal or payment data.
 *
 * A thread that logs often (a completion-queue thread: one line per call)
 * collects its lines with mb_log_buffer_begin() and writes them with one
 * write(2) per mb_log_flush(); other threads write each line at once. Writes
 * are serialised, so lines from different threads never interleave.
 *
 * What holds for a collected line:
 * - it is written at the thread's next mb_log_flush() or
 *   mb_log_buffer_end() (the server's threads flush every few events and
 *   end collecting before they wait for more work), or when the buffer is
 *   full;
 * - after mb_log_catch_crashes(), a crash (SIGSEGV, SIGBUS, SIGILL, SIGFPE,
 *   SIGABRT) and exit() write every thread's collected lines first (rarely,
 *   a line a thread was flushing at that moment is written twice; none is
 *   lost);
 * - SIGKILL cannot be caught: the lines collected since each thread's last
 *   flush are lost, i.e. at most those of the events of the pass that
 *   thread was in (MB_LOG_BUFFER_BYTES at most).
 */
#ifndef MB_LOG_H
#define MB_LOG_H

#include <stddef.h>
#include <stdint.h>

typedef enum { MB_LOG_INFO, MB_LOG_WARN, MB_LOG_ERROR } mb_log_level;

/* `fmt` produces the key=value tail of the line, e.g. "event=start listen=%s". */
void mb_log(mb_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Bytes a thread collects before it must write them. */
#define MB_LOG_BUFFER_BYTES 16384

/* Makes the calling thread collect its lines (at most 64 threads do; any
 * further one writes each line at once). */
void mb_log_buffer_begin(void);

/* Writes the calling thread's collected lines in one write(2); nothing if
 * there are none or the thread collects none. */
void mb_log_flush(void);

/* Writes the calling thread's collected lines and stops collecting. */
void mb_log_buffer_end(void);

/* Has crashes and exit() write every thread's collected lines first; the
 * signal's previous disposition (default, or a sanitizer's) then runs. */
void mb_log_catch_crashes(void);

/* Quotes a free-text value for a logfmt line into buf (escapes `"` and `\`,
 * drops control characters). Returns buf. */
const char *mb_log_quote(char *buf, size_t size, const char *text);

#endif
