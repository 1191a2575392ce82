/*
 * test_vat.c - VAT as data: every documented standard-rate change of
 * 2020-2026 at its boundary days, the rates of all 27 member states (and
 * only theirs), and the four treatments of an electronically supplied
 * service: domestic, reverse charge, EU non-taxable customer, outside the
 * EU.
 */
#include "check.h"
#include "base/check.h"
#include "invoicing/vat.h"

static void rate_is(const char *cc, const char *date, int32_t want)
{
    mb_error err;
    int32_t got = -1;
    int rc = vat_standard_rate_bp(cc, date, &got, &err);
    if (rc != 0 || got != want)
        fprintf(stderr, "  %s on %s: rc %d, %d (want %d) %s\n", cc, date, rc, got, want,
                rc ? err.msg : "");
    CHECK(rc == 0 && got == want);
}

/* The last day under the old rate and the first under the new one. */
static void change(const char *cc, const char *last_old, int32_t old_bp, const char *first_new,
                   int32_t new_bp)
{
    rate_is(cc, last_old, old_bp);
    rate_is(cc, first_new, new_bp);
}

static void test_changes(void)
{
    /* Germany: 16 % for the second half of 2020 (Corona-Steuerhilfegesetz). */
    change("DE", "2020-06-30", 1900, "2020-07-01", 1600);
    change("DE", "2020-12-31", 1600, "2021-01-01", 1900);
    /* Ireland: 21 % from 2020-09-01 to 2021-02-28. */
    change("IE", "2020-08-31", 2300, "2020-09-01", 2100);
    change("IE", "2021-02-28", 2100, "2021-03-01", 2300);
    /* Luxembourg: 16 % during 2023. */
    change("LU", "2022-12-31", 1700, "2023-01-01", 1600);
    change("LU", "2023-12-31", 1600, "2024-01-01", 1700);
    /* Estonia: 20 -> 22 % -> 24 %. */
    change("EE", "2023-12-31", 2000, "2024-01-01", 2200);
    change("EE", "2025-06-30", 2200, "2025-07-01", 2400);
    /* Finland: 24 -> 25.5 %. */
    change("FI", "2024-08-31", 2400, "2024-09-01", 2550);
    /* Slovakia: 20 -> 23 %. */
    change("SK", "2024-12-31", 2000, "2025-01-01", 2300);
    /* Romania: 19 -> 21 %. */
    change("RO", "2025-07-31", 1900, "2025-08-01", 2100);
}

static const struct {
    const char *cc;
    int32_t y2020, y2026; /* on 2020-01-01 and on 2026-12-31 */
} EU[] = {
    {"AT", 2000, 2000}, {"BE", 2100, 2100}, {"BG", 2000, 2000}, {"CY", 1900, 1900},
    {"CZ", 2100, 2100}, {"DE", 1900, 1900}, {"DK", 2500, 2500}, {"EE", 2000, 2400},
    {"ES", 2100, 2100}, {"FI", 2400, 2550}, {"FR", 2000, 2000}, {"GR", 2400, 2400},
    {"HR", 2500, 2500}, {"HU", 2700, 2700}, {"IE", 2300, 2300}, {"IT", 2200, 2200},
    {"LT", 2100, 2100}, {"LU", 1700, 1700}, {"LV", 2100, 2100}, {"MT", 1800, 1800},
    {"NL", 2100, 2100}, {"PL", 2300, 2300}, {"PT", 2300, 2300}, {"RO", 1900, 2100},
    {"SE", 2500, 2500}, {"SI", 2200, 2200}, {"SK", 2000, 2300},
};

static void test_all_states(void)
{
    CHECK(sizeof EU / sizeof *EU == 27);
    for (size_t i = 0; i < sizeof EU / sizeof *EU; i++) {
        CHECK(check_country_is_eu(EU[i].cc));
        rate_is(EU[i].cc, "2020-01-01", EU[i].y2020);
        rate_is(EU[i].cc, "2026-12-31", EU[i].y2026);
    }
    /* Exactly the member states have a rate: every two-letter code. */
    int with_rate = 0;
    for (char a = 'A'; a <= 'Z'; a++)
        for (char b = 'A'; b <= 'Z'; b++) {
            char cc[3] = {a, b, '\0'};
            int32_t bp;
            mb_error err;
            bool has = vat_standard_rate_bp(cc, "2026-06-30", &bp, &err) == 0;
            if (has != check_country_is_eu(cc))
                fprintf(stderr, "  %s: rate %d, EU %d\n", cc, has, check_country_is_eu(cc));
            CHECK(has == check_country_is_eu(cc));
            with_rate += has;
        }
    CHECK(with_rate == 27);
}

static void test_rate_errors(void)
{
    mb_error err;
    int32_t bp = -1;
    const char *not_dates[] = {"2026-02-29", "2024-02-30", "2026-13-01", "2026-04-31",
                               "2026-01-00", "20260101",   "2026-1-01",  "",
                               "1969-12-31", "2026-01-1a"};
    for (size_t i = 0; i < sizeof not_dates / sizeof *not_dates; i++) {
        CHECK(vat_standard_rate_bp("DE", not_dates[i], &bp, &err) == -1);
        CHECK_STATUS(err, GRPC_STATUS_INVALID_ARGUMENT);
        CHECK_CONTAINS(err.msg, "on_date: ");
    }
    rate_is("DE", "2024-02-29", 1900);
    const char *not_eu[] = {"EL", "GB", "XI", "US", "CH", "NO", "de", ""};
    for (size_t i = 0; i < sizeof not_eu / sizeof *not_eu; i++) {
        CHECK(vat_standard_rate_bp(not_eu[i], "2026-01-01", &bp, &err) == -1);
        CHECK_STATUS(err, GRPC_STATUS_INVALID_ARGUMENT);
        CHECK_CONTAINS(err.msg, "not an EU member state");
    }
    /* Before the table knows a rate: an error, never a guess. */
    CHECK(vat_standard_rate_bp("DE", "2006-12-31", &bp, &err) == -1);
    CHECK_STATUS(err, GRPC_STATUS_OUT_OF_RANGE);
    CHECK_CONTAINS(err.msg, "DE known before 2007-01-01");
    CHECK(bp == -1);
}

static vat_treatment decide(const char *seller, const char *buyer, bool vat_id, const char *day)
{
    vat_treatment t;
    mb_error err;
    memset(&t, 0x55, sizeof t);
    int rc = vat_decide(seller, buyer, vat_id, day, &t, &err);
    if (rc != 0)
        fprintf(stderr, "  %s -> %s: %s\n", seller, buyer, err.msg);
    CHECK(rc == 0);
    return t;
}

static void test_domestic(void)
{
    /* Same country: the seller's rate, with or without the buyer's VAT ID. */
    for (int id = 0; id < 2; id++) {
        vat_treatment t = decide("NL", "NL", id, "2026-10-31");
        CHECK(strcmp(t.category, "S") == 0 && t.rate_bp == 2100 && strcmp(t.rate, "21") == 0);
        CHECK(!t.reverse_charge && t.exemption_reason == NULL && t.exemption_code == NULL);
        CHECK(t.note == NULL);
    }
    vat_treatment t = decide("DE", "DE", true, "2020-07-31");
    CHECK(t.rate_bp == 1600 && strcmp(t.rate, "16") == 0);
    t = decide("FI", "FI", true, "2024-09-30");
    CHECK(t.rate_bp == 2550 && strcmp(t.rate, "25.5") == 0);
}

static void test_reverse_charge(void)
{
    vat_treatment t = decide("NL", "DE", true, "2026-10-31");
    CHECK(strcmp(t.category, "AE") == 0 && t.rate_bp == 0 && strcmp(t.rate, "0") == 0);
    CHECK(t.reverse_charge);
    CHECK(t.exemption_reason != NULL && strcmp(t.exemption_reason, "Reverse charge") == 0);
    CHECK(t.exemption_code != NULL && strcmp(t.exemption_code, "VATEX-EU-AE") == 0);
    CHECK_CONTAINS(t.note, "Reverse charge");
    CHECK_CONTAINS(t.note, "Art. 196 Directive 2006/112/EC");
    /* Greece by its ISO code. */
    t = decide("DE", "GR", true, "2026-10-31");
    CHECK(strcmp(t.category, "AE") == 0 && t.reverse_charge);
}

static void test_eu_non_taxable(void)
{
    /* Art. 58: the customer's state's rate, on the last day of the period. */
    vat_treatment t = decide("NL", "FR", false, "2026-10-31");
    CHECK(strcmp(t.category, "S") == 0 && t.rate_bp == 2000 && strcmp(t.rate, "20") == 0);
    CHECK(!t.reverse_charge && t.exemption_reason == NULL && t.exemption_code == NULL);
    CHECK_CONTAINS(t.note, "Art. 58");
    t = decide("NL", "FI", false, "2024-08-31");
    CHECK(t.rate_bp == 2400 && strcmp(t.rate, "24") == 0);
    t = decide("NL", "FI", false, "2024-09-30");
    CHECK(t.rate_bp == 2550 && strcmp(t.rate, "25.5") == 0);
    t = decide("DE", "GR", false, "2026-10-31");
    CHECK(t.rate_bp == 2400);
    t = decide("DE", "RO", false, "2025-07-31");
    CHECK(t.rate_bp == 1900);
    t = decide("DE", "RO", false, "2025-08-31");
    CHECK(t.rate_bp == 2100);
}

static void test_outside_eu(void)
{
    const char *buyers[] = {"US", "GB", "CH", "NO", "JP"};
    for (size_t i = 0; i < sizeof buyers / sizeof *buyers; i++)
        for (int id = 0; id < 2; id++) {
            vat_treatment t = decide("NL", buyers[i], id, "2026-10-31");
            CHECK(strcmp(t.category, "O") == 0 && t.rate_bp == 0 && strcmp(t.rate, "") == 0);
            CHECK(!t.reverse_charge);
            CHECK(t.exemption_code != NULL && strcmp(t.exemption_code, "VATEX-EU-O") == 0);
            CHECK(t.exemption_reason != NULL &&
                  strcmp(t.exemption_reason, "Not subject to VAT") == 0);
            CHECK_CONTAINS(t.note, "outside the EU");
        }
}

static void test_decide_errors(void)
{
    vat_treatment t;
    mb_error err;
    CHECK(vat_decide("US", "NL", true, "2026-10-31", &t, &err) == -1);
    CHECK_STATUS(err, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(err.msg, "seller_country: ");
    CHECK(vat_decide("GB", "NL", true, "2026-10-31", &t, &err) == -1);
    CHECK_CONTAINS(err.msg, "seller_country: ");
    const char *bad_buyers[] = {"XI", "EL", "ZZ", "nl", "", "NLD"};
    for (size_t i = 0; i < sizeof bad_buyers / sizeof *bad_buyers; i++) {
        CHECK(vat_decide("NL", bad_buyers[i], false, "2026-10-31", &t, &err) == -1);
        CHECK_STATUS(err, GRPC_STATUS_INVALID_ARGUMENT);
        CHECK_CONTAINS(err.msg, "buyer_country: ");
    }
    /* A bad date is refused even where no rate is needed. */
    CHECK(vat_decide("NL", "US", false, "2026-10-32", &t, &err) == -1);
    CHECK_CONTAINS(err.msg, "on_date: ");
    CHECK(vat_decide("NL", "DE", true, "2026-02-29", &t, &err) == -1);
    CHECK_CONTAINS(err.msg, "on_date: ");
    CHECK(vat_decide("NL", "NL", true, "2000-01-31", &t, &err) == -1);
    CHECK_STATUS(err, GRPC_STATUS_OUT_OF_RANGE);
}

int main(void)
{
    RUN(test_changes);
    RUN(test_all_states);
    RUN(test_rate_errors);
    RUN(test_domestic);
    RUN(test_reverse_charge);
    RUN(test_eu_non_taxable);
    RUN(test_outside_eu);
    RUN(test_decide_errors);
    return check_summary();
}
