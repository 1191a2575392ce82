/*
 * purge.c - see purge.h.
 *
 * The daemon's thread sleeps on a CLOCK_MONOTONIC condition variable (a
 * wall-clock step never makes it run early or late) and checks `stopping`
 * between steps, so purge_free() waits at most for one short writer job.
 */
#include "purge/purge.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "base/clock.h"
#include "base/log.h"
#include "metrics/metrics.h"
#include "store/settings.h"
#include "store/writer.h"

#define PURGE_FIRST_MS 1000

#define SETTING(n, f, d, lo, hi, field)                                                            \
    {                                                                                              \
        .name = n, .flag = f, .def = d, .min = lo, .max = hi,                                      \
        .offset = offsetof(purge_settings, field)                                                  \
    }

/* Defaults: the acceptance window metering always had; 30 days to settle
 * a closed account's last invoice and disputes; audit events 10 years (the
 * proof of who saw what, beyond the longest invoice retention); closed
 * requests 3 years (the regular limitation period, §195 BGB). */
const purge_setting_def purge_setting_defs[] = {
    SETTING("acceptance_window_days", "--acceptance-window-days", 62, 1, 3650,
            acceptance_window_days),
    SETTING("closed_account_grace_days", "--closed-account-grace-days", 30, 0, 3650,
            closed_account_grace_days),
    SETTING("audit_retention_days", "--audit-retention-days", 3650, 365, 36500,
            audit_retention_days),
    SETTING("subject_request_retention_days", "--subject-request-retention-days", 1095, 30, 36500,
            subject_request_retention_days),
};
const size_t purge_setting_count = sizeof purge_setting_defs / sizeof purge_setting_defs[0];

int64_t *purge_setting_field(purge_settings *s, const purge_setting_def *d)
{
    return (int64_t *)((char *)s + d->offset);
}

void purge_settings_default(purge_settings *s)
{
    for (size_t i = 0; i < purge_setting_count; i++)
        *purge_setting_field(s, &purge_setting_defs[i]) = purge_setting_defs[i].def;
}

int purge_settings_store(store_conn_t *conn, const purge_settings *s, mb_error *err)
{
    for (size_t i = 0; i < purge_setting_count; i++)
        if (store_setting_put(conn, purge_setting_defs[i].name,
                              *purge_setting_field((purge_settings *)s, &purge_setting_defs[i]),
                              err) != 0)
            return -1;
    return 0;
}

int purge_settings_load(store_conn_t *conn, purge_settings *s, mb_error *err)
{
    for (size_t i = 0; i < purge_setting_count; i++)
        if (store_setting_get(conn, purge_setting_defs[i].name,
                              purge_setting_field(s, &purge_setting_defs[i]), err) != 0)
            return -1;
    return 0;
}

struct purge {
    const char *actor;
    purge_rule rules[PURGE_RULES_MAX];
    int metrics_slot[PURGE_RULES_MAX];
    size_t n_rules;

    /* The daemon's thread. */
    store_t *store;
    const keyring_t *kr;
    int64_t interval_ms;
    pthread_t thread;
    bool started;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    atomic_bool stopping;
};

purge_t *purge_new(const char *actor)
{
    purge_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->actor = actor;
    pthread_mutex_init(&p->lock, NULL);
    mb_mono_cond_init(&p->cond);
    return p;
}

int purge_add(purge_t *p, const purge_rule *rule, mb_error *err)
{
    if (p->n_rules == PURGE_RULES_MAX)
        return mb_error_set(err, GRPC_STATUS_INTERNAL, "purge: more than %d rules registered",
                            PURGE_RULES_MAX);
    p->metrics_slot[p->n_rules] = metrics_purge_category(rule->category);
    p->rules[p->n_rules++] = *rule;
    return 0;
}

/* --- running the rules ------------------------------------------------------------ */

/* Where the steps run: writer jobs of the daemon, or transactions on the
 * tool's own connection. */
typedef struct purge_db {
    store_t *store;
    store_conn_t *conn;
} purge_db;

typedef int (*db_fn)(store_conn_t *conn, void *arg, mb_error *err);

static int db_write(const purge_db *db, db_fn fn, void *arg, mb_error *err)
{
    if (db->store != NULL)
        return store_write_sync(db->store, fn, arg, err);
    mb_error ignored;
    if (store_conn_exec(db->conn, "BEGIN IMMEDIATE", err) != 0)
        return -1;
    if (fn(db->conn, arg, err) != 0 || store_conn_exec(db->conn, "COMMIT", err) != 0) {
        store_conn_exec(db->conn, "ROLLBACK", &ignored);
        return -1;
    }
    /* The daemon's writer has its checkpointer scrub the WAL after a
     * shred; the tool does it itself (a daemon's readers may be in the way:
     * then its next checkpoint does). */
    if (store_conn_take_shred(db->conn))
        sqlite3_wal_checkpoint_v2(store_conn_db_borrow(db->conn), NULL, SQLITE_CHECKPOINT_TRUNCATE,
                                  NULL, NULL);
    return 0;
}

static int db_read(const purge_db *db, db_fn fn, void *arg, mb_error *err)
{
    if (db->store == NULL)
        return store_read_snapshot(db->conn, fn, arg, err);
    store_conn_t *conn = store_reader_acquire(db->store);
    int rc = store_read_snapshot(conn, fn, arg, err);
    store_reader_release(db->store, conn);
    return rc;
}

/* One rule's run: its steps share the context, the cursor and the counts. */
typedef struct rule_run {
    const purge_t *p;
    const purge_rule *rule;
    purge_ctx ctx;
    purge_step step;
    purge_count *count;
} rule_run;

static int append_audit(store_conn_t *conn, const rule_run *r, int64_t removed, int64_t keys,
                        mb_error *err)
{
    char purpose[96];
    snprintf(purpose, sizeof purpose, "retention: removed %lld, destroyed %lld data key(s)",
             (long long)removed, (long long)keys);
    audit_entry e = {.actor_key_id = r->p->actor,
                     .actor_role = strcmp(r->p->actor, "system") == 0 ? "system" : "admin",
                     .action = "retention.purge",
                     .target_id = r->rule->category,
                     .purpose = purpose};
    return audit_append(conn, r->ctx.kr, &e, NULL, err);
}

/* A step; the last one of a run that removed something also audits it. */
static int step_job(store_conn_t *conn, void *arg, mb_error *err)
{
    rule_run *r = arg;
    r->step.removed = r->step.keys_destroyed = 0;
    r->step.more = false;
    int64_t t0 = mb_mono_ns();
    if (r->rule->fn(conn, r->rule->arg, &r->ctx, &r->step, err) != 0)
        return -1;
    int64_t us = (mb_mono_ns() - t0) / 1000;
    if (us > r->count->longest_step_us)
        r->count->longest_step_us = us;
    int64_t removed = r->count->removed + r->step.removed;
    int64_t keys = r->count->keys_destroyed + r->step.keys_destroyed;
    if (r->ctx.dry_run || r->step.more || removed + keys == 0)
        return 0;
    return append_audit(conn, r, removed, keys, err);
}

/* A run cut short (shutdown, failure) audits what its committed steps
 * removed in a job of its own. */
static int audit_job(store_conn_t *conn, void *arg, mb_error *err)
{
    rule_run *r = arg;
    return append_audit(conn, r, r->count->removed, r->count->keys_destroyed, err);
}

static int run_rule(purge_t *p, size_t i, const purge_db *db, const purge_ctx *base, purge_count *c,
                    mb_error *err)
{
    rule_run r = {.p = p, .rule = &p->rules[i], .ctx = *base, .count = c};
    r.ctx.chunk = r.rule->chunk;
    *c = (purge_count){.category = r.rule->category, .what = r.rule->what};
    if (base->dry_run) {
        if (db_read(db, step_job, &r, err) != 0)
            return -1;
        c->removed = r.step.removed;
        c->keys_destroyed = r.step.keys_destroyed;
        return 0;
    }
    int rc = 0;
    bool audited = false;
    while (!audited && !atomic_load(&p->stopping)) {
        if ((rc = db_write(db, step_job, &r, err)) != 0) {
            if (r.rule->rolled_back != NULL)
                r.rule->rolled_back(r.rule->arg);
            break;
        }
        c->removed += r.step.removed;
        c->keys_destroyed += r.step.keys_destroyed;
        metrics_purged_add(p->metrics_slot[i], (uint64_t)r.step.removed);
        if (!r.step.more)
            audited = true; /* by the last step, if anything was removed */
    }
    mb_error aerr;
    if (!audited && c->removed + c->keys_destroyed > 0 && db_write(db, audit_job, &r, &aerr) != 0)
        mb_log(MB_LOG_ERROR, "event=purge_audit_failed category=%s removed=%lld code=%s",
               r.rule->category, (long long)c->removed, mb_status_name(aerr.code));
    return rc;
}

static int load_settings(store_conn_t *conn, void *arg, mb_error *err)
{
    return purge_settings_load(conn, arg, err);
}

/* Every rule once. A failing rule does not keep the others from running;
 * the first failure is returned. */
static int run_all(purge_t *p, const purge_db *db, const keyring_t *kr, bool dry_run,
                   purge_report *rep, mb_error *err)
{
    purge_settings settings;
    rep->n = 0;
    if (db_read(db, load_settings, &settings, err) != 0) {
        mb_log(MB_LOG_ERROR, "event=purge_failed code=%s reason=settings",
               mb_status_name(err->code));
        return -1;
    }
    purge_ctx ctx = {.now_us = mb_now_us(), .dry_run = dry_run, .settings = &settings, .kr = kr};
    int ret = 0;
    for (size_t i = 0; i < p->n_rules && !atomic_load(&p->stopping); i++) {
        mb_error e;
        int64_t t0 = mb_mono_ns();
        int rc = run_rule(p, i, db, &ctx, &rep->counts[rep->n], &e);
        const purge_count *c = &rep->counts[rep->n++];
        if (rc != 0) {
            mb_log(MB_LOG_ERROR, "event=purge_failed category=%s removed=%lld code=%s", c->category,
                   (long long)c->removed, mb_status_name(e.code));
            if (ret == 0)
                *err = e;
            ret = -1;
        } else if (c->removed + c->keys_destroyed > 0 && !dry_run) {
            mb_log(MB_LOG_INFO,
                   "event=purge category=%s removed=%lld keys_destroyed=%lld ms=%lld "
                   "longest_step_us=%lld",
                   c->category, (long long)c->removed, (long long)c->keys_destroyed,
                   (long long)((mb_mono_ns() - t0) / 1000000), (long long)c->longest_step_us);
        }
    }
    return ret;
}

int purge_run_conn(purge_t *p, store_conn_t *conn, const keyring_t *kr, bool dry_run,
                   purge_report *rep, mb_error *err)
{
    purge_db db = {.conn = conn};
    return run_all(p, &db, kr, dry_run, rep, err);
}

/* --- the daemon's thread ------------------------------------------------------------ */

static void *purge_main(void *arg)
{
    purge_t *p = arg;
    pthread_setname_np(pthread_self(), "mb-purge");
    purge_db db = {.store = p->store};
    /* The first run soon after start: a daemon that was down for a while
     * has data past its retention waiting. */
    int64_t wait_ms = p->interval_ms < PURGE_FIRST_MS ? p->interval_ms : PURGE_FIRST_MS;
    for (;;) {
        int64_t until = mb_mono_ns() + wait_ms * 1000000;
        struct timespec ts = mb_mono_timespec(until);
        pthread_mutex_lock(&p->lock);
        while (!atomic_load(&p->stopping) && mb_mono_ns() < until)
            pthread_cond_timedwait(&p->cond, &p->lock, &ts);
        pthread_mutex_unlock(&p->lock);
        if (atomic_load(&p->stopping))
            return NULL;
        purge_report rep;
        mb_error err;
        run_all(p, &db, p->kr, false, &rep, &err); /* each failure is logged */
        wait_ms = p->interval_ms;
    }
}

int purge_start(purge_t *p, store_t *store, const keyring_t *kr, int64_t interval_ms, mb_error *err)
{
    p->store = store;
    p->kr = kr;
    p->interval_ms = interval_ms;
    if (pthread_create(&p->thread, NULL, purge_main, p) != 0)
        return mb_error_set(err, GRPC_STATUS_INTERNAL, "purge: cannot start its thread");
    p->started = true;
    return 0;
}

void purge_free(purge_t *p)
{
    if (p == NULL)
        return;
    pthread_mutex_lock(&p->lock);
    atomic_store(&p->stopping, true);
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    if (p->started)
        pthread_join(p->thread, NULL);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
}
