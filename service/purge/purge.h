/*
 * purge.h - forgetting on schedule: the one facility every domain registers
 * its retention purge with.
 *
 * A rule removes one category of data past its retention (idempotency
 * hashes past the acceptance window, invoices past their retention, closed
 * subject requests, ...). It works in steps: each call removes at most
 * ctx->chunk items inside the caller's write transaction and says whether
 * more are due, so a purge never holds the writer long (architecture.md,
 * "Long work"). The same rules run
 *   - in the daemon (purge_start): one background thread, a first run a
 *     second after start and then every interval; each step is its own
 *     short job of the group-commit writer, sharing commits with ingest;
 *   - in `minbilld purge` (purge_run_conn): the same steps, each in its own
 *     transaction on the tool's connection, beside a serving daemon.
 * Both read the retention settings the daemon stored when it started
 * (purge_settings_store), never defaults of their own: a purge with a
 * shorter acceptance window than the daemon's would delete hashes the
 * daemon still needs, and replays would count twice.
 *
 * Every run appends, per category that removed something, one audit event
 * ("retention.purge", target the category, counts in the purpose) in the
 * transaction of its last step: counts and category names only, never
 * anything about a subject.
 */
#ifndef MB_PURGE_H
#define MB_PURGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "crypto/keyring.h"
#include "store/store.h"

/* The retention settings, as `minbilld serve` was started with them. */
typedef struct purge_settings {
    int64_t acceptance_window_days;         /* usage hashes are kept this long (+1 day) */
    int64_t closed_account_grace_days;      /* contacts, payment methods of closed accounts */
    int64_t audit_retention_days;           /* audit events */
    int64_t subject_request_retention_days; /* after a request was completed or rejected */
} purge_settings;

/* One setting: its name in the settings table, its serve flag, default and
 * bounds; purge_setting_defs[] lists them all. */
typedef struct purge_setting_def {
    const char *name; /* settings.name, e.g. "acceptance_window_days" */
    const char *flag; /* "--acceptance-window-days" */
    int64_t def, min, max;
    size_t offset; /* of its field in purge_settings */
} purge_setting_def;

extern const purge_setting_def purge_setting_defs[];
extern const size_t purge_setting_count;

int64_t *purge_setting_field(purge_settings *s, const purge_setting_def *d);
void purge_settings_default(purge_settings *s);

/* Records s in the settings table (writer, inside the caller's
 * transaction): `serve` does at start. */
int purge_settings_store(store_conn_t *conn, const purge_settings *s, mb_error *err)
    __attribute__((warn_unused_result));
/* Reads them back; FAILED_PRECONDITION naming the first one missing (a
 * database no `serve` of this version has run on). */
int purge_settings_load(store_conn_t *conn, purge_settings *s, mb_error *err)
    __attribute__((warn_unused_result));

typedef struct purge_ctx {
    int64_t now_us; /* mb_now_us() when the run started */
    bool dry_run;   /* count what would go, change nothing */
    int chunk;      /* at most this many items per step (the rule's chunk) */
    const purge_settings *settings;
    const keyring_t *kr; /* attached to the connection */
} purge_ctx;

typedef struct purge_step {
    int64_t removed;        /* out: items removed in this step (a dry run: all due) */
    int64_t keys_destroyed; /* out: data keys destroyed in this step */
    bool more;              /* out: more is due in this run: call again */
    char cursor[80];        /* the rule's own place within the run; "" at its start */
} purge_step;

/* One step of a rule, inside a write transaction on conn (a read
 * transaction in a dry run, which counts everything due in one call and
 * leaves more false). Returns 0, or -1 with err (the step's changes are
 * rolled back). */
typedef int (*purge_fn)(store_conn_t *conn, void *arg, const purge_ctx *ctx, purge_step *step,
                        mb_error *err);

typedef struct purge_rule {
    const char *category; /* snake_case: the audit target, log and metrics label */
    const char *what;     /* for people, plural: "usage idempotency hashes" */
    purge_fn fn;
    /* Called when a step of this rule did not commit after fn succeeded
     * (the rule may keep memory in step with the rows). May be NULL. */
    void (*rolled_back)(void *arg);
    void *arg;
    int chunk; /* items per step */
} purge_rule;

#define PURGE_RULES_MAX 8

typedef struct purge_count {
    const char *category, *what;
    int64_t removed, keys_destroyed;
    int64_t longest_step_us; /* the longest step's own time in its transaction */
} purge_count;

typedef struct purge_report {
    purge_count counts[PURGE_RULES_MAX]; /* in registration order */
    size_t n;
} purge_report;

typedef struct purge purge_t;

/* An empty registry. actor: who the audit events name ("system" for the
 * daemon, "local-operator" for the tool). NULL when out of memory. */
purge_t *purge_new(const char *actor);

/* Registers a rule (before purge_start); rules run in registration order.
 * INTERNAL when PURGE_RULES_MAX are registered already. */
int purge_add(purge_t *p, const purge_rule *rule, mb_error *err)
    __attribute__((warn_unused_result));

/* `minbilld purge`: runs every rule to completion on conn (settings loaded
 * from it, each step in its own transaction) and fills rep. kr must be
 * attached to conn (the audit trail). */
int purge_run_conn(purge_t *p, store_conn_t *conn, const keyring_t *kr, bool dry_run,
                   purge_report *rep, mb_error *err) __attribute__((warn_unused_result));

/* The daemon: starts the purge thread (first run a second after start, or
 * after interval_ms if shorter, then every interval_ms). */
int purge_start(purge_t *p, store_t *store, const keyring_t *kr, int64_t interval_ms, mb_error *err)
    __attribute__((warn_unused_result));

/* Stops the thread between two steps (a run in progress audits what it
 * removed so far) and frees p. Call before the writer drains and before
 * anything a rule uses goes. NULL: no-op. */
void purge_free(purge_t *p);

#endif
