/*
 * ingest.c - see ingest.h.
 *
 * A batch is one malloc: the header, then the events, counters and names
 * arrays, the interning tables and the string pool, each sized for the
 * worst case of n distinct values (bounded by INGEST_MAX_EVENTS and the
 * field length limits). Interning through open-addressing tables keeps a
 * batch of many distinct accounts linear instead of quadratic.
 */
#include "metering/ingest.h"

#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "base/period.h"

typedef struct ing_event {
    uint8_t hash[IDEM_HASH_BYTES];
    int64_t quantity;
    uint32_t counter;
    bool fresh; /* counted by the last apply (not a duplicate) */
} ing_event;

/* A distinct string (account or metric) and the first event naming it. */
typedef struct ing_name {
    const char *s;
    uint32_t len;
    uint32_t first;
} ing_name;

/* A distinct (account, period, metric) and what this batch adds to it. */
typedef struct ing_counter {
    uint32_t account, metric, first;
    char period[PERIOD_SIZE];
    int64_t accepted;
} ing_counter;

struct ingest_batch {
    size_t n_events, n_counters, n_accounts, n_metrics;
    ing_event *events;
    ing_counter *counters;
    ing_name *accounts, *metrics;
    int64_t accepted, duplicates;
    /* ingest_check's scratch: what the name checks found. */
    uint8_t *name_state;
    uint32_t *misses;
};

/* What ingest_check found, by kind ('a'ccount, 'm'etric) and name: one
 * open-addressing table, cleared when the epoch moves on (store.h) or when
 * it is 3/4 full. */
#define CACHE_SLOTS 16384
#define CACHE_NAME_MAX (IDEM_ACCOUNT_MAX > INGEST_METRIC_MAX ? IDEM_ACCOUNT_MAX : INGEST_METRIC_MAX)
typedef struct cache_slot {
    uint8_t len; /* 0: empty */
    uint8_t state;
    char kind;
    char name[CACHE_NAME_MAX];
} cache_slot;

struct ingest_cache {
    uint64_t epoch;
    size_t used;
    cache_slot slots[CACHE_SLOTS];
};

/* Interning state while a batch is built (lives in the batch block). */
typedef struct interner {
    uint32_t *slots; /* index + 1; 0 = empty */
    uint32_t mask;
} interner;

/* A closed account still takes usage until its final invoice (the one of
 * the month it closed in) is issued: usage reported late is billed, not
 * lost. */
/*
 * The writer checks a batch's names and adds to its counters with
 * statements that take 16, 4 or 1 names or counters at a time: a batch
 * spanning 100 accounts used to cost some 300 statements, whose fixed cost
 * (step, halt, reset) was a large part of the writer's time per event.
 * Each listing is (name, state): state 1 for an account that is closed, 2
 * for an active one or a known metric.
 */
#define SQL_ACCOUNTS_HEAD                                                                          \
    "SELECT a.account_id, 1 + (a.state = 'active' OR (a.closed_at IS NOT NULL AND NOT EXISTS ("    \
    " SELECT 1 FROM invoiced_periods p"                                                            \
    " WHERE p.account_id = a.account_id AND p.period = substr(a.closed_at, 1, 7))))"               \
    " FROM accounts a WHERE a.account_id IN ("
#define SQL_METRICS_HEAD "SELECT DISTINCT metric, 2 FROM plan_prices WHERE metric IN ("
static const char SQL_ACCOUNTS_16[] = SQL_ACCOUNTS_HEAD STORE_REPEAT16("?") ")";
static const char SQL_ACCOUNTS_4[] = SQL_ACCOUNTS_HEAD STORE_REPEAT4("?") ")";
static const char SQL_ACCOUNTS_1[] = SQL_ACCOUNTS_HEAD "?)";
static const char SQL_METRICS_16[] = SQL_METRICS_HEAD STORE_REPEAT16("?") ")";
static const char SQL_METRICS_4[] = SQL_METRICS_HEAD STORE_REPEAT4("?") ")";
static const char SQL_METRICS_1[] = SQL_METRICS_HEAD "?)";
/* A sum past INT64_MAX becomes NULL and fails the NOT NULL constraint:
 * SQLite would otherwise turn it into a floating-point value. Rows are
 * (account_id, period, metric, quantity). */
#define SQL_COUNTERS_HEAD "INSERT INTO usage_counters(account_id, period, metric, quantity) VALUES "
#define SQL_COUNTERS_TAIL                                                                          \
    " ON CONFLICT(account_id, period, metric) DO UPDATE SET quantity ="                            \
    " CASE WHEN quantity <= 9223372036854775807 - excluded.quantity"                               \
    " THEN quantity + excluded.quantity END"
static const char SQL_COUNTERS_16[] =
    SQL_COUNTERS_HEAD STORE_REPEAT16("(?,?,?,?)") SQL_COUNTERS_TAIL;
static const char SQL_COUNTERS_4[] = SQL_COUNTERS_HEAD STORE_REPEAT4("(?,?,?,?)") SQL_COUNTERS_TAIL;
static const char SQL_COUNTERS_1[] = SQL_COUNTERS_HEAD "(?,?,?,?)" SQL_COUNTERS_TAIL;

/* The statements of one kind by rows, largest first. */
typedef struct rows_sql {
    size_t rows;
    const char *sql;
} rows_sql;
static const rows_sql ACCOUNTS_SQL[] = {
    {16, SQL_ACCOUNTS_16}, {4, SQL_ACCOUNTS_4}, {1, SQL_ACCOUNTS_1}};
static const rows_sql METRICS_SQL[] = {
    {16, SQL_METRICS_16}, {4, SQL_METRICS_4}, {1, SQL_METRICS_1}};
static const rows_sql COUNTERS_SQL[] = {
    {16, SQL_COUNTERS_16}, {4, SQL_COUNTERS_4}, {1, SQL_COUNTERS_1}};
#define ROWS_SQL_KINDS 3

/* The largest statement that fits `left` rows. */
static const rows_sql *rows_for(const rows_sql *kind, size_t left)
{
    size_t k = 0;
    while (k + 1 < ROWS_SQL_KINDS && kind[k].rows > left)
        k++;
    return &kind[k];
}
static const char SQL_COUNTER_GET[] =
    "SELECT quantity FROM usage_counters WHERE account_id = ?1 AND period = ?2 AND metric = ?3";

/* --- validation ------------------------------------------------------------- */

static int event_error(mb_error *err, size_t i, const char *field, const char *rule)
{
    return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT, "events[%zu].%s: %s", i, field, rule);
}

/* 1..max bytes, each printable ASCII (and, for ids, an id character). */
static int check_ascii(const char *s, size_t max, bool id, size_t i, const char *field, size_t *len,
                       mb_error *err)
{
    size_t n = 0;
    for (; s[n] != '\0'; n++) {
        unsigned char c = (unsigned char)s[n];
        if (c < 0x20 || c > 0x7e)
            return event_error(err, i, field, "must be printable ASCII");
        if (id && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == ':' || c == '-'))
            return event_error(err, i, field,
                               "may only contain letters, digits, '.', '_', ':' and '-'");
    }
    if (n == 0)
        return event_error(err, i, field, "required");
    if (n > max)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "events[%zu].%s: must be at most %zu characters", i, field, max);
    *len = n;
    return 0;
}

static int check_event(const Minbill__V1__UsageEvent *e, size_t i, const ingest_rules *r,
                       size_t *pool, mb_error *err)
{
    size_t klen = 0, alen = 0, mlen = 0;
    if (check_ascii(e->idempotency_key, IDEM_KEY_MAX, false, i, "idempotency_key", &klen, err) ||
        check_ascii(e->account_id, IDEM_ACCOUNT_MAX, true, i, "account_id", &alen, err) ||
        check_ascii(e->metric, INGEST_METRIC_MAX, false, i, "metric", &mlen, err))
        return -1;
    if (e->quantity <= 0 || e->quantity > INGEST_MAX_QUANTITY)
        return event_error(err, i, "quantity", "must be > 0 and <= 1000000000000");
    const Google__Protobuf__Timestamp *t = e->occurred_at;
    if (t == NULL)
        return event_error(err, i, "occurred_at", "must be set");
    if (t->nanos < 0 || t->nanos > 999999999)
        return event_error(err, i, "occurred_at", "nanos must be from 0 to 999999999");
    if (t->seconds > r->now + INGEST_MAX_FUTURE_SECONDS)
        return event_error(err, i, "occurred_at", "must not be more than 5 minutes in the future");
    if (t->seconds < r->now - (int64_t)r->window_days * 86400)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "events[%zu].occurred_at: older than the acceptance window (%d days)",
                            i, r->window_days);
    *pool += alen + 1 + mlen + 1;
    return 0;
}

/* --- building ----------------------------------------------------------------- */

static uint32_t fnv1a(uint32_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 16777619u;
    return h;
}

/* The index of string s in names (adding it, copied to *pool, if new). */
static uint32_t intern_name(interner *t, ing_name *names, size_t *n, char **pool, const char *s,
                            uint32_t event)
{
    size_t len = strlen(s);
    for (uint32_t i = fnv1a(2166136261u, s, len) & t->mask;; i = (i + 1) & t->mask) {
        uint32_t k = t->slots[i];
        if (k == 0) {
            memcpy(*pool, s, len + 1);
            names[*n] = (ing_name){.s = *pool, .len = (uint32_t)len, .first = event};
            *pool += len + 1;
            t->slots[i] = (uint32_t)++ * n;
            return (uint32_t)(*n - 1);
        }
        if (names[k - 1].len == len && memcmp(names[k - 1].s, s, len) == 0)
            return k - 1;
    }
}

static uint32_t intern_counter(interner *t, ingest_batch *b, uint32_t account, uint32_t metric,
                               const char period[PERIOD_SIZE], uint32_t event)
{
    uint32_t h = fnv1a(2166136261u, &account, sizeof account);
    h = fnv1a(h, &metric, sizeof metric);
    h = fnv1a(h, period, PERIOD_SIZE);
    for (uint32_t i = h & t->mask;; i = (i + 1) & t->mask) {
        uint32_t k = t->slots[i];
        if (k == 0) {
            ing_counter *c = &b->counters[b->n_counters];
            *c = (ing_counter){.account = account, .metric = metric, .first = event};
            memcpy(c->period, period, PERIOD_SIZE);
            t->slots[i] = (uint32_t)++b->n_counters;
            return (uint32_t)(b->n_counters - 1);
        }
        const ing_counter *c = &b->counters[k - 1];
        if (c->account == account && c->metric == metric &&
            memcmp(c->period, period, PERIOD_SIZE) == 0)
            return k - 1;
    }
}

static size_t align_up(size_t n, size_t a)
{
    return (n + a - 1) & ~(a - 1);
}

int ingest_build(const Minbill__V1__RecordUsageRequest *req, const ingest_rules *rules,
                 ingest_batch **out, mb_error *err)
{
    size_t n = req->n_events, pool_size = 0;
    if (n == 0)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "events: at least one event is required");
    if (n > INGEST_MAX_EVENTS)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "events: at most %d events per request", INGEST_MAX_EVENTS);
    for (size_t i = 0; i < n; i++)
        if (check_event(req->events[i], i, rules, &pool_size, err) != 0)
            return -1;

    uint32_t cap = 16;
    while (cap < 2 * n)
        cap *= 2;
    size_t off_events = align_up(sizeof(ingest_batch), alignof(max_align_t));
    size_t off_counters = align_up(off_events + n * sizeof(ing_event), alignof(max_align_t));
    size_t off_accounts = align_up(off_counters + n * sizeof(ing_counter), alignof(max_align_t));
    size_t off_metrics = off_accounts + n * sizeof(ing_name);
    size_t off_slots = align_up(off_metrics + n * sizeof(ing_name), alignof(uint32_t));
    size_t off_misses = off_slots + 3 * (size_t)cap * sizeof(uint32_t);
    size_t off_names = off_misses + 2 * n * sizeof(uint32_t);
    size_t off_pool = off_names + 2 * n;
    char *block = calloc(1, off_pool + pool_size);
    if (block == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    ingest_batch *b = (ingest_batch *)block;
    b->n_events = n;
    b->events = (ing_event *)(block + off_events);
    b->counters = (ing_counter *)(block + off_counters);
    b->accounts = (ing_name *)(block + off_accounts);
    b->metrics = (ing_name *)(block + off_metrics);
    b->name_state = (uint8_t *)(block + off_names);
    b->misses = (uint32_t *)(block + off_misses);
    uint32_t *slots = (uint32_t *)(block + off_slots);
    interner accounts = {slots, cap - 1}, metrics = {slots + cap, cap - 1},
             counters = {slots + 2 * (size_t)cap, cap - 1};
    char *pool = block + off_pool;

    for (size_t i = 0; i < n; i++) {
        const Minbill__V1__UsageEvent *e = req->events[i];
        ing_event *ev = &b->events[i];
        char period[PERIOD_SIZE];
        uint32_t a =
            intern_name(&accounts, b->accounts, &b->n_accounts, &pool, e->account_id, (uint32_t)i);
        uint32_t m =
            intern_name(&metrics, b->metrics, &b->n_metrics, &pool, e->metric, (uint32_t)i);
        period_of(e->occurred_at->seconds, period);
        ev->counter = intern_counter(&counters, b, a, m, period, (uint32_t)i);
        ev->quantity = e->quantity;
        idem_hash(rules->hash_key, e->account_id, b->accounts[a].len, e->idempotency_key,
                  strlen(e->idempotency_key), ev->hash);
    }
    *out = b;
    return 0;
}

void ingest_free(ingest_batch *b)
{
    free(b);
}

size_t ingest_events(const ingest_batch *b)
{
    return b->n_events;
}

int64_t ingest_accepted(const ingest_batch *b)
{
    return b->accepted;
}

int64_t ingest_duplicates(const ingest_batch *b)
{
    return b->duplicates;
}

/* --- applying (writer thread) ------------------------------------------------ */

/* Sets state[ks[i]] for the names names[ks[i] - base], i < n, from
 * listings of `kind` (see the top of the file); 0 stays for those not
 * listed. */
static int list_names(store_conn_t *conn, const rows_sql *kind, const ing_name *names, size_t base,
                      const uint32_t *ks, size_t n, uint8_t *state, mb_error *err)
{
    for (size_t at = 0; at < n;) {
        const rows_sql *q = rows_for(kind, n - at);
        size_t rows = q->rows;
        sqlite3_stmt *st = store_conn_prepare(conn, q->sql, err);
        if (st == NULL)
            return -1;
        for (size_t r = 0; r < rows; r++) {
            const ing_name *nm = &names[ks[at + r] - base];
            sqlite3_bind_text(st, (int)r + 1, nm->s, (int)nm->len, SQLITE_STATIC);
        }
        int rc;
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            const char *s = (const char *)sqlite3_column_text(st, 0);
            size_t len = (size_t)sqlite3_column_bytes(st, 0);
            for (size_t r = 0; s != NULL && r < rows; r++) {
                const ing_name *nm = &names[ks[at + r] - base];
                if (nm->len == len && memcmp(nm->s, s, len) == 0)
                    state[ks[at + r]] = (uint8_t)sqlite3_column_int(st, 1);
            }
        }
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return store_error(conn, err, "checking accounts and metrics");
        at += rows;
    }
    return 0;
}

ingest_cache_t *ingest_cache_new(void)
{
    ingest_cache_t *c = calloc(1, sizeof *c);
    if (c != NULL)
        c->epoch = UINT64_MAX;
    return c;
}

void ingest_cache_free(ingest_cache_t *c)
{
    free(c);
}

/* The slot of (kind, name): the one holding it, or the empty one where it
 * would go. */
static cache_slot *cache_slot_of(ingest_cache_t *c, char kind, const ing_name *n)
{
    uint32_t h = fnv1a(fnv1a(2166136261u, &kind, 1), n->s, n->len);
    for (uint32_t at = h & (CACHE_SLOTS - 1);; at = (at + 1) & (CACHE_SLOTS - 1)) {
        cache_slot *s = &c->slots[at];
        if (s->len == 0 ||
            (s->len == n->len && s->kind == kind && memcmp(s->name, n->s, n->len) == 0))
            return s;
    }
}

/* Looks the batch's names up, in the cache first: state[k] for name k
 * (accounts, then metrics). */
static int find_names(const ingest_batch *b, ingest_cache_t *cache, store_conn_t *conn,
                      mb_error *err)
{
    size_t n_names = b->n_accounts + b->n_metrics, n_misses = 0;
    if (cache != NULL &&
        (cache->epoch != store_conn_epoch(conn) || cache->used >= CACHE_SLOTS * 3 / 4)) {
        memset(cache->slots, 0, sizeof cache->slots);
        cache->used = 0;
        cache->epoch = store_conn_epoch(conn);
    }
    for (size_t k = 0; k < n_names; k++) {
        bool account = k < b->n_accounts;
        const ing_name *n = account ? &b->accounts[k] : &b->metrics[k - b->n_accounts];
        const cache_slot *s = cache != NULL ? cache_slot_of(cache, account ? 'a' : 'm', n) : NULL;
        b->name_state[k] = s != NULL ? s->state : 0;
        if (b->name_state[k] == 0)
            b->misses[n_misses++] = (uint32_t)k;
    }
    size_t n_accounts = 0;
    while (n_accounts < n_misses && b->misses[n_accounts] < b->n_accounts)
        n_accounts++;
    if (list_names(conn, ACCOUNTS_SQL, b->accounts, 0, b->misses, n_accounts, b->name_state, err) !=
            0 ||
        list_names(conn, METRICS_SQL, b->metrics, b->n_accounts, b->misses + n_accounts,
                   n_misses - n_accounts, b->name_state, err) != 0)
        return -1;
    /* Never past 3/4: a batch may name more accounts (up to 10,000) than
     * the table has room for, and a full table would never end a probe. */
    for (size_t i = 0; cache != NULL && i < n_misses && cache->used < CACHE_SLOTS * 3 / 4; i++) {
        size_t k = b->misses[i];
        bool account = k < b->n_accounts;
        const ing_name *n = account ? &b->accounts[k] : &b->metrics[k - b->n_accounts];
        cache_slot *s = cache_slot_of(cache, account ? 'a' : 'm', n);
        if (b->name_state[k] == 0 || s->len != 0)
            continue;
        *s = (cache_slot){
            .len = (uint8_t)n->len, .state = b->name_state[k], .kind = account ? 'a' : 'm'};
        memcpy(s->name, n->s, n->len);
        cache->used++;
    }
    return 0;
}

int ingest_check(ingest_batch *b, ingest_cache_t *cache, store_conn_t *conn, mb_error *err)
{
    if (find_names(b, cache, conn, err) != 0)
        return -1;
    uint32_t worst = UINT32_MAX;
    const char *field = NULL, *why = NULL;
    for (size_t k = 0; k < b->n_accounts + b->n_metrics; k++) {
        bool account = k < b->n_accounts;
        const ing_name *n = account ? &b->accounts[k] : &b->metrics[k - b->n_accounts];
        uint8_t state = b->name_state[k];
        const char *problem =
            state == 0
                ? (account ? "no such account" : "not in the metric catalog (no plan prices it)")
            : state == 1 ? "the account is closed"
                         : NULL;
        if (problem != NULL && n->first < worst) {
            worst = n->first;
            field = account ? "account_id" : "metric";
            why = problem;
        }
    }
    if (why != NULL)
        return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION, "events[%u].%s: %s", worst, field,
                            why);
    return 0;
}

/* Prepares sql with counter c's (account, period, metric) bound to ?1..?3. */
static sqlite3_stmt *counter_stmt(const ingest_batch *b, const ing_counter *c, store_conn_t *conn,
                                  const char *sql, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, sql, err);
    if (st == NULL)
        return NULL;
    const ing_name *a = &b->accounts[c->account], *m = &b->metrics[c->metric];
    sqlite3_bind_text(st, 1, a->s, (int)a->len, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, c->period, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, m->s, (int)m->len, SQLITE_STATIC);
    return st;
}

/* The event with which counter k (of the batch's accepted events, in
 * order) first passes INT64_MAX; the counter's first event if the stored
 * quantity cannot be read. */
static uint32_t overflowing_event(const ingest_batch *b, uint32_t k, store_conn_t *conn)
{
    const ing_counter *c = &b->counters[k];
    mb_error ignored;
    sqlite3_stmt *st = counter_stmt(b, c, conn, SQL_COUNTER_GET, &ignored);
    if (st == NULL)
        return c->first;
    int64_t room = sqlite3_step(st) == SQLITE_ROW ? INT64_MAX - sqlite3_column_int64(st, 0) : -1;
    sqlite3_reset(st);
    for (size_t i = c->first; room >= 0 && i < b->n_events; i++) {
        const ing_event *ev = &b->events[i];
        if (ev->counter != k || !ev->fresh)
            continue;
        if (ev->quantity > room)
            return (uint32_t)i;
        room -= ev->quantity;
    }
    return c->first;
}

/* What a run of batches adds to one counter: counter k of batch b (the
 * first batch naming it) and the sum over the run. */
typedef struct ing_add {
    const ingest_batch *b;
    uint32_t k;
    int64_t quantity;
} ing_add;

/* Binds a's counter, adding its quantity, as row r of st. */
static void bind_counter(const ing_add *a, sqlite3_stmt *st, size_t r)
{
    const ing_counter *c = &a->b->counters[a->k];
    const ing_name *acc = &a->b->accounts[c->account], *m = &a->b->metrics[c->metric];
    int at = (int)r * 4;
    sqlite3_bind_text(st, at + 1, acc->s, (int)acc->len, SQLITE_STATIC);
    sqlite3_bind_text(st, at + 2, c->period, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, at + 3, m->s, (int)m->len, SQLITE_STATIC);
    sqlite3_bind_int64(st, at + 4, a->quantity);
}

/* Adds adds[0..n-1] with one statement. 1 when a counter would pass
 * INT64_MAX (nothing was added), 0 done, -1 with err. */
static int add_counters(const ing_add *adds, size_t n, store_conn_t *conn, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, rows_for(COUNTERS_SQL, n)->sql, err);
    if (st == NULL)
        return -1;
    for (size_t r = 0; r < n; r++)
        bind_counter(&adds[r], st, r);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return 0;
    if (sqlite3_extended_errcode(store_conn_db_borrow(conn)) == SQLITE_CONSTRAINT_NOTNULL)
        return 1;
    return store_error(conn, err, "adding usage");
}

/* A counter's sum over several batches would pass INT64_MAX: which event
 * passes it only one batch alone can say (store_job.run_many). */
static int sum_overflow(mb_error *err)
{
    return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                        "a counter would exceed 9223372036854775807");
}

/* Adds adds[0..n-1], as many per statement as fit. An overflow names the
 * event that caused it when the counter is one batch's (else sum_overflow). */
static int add_all_counters(const ing_add *adds, size_t n, bool one_batch, store_conn_t *conn,
                            mb_error *err)
{
    for (size_t at = 0; at < n;) {
        size_t rows = rows_for(COUNTERS_SQL, n - at)->rows;
        int rc = add_counters(&adds[at], rows, conn, err);
        for (size_t r = at; rc == 1 && r < at + rows; r++) {
            int one = add_counters(&adds[r], 1, conn, err);
            if (one == 1 && !one_batch)
                return sum_overflow(err);
            if (one == 1)
                return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                                    "events[%u].quantity: the counter of this account, period and "
                                    "metric would exceed 9223372036854775807",
                                    overflowing_event(adds[r].b, adds[r].k, conn));
            if (one < 0)
                return -1;
        }
        if (rc < 0)
            return -1;
        at += rows;
    }
    return 0;
}

/* The open-addressing tables of a run: the hashes looked up (their first
 * bytes are uniformly random, a good slot) and the counters added to. */
static bool seen_hash(interner *t, const uint8_t *const *hashes, size_t n, const uint8_t *h)
{
    uint32_t x;
    memcpy(&x, h, sizeof x);
    for (uint32_t at = x & t->mask;; at = (at + 1) & t->mask) {
        uint32_t k = t->slots[at];
        if (k == 0) {
            t->slots[at] = (uint32_t)n + 1;
            return false;
        }
        if (memcmp(hashes[k - 1], h, IDEM_HASH_BYTES) == 0)
            return true;
    }
}

static bool same_name(const ing_name *x, const ing_name *y)
{
    return x->len == y->len && memcmp(x->s, y->s, x->len) == 0;
}

/* Adds `quantity` to counter k of b in adds[] (a new entry, adds[*n], if
 * no batch before named it). false if the sum would pass INT64_MAX. */
static bool add_to(interner *t, ing_add *adds, size_t *n, const ingest_batch *b, uint32_t k,
                   int64_t quantity)
{
    const ing_counter *c = &b->counters[k];
    const ing_name *acc = &b->accounts[c->account], *m = &b->metrics[c->metric];
    uint32_t h = fnv1a(fnv1a(2166136261u, acc->s, acc->len + 1), m->s, m->len + 1);
    h = fnv1a(h, c->period, PERIOD_SIZE);
    for (uint32_t at = h & t->mask;; at = (at + 1) & t->mask) {
        uint32_t e = t->slots[at];
        if (e == 0) {
            adds[*n] = (ing_add){.b = b, .k = k, .quantity = quantity};
            t->slots[at] = (uint32_t)++*n;
            return true;
        }
        ing_add *a = &adds[e - 1];
        const ing_counter *ac = &a->b->counters[a->k];
        if (same_name(&a->b->accounts[ac->account], acc) &&
            same_name(&a->b->metrics[ac->metric], m) &&
            memcmp(ac->period, c->period, PERIOD_SIZE) == 0)
            return !__builtin_add_overflow(a->quantity, quantity, &a->quantity);
    }
}

int ingest_apply_many(ingest_batch *const *bs, size_t n, idem_t *ix, store_conn_t *conn,
                      int64_t today, mb_error *err)
{
    size_t events = 0, counters = 0;
    for (size_t i = 0; i < n; i++) {
        events += bs[i]->n_events;
        counters += bs[i]->n_counters;
        bs[i]->accepted = bs[i]->duplicates = 0;
    }
    uint32_t cap = 16;
    while (cap < 2 * events)
        cap *= 2;
    /* One block: hashes looked up, what became of them, the adds, and the
     * two tables (hashes, then counters). */
    size_t off_adds = align_up(events * (sizeof(const uint8_t *) + sizeof(bool)), alignof(ing_add));
    size_t off_slots = align_up(off_adds + counters * sizeof(ing_add), alignof(uint32_t));
    char *block = calloc(1, off_slots + 2 * (size_t)cap * sizeof(uint32_t));
    if (block == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    const uint8_t **hashes = (const uint8_t **)block;
    bool *fresh = (bool *)(block + events * sizeof *hashes);
    ing_add *adds = (ing_add *)(block + off_adds);
    uint32_t *slots = (uint32_t *)(block + off_slots);
    interner seen = {slots, cap - 1}, sums = {slots + cap, cap - 1};
    int rc = -1;

    /* An event repeating an earlier one of the run is a duplicate without
     * a lookup; the others are looked up, and stored if new, in order. */
    size_t nh = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t e = 0; e < bs[i]->n_events; e++) {
            ing_event *ev = &bs[i]->events[e];
            ev->fresh = !seen_hash(&seen, hashes, nh, ev->hash);
            if (ev->fresh)
                hashes[nh++] = ev->hash;
        }
    if (idem_begin(ix, conn, today, err) != 0 ||
        idem_insert_many(ix, conn, hashes, nh, fresh, err) != 0)
        goto out;
    size_t na = 0;
    nh = 0;
    for (size_t i = 0; i < n; i++) {
        ingest_batch *b = bs[i];
        for (size_t k = 0; k < b->n_counters; k++)
            b->counters[k].accepted = 0;
        for (size_t e = 0; e < b->n_events; e++) {
            ing_event *ev = &b->events[e];
            if (ev->fresh)
                ev->fresh = fresh[nh++];
            if (ev->fresh) {
                b->counters[ev->counter].accepted += ev->quantity;
                b->accepted++;
            } else {
                b->duplicates++;
            }
        }
        for (uint32_t k = 0; k < b->n_counters; k++)
            if (b->counters[k].accepted > 0 &&
                !add_to(&sums, adds, &na, b, k, b->counters[k].accepted)) {
                sum_overflow(err);
                goto out;
            }
    }
    rc = add_all_counters(adds, na, n == 1, conn, err);
out:
    free(block);
    return rc;
}

int ingest_apply(ingest_batch *b, idem_t *ix, ingest_cache_t *cache, store_conn_t *conn,
                 int64_t today, mb_error *err)
{
    if (ingest_check(b, cache, conn, err) != 0)
        return -1;
    return ingest_apply_many(&b, 1, ix, conn, today, err);
}
