/*
 * test_metering.c - Metering and the plan catalog against the real daemon.
 *
 * Covers: roles (platform ingests; finance and support read usage; admin
 * and finance manage plans; everyone else PERMISSION_DENIED); every
 * validation class of an event (INVALID_ARGUMENT naming index and field)
 * and of a plan; FAILED_PRECONDITION for unknown and closed accounts and
 * unknown metrics; a batch is all or nothing; duplicates within a batch,
 * across requests, across StreamUsage messages and across a restart;
 * StreamUsage totals (also with more batches than the daemon queues per
 * stream, an empty stream, a failing batch mid-stream, a cancelled stream
 * and an expired deadline); GetUsage (periods, NOT_FOUND, bad period); late
 * usage of an invoiced period; GetPlan / ListPlans with paging; that the
 * idempotency keys themselves are stored nowhere; and the purge of hashes
 * past the window (`minbilld purge` and the daemon's own).
 */
#include <signal.h>
#include <sys/wait.h>
#include <sqlite3.h>
#include <pthread.h>
#include <time.h>

#include "check.h"
#include "common.h"
#include "usage_util.h"

static mbt_server srv;
static char platform[MBT_KEY_MAX], finance[MBT_KEY_MAX], support[MBT_KEY_MAX], admin[MBT_KEY_MAX],
    payments[MBT_KEY_MAX], privacy[MBT_KEY_MAX];
static int64_t now;
static char period_now[8];

static mu_event ev(const char *key, const char *account, const char *metric, int64_t q)
{
    return (mu_event){
        .key = key, .account = account, .metric = metric, .quantity = q, .occurred = now - 60};
}

static int64_t usage_of(const char *account, const char *period, const char *metric)
{
    Minbill__V1__GetUsageResponse *r = NULL;
    mb_error st;
    int64_t q = -1;
    if (mu_usage(srv.ch, finance, account, period, &r, &st) == GRPC_STATUS_OK) {
        const Minbill__V1__UsageCounter *c = mu_counter(r, metric);
        q = c != NULL ? c->quantity : 0;
    } else {
        fprintf(stderr, "  GetUsage: %s %s\n", mb_status_name(st.code), st.msg);
    }
    if (r != NULL)
        protobuf_c_message_free_unpacked(&r->base, NULL);
    return q;
}

/* 1 if the file holds needle, 0 if not (or it does not exist). */
static int file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return 0;
    static char buf[1 << 16];
    size_t n = strlen(needle), have = 0, got;
    int found = 0;
    while (!found && (got = fread(buf + have, 1, sizeof buf - have, f)) > 0) {
        have += got;
        found = memmem(buf, have, needle, n) != NULL;
        /* keep the tail, a match may straddle two reads */
        size_t keep = have < n ? have : n - 1;
        memmove(buf, buf + have - keep, keep);
        have = keep;
    }
    fclose(f);
    return found;
}

static void record_expect(const mu_event *e, size_t n, grpc_status_code code, const char *msg)
{
    int64_t a = -1, d = -1;
    mb_error st;
    mu_record(srv.ch, platform, e, n, &a, &d, &st);
    CHECK_STATUS(st, code);
    if (msg != NULL)
        CHECK_CONTAINS(st.msg, msg);
}

static void test_roles(void)
{
    mu_event e = ev("role-1", "acc-a", "messages", 1);
    const char *const not_ingest[] = {finance, support, admin, payments, privacy};
    for (size_t i = 0; i < 5; i++) {
        int64_t a, d;
        mb_error st;
        mu_record(srv.ch, not_ingest[i], &e, 1, &a, &d, &st);
        CHECK_STATUS(st, GRPC_STATUS_PERMISSION_DENIED);
        mu_stream(srv.ch, not_ingest[i], &e, 1, 1, mbt_ms(10000), &a, &d, &st);
        CHECK_STATUS(st, GRPC_STATUS_PERMISSION_DENIED);
    }
    const char *const readers[] = {finance, support};
    const char *const not_readers[] = {platform, admin, payments, privacy};
    for (size_t i = 0; i < 2; i++) {
        Minbill__V1__GetUsageResponse *r = NULL;
        mb_error st;
        mu_usage(srv.ch, readers[i], "acc-a", period_now, &r, &st);
        CHECK_STATUS(st, GRPC_STATUS_OK);
        if (r != NULL)
            protobuf_c_message_free_unpacked(&r->base, NULL);
    }
    for (size_t i = 0; i < 4; i++) {
        Minbill__V1__GetUsageResponse *r = NULL;
        mb_error st;
        mu_usage(srv.ch, not_readers[i], "acc-a", period_now, &r, &st);
        CHECK_STATUS(st, GRPC_STATUS_PERMISSION_DENIED);
    }
    const char *const m[] = {"messages"};
    const char *const planners[] = {admin, finance};
    const char *const not_planners[] = {platform, support, payments, privacy};
    Minbill__V1__GetPlanRequest gp = MINBILL__V1__GET_PLAN_REQUEST__INIT;
    gp.plan_id = "basic";
    Minbill__V1__ListPlansRequest lp = MINBILL__V1__LIST_PLANS_REQUEST__INIT;
    uint8_t gbuf[64], lbuf[16];
    size_t glen = minbill__v1__get_plan_request__pack(&gp, gbuf);
    size_t llen = minbill__v1__list_plans_request__pack(&lp, lbuf);
    for (size_t i = 0; i < 2; i++) {
        mb_error st;
        CHECK(mu_plan(srv.ch, planners[i], "basic", m, 1, &st) == GRPC_STATUS_OK);
        CHECK(mbt_call(srv.ch, MU_GET_PLAN, planners[i], gbuf, glen, &st) == GRPC_STATUS_OK);
        CHECK(mbt_call(srv.ch, MU_LIST_PLANS, planners[i], lbuf, llen, &st) == GRPC_STATUS_OK);
    }
    for (size_t i = 0; i < 4; i++) {
        mb_error st;
        CHECK(mu_plan(srv.ch, not_planners[i], "basic", m, 1, &st) ==
              GRPC_STATUS_PERMISSION_DENIED);
        CHECK(mbt_call(srv.ch, MU_GET_PLAN, not_planners[i], gbuf, glen, &st) ==
              GRPC_STATUS_PERMISSION_DENIED);
        CHECK(mbt_call(srv.ch, MU_LIST_PLANS, not_planners[i], lbuf, llen, &st) ==
              GRPC_STATUS_PERMISSION_DENIED);
    }
    mb_error st;
    CHECK(mu_record(srv.ch, NULL, &e, 1, NULL, NULL, &st) == GRPC_STATUS_UNAUTHENTICATED);
}

static void test_plans(void)
{
    mb_error st;
    /* The catalog: "messages" and "seats" (basic has "messages"). */
    const char *const m[] = {"messages", "seats"};
    CHECK(mu_plan(srv.ch, admin, "pro", m, 2, &st) == GRPC_STATUS_OK);

    /* A tiered plan comes back normalised. */
    Minbill__V1__Tier t[2], *tp[2] = {&t[0], &t[1]};
    minbill__v1__tier__init(&t[0]);
    minbill__v1__tier__init(&t[1]);
    t[0].up_to = 1000;
    t[0].unit_price = "0.0100";
    t[1].unit_price = "0.005";
    Minbill__V1__Price pr = MINBILL__V1__PRICE__INIT, *pp = &pr;
    pr.metric = "conversations";
    pr.description = "Conversations";
    pr.included_quantity = 50;
    pr.n_tiers = 2;
    pr.tiers = tp;
    Minbill__V1__Plan p = MINBILL__V1__PLAN__INIT;
    p.plan_id = "tiered";
    p.currency = "EUR";
    p.base_fee_minor = 9900;
    p.n_prices = 1;
    p.prices = &pp;
    ProtobufCMessage *resp = NULL;
    CHECK(mbc_unary(srv.ch, MU_UPSERT_PLAN, finance, &p.base, &minbill__v1__plan__descriptor,
                    mbt_ms(10000), &resp, &st) == 0);
    Minbill__V1__Plan *got = (Minbill__V1__Plan *)resp;
    CHECK(got != NULL && got->base_fee_minor == 9900 && got->n_prices == 1);
    if (got != NULL && got->n_prices == 1 && got->prices[0]->n_tiers == 2) {
        CHECK(strcmp(got->prices[0]->tiers[0]->unit_price, "0.01") == 0);
        CHECK(got->prices[0]->tiers[1]->up_to == 0);
        CHECK(got->prices[0]->included_quantity == 50);
    }
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);

    /* Validation names the field. */
    t[1].up_to = 500;
    CHECK(mbc_unary(srv.ch, MU_UPSERT_PLAN, admin, &p.base, &minbill__v1__plan__descriptor,
                    mbt_ms(10000), &resp, &st) != 0);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "prices[0].tiers[1].up_to");
    t[1].up_to = 0;
    t[1].unit_price = "0.0000001";
    CHECK(mbc_unary(srv.ch, MU_UPSERT_PLAN, admin, &p.base, &minbill__v1__plan__descriptor,
                    mbt_ms(10000), &resp, &st) != 0);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "prices[0].tiers[1].unit_price: at most 6 decimal places");
    p.currency = "euro";
    CHECK(mbc_unary(srv.ch, MU_UPSERT_PLAN, admin, &p.base, &minbill__v1__plan__descriptor,
                    mbt_ms(10000), &resp, &st) != 0);
    CHECK_CONTAINS(st.msg, "currency:");

    /* GetPlan */
    Minbill__V1__GetPlanRequest gp = MINBILL__V1__GET_PLAN_REQUEST__INIT;
    gp.plan_id = "tiered";
    CHECK(mbc_unary(srv.ch, MU_GET_PLAN, finance, &gp.base, &minbill__v1__plan__descriptor,
                    mbt_ms(10000), &resp, &st) == 0);
    got = (Minbill__V1__Plan *)resp;
    CHECK(got != NULL && strcmp(got->plan_id, "tiered") == 0 && got->n_prices == 1);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    gp.plan_id = "nope";
    CHECK(mbc_unary(srv.ch, MU_GET_PLAN, finance, &gp.base, &minbill__v1__plan__descriptor,
                    mbt_ms(10000), &resp, &st) != 0);
    CHECK_STATUS(st, GRPC_STATUS_NOT_FOUND);

    /* ListPlans pages through basic, pro, tiered, z1, z2 in id order. */
    const char *const one[] = {"messages"};
    CHECK(mu_plan(srv.ch, admin, "z1", one, 1, &st) == GRPC_STATUS_OK);
    CHECK(mu_plan(srv.ch, admin, "z2", one, 1, &st) == GRPC_STATUS_OK);
    Minbill__V1__ListPlansRequest lp = MINBILL__V1__LIST_PLANS_REQUEST__INIT;
    lp.page_size = 2;
    char seen[256] = "", token[80] = "";
    int pages = 0;
    do {
        lp.page_token = token;
        CHECK(mbc_unary(srv.ch, MU_LIST_PLANS, admin, &lp.base,
                        &minbill__v1__list_plans_response__descriptor, mbt_ms(10000), &resp,
                        &st) == 0);
        Minbill__V1__ListPlansResponse *l = (Minbill__V1__ListPlansResponse *)resp;
        if (l == NULL)
            break;
        CHECK(l->n_plans <= 2);
        for (size_t i = 0; i < l->n_plans; i++) {
            strcat(seen, l->plans[i]->plan_id);
            strcat(seen, " ");
        }
        snprintf(token, sizeof token, "%s", l->next_page_token);
        protobuf_c_message_free_unpacked(resp, NULL);
    } while (token[0] != '\0' && ++pages < 10);
    CHECK(strcmp(seen, "basic pro tiered z1 z2 ") == 0);
    if (strcmp(seen, "basic pro tiered z1 z2 ") != 0)
        fprintf(stderr, "  listed: %s\n", seen);
    lp.page_size = 501;
    lp.page_token = "";
    CHECK(mbc_unary(srv.ch, MU_LIST_PLANS, admin, &lp.base,
                    &minbill__v1__list_plans_response__descriptor, mbt_ms(10000), &resp, &st) != 0);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
}

static void test_validation(void)
{
    char long_key[130];
    memset(long_key, 'x', 129);
    long_key[129] = '\0';
    mu_event e[3] = {ev("v-0", "acc-a", "messages", 1), ev("v-1", "acc-a", "messages", 1),
                     ev("v-2", "acc-a", "messages", 1)};
    record_expect(e, 0, GRPC_STATUS_INVALID_ARGUMENT, "events: at least one event");
    e[2].key = "";
    record_expect(e, 3, GRPC_STATUS_INVALID_ARGUMENT, "events[2].idempotency_key: required");
    e[2].key = long_key;
    record_expect(e, 3, GRPC_STATUS_INVALID_ARGUMENT, "events[2].idempotency_key: must be at most");
    e[2].key = "a\x01";
    record_expect(e, 3, GRPC_STATUS_INVALID_ARGUMENT,
                  "events[2].idempotency_key: must be printable");
    e[2].key = "v-2";
    e[1].account = "";
    record_expect(e, 3, GRPC_STATUS_INVALID_ARGUMENT, "events[1].account_id: required");
    e[1].account = "acc-a";
    e[1].metric = "";
    record_expect(e, 3, GRPC_STATUS_INVALID_ARGUMENT, "events[1].metric: required");
    e[1].metric = "messages";
    e[0].quantity = 0;
    record_expect(e, 3, GRPC_STATUS_INVALID_ARGUMENT,
                  "events[0].quantity: must be > 0 and <= 1000000000000");
    e[0].quantity = 1000000000001LL;
    record_expect(e, 3, GRPC_STATUS_INVALID_ARGUMENT, "events[0].quantity");
    e[0].quantity = 1;
    e[1].occurred = 0;
    record_expect(e, 3, GRPC_STATUS_INVALID_ARGUMENT, "events[1].occurred_at: must be set");
    e[1].occurred = now + 3600;
    record_expect(e, 3, GRPC_STATUS_INVALID_ARGUMENT,
                  "events[1].occurred_at: must not be more than 5 minutes in the future");
    e[1].occurred = now - 63 * 86400;
    record_expect(e, 3, GRPC_STATUS_INVALID_ARGUMENT,
                  "events[1].occurred_at: older than the acceptance window (62 days)");
    e[1].occurred = now - 60;
    /* Nothing of the refused batches was counted, and their keys are free. */
    CHECK(usage_of("acc-a", period_now, "messages") == 0);
    int64_t a = -1, d = -1;
    mb_error st;
    CHECK(mu_record(srv.ch, platform, e, 3, &a, &d, &st) == GRPC_STATUS_OK);
    CHECK(a == 3 && d == 0);
    CHECK(usage_of("acc-a", period_now, "messages") == 3);
}

static void test_preconditions_and_atomicity(void)
{
    mu_event e[4] = {ev("p-0", "acc-a", "messages", 5), ev("p-1", "acc-b", "seats", 7),
                     ev("p-2", "acc-a", "messages", 11), ev("p-3", "acc-a", "messages", 13)};
    int64_t before = usage_of("acc-a", period_now, "messages");
    e[3].account = "acc-nobody";
    record_expect(e, 4, GRPC_STATUS_FAILED_PRECONDITION, "events[3].account_id: no such account");
    e[3].account = "acc-closed";
    record_expect(e, 4, GRPC_STATUS_FAILED_PRECONDITION,
                  "events[3].account_id: the account is closed");
    e[3].account = "acc-a";
    e[3].metric = "telegrams";
    record_expect(e, 4, GRPC_STATUS_FAILED_PRECONDITION,
                  "events[3].metric: not in the metric catalog");
    /* All or nothing: the three good events were not counted either. */
    CHECK(usage_of("acc-a", period_now, "messages") == before);
    CHECK(usage_of("acc-b", period_now, "seats") == 0);
    e[3].metric = "messages";
    int64_t a = -1, d = -1;
    mb_error st;
    CHECK(mu_record(srv.ch, platform, e, 4, &a, &d, &st) == GRPC_STATUS_OK);
    CHECK(a == 4 && d == 0);
    CHECK(usage_of("acc-a", period_now, "messages") == before + 29);
    CHECK(usage_of("acc-b", period_now, "seats") == 7);
}

/* Concurrent calls share the writer's groups, where their batches are
 * counted together: a call naming an unknown account must still fail alone,
 * with its own message, and every other call count exactly once. */
enum { MIXED_THREADS = 8, MIXED_CALLS = 25 };

typedef struct mixed_client {
    pthread_t thread;
    int id;
    int ok, refused, wrong;
    int64_t counted;
} mixed_client;

static void *mixed_main(void *arg)
{
    mixed_client *c = arg;
    mbc_channel_t *ch = mbc_channel_new(srv.d.target);
    char keys[2][32];
    for (int i = 0; ch != NULL && i < MIXED_CALLS; i++) {
        bool bad = (c->id + i) % 3 == 0;
        snprintf(keys[0], sizeof keys[0], "mixed-%d-%d-a", c->id, i);
        snprintf(keys[1], sizeof keys[1], "mixed-%d-%d-b", c->id, i);
        mu_event e[2] = {ev(keys[0], "acc-mixed", "messages", 1 + c->id),
                         ev(keys[1], bad ? "acc-nobody" : "acc-mixed", "messages", 100)};
        int64_t a = -1, d = -1;
        mb_error st;
        int code = mu_record(ch, platform, e, 2, &a, &d, &st);
        if (bad && code == GRPC_STATUS_FAILED_PRECONDITION &&
            strstr(st.msg, "events[1].account_id: no such account") != NULL) {
            c->refused++;
        } else if (!bad && code == GRPC_STATUS_OK && a == 2 && d == 0) {
            c->ok++;
            c->counted += 101 + c->id;
        } else {
            c->wrong++;
        }
    }
    mbc_channel_free(ch);
    return NULL;
}

static void test_mixed_concurrent_calls(void)
{
    static mixed_client cl[MIXED_THREADS];
    int64_t before = usage_of("acc-mixed", period_now, "messages"), expect = 0;
    for (int t = 0; t < MIXED_THREADS; t++) {
        cl[t] = (mixed_client){.id = t};
        CHECK(pthread_create(&cl[t].thread, NULL, mixed_main, &cl[t]) == 0);
    }
    int ok = 0, refused = 0, wrong = 0;
    for (int t = 0; t < MIXED_THREADS; t++) {
        pthread_join(cl[t].thread, NULL);
        ok += cl[t].ok;
        refused += cl[t].refused;
        wrong += cl[t].wrong;
        expect += cl[t].counted;
    }
    CHECK(wrong == 0);
    CHECK(ok + refused == MIXED_THREADS * MIXED_CALLS && refused > 0);
    CHECK(usage_of("acc-mixed", period_now, "messages") == before + expect);
}

static void test_duplicates(void)
{
    int64_t a = -1, d = -1;
    mb_error st;
    int64_t before = usage_of("acc-b", period_now, "messages");
    mu_event e[3] = {ev("dupkey-4711-a", "acc-b", "messages", 2),
                     ev("dupkey-4711-b", "acc-b", "messages", 3),
                     ev("dupkey-4711-a", "acc-b", "messages", 2)};
    CHECK(mu_record(srv.ch, platform, e, 3, &a, &d, &st) == GRPC_STATUS_OK);
    CHECK(a == 2 && d == 1);
    CHECK(mu_record(srv.ch, platform, e, 3, &a, &d, &st) == GRPC_STATUS_OK);
    CHECK(a == 0 && d == 3);
    /* The same key on another account is another event. */
    e[0].account = "acc-a";
    CHECK(mu_record(srv.ch, platform, e, 1, &a, &d, &st) == GRPC_STATUS_OK);
    CHECK(a == 1 && d == 0);
    CHECK(usage_of("acc-b", period_now, "messages") == before + 5);
    /* Keys are kept only as keyed hashes: not in the database or its WAL. */
    char path[sizeof srv.d.db + 8];
    const char *const suffix[] = {"", "-wal"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s%s", srv.d.db, suffix[i]);
        CHECK(file_contains(path, "dupkey-4711") == 0);
    }
}

static void test_stream(void)
{
    enum { BATCHES = 40, PER = 50 };
    static mu_event e[BATCHES * PER];
    static char keys[BATCHES * PER][24];
    int64_t expect = 0;
    for (int i = 0; i < BATCHES * PER; i++) {
        snprintf(keys[i], sizeof keys[i], "s-%d", i % (BATCHES * PER - 100)); /* 100 repeats */
        e[i] = ev(keys[i], i % 2 ? "acc-a" : "acc-c", "seats", 1 + i % 5);
        if (i < BATCHES * PER - 100)
            expect += 1 + i % 5;
    }
    int64_t before =
        usage_of("acc-a", period_now, "seats") + usage_of("acc-c", period_now, "seats");
    int64_t a = -1, d = -1;
    mb_error st;
    /* More batches than the daemon queues per stream: it pauses and resumes. */
    CHECK(mu_stream(srv.ch, platform, e, BATCHES, PER, mbt_ms(30000), &a, &d, &st) ==
          GRPC_STATUS_OK);
    CHECK(a == BATCHES * PER - 100 && d == 100);
    CHECK(usage_of("acc-a", period_now, "seats") + usage_of("acc-c", period_now, "seats") ==
          before + expect);
    /* Again: all duplicates. */
    CHECK(mu_stream(srv.ch, platform, e, BATCHES, PER, mbt_ms(30000), &a, &d, &st) ==
          GRPC_STATUS_OK);
    CHECK(a == 0 && d == BATCHES * PER);
    /* An empty stream answers zeros. */
    CHECK(mu_stream(srv.ch, platform, e, 0, PER, mbt_ms(10000), &a, &d, &st) == GRPC_STATUS_OK);
    CHECK(a == 0 && d == 0);

    /* A failing batch ends the stream with its error; the batches before
     * it stay counted, the ones after are not read. */
    mu_event f[3 * 2] = {ev("f-0", "acc-a", "seats", 1), ev("f-1", "acc-a", "seats", 1),
                         ev("f-2", "acc-a", "seats", 1), ev("f-3", "acc-ghost", "seats", 1),
                         ev("f-4", "acc-a", "seats", 1), ev("f-5", "acc-a", "seats", 1)};
    before = usage_of("acc-a", period_now, "seats");
    CHECK(mu_stream(srv.ch, platform, f, 3, 2, mbt_ms(10000), &a, &d, &st) ==
          GRPC_STATUS_FAILED_PRECONDITION);
    CHECK_CONTAINS(st.msg, "messages[1].events[1].account_id: no such account");
    CHECK(usage_of("acc-a", period_now, "seats") == before + 2);
    f[3].account = "acc-a";
    CHECK(mu_stream(srv.ch, platform, f, 3, 2, mbt_ms(10000), &a, &d, &st) == GRPC_STATUS_OK);
    CHECK(a == 4 && d == 2);
    /* A bad message is INVALID_ARGUMENT like RecordUsage's. */
    f[5].quantity = -1;
    f[5].key = "f-6";
    CHECK(mu_stream(srv.ch, platform, f, 3, 2, mbt_ms(10000), &a, &d, &st) ==
          GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "messages[2].events[1].quantity");
}

/* Streams that end badly: the client goes away mid-stream, or the deadline
 * passes. The daemon must finish them (teardown checks that no call was
 * left for the shutdown grace) and keep serving. */
static void test_stream_cancel_and_deadline(void)
{
    enum { PER = 200 };
    static mu_event e[PER];
    static char keys[PER][24];
    for (int round = 0; round < 5; round++) {
        mbc_call_t *call = mbc_call_start(srv.ch, MU_STREAM, platform, mbt_ms(10000));
        for (int b = 0; b < 8; b++) {
            for (int i = 0; i < PER; i++) {
                snprintf(keys[i], sizeof keys[i], "c-%d-%d-%d", round, b, i);
                e[i] = ev(keys[i], "acc-c", "messages", 1);
            }
            size_t len;
            uint8_t *msg = mu_pack(e, PER, &len);
            mbc_call_send(call, msg, len);
            free(msg);
        }
        mbc_call_free(call); /* cancels */
    }
    mbc_call_t *call = mbc_call_start(srv.ch, MU_STREAM, platform, 300);
    size_t len;
    uint8_t *msg = mu_pack(e, 1, &len);
    mbc_call_send(call, msg, len);
    free(msg);
    mb_error st;
    mbt_sleep_ms(600);
    mbc_call_finish(call, &st);
    CHECK_STATUS(st, GRPC_STATUS_DEADLINE_EXCEEDED);
    mbc_call_free(call);
    CHECK(mbt_health_ok(srv.ch));
    CHECK(usage_of("acc-c", period_now, "messages") >= 0);
}

static void test_get_usage(void)
{
    Minbill__V1__GetUsageResponse *r = NULL;
    mb_error st;
    /* Last month's usage lands in last month's counter. */
    int64_t last_month = now - 40 * 86400;
    char prev[8];
    mu_period(last_month, prev);
    mu_event e = ev("g-0", "acc-d", "messages", 42);
    e.occurred = last_month;
    int64_t a, d;
    CHECK(mu_record(srv.ch, platform, &e, 1, &a, &d, &st) == GRPC_STATUS_OK);
    CHECK(mu_usage(srv.ch, support, "acc-d", prev, &r, &st) == GRPC_STATUS_OK);
    CHECK(r != NULL && r->n_counters == 1);
    if (r != NULL && r->n_counters == 1) {
        CHECK(strcmp(r->counters[0]->account_id, "acc-d") == 0);
        CHECK(strcmp(r->counters[0]->period, prev) == 0);
        CHECK(strcmp(r->counters[0]->metric, "messages") == 0);
        CHECK(r->counters[0]->quantity == 42 && r->counters[0]->invoiced_quantity == 0 &&
              r->counters[0]->late_quantity == 0);
    }
    if (r != NULL)
        protobuf_c_message_free_unpacked(&r->base, NULL);
    r = NULL;
    CHECK(mu_usage(srv.ch, support, "acc-d", period_now, &r, &st) == GRPC_STATUS_OK);
    CHECK(r != NULL && r->n_counters == 0);
    if (r != NULL)
        protobuf_c_message_free_unpacked(&r->base, NULL);
    r = NULL;
    CHECK(mu_usage(srv.ch, support, "acc-unknown", prev, &r, &st) == GRPC_STATUS_NOT_FOUND);
    CHECK(mu_usage(srv.ch, support, "acc-d", "2026-13", &r, &st) == GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "period:");
    CHECK(mu_usage(srv.ch, support, "", prev, &r, &st) == GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(st.msg, "account_id:");
}

static void test_late_usage(void)
{
    /* What invoicing does when it issues acc-e's invoice for this period. */
    mu_event e = ev("l-0", "acc-e", "messages", 100);
    int64_t a, d;
    mb_error st;
    CHECK(mu_record(srv.ch, platform, &e, 1, &a, &d, &st) == GRPC_STATUS_OK);
    char sql[512];
    snprintf(sql, sizeof sql,
             "INSERT INTO invoiced_periods(account_id, period, invoice_number)"
             " VALUES ('acc-e', '%s', 'INV-2026-0001');"
             "UPDATE usage_counters SET invoiced_quantity = quantity"
             " WHERE account_id = 'acc-e' AND period = '%s'",
             period_now, period_now);
    CHECK(mu_sql(&srv, sql) == 0);
    mu_event late[2] = {ev("l-1", "acc-e", "messages", 7), ev("l-2", "acc-e", "seats", 3)};
    CHECK(mu_record(srv.ch, platform, late, 2, &a, &d, &st) == GRPC_STATUS_OK);
    CHECK(a == 2);
    Minbill__V1__GetUsageResponse *r = NULL;
    CHECK(mu_usage(srv.ch, finance, "acc-e", period_now, &r, &st) == GRPC_STATUS_OK);
    const Minbill__V1__UsageCounter *m = mu_counter(r, "messages"), *s = mu_counter(r, "seats");
    CHECK(m != NULL && m->quantity == 107 && m->invoiced_quantity == 100 && m->late_quantity == 7);
    CHECK(s != NULL && s->quantity == 3 && s->invoiced_quantity == 0 && s->late_quantity == 3);
    if (r != NULL)
        protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void test_restart_keeps_keys(void)
{
    mu_event e[2] = {ev("r-0", "acc-f", "messages", 4), ev("r-1", "acc-f", "messages", 6)};
    int64_t a, d;
    mb_error st;
    CHECK(mu_record(srv.ch, platform, e, 2, &a, &d, &st) == GRPC_STATUS_OK && a == 2);
    CHECK(mbt_stop(&srv, SIGTERM) == 0);
    CHECK(mbt_serve(&srv, NULL) == 0);
    /* A clean stop saved the filter and this start loaded it. */
    CHECK(mbt_log_count(&srv, "event=usage_filter_saved", NULL) >= 1);
    int saved = mbt_log_count(&srv, "event=usage_index_loaded", "filter=saved");
    CHECK(saved >= 1);
    CHECK(mu_record(srv.ch, platform, e, 2, &a, &d, &st) == GRPC_STATUS_OK);
    CHECK(a == 0 && d == 2);
    /* A key counted after that start, then a kill: the saved filter lacks
     * it, so the next start adds it from the table (the run it went to is
     * newer than the file) - and the key stays spent. */
    mu_event late = ev("r-2", "acc-f", "messages", 5);
    CHECK(mu_record(srv.ch, platform, &late, 1, &a, &d, &st) == GRPC_STATUS_OK && a == 1);
    int status = 0;
    CHECK(mbt_daemon_stop(&srv.d, SIGKILL, 10, &status) == 0 && WIFSIGNALED(status));
    mbc_channel_free(srv.ch);
    srv.ch = NULL;
    CHECK(mbt_serve(&srv, NULL) == 0);
    CHECK(mbt_log_count(&srv, "event=usage_index_loaded", "filter=saved rescanned=1 ") == 1);
    CHECK(mu_record(srv.ch, platform, &late, 1, &a, &d, &st) == GRPC_STATUS_OK);
    CHECK(a == 0 && d == 1);
    CHECK(mu_record(srv.ch, platform, e, 2, &a, &d, &st) == GRPC_STATUS_OK);
    CHECK(a == 0 && d == 2);
    CHECK(usage_of("acc-f", period_now, "messages") == 15);
}

static long idem_rows(const char *where)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM usage_idem WHERE %s", where);
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    long n = -1;
    if (sqlite3_open_v2(srv.d.db, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        n = (long)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
}

/* An expired run (hashes 100 days old) for the purges to find. */
static void plant_expired_run(int run, int hashes)
{
    char sql[512];
    long day = (long)(now / 86400) - 100;
    snprintf(sql, sizeof sql,
             "INSERT INTO usage_idem_runs(run, first_day, last_day) VALUES (%d, %ld, %ld);"
             "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < %d)"
             " INSERT INTO usage_idem(run, hash) SELECT %d, randomblob(16) FROM n",
             run, day, day, hashes, run);
    CHECK(mu_sql(&srv, sql) == 0);
}

/* Hashes past the window go: `minbilld purge` (dry run first) while the
 * daemon is down, and the daemon's own purge soon after it starts. Recent
 * hashes stay. */
static void test_purge(void)
{
    long recent = idem_rows("run >= 0");
    CHECK(recent > 0);
    CHECK(mbt_stop(&srv, SIGTERM) == 0);
    plant_expired_run(-2, 3);
    char out[512];
    const char *const dry[] = {"purge",        "--db",      srv.d.db, "--key-file",
                               srv.d.key_file, "--dry-run", NULL};
    CHECK(mbt_run_minbilld(dry, out, sizeof out) == 0);
    CHECK_CONTAINS(out, "would delete 3 usage idempotency hashes");
    CHECK(idem_rows("run = -2") == 3);
    const char *const purge[] = {"purge", "--db", srv.d.db, "--key-file", srv.d.key_file, NULL};
    CHECK(mbt_run_minbilld(purge, out, sizeof out) == 0);
    CHECK_CONTAINS(out, "deleted 3 usage idempotency hashes");
    CHECK(idem_rows("run = -2") == 0);

    plant_expired_run(-1, 5);
    CHECK(mbt_serve(&srv, NULL) == 0);
    double until = mbt_now() + mbt_ms(10000) / 1000.0;
    while (idem_rows("run = -1") != 0 && mbt_now() < until)
        mbt_sleep_ms(50);
    CHECK(idem_rows("run = -1") == 0);
    /* Logged by the completer thread after the commit: it may lag. */
    while (mbt_log_count(&srv, "event=purge category=usage_idempotency_hashes removed=5", NULL) ==
               0 &&
           mbt_now() < until)
        mbt_sleep_ms(50);
    CHECK(mbt_log_count(&srv, "event=purge category=usage_idempotency_hashes removed=5", NULL) ==
          1);
    CHECK(idem_rows("run >= 0") == recent);
    /* The daemon still counts and deduplicates. */
    mu_event e = ev("r-0", "acc-f", "messages", 4);
    int64_t a = -1, d = -1;
    mb_error st;
    CHECK(mu_record(srv.ch, platform, &e, 1, &a, &d, &st) == GRPC_STATUS_OK && d == 1);
}

int main(void)
{
    now = (int64_t)time(NULL);
    mu_period(now - 60, period_now);
    if (mbt_up(&srv, NULL) != 0)
        return 1;
    mbt_key(&srv, "platform", platform);
    mbt_key(&srv, "finance", finance);
    mbt_key(&srv, "support", support);
    mbt_key(&srv, "admin", admin);
    mbt_key(&srv, "payments", payments);
    mbt_key(&srv, "privacy", privacy);
    const char *const accounts[] = {"acc-a", "acc-b", "acc-c",     "acc-d",
                                    "acc-e", "acc-f", "acc-closed", "acc-mixed"};
    CHECK(mu_add_accounts(&srv, accounts, 8) == 0);
    CHECK(mu_sql(&srv, "UPDATE accounts SET state = 'closed' WHERE account_id = 'acc-closed'") ==
          0);
    RUN(test_roles);
    RUN(test_plans);
    RUN(test_validation);
    RUN(test_preconditions_and_atomicity);
    RUN(test_mixed_concurrent_calls);
    RUN(test_duplicates);
    RUN(test_stream);
    RUN(test_stream_cancel_and_deadline);
    RUN(test_get_usage);
    RUN(test_late_usage);
    RUN(test_restart_keeps_keys);
    RUN(test_purge);
    CHECK(mbt_down(&srv) == 0);
    return check_summary();
}
