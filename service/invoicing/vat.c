/*
 * vat.c - see vat.h.
 *
 * The rate table lists, per member state, each standard rate from the day
 * it took effect; a rate holds until the next (later) entry of its state.
 * Every state starts with the rate in force on 2020-01-01, dated from the
 * day that rate began, so any date from then on has an answer.
 *
 * Sources (checked 2026-12):
 * - European Commission, Taxes in Europe Database (TEDB), and DG TAXUD,
 *   "VAT rates applied in the Member States of the European Union" (2021-06
 *   edition, section VIII, evolution of the rates), as transcribed in
 *   vatnode/eu-vat-rates-data, data/eu-vat-rates-history.json (version
 *   2026-09-23), which also cites the German law below.
 * - DE 16 % 2020-07-01..2020-12-31: Zweites Corona-Steuerhilfegesetz, Art. 3
 *   (BGBl. I 2020 p. 1512), amending section 12 UStG.
 * - IE 21 % 2020-09-01..2021-02-28: TEDB.
 * - LU 16 % 2023-01-01..2023-12-31: Law of 26 October 2022 (chronicle.lu,
 *   Orbitax, BDO).
 * - EE 22 % from 2024-01-01, 24 % from 2025-07-01, made permanent in 2025
 *   (news.err.ee "Government makes VAT rise permanent"; Grant Thornton).
 * - FI 25.5 % from 2024-09-01: TEDB.
 * - SK 23 % from 2025-01-01: Act No. 278/2024 (EY tax news 2024-1947).
 * - RO 21 % from 2025-08-01: Law No. 141/2025, Official Gazette No. 699 of
 *   2025-07-25 (BDO Romania tax flash 121).
 * - 2026 changes (BE, CZ, DE, IE, NL, SK, FI) touch reduced rates only
 *   (easytax.co "EU new VAT rates from 2026").
 * Portugal's rate is the mainland's (Madeira and the Azores have their
 * own); minbill bills by country code, not region.
 */
#include "invoicing/vat.h"

#include <stdio.h>
#include <string.h>

#include "base/check.h"
#include "base/decimal.h"
#include "base/period.h"

typedef struct vat_rate_entry {
    char country[3];
    char from[PERIOD_DAY_SIZE]; /* "YYYY-MM-DD", first day in force */
    int32_t rate_bp;
} vat_rate_entry;

static const vat_rate_entry RATES[] = {
    {"AT", "1984-01-01", 2000}, /* Austria */
    {"BE", "1996-01-01", 2100}, /* Belgium */
    {"BG", "1999-01-01", 2000}, /* Bulgaria */
    {"CY", "2014-01-13", 1900}, /* Cyprus */
    {"CZ", "2013-01-01", 2100}, /* Czechia */
    {"DE", "2007-01-01", 1900}, /* Germany */
    {"DE", "2020-07-01", 1600}, /* Germany, second half of 2020 */
    {"DE", "2021-01-01", 1900}, /* Germany */
    {"DK", "1992-01-01", 2500}, /* Denmark */
    {"EE", "2009-07-01", 2000}, /* Estonia */
    {"EE", "2024-01-01", 2200}, /* Estonia */
    {"EE", "2025-07-01", 2400}, /* Estonia */
    {"ES", "2012-09-01", 2100}, /* Spain */
    {"FI", "2013-01-01", 2400}, /* Finland */
    {"FI", "2024-09-01", 2550}, /* Finland */
    {"FR", "2014-01-01", 2000}, /* France */
    {"GR", "2016-06-01", 2400}, /* Greece (VAT prefix EL) */
    {"HR", "2012-03-01", 2500}, /* Croatia */
    {"HU", "2012-01-01", 2700}, /* Hungary */
    {"IE", "2012-01-01", 2300}, /* Ireland */
    {"IE", "2020-09-01", 2100}, /* Ireland, to 2021-02-28 */
    {"IE", "2021-03-01", 2300}, /* Ireland */
    {"IT", "2013-10-01", 2200}, /* Italy */
    {"LT", "2009-09-01", 2100}, /* Lithuania */
    {"LU", "2015-01-01", 1700}, /* Luxembourg */
    {"LU", "2023-01-01", 1600}, /* Luxembourg, during 2023 */
    {"LU", "2024-01-01", 1700}, /* Luxembourg */
    {"LV", "2012-07-01", 2100}, /* Latvia */
    {"MT", "2004-01-01", 1800}, /* Malta */
    {"NL", "2012-10-01", 2100}, /* Netherlands */
    {"PL", "2011-01-01", 2300}, /* Poland */
    {"PT", "2011-01-01", 2300}, /* Portugal (mainland) */
    {"RO", "2017-01-01", 1900}, /* Romania */
    {"RO", "2025-08-01", 2100}, /* Romania */
    {"SE", "1990-07-01", 2500}, /* Sweden */
    {"SI", "2013-07-01", 2200}, /* Slovenia */
    {"SK", "2011-01-01", 2000}, /* Slovakia */
    {"SK", "2025-01-01", 2300}, /* Slovakia */
};

#define N_RATES (sizeof RATES / sizeof *RATES)

static const char REVERSE_CHARGE_NOTE[] =
    "Reverse charge: VAT to be accounted for by the recipient (Art. 196 Directive 2006/112/EC)";
static const char DISTANCE_NOTE[] =
    "VAT of the customer's Member State (Art. 58 Directive 2006/112/EC)";
static const char NOT_SUBJECT_NOTE[] =
    "Not subject to EU VAT: place of supply outside the EU (Art. 44 and 59 Directive "
    "2006/112/EC)";

/* "YYYY-MM-DD", a real calendar day from 1970 on. */
static bool is_date(const char *s)
{
    char period[PERIOD_SIZE], last[PERIOD_DAY_SIZE];
    int year, month;
    if (s == NULL || strlen(s) != 10 || s[7] != '-' || s[8] < '0' || s[8] > '9' || s[9] < '0' ||
        s[9] > '9')
        return false;
    memcpy(period, s, PERIOD_SIZE - 1);
    period[PERIOD_SIZE - 1] = '\0';
    if (period_parse(period, &year, &month) != 0)
        return false;
    period_last_day(period, last);
    /* Same length and digits only: string order is day order. */
    return strcmp(s + 8, "01") >= 0 && strcmp(s, last) <= 0;
}

int vat_standard_rate_bp(const char *country, const char *on_date, int32_t *rate_bp, mb_error *err)
{
    if (!is_date(on_date))
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "on_date: must be a calendar day written YYYY-MM-DD");
    const vat_rate_entry *found = NULL, *first = NULL;
    for (size_t i = 0; i < N_RATES; i++) {
        if (strcmp(RATES[i].country, country) != 0)
            continue;
        if (first == NULL || strcmp(RATES[i].from, first->from) < 0)
            first = &RATES[i];
        if (strcmp(RATES[i].from, on_date) <= 0 &&
            (found == NULL || strcmp(RATES[i].from, found->from) > 0))
            found = &RATES[i];
    }
    /* country is compared, never printed, unless it is a known EU code. */
    if (first == NULL)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "country: not an EU member state (ISO 3166-1 code, Greece is GR)");
    if (found == NULL)
        return mb_error_set(err, GRPC_STATUS_OUT_OF_RANGE,
                            "no standard VAT rate of %s known before %s", first->country,
                            first->from);
    *rate_bp = found->rate_bp;
    return 0;
}

static void set_standard(vat_treatment *out, int32_t rate_bp, const char *note)
{
    char rate[DECIMAL_FORMAT_SIZE];
    memcpy(out->category, "S", 2);
    out->rate_bp = rate_bp;
    /* rate_bp is in hundredths of a percent: x 10^4 gives millionths. */
    snprintf(out->rate, sizeof out->rate, "%s",
             decimal_format_micros((int64_t)rate_bp * 10000, rate));
    out->reverse_charge = false;
    out->exemption_reason = NULL;
    out->exemption_code = NULL;
    out->note = note;
}

static void set_exempt(vat_treatment *out, const char *category, const char *rate,
                       bool reverse_charge, const char *reason, const char *code, const char *note)
{
    snprintf(out->category, sizeof out->category, "%s", category);
    out->rate_bp = 0;
    snprintf(out->rate, sizeof out->rate, "%s", rate);
    out->reverse_charge = reverse_charge;
    out->exemption_reason = reason;
    out->exemption_code = code;
    out->note = note;
}

int vat_decide(const char *seller_country, const char *buyer_country, bool buyer_has_vat_id,
               const char *on_date, vat_treatment *out, mb_error *err)
{
    int32_t rate_bp;
    if (!check_country_is_eu(seller_country))
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "seller_country: must be an EU member state");
    if (!check_country_is_assigned(buyer_country))
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "buyer_country: not an assigned ISO 3166-1 alpha-2 code");
    if (!is_date(on_date))
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "on_date: must be a calendar day written YYYY-MM-DD");
    if (strcmp(seller_country, buyer_country) == 0) {
        if (vat_standard_rate_bp(seller_country, on_date, &rate_bp, err) != 0)
            return -1;
        set_standard(out, rate_bp, NULL);
    } else if (!check_country_is_eu(buyer_country)) {
        set_exempt(out, "O", "", false, "Not subject to VAT", "VATEX-EU-O", NOT_SUBJECT_NOTE);
    } else if (buyer_has_vat_id) {
        set_exempt(out, "AE", "0", true, "Reverse charge", "VATEX-EU-AE", REVERSE_CHARGE_NOTE);
    } else {
        if (vat_standard_rate_bp(buyer_country, on_date, &rate_bp, err) != 0)
            return -1;
        set_standard(out, rate_bp, DISTANCE_NOTE);
    }
    return 0;
}
