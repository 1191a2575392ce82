/*
 * test_log.c - collected log lines are never lost: a thread's lines appear
 * only when it flushes (one write), all of them at mb_log_buffer_end(), and
 * a crash (abort, a segmentation fault) writes them before the process dies
 * of that signal, and does not hang when nobody reads its stderr. Each case
 * runs in a child whose stderr is a pipe.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "check.h"

#define LINES 500 /* more than MB_LOG_BUFFER_BYTES holds: one early write */

typedef enum { END_FLUSH, END_BUFFER_END, END_ABORT, END_SEGV, END_NOTHING, END_STUCK } ending;

/* Runs a child that collects LINES lines and ends as told; returns what
 * it wrote to stderr (malloc'd) and its wait status. */
static char *run_child(ending how, int *status)
{
    int fds[2];
    if (pipe(fds) != 0)
        return NULL;
    pid_t pid = fork();
    if (pid == 0) {
        dup2(fds[1], STDERR_FILENO);
        close(fds[0]);
        close(fds[1]);
        /* A sanitizer's report would be no log line. */
        signal(SIGSEGV, SIG_DFL);
        mb_log_catch_crashes();
        if (how == END_STUCK) {
            /* Fill the pipe, which the parent reads only once the child
             * is gone: the crash handler's write can never complete. */
            int fl = fcntl(STDERR_FILENO, F_GETFL);
            fcntl(STDERR_FILENO, F_SETFL, fl | O_NONBLOCK);
            static const char junk[4096] = {'x'};
            while (write(STDERR_FILENO, junk, sizeof junk) > 0)
                ;
            fcntl(STDERR_FILENO, F_SETFL, fl);
        }
        mb_log_buffer_begin();
        /* Stuck: a few, so the buffer's early write cannot block first. */
        for (int i = 0; i < (how == END_STUCK ? 10 : LINES); i++)
            mb_log(MB_LOG_INFO, "event=call n=%d", i);
        switch (how) {
        case END_FLUSH:
            mb_log_flush();
            _exit(0); /* no atexit: the flush alone wrote them */
        case END_BUFFER_END:
            mb_log_buffer_end();
            _exit(0);
        case END_ABORT:
            abort();
        case END_SEGV:
        case END_STUCK:
            raise(SIGSEGV);
            _exit(3);
        case END_NOTHING:
            _exit(0); /* neither flush nor exit handlers: what SIGKILL does */
        }
    }
    close(fds[1]);
    if (how == END_STUCK) {
        waitpid(pid, status, 0);
        close(fds[0]);
        return NULL;
    }
    size_t cap = 1 << 20, used = 0;
    char *out = malloc(cap);
    ssize_t r;
    while (out != NULL && (r = read(fds[0], out + used, cap - used - 1)) > 0)
        used += (size_t)r;
    close(fds[0]);
    waitpid(pid, status, 0);
    if (out != NULL)
        out[used] = '\0';
    return out;
}

/* Lines n=0..LINES-1 each once, in order. */
static bool all_lines(const char *out)
{
    char want[64];
    const char *p = out;
    for (int i = 0; i < LINES; i++) {
        snprintf(want, sizeof want, "event=call n=%d\n", i);
        p = p != NULL ? strstr(p, want) : NULL;
        if (p == NULL) {
            fprintf(stderr, "  line n=%d missing\n", i);
            return false;
        }
        p += strlen(want);
    }
    return strstr(p, "event=call") == NULL;
}

static void test_flush_and_end(void)
{
    int status;
    char *out = run_child(END_FLUSH, &status);
    CHECK(out != NULL && all_lines(out));
    free(out);
    out = run_child(END_BUFFER_END, &status);
    CHECK(out != NULL && all_lines(out));
    free(out);
}

static void test_unflushed_are_held(void)
{
    int status;
    char *out = run_child(END_NOTHING, &status);
    /* The early write (buffer full) happened; the rest was still held. */
    CHECK(out != NULL && strstr(out, "event=call n=0\n") != NULL);
    CHECK(out != NULL && strstr(out, "n=499\n") == NULL);
    free(out);
}

static void test_crash_writes_them(void)
{
    int status;
    char *out = run_child(END_ABORT, &status);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT);
    CHECK(out != NULL && all_lines(out));
    free(out);
    out = run_child(END_SEGV, &status);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGSEGV);
    CHECK(out != NULL && all_lines(out));
    free(out);
}

/* A crash while stderr is full and unread: the handler gives up after its
 * bound and the process dies (of SIGALRM) instead of hanging. */
static void test_crash_with_stuck_stderr(void)
{
    int status = 0;
    time_t t0 = time(NULL);
    run_child(END_STUCK, &status);
    long took = (long)(time(NULL) - t0);
    fprintf(stderr, "  a crash with stderr full ended after ~%ld s\n", took);
    CHECK(WIFSIGNALED(status) && WTERMSIG(status) == SIGALRM);
    CHECK(took <= 10);
}

int main(void)
{
    RUN(test_flush_and_end);
    RUN(test_unflushed_are_held);
    RUN(test_crash_writes_them);
    RUN(test_crash_with_stuck_stderr);
    return check_summary();
}
