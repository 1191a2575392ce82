/*
 * test_ingest.c - a usage batch from request to counters: every validation
 * rule names the event and field; periods are UTC months; the writer side
 * refuses unknown or closed accounts and unknown metrics for the whole
 * batch (naming the lowest event), counts each key once per account,
 * sums per (account, period, metric), refuses a counter overflow (also
 * from inside a statement that adds several counters), and only ever
 * raises quantity (late usage of an invoiced period); batches applied
 * together count a key once across them and sum their counters. The writer's cache of
 * accounts is used for as long as the connection's epoch stays, and
 * forgotten when it moves on.
 */
#include <sodium.h>

#include "check.h"
#include "metering/ingest.h"
#include "store/migrate.h"
#include "unit_db.h"
#include "unit_tmp.h"

#define NOW 1780000000LL /* 2026-05-28T20:26:40Z */
#define MAX_EVENTS 16

static unsigned char key[32];
static Minbill__V1__UsageEvent ev[MAX_EVENTS];
static Minbill__V1__UsageEvent *ev_ptrs[MAX_EVENTS];
static Google__Protobuf__Timestamp ts[MAX_EVENTS];
static char keys[MAX_EVENTS][32];
static Minbill__V1__RecordUsageRequest req;
static const ingest_rules rules = {.hash_key = key, .now = NOW, .window_days = 62};

/* n valid events: account acc1, metric msgs, quantity 1, now - i minutes. */
static void reset(size_t n)
{
    minbill__v1__record_usage_request__init(&req);
    for (size_t i = 0; i < n; i++) {
        minbill__v1__usage_event__init(&ev[i]);
        google__protobuf__timestamp__init(&ts[i]);
        snprintf(keys[i], sizeof keys[i], "k-%zu", i);
        ev[i].idempotency_key = keys[i];
        ev[i].account_id = "acc1";
        ev[i].metric = "msgs";
        ev[i].quantity = 1;
        ts[i].seconds = NOW - 60 * (int64_t)i;
        ev[i].occurred_at = &ts[i];
        ev_ptrs[i] = &ev[i];
    }
    req.n_events = n;
    req.events = ev_ptrs;
}

static void expect_invalid(const char *msg)
{
    ingest_batch *b = NULL;
    mb_error err;
    CHECK(ingest_build(&req, &rules, &b, &err) == -1);
    CHECK(b == NULL);
    CHECK_STATUS(err, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(err.msg, msg);
    reset(3);
}

static void test_validation(void)
{
    char long_key[130], long_id[66];
    memset(long_key, 'k', 129);
    long_key[129] = '\0';
    memset(long_id, 'a', 65);
    long_id[65] = '\0';
    reset(0);
    expect_invalid("events: at least one event is required");
    reset(3);
    req.n_events = INGEST_MAX_EVENTS + 1;
    expect_invalid("events: at most 10000 events per request");
    ev[2].idempotency_key = "";
    expect_invalid("events[2].idempotency_key: required");
    ev[2].idempotency_key = long_key;
    expect_invalid("events[2].idempotency_key: must be at most 128 characters");
    long_key[128] = '\0'; /* 128 is fine */
    ev[2].idempotency_key = long_key;
    ingest_batch *b = NULL;
    mb_error err;
    CHECK(ingest_build(&req, &rules, &b, &err) == 0);
    ingest_free(b);
    ev[2].idempotency_key = "tab\there";
    expect_invalid("events[2].idempotency_key: must be printable ASCII");
    ev[2].idempotency_key = "caf\xc3\xa9";
    expect_invalid("events[2].idempotency_key: must be printable ASCII");
    ev[1].account_id = "";
    expect_invalid("events[1].account_id: required");
    ev[1].account_id = long_id;
    expect_invalid("events[1].account_id: must be at most 64 characters");
    ev[1].account_id = "acc 1";
    expect_invalid("events[1].account_id: may only contain");
    ev[0].metric = "";
    expect_invalid("events[0].metric: required");
    ev[0].metric = long_id;
    expect_invalid("events[0].metric: must be at most 64 characters");
    ev[2].quantity = 0;
    expect_invalid("events[2].quantity: must be > 0 and <= 1000000000000");
    ev[2].quantity = -5;
    expect_invalid("events[2].quantity: must be > 0");
    ev[2].quantity = INGEST_MAX_QUANTITY + 1;
    expect_invalid("events[2].quantity: must be > 0 and <= 1000000000000");
    ev[2].occurred_at = NULL;
    expect_invalid("events[2].occurred_at: must be set");
    ts[2].nanos = -1;
    expect_invalid("events[2].occurred_at: nanos");
    ts[2].seconds = NOW + 301;
    expect_invalid("events[2].occurred_at: must not be more than 5 minutes in the future");
    ts[2].seconds = NOW - 62 * 86400 - 1;
    expect_invalid("events[2].occurred_at: older than the acceptance window (62 days)");
    /* The first bad event is the one named; within it the first field. */
    ev[1].quantity = 0;
    ev[2].account_id = "";
    ev[1].metric = "";
    expect_invalid("events[1].metric: required");

    /* The edges are accepted. */
    ev[0].quantity = INGEST_MAX_QUANTITY;
    ts[1].seconds = NOW + 300;
    ts[2].seconds = NOW - 62 * 86400;
    CHECK(ingest_build(&req, &rules, &b, &err) == 0);
    CHECK(b != NULL && ingest_events(b) == 3);
    ingest_free(b);
}

/* --- against a database ------------------------------------------------------ */

static store_conn_t *db;
static idem_t *ix;
static ingest_cache_t *names;

static void sql(const char *s)
{
    mb_error err;
    if (store_conn_exec(db, s, &err) != 0)
        fprintf(stderr, "  %s: %s\n", s, err.msg);
}

static long query_long(const char *s)
{
    return unit_query_long(db, s);
}

/* Builds and applies req the way the writer does (own savepoint). */
static int apply(int64_t *accepted, int64_t *duplicates, mb_error *err)
{
    ingest_batch *b = NULL;
    if (ingest_build(&req, &rules, &b, err) != 0)
        return -1;
    sql("BEGIN; SAVEPOINT job");
    int rc = ingest_apply(b, ix, names, db, NOW / 86400, err);
    if (rc != 0)
        sql("ROLLBACK TO job");
    sql("RELEASE job; COMMIT");
    if (rc == 0) {
        *accepted = ingest_accepted(b);
        *duplicates = ingest_duplicates(b);
    }
    ingest_free(b);
    return rc;
}

static long counter(const char *account, const char *period, const char *metric)
{
    char q[256];
    snprintf(q, sizeof q,
             "SELECT quantity FROM usage_counters WHERE account_id = '%s' AND period = '%s' AND "
             "metric = '%s'",
             account, period, metric);
    return query_long(q);
}

static void test_apply_refusals(void)
{
    int64_t acc = -1, dup = -1;
    mb_error err;
    reset(4);
    ev[1].account_id = "ghost";
    CHECK(apply(&acc, &dup, &err) == -1);
    CHECK_STATUS(err, GRPC_STATUS_FAILED_PRECONDITION);
    CHECK_CONTAINS(err.msg, "events[1].account_id: no such account");
    reset(4);
    ev[2].account_id = "closed1";
    CHECK(apply(&acc, &dup, &err) == -1);
    CHECK_STATUS(err, GRPC_STATUS_FAILED_PRECONDITION);
    CHECK_CONTAINS(err.msg, "events[2].account_id: the account is closed");
    reset(4);
    ev[3].metric = "faxes";
    CHECK(apply(&acc, &dup, &err) == -1);
    CHECK_STATUS(err, GRPC_STATUS_FAILED_PRECONDITION);
    CHECK_CONTAINS(err.msg, "events[3].metric: not in the metric catalog");
    /* The lowest event index wins, whatever the field. */
    reset(4);
    ev[3].account_id = "ghost";
    ev[2].metric = "faxes";
    CHECK(apply(&acc, &dup, &err) == -1);
    CHECK_CONTAINS(err.msg, "events[2].metric");
    /* Nothing of a refused batch stays. */
    CHECK(query_long("SELECT count(*) FROM usage_idem") == 0);
    CHECK(query_long("SELECT count(*) FROM usage_counters") == 0);
}

static void test_apply_counts(void)
{
    int64_t acc = -1, dup = -1;
    mb_error err;
    reset(6);
    ev[1].quantity = 10;
    ev[2].account_id = "acc2";
    ev[2].quantity = 100;
    ev[3].metric = "seats";
    ev[3].quantity = 3;
    ts[4].seconds = 1777593600 - 1; /* 2026-04-30T23:59:59Z: April */
    ev[4].quantity = 1000;
    ev[5].idempotency_key = keys[1]; /* a repeat within the batch */
    ev[5].quantity = 10;
    CHECK(apply(&acc, &dup, &err) == 0);
    CHECK(acc == 5 && dup == 1);
    CHECK(counter("acc1", "2026-05", "msgs") == 11);
    CHECK(counter("acc2", "2026-05", "msgs") == 100);
    CHECK(counter("acc1", "2026-05", "seats") == 3);
    CHECK(counter("acc1", "2026-04", "msgs") == 1000);
    CHECK(query_long("SELECT count(*) FROM usage_counters") == 4);
    /* Only the hash is kept: no key, no account id, no quantity per event. */
    CHECK(query_long("SELECT count(*) FROM usage_idem") == 5);

    /* A replay counts nothing. */
    CHECK(apply(&acc, &dup, &err) == 0);
    CHECK(acc == 0 && dup == 6);
    CHECK(counter("acc1", "2026-05", "msgs") == 11);

    /* The same key for another account is another event. */
    reset(1);
    ev[0].account_id = "acc2";
    CHECK(apply(&acc, &dup, &err) == 0);
    CHECK(acc == 1 && dup == 0);
    CHECK(counter("acc2", "2026-05", "msgs") == 101);
}

static void test_late_usage_and_overflow(void)
{
    int64_t acc = -1, dup = -1;
    mb_error err;
    /* Invoicing issued acc1's May invoice: it recorded the period and what
     * it billed. Later usage only raises quantity: the difference is late. */
    sql("INSERT INTO invoiced_periods(account_id, period, invoice_number)"
        " VALUES ('acc1', '2026-05', 'INV-1');"
        "UPDATE usage_counters SET invoiced_quantity = quantity"
        " WHERE account_id = 'acc1' AND period = '2026-05'");
    reset(1);
    ev[0].idempotency_key = "late-1";
    ev[0].quantity = 7;
    CHECK(apply(&acc, &dup, &err) == 0 && acc == 1);
    CHECK(counter("acc1", "2026-05", "msgs") == 18);
    CHECK(query_long("SELECT quantity - invoiced_quantity FROM usage_counters"
                     " WHERE account_id = 'acc1' AND period = '2026-05' AND metric = 'msgs'") == 7);

    /* A counter never wraps or turns into a float. */
    sql("UPDATE usage_counters SET quantity = 9223372036854775800"
        " WHERE account_id = 'acc2' AND period = '2026-05' AND metric = 'msgs'");
    reset(2);
    ev[0].idempotency_key = "big-1";
    ev[1].idempotency_key = "big-2";
    ev[0].account_id = ev[1].account_id = "acc2";
    ev[1].quantity = 7;
    CHECK(apply(&acc, &dup, &err) == -1);
    CHECK_STATUS(err, GRPC_STATUS_FAILED_PRECONDITION);
    /* The refusal names the event that would pass the limit (issue 10). */
    CHECK_CONTAINS(err.msg, "events[1].quantity: the counter");
    CHECK(counter("acc2", "2026-05", "msgs") == 9223372036854775800);

    /* Another counter first and a duplicate on the way do not count
     * towards the limit: events[3] passes it, not the counter's first
     * event (a duplicate) nor the batch's. */
    reset(1);
    ev[0].idempotency_key = "big-0";
    ev[0].account_id = "acc2";
    CHECK(apply(&acc, &dup, &err) == 0 && acc == 1);
    sql("UPDATE usage_counters SET quantity = 9223372036854775800"
        " WHERE account_id = 'acc2' AND period = '2026-05' AND metric = 'msgs'");
    reset(4);
    ev[0].idempotency_key = "other-1"; /* acc1 */
    ev[1].idempotency_key = "big-0";   /* counted above */
    ev[1].quantity = 100;
    ev[2].idempotency_key = "big-3";
    ev[2].quantity = 3;
    ev[3].idempotency_key = "big-4";
    ev[3].quantity = 5;
    ev[1].account_id = ev[2].account_id = ev[3].account_id = "acc2";
    CHECK(apply(&acc, &dup, &err) == -1);
    CHECK_STATUS(err, GRPC_STATUS_FAILED_PRECONDITION);
    CHECK_CONTAINS(err.msg, "events[3].quantity: the counter");
    CHECK(counter("acc2", "2026-05", "msgs") == 9223372036854775800);

    /* ... and the refused batches' keys were not spent. */
    reset(2);
    ev[0].idempotency_key = "big-1";
    ev[1].idempotency_key = "big-2";
    ev[0].account_id = ev[1].account_id = "acc2";
    ev[1].quantity = 6;
    CHECK(apply(&acc, &dup, &err) == 0 && acc == 2);
    CHECK(counter("acc2", "2026-05", "msgs") == INT64_MAX);

    /* Six counters: the first four are added by one statement, which the
     * full counter (events[2], third in order) fails as a whole; the
     * refusal still names that event, and nothing of the batch stays. */
    long before = query_long("SELECT sum(quantity % 1000) FROM usage_counters");
    reset(6);
    const char *accounts[6] = {"acc1", "acc1", "acc2", "acc2", "acc1", "acc2"};
    const char *metrics[6] = {"msgs", "seats", "msgs", "seats", "msgs", "msgs"};
    for (int i = 0; i < 6; i++) {
        snprintf(keys[i], sizeof keys[i], "six-%d", i);
        ev[i].account_id = (char *)accounts[i];
        ev[i].metric = (char *)metrics[i];
    }
    ts[4].seconds = ts[5].seconds = 1777593600 - 1; /* April */
    CHECK(apply(&acc, &dup, &err) == -1);
    CHECK_STATUS(err, GRPC_STATUS_FAILED_PRECONDITION);
    CHECK_CONTAINS(err.msg, "events[2].quantity: the counter");
    CHECK(query_long("SELECT sum(quantity % 1000) FROM usage_counters") == before);
}

static ingest_batch *build(void)
{
    ingest_batch *b = NULL;
    mb_error err;
    CHECK(ingest_build(&req, &rules, &b, &err) == 0);
    return b;
}

/* Batches applied together (a writer group's calls): a key repeated in a
 * later batch is its duplicate, counters are summed over the batches, and a
 * sum past the limit fails the whole run (the writer then runs each batch
 * alone, which names the event). */
static void test_apply_many(void)
{
    mb_error err;
    sql("UPDATE usage_counters SET quantity = 100 WHERE period = '2026-05' AND metric = 'msgs'");
    long idem_before = query_long("SELECT count(*) FROM usage_idem");
    ingest_batch *bs[3];
    reset(2);
    ev[0].idempotency_key = "many-1";
    ev[1].idempotency_key = "many-2";
    ev[1].quantity = 2;
    bs[0] = build();
    reset(3);
    ev[0].idempotency_key = "many-2"; /* the first batch's */
    ev[0].quantity = 5;
    ev[1].idempotency_key = "many-3";
    ev[1].quantity = 4;
    ev[2].idempotency_key = "many-4";
    ev[2].account_id = "acc2";
    ev[2].quantity = 7;
    bs[1] = build();
    reset(2);
    ev[0].idempotency_key = "many-5";
    ev[1].idempotency_key = "many-1"; /* another account's: another event */
    ev[0].account_id = ev[1].account_id = "acc2";
    ev[1].quantity = 2;
    bs[2] = build();
    sql("BEGIN");
    CHECK(ingest_apply_many(bs, 3, ix, db, NOW / 86400, &err) == 0);
    sql("COMMIT");
    CHECK(ingest_accepted(bs[0]) == 2 && ingest_duplicates(bs[0]) == 0);
    CHECK(ingest_accepted(bs[1]) == 2 && ingest_duplicates(bs[1]) == 1);
    CHECK(ingest_accepted(bs[2]) == 2 && ingest_duplicates(bs[2]) == 0);
    CHECK(counter("acc1", "2026-05", "msgs") == 107);
    CHECK(counter("acc2", "2026-05", "msgs") == 110);
    CHECK(query_long("SELECT count(*) FROM usage_idem") == idem_before + 6);
    for (int i = 0; i < 3; i++)
        ingest_free(bs[i]);

    /* Each batch alone fits, both together do not. */
    sql("UPDATE usage_counters SET quantity = 9223372036854775802"
        " WHERE account_id = 'acc2' AND period = '2026-05' AND metric = 'msgs'");
    for (int i = 0; i < 2; i++) {
        reset(1);
        snprintf(keys[0], sizeof keys[0], "many-big-%d", i);
        ev[0].account_id = "acc2";
        ev[0].quantity = 3;
        bs[i] = build();
    }
    sql("BEGIN");
    CHECK(ingest_apply_many(bs, 2, ix, db, NOW / 86400, &err) == -1);
    CHECK_STATUS(err, GRPC_STATUS_FAILED_PRECONDITION);
    sql("ROLLBACK");
    CHECK(counter("acc2", "2026-05", "msgs") == 9223372036854775802);
    CHECK(query_long("SELECT count(*) FROM usage_idem") == idem_before + 6);
    for (int i = 0; i < 2; i++)
        ingest_free(bs[i]);
}

static void test_name_cache(void)
{
    int64_t acc = -1, dup = -1;
    mb_error err;
    reset(1);
    ev[0].idempotency_key = "cache-1";
    CHECK(apply(&acc, &dup, &err) == 0 && acc == 1);
    /* Closed behind the writer's back (no epoch change): the cached answer
     * stands - which is why every job that may change accounts starts a
     * new epoch (writer.c). */
    sql("UPDATE accounts SET state = 'closed' WHERE account_id = 'acc1'");
    ev[0].idempotency_key = "cache-2";
    CHECK(apply(&acc, &dup, &err) == 0 && acc == 1);
    store_conn_new_epoch(db);
    ev[0].idempotency_key = "cache-3";
    CHECK(apply(&acc, &dup, &err) == -1);
    CHECK_CONTAINS(err.msg, "events[0].account_id: the account is closed");
    sql("UPDATE accounts SET state = 'active' WHERE account_id = 'acc1'");
    store_conn_new_epoch(db);
    CHECK(apply(&acc, &dup, &err) == 0 && acc == 1);
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    randombytes_buf(key, sizeof key);
    RUN(test_validation);

    char path[512];
    mb_error err;
    CHECK(store_conn_open(unit_path(path, sizeof path, "ingest.db"), true, false, &db, &err) == 0);
    CHECK(store_migrate(db, NULL, &err) == 0);
    sql("INSERT INTO accounts(account_id, currency) VALUES ('acc1', 'EUR'), ('acc2', 'EUR');"
        "INSERT INTO accounts(account_id, currency, state) VALUES ('closed1', 'EUR', 'closed');"
        "INSERT INTO plans(plan_id, currency, base_fee_minor) VALUES ('p', 'EUR', 0);"
        "INSERT INTO plan_prices(plan_id, metric, position, description, unit_price_micros,"
        " included_quantity) VALUES ('p', 'msgs', 0, 'Messages', 2500, 0),"
        " ('p', 'seats', 1, 'Seats', 1000000, 0)");
    CHECK(idem_open(db, NULL, &ix, &err) == 0);
    CHECK((names = ingest_cache_new()) != NULL);
    RUN(test_apply_refusals);
    RUN(test_apply_counts);
    RUN(test_late_usage_and_overflow);
    RUN(test_apply_many);
    RUN(test_name_cache);
    ingest_cache_free(names);
    idem_free(ix);
    store_conn_close(db);
    return check_summary();
}
