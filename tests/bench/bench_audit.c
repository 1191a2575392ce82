/*
 * bench_audit.c - the audit trail in-process on a real database file with
 * every migration applied: what one audit_append costs inside a write
 * transaction (read and check the head's MAC, hash, insert, move the head),
 * appends/s with a commit each (durable, as a reveal's would be), then
 * audit_verify over the whole chain and one audit_purge_before of half of
 * it. Every action minbill audits pays for the append in its writer
 * transaction, so that is the figure to watch.
 *
 * Usage: bench_audit [--events N] [--commits N]
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "audit/audit.h"
#include "bench_common.h"
#include "store/migrate.h"

static int append_one(store_conn_t *conn, const keyring_t *kr, long i, mb_error *err)
{
    char target[32];
    snprintf(target, sizeof target, "pm_%ld", i);
    audit_entry e = {.actor_key_id = "k_bench",
                     .actor_role = "payments",
                     .action = "payment_method.reveal",
                     .account_id = "acc-bench",
                     .target_id = target,
                     .purpose = "collect-payment:INV-2026-000042"};
    return audit_append(conn, kr, &e, NULL, err);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_audit [--events N] [--commits N]\n"
               "  --events N   appends timed inside transactions of 100 (default 20000)\n"
               "  --commits N  appends with a commit each (default 500)\n");
}

int main(int argc, char **argv)
{
    long events = 20000, commits = 500;
    const bc_option opts[] = {{"events", BC_ARG_COUNT, &events, 100, 10000000},
                              {"commits", BC_ARG_COUNT, &commits, 1, 100000}};
    int rc = bc_parse_options("bench_audit", argc, argv, opts, 2);
    if (rc != 0)
        return bc_options_exit("bench_audit", rc, usage);

    char dir[] = "/tmp/bench-audit-XXXXXX", db[64], key[64];
    if (mkdtemp(dir) == NULL) {
        printf("FAIL mkdtemp\n");
        return 1;
    }
    snprintf(db, sizeof db, "%s/audit.db", dir);
    snprintf(key, sizeof key, "%s/master.key", dir);
    mb_error err;
    keyring_t *kr = NULL;
    store_conn_t *conn = NULL;
    bc_lat lat = {0};
    rc = 1;
    if (keyring_file_create(key, &err) != 0 || keyring_load(key, &kr, &err) != 0 ||
        store_conn_open(db, true, false, &conn, &err) != 0 ||
        store_migrate(conn, NULL, &err) != 0 ||
        store_conn_exec(conn, "BEGIN IMMEDIATE", &err) != 0 ||
        keyring_attach(kr, conn, &err) != 0 || store_conn_exec(conn, "COMMIT", &err) != 0)
        goto fail;

    /* 1. The append alone, inside open transactions (commits not timed). */
    for (long i = 0; i < events; i++) {
        if (i % 100 == 0 && store_conn_exec(conn, "BEGIN IMMEDIATE", &err) != 0)
            goto fail;
        int64_t t0 = bc_now_ns();
        if (append_one(conn, kr, i, &err) != 0)
            goto fail;
        bc_lat_add(&lat, (bc_now_ns() - t0) / 100);
        if (i % 100 == 99 && store_conn_exec(conn, "COMMIT", &err) != 0)
            goto fail;
    }
    if (events % 100 != 0 && store_conn_exec(conn, "COMMIT", &err) != 0)
        goto fail;
    bc_lat_sort(&lat);

    /* 2. One commit per append. */
    int64_t t0 = bc_now_ns();
    for (long i = 0; i < commits; i++)
        if (store_conn_exec(conn, "BEGIN IMMEDIATE", &err) != 0 ||
            append_one(conn, kr, events + i, &err) != 0 ||
            store_conn_exec(conn, "COMMIT", &err) != 0)
            goto fail;
    double commit_s = (double)(bc_now_ns() - t0) / 1e9;

    /* 3. Verify the whole chain; 4. purge its first half. */
    audit_verify_result r;
    t0 = bc_now_ns();
    if (audit_verify(conn, kr, &r, &err) != 0)
        goto fail;
    double verify_s = (double)(bc_now_ns() - t0) / 1e9;
    if (!r.intact || r.events != events + commits) {
        printf("FAIL the chain does not verify (%lld events, broken at \"%s\")\n",
               (long long)r.events, r.first_broken);
        goto out;
    }
    sqlite3_stmt *st = store_conn_prepare(
        conn, "SELECT occurred_us FROM audit_events ORDER BY seq LIMIT 1 OFFSET ?1", &err);
    if (st == NULL)
        goto fail;
    sqlite3_bind_int64(st, 1, (events + commits) / 2);
    int64_t cutoff = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    int64_t purged = 0;
    t0 = bc_now_ns();
    if (store_conn_exec(conn, "BEGIN IMMEDIATE", &err) != 0 ||
        audit_purge_before(conn, kr, cutoff, false, &purged, &err) != 0 ||
        store_conn_exec(conn, "COMMIT", &err) != 0)
        goto fail;
    double purge_s = (double)(bc_now_ns() - t0) / 1e9;
    if (audit_verify(conn, kr, &r, &err) != 0)
        goto fail;
    if (!r.intact || purged <= 0) {
        printf("FAIL the chain does not verify after the purge (broken at \"%s\")\n",
               r.first_broken);
        goto out;
    }

    /* bc_lat holds tenths of a microsecond. */
    printf("audit_append in a write transaction (%ld appends): p50 %.1f us, p99 %.1f us, "
           "max %.1f us\n",
           events, bc_lat_pct(&lat, 0.5) / 10.0, bc_lat_pct(&lat, 0.99) / 10.0,
           bc_lat_max(&lat) / 10.0);
    printf("one commit per append: %.0f appends/s (%ld)\n", (double)commits / commit_s, commits);
    printf("audit_verify: %lld events in %.1f ms (%.0f events/s)\n", (long long)(events + commits),
           verify_s * 1e3, (double)(events + commits) / verify_s);
    printf("audit_purge_before: %lld events in %.1f ms, chain intact afterwards\n",
           (long long)purged, purge_s * 1e3);
    printf("one thread, in-process; the machine is shared, so figures are low bounds\n");
    printf("RESULT append_p50_us=%.1f append_p99_us=%.1f commits_per_s=%.0f verify_ms=%.1f "
           "purge_ms=%.1f\n",
           bc_lat_pct(&lat, 0.5) / 10.0, bc_lat_pct(&lat, 0.99) / 10.0, (double)commits / commit_s,
           verify_s * 1e3, purge_s * 1e3);
    printf("PASS\n");
    rc = 0;
    goto out;
fail:
    printf("FAIL %s\n", err.msg);
out:
    bc_lat_free(&lat);
    store_conn_close(conn);
    keyring_free(kr);
    const char *const files[] = {"audit.db", "audit.db-wal", "audit.db-shm", "master.key"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[96];
        snprintf(path, sizeof path, "%s/%s", dir, files[i]);
        unlink(path);
    }
    rmdir(dir);
    return rc;
}
