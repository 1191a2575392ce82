/*
 * test_rating.c - plan and counters to invoice lines and totals: base fee,
 * included quantity, graduated tiers counted on the period's cumulative
 * quantity, late usage of earlier months (also across a tier bound),
 * half-up rounding per line in EUR, JPY and KWD, exact 128-bit products
 * near INT64_MAX and OUT_OF_RANGE instead of a wrong amount, VAT rounded
 * once per breakdown, and the reverse-charge and non-EU invoices.
 */
#include "check.h"
#include "invoicing/rating.h"

#define EUR 2
#define JPY 0
#define KWD 3

typedef struct want_line {
    const char *description;
    const char *metric;
    const char *period;
    int64_t quantity;
    int64_t unit_price_micros;
    int64_t net_minor;
} want_line;

static mb_arena_t *arena;

/* EN 16931 / PEPPOL-EN16931-R120: quantity x unit price, rounded to the
 * minor unit, is the line amount. Computed here the slow way (long
 * division in decimal), independent of rating.c's arithmetic. */
static bool line_consistent(const rating_line *l, int minor_units)
{
    __int128 exact = (__int128)l->quantity * l->unit_price_micros; /* in micros */
    __int128 scale = 1;
    for (int i = minor_units; i < 6; i++)
        scale *= 10;
    __int128 twice = 2 * (exact - (__int128)l->net_minor * scale); /* 2 x remainder */
    return twice >= -scale && twice < scale;
}

static void expect_lines(const plan *p, const char *period, int minor_units,
                         const rating_counter *c, size_t n, const want_line *want, size_t n_want,
                         size_t want_unpriced)
{
    rating_line *lines = NULL;
    size_t n_lines = 99, unpriced = 99;
    mb_error err;
    int rc = rating_lines(arena, p, period, minor_units, c, n, &lines, &n_lines, &unpriced, &err);
    if (rc != 0)
        fprintf(stderr, "  rating_lines: %s\n", err.msg);
    CHECK(rc == 0);
    if (n_lines != n_want)
        fprintf(stderr, "  %zu lines, want %zu\n", n_lines, n_want);
    CHECK(n_lines == n_want);
    CHECK(unpriced == want_unpriced);
    for (size_t i = 0; rc == 0 && i < n_lines && i < n_want; i++) {
        const rating_line *l = &lines[i];
        const want_line *w = &want[i];
        bool ok = strcmp(l->description, w->description) == 0 &&
                  strcmp(l->metric, w->metric) == 0 && strcmp(l->period, w->period) == 0 &&
                  l->quantity == w->quantity && l->unit_price_micros == w->unit_price_micros &&
                  l->net_minor == w->net_minor;
        if (!ok)
            fprintf(stderr,
                    "  line %zu: \"%s\" %s %s q=%lld p=%lld net=%lld\n"
                    "     want: \"%s\" %s %s q=%lld p=%lld net=%lld\n",
                    i, l->description, l->metric, l->period, (long long)l->quantity,
                    (long long)l->unit_price_micros, (long long)l->net_minor, w->description,
                    w->metric, w->period, (long long)w->quantity, (long long)w->unit_price_micros,
                    (long long)w->net_minor);
        CHECK(ok);
        CHECK(line_consistent(l, minor_units));
    }
}

static void expect_error(const plan *p, const char *period, int minor_units,
                         const rating_counter *c, size_t n, grpc_status_code code,
                         const char *needle)
{
    rating_line *lines = (rating_line *)1;
    size_t n_lines = 99, unpriced = 99;
    mb_error err;
    CHECK(rating_lines(arena, p, period, minor_units, c, n, &lines, &n_lines, &unpriced, &err) ==
          -1);
    CHECK_STATUS(err, code);
    CHECK_CONTAINS(err.msg, needle);
    CHECK(lines == NULL && n_lines == 0);
}

/* Messages: 500 included; units 1-1000 at 0.01, 1001-10000 at 0.005, then
 * 0.002. Minutes: flat 0.05, 100 included. */
static plan_tier msg_tiers[] = {{1000, 10000}, {10000, 5000}, {0, 2000}};
static plan_price prices[] = {
    {"msgs", "Messages sent", 0, 500, 3, msg_tiers},
    {"minutes", "Call minutes", 50000, 100, 0, NULL},
};
static const plan PLAN = {"p1", "EUR", 4900, 2, prices};
static const plan NO_FEE = {"p0", "EUR", 0, 2, prices};

static void test_base_fee_only(void)
{
    want_line fee[] = {{"Base fee, plan p1", "", "2026-10", 1, 49000000, 4900}};
    expect_lines(&PLAN, "2026-10", EUR, NULL, 0, fee, 1, 0);
    /* Usage within the included quantity bills nothing either. */
    rating_counter c[] = {{"2026-10", "msgs", 500, 0}, {"2026-10", "minutes", 0, 0}};
    expect_lines(&PLAN, "2026-10", EUR, c, 2, fee, 1, 0);
}

static void test_zero_usage(void)
{
    rating_counter c[] = {{"2026-10", "msgs", 0, 0}, {"2026-10", "minutes", 100, 0}};
    expect_lines(&NO_FEE, "2026-10", EUR, NULL, 0, NULL, 0, 0);
    expect_lines(&NO_FEE, "2026-10", EUR, c, 2, NULL, 0, 0);
}

static void test_included_flat(void)
{
    rating_counter c[] = {{"2026-10", "minutes", 250, 0}};
    want_line w[] = {{"Call minutes", "minutes", "2026-10", 150, 50000, 750}};
    expect_lines(&NO_FEE, "2026-10", EUR, c, 1, w, 1, 0);
}

static void test_tiers(void)
{
    /* Tiers count from the period's first unit; the included ones are free
     * first. Counting tiers from the first billable unit instead would bill
     * 1000 units at 0.01 here. */
    rating_counter c[] = {{"2026-10", "msgs", 1500, 0}};
    want_line w[] = {{"Messages sent, units 501-1000", "msgs", "2026-10", 500, 10000, 500},
                     {"Messages sent, units 1001-1500", "msgs", "2026-10", 500, 5000, 250}};
    expect_lines(&NO_FEE, "2026-10", EUR, c, 1, w, 2, 0);

    /* All three tiers, base fee first, then plan order. */
    rating_counter all[] = {{"2026-10", "minutes", 101, 0}, {"2026-10", "msgs", 25000, 0}};
    want_line w3[] = {{"Base fee, plan p1", "", "2026-10", 1, 49000000, 4900},
                      {"Messages sent, units 501-1000", "msgs", "2026-10", 500, 10000, 500},
                      {"Messages sent, units 1001-10000", "msgs", "2026-10", 9000, 5000, 4500},
                      {"Messages sent, units 10001-25000", "msgs", "2026-10", 15000, 2000, 3000},
                      {"Call minutes", "minutes", "2026-10", 1, 50000, 5}};
    expect_lines(&PLAN, "2026-10", EUR, all, 2, w3, 5, 0);

    /* Exactly on a bound, and one past it. */
    rating_counter at[] = {{"2026-10", "msgs", 1000, 0}};
    want_line w_at[] = {{"Messages sent, units 501-1000", "msgs", "2026-10", 500, 10000, 500}};
    expect_lines(&NO_FEE, "2026-10", EUR, at, 1, w_at, 1, 0);
    rating_counter past[] = {{"2026-10", "msgs", 1001, 0}};
    want_line w_past[] = {{"Messages sent, units 501-1000", "msgs", "2026-10", 500, 10000, 500},
                          {"Messages sent, unit 1001", "msgs", "2026-10", 1, 5000, 1}};
    expect_lines(&NO_FEE, "2026-10", EUR, past, 1, w_past, 2, 0);

    /* Included units beyond the first tier: that tier bills nothing. */
    plan_price big_inc[] = {{"msgs", "Messages sent", 0, 1500, 3, msg_tiers}};
    plan p = {"p2", "EUR", 0, 1, big_inc};
    rating_counter c2[] = {{"2026-10", "msgs", 2000, 0}};
    want_line w2[] = {{"Messages sent, units 1501-2000", "msgs", "2026-10", 500, 5000, 250}};
    expect_lines(&p, "2026-10", EUR, c2, 1, w2, 1, 0);

    /* A free tier still shows its units. */
    plan_tier free_first[] = {{100, 0}, {0, 1000000}};
    plan_price fp[] = {{"api", "API calls", 0, 0, 2, free_first}};
    plan pf = {"p3", "EUR", 0, 1, fp};
    rating_counter c3[] = {{"2026-10", "api", 102, 0}};
    want_line w_free[] = {{"API calls, units 1-100", "api", "2026-10", 100, 0, 0},
                          {"API calls, units 101-102", "api", "2026-10", 2, 1000000, 200}};
    expect_lines(&pf, "2026-10", EUR, c3, 1, w_free, 2, 0);
}

static void test_late_usage(void)
{
    rating_counter c[] = {
        /* Later period: not this invoice's. */
        {"2026-11", "msgs", 5000, 0},
        /* September: minutes 20 of 50 billed; msgs fully billed. */
        {"2026-09", "minutes", 150, 120},
        {"2026-09", "msgs", 700, 700},
        /* The billed period. */
        {"2026-10", "msgs", 600, 0},
        /* August: 900 billed, 300 more arrived, crossing the 1000 bound. */
        {"2026-08", "msgs", 1200, 900},
        /* July: late units still inside the included quantity. */
        {"2026-07", "msgs", 300, 200},
    };
    want_line w[] = {
        {"Base fee, plan p1", "", "2026-10", 1, 49000000, 4900},
        {"Messages sent, units 501-600", "msgs", "2026-10", 100, 10000, 100},
        {"Messages sent, units 901-1000 (usage of 2026-08 reported late)", "msgs", "2026-08", 100,
         10000, 100},
        {"Messages sent, units 1001-1200 (usage of 2026-08 reported late)", "msgs", "2026-08", 200,
         5000, 100},
        {"Call minutes (usage of 2026-09 reported late)", "minutes", "2026-09", 30, 50000, 150},
    };
    expect_lines(&PLAN, "2026-10", EUR, c, sizeof c / sizeof *c, w, 5, 0);

    /* Late units of a period whose invoice already went past the included
     * quantity are all billable (invoiced 120 > included 100). */
    rating_counter c2[] = {{"2026-09", "minutes", 121, 120}};
    want_line w2[] = {
        {"Call minutes (usage of 2026-09 reported late)", "minutes", "2026-09", 1, 50000, 5}};
    expect_lines(&NO_FEE, "2026-10", EUR, c2, 1, w2, 1, 0);
}

static void test_unpriced(void)
{
    rating_counter c[] = {{"2026-10", "sms", 10, 0},  /* unpriced, billable */
                          {"2026-09", "fax", 3, 1},   /* unpriced, late */
                          {"2026-09", "telex", 3, 3}, /* unpriced, nothing left */
                          {"2026-11", "pager", 3, 0}, /* unpriced, later period */
                          {"2026-10", "minutes", 101, 0}};
    want_line w[] = {{"Call minutes", "minutes", "2026-10", 1, 50000, 5}};
    expect_lines(&NO_FEE, "2026-10", EUR, c, sizeof c / sizeof *c, w, 1, 2);
}

static void test_rounding(void)
{
    plan_price pr[] = {
        {"a", "Half a cent", 5000, 0, 0, NULL},     /* 0.005 */
        {"b", "Just under half", 4999, 0, 0, NULL}, /* 0.004999 */
        {"c", "One and a half", 15000, 0, 0, NULL}, /* 0.015 */
        {"d", "Fourteen ninety-nine", 14999, 0, 0, NULL},
    };
    plan p = {"r", "EUR", 0, 4, pr};
    rating_counter c[] = {{"2026-10", "a", 1, 0},
                          {"2026-10", "b", 1, 0},
                          {"2026-10", "c", 1, 0},
                          {"2026-10", "d", 1, 0}};
    want_line w[] = {{"Half a cent", "a", "2026-10", 1, 5000, 1},
                     {"Just under half", "b", "2026-10", 1, 4999, 0},
                     {"One and a half", "c", "2026-10", 1, 15000, 2},
                     {"Fourteen ninety-nine", "d", "2026-10", 1, 14999, 1}};
    expect_lines(&p, "2026-10", EUR, c, 4, w, 4, 0);
}

static void test_currencies(void)
{
    /* JPY: no minor unit. 3 x 0.5 = 1.5 -> 2; base fee 1000 yen. */
    plan_price jp[] = {{"m", "Messages", 500000, 0, 0, NULL}};
    plan pj = {"jp", "JPY", 1000, 1, jp};
    rating_counter cj[] = {{"2026-10", "m", 3, 0}};
    want_line wj[] = {{"Base fee, plan jp", "", "2026-10", 1, 1000000000, 1000},
                      {"Messages", "m", "2026-10", 3, 500000, 2}};
    expect_lines(&pj, "2026-10", JPY, cj, 1, wj, 2, 0);
    /* KWD: three decimals. 1 x 0.0005 = 0.5 fils -> 1; 7 x 1.234567 =
     * 8.641969 -> 8.642. */
    plan_price kw[] = {{"m", "Messages", 500, 0, 0, NULL}, {"n", "Minutes", 1234567, 0, 0, NULL}};
    plan pk = {"kw", "KWD", 2500, 2, kw};
    rating_counter ck[] = {{"2026-10", "m", 1, 0}, {"2026-10", "n", 7, 0}};
    want_line wk[] = {{"Base fee, plan kw", "", "2026-10", 1, 2500000, 2500},
                      {"Messages", "m", "2026-10", 1, 500, 1},
                      {"Minutes", "n", "2026-10", 7, 1234567, 8642}};
    expect_lines(&pk, "2026-10", KWD, ck, 2, wk, 3, 0);
}

static void test_large(void)
{
    /* One event may carry 10^12 units. */
    plan_price pr[] = {{"m", "Messages", 2500, 0, 0, NULL}};
    plan p = {"big", "EUR", 0, 1, pr};
    rating_counter c1[] = {{"2026-10", "m", 1000000000000LL, 0}};
    want_line w1[] = {{"Messages", "m", "2026-10", 1000000000000LL, 2500, 250000000000LL}};
    expect_lines(&p, "2026-10", EUR, c1, 1, w1, 1, 0);
    /* A month summing to INT64_MAX units: the product needs 75 bits, the
     * amount fits: 9223372036854775807 x 0.0025 EUR = 2305843009213693951.75
     * cents -> ...952. */
    rating_counter c2[] = {{"2026-10", "m", INT64_MAX, 0}};
    want_line w2[] = {{"Messages", "m", "2026-10", INT64_MAX, 2500, 2305843009213693952LL}};
    expect_lines(&p, "2026-10", EUR, c2, 1, w2, 1, 0);
    /* At 1 EUR a unit it does not fit: an error naming metric and period. */
    plan_price one[] = {{"m", "Messages", 1000000, 0, 0, NULL}};
    plan p1 = {"big", "EUR", 0, 1, one};
    expect_error(&p1, "2026-10", EUR, c2, 1, GRPC_STATUS_OUT_OF_RANGE, "metric m, period 2026-10");
    /* Late usage too, and the whole account gets no lines. */
    rating_counter c3[] = {{"2026-10", "m", 5, 0}, {"2026-08", "m", INT64_MAX, 1}};
    expect_error(&p1, "2026-10", EUR, c3, 2, GRPC_STATUS_OUT_OF_RANGE, "metric m, period 2026-08");
    /* The largest price times the largest quantity (126 bits). */
    plan_tier top[] = {{1, 1}, {0, INT64_MAX}};
    plan_price tp[] = {{"m", "Messages", 0, 0, 2, top}};
    plan pt = {"top", "EUR", 0, 1, tp};
    expect_error(&pt, "2026-10", EUR, c2, 1, GRPC_STATUS_OUT_OF_RANGE, "metric m");
    /* Tier bounds near the top of the range. */
    rating_counter c4[] = {{"2026-10", "m", INT64_MAX, INT64_MAX - 2}};
    plan_tier top_cheap[] = {{INT64_MAX - 1, 1}, {0, 2}};
    plan_price tcp[] = {{"m", "Messages", 0, 0, 2, top_cheap}};
    plan ptc = {"top", "EUR", 0, 1, tcp};
    want_line w4[] = {{"Messages, unit 9223372036854775806", "m", "2026-10", 1, 1, 0},
                      {"Messages, unit 9223372036854775807", "m", "2026-10", 1, 2, 0}};
    expect_lines(&ptc, "2026-10", EUR, c4, 1, w4, 2, 0);
    /* A base fee whose unit price in micros would not fit. */
    plan fee = {"fee", "EUR", INT64_MAX / 1000, 0, NULL};
    expect_error(&fee, "2026-10", EUR, NULL, 0, GRPC_STATUS_OUT_OF_RANGE, "base fee");
}

static void test_bad_input(void)
{
    rating_counter dup[] = {{"2026-10", "msgs", 5, 0}, {"2026-10", "msgs", 6, 0}};
    expect_error(&PLAN, "2026-10", EUR, dup, 2, GRPC_STATUS_INVALID_ARGUMENT,
                 "counters[1]: a second counter for metric msgs, period 2026-10");
    rating_counter over[] = {{"2026-09", "msgs", 5, 6}};
    expect_error(&PLAN, "2026-10", EUR, over, 1, GRPC_STATUS_INVALID_ARGUMENT,
                 "counters[0] (metric msgs, period 2026-09)");
    rating_counter neg[] = {{"2026-10", "msgs", -1, 0}};
    expect_error(&PLAN, "2026-10", EUR, neg, 1, GRPC_STATUS_INVALID_ARGUMENT, "counters[0]");
    rating_counter bad_period[] = {{"2026-1", "msgs", 1, 0}};
    expect_error(&PLAN, "2026-10", EUR, bad_period, 1, GRPC_STATUS_INVALID_ARGUMENT,
                 "counters[0]: needs a period");
    expect_error(&PLAN, "2026-13", EUR, NULL, 0, GRPC_STATUS_INVALID_ARGUMENT, "period: ");
    expect_error(&PLAN, "2026-10", 7, NULL, 0, GRPC_STATUS_INVALID_ARGUMENT, "minor_units: ");
    expect_error(&PLAN, "2026-10", -1, NULL, 0, GRPC_STATUS_INVALID_ARGUMENT, "minor_units: ");
}

/* --- rating_fill_invoice ------------------------------------------------ */

static Minbill__V1__Invoice fill(const rating_line *lines, size_t n, const vat_treatment *vat)
{
    Minbill__V1__Invoice inv;
    mb_error err;
    minbill__v1__invoice__init(&inv);
    inv.account_id = "acc-1";
    int rc = rating_fill_invoice(arena, lines, n, vat, EUR, &inv, &err);
    if (rc != 0)
        fprintf(stderr, "  fill: %s\n", err.msg);
    CHECK(rc == 0);
    CHECK(strcmp(inv.account_id, "acc-1") == 0); /* other fields untouched */
    return inv;
}

static vat_treatment treatment(const char *seller, const char *buyer, bool vat_id)
{
    vat_treatment t;
    mb_error err;
    CHECK(vat_decide(seller, buyer, vat_id, "2026-10-31", &t, &err) == 0);
    return t;
}

static void test_fill_domestic(void)
{
    /* Three lines of 1 cent at 21 %: 0.21 cent each would round to 0 per
     * line; rounded once, 0.63 -> 1 (BR-CO-17). */
    rating_line l[] = {{"A", "a", "2026-10", 1, 10000, 1},
                       {"B", "b", "2026-10", 2, 5000, 1},
                       {"C, units 1-4", "c", "2026-09", 4, 2500, 1}};
    vat_treatment nl = treatment("NL", "NL", true);
    Minbill__V1__Invoice inv = fill(l, 3, &nl);
    CHECK(inv.n_lines == 3 && inv.n_tax_subtotals == 1);
    CHECK(inv.net_total_minor == 3 && inv.tax_total_minor == 1 && inv.gross_total_minor == 4);
    Minbill__V1__TaxSubtotal *s = inv.tax_subtotals[0];
    CHECK(s->taxable_minor == 3 && s->tax_minor == 1);
    CHECK(strcmp(s->category, "S") == 0 && strcmp(s->rate, "21") == 0);
    CHECK(strcmp(s->exemption_reason, "") == 0 && strcmp(s->exemption_reason_code, "") == 0);
    CHECK(!inv.reverse_charge && strcmp(inv.note, "") == 0);
    Minbill__V1__InvoiceLine *ln = inv.lines[2];
    CHECK(strcmp(ln->description, "C, units 1-4") == 0 && strcmp(ln->metric, "c") == 0);
    CHECK(strcmp(ln->period, "2026-09") == 0 && ln->quantity == 4);
    CHECK(strcmp(ln->unit_price, "0.0025") == 0 && ln->line_extension_minor == 1);
    CHECK(strcmp(ln->vat_category, "S") == 0 && strcmp(ln->vat_rate, "21") == 0);
    CHECK(strcmp(ln->unit_code, "C62") == 0);
    CHECK(strcmp(inv.lines[0]->unit_price, "0.01") == 0);

    /* Half-up on the breakdown: 250 x 21 % = 52.5 -> 53; 25.5 % of 1000 =
     * 255 exactly; 25.5 % of 1 = 0.255 -> 0. */
    rating_line h[] = {{"H", "h", "2026-10", 250, 10000, 250}};
    inv = fill(h, 1, &nl);
    CHECK(inv.tax_total_minor == 53 && inv.gross_total_minor == 303);
    vat_treatment fi = treatment("NL", "FI", false);
    CHECK(fi.rate_bp == 2550);
    rating_line k[] = {{"K", "k", "2026-10", 1000, 10000, 1000}};
    inv = fill(k, 1, &fi);
    CHECK(inv.tax_total_minor == 255 && strcmp(inv.tax_subtotals[0]->rate, "25.5") == 0);
    CHECK(strcmp(inv.lines[0]->vat_rate, "25.5") == 0);
    CHECK_CONTAINS(inv.note, "Art. 58");
    rating_line one[] = {{"O", "o", "2026-10", 1, 10000, 1}};
    inv = fill(one, 1, &fi);
    CHECK(inv.tax_total_minor == 0 && inv.gross_total_minor == 1);
}

static void test_fill_reverse_charge_and_non_eu(void)
{
    rating_line l[] = {{"Base fee, plan p1", "", "2026-10", 1, 49000000, 4900},
                       {"Messages", "m", "2026-10", 3, 10000, 3}};
    vat_treatment ae = treatment("NL", "DE", true);
    Minbill__V1__Invoice inv = fill(l, 2, &ae);
    CHECK(inv.net_total_minor == 4903 && inv.tax_total_minor == 0 && inv.gross_total_minor == 4903);
    CHECK(inv.reverse_charge);
    CHECK_CONTAINS(inv.note, "Reverse charge");
    Minbill__V1__TaxSubtotal *s = inv.tax_subtotals[0];
    CHECK(strcmp(s->category, "AE") == 0 && strcmp(s->rate, "0") == 0 && s->taxable_minor == 4903);
    CHECK(strcmp(s->exemption_reason, "Reverse charge") == 0);
    CHECK(strcmp(s->exemption_reason_code, "VATEX-EU-AE") == 0);
    CHECK(strcmp(inv.lines[0]->vat_category, "AE") == 0 &&
          strcmp(inv.lines[0]->unit_price, "49") == 0);

    vat_treatment o = treatment("NL", "US", true);
    inv = fill(l, 2, &o);
    CHECK(inv.tax_total_minor == 0 && inv.gross_total_minor == 4903 && !inv.reverse_charge);
    s = inv.tax_subtotals[0];
    CHECK(strcmp(s->category, "O") == 0 && strcmp(s->rate, "") == 0);
    CHECK(strcmp(s->exemption_reason_code, "VATEX-EU-O") == 0);
    CHECK(strcmp(inv.lines[1]->vat_category, "O") == 0 && strcmp(inv.lines[1]->vat_rate, "") == 0);
    CHECK_CONTAINS(inv.note, "outside the EU");

    /* Nothing to bill: zero totals and one zero breakdown. */
    inv = fill(NULL, 0, &ae);
    CHECK(inv.n_lines == 0 && inv.n_tax_subtotals == 1 && inv.gross_total_minor == 0);
}

static void test_fill_overflow(void)
{
    vat_treatment nl = treatment("NL", "NL", false), ae = treatment("NL", "DE", true);
    Minbill__V1__Invoice inv;
    mb_error err;
    minbill__v1__invoice__init(&inv);
    rating_line two[] = {{"A", "a", "2026-10", 1, 0, INT64_MAX / 2 + 1},
                         {"B", "b", "2026-10", 1, 0, INT64_MAX / 2 + 1}};
    CHECK(rating_fill_invoice(arena, two, 2, &ae, EUR, &inv, &err) == -1);
    CHECK_STATUS(err, GRPC_STATUS_OUT_OF_RANGE);
    CHECK_CONTAINS(err.msg, "net total");
    CHECK(inv.n_lines == 0 && inv.gross_total_minor == 0);
    /* The net fits, net + VAT does not. */
    rating_line big[] = {{"A", "a", "2026-10", 1, 0, INT64_MAX - 100}};
    CHECK(rating_fill_invoice(arena, big, 1, &nl, EUR, &inv, &err) == -1);
    CHECK_STATUS(err, GRPC_STATUS_OUT_OF_RANGE);
    CHECK_CONTAINS(err.msg, "gross total");
    /* Without VAT it fits exactly. */
    CHECK(rating_fill_invoice(arena, big, 1, &ae, EUR, &inv, &err) == 0);
    CHECK(inv.gross_total_minor == INT64_MAX - 100);
}

/* Rating and filling together: the totals follow from the plan. */
static void test_end_to_end(void)
{
    rating_counter c[] = {{"2026-10", "msgs", 25000, 0}, {"2026-08", "msgs", 1200, 900}};
    rating_line *lines;
    size_t n, unpriced;
    mb_error err;
    CHECK(rating_lines(arena, &PLAN, "2026-10", EUR, c, 2, &lines, &n, &unpriced, &err) == 0);
    vat_treatment de = treatment("DE", "DE", true);
    Minbill__V1__Invoice inv = fill(lines, n, &de);
    /* 4900 + 500 + 4500 + 3000 + 100 + 100 = 13100; 19 % = 2489. */
    CHECK(inv.n_lines == 6 && inv.net_total_minor == 13100);
    CHECK(inv.tax_total_minor == 2489 && inv.gross_total_minor == 15589);
    CHECK(strcmp(inv.lines[5]->period, "2026-08") == 0);
    CHECK_CONTAINS(inv.lines[5]->description, "(usage of 2026-08 reported late)");
}

int main(void)
{
    arena = mb_arena_new(0);
    RUN(test_base_fee_only);
    RUN(test_zero_usage);
    RUN(test_included_flat);
    RUN(test_tiers);
    RUN(test_late_usage);
    RUN(test_unpriced);
    RUN(test_rounding);
    RUN(test_currencies);
    RUN(test_large);
    RUN(test_bad_input);
    RUN(test_fill_domestic);
    RUN(test_fill_reverse_charge_and_non_eu);
    RUN(test_fill_overflow);
    RUN(test_end_to_end);
    mb_arena_free(arena);
    return check_summary();
}
