/*
 * jobs.h - a small, bounded pool of threads for long work (billing runs,
 * exports, erasures) so that it never holds a completion-queue thread.
 *
 * There is no waiting line: rpc_jobs_try_run() hands the work to an idle
 * thread or refuses at once, so a caller learns "busy" immediately and the
 * pool never holds more work than it has threads. It knows nothing about
 * calls; the runtime (server.c) wraps each job.
 */
#ifndef MB_RPC_JOBS_H
#define MB_RPC_JOBS_H

#include <stdbool.h>

typedef struct rpc_jobs rpc_jobs_t;

/* Starts n threads (n >= 1). NULL if out of memory or threads. */
rpc_jobs_t *rpc_jobs_new(int n);

/* Runs fn(arg) on an idle thread. Returns 0, or -1 (fn not run) when every
 * thread already has work. */
__attribute__((warn_unused_result)) int rpc_jobs_try_run(rpc_jobs_t *jobs, void (*fn)(void *arg),
                                                         void *arg);

/* Waits until no job runs, at most timeout_ms (< 0: forever). True if idle. */
bool rpc_jobs_wait_idle(rpc_jobs_t *jobs, int timeout_ms);

/* Waits for running jobs, joins the threads and frees the pool. NULL is a
 * no-op. */
void rpc_jobs_free(rpc_jobs_t *jobs);

#endif
