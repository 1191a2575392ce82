/*
 * check.c - see check.h.
 *
 * Every message below is a fixed rule text, optionally with numbers from
 * the rule itself (limits, never a count taken from the value), so no
 * message can carry a piece of the value it judges; the one exception, an
 * IBAN's country code, is marked where it is printed.
 */
#include "base/check.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/utf8.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* The helpers below use these instead of <ctype.h>, whose answers depend on
 * the locale and which is undefined for the negative chars of UTF-8 bytes. */
static bool is_upper(char c)
{
    return c >= 'A' && c <= 'Z';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha(char c)
{
    return is_upper(c) || (c >= 'a' && c <= 'z');
}

static bool is_alnum(char c)
{
    return is_alpha(c) || is_digit(c);
}

static char to_lower(char c)
{
    return is_upper(c) ? (char)(c - 'A' + 'a') : c;
}

static char to_upper(char c)
{
    return (c >= 'a' && c <= 'z') ? (char)(c - 'a' + 'A') : c;
}

int check_field_error(mb_error *err, const char *field, const char *rule_fmt, ...)
{
    char rule[256];
    va_list ap;
    va_start(ap, rule_fmt);
    vsnprintf(rule, sizeof rule, rule_fmt, ap);
    va_end(ap);
    return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT, "%s: %s", field, rule);
}

/* A too-small out buffer is a bug in the caller, not bad input. */
static int buffer_too_small(mb_error *err, const char *field)
{
    return mb_error_set(err, GRPC_STATUS_INTERNAL, "%s: output buffer too small", field);
}

static void clear_out(char *out, size_t out_size)
{
    if (out != NULL && out_size > 0)
        out[0] = '\0';
}

int check_compact(const char *in, const char *drop, bool upper, char *out, size_t out_size)
{
    size_t n = 0;
    for (const char *p = in; *p != '\0'; p++) {
        if (strchr(drop, *p) != NULL)
            continue;
        if (n + 1 >= out_size) {
            memset(out, 0, out_size);
            return -1;
        }
        out[n++] = upper ? to_upper(*p) : *p;
    }
    if (out_size == 0)
        return -1;
    out[n] = '\0';
    return (int)n;
}

/* chars is what a person counts: characters, not bytes. */
static int check_length(const char *field, size_t chars, size_t min, size_t max, mb_error *err)
{
    if (chars == 0 && min > 0)
        return check_field_error(err, field, "must not be empty");
    if (chars < min)
        return check_field_error(err, field, "must be at least %zu characters", min);
    if (chars > max)
        return check_field_error(err, field, "must be at most %zu characters", max);
    return 0;
}

int check_ascii(const char *field, const char *value, size_t min, size_t max,
                     const char *extra, const char *charset_rule, mb_error *err)
{
    /* The character set first: once it holds, bytes and characters agree,
     * so the length rules below count what a person sees. */
    for (const char *p = value; *p != '\0'; p++) {
        if (!is_alnum(*p) && strchr(extra, *p) == NULL)
            return check_field_error(err, field, "%s", charset_rule);
    }
    return check_length(field, strlen(value), min, max, err);
}

int check_id(const char *field, const char *value, mb_error *err)
{
    return check_ascii(field, value, 1, 64, "._:-",
                            "may only contain letters, digits, '.', '_', ':' and '-'", err);
}

/* Code points that render as nothing or reorder what is around them: a
 * value holding one can look empty, look like another value, or show its
 * text in a different order than it is stored (Trojan Source). */
static bool text_invisible(uint32_t cp)
{
    return cp == 0x00ad || cp == 0x061c || cp == 0x180e || (cp >= 0x200b && cp <= 0x200f) ||
           (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x206f) || cp == 0xfeff ||
           (cp >= 0xfff9 && cp <= 0xfffb);
}

/* White space and the blank fillers that show as white space. */
static bool text_blank(uint32_t cp)
{
    return cp == 0x20 || cp == 0xa0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200a) ||
           cp == 0x202f || cp == 0x205f || cp == 0x3000 || cp == 0x115f || cp == 0x1160 ||
           cp == 0x2800 || cp == 0x3164 || cp == 0xffa0;
}

int check_text(const char *field, const char *value, size_t min, size_t max, mb_error *err)
{
    const uint8_t *s = (const uint8_t *)value;
    size_t n = strlen(value), chars = 0, visible = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t len = mb_utf8_next(s + i, n - i, &cp);
        if (len == 0)
            return check_field_error(err, field, "must be valid UTF-8");
        /* C0, DEL, C1, and the line and paragraph separators. */
        if (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029)
            return check_field_error(err, field, "must not contain control characters");
        if (text_invisible(cp))
            return check_field_error(err, field,
                                     "must not contain invisible or text-direction characters "
                                     "(zero-width, bidi controls, BOM)");
        if (!text_blank(cp))
            visible++;
        chars++;
        i += len;
    }
    if (chars > 0 && visible == 0)
        return check_field_error(err, field,
                                 min > 0 ? "must not be empty or only white space"
                                         : "must be empty or have a visible character");
    return check_length(field, chars, min, max, err);
}

/* Nothing minbill records happened before 1970, and the last second of
 * year 9999 times a million still fits an int64. */
#define TS_MAX_SECONDS INT64_C(253402300799) /* 9999-12-31T23:59:59Z */

int check_timestamp(const char *field, int64_t seconds, int32_t nanos, int64_t *us, mb_error *err)
{
    if (nanos < 0 || nanos > 999999999)
        return check_field_error(err, field, "nanos must be from 0 to 999999999");
    if (seconds < 0 || seconds > TS_MAX_SECONDS)
        return check_field_error(err, field, "must be from year 1970 to year 9999");
    *us = seconds * 1000000 + nanos / 1000;
    return 0;
}

int check_postal_code(const char *field, const char *value, mb_error *err)
{
    if (check_ascii(field, value, 1, 16, " -",
                         "may only contain letters, digits, spaces and hyphens", err) != 0)
        return -1;
    for (const char *p = value; *p != '\0'; p++) {
        if (is_alnum(*p))
            return 0;
    }
    return check_field_error(err, field, "must contain a letter or digit");
}

/* ISO 3166-1 alpha-2: the 249 officially assigned codes (ISO 3166
 * Maintenance Agency, unchanged since BQ, CW, SS and SX in 2010-2011).
 * User-assigned codes (XK for Kosovo, the XA..XZ range, AA, QM..QZ, ZZ),
 * exceptional reservations (EU, UK, EL...) and transitional ones are not
 * countries of a postal address. */
static const char iso3166_alpha2[][3] = {
    "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AQ", "AR", "AS", "AT", "AU", "AW", "AX", "AZ",
    "BA", "BB", "BD", "BE", "BF", "BG", "BH", "BI", "BJ", "BL", "BM", "BN", "BO", "BQ", "BR", "BS",
    "BT", "BV", "BW", "BY", "BZ", "CA", "CC", "CD", "CF", "CG", "CH", "CI", "CK", "CL", "CM", "CN",
    "CO", "CR", "CU", "CV", "CW", "CX", "CY", "CZ", "DE", "DJ", "DK", "DM", "DO", "DZ", "EC", "EE",
    "EG", "EH", "ER", "ES", "ET", "FI", "FJ", "FK", "FM", "FO", "FR", "GA", "GB", "GD", "GE", "GF",
    "GG", "GH", "GI", "GL", "GM", "GN", "GP", "GQ", "GR", "GS", "GT", "GU", "GW", "GY", "HK", "HM",
    "HN", "HR", "HT", "HU", "ID", "IE", "IL", "IM", "IN", "IO", "IQ", "IR", "IS", "IT", "JE", "JM",
    "JO", "JP", "KE", "KG", "KH", "KI", "KM", "KN", "KP", "KR", "KW", "KY", "KZ", "LA", "LB", "LC",
    "LI", "LK", "LR", "LS", "LT", "LU", "LV", "LY", "MA", "MC", "MD", "ME", "MF", "MG", "MH", "MK",
    "ML", "MM", "MN", "MO", "MP", "MQ", "MR", "MS", "MT", "MU", "MV", "MW", "MX", "MY", "MZ", "NA",
    "NC", "NE", "NF", "NG", "NI", "NL", "NO", "NP", "NR", "NU", "NZ", "OM", "PA", "PE", "PF", "PG",
    "PH", "PK", "PL", "PM", "PN", "PR", "PS", "PT", "PW", "PY", "QA", "RE", "RO", "RS", "RU", "RW",
    "SA", "SB", "SC", "SD", "SE", "SG", "SH", "SI", "SJ", "SK", "SL", "SM", "SN", "SO", "SR", "SS",
    "ST", "SV", "SX", "SY", "SZ", "TC", "TD", "TF", "TG", "TH", "TJ", "TK", "TL", "TM", "TN", "TO",
    "TR", "TT", "TV", "TW", "TZ", "UA", "UG", "UM", "US", "UY", "UZ", "VA", "VC", "VE", "VG", "VI",
    "VN", "VU", "WF", "WS", "YE", "YT", "ZA", "ZM", "ZW",
};

bool check_country_is_assigned(const char *cc)
{
    if (cc == NULL || !is_upper(cc[0]) || !is_upper(cc[1]) || cc[2] != '\0')
        return false;
    for (size_t i = 0; i < ARRAY_LEN(iso3166_alpha2); i++) {
        if (memcmp(iso3166_alpha2[i], cc, 2) == 0)
            return true;
    }
    return false;
}

int check_country(const char *field, const char *value, mb_error *err)
{
    if (!is_upper(value[0]) || !is_upper(value[1]) || value[2] != '\0')
        return check_field_error(err, field,
                                "must be an ISO 3166-1 alpha-2 code (two upper-case letters)");
    if (!check_country_is_assigned(value))
        return check_field_error(err, field, "is not an assigned ISO 3166-1 alpha-2 country code");
    return 0;
}

/* The 27 member states and the prefix of their VAT IDs, which is the ISO
 * code except for Greece (EL, the code the EU itself uses). */
static const struct eu_state {
    char country[3];
    char vat_prefix[3];
} eu_states[] = {
    {"AT", "AT"}, {"BE", "BE"}, {"BG", "BG"}, {"CY", "CY"}, {"CZ", "CZ"}, {"DE", "DE"},
    {"DK", "DK"}, {"EE", "EE"}, {"ES", "ES"}, {"FI", "FI"}, {"FR", "FR"}, {"GR", "EL"},
    {"HR", "HR"}, {"HU", "HU"}, {"IE", "IE"}, {"IT", "IT"}, {"LT", "LT"}, {"LU", "LU"},
    {"LV", "LV"}, {"MT", "MT"}, {"NL", "NL"}, {"PL", "PL"}, {"PT", "PT"}, {"RO", "RO"},
    {"SE", "SE"}, {"SI", "SI"}, {"SK", "SK"},
};

static const struct eu_state *eu_state_of(const char *cc)
{
    if (cc == NULL)
        return NULL;
    for (size_t i = 0; i < ARRAY_LEN(eu_states); i++) {
        if (strcmp(eu_states[i].country, cc) == 0)
            return &eu_states[i];
    }
    return NULL;
}

bool check_country_is_eu(const char *cc)
{
    return eu_state_of(cc) != NULL;
}

/* ISO 4217 List One as of amendment 180 (BGN withdrawn 2026-01-01; ANG
 * replaced by XCG, ZWL by ZWG, SLL by SLE, CUC and HRK withdrawn). Codes
 * whose minor unit is "N.A." (precious metals XAU, XAG, XPD, XPT; units of
 * account XDR, XSU, XUA, XBA..XBD; XTS, XXX) are left out: nobody can be
 * invoiced in them and there is no amount scale to store. */
static const struct currency {
    char code[4];
    signed char minor_units;
} iso4217[] = {
    {"AED", 2}, {"AFN", 2}, {"ALL", 2}, {"AMD", 2}, {"AOA", 2}, {"ARS", 2}, {"AUD", 2}, {"AWG", 2},
    {"AZN", 2}, {"BAM", 2}, {"BBD", 2}, {"BDT", 2}, {"BHD", 3}, {"BIF", 0}, {"BMD", 2}, {"BND", 2},
    {"BOB", 2}, {"BOV", 2}, {"BRL", 2}, {"BSD", 2}, {"BTN", 2}, {"BWP", 2}, {"BYN", 2}, {"BZD", 2},
    {"CAD", 2}, {"CDF", 2}, {"CHE", 2}, {"CHF", 2}, {"CHW", 2}, {"CLF", 4}, {"CLP", 0}, {"CNY", 2},
    {"COP", 2}, {"COU", 2}, {"CRC", 2}, {"CUP", 2}, {"CVE", 2}, {"CZK", 2}, {"DJF", 0}, {"DKK", 2},
    {"DOP", 2}, {"DZD", 2}, {"EGP", 2}, {"ERN", 2}, {"ETB", 2}, {"EUR", 2}, {"FJD", 2}, {"FKP", 2},
    {"GBP", 2}, {"GEL", 2}, {"GHS", 2}, {"GIP", 2}, {"GMD", 2}, {"GNF", 0}, {"GTQ", 2}, {"GYD", 2},
    {"HKD", 2}, {"HNL", 2}, {"HTG", 2}, {"HUF", 2}, {"IDR", 2}, {"ILS", 2}, {"INR", 2}, {"IQD", 3},
    {"IRR", 2}, {"ISK", 0}, {"JMD", 2}, {"JOD", 3}, {"JPY", 0}, {"KES", 2}, {"KGS", 2}, {"KHR", 2},
    {"KMF", 0}, {"KPW", 2}, {"KRW", 0}, {"KWD", 3}, {"KYD", 2}, {"KZT", 2}, {"LAK", 2}, {"LBP", 2},
    {"LKR", 2}, {"LRD", 2}, {"LSL", 2}, {"LYD", 3}, {"MAD", 2}, {"MDL", 2}, {"MGA", 2}, {"MKD", 2},
    {"MMK", 2}, {"MNT", 2}, {"MOP", 2}, {"MRU", 2}, {"MUR", 2}, {"MVR", 2}, {"MWK", 2}, {"MXN", 2},
    {"MXV", 2}, {"MYR", 2}, {"MZN", 2}, {"NAD", 2}, {"NGN", 2}, {"NIO", 2}, {"NOK", 2}, {"NPR", 2},
    {"NZD", 2}, {"OMR", 3}, {"PAB", 2}, {"PEN", 2}, {"PGK", 2}, {"PHP", 2}, {"PKR", 2}, {"PLN", 2},
    {"PYG", 0}, {"QAR", 2}, {"RON", 2}, {"RSD", 2}, {"RUB", 2}, {"RWF", 0}, {"SAR", 2}, {"SBD", 2},
    {"SCR", 2}, {"SDG", 2}, {"SEK", 2}, {"SGD", 2}, {"SHP", 2}, {"SLE", 2}, {"SOS", 2}, {"SRD", 2},
    {"SSP", 2}, {"STN", 2}, {"SVC", 2}, {"SYP", 2}, {"SZL", 2}, {"THB", 2}, {"TJS", 2}, {"TMT", 2},
    {"TND", 3}, {"TOP", 2}, {"TRY", 2}, {"TTD", 2}, {"TWD", 2}, {"TZS", 2}, {"UAH", 2}, {"UGX", 0},
    {"USD", 2}, {"USN", 2}, {"UYI", 0}, {"UYU", 2}, {"UYW", 4}, {"UZS", 2}, {"VED", 2}, {"VES", 2},
    {"VND", 0}, {"VUV", 0}, {"WST", 2}, {"XAD", 2}, {"XAF", 0}, {"XCD", 2}, {"XCG", 2}, {"XOF", 0},
    {"XPF", 0}, {"YER", 2}, {"ZAR", 2}, {"ZMW", 2}, {"ZWG", 2},
};

int check_currency_minor_units(const char *code)
{
    if (code == NULL)
        return -1;
    for (size_t i = 0; i < ARRAY_LEN(iso4217); i++) {
        if (strcmp(iso4217[i].code, code) == 0)
            return iso4217[i].minor_units;
    }
    return -1;
}

int check_currency(const char *field, const char *value, mb_error *err)
{
    if (!is_upper(value[0]) || !is_upper(value[1]) || !is_upper(value[2]) || value[3] != '\0')
        return check_field_error(err, field, "must be an ISO 4217 code (three upper-case letters)");
    if (check_currency_minor_units(value) < 0)
        return check_field_error(err, field, "is not an active ISO 4217 currency code");
    return 0;
}

/*
 * VAT IDs.
 *
 * The national formats are written in a pattern language kept tiny on
 * purpose, so the table reads like the published list:
 *   d  a digit            a  a letter            x  a letter or digit
 *   f  a French key character: a letter or digit, but not I or O
 *   p  the second character of an old Irish number: a letter, '+' or '*'
 *   anything else (upper-case letters, digits) matches itself;
 *   "{n}" or "{m,n}" after an element repeats it; '|' separates alternatives.
 * Patterns apply to what follows the two-letter prefix, after the value has
 * been stripped of separators and upper-cased.
 */
static bool vat_class_has(char cls, char c)
{
    switch (cls) {
    case 'd':
        return is_digit(c);
    case 'a':
        return is_upper(c);
    case 'x':
        return is_upper(c) || is_digit(c);
    case 'f':
        return (is_upper(c) && c != 'I' && c != 'O') || is_digit(c);
    case 'p':
        return is_upper(c) || c == '+' || c == '*';
    default:
        return c == cls;
    }
}

/* Matches s against the elements in [pat, end); backtracks over the
 * repetition counts, which is cheap at these lengths (at most 13). */
static bool vat_match_seq(const char *pat, const char *end, const char *s)
{
    if (pat == end)
        return *s == '\0';
    char cls = *pat++;
    long lo = 1, hi = 1;
    if (pat < end && *pat == '{') {
        char *q;
        lo = hi = strtol(pat + 1, &q, 10);
        if (*q == ',')
            hi = strtol(q + 1, &q, 10);
        pat = q + 1; /* past '}' */
    }
    for (long n = 0; n <= hi; n++) {
        if (n >= lo && vat_match_seq(pat, end, s + n))
            return true;
        if (s[n] == '\0' || !vat_class_has(cls, s[n]))
            return false;
    }
    return false;
}

static bool vat_match(const char *pattern, const char *s)
{
    for (const char *alt = pattern;;) {
        const char *bar = strchr(alt, '|');
        const char *end = bar != NULL ? bar : alt + strlen(alt);
        if (vat_match_seq(alt, end, s))
            return true;
        if (bar == NULL)
            return false;
        alt = bar + 1;
    }
}

/* ISO 7064 MOD 11,10 over the first eight digits of a German USt-IdNr.; the
 * ninth is the check digit (Bundeszentralamt für Steuern). */
static bool vat_de_check_digit_ok(const char *d)
{
    int product = 10;
    for (int i = 0; i < 8; i++) {
        int sum = (d[i] - '0' + product) % 10;
        if (sum == 0)
            sum = 10;
        product = (2 * sum) % 11;
    }
    int check = 11 - product;
    if (check == 10)
        check = 0;
    return check == d[8] - '0';
}

/* The formats as the Commission's VIES help describes them. NL IDs issued
 * since 2020 no longer pass the old "11-test", so NL is syntax only; of the
 * check digits only the German one is verified. ES: a NIF always holds a
 * letter, first or last, so nine digits are refused. */
static const struct vat_format {
    char prefix[3];
    const char *pattern;
    const char *rule; /* the pattern in words, for the error message */
} vat_formats[] = {
    {"AT", "Ud{8}", "U and 8 digits"},
    {"BE", "0d{9}|1d{9}", "10 digits starting with 0 or 1"},
    {"BG", "d{9,10}", "9 or 10 digits"},
    {"CY", "d{8}a", "8 digits and a letter"},
    {"CZ", "d{8,10}", "8 to 10 digits"},
    {"DE", "d{9}", "9 digits"},
    {"DK", "d{8}", "8 digits"},
    {"EE", "d{9}", "9 digits"},
    {"EL", "d{9}", "9 digits"},
    {"ES", "ad{7}x|d{8}a", "7 digits between two letters or digits, at least one of them a letter"},
    {"FI", "d{8}", "8 digits"},
    {"FR", "ffd{9}", "2 letters or digits (not I or O) and 9 digits"},
    {"HR", "d{11}", "11 digits"},
    {"HU", "d{8}", "8 digits"},
    {"IE", "d{7}a{1,2}|dpd{5}a",
     "7 digits and 1 or 2 letters, or a digit, a letter, '+' or '*', 5 digits and a letter"},
    {"IT", "d{11}", "11 digits"},
    {"LT", "d{9}|d{12}", "9 or 12 digits"},
    {"LU", "d{8}", "8 digits"},
    {"LV", "d{11}", "11 digits"},
    {"MT", "d{8}", "8 digits"},
    {"NL", "d{9}Bd{2}", "9 digits, B and 2 digits"},
    {"PL", "d{10}", "10 digits"},
    {"PT", "d{9}", "9 digits"},
    {"RO", "d{2,10}", "2 to 10 digits"},
    {"SE", "d{12}", "12 digits"},
    {"SI", "d{8}", "8 digits"},
    {"SK", "d{10}", "10 digits"},
    /* Northern Ireland trades goods under EU VAT rules (Windsor Framework). */
    {"XI", "d{9}|d{12}|GDd{3}|HAd{3}", "9 or 12 digits, or GD or HA and 3 digits"},
};

/* Any other prefix (CHE... in Switzerland, ...MVA in Norway, GB...): only
 * a generic envelope, two letters and then 2 to 13 letters or digits. */
static const struct vat_format vat_generic = {"", "x{2,13}", "2 to 13 letters or digits"};

static const struct vat_format *vat_format_of(const char *prefix)
{
    for (size_t i = 0; i < ARRAY_LEN(vat_formats); i++) {
        if (memcmp(vat_formats[i].prefix, prefix, 2) == 0)
            return &vat_formats[i];
    }
    return &vat_generic;
}

int check_vat_id(const char *field, const char *value, const char *country_code,
                 const char *country_field, char *out, size_t out_size, mb_error *err)
{
    char id[CHECK_VAT_ID_SIZE];
    clear_out(out, out_size);
    if (out != NULL && out_size < CHECK_VAT_ID_SIZE)
        return buffer_too_small(err, field);
    int len = check_compact(value, " .-", true, id, sizeof id);
    if (len < 0)
        return check_field_error(err, field, "must be at most %d characters without separators",
                                CHECK_VAT_ID_SIZE - 1);
    if (len == 0)
        return check_field_error(err, field, "must not be empty");
    if (!is_upper(id[0]) || !is_upper(id[1]))
        return check_field_error(err, field, "must start with a two-letter country prefix");

    /* "GR..." is Greece's ISO code but never its VAT prefix: say so rather
     * than let it pass as some non-EU number or blame the billing country. */
    const struct eu_state *named = eu_state_of((char[3]){id[0], id[1], '\0'});
    if (named != NULL && memcmp(named->vat_prefix, id, 2) != 0)
        return check_field_error(err, field,
                                "must start with the member state's VAT prefix (EL for Greece)");
    const struct eu_state *billing = eu_state_of(country_code);
    if (billing != NULL && memcmp(billing->vat_prefix, id, 2) != 0)
        return check_field_error(err, field, "country prefix does not match %s", country_field);

    /* The message describes the format but does not repeat the prefix: it
     * is part of the value. */
    const struct vat_format *fmt = vat_format_of(id);
    if (!vat_match(fmt->pattern, id + 2))
        return check_field_error(err, field, "must have the country prefix followed by %s",
                                fmt->rule);
    if (memcmp(id, "DE", 2) == 0 && !vat_de_check_digit_ok(id + 2))
        return check_field_error(err, field, "check digit is wrong");
    if (out != NULL)
        memcpy(out, id, (size_t)len + 1);
    return 0;
}

/*
 * E-mail addresses.
 *
 * Lower-casing the local part is not what RFC 5321 allows in general, but
 * every large provider treats it case-insensitively, and the blind index
 * must find every contact a data subject's request names (Art. 15 GDPR):
 * missing "Jane@x.de" because "jane@x.de" was asked for would be worse than
 * the theoretical mailbox that differs only in case.
 */
static bool email_atext(char c)
{
    return is_alnum(c) || (c != '\0' && strchr("!#$%&'*+-/=?^_`{|}~", c) != NULL);
}

static int email_check_local(const char *field, const char *s, size_t len, mb_error *err)
{
    if (len < 1 || len > 64)
        return check_field_error(err, field, "local part must be 1 to 64 characters");
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '.') {
            if (i == 0 || i == len - 1 || s[i + 1] == '.')
                return check_field_error(
                    err, field,
                    "local part must not start or end with a dot or contain two dots in a row");
        } else if (!email_atext(s[i])) {
            return check_field_error(err, field, "local part contains a character not allowed");
        }
    }
    return 0;
}

static int email_check_domain(const char *field, const char *s, size_t len, mb_error *err)
{
    if (len < 1 || len > 253)
        return check_field_error(err, field, "domain must be 1 to 253 characters");
    size_t labels = 0;
    const char *label = s, *end = s + len;
    while (label <= end) {
        const char *dot = memchr(label, '.', (size_t)(end - label));
        size_t n = (size_t)((dot != NULL ? dot : end) - label);
        if (n == 0)
            return check_field_error(err, field, "domain must not have an empty label");
        if (n > 63)
            return check_field_error(err, field, "domain labels must be at most 63 characters");
        for (size_t i = 0; i < n; i++) {
            if (!is_alnum(label[i]) && label[i] != '-')
                return check_field_error(err, field,
                                        "domain may only contain letters, digits, '-' and '.'");
        }
        if (label[0] == '-' || label[n - 1] == '-')
            return check_field_error(err, field, "domain labels must not start or end with '-'");
        labels++;
        if (dot == NULL) {
            /* label is the top-level domain: alphabetic, or an IDN A-label. */
            bool alpha = n >= 2;
            for (size_t i = 0; i < n && alpha; i++)
                alpha = is_alpha(label[i]);
            bool idn = n > 4 && strncasecmp(label, "xn--", 4) == 0;
            if (labels < 2)
                return check_field_error(err, field, "domain must have at least two labels");
            if (!alpha && !idn)
                return check_field_error(err, field,
                                        "top-level domain must be at least two letters or an "
                                        "IDN A-label");
            return 0;
        }
        label = dot + 1;
    }
    return 0; /* not reached: the last label returns above */
}

int check_email(const char *field, const char *value, char *out, size_t out_size,
                     mb_error *err)
{
    clear_out(out, out_size);
    if (out != NULL && out_size < CHECK_EMAIL_SIZE)
        return buffer_too_small(err, field);
    const char *ws = " \t\r\n";
    const char *s = value + strspn(value, ws);
    size_t len = strlen(s);
    while (len > 0 && strchr(ws, s[len - 1]) != NULL)
        len--;
    if (len == 0)
        return check_field_error(err, field, "must not be empty");
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] >= 0x80)
            return check_field_error(err, field, "must be an ASCII e-mail address");
    }
    if (len > CHECK_EMAIL_SIZE - 1)
        return check_field_error(err, field, "must be at most %d characters", CHECK_EMAIL_SIZE - 1);
    const char *at = memchr(s, '@', len);
    if (at == NULL || memchr(at + 1, '@', len - (size_t)(at + 1 - s)) != NULL)
        return check_field_error(err, field, "must have the form local-part@domain");
    size_t local_len = (size_t)(at - s);
    if (email_check_local(field, s, local_len, err) != 0 ||
        email_check_domain(field, at + 1, len - local_len - 1, err) != 0)
        return -1;
    if (out != NULL) {
        for (size_t i = 0; i < len; i++)
            out[i] = to_lower(s[i]);
        out[len] = '\0';
    }
    return 0;
}

/*
 * Phone numbers.
 *
 * "+49 (0)151 ..." is the usual way to show the trunk prefix that is dialled
 * only inside the country; E.164 has no room for it, so a parenthesised 0
 * after the country code is dropped rather than kept as a wrong digit. (Italy
 * keeps its leading 0 in E.164, but writes it without parentheses.)
 */
int check_phone(const char *field, const char *value, char *out, size_t out_size,
                     mb_error *err)
{
    static const char rule[] = "must be an international number: '+' and 8 to 15 digits, "
                               "the first not 0";
    char tmp[48], num[CHECK_PHONE_SIZE];
    clear_out(out, out_size);
    if (out != NULL && out_size < CHECK_PHONE_SIZE)
        return buffer_too_small(err, field);
    if (check_compact(value, " -.", false, tmp, sizeof tmp) < 0)
        return check_field_error(err, field, "%s", rule);
    size_t n = 0;
    for (const char *p = tmp; *p != '\0'; p++) {
        if (n >= 2 && strncmp(p, "(0)", 3) == 0) {
            p += 2;
            continue;
        }
        if (*p == '(' || *p == ')')
            continue;
        if (n == sizeof num - 1)
            return check_field_error(err, field, "%s", rule);
        num[n++] = *p;
    }
    num[n] = '\0';
    if (n < 9 || num[0] != '+' || num[1] == '0')
        return check_field_error(err, field, "%s", rule);
    for (size_t i = 1; i < n; i++) {
        if (!is_digit(num[i]))
            return check_field_error(err, field, "%s", rule);
    }
    if (out != NULL)
        memcpy(out, num, n + 1);
    return 0;
}

/*
 * Check digits, shared with payment_validate.c.
 */

bool check_luhn(const char *digits, size_t len)
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

/* IBAN lengths from the SWIFT IBAN registry (ISO 13616; the 89 countries
 * listed as of 2025, SEPA and non-SEPA alike). Each dependent territory that
 * banks under its parent's code (Åland under FI, the French overseas
 * departments under FR, Jersey, Guernsey and the Isle of Man under GB...)
 * uses the parent's prefix, so it is not listed. */
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

int check_iban_length(const char *cc)
{
    for (size_t i = 0; i < ARRAY_LEN(iban_countries); i++) {
        if (memcmp(iban_countries[i].cc, cc, 2) == 0)
            return iban_countries[i].len;
    }
    return 0;
}

/* ISO 7064 MOD 97-10 over the IBAN with its first four characters moved to
 * the end and letters read as 10..35, folded one character at a time so no
 * big number is needed. 00, 01 and 99 can satisfy MOD 97 but ISO 13616
 * never issues them. */
bool check_iban_checksum(const char *s, size_t len)
{
    if (len < 5 || !is_digit(s[2]) || !is_digit(s[3]))
        return false;
    int check = (s[2] - '0') * 10 + (s[3] - '0');
    int r = 0;
    for (size_t k = 0; k < len; k++) {
        char c = s[(k + 4) % len];
        r = is_digit(c) ? (r * 10 + (c - '0')) % 97 : (r * 100 + (c - 'A' + 10)) % 97;
    }
    return check >= 2 && check <= 98 && r == 1;
}

/*
 * IBANs, BICs and SEPA creditor identifiers.
 */

/* value without spaces and upper-cased into s (size bytes): its length, or
 * -1 unless it fits and holds letters and digits only. */
static int compact_alnum(const char *field, const char *value, char *s, size_t size, mb_error *err)
{
    int len = check_compact(value, " ", true, s, size);
    if (len < 0)
        return check_field_error(err, field, "must be at most %zu characters", size - 1);
    for (int i = 0; i < len; i++) {
        if (!is_upper(s[i]) && !is_digit(s[i]))
            return check_field_error(err, field, "may only contain letters, digits and spaces");
    }
    return len;
}

static int iban_check(const char *field, const char *value, char *s, mb_error *err)
{
    int len = compact_alnum(field, value, s, CHECK_IBAN_SIZE, err);
    if (len < 0)
        return -1;
    if (len < 2 || !is_upper(s[0]) || !is_upper(s[1]))
        return check_field_error(err, field, "must start with a two-letter country code");
    int want = check_iban_length(s);
    /* The country code is printed: it is no secret and tells the user more
     * than "invalid" would. */
    if (want == 0)
        return check_field_error(err, field, "country %.2s does not use IBANs", s);
    if (len != want)
        return check_field_error(err, field, "length for country %.2s must be %d", s, want);
    if (!is_digit(s[2]) || !is_digit(s[3]))
        return check_field_error(err, field, "characters 3 and 4 must be digits");
    if (!check_iban_checksum(s, (size_t)len))
        return check_field_error(err, field, "checksum is wrong");
    return 0;
}

int check_iban(const char *field, const char *value, char *out, size_t out_size, char country[3],
               char last4[5], mb_error *err)
{
    char s[CHECK_IBAN_SIZE];
    clear_out(out, out_size);
    clear_out(country, 3);
    clear_out(last4, 5);
    if (out != NULL && out_size < CHECK_IBAN_SIZE)
        return buffer_too_small(err, field);
    int rc = iban_check(field, value, s, err);
    if (rc == 0) {
        size_t len = strlen(s);
        if (out != NULL)
            memcpy(out, s, len + 1);
        if (country != NULL) {
            memcpy(country, s, 2);
            country[2] = '\0';
        }
        if (last4 != NULL)
            memcpy(last4, s + len - 4, 5);
    }
    explicit_bzero(s, sizeof s);
    return rc;
}

int check_bic(const char *field, const char *value, bool required, mb_error *err)
{
    if (value[0] == '\0')
        return required ? check_field_error(err, field, "must not be empty") : 0;
    size_t len = strlen(value);
    for (size_t i = 0; i < len; i++) {
        if (!is_upper(value[i]) && !is_digit(value[i]))
            return check_field_error(err, field, "may only contain upper-case letters and digits");
    }
    if (len != 8 && len != 11)
        return check_field_error(err, field, "must be 8 or 11 characters");
    for (size_t i = 0; i < 4; i++) {
        if (!is_upper(value[i]))
            return check_field_error(err, field, "must start with a four-letter bank code");
    }
    /* SWIFT gives Kosovo's banks XK, which ISO 3166-1 leaves user-assigned;
     * its IBANs are in the registry too, so its BICs must pass. */
    char cc[3] = {value[4], value[5], '\0'};
    if (!check_country_is_assigned(cc) && strcmp(cc, "XK") != 0)
        return check_field_error(err, field,
                                 "characters 5 and 6 must be an ISO 3166-1 country code");
    /* Location and branch codes are letters or digits, as checked above. */
    return 0;
}

int check_creditor_id(const char *field, const char *value, char *out, size_t out_size,
                      mb_error *err)
{
    char s[CHECK_CREDITOR_ID_SIZE];
    clear_out(out, out_size);
    if (out != NULL && out_size < CHECK_CREDITOR_ID_SIZE)
        return buffer_too_small(err, field);
    int len = compact_alnum(field, value, s, sizeof s, err);
    if (len < 0)
        return -1;
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
    char folded[CHECK_CREDITOR_ID_SIZE];
    memcpy(folded, s, 4);
    memcpy(folded + 4, s + 7, (size_t)len - 7);
    if (!check_iban_checksum(folded, (size_t)len - 3))
        return check_field_error(err, field, "checksum is wrong");
    if (out != NULL)
        memcpy(out, s, (size_t)len + 1);
    return 0;
}

/*
 * Personal data in free text.
 *
 * A heuristic by design: it looks for the shapes a careless hand pastes
 * into a purpose or a description (a card number, an IBAN, an e-mail
 * address, a phone number) and errs towards letting ordinary references
 * (INV-2025-000042, dates, amounts, versions) through. Digit runs are split
 * into groups by single separators; the rules below say which groups count.
 */
#define PD_SEPARATORS " -./()"

static bool pd_is_sep(char c)
{
    return c != '\0' && strchr(PD_SEPARATORS, c) != NULL;
}

/* The groups of the digit run starting at s: digits, where up to max_gap
 * characters of sep between two digits join them into the next group. */
#define PD_MAX_GROUPS 24
typedef struct pd_run {
    char digits[96];
    size_t n_digits;
    size_t group_end[PD_MAX_GROUPS]; /* digit offset after each group */
    size_t n_groups;
} pd_run;

static void pd_scan_run(const char *s, const char *sep, size_t max_gap, pd_run *r)
{
    size_t i = 0;
    r->n_digits = r->n_groups = 0;
    for (;;) {
        while (is_digit(s[i])) {
            if (r->n_digits < sizeof r->digits)
                r->digits[r->n_digits++] = s[i];
            i++;
        }
        if (r->n_groups < PD_MAX_GROUPS)
            r->group_end[r->n_groups++] = r->n_digits;
        size_t gap = 0;
        while (gap < max_gap && s[i + gap] != '\0' && strchr(sep, s[i + gap]) != NULL)
            gap++;
        if (gap == 0 || !is_digit(s[i + gap]))
            break;
        i += gap;
    }
}

/* True if the digit at value[i] continues a run begun before it (after
 * one or two separators): only whole runs are judged, never their tails. */
static bool pd_continues_run(const char *value, size_t i)
{
    for (size_t k = 1; k <= 3 && k <= i; k++) {
        if (is_digit(value[i - k]))
            return k > 1;
        if (!pd_is_sep(value[i - k]))
            return false;
    }
    return false;
}

/* Card numbers: 12 to 19 digits passing Luhn at the start of a run,
 * written as one group or as groups of at least 4 digits (the last may have
 * 3: 4-4-4-4-3), not starting with 0 (no card number does; many references
 * do). */
static size_t pd_group_len(const pd_run *r, size_t g)
{
    return r->group_end[g] - (g == 0 ? 0 : r->group_end[g - 1]);
}

static bool pd_has_card(const pd_run *r)
{
    size_t len = pd_group_len(r, 0), b = 0;
    /* The longest prefix of whole groups that keeps to the card layout. */
    while (b + 1 < r->n_groups && pd_group_len(r, b) >= 4 && pd_group_len(r, b + 1) >= 3 &&
           len + pd_group_len(r, b + 1) <= 19)
        len += pd_group_len(r, ++b);
    return len >= 12 && len <= 19 && r->digits[0] != '0' && check_luhn(r->digits, len);
}

/* dd.mm.yyyy or yyyy-mm-dd at the start of the run. */
static bool pd_starts_with_date(const pd_run *r)
{
    if (r->n_groups < 3)
        return false;
    size_t g0 = pd_group_len(r, 0), g1 = pd_group_len(r, 1), g2 = pd_group_len(r, 2);
    const char *d = r->digits;
    bool century = false;
    if (g0 == 2 && g1 == 2 && g2 == 4)
        century = (d[4] == '1' && d[5] == '9') || (d[4] == '2' && d[5] == '0');
    else if (g0 == 4 && g1 == 2 && g2 == 2)
        century = (d[0] == '1' && d[1] == '9') || (d[0] == '2' && d[1] == '0');
    return century;
}

/* Phone numbers: "+" and 8 or more digits; an international prefix (00
 * and a non-zero digit, 10 or more digits); a national number (0 and a
 * non-zero digit, 9 to 12 digits); or 11 to 15 digits in two or more groups
 * of at least 3 (dates and references have shorter groups). Runs that
 * continue a word ("INV-2025-000042") are references and runs that start
 * with a date are dates, not numbers. */
static bool pd_is_phone(const char *value, size_t at, const pd_run *r, bool plus)
{
    if (plus)
        return r->n_digits >= 8;
    char prev = at > 0 ? value[at - 1] : ' ';
    char prev2 = at > 1 ? value[at - 2] : ' ';
    if (is_alnum(prev) || (pd_is_sep(prev) && prev != ' ' && prev != '(' && is_alnum(prev2)))
        return false;
    const char *d = r->digits;
    if (r->n_digits < 9 || pd_starts_with_date(r))
        return false;
    if (d[0] == '0' && d[1] == '0')
        return d[2] != '0' && r->n_digits >= 10;
    if (d[0] == '0')
        return d[1] != '0' && r->n_digits <= 12;
    if (r->n_groups < 2 || r->n_digits < 11 || r->n_digits > 15)
        return false;
    for (size_t g = 0; g < r->n_groups; g++)
        if (pd_group_len(r, g) < 3)
            return false;
    return true;
}

/* IBANs: at the start of a word, two letters, two digits and then letters
 * and digits (single spaces between groups ignored) up to the length the
 * IBAN registry gives that country, with a valid MOD 97 checksum. */
static bool pd_is_iban(const char *value, size_t at)
{
    const char *s = value + at;
    if ((at > 0 && is_alnum(value[at - 1])) || !is_alpha(s[0]) || !is_alpha(s[1]) ||
        !is_digit(s[2]) || !is_digit(s[3]))
        return false;
    char cc[3] = {to_upper(s[0]), to_upper(s[1]), '\0'};
    int want = check_iban_length(cc);
    if (want == 0)
        return false;
    char buf[CHECK_IBAN_MAX + 1];
    int n = 0;
    for (size_t i = 0; s[i] != '\0' && n < want; i++) {
        if (is_alnum(s[i]))
            buf[n++] = to_upper(s[i]);
        else if (!(s[i] == ' ' && i > 0 && is_alnum(s[i - 1]) && is_alnum(s[i + 1])))
            break;
    }
    bool found = n == want && check_iban_checksum(buf, (size_t)n);
    memset(buf, 0, sizeof buf);
    return found;
}

/* An e-mail address around the '@' at value[at]: a local part before it
 * and a domain of two or more labels after it, the last alphabetic. */
static bool pd_is_email(const char *value, size_t at)
{
    if (at == 0 || !email_atext(value[at - 1]))
        return false;
    const char *d = value + at + 1;
    size_t labels = 0, len = 0, last_start = 0;
    for (size_t i = 0;; i++) {
        if (is_alnum(d[i]) || d[i] == '-') {
            if (len == 0)
                last_start = i;
            len++;
            continue;
        }
        if (len == 0)
            break;
        labels++;
        if (d[i] != '.' || !(is_alnum(d[i + 1])))
            break;
        len = 0;
    }
    if (labels < 2 || len < 2)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!is_alpha(d[last_start + i]))
            return false;
    return true;
}

int check_no_personal_data(const char *field, const char *value, mb_error *err)
{
    pd_run r;
    for (size_t i = 0; value[i] != '\0'; i++) {
        char c = value[i];
        if (c == '@' && pd_is_email(value, i))
            return check_field_error(err, field, "must not contain an e-mail address");
        if (is_alpha(c) && pd_is_iban(value, i))
            return check_field_error(err, field, "must not contain an IBAN");
        bool plus =
            c == '+' && (is_digit(value[i + 1]) || (value[i + 1] == '(' && is_digit(value[i + 2])));
        bool run_start =
            is_digit(c) && (i == 0 || !is_digit(value[i - 1])) && !pd_continues_run(value, i);
        if (!plus && !run_start)
            continue;
        size_t at = plus ? i + 1 + (value[i + 1] == '(') : i;
        /* Card numbers are written with single spaces, hyphens or dots. */
        pd_scan_run(value + at, " -.", 1, &r);
        bool card = !plus && pd_has_card(&r);
        pd_scan_run(value + at, PD_SEPARATORS, 2, &r);
        bool phone = pd_is_phone(value, i, &r, plus);
        memset(&r, 0, sizeof r);
        if (card)
            return check_field_error(err, field, "must not contain a card number");
        if (phone)
            return check_field_error(err, field, "must not contain a phone number");
    }
    return 0;
}

int check_stored_text(const char *field, const char *value, size_t min, size_t max, mb_error *err)
{
    if (check_text(field, value, min, max, err) != 0)
        return -1;
    return check_no_personal_data(field, value, err);
}
