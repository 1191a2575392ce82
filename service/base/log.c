/* log.c - see log.h. */
#include "base/log.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES 1024
#define BUFFERS 64

/* A thread's collected lines. len is published after the line's bytes, so
 * a crash handler on another thread writes whole lines only. Buffers are
 * static and never freed: a crash handler may read one at any time. */
typedef struct log_buffer {
    atomic_bool taken;
    atomic_size_t len;
    char data[MB_LOG_BUFFER_BYTES];
} log_buffer;

static log_buffer buffers[BUFFERS];
static _Thread_local log_buffer *mine;
/* Serialises writes: a pipe splits a long write(2) when it is full, and
 * another thread's line must not land in the middle. */
static pthread_mutex_t write_lock = PTHREAD_MUTEX_INITIALIZER;

static const int crash_signals[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
#define N_CRASH_SIGNALS (sizeof crash_signals / sizeof crash_signals[0])
static struct sigaction previous[N_CRASH_SIGNALS];

/* Writes all of data, retrying short writes; stderr is best effort beyond
 * that (a full disk is not worth blocking calls for). Async-signal-safe. */
static void write_all(const char *data, size_t len)
{
    while (len > 0) {
        ssize_t w = write(STDERR_FILENO, data, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return;
        data += w;
        len -= (size_t)w;
    }
}

static void flush_buffer(log_buffer *b)
{
    size_t n = atomic_load_explicit(&b->len, memory_order_acquire);
    if (n == 0)
        return;
    pthread_mutex_lock(&write_lock);
    write_all(b->data, n);
    pthread_mutex_unlock(&write_lock);
    atomic_store_explicit(&b->len, 0, memory_order_release);
}

static void emit(const char *line, size_t len)
{
    log_buffer *b = mine;
    if (b == NULL) {
        pthread_mutex_lock(&write_lock);
        write_all(line, len);
        pthread_mutex_unlock(&write_lock);
        return;
    }
    size_t used = atomic_load_explicit(&b->len, memory_order_relaxed);
    if (used + len > sizeof b->data) {
        flush_buffer(b);
        used = 0;
    }
    memcpy(b->data + used, line, len);
    atomic_store_explicit(&b->len, used + len, memory_order_release);
}

void mb_log(mb_log_level level, const char *fmt, ...)
{
    static const char *const names[] = {"info", "warn", "error"};
    char line[LINE_MAX_BYTES];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ level=%s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000, names[level]);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof line - 2)
        len = sizeof line - 2;
    line[len++] = '\n';
    emit(line, len);
}

void mb_log_buffer_begin(void)
{
    for (size_t i = 0; mine == NULL && i < BUFFERS; i++)
        if (!atomic_exchange(&buffers[i].taken, true))
            mine = &buffers[i];
}

void mb_log_flush(void)
{
    if (mine != NULL)
        flush_buffer(mine);
}

void mb_log_buffer_end(void)
{
    if (mine == NULL)
        return;
    flush_buffer(mine);
    atomic_store(&mine->taken, false);
    mine = NULL;
}

/* Async-signal-safe: no lock (the crashed thread may hold write_lock).
 * Taking each length with an exchange writes a buffer once even if two
 * threads crash at the same time. */
static void flush_all(void)
{
    for (size_t i = 0; i < BUFFERS; i++) {
        size_t n = atomic_exchange(&buffers[i].len, 0);
        if (n > 0)
            write_all(buffers[i].data, n);
    }
}

/* At exit() other threads may still log: lines are written whole under
 * write_lock, as everywhere but in a crash. */
static void flush_at_exit(void)
{
    pthread_mutex_lock(&write_lock);
    flush_all();
    pthread_mutex_unlock(&write_lock);
}

/* How long a crash may spend writing: stderr may be a pipe nobody reads
 * any more, and a process that hangs in its crash handler restarts later
 * than one that dies without its last lines. */
#define CRASH_FLUSH_SECONDS 5

static void on_crash(int sig)
{
    alarm(CRASH_FLUSH_SECONDS); /* SIGALRM's default action ends it */
    flush_all();
    for (size_t i = 0; i < N_CRASH_SIGNALS; i++)
        if (crash_signals[i] == sig)
            sigaction(sig, &previous[i], NULL);
    /* Delivered once this handler returns, to the previous disposition; a
     * fault also recurs when its instruction runs again. */
    raise(sig);
}

void mb_log_catch_crashes(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_crash;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < N_CRASH_SIGNALS; i++)
        sigaction(crash_signals[i], &sa, &previous[i]);
    atexit(flush_at_exit);
}

const char *mb_log_quote(char *buf, size_t size, const char *text)
{
    size_t o = 0;
    if (size < 3) {
        if (size > 0)
            buf[0] = '\0';
        return buf;
    }
    buf[o++] = '"';
    for (const char *p = text; *p != '\0' && o + 3 < size; p++) {
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f)
            continue;
        if (c == '"' || c == '\\')
            buf[o++] = '\\';
        buf[o++] = (char)c;
    }
    buf[o++] = '"';
    buf[o] = '\0';
    return buf;
}
