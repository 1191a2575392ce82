/*
 * harness.h - runs the real minbilld for integration tests and benchmarks.
 *
 * mbt_daemon_init() makes a private temporary directory with a fresh master
 * key; mbt_daemon_start() runs `minbilld serve` on 127.0.0.1 with port 0
 * (the daemon picks a free port and logs it) and waits until it serves;
 * stderr (the call log) goes to <dir>/minbilld.log. The daemon binary comes
 * from $MINBILLD (CTest sets it); $MINBILL_DAEMON_WRAPPER, if set, is a
 * command prefix such as "valgrind --error-exitcode=99 --leak-check=full".
 */
#ifndef MB_TEST_HARNESS_H
#define MB_TEST_HARNESS_H

#include <stdbool.h>
#include <sys/types.h>

#define MBT_PATH 512

typedef struct mbt_daemon {
    pid_t pid;
    int port;
    char dir[MBT_PATH];
    char db[MBT_PATH + 32];
    char key_file[MBT_PATH + 32];
    char log[MBT_PATH + 32];
    char target[64]; /* "127.0.0.1:PORT" */
    /* waitpid status when the daemon exited during start-up (so tests of
     * refused start-ups can check the exit code); -1 otherwise. */
    int exit_status;
} mbt_daemon;

/* Temporary directory + key file. Returns 0 or -1 (message on stderr). */
int mbt_daemon_init(mbt_daemon *d);

/* Starts `minbilld serve` with extra flags (NULL-terminated, may be NULL),
 * waits up to 120 s for it to serve. Reuses the same database on restart. */
int mbt_daemon_start(mbt_daemon *d, const char *const *extra_args);

/* `minbilld keys create-api-key --role ROLE` against the daemon's database
 * (works while it runs). out receives the key. */
int mbt_daemon_api_key(mbt_daemon *d, const char *role, char *out, size_t size);

/* Sends sig and waits up to timeout_s for the exit; *status receives the
 * waitpid status. Returns -1 (after SIGKILL) if it did not exit in time. */
int mbt_daemon_stop(mbt_daemon *d, int sig, int timeout_s, int *status);

/* Runs `minbilld ARGS...` (NULL-terminated) to completion; returns its exit
 * code, or -1. stdout is written to out (if not NULL). */
int mbt_run_minbilld(const char *const *args, char *out, size_t size);

/* Removes the directory unless $MINBILL_KEEP_TEST_DIR is set. */
void mbt_daemon_cleanup(mbt_daemon *d);

/* Path of the minbilld binary ($MINBILLD). */
const char *mbt_minbilld_path(void);

#endif
