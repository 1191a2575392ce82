/*
 * bench_common.h - helpers shared by the benchmark programs.
 *
 * Owns what every benchmark needs and nothing specific to one RPC: clocks,
 * option parsing, growing arrays, process and per-thread CPU figures from
 * /proc, CPU accounting of a measured window, peak RSS, latency collection
 * and percentiles, FAIL lines, starting and stopping a private minbilld
 * through the integration harness, the benchmarks' test account, and an
 * asynchronous C-core load engine for unary methods (threads with one
 * completion queue each, many calls in flight, re-issued as each completes,
 * a warm-up and a measured window bounded either by time or by a number of
 * calls).
 *
 * Every function that can fail returns 0 or -1 and prints one line naming
 * the program (the `prog` argument) and what failed.
 */
#ifndef MB_BENCH_COMMON_H
#define MB_BENCH_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <grpc/grpc.h>

#include "harness.h"
#include "rpc_client.h"

/* --- time and options ------------------------------------------------------ */

/* CLOCK_MONOTONIC in nanoseconds. */
int64_t bc_now_ns(void);
void bc_sleep_ms(int ms);

/* A whole number in [min, max] for `flag`; -1 with a message otherwise. */
int bc_parse_long(const char *prog, const char *flag, const char *s, long min, long max, long *out);
/* A number of seconds in (0, max]; -1 with a message otherwise. */
int bc_parse_seconds(const char *prog, const char *flag, const char *s, double max, double *out);

/* One --name option of a program, and where its value goes. */
typedef enum {
    BC_ARG_NONE,    /* a switch: sets the bool at out */
    BC_ARG_COUNT,   /* a whole number in [min, max] into the long at out */
    BC_ARG_SECONDS, /* seconds into the double at out, at most max: min 1 takes any
                     * number above 0, min 0 takes 0 too (e.g. "no warm-up") */
    BC_ARG_TEXT,    /* the argument itself into the const char * at out */
} bc_arg_kind;

typedef struct bc_option {
    const char *name; /* without the leading "--" */
    bc_arg_kind kind;
    void *out;
    long min, max;
} bc_option;

/* Parses argv: the n options of opts, and --help. Returns 0, 1 for --help,
 * or -1 on a usage error (message printed: a bad value, an unknown option,
 * an argument that is not an option). Checks between options are the
 * caller's. */
int bc_parse_options(const char *prog, int argc, char **argv, const bc_option *opts, size_t n);

/* How main ends when its option parsing did not return 0: rc 1 (--help)
 * prints usage to stdout and gives exit status 0; rc -1 (a usage error,
 * already described) points to --help and gives BC_EXIT_USAGE. */
#define BC_EXIT_USAGE 2
int bc_options_exit(const char *prog, int rc, void (*usage)(FILE *f));

/* The machine's online cores (at least 1): the daemon's default threads, and
 * the "machine: N cores" of the reports. */
long bc_cores(void);

/* --- arrays ---------------------------------------------------------------- */

/* Room for `need` elements of elem_size bytes in the array v of capacity
 * *cap, doubling from `first`: returns the (possibly moved) array and updates
 * *cap, or NULL when out of memory (v is then still valid and unchanged). */
void *bc_grow(void *v, size_t *cap, size_t need, size_t elem_size, size_t first);

/* --- processes and CPU ----------------------------------------------------- */

/* Peak resident set (VmHWM) of a process in KiB, or -1. */
long bc_peak_rss_kib(pid_t pid);
/* Resets a process's VmHWM to its current resident set (clear_refs 5), so
 * the next bc_peak_rss_kib is the peak of one phase; -1 if not allowed. */
int bc_reset_peak_rss(pid_t pid);
/* User + system CPU seconds of a process so far, or -1. */
double bc_process_cpu_s(pid_t pid);
/* CPU seconds of this process so far. */
double bc_self_cpu_s(void);
/* CPU seconds all cores have been busy so far (/proc/stat), or -1. */
double bc_machine_busy_s(void);

/* CPU seconds of each thread of a process at one moment. */
typedef struct bc_thread_cpu {
    pid_t tid;
    char comm[20];
    double cpu_s;
} bc_thread_cpu;

typedef struct bc_threads {
    bc_thread_cpu *v;
    size_t n;
} bc_threads;

/* Reads /proc/PID/task/ (the previous content of out is freed). */
int bc_threads_snapshot(const char *prog, pid_t pid, bc_threads *out);
/* Prints the `top` busiest threads between two snapshots, in cores
 * (CPU seconds per second of `seconds`), one line each with `indent`. */
void bc_threads_print(FILE *f, const char *indent, const bc_threads *before,
                      const bc_threads *after, double seconds, size_t top);
void bc_threads_free(bc_threads *t);

/* CPU seconds spent during a measured window, to tell a slow daemon from a
 * busy machine. Between bc_cpu_begin and bc_cpu_end: daemon (-1 if its pid is
 * unknown), self (this process: an in-process load client, or parsing a load
 * tool's output), children (child processes waited for meanwhile: a load tool
 * run to completion) and other (everything else busy on the machine,
 * including the daemon when its pid is unknown; -1 if /proc/stat is
 * unreadable). */
typedef struct bc_cpu {
    pid_t pid;
    double pid0, self0, children0, machine0;
    double daemon, self, children, other;
} bc_cpu;

void bc_cpu_begin(bc_cpu *c, pid_t daemon_pid);
void bc_cpu_end(bc_cpu *c);

/* --- latencies ------------------------------------------------------------- */

/* Microsecond latencies; grows as needed. */
typedef struct bc_lat {
    uint32_t *v;
    size_t n, cap;
} bc_lat;

int bc_lat_add(bc_lat *l, int64_t us);
/* Appends all of src to dst. */
int bc_lat_append(bc_lat *dst, const bc_lat *src);
void bc_lat_sort(bc_lat *l);
/* Nearest-rank percentile (q in [0,1]) of a sorted set; 0 when empty. */
uint32_t bc_lat_pct(const bc_lat *l, double q);
uint32_t bc_lat_max(const bc_lat *l);
void bc_lat_free(bc_lat *l);

/* --- the verdict ----------------------------------------------------------- */

/* When cond holds, prints one line "<prefix>FAIL: <message>" to f; returns 1
 * if it printed, else 0, so a report can list every reason and count them. */
int bc_fail_if(FILE *f, const char *prefix, bool cond, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* --- the daemon ------------------------------------------------------------ */

/* Makes $MINBILLD name the daemon to run: default_path unless it is set. */
void bc_use_minbilld(const char *default_path);

/* mbt_daemon_init + mbt_daemon_start with extra_args (NULL-terminated, may be
 * NULL), using $MINBILLD or else default_path (the build's minbilld). On -1
 * the caller still runs mbt_daemon_cleanup(d). */
int bc_daemon_start(const char *prog, mbt_daemon *d, const char *default_path,
                    const char *const *extra_args);

/* bc_daemon_start with `--threads threads` (threads <= 0: the daemon's own
 * default). */
int bc_daemon_start_threads(const char *prog, mbt_daemon *d, const char *default_path,
                            long threads);

/* SIGTERM, then waits up to timeout_s; -1 unless it exited with status 0. */
int bc_daemon_stop(const char *prog, mbt_daemon *d, int timeout_s);

/* The figure `name` ("name=N") of the last "event=<event>" line of the
 * daemon's log at path, or -1 if there is none. */
long bc_log_figure(const char *path, const char *event, const char *name);

/* The report's daemon line: the private daemon's command and pid (own), or
 * the target of one already running. */
void bc_print_daemon(bool own, pid_t pid, long threads, const char *target);
/* The report's machine load line: `label` then /proc/loadavg and the
 * number of cores. */
void bc_print_load(const char *label);
/* The report's peak RSS line (rss_kib < 0: not known). */
void bc_print_peak_rss(long rss_kib);

/* UpsertAccount of the benchmarks' test account (a German company billed in
 * EUR) under `id`, on plan_id (NULL: no plan), with a platform-role key over
 * a ready channel; 0, or -1 with the status printed. Idempotent. */
int bc_upsert_account(const char *prog, mbc_channel_t *ch, const char *key, const char *id,
                      const char *plan_id, int timeout_ms);

/* UpsertPlan of the benchmarks' plan "bench" (EUR; metrics "messages" at
 * 0.0025 and "seats" at 4.5) with an admin-role key; 0, or -1 with the
 * status printed. */
int bc_upsert_bench_plan(const char *prog, mbc_channel_t *ch, const char *admin_key,
                         int timeout_ms);

/* The sum of the quantities of every counter of `account` in `period`
 * ("YYYY-MM"), read with GetUsage and a finance-role key; -1 with the
 * status printed. */
int64_t bc_usage_total(const char *prog, mbc_channel_t *ch, const char *finance_key,
                       const char *account, const char *period, int timeout_ms);

#define BC_RECORD_USAGE "/minbill.v1.Metering/RecordUsage"

/* For a load's check(): 0 if resp is a RecordUsageResponse of exactly
 * `accepted` and `duplicates`, else -1 with why saying what it held. */
int bc_check_usage_counts(const uint8_t *resp, size_t len, int64_t accepted, int64_t duplicates,
                          char *why, size_t why_size);

/* --- asynchronous unary load ----------------------------------------------- */

/* The receiving half of a client call's batch, into ops[0..2]:
 * RECV_INITIAL_METADATA, RECV_MESSAGE (one message; NULL if none came) and
 * RECV_STATUS_ON_CLIENT. The metadata arrays are initialised here; the caller
 * destroys them, the details and the response once the batch completed. */
void bc_recv_ops(grpc_op ops[3], grpc_metadata_array *initial_md, grpc_byte_buffer **resp,
                 grpc_status_code *status, grpc_slice *details, grpc_metadata_array *trailing_md);

/* What one load run does. make() and check() run on the client threads
 * (`thread` is 0..threads-1, so per-thread state needs no lock); call_ctx is
 * call_ctx_size bytes of scratch that make() fills and check() reads.
 *
 * The run is bounded either by time or by calls, never both:
 * - by time (measure_s > 0): load for warmup_s seconds, then the measured
 *   window of measure_s seconds; calls flow across both edges, and a call
 *   counts if it completes inside the window;
 * - by calls (measure_calls > 0): warmup_calls calls (0: none) all complete,
 *   then exactly measure_calls calls are made, and the window runs from the
 *   first of them starting to the last completing. The connections stay open
 *   across the two, so the warm-up also pays for connecting. */
typedef struct bc_load_spec {
    const char *prog;
    const char *target;  /* host:port */
    const char *method;  /* "/pkg.Service/Method" */
    const char *api_key; /* presented as "authorization: Bearer KEY"; NULL: none */
    size_t threads;      /* client threads, each with its own completion queue */
    size_t connections;  /* HTTP/2 connections, dealt round-robin to the threads */
    size_t inflight;     /* calls in flight in total, spread over the connections */
    int deadline_ms;     /* per call */
    double warmup_s;     /* by time: load before the measured window, not counted */
    double measure_s;    /* by time: the measured window */
    long warmup_calls;   /* by calls: calls before the measured window, not counted */
    long measure_calls;  /* by calls: the calls of the measured window */
    size_t call_ctx_size;
    void *user;
    /* Builds the next request; 0, or -1 with why filled (ends the run as a
     * failure). */
    int (*make)(void *user, size_t thread, void *call_ctx, grpc_byte_buffer **req, char *why,
                size_t why_size);
    /* Judges an OK response; 0 accepts it, -1 (why filled) counts it as a
     * failure. Called for every OK call, warm-up and drain included. */
    int (*check)(void *user, size_t thread, void *call_ctx, const uint8_t *resp, size_t len,
                 char *why, size_t why_size);
    /* Optional: called on the controlling thread just before the measured
     * window opens (start true) and just after it closes. By calls, no call
     * is in flight at either moment. 0 goes on; -1 (message printed) stops
     * the run, and bc_load_run returns -1. */
    int (*on_window)(void *user, bool start);
} bc_load_spec;

typedef struct bc_load_result {
    long ok;        /* OK and accepted, completed inside the measured window */
    long ok_total;  /* the same over the whole run (warm-up and drain too) */
    long failed;    /* non-OK status, failed batch or rejected response */
    double seconds; /* length of the measured window (0 if it never opened) */
    bc_lat lat;     /* latency of every call counted in ok, sorted */
    char first_error[512];
} bc_load_result;

/* For make(): msg packed into a new byte buffer (*out); -1 with why filled
 * if it is over 64 KiB. */
int bc_pack_request(const ProtobufCMessage *msg, grpc_byte_buffer **out, char *why,
                    size_t why_size);

/* For make(): a RecordUsageRequest of one event (quantity 1) of account and
 * metric with idempotency key `key`, occurred at `seconds` (Unix). */
int bc_pack_usage_event(const char *account, const char *metric, const char *key, int64_t seconds,
                        grpc_byte_buffer **out, char *why, size_t why_size);

/* For check(): resp unpacked as a desc message, or NULL with why filled
 * ("the response is not a <Name>"). Free it with
 * protobuf_c_message_free_unpacked. */
ProtobufCMessage *bc_unpack_response(const ProtobufCMessageDescriptor *desc, const uint8_t *resp,
                                     size_t len, char *why, size_t why_size);

/* A load of RecordUsage calls to target with a platform-role key: one
 * client thread, two connections, `inflight` calls in flight, each with a
 * deadline of deadline_ms. The caller adds the bounds (by time or by calls),
 * make, check and whatever else the run needs. */
bc_load_spec bc_record_usage_spec(const char *prog, const char *target, const char *platform_key,
                                  long inflight, int deadline_ms);

/* Runs the load. Any failure stops issuing new calls at once (the calls in
 * flight are drained) and is counted in failed with the first one described
 * in first_error. Returns 0 if the run happened (check failed == 0 for the
 * verdict), -1 if it could not run. Free the result with bc_load_result_free. */
int bc_load_run(const bc_load_spec *spec, bc_load_result *out);
void bc_load_result_free(bc_load_result *r);

/* Writes an example seller configuration (a Dutch B.V., 7 years of
 * retention) into the daemon's directory, for --seller-config; path (size
 * bytes) receives its name. */
int bc_write_seller_config(const char *prog, const mbt_daemon *d, char *path, size_t size);

/* A setup load that only has to succeed: check() accepts every OK call. */
int bc_check_ok(void *user, size_t thread, void *ctx, const uint8_t *resp, size_t len, char *why,
                size_t why_size);

typedef int (*bc_make_fn)(void *user, size_t thread, void *ctx, grpc_byte_buffer **req, char *why,
                          size_t why_size);

/* A unary load of method with key: 2 threads, 2 connections, inflight
 * calls, 30 s deadlines, make() building each request, bc_check_ok. */
bc_load_spec bc_unary_spec(const char *prog, const char *target, const char *method,
                           const char *key, long inflight, bc_make_fn make, void *user);

/* Runs sp for exactly `calls` calls after setting *seq (the make()
 * functions' counter) to 0; prints what took how long. -1 (printed) if any
 * call failed. */
int bc_load_calls(const char *what, bc_load_spec sp, long calls, _Atomic uint64_t *seq);

#endif
