/*
 * idem.c - see idem.h.
 */
#include "metering/idem.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "base/clock.h"
#include "base/log.h"
#include "metering/idem_ckpt.h"

struct idem {
    idem_filter_t *filter;
    int64_t *runs; /* ascending; every run that may hold hashes */
    size_t n_runs, cap_runs;
    int64_t cur_run; /* the run new hashes go to, when cur_ok */
    /* The highest run number this process has known: new runs are numbered
     * above it, never again below a checkpoint's from_run even after a
     * purge emptied the list (idem_ckpt.h). */
    int64_t top_run;
    int64_t cur_day;
    uint32_t cur_count;
    bool cur_ok;
    int64_t hit_run; /* where the last duplicate was found; 0: none */
    /* Rebuild runs and filter from the table before use. Atomic: a failed
     * purge's commit sets it from the writer's completer thread. */
    atomic_bool invalid;
    uint64_t probes, seeks, rebuilds;
    bool from_saved; /* the filter was loaded from a saved file */
    uint64_t rescanned; /* hashes the load added from the table */
    /* Checkpoints (idem_ckpt.h): one starts once ckpt_every hashes were
     * stored since the last one started. */
    char *path;
    uint64_t ckpt_every, stored_since, checkpoints;
    idem_ckpt_t *ckpt;
    unsigned ckpt_next; /* the partition to copy next */
    bool ckpt_ended;    /* every partition copied: the thread finishes it */
    int64_t ckpt_t0;
};

static const char SQL_RUNS[] = "SELECT run, nonce FROM usage_idem_runs ORDER BY run";
static const char SQL_COUNT[] = "SELECT count(*) FROM usage_idem";
static const char SQL_ALL[] = "SELECT run, hash FROM usage_idem";
static const char SQL_PART[] =
    "SELECT hash FROM usage_idem WHERE run = ?1 AND hash >= ?2 AND hash < ?3";
static const char SQL_RUN_ALL[] = "SELECT hash FROM usage_idem WHERE run = ?1";
static const char SQL_PROBE[] = "SELECT 1 FROM usage_idem WHERE run = ?1 AND hash = ?2";
static const char SQL_INSERT[] = "INSERT OR IGNORE INTO usage_idem(run, hash) VALUES (?1, ?2)";
/* New hashes go in several rows per statement: a statement's fixed cost
 * (step, halt, reset) was a third of the writer's time per event when
 * every hash had its own. OR IGNORE, not a plain INSERT that a stored hash
 * would abort: a statement that may abort after changing some rows keeps a
 * statement journal, and each of these touches dozens of pages already
 * changed in the transaction, each copied into it in 1 KiB pieces (~10 %
 * of the writer in malloc, free and memmove). The filter said every hash
 * is new, so all rows are stored; fewer means it missed one (see flush).
 * ?1 is the run, the hashes are ?2.. in order. */
#define SQL_INSERT_ROWS "INSERT OR IGNORE INTO usage_idem(run, hash) VALUES "
static const char SQL_INSERT_64[] = SQL_INSERT_ROWS STORE_REPEAT64("(?1,?)");
static const char SQL_INSERT_16[] = SQL_INSERT_ROWS STORE_REPEAT16("(?1,?)");
static const char SQL_INSERT_4[] = SQL_INSERT_ROWS STORE_REPEAT4("(?1,?)");
static const struct {
    size_t rows;
    const char *sql;
} INSERT_ROWS[] = {{64, SQL_INSERT_64}, {16, SQL_INSERT_16}, {4, SQL_INSERT_4}};
#define INSERT_PENDING_MAX 64
/* Re-creates the row if the job that created it was rolled back. */
static const char SQL_RUN_TOUCH[] =
    "INSERT INTO usage_idem_runs(run, first_day, last_day, nonce) VALUES (?1, ?2, ?2, random())"
    " ON CONFLICT(run) DO UPDATE SET last_day = max(last_day, excluded.last_day)";
static const char SQL_EXPIRED[] =
    "SELECT run FROM usage_idem_runs WHERE last_day < ?1 AND run > ?2 ORDER BY run LIMIT 1";
static const char SQL_RUN_SIZE[] = "SELECT count(*) FROM usage_idem WHERE run = ?1";
static const char SQL_DELETE_CHUNK[] =
    "DELETE FROM usage_idem WHERE run = ?1 AND hash IN"
    " (SELECT hash FROM usage_idem WHERE run = ?1 ORDER BY hash LIMIT ?2) RETURNING hash";
static const char SQL_RUN_DROP[] = "DELETE FROM usage_idem_runs WHERE run = ?1";

void idem_hash(const unsigned char key[32], const char *account, size_t account_len,
               const char *idempotency_key, size_t key_len, uint8_t out[IDEM_HASH_BYTES])
{
    crypto_generichash_state st;
    uint8_t len[4] = {(uint8_t)(account_len >> 24), (uint8_t)(account_len >> 16),
                      (uint8_t)(account_len >> 8), (uint8_t)account_len};
    crypto_generichash_init(&st, key, 32, IDEM_HASH_BYTES);
    crypto_generichash_update(&st, len, sizeof len);
    crypto_generichash_update(&st, (const unsigned char *)account, account_len);
    crypto_generichash_update(&st, (const unsigned char *)idempotency_key, key_len);
    crypto_generichash_final(&st, out, IDEM_HASH_BYTES);
}

int64_t idem_day(int64_t unix_seconds)
{
    /* Floor division: days before 1970 are negative, not truncated to 0. */
    return unix_seconds >= 0 ? unix_seconds / 86400 : -((-unix_seconds + 86399) / 86400);
}

static int oom(mb_error *err)
{
    return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "idempotency index: out of memory");
}

/* Stops a checkpoint in progress, if any (idem_ckpt.h). */
static void ckpt_drop(idem_t *ix)
{
    idem_ckpt_free(ix->ckpt);
    ix->ckpt = NULL;
}

/* A filter found wrong (a hash missing, a failed purge) was also copied
 * wrong into the checkpoints of this process: none may be loaded. */
static void ckpt_forget(idem_t *ix)
{
    ckpt_drop(ix);
    if (ix->path != NULL)
        unlink(ix->path);
}

/* --- the run list ----------------------------------------------------------- */

static int runs_append(idem_t *ix, int64_t run, mb_error *err)
{
    if (ix->n_runs > 0 && ix->runs[ix->n_runs - 1] >= run)
        return 0;
    if (ix->n_runs == ix->cap_runs) {
        size_t cap = ix->cap_runs ? ix->cap_runs * 2 : 64;
        int64_t *r = realloc(ix->runs, cap * sizeof *r);
        if (r == NULL)
            return oom(err);
        ix->runs = r;
        ix->cap_runs = cap;
    }
    ix->runs[ix->n_runs++] = run;
    if (run > ix->top_run)
        ix->top_run = run;
    return 0;
}

static void runs_remove(idem_t *ix, int64_t run)
{
    if (ix->hit_run == run)
        ix->hit_run = 0;
    for (size_t i = 0; i < ix->n_runs; i++) {
        if (ix->runs[i] == run) {
            memmove(&ix->runs[i], &ix->runs[i + 1], (ix->n_runs - i - 1) * sizeof *ix->runs);
            ix->n_runs--;
            return;
        }
    }
}

/* Every run's number and nonce, ascending, in a new list. */
static int query_runs(store_conn_t *conn, idem_run_nonce **out, size_t *n, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_RUNS, err);
    if (st == NULL)
        return -1;
    idem_run_nonce *list = NULL;
    size_t len = 0, cap = 0;
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (len == cap) {
            cap = cap ? cap * 2 : 64;
            idem_run_nonce *l = realloc(list, cap * sizeof *l);
            if (l == NULL) {
                ret = oom(err);
                break;
            }
            list = l;
        }
        list[len++] = (idem_run_nonce){sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1)};
    }
    sqlite3_reset(st);
    if (ret == 0 && rc != SQLITE_DONE)
        ret = store_error(conn, err, "reading idempotency runs");
    if (ret != 0) {
        free(list);
        return -1;
    }
    *out = list;
    *n = len;
    return 0;
}

static int load_runs(idem_t *ix, store_conn_t *conn, mb_error *err)
{
    idem_run_nonce *list;
    size_t n;
    if (query_runs(conn, &list, &n, err) != 0)
        return -1;
    ix->n_runs = 0;
    int ret = 0;
    for (size_t i = 0; i < n && ret == 0; i++)
        ret = runs_append(ix, list[i].run, err);
    free(list);
    return ret;
}

/* --- the filter ------------------------------------------------------------- */

/* What the filter keeps of the run a hash is in: runs are numbered in
 * order, so the runs of one tag are 256 apart and a "maybe" is settled by
 * one lookup up to 256 runs (8 million hashes), a few beyond. */
static uint8_t run_tag(int64_t run)
{
    return (uint8_t)run;
}

/* Bounds of a partition's hashes as blobs: the first 10 bits are the
 * partition, and SQLite compares blobs with memcmp, then by length. */
static void part_bounds(unsigned part, uint8_t lo[2], uint8_t hi[IDEM_HASH_BYTES + 1], int *hi_len)
{
    unsigned l = part << 6, h = (part + 1) << 6;
    lo[0] = (uint8_t)(l >> 8);
    lo[1] = (uint8_t)l;
    if (part + 1 < IDEM_FILTER_PARTS) {
        hi[0] = (uint8_t)(h >> 8);
        hi[1] = (uint8_t)h;
        *hi_len = 2;
    } else { /* above every 16-byte hash */
        memset(hi, 0xff, IDEM_HASH_BYTES + 1);
        *hi_len = IDEM_HASH_BYTES + 1;
    }
}

/* Adds every stored hash of partition `part` of one run. 1 if the partition
 * overflowed (rebuild bigger), 0 done, -1 error. */
static int part_add_run(idem_t *ix, store_conn_t *conn, unsigned part, int64_t run, mb_error *err)
{
    uint8_t lo[2], hi[IDEM_HASH_BYTES + 1];
    int hi_len;
    part_bounds(part, lo, hi, &hi_len);
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_PART, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_blob(st, 2, lo, sizeof lo, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, hi, hi_len, SQLITE_STATIC);
    int rc, ret = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (sqlite3_column_bytes(st, 0) != IDEM_HASH_BYTES)
            continue; /* the table's CHECK makes this impossible */
        if (idem_filter_add(ix->filter, sqlite3_column_blob(st, 0), run_tag(run)) != 0) {
            ret = 1;
            break;
        }
    }
    sqlite3_reset(st);
    if (ret == 0 && rc != SQLITE_DONE)
        ret = store_error(conn, err, "reading idempotency hashes");
    return ret;
}

/* Refills one partition from the table, growing it until everything fits. */
/*
 * Partitions fill at one pace (the hashes are uniform): partitions of one
 * size would all overflow within moments of each other, and their
 * rebuilds, each reading its hashes back from every run (~40 ms at 128 M
 * hashes in 4,000 runs), would stall the writer for tens of seconds at once
 * (measured: ingest fell to 17,600 events/s, p99 428 ms, while a filter
 * sized in step grew at 128 M). So sizes are spread over a growth step: a
 * build sizes each partition for 0.87-1.20 times the mean (92 to 67 % full,
 * so the first overflows come anywhere in the next 40 % of growth), and a
 * rebuild grows one by 1.2-1.62 times (1.41 on average, as before), which
 * also pulls apart sizes that a loaded checkpoint had in step. The same
 * memory on average; the same rebuilds, one at a time instead of all at
 * once.
 */
static double spread(unsigned part, uint64_t salt)
{
    uint64_t x = ((uint64_t)part + 1) * 0x9e3779b97f4a7c15u ^ salt * 0xbf58476d1ce4e5b9u;
    x ^= x >> 31;
    x *= 0x94d049bb133111ebu;
    x ^= x >> 29;
    return (double)(x >> 11) / 9007199254740992.0; /* [0, 1) */
}

static int rebuild_part(idem_t *ix, store_conn_t *conn, unsigned part, mb_error *err)
{
    size_t items = (size_t)((double)(idem_filter_items(ix->filter, part) + 1) *
                            (0.85 + 0.30 * spread(part, ix->rebuilds)));
    for (;;) {
        if (idem_filter_reset(ix->filter, part, items) != 0)
            return oom(err);
        ix->rebuilds++;
        int rc = 0;
        for (size_t r = 0; r < ix->n_runs && rc == 0; r++)
            rc = part_add_run(ix, conn, part, ix->runs[r], err);
        if (rc < 0)
            return -1;
        if (rc == 0)
            return 0;
        items *= 2;
    }
}

/* The whole filter from the table: one scan, then the partitions that the
 * size estimate got wrong once more. */
static int build_filter(idem_t *ix, store_conn_t *conn, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_COUNT, err);
    if (st == NULL)
        return -1;
    int counted = store_step_one(conn, st, "no count", "counting idempotency hashes", err);
    int64_t total = counted == 0 ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (counted != 0)
        return -1;
    idem_filter_free(ix->filter);
    /* About 80% full on average to start with (idem_filter_new sizes for
     * two thirds full), so a rebuild does not grow the filter's memory,
     * spread (see spread()), and a floor that keeps small databases from
     * rebuilding in their first minutes. */
    size_t mean = (size_t)(total / IDEM_FILTER_PARTS) * 5 / 6 + 512;
    ix->filter = idem_filter_new(0);
    bool *overflow = calloc(IDEM_FILTER_PARTS, sizeof *overflow);
    bool ok = ix->filter != NULL && overflow != NULL;
    for (unsigned p = 0; ok && p < IDEM_FILTER_PARTS; p++)
        ok = idem_filter_reset(ix->filter, p,
                               (size_t)((double)mean * (0.87 + 0.33 * spread(p, 0)))) == 0;
    if (!ok) {
        free(overflow);
        return oom(err);
    }
    int rc, ret = 0;
    if ((st = store_conn_prepare(conn, SQL_ALL, err)) == NULL) {
        free(overflow);
        return -1;
    }
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const uint8_t *h = sqlite3_column_blob(st, 1);
        if (sqlite3_column_bytes(st, 1) != IDEM_HASH_BYTES)
            continue;
        unsigned part = idem_filter_part(h);
        if (!overflow[part] &&
            idem_filter_add(ix->filter, h, run_tag(sqlite3_column_int64(st, 0))) != 0)
            overflow[part] = true;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        ret = store_error(conn, err, "reading idempotency hashes");
    for (unsigned p = 0; ret == 0 && p < IDEM_FILTER_PARTS; p++)
        if (overflow[p])
            ret = rebuild_part(ix, conn, p, err);
    free(overflow);
    return ret;
}

static int rebuild_all(idem_t *ix, store_conn_t *conn, mb_error *err)
{
    if (ix->invalid)
        ckpt_forget(ix);
    else
        ckpt_drop(ix); /* its copies are of the filter this replaces */
    if (load_runs(ix, conn, err) != 0 || build_filter(ix, conn, err) != 0)
        return -1;
    ix->cur_ok = false;
    ix->invalid = false;
    return 0;
}

/* --- checkpoints (idem_ckpt.h) --------------------------------------------------- */

/* The oldest run that hashes stored from now on may go to. */
static int64_t from_run(const idem_t *ix)
{
    return ix->cur_ok ? ix->cur_run : ix->top_run + 1;
}

static int ckpt_copy(idem_t *ix, unsigned part, int64_t from, mb_error *err)
{
    size_t len = idem_filter_part_bytes(ix->filter, part);
    uint8_t *bytes = malloc(len);
    if (bytes == NULL)
        return oom(err);
    idem_filter_part_copy(ix->filter, part, bytes);
    return idem_ckpt_put(ix->ckpt, part, from, bytes, len, err);
}

static int ckpt_end(idem_t *ix, store_conn_t *conn, mb_error *err)
{
    idem_run_nonce *runs;
    size_t n;
    if (query_runs(conn, &runs, &n, err) != 0)
        return -1;
    int rc = idem_ckpt_end(ix->ckpt, runs, n, err);
    free(runs);
    return rc;
}

/* A job's share of a running checkpoint: at most this much copied, about
 * three partitions at 100 million hashes, tens of microseconds. */
#define CKPT_COPY_BYTES (1u << 20)

/* Once per job, on the writer thread: starts a checkpoint when due, copies
 * a few partitions into it, ends it after the last, and collects it once
 * written. One that fails is logged and dropped, and the next starts after
 * another ckpt_every hashes: a missing checkpoint costs start-up time,
 * never a job. */
static void ckpt_step(idem_t *ix, store_conn_t *conn)
{
    mb_error err;
    bool ok;
    int rc = 0;
    if (ix->ckpt == NULL) {
        if (ix->path == NULL || ix->ckpt_every == 0 || ix->stored_since < ix->ckpt_every)
            return;
        ix->stored_since = 0;
        if ((rc = idem_ckpt_begin(ix->path, &ix->ckpt, &err)) == 0) {
            ix->ckpt_next = 0;
            ix->ckpt_ended = false;
            ix->ckpt_t0 = mb_mono_ns();
        }
    } else if (idem_ckpt_poll(ix->ckpt, &ok, &err) == 1) {
        if (ok) {
            ix->checkpoints++;
            mb_log(MB_LOG_INFO, "event=usage_filter_checkpoint ms=%lld",
                   (long long)((mb_mono_ns() - ix->ckpt_t0) / 1000000));
        }
        rc = ok ? 0 : -1;
        ckpt_drop(ix);
    }
    int64_t from = from_run(ix);
    size_t copied = 0;
    while (rc == 0 && ix->ckpt != NULL && ix->ckpt_next < IDEM_FILTER_PARTS &&
           copied < CKPT_COPY_BYTES && idem_ckpt_has_room(ix->ckpt)) {
        copied += idem_filter_part_bytes(ix->filter, ix->ckpt_next);
        rc = ckpt_copy(ix, ix->ckpt_next++, from, &err);
    }
    if (rc == 0 && ix->ckpt != NULL && ix->ckpt_next == IDEM_FILTER_PARTS && !ix->ckpt_ended) {
        rc = ckpt_end(ix, conn, &err);
        ix->ckpt_ended = true;
    }
    if (rc != 0) {
        mb_log(MB_LOG_WARN, "event=usage_filter_checkpoint_failed error=\"%s\"", err.msg);
        ckpt_drop(ix);
    }
}

/* Adds run's hashes to the filter: all of them, or (from != NULL) those of
 * the partitions p with from[p] <= run. A partition that fills up is marked
 * in overflow, for a rebuild from the table. */
static int rescan_run(idem_t *ix, store_conn_t *conn, int64_t run, const int64_t *from,
                      bool *overflow, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_RUN_ALL, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, run);
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        const uint8_t *h = sqlite3_column_blob(st, 0);
        if (sqlite3_column_bytes(st, 0) != IDEM_HASH_BYTES)
            continue;
        unsigned p = idem_filter_part(h);
        if (overflow[p] || (from != NULL && run < from[p]))
            continue;
        ix->rescanned++;
        if (idem_filter_add(ix->filter, h, run_tag(run)) != 0)
            overflow[p] = true;
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_error(conn, err, "reading idempotency hashes");
}

/* Loads the checkpoint at path and adds from the table what it may lack
 * (idem_ckpt.h): 1 if loaded, 0 if there is none to use, -1 on error. */
static int load_checkpoint(idem_t *ix, store_conn_t *conn, const char *path, mb_error *err)
{
    idem_ckpt_file f;
    bool missing;
    if (idem_ckpt_load(path, &f, &missing) != 0) {
        if (!missing)
            mb_log(MB_LOG_WARN, "event=usage_filter_not_reused reason=\"the saved filter is "
                                "damaged or of an older version\"");
        return 0;
    }
    idem_run_nonce *runs = NULL;
    size_t n = 0;
    bool *overflow = calloc(IDEM_FILTER_PARTS, sizeof *overflow);
    int ret = overflow == NULL ? oom(err) : query_runs(conn, &runs, &n, err);
    ix->filter = f.filter;
    f.filter = NULL;
    int64_t oldest_from = INT64_MAX;
    for (unsigned p = 0; p < IDEM_FILTER_PARTS; p++)
        if (f.from_run[p] < oldest_from)
            oldest_from = f.from_run[p];
    for (size_t i = 0; ret == 0 && i < n; i++) {
        bool known = idem_ckpt_file_knows(&f, runs[i].run, runs[i].nonce);
        ret = runs_append(ix, runs[i].run, err);
        if (ret == 0 && (!known || runs[i].run >= oldest_from))
            ret = rescan_run(ix, conn, runs[i].run, known ? f.from_run : NULL, overflow, err);
    }
    for (unsigned p = 0; ret == 0 && p < IDEM_FILTER_PARTS; p++)
        if (overflow[p])
            ret = rebuild_part(ix, conn, p, err);
    free(overflow);
    free(runs);
    idem_ckpt_file_clear(&f);
    return ret == 0 ? 1 : -1;
}

int idem_open(store_conn_t *conn, const char *saved, idem_t **out, mb_error *err)
{
    idem_t *ix = calloc(1, sizeof *ix);
    if (ix == NULL)
        return oom(err);
    int rc = 0;
    if (saved != NULL && (ix->path = strdup(saved)) == NULL)
        rc = oom(err);
    else if (saved != NULL)
        rc = load_checkpoint(ix, conn, saved, err);
    ix->from_saved = rc == 1;
    if (rc == 0)
        rc = rebuild_all(ix, conn, err);
    if (rc < 0) {
        idem_free(ix);
        return -1;
    }
    *out = ix;
    return 0;
}

void idem_set_checkpoint_hashes(idem_t *ix, uint64_t hashes)
{
    ix->ckpt_every = hashes;
}

int idem_save(idem_t *ix, store_conn_t *conn, mb_error *err)
{
    if (ix->path == NULL)
        return 0;
    if (ix->invalid) {
        /* Entries may be missing (a purge failed): such a filter must not
         * outlive the process, nor may an older file stay. */
        ckpt_forget(ix);
        return 0;
    }
    ckpt_drop(ix);
    /* No hash follows in this process, and a later one opens a new run. */
    ix->cur_ok = false;
    int64_t from = from_run(ix);
    int rc = idem_ckpt_begin(ix->path, &ix->ckpt, err);
    for (unsigned p = 0; rc == 0 && p < IDEM_FILTER_PARTS; p++) {
        idem_ckpt_wait_room(ix->ckpt);
        rc = ckpt_copy(ix, p, from, err);
    }
    if (rc == 0 && (rc = ckpt_end(ix, conn, err)) == 0)
        rc = idem_ckpt_wait(ix->ckpt, err);
    ckpt_drop(ix);
    return rc;
}

void idem_free(idem_t *ix)
{
    if (ix == NULL)
        return;
    ckpt_drop(ix);
    idem_filter_free(ix->filter);
    free(ix->runs);
    free(ix->path);
    free(ix);
}

void idem_invalidate(idem_t *ix)
{
    ix->invalid = true;
}

/* --- counting ----------------------------------------------------------------- */

static int touch_run(store_conn_t *conn, int64_t run, int64_t day, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_RUN_TOUCH, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_int64(st, 2, day);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_error(conn, err, "recording an idempotency run");
}

/* Makes sure hashes of `day` have a run to go to, and that its row exists in
 * this transaction (a rolled-back job may have taken it away). */
static int current_run(idem_t *ix, store_conn_t *conn, int64_t day, mb_error *err)
{
    if (ix->invalid && rebuild_all(ix, conn, err) != 0)
        return -1;
    if (!ix->cur_ok || day != ix->cur_day || ix->cur_count >= IDEM_RUN_MAX_HASHES) {
        int64_t next = ix->top_run + 1;
        if (runs_append(ix, next, err) != 0)
            return -1;
        ix->cur_run = next;
        ix->cur_day = day;
        ix->cur_count = 0;
        ix->cur_ok = true;
    }
    return touch_run(conn, ix->cur_run, day, err);
}

static bool tag_in(uint8_t tag, const uint8_t *tags, unsigned n)
{
    for (unsigned k = 0; k < n; k++)
        if (tags[k] == tag)
            return true;
    return false;
}

/* One primary-key lookup: 1 if run holds h, 0 if not, -1 with err. */
static int seek(idem_t *ix, sqlite3_stmt *st, store_conn_t *conn, int64_t run,
                const uint8_t h[IDEM_HASH_BYTES], mb_error *err)
{
    ix->seeks++;
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_blob(st, 2, h, IDEM_HASH_BYTES, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_ROW) {
        ix->hit_run = run;
        return 1;
    }
    return rc == SQLITE_DONE ? 0 : store_error(conn, err, "looking up an idempotency hash");
}

/* Exact lookup in the runs whose tags the filter matched (tags[0..n-1]):
 * first the run of the last duplicate (a replay re-sends events in about
 * the order they came, so past 256 runs this saves the lookups in younger
 * runs of the same tag), then newest first (replays are usually recent). */
static int probe(idem_t *ix, store_conn_t *conn, const uint8_t h[IDEM_HASH_BYTES],
                 const uint8_t *tags, unsigned n, mb_error *err)
{
    ix->probes++;
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_PROBE, err);
    if (st == NULL)
        return -1;
    int64_t tried = ix->hit_run != 0 && tag_in(run_tag(ix->hit_run), tags, n) ? ix->hit_run : 0;
    int found = tried != 0 ? seek(ix, st, conn, tried, h, err) : 0;
    for (size_t i = ix->n_runs; found == 0 && i-- > 0;)
        if (ix->runs[i] != tried && tag_in(run_tag(ix->runs[i]), tags, n))
            found = seek(ix, st, conn, ix->runs[i], h, err);
    return found;
}

int idem_begin(idem_t *ix, store_conn_t *conn, int64_t day, mb_error *err)
{
    if (current_run(ix, conn, day, err) != 0)
        return -1;
    ckpt_step(ix, conn);
    return 0;
}

/* After h was stored in the current run: counts it and adds it to the
 * filter. */
static int stored(idem_t *ix, store_conn_t *conn, const uint8_t h[IDEM_HASH_BYTES], mb_error *err)
{
    ix->cur_count++;
    ix->stored_since++;
    if (idem_filter_add(ix->filter, h, run_tag(ix->cur_run)) != 0 &&
        rebuild_part(ix, conn, idem_filter_part(h), err) != 0) {
        /* The failed add may have displaced another entry: distrust the
         * filter until it is rebuilt. */
        ix->invalid = true;
        return -1;
    }
    return 0;
}

/* Stores one hash the filter said is new: 1 if stored, 0 if it was in the
 * current run after all, -1 with err. */
static int insert_one(idem_t *ix, store_conn_t *conn, const uint8_t h[IDEM_HASH_BYTES],
                      mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_INSERT, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, ix->cur_run);
    sqlite3_bind_blob(st, 2, h, IDEM_HASH_BYTES, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_error(conn, err, "storing an idempotency hash");
    if (sqlite3_changes(store_conn_db_borrow(conn)) == 0) {
        /* Already in the current run, yet the filter said no: the filter
         * is missing a stored hash. Count it as the duplicate it is and
         * rebuild the filter rather than trust it further. */
        mb_log(MB_LOG_ERROR, "event=idem_filter_missed run=%lld", (long long)ix->cur_run);
        ix->invalid = true;
        return 0;
    }
    return stored(ix, conn, h, err) == 0 ? 1 : -1;
}

/* Stores hashes[at[0..n-1]] (new, as far as the filter knows) in the
 * current run, as many rows per statement as fit; sets fresh[] for those
 * stored. */
static int flush(idem_t *ix, store_conn_t *conn, const uint8_t *const *hashes, const size_t *at,
                 size_t n, bool *fresh, mb_error *err)
{
    size_t done = 0;
    for (size_t k = 0; k < sizeof INSERT_ROWS / sizeof INSERT_ROWS[0]; k++) {
        size_t rows = INSERT_ROWS[k].rows;
        while (n - done >= rows) {
            sqlite3_stmt *st = store_conn_prepare(conn, INSERT_ROWS[k].sql, err);
            if (st == NULL)
                return -1;
            sqlite3_bind_int64(st, 1, ix->cur_run);
            for (size_t r = 0; r < rows; r++)
                sqlite3_bind_blob(st, (int)r + 2, hashes[at[done + r]], IDEM_HASH_BYTES,
                                  SQLITE_STATIC);
            int rc = sqlite3_step(st);
            sqlite3_reset(st);
            if (rc != SQLITE_DONE)
                return store_error(conn, err, "storing idempotency hashes");
            if ((size_t)sqlite3_changes(store_conn_db_borrow(conn)) != rows) {
                /* Some of these were in the current run already, yet the
                 * filter said no: which ones cannot be told now that the
                 * others are stored. Fail the job (its changes are rolled
                 * back; in a group's run, the jobs run again one by one)
                 * and rebuild the filter before its next use, which then
                 * finds them. */
                mb_log(MB_LOG_ERROR, "event=idem_filter_missed run=%lld", (long long)ix->cur_run);
                ix->invalid = true;
                return mb_error_set(err, GRPC_STATUS_ABORTED,
                                    "the idempotency index was found to miss a stored event and "
                                    "is being rebuilt: retry the call");
            }
            for (size_t r = 0; r < rows; r++) {
                if (stored(ix, conn, hashes[at[done + r]], err) != 0)
                    return -1;
                fresh[at[done + r]] = true;
            }
            done += rows;
        }
    }
    for (; done < n; done++) {
        int ok = insert_one(ix, conn, hashes[at[done]], err);
        if (ok < 0)
            return -1;
        fresh[at[done]] = ok > 0;
    }
    return 0;
}

int idem_insert_many(idem_t *ix, store_conn_t *conn, const uint8_t *const *hashes, size_t n,
                     bool *fresh, mb_error *err)
{
    size_t pending[INSERT_PENDING_MAX], np = 0;
    for (size_t i = 0; i < n; i++) {
        fresh[i] = false;
        if (ix->invalid || !ix->cur_ok || ix->cur_count + np >= IDEM_RUN_MAX_HASHES) {
            if (flush(ix, conn, hashes, pending, np, fresh, err) != 0)
                return -1;
            np = 0;
            /* A rebuild (after a failed purge) must come before the probe. */
            if ((ix->invalid || !ix->cur_ok || ix->cur_count >= IDEM_RUN_MAX_HASHES) &&
                current_run(ix, conn, ix->cur_day, err) != 0)
                return -1;
        }
        uint8_t tags[IDEM_FILTER_MATCHES];
        unsigned matches = idem_filter_find(ix->filter, hashes[i], tags);
        if (matches > 0) {
            int found = probe(ix, conn, hashes[i], tags, matches, err);
            if (found < 0)
                return -1;
            if (found > 0)
                continue;
        }
        pending[np++] = i;
        if (np == INSERT_PENDING_MAX) {
            if (flush(ix, conn, hashes, pending, np, fresh, err) != 0)
                return -1;
            np = 0;
        }
    }
    return flush(ix, conn, hashes, pending, np, fresh, err);
}

int idem_insert(idem_t *ix, store_conn_t *conn, const uint8_t h[IDEM_HASH_BYTES], mb_error *err)
{
    bool fresh;
    if (idem_insert_many(ix, conn, &h, 1, &fresh, err) != 0)
        return -1;
    return fresh ? 1 : 0;
}

/* --- retention ---------------------------------------------------------------- */

static int next_expired(store_conn_t *conn, int64_t cutoff, int64_t after, int64_t *run,
                        mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_EXPIRED, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, cutoff);
    sqlite3_bind_int64(st, 2, after);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW)
        *run = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_error(conn, err, "finding expired idempotency runs");
    return rc == SQLITE_ROW ? 1 : 0;
}

static int run_exec(store_conn_t *conn, const char *sql, int64_t run, int64_t *count, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, sql, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, run);
    int rc = sqlite3_step(st);
    if (count != NULL && rc == SQLITE_ROW)
        *count = sqlite3_column_int64(st, 0);
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_error(conn, err, "purging idempotency hashes");
    return 0;
}

/* Deletes up to max hashes of run; *deleted receives how many. */
static int delete_chunk(idem_t *ix, store_conn_t *conn, int64_t run, int max, int64_t *deleted,
                        mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_DELETE_CHUNK, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, run);
    sqlite3_bind_int(st, 2, max);
    int rc;
    *deleted = 0;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        if (ix != NULL && sqlite3_column_bytes(st, 0) == IDEM_HASH_BYTES)
            idem_filter_remove(ix->filter, sqlite3_column_blob(st, 0), run_tag(run));
        (*deleted)++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        if (ix != NULL) /* entries are gone from the filter, rows may not be */
            ix->invalid = true;
        return store_error(conn, err, "purging idempotency hashes");
    }
    return 0;
}

int idem_purge(idem_t *ix, store_conn_t *conn, int64_t today, int window_days, int max_hashes,
               bool dry_run, idem_purge_result *res, mb_error *err)
{
    int64_t cutoff = today - window_days - 1, run = 0, after = INT64_MIN;
    memset(res, 0, sizeof *res);
    if (ix != NULL && ix->invalid && rebuild_all(ix, conn, err) != 0)
        return -1;
    for (;;) {
        int found = next_expired(conn, cutoff, after, &run, err);
        if (found <= 0)
            return found;
        after = run;
        if (dry_run) {
            int64_t n = 0;
            if (run_exec(conn, SQL_RUN_SIZE, run, &n, err) != 0)
                return -1;
            res->hashes += n;
            res->runs++;
            continue;
        }
        int64_t budget = max_hashes - res->hashes, deleted = 0;
        if (budget <= 0) {
            res->more = true;
            return 0;
        }
        if (delete_chunk(ix, conn, run, (int)budget, &deleted, err) != 0)
            goto fail;
        res->hashes += deleted;
        if (deleted == budget) { /* maybe more in this run: next time */
            res->more = true;
            return 0;
        }
        if (run_exec(conn, SQL_RUN_DROP, run, NULL, err) != 0)
            goto fail;
        res->runs++;
        if (ix != NULL) {
            runs_remove(ix, run);
            if (ix->cur_ok && ix->cur_run == run)
                ix->cur_ok = false;
        }
    }
fail:
    /* The job's savepoint brings the rows back; the filter must follow. */
    if (ix != NULL)
        ix->invalid = true;
    return -1;
}

void idem_get_stats(const idem_t *ix, idem_stats *st)
{
    st->runs = ix->n_runs;
    st->filter_bytes = ix->filter != NULL ? idem_filter_bytes(ix->filter) : 0;
    st->probes = ix->probes;
    st->seeks = ix->seeks;
    st->rebuilds = ix->rebuilds;
    st->from_saved = ix->from_saved;
    st->rescanned = ix->rescanned;
    st->checkpoints = ix->checkpoints;
}
