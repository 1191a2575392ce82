/*
 * payment_validate.c - see payment_validate.h.
 */
#include "accounts/payment_validate.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/check.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/*
 * Cards.
 */

/* Lengths as a bit set: bit n set means n digits are issued. */
#define LEN(n) (UINT32_C(1) << (n))
#define LEN_RANGE(lo, hi) ((LEN((hi) + 1) - 1) & ~(LEN(lo) - 1))

static const struct brand_info {
    const char *name;
    uint32_t lengths;
} brands[] = {
    [PAY_BRAND_UNKNOWN] = {"unknown", 0},
    [PAY_BRAND_VISA] = {"visa", LEN(13) | LEN(16) | LEN(19)},
    [PAY_BRAND_MASTERCARD] = {"mastercard", LEN(16)},
    [PAY_BRAND_AMEX] = {"amex", LEN(15)},
    [PAY_BRAND_DISCOVER] = {"discover", LEN_RANGE(16, 19)},
    [PAY_BRAND_JCB] = {"jcb", LEN_RANGE(16, 19)},
    [PAY_BRAND_DINERS] = {"diners", LEN_RANGE(14, 19)},
    [PAY_BRAND_UNIONPAY] = {"unionpay", LEN_RANGE(16, 19)},
    [PAY_BRAND_MAESTRO] = {"maestro", LEN_RANGE(12, 19)},
};

const char *pay_brand_name(pay_brand brand)
{
    if ((unsigned)brand >= ARRAY_LEN(brands))
        return brands[PAY_BRAND_UNKNOWN].name;
    return brands[brand].name;
}

/* IIN ranges: the first `width` digits of the PAN, read as a number, lie in
 * lo..hi. Where ranges overlap the longest (most specific) prefix wins; the
 * only overlap today is Discover's 622126-622925, co-branded with UnionPay
 * and routed as Discover, inside UnionPay's 62. */
static const struct iin_range {
    uint32_t lo, hi;
    int width;
    pay_brand brand;
} iin_ranges[] = {
    {4, 4, 1, PAY_BRAND_VISA},
    {51, 55, 2, PAY_BRAND_MASTERCARD},
    {2221, 2720, 4, PAY_BRAND_MASTERCARD},
    {34, 34, 2, PAY_BRAND_AMEX},
    {37, 37, 2, PAY_BRAND_AMEX},
    {6011, 6011, 4, PAY_BRAND_DISCOVER},
    {644, 649, 3, PAY_BRAND_DISCOVER},
    {65, 65, 2, PAY_BRAND_DISCOVER},
    {622126, 622925, 6, PAY_BRAND_DISCOVER},
    {3528, 3589, 4, PAY_BRAND_JCB},
    {300, 305, 3, PAY_BRAND_DINERS},
    {36, 36, 2, PAY_BRAND_DINERS},
    {38, 39, 2, PAY_BRAND_DINERS},
    {62, 62, 2, PAY_BRAND_UNIONPAY},
    {5018, 5018, 4, PAY_BRAND_MAESTRO},
    {5020, 5020, 4, PAY_BRAND_MAESTRO},
    {5038, 5038, 4, PAY_BRAND_MAESTRO},
    {5893, 5893, 4, PAY_BRAND_MAESTRO},
    {6304, 6304, 4, PAY_BRAND_MAESTRO},
    {6390, 6390, 4, PAY_BRAND_MAESTRO},
    {6759, 6759, 4, PAY_BRAND_MAESTRO},
    {6761, 6763, 4, PAY_BRAND_MAESTRO},
    {604, 604, 4, PAY_BRAND_MAESTRO}, /* "0604" */
};

/* digits holds at least 12 digits, so every prefix width is there. */
static pay_brand card_brand(const char *digits)
{
    pay_brand best = PAY_BRAND_UNKNOWN;
    int best_width = 0;
    for (size_t i = 0; i < ARRAY_LEN(iin_ranges); i++) {
        const struct iin_range *r = &iin_ranges[i];
        uint32_t prefix = 0;
        for (int k = 0; k < r->width; k++)
            prefix = prefix * 10 + (uint32_t)(digits[k] - '0');
        if (prefix >= r->lo && prefix <= r->hi && r->width > best_width) {
            best = r->brand;
            best_width = r->width;
        }
    }
    return best;
}

/* Checks the PAN into d (PAY_PAN_SIZE bytes); the caller wipes d. */
static int card_check_pan(const char *field, const char *pan, char *d, pay_brand *brand,
                          mb_error *err)
{
    int len = check_compact(pan, " -", false, d, PAY_PAN_SIZE);
    if (len < 0)
        return check_field_error(err, field, "must be 12 to 19 digits");
    for (int i = 0; i < len; i++) {
        if (!is_digit(d[i]))
            return check_field_error(err, field, "may only contain digits, spaces and hyphens");
    }
    if (len < 12)
        return check_field_error(err, field, "must be 12 to 19 digits");
    /* Luhn before the brand: a mistyped first digit then reads as a typo
     * ("check the number") rather than as an unsupported card. */
    if (!check_luhn(d, (size_t)len))
        return check_field_error(err, field, "is not a valid card number (check digit is wrong)");
    *brand = card_brand(d);
    if (*brand == PAY_BRAND_UNKNOWN)
        return check_field_error(err, field, "must be a card number of a supported brand");
    if ((brands[*brand].lengths & LEN(len)) == 0)
        return check_field_error(err, field, "has a length that %s does not issue",
                                brands[*brand].name);
    return 0;
}

static int card_check_expiry(const char *prefix, int exp_month, int exp_year, int now_year,
                             int now_month, mb_error *err)
{
    char month_field[160], year_field[160];
    snprintf(month_field, sizeof month_field, "%s.exp_month", prefix);
    snprintf(year_field, sizeof year_field, "%s.exp_year", prefix);
    if (exp_month < 1 || exp_month > 12)
        return check_field_error(err, month_field, "must be 1 to 12");
    if (exp_year < 2000 || exp_year > 2099)
        return check_field_error(err, year_field, "must be a four-digit year (2000 to 2099)");
    /* A card is valid through the last day of its expiry month. */
    if (exp_year < now_year)
        return check_field_error(err, year_field, "the card has expired");
    if (exp_year == now_year && exp_month < now_month)
        return check_field_error(err, month_field, "the card has expired");
    return 0;
}

int pay_check_card(const char *field_prefix, const char *pan, int exp_month, int exp_year,
                   int now_year, int now_month, char *digits_out, pay_brand *brand, char last4[5],
                   mb_error *err)
{
    char d[PAY_PAN_SIZE], pan_field[160];
    pay_brand found = PAY_BRAND_UNKNOWN;
    size_t len;
    int rc = -1;
    digits_out[0] = '\0';
    *brand = PAY_BRAND_UNKNOWN;
    last4[0] = '\0';
    snprintf(pan_field, sizeof pan_field, "%s.pan", field_prefix);

    if (card_check_pan(pan_field, pan, d, &found, err) != 0 ||
        card_check_expiry(field_prefix, exp_month, exp_year, now_year, now_month, err) != 0)
        goto out_wipe;
    len = strlen(d);
    memcpy(digits_out, d, len + 1);
    memcpy(last4, d + len - 4, 5);
    *brand = found;
    rc = 0;
out_wipe:
    /* PCI DSS 3.5: no stray copy of the PAN on the stack. */
    explicit_bzero(d, sizeof d);
    return rc;
}

/*
 * Mandates.
 */

int pay_check_mandate_reference(const char *field, const char *ref, mb_error *err)
{
    if (check_ascii(field, ref, 1, 35, " /-?:().,'+",
                         "may only contain letters, digits, spaces and / - ? : ( ) . , ' +",
                         err) != 0)
        return -1;
    size_t len = strlen(ref);
    if (ref[0] == '/' || ref[len - 1] == '/' || strstr(ref, "//") != NULL)
        return check_field_error(err, field, "must not start or end with '/' or contain '//'");
    return 0;
}

/*
 * SEPA reach and reveal purposes.
 */

/* The EPC list of SEPA scheme countries (EPC409-09, 2025): the EEA (EU 27
 * with their outermost regions, Iceland, Liechtenstein, Norway) and
 * Switzerland, the United Kingdom, San Marino, Vatican City, Monaco,
 * Andorra, Gibraltar, Jersey, Guernsey, the Isle of Man, Saint Pierre and
 * Miquelon, Saint Barthelemy, and since 2024/2025 Albania, Montenegro,
 * Moldova, North Macedonia and Serbia. Territories that bank under their
 * parent's IBAN prefix (FR for the French ones, GB for the Crown
 * Dependencies, FI for Aland) are listed by their own code too, for callers
 * that ask with an address or BIC country; an IBAN never carries them. */
static const struct sepa_country {
    char cc[3];
    bool eea;
} sepa_countries[] = {
    {"AT", true},  {"BE", true},  {"BG", true},  {"CY", true},  {"CZ", true},  {"DE", true},
    {"DK", true},  {"EE", true},  {"ES", true},  {"FI", true},  {"FR", true},  {"GR", true},
    {"HR", true},  {"HU", true},  {"IE", true},  {"IT", true},  {"LT", true},  {"LU", true},
    {"LV", true},  {"MT", true},  {"NL", true},  {"PL", true},  {"PT", true},  {"RO", true},
    {"SE", true},  {"SI", true},  {"SK", true},  {"IS", true},  {"LI", true},  {"NO", true},
    {"AX", true},  {"GF", true},  {"GP", true},  {"MQ", true},  {"RE", true},  {"YT", true},
    {"MF", true},  {"CH", false}, {"GB", false}, {"SM", false}, {"VA", false}, {"MC", false},
    {"AD", false}, {"GI", false}, {"JE", false}, {"GG", false}, {"IM", false}, {"PM", false},
    {"BL", false}, {"AL", false}, {"ME", false}, {"MD", false}, {"MK", false}, {"RS", false},
};

pay_sepa_reach pay_sepa_reach_of(const char *cc)
{
    for (size_t i = 0; cc != NULL && i < ARRAY_LEN(sepa_countries); i++) {
        if (strcmp(sepa_countries[i].cc, cc) == 0)
            return sepa_countries[i].eea ? PAY_SEPA_EEA : PAY_SEPA_NON_EEA;
    }
    return PAY_SEPA_OUTSIDE;
}

int pay_check_sepa_reach(const char *iban_field, const char *country, const char *bic_field,
                         const char *bic, mb_error *err)
{
    pay_sepa_reach reach = pay_sepa_reach_of(country);
    if (reach == PAY_SEPA_OUTSIDE)
        return check_field_error(err, iban_field,
                                 "country %.2s is not in the SEPA direct debit scheme", country);
    if (reach == PAY_SEPA_NON_EEA && bic[0] == '\0')
        return check_field_error(err, bic_field,
                                 "required for an account in a SEPA country outside the EEA");
    return 0;
}

static const char *const purpose_codes[] = {
    "collect-payment", "refund", "chargeback", "dispute", "fraud-review", "psp-migration",
};

int pay_check_purpose(const char *field, const char *purpose, mb_error *err)
{
    static const char rule[] =
        "must be one of " PAY_PURPOSE_CODES ", optionally followed by ':' and a reference";
    if (purpose[0] == '\0')
        return check_field_error(err, field, "must not be empty");
    const char *colon = strchr(purpose, ':');
    size_t code_len = colon != NULL ? (size_t)(colon - purpose) : strlen(purpose);
    bool known = false;
    for (size_t i = 0; i < ARRAY_LEN(purpose_codes) && !known; i++)
        known = strlen(purpose_codes[i]) == code_len &&
                memcmp(purpose_codes[i], purpose, code_len) == 0;
    if (!known)
        return check_field_error(err, field, "%s", rule);
    if (colon == NULL)
        return 0;
    if (colon[1] == '\0')
        return check_field_error(err, field, "reference after ':' must not be empty");
    if (check_ascii(field, colon + 1, 1, 64, "._/-",
                    "reference after ':' must be 1 to 64 letters, digits, '.', '_', '/' or '-'",
                    err) != 0)
        return -1;
    return check_no_personal_data(field, colon + 1, err);
}
