/*
 * bench_fixture.h - a database with N counted usage events, planted with the
 * daemon's own code, and the replays of those events (bench_replay,
 * bench_state).
 *
 * Owns the fixture's events (event i: account "fx-NNNNN" i mod accounts,
 * idempotency key "ev-<i>", metric "messages", quantity 1, occurred_at as
 * below), the fill that counts them in-process while the daemon is stopped
 * (keyring_load + keyring_attach, idem_open, then ingest_build +
 * ingest_apply per chunk, linked from minbill_core: no hand-written SQL, so
 * the runs, hashes and counters are what the daemon would have written), the
 * record of what a directory holds (a small text file beside the database,
 * so a kept fill can be reused and grown), the plan and accounts the events
 * need, the counters they sum to, and a RecordUsage load that sends events
 * again and requires every one to come back a duplicate.
 *
 * Time: the fill grows in passes. A pass counts events [from, to) spread
 * evenly over `days` days ending at its `end` (days 0: all at `end`), in
 * order, each chunk's events of one UTC day and counted as arriving that day
 * (the idempotency run of that day, at most IDEM_RUN_MAX_HASHES hashes each,
 * as the daemon makes them). A later pass spreads its events over the same
 * days again, in runs of its own.
 */
#ifndef MB_BENCH_FIXTURE_H
#define MB_BENCH_FIXTURE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "bench_common.h"
#include "minbill/v1/metering.pb-c.h"

#define FX_ID_MAX 24
#define FX_ACCOUNT_PREFIX "fx-"
#define FX_MAX_PASSES 64
#define FX_WINDOW_DAYS 62 /* the daemon's default acceptance window */

typedef struct fx_pass {
    long from, to; /* events [from, to) */
    int64_t end;   /* the last one's occurred_at (Unix seconds) */
} fx_pass;

typedef struct fx_usage {
    long accounts;
    int days; /* each pass's spread; 0 <= days <= FX_WINDOW_DAYS - 2 */
    fx_pass passes[FX_MAX_PASSES];
    size_t n_passes;
} fx_usage;

/* Event i's account, idempotency key and occurred_at (i < fx_filled()). */
void fx_account(const fx_usage *fx, long i, char out[FX_ID_MAX]);
void fx_key(long i, char out[FX_ID_MAX]);
int64_t fx_occurred(const fx_usage *fx, long i);
/* Events counted so far. */
long fx_filled(const fx_usage *fx);

/* What a directory holds: 1 if dir has a fill whose events are all still
 * more than a day inside the acceptance window (fx read), 0 if it has none
 * or a stale one, -1 if the record is unreadable (printed). */
int fx_load(const char *prog, const char *dir, fx_usage *fx);
int fx_save(const char *prog, const char *dir, const fx_usage *fx);

/* The daemon's files (the harness's layout) in dir, which outlives the
 * run: 1 if dir holds a usable fill (fx read), 0 if dir was made here with
 * a new master key (fx empty), -1 (printed) otherwise: dir exists without a
 * usable fill, or cannot be made. dir NULL: a fresh temporary directory
 * (mbt_daemon_init), 0. */
int fx_open_dir(const char *prog, const char *dir, mbt_daemon *d, fx_usage *fx);

/* The plan "bench" and the fixture's accounts, through a daemon. */
int fx_setup(const char *prog, mbc_channel_t *ch, const char *admin_key,
             const char *platform_key, const fx_usage *fx, int timeout_ms);

/* Sum of every counter of the fixture's accounts in `period` ("YYYY-MM");
 * -1 (printed) on a failed call. */
int64_t fx_counted(const char *prog, mbc_channel_t *ch, const char *finance_key,
                   const fx_usage *fx, const char *period, int timeout_ms);

typedef struct fx_fill_result {
    long events;
    double seconds;
    size_t runs, filter_bytes; /* the index at the end */
} fx_fill_result;

/* One pass: counts events fx_filled() .. to-1 ending at `end` into the
 * database db (keyed by key_file; the daemon must be stopped), printing
 * progress every million events, then truncates the WAL. */
int fx_fill(const char *prog, fx_usage *fx, const char *db, const char *key_file, long to,
            int64_t end, fx_fill_result *res);

/* A replay: RecordUsage calls of `batch` fixture events each, starting at
 * event `first` (call k sends first + k*batch ...), every answer required to
 * be accepted=0 duplicates=batch. */
typedef struct fx_replay {
    const fx_usage *fx;
    long first, batch, calls;
    atomic_long next_call;
    Minbill__V1__RecordUsageRequest req;
    Minbill__V1__UsageEvent *ev, **ptrs;
    Google__Protobuf__Timestamp *ts;
    char (*keys)[FX_ID_MAX], (*ids)[FX_ID_MAX];
} fx_replay;

/* bc_record_usage_spec (one client thread, which builds every request in
 * r) bounded by exactly `calls` calls, make() and check() set and user
 * pointing at r. -1 when out of memory; fx_replay_free(r) in any case. */
int fx_replay_spec(fx_replay *r, const fx_usage *fx, long first, long batch, long calls,
                   const char *prog, const char *target, const char *platform_key, long inflight,
                   int deadline_ms, bc_load_spec *out);
void fx_replay_free(fx_replay *r);

#endif
