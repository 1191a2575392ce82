/*
 * bench_usage.h - the new-event usage loads of the metering benchmarks
 * (bench_metering, bench_state).
 *
 * Owns the shape of new usage (which accounts a message spans, the
 * idempotency keys, when the events occurred), the hand encoding of
 * RecordUsageRequest messages (a fixed-width key patched per event, so the
 * load generator, which shares the machine, spends its CPU on gRPC and not
 * on protobuf-c), the StreamUsage engine (N client streams on two
 * connections for a time) and the make()/check() pairs that bench_common's
 * unary engine runs for RecordUsage calls of one or of many events.
 */
#ifndef MB_BENCH_USAGE_H
#define MB_BENCH_USAGE_H

#include <stdatomic.h>
#include <stdint.h>

#include "bench_common.h"

#define BU_MAX_STREAMS 64
#define BU_MAX_BATCH 1000

/* What new events look like. Keys are "r" run_id "-" lane(2) "-" seq(11):
 * new as long as run_id is new to the database (a fresh one per phase that
 * must count every event). */
typedef struct bu_shape {
    char *const *accounts; /* bu_accounts; events go round them in order */
    long n_accounts;
    long span;         /* distinct accounts in one message or batched call */
    long batch;        /* events per stream message or batched call */
    char run_id[9];    /* 8 characters */
    int64_t occurred;  /* every event's occurred_at (Unix seconds) */
} bu_shape;

/* The accounts of s: n ids "<prefix>NNNNN" (0-based, 5 digits at least:
 * the fixture's naming, bench_fixture.h). -1 (printed) when out of memory. */
int bu_accounts(bu_shape *s, long n, const char *prefix);
void bu_accounts_free(bu_shape *s);

/* A fresh random run_id in s (seeded by the caller's srand). */
void bu_new_run(bu_shape *s);

typedef struct bu_stream_result {
    int64_t accepted, duplicates, sent;
    double seconds; /* first message to last stream closed */
    long failed;    /* streams that did not end OK */
    char first_error[256];
} bu_stream_result;

/* StreamUsage: `streams` concurrent streams (lanes 0..streams-1) of s->batch
 * events per message for `seconds`, with a platform-role key; prints the
 * client-side send rate every 10 s. The totals are the streams' final
 * answers, which the daemon sends only once everything is committed.
 * -1 (printed) if the load could not run. */
int bu_run_streams(const char *prog, const bu_shape *s, const char *target,
                   const char *platform_key, long streams, double seconds, bu_stream_result *res);

/* State of a unary load of new events: bu_unary_spec points the spec's
 * user at it. */
typedef struct bu_unary {
    const bu_shape *shape;
    long events; /* per call */
    _Atomic uint64_t seq;
} bu_unary;

/* A RecordUsage load (bc_record_usage_spec) of `events` new events per call
 * (1: one account per call, going round the accounts; more: the shape's
 * span and metrics, like a stream message), each answer checked to be
 * accepted=events duplicates=0. u is initialised here and must outlive the
 * run; the caller adds the bounds. */
bc_load_spec bu_unary_spec(bu_unary *u, const bu_shape *s, long events, const char *prog,
                           const char *target, const char *platform_key, long inflight,
                           int deadline_ms);

#endif
