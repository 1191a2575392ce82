/*
 * common.h - what every integration test does around the daemon.
 *
 * A test brings a daemon up (fresh directory, key file, `minbilld serve`, a
 * connected channel), makes calls, and tears it down with SIGTERM. The
 * teardown is itself a test: the daemon must exit 0 (under valgrind that
 * also means "no memory errors or definite leaks": valgrind exits 99) within
 * its shutdown grace, log `event=stopped`, and its log must hold no
 * sanitizer report and no "cannot happen" event of the RPC runtime.
 *
 * check.h keeps its counters per translation unit, so nothing here uses
 * CHECK(): helpers return 0 / true on success and print why they failed on
 * stderr, and the tests wrap them in CHECK() so the failing line is theirs.
 */
#ifndef MB_TEST_INTEGRATION_COMMON_H
#define MB_TEST_INTEGRATION_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "harness.h"
#include "rpc_client.h"

#define MBT_HEALTH_CHECK "/grpc.health.v1.Health/Check"
#define MBT_HEALTH_WATCH "/grpc.health.v1.Health/Watch"
/* Exit status of a test that cannot run here (CTest: SKIP_RETURN_CODE). */
#define MBT_SKIP 77
/* Longest API key plus slack; keys are mbk_<12>_<32>. */
#define MBT_KEY_MAX 128

typedef struct mbt_server {
    mbt_daemon d;
    mbc_channel_t *ch;
    long log_from; /* log offset where the current run of the daemon starts */
} mbt_server;

/* True when the daemon runs under a wrapper ($MINBILL_DAEMON_WRAPPER, i.e.
 * valgrind): everything on the daemon side is ~20 times slower. */
bool mbt_wrapped(void);

/* True when the daemon's memory use says little about ours: under valgrind,
 * or built with AddressSanitizer (its quarantine keeps freed memory; the
 * tests are built with the same flags as the daemon). */
bool mbt_instrumented(void);

/* ms, stretched when the daemon is wrapped. Use for time the daemon needs,
 * never for deadlines whose expiry is what a test checks. */
int mbt_ms(int ms);

/* A deadline whose expiry a test checks: as given, but 5 times longer when
 * the daemon is wrapped, so that its first answer still comes in time on a
 * busy machine. */
int mbt_deadline_ms(int ms);

/* Seconds on CLOCK_MONOTONIC. */
double mbt_now(void);
void mbt_sleep_ms(int ms);

/* mbt_daemon_init() + mbt_serve(). 0 or -1 (reason on stderr). */
int mbt_up(mbt_server *s, const char *const *extra_args);

/* Starts the daemon of an initialised s and connects s->ch. */
int mbt_serve(mbt_server *s, const char *const *extra_args);
/* The same over TLS (extra_args carry the daemon's --tls-* flags). */
int mbt_serve_tls(mbt_server *s, const char *const *extra_args, const mbc_tls *tls);

/* Sends sig, checks the shutdown (exit status 0 without the grace period
 * running out, `event=stopped` logged, nothing from BAD_MARKS in common.c
 * in this run's part of the log), then frees the channel. Returns 0, or -1
 * after printing every problem and the log's tail. */
int mbt_stop(mbt_server *s, int sig);

/* mbt_stop(s, SIGTERM) then mbt_daemon_cleanup(); always cleans up. */
int mbt_down(mbt_server *s);

/* A new API key for role on s's database; "" (and a message) on failure. */
void mbt_key(mbt_server *s, const char *role, char out[MBT_KEY_MAX]);

/* Unary call with raw request bytes; fills st and returns its code. The
 * response, if any, is dropped. */
int mbt_call(mbc_channel_t *ch, const char *method, const char *api_key, const void *req,
             size_t len, mb_error *st);

/* The call got past authentication and authorization: any answer except
 * UNAUTHENTICATED and PERMISSION_DENIED, or one that says the call never
 * reached a handler (UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED, UNKNOWN,
 * INTERNAL). Handlers are being built method by method, so "allowed" is
 * UNIMPLEMENTED today and a handler's own answer tomorrow. */
bool mbt_auth_passed(int code);

/* Unary call whose `authorization` metadata is exactly `authorization`
 * (NULL: none), for headers the client library would never send. Uses its
 * own channel to target. Returns the status code. */
int mbt_call_authorization(const char *target, const char *method, const char *authorization,
                           const void *req, size_t len, mb_error *st);

/* mbt_call_authorization() that also returns the trailing metadata entry
 * key (e.g. "grpc-status-details-bin", decoded) as *value (malloc'd; NULL
 * if absent; the caller frees it). */
int mbt_call_trailer(const char *target, const char *method, const char *authorization,
                     const void *req, size_t len, mb_error *st, const char *key, uint8_t **value,
                     size_t *value_len);

/* Health/Check for service; *serving receives the ServingStatus on OK.
 * Returns the status code. */
int mbt_health_check(mbc_channel_t *ch, const char *api_key, const char *service, int *serving,
                     mb_error *st);

/* Health/Check("") answers OK + SERVING (prints what it got otherwise). */
bool mbt_health_ok(mbc_channel_t *ch);

/* Reads and drops what is left of a streaming call, then fills st with its
 * status and returns the code. mbc_call_finish() alone waits for the
 * deadline when the call's initial metadata or a message is still unread
 * (see the report on client/rpc_client.c), so always end calls through this. */
int mbt_call_end(mbc_call_t *call, mb_error *st);

/* Opens a Health/Watch stream for service (timeout_ms <= 0: no deadline). */
mbc_call_t *mbt_watch_start(mbc_channel_t *ch, const char *service, int timeout_ms);

/* Next Watch update: 1 with *serving set, 0 when the stream ended, -1 on a
 * failed call or an undecodable message. */
int mbt_watch_next(mbc_call_t *call, int *serving);

/* The daemon's resident set (VmRSS) in KiB; -1 if unreadable. */
long mbt_daemon_rss_kib(const mbt_server *s);

/* The first column of the first row of sql on the database at path, as
 * text into out ("" for no row); 0, or -1 (printed) on an SQLite error. */
int mbt_db_text(const char *path, const char *sql, char *out, size_t size);

/* The same as a number; -1 on error. */
long mbt_db_long(const char *path, const char *sql);

/* The whole file, NUL-terminated, malloc'd; NULL if unreadable. */
char *mbt_read_file(const char *path);

/* Whether the file at path holds needle anywhere, binary-safe (database
 * files, WAL, logs): for the byte scans that prove nothing is in clear.
 * False for a missing file. */
bool mbt_file_contains(const char *path, const char *needle);
/* The same for n bytes of binary (a wrapped key, a ciphertext). */
bool mbt_file_contains_bytes(const char *path, const void *needle, size_t n);

/* Number of lines in the daemon log containing all of needle1 and (if not
 * NULL) needle2. */
int mbt_log_count(const mbt_server *s, const char *needle1, const char *needle2);

#endif
