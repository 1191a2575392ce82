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

static bool is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
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

static bool luhn_ok(const char *digits, size_t len)
{
    int sum = 0;
    for (size_t i = 0; i < len; i++) {
        int v = digits[len - 1 - i] - '0';
        if (i % 2 == 1) {
            v *= 2;
            if (v > 9)
                v -= 9;
        }
        sum += v;
    }
    return sum % 10 == 0;
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
    if (!luhn_ok(d, (size_t)len))
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
 * IBANs.
 */

/* IBAN lengths from the SWIFT IBAN registry (ISO 13616; the 89 countries
 * listed as of 2025, SEPA and non-SEPA alike). Each
 * dependent territory that banks under its parent's code (Åland under FI,
 * the French overseas departments under FR, Jersey, Guernsey and the Isle of
 * Man under GB...) uses the parent's prefix, so it is not listed. */
static const struct iban_country {
    char cc[3];
    unsigned char len;
} iban_countries[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22},
    {"BH", 22}, {"BI", 27}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24},
    {"DE", 22}, {"DJ", 27}, {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18},
    {"FK", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27},
    {"GT", 28}, {"HN", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26},
    {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20},
    {"LU", 20}, {"LV", 21}, {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MN", 20},
    {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NI", 28}, {"NL", 18}, {"NO", 15}, {"OM", 23}, {"PK", 24},
    {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"RU", 33}, {"SA", 24},
    {"SC", 31}, {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"SO", 23}, {"ST", 25},
    {"SV", 28}, {"TL", 23}, {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20},
    {"YE", 30},
};

static const struct iban_country *iban_country_of(const char *iban)
{
    for (size_t i = 0; i < ARRAY_LEN(iban_countries); i++) {
        if (memcmp(iban_countries[i].cc, iban, 2) == 0)
            return &iban_countries[i];
    }
    return NULL;
}

/* ISO 7064 MOD 97-10 over the IBAN with its first four characters moved to
 * the end and letters read as 10..35, folded one character at a time so no
 * big number is needed. */
static int iban_mod97(const char *s, size_t len)
{
    int r = 0;
    for (size_t k = 0; k < len; k++) {
        char c = s[(k + 4) % len];
        r = is_digit(c) ? (r * 10 + (c - '0')) % 97 : (r * 100 + (c - 'A' + 10)) % 97;
    }
    return r;
}

static int iban_check(const char *field, const char *iban, char *s, mb_error *err)
{
    int len = check_compact(iban, " ", true, s, PAY_IBAN_SIZE);
    if (len < 0)
        return check_field_error(err, field, "must be at most %d characters", PAY_IBAN_SIZE - 1);
    for (int i = 0; i < len; i++) {
        if (!is_upper(s[i]) && !is_digit(s[i]))
            return check_field_error(err, field, "may only contain letters, digits and spaces");
    }
    if (len < 2 || !is_upper(s[0]) || !is_upper(s[1]))
        return check_field_error(err, field, "must start with a two-letter country code");
    const struct iban_country *c = iban_country_of(s);
    /* The country code is printed: it is no secret and tells the user more
     * than "invalid" would. */
    if (c == NULL)
        return check_field_error(err, field, "country %.2s does not use IBANs", s);
    if (len != c->len)
        return check_field_error(err, field, "length for country %s must be %d", c->cc, c->len);
    if (!is_digit(s[2]) || !is_digit(s[3]))
        return check_field_error(err, field, "characters 3 and 4 must be digits");
    /* 00, 01 and 99 can satisfy MOD 97 but ISO 13616 never issues them. */
    int check = (s[2] - '0') * 10 + (s[3] - '0');
    if (check < 2 || check > 98 || iban_mod97(s, (size_t)len) != 1)
        return check_field_error(err, field, "checksum is wrong");
    return 0;
}

int pay_check_iban(const char *field, const char *iban, char *normalised_out, char country[3],
                   char last4[5], mb_error *err)
{
    char s[PAY_IBAN_SIZE];
    normalised_out[0] = '\0';
    country[0] = '\0';
    last4[0] = '\0';
    int rc = iban_check(field, iban, s, err);
    if (rc == 0) {
        size_t len = strlen(s);
        memcpy(normalised_out, s, len + 1);
        memcpy(country, s, 2);
        country[2] = '\0';
        memcpy(last4, s + len - 4, 5);
    }
    explicit_bzero(s, sizeof s);
    return rc;
}

/*
 * BICs and mandates.
 */

int pay_check_bic(const char *field, const char *bic, bool required, mb_error *err)
{
    if (bic[0] == '\0')
        return required ? check_field_error(err, field, "must not be empty") : 0;
    size_t len = strlen(bic);
    for (size_t i = 0; i < len; i++) {
        if (!is_upper(bic[i]) && !is_digit(bic[i]))
            return check_field_error(err, field, "may only contain upper-case letters and digits");
    }
    if (len != 8 && len != 11)
        return check_field_error(err, field, "must be 8 or 11 characters");
    for (size_t i = 0; i < 4; i++) {
        if (!is_upper(bic[i]))
            return check_field_error(err, field, "must start with a four-letter bank code");
    }
    /* SWIFT gives Kosovo's banks XK, which ISO 3166-1 leaves user-assigned;
     * its IBANs are in the registry too, so its BICs must pass. */
    char cc[3] = {bic[4], bic[5], '\0'};
    if (!check_country_is_assigned(cc) && strcmp(cc, "XK") != 0)
        return check_field_error(err, field,
                                "characters 5 and 6 must be an ISO 3166-1 country code");
    /* Location and branch codes are letters or digits, as checked above. */
    return 0;
}

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

int pay_check_creditor_id(const char *field, const char *id, char *normalised_out, mb_error *err)
{
    char s[PAY_CREDITOR_ID_SIZE];
    normalised_out[0] = '\0';
    int len = check_compact(id, " ", true, s, sizeof s);
    if (len < 0)
        return check_field_error(err, field, "must be at most %d characters",
                                 PAY_CREDITOR_ID_SIZE - 1);
    for (int i = 0; i < len; i++) {
        if (!is_upper(s[i]) && !is_digit(s[i]))
            return check_field_error(err, field, "may only contain letters, digits and spaces");
    }
    if (len < 8)
        return check_field_error(err, field, "must be at least 8 characters");
    char cc[3] = {s[0], s[1], '\0'};
    if (!check_country_is_assigned(cc))
        return check_field_error(err, field, "must start with an ISO 3166-1 country code");
    if (!is_digit(s[2]) || !is_digit(s[3]))
        return check_field_error(err, field, "characters 3 and 4 must be digits");
    /* The check digits cover country and national identifier only: the
     * creditor business code (positions 5-7) is left out, and what remains
     * is checked exactly like an IBAN. */
    char folded[PAY_CREDITOR_ID_SIZE];
    memcpy(folded, s, 4);
    memcpy(folded + 4, s + 7, (size_t)len - 7);
    int check = (s[2] - '0') * 10 + (s[3] - '0');
    if (check < 2 || check > 98 || iban_mod97(folded, (size_t)len - 3) != 1)
        return check_field_error(err, field, "checksum is wrong");
    memcpy(normalised_out, s, (size_t)len + 1);
    return 0;
}
