/*
 * test_plans.c - plan validation (every rule names its field) and the
 * stored form: a plan read back is the plan written, prices in their order,
 * tiers intact, decimals canonical; an upsert replaces prices whole.
 */
#include "check.h"
#include "invoicing/plans.h"
#include "store/migrate.h"
#include "unit_tmp.h"

static Minbill__V1__Tier tiers[3];
static Minbill__V1__Tier *tier_ptrs[3];
static Minbill__V1__Price prices[2];
static Minbill__V1__Price *price_ptrs[2];
static Minbill__V1__Plan plan_msg;

/* A valid plan: a flat price and a tiered one. */
static void reset_plan(void)
{
    minbill__v1__plan__init(&plan_msg);
    plan_msg.plan_id = "pro-2026";
    plan_msg.currency = "EUR";
    plan_msg.base_fee_minor = 4900;
    for (int i = 0; i < 2; i++) {
        minbill__v1__price__init(&prices[i]);
        price_ptrs[i] = &prices[i];
    }
    prices[0].metric = "messages.whatsapp";
    prices[0].description = "WhatsApp messages";
    prices[0].unit_price = "0.0025";
    prices[0].included_quantity = 1000;
    prices[1].metric = "active_seats";
    prices[1].description = "Active seats (Sitze)";
    prices[1].unit_price = "";
    for (int i = 0; i < 3; i++) {
        minbill__v1__tier__init(&tiers[i]);
        tier_ptrs[i] = &tiers[i];
    }
    tiers[0].up_to = 10;
    tiers[0].unit_price = "5";
    tiers[1].up_to = 100;
    tiers[1].unit_price = "4.50";
    tiers[2].up_to = 0;
    tiers[2].unit_price = "4";
    prices[1].n_tiers = 3;
    prices[1].tiers = tier_ptrs;
    plan_msg.n_prices = 2;
    plan_msg.prices = price_ptrs;
}

static void expect_invalid(const char *field_and_rule)
{
    mb_arena_t *a = mb_arena_new(0);
    plan p;
    mb_error err;
    CHECK(plan_check(a, &plan_msg, &p, &err) == -1);
    CHECK_STATUS(err, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(err.msg, field_and_rule);
    mb_arena_free(a);
    reset_plan();
}

static void test_check_valid(void)
{
    reset_plan();
    mb_arena_t *a = mb_arena_new(0);
    plan p;
    mb_error err;
    CHECK(plan_check(a, &plan_msg, &p, &err) == 0);
    CHECK(p.n_prices == 2);
    CHECK(p.prices[0].unit_price_micros == 2500 && p.prices[0].included_quantity == 1000);
    CHECK(p.prices[1].n_tiers == 3 && p.prices[1].tiers[1].unit_price_micros == 4500000);
    /* A plan with no prices (base fee only) is fine. */
    plan_msg.n_prices = 0;
    CHECK(plan_check(a, &plan_msg, &p, &err) == 0);
    mb_arena_free(a);
    reset_plan();
}

static void test_check_rules(void)
{
    reset_plan();
    plan_msg.plan_id = "";
    expect_invalid("plan_id: must not be empty");
    plan_msg.plan_id = "pro 2026";
    expect_invalid("plan_id: may only contain");
    plan_msg.currency = "eur";
    expect_invalid("currency: must be an ISO 4217 code");
    plan_msg.base_fee_minor = -1;
    expect_invalid("base_fee_minor: must be >= 0");
    prices[1].metric = "";
    expect_invalid("prices[1].metric: required");
    prices[0].metric = "Messages";
    expect_invalid("prices[0].metric: must start with a lower-case letter");
    prices[0].metric = "messages/sms";
    expect_invalid("prices[0].metric: may only contain");
    prices[1].metric = "messages.whatsapp";
    expect_invalid("prices[1].metric: duplicates prices[0].metric");
    prices[0].description = "";
    expect_invalid("prices[0].description: must not be empty");
    prices[0].description = "line\nbreak";
    expect_invalid("prices[0].description: must not contain control characters");
    prices[0].unit_price = "0.0000025";
    expect_invalid("prices[0].unit_price: at most 6 decimal places");
    prices[0].unit_price = "";
    expect_invalid("prices[0].unit_price: required");
    prices[0].included_quantity = -5;
    expect_invalid("prices[0].included_quantity: must be >= 0");
    prices[1].unit_price = "1";
    expect_invalid("prices[1].unit_price: must be empty when tiers are given");
    tiers[2].up_to = 1000;
    expect_invalid("prices[1].tiers[2].up_to: the last tier must have up_to 0");
    tiers[1].up_to = 0;
    expect_invalid("prices[1].tiers[1].up_to: 0 (no upper bound) is only allowed on the last");
    tiers[1].up_to = 10;
    expect_invalid("prices[1].tiers[1].up_to: must increase");
    tiers[0].up_to = -1;
    expect_invalid("prices[1].tiers[0].up_to: must be >= 0");
    tiers[2].unit_price = "four";
    expect_invalid("prices[1].tiers[2].unit_price: must be a decimal number");
}

static void test_store_roundtrip(void)
{
    char path[512];
    mb_error err;
    store_conn_t *c = NULL;
    CHECK(store_conn_open(unit_path(path, sizeof path, "plans.db"), true, false, &c, &err) == 0);
    CHECK(store_migrate(c, NULL, &err) == 0);
    reset_plan();
    mb_arena_t *a = mb_arena_new(0);
    plan in, out;
    CHECK(plan_check(a, &plan_msg, &in, &err) == 0);
    CHECK(store_conn_exec(c, "BEGIN", &err) == 0);
    CHECK(plan_store(c, &in, &err) == 0);
    CHECK(store_conn_exec(c, "COMMIT", &err) == 0);
    CHECK(plan_load(c, a, "pro-2026", &out, &err) == 0);
    Minbill__V1__Plan *m = plan_to_proto(a, &out);
    CHECK(m != NULL && strcmp(m->currency, "EUR") == 0 && m->base_fee_minor == 4900);
    CHECK(m != NULL && m->n_prices == 2);
    if (m != NULL && m->n_prices == 2) {
        CHECK(strcmp(m->prices[0]->metric, "messages.whatsapp") == 0);
        CHECK(strcmp(m->prices[0]->unit_price, "0.0025") == 0);
        CHECK(m->prices[0]->included_quantity == 1000 && m->prices[0]->n_tiers == 0);
        CHECK(strcmp(m->prices[1]->metric, "active_seats") == 0);
        CHECK(strcmp(m->prices[1]->description, "Active seats (Sitze)") == 0);
        CHECK(strcmp(m->prices[1]->unit_price, "") == 0 && m->prices[1]->n_tiers == 3);
        CHECK(m->prices[1]->n_tiers == 3 && strcmp(m->prices[1]->tiers[1]->unit_price, "4.5") == 0);
        CHECK(m->prices[1]->n_tiers == 3 && m->prices[1]->tiers[2]->up_to == 0);
    }

    /* An upsert replaces the prices whole: one price left, one tier row gone. */
    plan_msg.n_prices = 1;
    plan_msg.currency = "USD";
    CHECK(plan_check(a, &plan_msg, &in, &err) == 0);
    CHECK(store_conn_exec(c, "BEGIN", &err) == 0);
    CHECK(plan_store(c, &in, &err) == 0);
    CHECK(store_conn_exec(c, "COMMIT", &err) == 0);
    CHECK(plan_load(c, a, "pro-2026", &out, &err) == 0);
    CHECK(out.n_prices == 1 && strcmp(out.currency, "USD") == 0);
    sqlite3_stmt *st;
    CHECK(sqlite3_prepare_v2(store_conn_db_borrow(c), "SELECT count(*) FROM plan_tiers", -1, &st,
                             NULL) == SQLITE_OK);
    CHECK(sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int(st, 0) == 0);
    sqlite3_finalize(st);

    CHECK(plan_load(c, a, "nope", &out, &err) == -1);
    CHECK_STATUS(err, GRPC_STATUS_NOT_FOUND);
    mb_arena_free(a);
    store_conn_close(c);
}

int main(void)
{
    RUN(test_check_valid);
    RUN(test_check_rules);
    RUN(test_store_roundtrip);
    return check_summary();
}
