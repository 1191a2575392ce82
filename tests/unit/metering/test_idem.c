/*
 * test_idem.c - the idempotency index: the cuckoo filter never forgets a
 * hash it holds and rarely imagines one; hashes are counted once within a
 * transaction, across transactions and across a reopen (restart); runs roll
 * over by day and by size; a rolled-back job cannot leave hashes in a run
 * without its row; a partition that fills up is rebuilt from disk without
 * losing anything; the purge drops exactly the runs past the window and
 * lets their keys count again; an invalidated filter is rebuilt; a saved
 * filter or a checkpoint written while counting is loaded and completed
 * from the table.
 */
#include <sodium.h>
#include <unistd.h>

#include "check.h"
#include "metering/idem.h"
#include "store/migrate.h"
#include "unit_db.h"
#include "unit_tmp.h"

#define DAY 20600 /* 2026-05-26 */

static store_conn_t *open_db(const char *name)
{
    char path[512];
    mb_error err;
    store_conn_t *c = NULL;
    CHECK(store_conn_open(unit_path(path, sizeof path, name), true, false, &c, &err) == 0);
    CHECK(store_migrate(c, NULL, &err) == 0);
    return c;
}

/* Inserts n hashes from hashes[] in one job; returns how many were new. */
static int insert_all(idem_t *ix, store_conn_t *c, int64_t day, uint8_t (*hashes)[16], int n)
{
    mb_error err;
    int fresh = 0;
    CHECK(store_conn_exec(c, "BEGIN", &err) == 0);
    CHECK(idem_begin(ix, c, day, &err) == 0);
    for (int i = 0; i < n; i++) {
        int r = idem_insert(ix, c, hashes[i], &err);
        CHECK(r >= 0);
        fresh += r > 0;
    }
    CHECK(store_conn_exec(c, "COMMIT", &err) == 0);
    return fresh;
}

/* Does the filter hold hash h with tag t? */
static bool has_tag(const idem_filter_t *f, const uint8_t h[16], uint8_t t)
{
    uint8_t tags[IDEM_FILTER_MATCHES];
    unsigned n = idem_filter_find(f, h, tags);
    for (unsigned k = 0; k < n; k++)
        if (tags[k] == t)
            return true;
    return false;
}

static void test_filter(void)
{
    enum { N = 200000 };
    uint8_t(*h)[16] = malloc(N * sizeof *h);
    randombytes_buf(h, N * sizeof *h);
    idem_filter_t *f = idem_filter_new(N / IDEM_FILTER_PARTS * 2);
    CHECK(f != NULL);
    int failed = 0;
    for (int i = 0; i < N; i++)
        failed += idem_filter_add(f, h[i], (uint8_t)i) != 0;
    CHECK(failed == 0);
    int missing = 0;
    for (int i = 0; i < N; i++)
        missing += !has_tag(f, h[i], (uint8_t)i);
    CHECK(missing == 0); /* never a false "no" */
    uint8_t probe[16], tags[IDEM_FILTER_MATCHES];
    int fp = 0;
    for (int i = 0; i < N; i++) {
        randombytes_buf(probe, sizeof probe);
        fp += idem_filter_find(f, probe, tags) > 0;
    }
    fprintf(stderr, "  false positives: %d of %d\n", fp, N);
    CHECK(fp < N / 2000); /* ~1 in 8,000 expected; allow 1 in 2,000 */
    for (int i = 0; i < N / 2; i++)
        idem_filter_remove(f, h[i], (uint8_t)i);
    missing = 0;
    for (int i = N / 2; i < N; i++)
        missing += !has_tag(f, h[i], (uint8_t)i);
    CHECK(missing == 0); /* removing some never removes the others */
    size_t items = 0;
    for (unsigned p = 0; p < IDEM_FILTER_PARTS; p++)
        items += idem_filter_items(f, p);
    CHECK(items == N / 2);
    /* A partition refuses to fill beyond its load limit. */
    CHECK(idem_filter_reset(f, 7, 10) == 0);
    int added = 0;
    for (int i = 0; i < 1000; i++) {
        randombytes_buf(probe, sizeof probe);
        probe[0] = 7 >> 2;
        probe[1] = (uint8_t)((7 & 3) << 6);
        if (idem_filter_add(f, probe, 0) != 0)
            break;
        added++;
    }
    CHECK(added > 0 && added < 1000);
    idem_filter_free(f);
    free(h);
}

static void test_hash(void)
{
    unsigned char k1[32], k2[32];
    uint8_t a[16], b[16], c[16];
    randombytes_buf(k1, sizeof k1);
    randombytes_buf(k2, sizeof k2);
    idem_hash(k1, "a1", 2, "2x", 2, a);
    idem_hash(k1, "a12", 3, "x", 1, b);
    CHECK(memcmp(a, b, 16) != 0); /* the account length is part of the input */
    idem_hash(k1, "a1", 2, "2x", 2, c);
    CHECK(memcmp(a, c, 16) == 0);
    idem_hash(k2, "a1", 2, "2x", 2, c);
    CHECK(memcmp(a, c, 16) != 0); /* keyed */
    CHECK(idem_day(0) == 0 && idem_day(86399) == 0 && idem_day(86400) == 1 && idem_day(-1) == -1);
}

static void test_counted_once(void)
{
    store_conn_t *c = open_db("once.db");
    mb_error err;
    idem_t *ix = NULL;
    CHECK(idem_open(c, NULL, &ix, &err) == 0);
    uint8_t h[4][16];
    randombytes_buf(h, sizeof h);
    memcpy(h[3], h[1], 16); /* a repeat within the batch */
    CHECK(insert_all(ix, c, DAY, h, 4) == 3);
    CHECK(insert_all(ix, c, DAY, h, 4) == 0); /* across transactions */
    idem_free(ix);
    /* A restart: the filter is rebuilt from the table. */
    CHECK(idem_open(c, NULL, &ix, &err) == 0);
    CHECK(insert_all(ix, c, DAY, h, 4) == 0);
    uint8_t fresh[1][16];
    randombytes_buf(fresh, sizeof fresh);
    CHECK(insert_all(ix, c, DAY, fresh, 1) == 1);
    CHECK(unit_query_long(c, "SELECT count(*) FROM usage_idem") == 4);
    /* The restart started a new run; each run has its row. */
    CHECK(unit_query_long(c, "SELECT count(*) FROM usage_idem_runs") == 2);
    CHECK(unit_query_long(c, "SELECT count(*) FROM usage_idem WHERE run NOT IN"
                             " (SELECT run FROM usage_idem_runs)") == 0);
    idem_free(ix);
    store_conn_close(c);
}

/* A filter saved at a clean stop is loaded at the next start, with the
 * hashes stored since added from the table: only those, and every one. */
static void test_saved_filter(void)
{
    enum { N = 5000 };
    store_conn_t *c = open_db("saved.db");
    mb_error err;
    idem_t *ix = NULL;
    idem_stats st;
    char path[512];
    unit_path(path, sizeof path, "saved.filter");
    CHECK(idem_open(c, path, &ix, &err) == 0); /* no file yet */
    idem_get_stats(ix, &st);
    CHECK(!st.from_saved);
    uint8_t(*h)[16] = malloc(N * sizeof *h);
    randombytes_buf(h, N * sizeof *h);
    CHECK(insert_all(ix, c, DAY, h, N) == N);
    CHECK(idem_save(ix, c, &err) == 0);
    idem_free(ix);

    CHECK(idem_open(c, path, &ix, &err) == 0);
    idem_get_stats(ix, &st);
    CHECK(st.from_saved && st.rescanned == 0);
    CHECK(insert_all(ix, c, DAY, h, N) == 0);
    /* Hashes stored after the save (a daemon killed before it could save
     * again) went to a newer run: the next start adds just those. */
    uint8_t extra[3][16];
    randombytes_buf(extra, sizeof extra);
    CHECK(insert_all(ix, c, DAY, extra, 3) == 3);
    idem_free(ix);
    CHECK(idem_open(c, path, &ix, &err) == 0);
    idem_get_stats(ix, &st);
    CHECK(st.from_saved && st.rescanned == 3);
    CHECK(insert_all(ix, c, DAY, extra, 3) == 0);
    CHECK(insert_all(ix, c, DAY, h, N) == 0);
    idem_free(ix);

    /* A run the file knew by its number but with another nonce (re-created
     * after a rollback, a restored backup gone on differently) is read
     * whole. */
    CHECK(store_conn_exec(c,
                          "UPDATE usage_idem_runs SET nonce = nonce + 1"
                          " WHERE run = (SELECT min(run) FROM usage_idem_runs)",
                          &err) == 0);
    CHECK(idem_open(c, path, &ix, &err) == 0);
    idem_get_stats(ix, &st);
    CHECK(st.from_saved && st.rescanned == N + 3);
    CHECK(insert_all(ix, c, DAY, h, N) == 0);

    /* Hashes deleted since (`minbilld purge` offline, from an old run)
     * only leave extra entries: still reused, and the deleted keys count
     * again, exactly once. */
    CHECK(idem_save(ix, c, &err) == 0);
    idem_free(ix);
    CHECK(store_conn_exec(c,
                          "DELETE FROM usage_idem WHERE run = (SELECT min(run) FROM usage_idem)"
                          " AND hash < x'20'",
                          &err) == 0);
    long gone = N + 3 - unit_query_long(c, "SELECT count(*) FROM usage_idem");
    CHECK(gone > 0);
    CHECK(idem_open(c, path, &ix, &err) == 0);
    idem_get_stats(ix, &st);
    CHECK(st.from_saved);
    CHECK(insert_all(ix, c, DAY, h, N) == gone);
    CHECK(insert_all(ix, c, DAY, h, N) == 0);
    CHECK(idem_save(ix, c, &err) == 0);
    idem_free(ix);

    /* One damaged byte: not reused. */
    FILE *f = fopen(path, "r+b");
    CHECK(f != NULL && fseek(f, 1000, SEEK_SET) == 0);
    int byte = fgetc(f);
    CHECK(fseek(f, 1000, SEEK_SET) == 0 && fputc(byte ^ 1, f) != EOF && fclose(f) == 0);
    CHECK(idem_open(c, path, &ix, &err) == 0);
    idem_get_stats(ix, &st);
    CHECK(!st.from_saved);
    CHECK(insert_all(ix, c, DAY, h, N) == 0);

    /* A filter that may miss entries is not saved, and no older file
     * stays to be loaded instead. */
    CHECK(idem_save(ix, c, &err) == 0);
    idem_invalidate(ix);
    CHECK(idem_save(ix, c, &err) == 0);
    CHECK(access(path, F_OK) != 0);
    idem_free(ix);
    free(h);
    store_conn_close(c);
}

/* Checkpoints written while counting: a start after a crash (no save)
 * loads the last one and reads from the table only the runs that took
 * hashes after it began, and every hash stays a duplicate. */
static void test_checkpoint(void)
{
    enum { N = 90000, ROUND = 500 };
    store_conn_t *c = open_db("ckpt.db");
    mb_error err;
    idem_t *ix = NULL;
    idem_stats st;
    char path[512], tmp[600];
    unit_path(path, sizeof path, "ckpt.filter");
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(idem_open(c, path, &ix, &err) == 0);
    idem_set_checkpoint_hashes(ix, 20000);
    uint8_t(*h)[16] = malloc(N * sizeof *h);
    randombytes_buf(h, N * sizeof *h);
    /* One job per round: each job copies a share of a running checkpoint,
     * and a later one collects it once its thread wrote it. */
    for (int i = 0; i < N; i += ROUND)
        CHECK(insert_all(ix, c, DAY, h + i, ROUND) == ROUND);
    for (int k = 0; k < 500; k++) {
        idem_get_stats(ix, &st);
        if (st.checkpoints >= 4)
            break;
        CHECK(insert_all(ix, c, DAY, h, 1) == 0);
        usleep(2000);
    }
    idem_get_stats(ix, &st);
    fprintf(stderr, "  %llu checkpoints written for %d hashes\n",
            (unsigned long long)st.checkpoints, N);
    CHECK(st.checkpoints == 4); /* begun after 20, 40, 60 and 80 thousand */
    /* Runs of 2^15 hashes: the last checkpoint began in the third run
     * (after 80,000 hashes), so a start reads back that run, from 65,536
     * on, and the 5 below. */
    uint8_t late[5][16];
    randombytes_buf(late, sizeof late);
    CHECK(insert_all(ix, c, DAY, late, 5) == 5);
    idem_free(ix); /* a crash: nothing saved at the stop */
    CHECK(access(path, F_OK) == 0 && access(tmp, F_OK) != 0);

    CHECK(idem_open(c, path, &ix, &err) == 0);
    idem_get_stats(ix, &st);
    fprintf(stderr, "  after the crash: %llu of %d hashes read back from the table\n",
            (unsigned long long)st.rescanned, N + 5);
    CHECK(st.from_saved);
    CHECK(st.rescanned == N - 2 * IDEM_RUN_MAX_HASHES + 5);
    CHECK(insert_all(ix, c, DAY, h, N) == 0);
    CHECK(insert_all(ix, c, DAY, late, 5) == 0);
    idem_free(ix);
    free(h);
    store_conn_close(c);
}

/* A purge that empties the run list while a checkpoint is being copied:
 * the next run must not take a number the copied partitions' from_run
 * already passed, or the load would skip its hashes there. */
static void test_checkpoint_across_purge(void)
{
    enum { OLD = 3000, LATE = 200 };
    store_conn_t *c = open_db("ckpt-purge.db");
    mb_error err;
    idem_t *ix = NULL;
    idem_stats st;
    char path[512];
    CHECK(idem_open(c, unit_path(path, sizeof path, "ckpt-purge.filter"), &ix, &err) == 0);
    idem_set_checkpoint_hashes(ix, OLD);
    uint8_t(*h)[16] = malloc((OLD + 1) * sizeof *h), late[LATE][16];
    randombytes_buf(h, (OLD + 1) * sizeof *h);
    randombytes_buf(late, sizeof late);
    for (int d = 0; d < 3; d++) /* runs 1, 2, 3 */
        CHECK(insert_all(ix, c, DAY + d, h + d * (OLD / 3), OLD / 3) == OLD / 3);
    /* This job begins a checkpoint and copies its first partitions (the
     * smallest filter is 2.3 MB, 1 MiB a job) with from_run 3. */
    CHECK(insert_all(ix, c, DAY + 2, h + OLD, 1) == 1);
    idem_purge_result res;
    CHECK(store_conn_exec(c, "BEGIN", &err) == 0);
    CHECK(idem_purge(ix, c, DAY + 66, 62, 1000000, false, &res, &err) == 0);
    CHECK(store_conn_exec(c, "COMMIT", &err) == 0);
    CHECK(res.runs == 3 && unit_query_long(c, "SELECT count(*) FROM usage_idem_runs") == 0);
    CHECK(insert_all(ix, c, DAY + 66, late, LATE) == LATE);
    for (int k = 0; k < 500; k++) {
        idem_get_stats(ix, &st);
        if (st.checkpoints >= 1)
            break;
        CHECK(insert_all(ix, c, DAY + 66, late, 1) == 0);
        usleep(2000);
    }
    CHECK(st.checkpoints == 1);
    CHECK(unit_query_long(c, "SELECT min(run) FROM usage_idem_runs") == 4);
    idem_free(ix); /* a crash */
    CHECK(idem_open(c, path, &ix, &err) == 0);
    idem_get_stats(ix, &st);
    CHECK(st.from_saved);
    CHECK(insert_all(ix, c, DAY + 66, late, LATE) == 0);
    idem_free(ix);
    free(h);
    store_conn_close(c);
}

/* A hash stored behind the filter's back (what a bug in it would leave):
 * the statement that meets it fails the job, with nothing half-counted,
 * and the retry, after the filter was rebuilt, counts it as the duplicate
 * it is and every other hash once. */
static void test_filter_missed(void)
{
    enum { N = 64 };
    store_conn_t *c = open_db("missed.db");
    mb_error err;
    idem_t *ix = NULL;
    CHECK(idem_open(c, NULL, &ix, &err) == 0);
    uint8_t h[N][16], first[1][16];
    const uint8_t *ptrs[N];
    bool fresh[N];
    randombytes_buf(h, sizeof h);
    randombytes_buf(first, sizeof first);
    for (int i = 0; i < N; i++)
        ptrs[i] = h[i];
    CHECK(insert_all(ix, c, DAY, first, 1) == 1); /* the current run exists */
    char hex[2 * 16 + 1], sql[256];
    sodium_bin2hex(hex, sizeof hex, h[10], 16);
    snprintf(sql, sizeof sql,
             "INSERT INTO usage_idem(run, hash) VALUES ((SELECT max(run) FROM usage_idem_runs), "
             "x'%s')",
             hex);
    CHECK(store_conn_exec(c, sql, &err) == 0);

    CHECK(store_conn_exec(c, "BEGIN", &err) == 0);
    CHECK(idem_begin(ix, c, DAY, &err) == 0);
    CHECK(idem_insert_many(ix, c, ptrs, N, fresh, &err) == -1);
    CHECK(err.code == GRPC_STATUS_ABORTED);
    CHECK(store_conn_exec(c, "ROLLBACK", &err) == 0);

    CHECK(store_conn_exec(c, "BEGIN", &err) == 0);
    CHECK(idem_begin(ix, c, DAY, &err) == 0);
    CHECK(idem_insert_many(ix, c, ptrs, N, fresh, &err) == 0);
    CHECK(store_conn_exec(c, "COMMIT", &err) == 0);
    int counted = 0;
    for (int i = 0; i < N; i++)
        counted += fresh[i];
    CHECK(counted == N - 1 && !fresh[10]);
    CHECK(unit_query_long(c, "SELECT count(*) FROM usage_idem") == N + 1);
    CHECK(insert_all(ix, c, DAY, h, N) == 0);
    idem_free(ix);
    store_conn_close(c);
}

static void test_runs(void)
{
    store_conn_t *c = open_db("runs.db");
    mb_error err;
    idem_t *ix = NULL;
    CHECK(idem_open(c, NULL, &ix, &err) == 0);
    uint8_t h[3][16];
    randombytes_buf(h, sizeof h);
    CHECK(insert_all(ix, c, DAY, h, 1) == 1);
    CHECK(insert_all(ix, c, DAY + 1, h + 1, 1) == 1); /* a new day, a new run */
    CHECK(unit_query_long(c, "SELECT count(*) FROM usage_idem_runs") == 2);
    CHECK(unit_query_long(c, "SELECT count(DISTINCT run) FROM usage_idem") == 2);
    CHECK(insert_all(ix, c, DAY + 1, h, 2) == 0); /* found in either run */

    /* A job that created a run and was rolled back: the next job must not
     * write into that run without its row. */
    CHECK(store_conn_exec(c, "BEGIN; SAVEPOINT job", &err) == 0);
    CHECK(idem_begin(ix, c, DAY + 2, &err) == 0);
    CHECK(idem_insert(ix, c, h[2], &err) == 1);
    CHECK(store_conn_exec(c, "ROLLBACK TO job; RELEASE job; COMMIT", &err) == 0);
    CHECK(insert_all(ix, c, DAY + 2, h + 2, 1) == 1);
    CHECK(unit_query_long(c, "SELECT count(*) FROM usage_idem WHERE run NOT IN"
                             " (SELECT run FROM usage_idem_runs)") == 0);
    CHECK(unit_query_long(c, "SELECT count(*) FROM usage_idem") == 3);

    /* Size rollover. */
    enum { N = IDEM_RUN_MAX_HASHES + 10 };
    uint8_t(*many)[16] = malloc(N * sizeof *many);
    randombytes_buf(many, N * sizeof *many);
    long runs_before = unit_query_long(c, "SELECT count(*) FROM usage_idem_runs");
    CHECK(insert_all(ix, c, DAY + 2, many, N) == N);
    CHECK(unit_query_long(c, "SELECT count(*) FROM usage_idem_runs") == runs_before + 1);
    /* At most the maximum (the rolled-back insert above still counts
     * against its run in memory: runs may end slightly short). */
    long biggest = unit_query_long(
        c, "SELECT max(n) FROM (SELECT count(*) AS n FROM usage_idem GROUP BY run)");
    CHECK(biggest <= IDEM_RUN_MAX_HASHES && biggest >= IDEM_RUN_MAX_HASHES - 2);
    CHECK(insert_all(ix, c, DAY + 2, many, N) == 0);
    free(many);
    idem_free(ix);
    store_conn_close(c);
}

/* Many hashes in one partition: it is rebuilt (bigger) from disk, more than
 * once, and nothing is forgotten. */
static void test_partition_rebuild(void)
{
    enum { N = 5000 };
    store_conn_t *c = open_db("rebuild.db");
    mb_error err;
    idem_t *ix = NULL;
    CHECK(idem_open(c, NULL, &ix, &err) == 0);
    uint8_t(*h)[16] = malloc(N * sizeof *h);
    randombytes_buf(h, N * sizeof *h);
    for (int i = 0; i < N; i++) {
        h[i][0] = 0x12; /* partition 0x48 */
        h[i][1] &= 0x3f;
    }
    CHECK(insert_all(ix, c, DAY, h, N / 2) == N / 2);
    CHECK(insert_all(ix, c, DAY + 1, h + N / 2, N - N / 2) == N - N / 2);
    idem_stats st;
    idem_get_stats(ix, &st);
    CHECK(st.rebuilds >= 2);
    CHECK(insert_all(ix, c, DAY + 1, h, N) == 0);
    /* A filter that lost trust is rebuilt before it answers again. */
    idem_invalidate(ix);
    CHECK(insert_all(ix, c, DAY + 1, h, N) == 0);
    free(h);
    idem_free(ix);
    store_conn_close(c);
}

/* A replay costs one lookup per duplicate, whichever run holds it: the
 * filter says which run to search instead of every run, newest first
 * (issue 10: a replay of old events took one lookup per stored run, ~300
 * at 10 M hashes). Also after a restart (the filter built from the table)
 * and with no partition rebuilt by duplicates. */
static void test_replay_cost(void)
{
    enum { N = 300000, COMMIT = 50000, REPLAY = 5000 };
    store_conn_t *c = open_db("replay.db");
    mb_error err;
    idem_t *ix = NULL;
    CHECK(idem_open(c, NULL, &ix, &err) == 0);
    uint8_t(*h)[16] = malloc(N * sizeof *h), (*spread)[16] = malloc(REPLAY * sizeof *spread);
    randombytes_buf(h, N * sizeof *h);
    for (int i = 0; i < N; i += COMMIT)
        CHECK(insert_all(ix, c, DAY, h + i, COMMIT) == COMMIT);
    for (int pass = 0; pass < 2; pass++) {
        idem_stats before, after;
        idem_get_stats(ix, &before);
        CHECK(before.runs >= N / IDEM_RUN_MAX_HASHES);
        /* The oldest hashes (the last run searched before), then some of
         * every run. */
        CHECK(insert_all(ix, c, DAY, h, REPLAY) == 0);
        for (int i = 0; i < REPLAY; i++)
            memcpy(spread[i], h[(size_t)i * (N / REPLAY)], 16);
        CHECK(insert_all(ix, c, DAY, spread, REPLAY) == 0);
        idem_get_stats(ix, &after);
        uint64_t dups = 2 * REPLAY, seeks = after.seeks - before.seeks;
        fprintf(stderr, "  pass %d: %zu runs, %llu lookups for %llu duplicates, %llu rebuilds\n",
                pass, after.runs, (unsigned long long)seeks, (unsigned long long)dups,
                (unsigned long long)(after.rebuilds - before.rebuilds));
        CHECK(after.probes - before.probes == dups);
        CHECK(seeks >= dups && seeks <= dups + dups / 100);
        CHECK(after.rebuilds == before.rebuilds);
        /* A restart: the filter comes from the table. */
        idem_free(ix);
        CHECK(idem_open(c, NULL, &ix, &err) == 0);
    }
    free(h);
    free(spread);
    idem_free(ix);
    store_conn_close(c);
}

/* Past 256 runs two runs share a tag: a hash of the older one is still
 * found, and a replay in arrival order looks in the run of the previous
 * duplicate first, so only its first duplicate pays for the younger run
 * of the same tag. */
static void test_tag_collisions(void)
{
    enum { RUNS = 300, PER_RUN = 8 };
    store_conn_t *c = open_db("tags.db");
    mb_error err;
    idem_t *ix = NULL;
    CHECK(idem_open(c, NULL, &ix, &err) == 0);
    static uint8_t h[RUNS * PER_RUN][16];
    randombytes_buf(h, sizeof h);
    /* One run per day. */
    CHECK(store_conn_exec(c, "BEGIN", &err) == 0);
    for (int d = 0; d < RUNS; d++) {
        CHECK(idem_begin(ix, c, DAY + d, &err) == 0);
        for (int k = 0; k < PER_RUN; k++)
            CHECK(idem_insert(ix, c, h[d * PER_RUN + k], &err) == 1);
    }
    CHECK(store_conn_exec(c, "COMMIT", &err) == 0);
    idem_stats before, after;
    idem_get_stats(ix, &before);
    CHECK(before.runs == RUNS);
    /* The first two runs' hashes, in order: runs 1 and 2 share their tags
     * with runs 257 and 258. */
    CHECK(insert_all(ix, c, DAY + RUNS, h, 2 * PER_RUN) == 0);
    idem_get_stats(ix, &after);
    fprintf(stderr, "  %llu lookups for %d duplicates\n",
            (unsigned long long)(after.seeks - before.seeks), 2 * PER_RUN);
    /* 2 * PER_RUN + 2, and one more if a fingerprint collision strikes
     * (before the run of the last duplicate came first: 2 * 2 * PER_RUN). */
    CHECK(after.seeks - before.seeks <= 2 * PER_RUN + 3);
    /* Every hash of every run is still a duplicate. */
    CHECK(insert_all(ix, c, DAY + RUNS, h, RUNS * PER_RUN) == 0);
    idem_free(ix);
    store_conn_close(c);
}

static void test_purge(void)
{
    store_conn_t *c = open_db("purge.db");
    mb_error err;
    idem_t *ix = NULL;
    CHECK(idem_open(c, NULL, &ix, &err) == 0);
    enum { OLD = 25, NEW = 5 };
    uint8_t old[OLD][16], young[NEW][16];
    randombytes_buf(old, sizeof old);
    randombytes_buf(young, sizeof young);
    int64_t today = DAY + 100;
    CHECK(insert_all(ix, c, today - 64, old, 10) == 10);      /* expired (> 62 + 1 days) */
    CHECK(insert_all(ix, c, today - 63, old + 10, 15) == 15); /* exactly 62 + 1: kept */
    CHECK(insert_all(ix, c, today, young, NEW) == NEW);

    idem_purge_result r;
    CHECK(store_conn_exec(c, "BEGIN", &err) == 0);
    CHECK(idem_purge(ix, c, today, 62, 1000, true, &r, &err) == 0);
    CHECK(store_conn_exec(c, "COMMIT", &err) == 0);
    CHECK(r.hashes == 10 && r.runs == 1); /* a dry run counts only */
    CHECK(unit_query_long(c, "SELECT count(*) FROM usage_idem") == 30);

    /* In chunks of 4: 4, 4, then 2 and the run's row. */
    int rounds = 0;
    int64_t total = 0;
    do {
        CHECK(store_conn_exec(c, "BEGIN", &err) == 0);
        CHECK(idem_purge(ix, c, today, 62, 4, false, &r, &err) == 0);
        CHECK(store_conn_exec(c, "COMMIT", &err) == 0);
        total += r.hashes;
        rounds++;
    } while (r.more && rounds < 10);
    CHECK(rounds == 3 && total == 10);
    CHECK(unit_query_long(c, "SELECT count(*) FROM usage_idem") == 20);
    CHECK(unit_query_long(c, "SELECT count(*) FROM usage_idem_runs") == 2);
    /* Purged keys count again (their events would be refused as too old);
     * everything kept is still a duplicate. */
    CHECK(insert_all(ix, c, today, old, 10) == 10);
    CHECK(insert_all(ix, c, today, old + 10, 15) == 0);
    CHECK(insert_all(ix, c, today, young, NEW) == 0);
    /* The tool's purge (no filter) 63 days on takes all but today's run. */
    CHECK(store_conn_exec(c, "BEGIN", &err) == 0);
    CHECK(idem_purge(NULL, c, today + 63, 62, 1000, false, &r, &err) == 0);
    CHECK(store_conn_exec(c, "COMMIT", &err) == 0);
    CHECK(r.hashes == 15 && r.runs == 1);
    idem_free(ix);
    store_conn_close(c);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    RUN(test_filter);
    RUN(test_hash);
    RUN(test_counted_once);
    RUN(test_saved_filter);
    RUN(test_checkpoint);
    RUN(test_checkpoint_across_purge);
    RUN(test_filter_missed);
    RUN(test_runs);
    RUN(test_partition_rebuild);
    RUN(test_purge);
    RUN(test_replay_cost);
    RUN(test_tag_collisions);
    return check_summary();
}
