/* test_payment_validate.c - card numbers and expiry, IBANs, BICs and SEPA
 * mandate references. Every rejection is also checked not to echo the card
 * number or IBAN: no run of four of its characters may appear in the
 * message, with or without the separators the caller typed. */
#include <stdbool.h>
#include <string.h>

#include "accounts/payment_validate.h"
#include "base/error.h"
#include "check.h"
#include "expect_field.h"

/* The value with separators removed, so "4111 1111 ..." is also looked
 * for as "41111111...". */
static void squeeze(const char *value, char *out, size_t size)
{
    size_t n = 0;
    for (const char *p = value; *p != '\0' && n + 1 < size; p++) {
        if (*p != ' ' && *p != '-')
            out[n++] = *p;
    }
    out[n] = '\0';
}

static bool has_run_of_four(const char *rule, const char *s)
{
    for (size_t i = 0; i + 4 <= strlen(s); i++) {
        char run[5] = {s[i], s[i + 1], s[i + 2], s[i + 3], '\0'};
        if (strcasestr(rule, run) != NULL)
            return true;
    }
    return false;
}

static bool echoes(const char *rule, const char *value)
{
    char bare[128];
    squeeze(value, bare, sizeof bare);
    return has_run_of_four(rule, value) || has_run_of_four(rule, bare);
}

#define expect(rc, err, field, value, want) expect_field(rc, err, field, value, want, echoes)

static void test_brand_names(void)
{
    /* The echo guard itself must bite, or every check below is vacuous. */
    CHECK(echoes(": ends in 1111", "4111 1111 1111 1111"));
    CHECK(echoes(": 7034 is wrong", "BE68 5390 0754 7034"));
    CHECK(echoes(": has 11114111", "4111-1111-4111"));
    CHECK(!echoes(": checksum is wrong", "BE68 5390 0754 7034"));

    static const struct {
        pay_brand brand;
        const char *name;
    } names[] = {
        {PAY_BRAND_UNKNOWN, "unknown"},       {PAY_BRAND_VISA, "visa"},
        {PAY_BRAND_MASTERCARD, "mastercard"}, {PAY_BRAND_AMEX, "amex"},
        {PAY_BRAND_DISCOVER, "discover"},     {PAY_BRAND_JCB, "jcb"},
        {PAY_BRAND_DINERS, "diners"},         {PAY_BRAND_UNIONPAY, "unionpay"},
        {PAY_BRAND_MAESTRO, "maestro"},       {(pay_brand)99, "unknown"},
    };
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        CHECK(strcmp(pay_brand_name(names[i].brand), names[i].name) == 0);
}

#define CARD "payment_method.card"
#define NOW_YEAR 2026
#define NOW_MONTH 11

static void test_card_numbers(void)
{
    /* Public test numbers where the brands publish them; the rest are
     * constructed at range edges with a correct Luhn digit. */
    static const struct {
        const char *pan;
        pay_brand brand;  /* for valid numbers */
        const char *want; /* NULL: must pass */
    } cases[] = {
        {"4111111111111111", PAY_BRAND_VISA, NULL},
        {"4242424242424242", PAY_BRAND_VISA, NULL},
        {"4242 4242 4242 4242", PAY_BRAND_VISA, NULL},
        {"4012-8888-8888-1881", PAY_BRAND_VISA, NULL},
        {"4222222222222", PAY_BRAND_VISA, NULL},       /* 13 digits */
        {"4000000000000000006", PAY_BRAND_VISA, NULL}, /* 19 digits */
        {"5555555555554444", PAY_BRAND_MASTERCARD, NULL},
        {"5105105105105100", PAY_BRAND_MASTERCARD, NULL},
        {"2223003122003222", PAY_BRAND_MASTERCARD, NULL}, /* 2-series */
        {"2221000000000009", PAY_BRAND_MASTERCARD, NULL},
        {"2720000000000005", PAY_BRAND_MASTERCARD, NULL},
        {"378282246310005", PAY_BRAND_AMEX, NULL},
        {"371449635398431", PAY_BRAND_AMEX, NULL},
        {"3400 000000 00009", PAY_BRAND_AMEX, NULL},
        {"6011111111111117", PAY_BRAND_DISCOVER, NULL},
        {"6011000990139424", PAY_BRAND_DISCOVER, NULL},
        {"6440000000000005", PAY_BRAND_DISCOVER, NULL},
        {"6490000000000000007", PAY_BRAND_DISCOVER, NULL},
        {"6500000000000002", PAY_BRAND_DISCOVER, NULL},
        {"6221260000000000", PAY_BRAND_DISCOVER, NULL}, /* co-branded range, low edge */
        {"6229250000000003", PAY_BRAND_DISCOVER, NULL}, /* co-branded range, high edge */
        {"3530111333300000", PAY_BRAND_JCB, NULL},
        {"3566002020360505", PAY_BRAND_JCB, NULL},
        {"3528000000000007", PAY_BRAND_JCB, NULL},
        {"3589000000000000009", PAY_BRAND_JCB, NULL},
        {"30569309025904", PAY_BRAND_DINERS, NULL},
        {"36227206271667", PAY_BRAND_DINERS, NULL},
        {"30000000000004", PAY_BRAND_DINERS, NULL},
        {"30500000000003", PAY_BRAND_DINERS, NULL},
        {"3800000000000006", PAY_BRAND_DINERS, NULL},
        {"3900000000000000008", PAY_BRAND_DINERS, NULL},
        {"6200000000000005", PAY_BRAND_UNIONPAY, NULL},
        {"6221250000000001", PAY_BRAND_UNIONPAY, NULL}, /* just below Discover's range */
        {"6229260000000002", PAY_BRAND_UNIONPAY, NULL}, /* just above it */
        {"6200000000000000000", PAY_BRAND_UNIONPAY, NULL},
        {"501800000009", PAY_BRAND_MAESTRO, NULL}, /* 12 digits */
        {"5020000000000005", PAY_BRAND_MAESTRO, NULL},
        {"5038000000005", PAY_BRAND_MAESTRO, NULL},
        {"5893000000000009", PAY_BRAND_MAESTRO, NULL},
        {"6304000000000000000", PAY_BRAND_MAESTRO, NULL},
        {"6390000000000005", PAY_BRAND_MAESTRO, NULL},
        {"6759649826438453", PAY_BRAND_MAESTRO, NULL},
        {"6761000000000006", PAY_BRAND_MAESTRO, NULL},
        {"6763000000000000007", PAY_BRAND_MAESTRO, NULL},
        {"0604000000000000", PAY_BRAND_MAESTRO, NULL},

        {"", 0, "must be 12 to 19 digits"},
        {"41111111111", 0, "must be 12 to 19 digits"},
        {"41111111111111111111", 0, "must be 12 to 19 digits"},
        {"4111 1111 1111 1111 1111 1111", 0, "must be 12 to 19 digits"},
        {"4111 1111 1111 1112", 0, "is not a valid card number (check digit is wrong)"},
        {"4242424242424241", 0, "check digit is wrong"},
        {"5555555555554445", 0, "check digit is wrong"},
        {"378282246310006", 0, "check digit is wrong"},
        {"4111a11111111111", 0, "may only contain digits, spaces and hyphens"},
        {"4111.1111.1111.1111", 0, "may only contain digits, spaces and hyphens"},
        {"4111/1111/1111/1111", 0, "may only contain digits"},
        {"\xef\xbc\x94"
         "111111111111111",
         0, "may only contain digits"}, /* fullwidth 4 */
        {"1000000000000008", 0, "must be a card number of a supported brand"},
        {"9000000000000001", 0, "supported brand"},
        {"7000000000000005", 0, "supported brand"},
        {"3527000000000008", 0, "supported brand"}, /* just below JCB */
        {"3590000000000000", 0, "supported brand"}, /* just above JCB */
        {"30600000000001", 0, "supported brand"},   /* after Diners 300-305 */
        {"2220000000000000", 0, "supported brand"}, /* below Mastercard 2221 */
        {"2721000000000004", 0, "supported brand"}, /* above Mastercard 2720 */
        {"5600000000000003", 0, "supported brand"},
        {"5000000000000009", 0, "supported brand"},
        {"6012000000000003", 0, "supported brand"},
        {"6430000000000007", 0, "supported brand"},
        {"400000000000006", 0, "has a length that visa does not issue"},
        {"3700000000000007", 0, "has a length that amex does not issue"},
        {"550000000000004", 0, "has a length that mastercard does not issue"},
        {"5500000000000000004", 0, "mastercard does not issue"},
        {"620000000000000", 0, "unionpay does not issue"},
        {"3600000000004", 0, "diners does not issue"},
        {"601100000000001", 0, "discover does not issue"},
        {"352800000000007", 0, "jcb does not issue"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char digits[PAY_PAN_SIZE] = "junk", last4[5] = "junk";
        pay_brand brand = PAY_BRAND_VISA;
        mb_error err = {0};
        int rc = pay_check_card(CARD, cases[i].pan, 12, 2030, NOW_YEAR, NOW_MONTH, digits, &brand,
                                last4, &err);
        expect(rc, &err, CARD ".pan", cases[i].pan, cases[i].want);
        if (cases[i].want == NULL) {
            char bare[64];
            squeeze(cases[i].pan, bare, sizeof bare);
            CHECK(strcmp(digits, bare) == 0);
            CHECK(strcmp(last4, bare + strlen(bare) - 4) == 0);
            CHECK(brand == cases[i].brand);
            if (brand != cases[i].brand)
                fprintf(stderr, "   ... %s is %s\n", cases[i].pan, pay_brand_name(brand));
        } else {
            CHECK(digits[0] == '\0' && last4[0] == '\0' && brand == PAY_BRAND_UNKNOWN);
        }
    }
}

static void test_card_expiry(void)
{
    static const struct {
        int month, year;
        const char *field; /* the field the error names; NULL: must pass */
        const char *want;
    } cases[] = {
        {NOW_MONTH, NOW_YEAR, NULL, NULL}, /* valid through the end of this month */
        {12, NOW_YEAR, NULL, NULL},
        {1, NOW_YEAR + 1, NULL, NULL},
        {12, 2099, NULL, NULL},
        {NOW_MONTH - 1, NOW_YEAR, CARD ".exp_month", "the card has expired"},
        {1, NOW_YEAR, CARD ".exp_month", "the card has expired"},
        {12, NOW_YEAR - 1, CARD ".exp_year", "the card has expired"},
        {12, 2000, CARD ".exp_year", "the card has expired"},
        {0, 2030, CARD ".exp_month", "must be 1 to 12"},
        {13, 2030, CARD ".exp_month", "must be 1 to 12"},
        {-1, 2030, CARD ".exp_month", "must be 1 to 12"},
        {12, 30, CARD ".exp_year", "must be a four-digit year (2000 to 2099)"},
        {12, 2100, CARD ".exp_year", "must be a four-digit year"},
        {12, 1999, CARD ".exp_year", "must be a four-digit year"},
    };
    const char *pan = "4111111111111111";
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char digits[PAY_PAN_SIZE], last4[5];
        pay_brand brand;
        mb_error err = {0};
        int rc = pay_check_card(CARD, pan, cases[i].month, cases[i].year, NOW_YEAR, NOW_MONTH,
                                digits, &brand, last4, &err);
        expect(rc, &err, cases[i].field != NULL ? cases[i].field : CARD ".pan", pan, cases[i].want);
        if (cases[i].want == NULL)
            CHECK(strcmp(last4, "1111") == 0 && brand == PAY_BRAND_VISA);
        else
            CHECK(digits[0] == '\0' && last4[0] == '\0');
    }
    /* The year turns over: December's cards expire, January's are valid. */
    char digits[PAY_PAN_SIZE], last4[5];
    pay_brand brand;
    mb_error err = {0};
    CHECK(pay_check_card(CARD, pan, 12, 2026, 2027, 1, digits, &brand, last4, &err) == -1);
    CHECK(pay_check_card(CARD, pan, 1, 2027, 2027, 1, digits, &brand, last4, &err) == 0);
}

static void test_iban(void)
{
    static const struct {
        const char *iban;
        const char *want; /* NULL: must pass */
        const char *normalised;
    } cases[] = {
        {"DE89370400440532013000", NULL, "DE89370400440532013000"},
        {"de89 3704 0044 0532 0130 00", NULL, "DE89370400440532013000"},
        {"GB82WEST12345698765432", NULL, "GB82WEST12345698765432"},
        {"GB29 NWBK 6016 1331 9268 19", NULL, "GB29NWBK60161331926819"},
        /* Examples from the SWIFT IBAN registry. */
        {"FR1420041010050500013M02606", NULL, "FR1420041010050500013M02606"},
        {"NL91ABNA0417164300", NULL, "NL91ABNA0417164300"},
        {"AT611904300234573201", NULL, "AT611904300234573201"},
        {"BE68539007547034", NULL, "BE68539007547034"},
        {"IT60X0542811101000000123456", NULL, "IT60X0542811101000000123456"},
        {"ES9121000418450200051332", NULL, "ES9121000418450200051332"},
        {"CH9300762011623852957", NULL, "CH9300762011623852957"},
        {"NO9386011117947", NULL, "NO9386011117947"},
        {"SE4550000000058398257466", NULL, "SE4550000000058398257466"},
        {"PL61109010140000071219812874", NULL, "PL61109010140000071219812874"},
        {"FI2112345600000785", NULL, "FI2112345600000785"},
        {"IE29AIBK93115212345678", NULL, "IE29AIBK93115212345678"},
        {"PT50000201231234567890154", NULL, "PT50000201231234567890154"},
        {"LU280019400644750000", NULL, "LU280019400644750000"},
        {"BG80BNBG96611020345678", NULL, "BG80BNBG96611020345678"},
        {"MT84MALT011000012345MTLCAST001S", NULL, "MT84MALT011000012345MTLCAST001S"},
        {"XK051212012345678906", NULL, "XK051212012345678906"},
        {"LC55HEMM000100010012001200023015", NULL, "LC55HEMM000100010012001200023015"},
        {"RU0304452522540817810538091310419", NULL, "RU0304452522540817810538091310419"},
        /* Check digits at the ends of the issued range 02..98. */
        {"DE02370400440532013014", NULL, "DE02370400440532013014"},
        {"DE98370400440532013032", NULL, "DE98370400440532013032"},

        {"DE8937040044053201300", "length for country DE must be 22", NULL},
        {"DE893704004405320130000", "length for country DE must be 22", NULL},
        {"NO938601111794", "length for country NO must be 15", NULL},
        {"GB82WEST1234569876543", "length for country GB must be 22", NULL},
        {"FR14200410100505000013M02606", "length for country FR must be 27", NULL},
        {"DE", "length for country DE must be 22", NULL},
        {"DE88370400440532013000", "checksum is wrong", NULL},
        {"DE89370400440532013001", "checksum is wrong", NULL},
        {"DE89370400440523013000", "checksum is wrong", NULL}, /* transposed digits */
        {"GB82WEST12345698765431", "checksum is wrong", NULL},
        {"NL91ABNA0417164301", "checksum is wrong", NULL},
        {"FR1420041010050500013M02607", "checksum is wrong", NULL},
        /* 99, 00 and 01 satisfy MOD 97 here (as 02, 97 and 98 do) but are
         * never issued. */
        {"DE99370400440532013014", "checksum is wrong", NULL},
        {"DE00370400440532013050", "checksum is wrong", NULL},
        {"DE01370400440532013032", "checksum is wrong", NULL},
        {"US12345678901234", "country US does not use IBANs", NULL},
        {"XX89370400440532013000", "does not use IBANs", NULL},
        {"1289370400440532013000", "must start with a two-letter country code", NULL},
        {"", "must start with a two-letter country code", NULL},
        {"D", "two-letter country code", NULL},
        {"DEXX370400440532013000", "characters 3 and 4 must be digits", NULL},
        {"DE89-3704-0044-0532-0130-00", "may only contain letters, digits and spaces", NULL},
        {"DE89.3704.0044.0532.0130.00", "may only contain letters, digits and spaces", NULL},
        {"DE89370400440532013000\xc3\xa4", "may only contain letters, digits and spaces", NULL},
        {"DE8937040044053201300012345678901234", "must be at most 34 characters", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char norm[PAY_IBAN_SIZE] = "junk", country[3] = "XX", last4[5] = "junk";
        mb_error err = {0};
        int rc = pay_check_iban("payment_method.sepa_debit.iban", cases[i].iban, norm, country,
                                last4, &err);
        expect(rc, &err, "payment_method.sepa_debit.iban", cases[i].iban, cases[i].want);
        if (cases[i].want == NULL) {
            size_t n = strlen(cases[i].normalised);
            CHECK(strcmp(norm, cases[i].normalised) == 0);
            CHECK(strncmp(country, cases[i].normalised, 2) == 0 && country[2] == '\0');
            CHECK(strcmp(last4, cases[i].normalised + n - 4) == 0);
        } else {
            CHECK(norm[0] == '\0' && country[0] == '\0' && last4[0] == '\0');
        }
    }
}

static void test_bic(void)
{
    static const struct {
        const char *bic;
        bool required;
        const char *want; /* NULL: must pass */
    } cases[] = {
        {"DEUTDEFF", true, NULL},
        {"DEUTDEFF500", true, NULL},
        {"COBADEFFXXX", true, NULL},
        {"NEDSZAJJXXX", true, NULL},
        {"ABNANL2A", true, NULL},
        {"BNPAFRPPXXX", true, NULL},
        {"RBKOXKPR", true, NULL}, /* Kosovo: SWIFT's XK */
        {"", false, NULL},
        {"", true, "must not be empty"},
        {"DEUTDEF", true, "must be 8 or 11 characters"},
        {"DEUTDEFF50", true, "must be 8 or 11 characters"},
        {"DEUTDEFF5001", true, "must be 8 or 11 characters"},
        {"deutdeff", true, "may only contain upper-case letters and digits"},
        {"DEUT DEFF", true, "may only contain upper-case letters and digits"},
        {"DEUT-DE-FF", false, "may only contain upper-case letters and digits"},
        {"DEU1DEFF", true, "must start with a four-letter bank code"},
        {"1EUTDEFF", true, "four-letter bank code"},
        {"DEUTXXFF", true, "characters 5 and 6 must be an ISO 3166-1 country code"},
        {"DEUTELFF", true, "characters 5 and 6 must be an ISO 3166-1 country code"},
        {"DEUT12FF", true, "characters 5 and 6"},
        {"DEUTUKFF500", true, "characters 5 and 6"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mb_error err = {0};
        int rc =
            pay_check_bic("payment_method.sepa_debit.bic", cases[i].bic, cases[i].required, &err);
        expect(rc, &err, "payment_method.sepa_debit.bic", cases[i].bic, cases[i].want);
    }
}

static void test_mandate_reference(void)
{
    static const struct {
        const char *ref;
        const char *want; /* NULL: must pass */
    } cases[] = {
        {"MANDATE-2024-0001", NULL},
        {"a", NULL},
        {"REF/2024/01", NULL},
        {"Ab0 /-?:().,'+x", NULL},
        {"x/y", NULL},
        {"12345678901234567890123456789012345", NULL}, /* 35 */
        {"", "must not be empty"},
        {"123456789012345678901234567890123456", "must be at most 35 characters"},
        {"/REF1", "must not start or end with '/' or contain '//'"},
        {"REF1/", "must not start or end with '/'"},
        {"RE//F1", "contain '//'"},
        {"/", "must not start or end with '/'"},
        {"REF_1", "may only contain letters, digits, spaces and / - ? : ( ) . , ' +"},
        {"R\xc3\x89"
         "F1",
         "may only contain letters, digits, spaces"},
        {"REF\t1", "may only contain"},
        {"REF&1", "may only contain"},
        {"REF@1", "may only contain"},
        {"REF\"1\"", "may only contain"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mb_error err = {0};
        int rc = pay_check_mandate_reference("payment_method.sepa_debit.mandate_reference",
                                             cases[i].ref, &err);
        expect(rc, &err, "payment_method.sepa_debit.mandate_reference", cases[i].ref,
               cases[i].want);
    }
}

/* Issue 10, defect 5: SEPA direct debit only inside the scheme, with a BIC
 * outside the EEA. */
static void test_sepa_reach(void)
{
    static const struct {
        const char *country, *bic;
        const char *want; /* NULL: must pass */
    } cases[] = {
        {"DE", "", NULL},
        {"FR", "", NULL},
        {"NO", "", NULL},
        {"LI", "", NULL},
        {"IS", "", NULL},
        {"CH", "UBSWCHZH80A", NULL},
        {"GB", "NWBKGB2LXXX", NULL},
        {"GI", "NWBKGIGIXXX", NULL},
        {"SM", "", "required for an account in a SEPA country outside the EEA"},
        {"CH", "", "outside the EEA"},
        {"GB", "", "outside the EEA"},
        {"MC", "", "outside the EEA"},
        {"VA", "", "outside the EEA"},
        {"AD", "", "outside the EEA"},
        {"AL", "", "outside the EEA"},
        {"RS", "", "outside the EEA"},
        {"SA", "", "is not in the SEPA direct debit scheme"},
        {"SA", "NCBKSAJEXXX", "is not in the SEPA direct debit scheme"},
        {"TR", "", "not in the SEPA"},
        {"BR", "", "not in the SEPA"},
        {"UA", "", "not in the SEPA"},
        {"XK", "", "not in the SEPA"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mb_error err = {0};
        int rc = pay_check_sepa_reach("sepa_debit.iban", cases[i].country, "sepa_debit.bic",
                                      cases[i].bic, &err);
        const char *field = cases[i].want != NULL && strstr(cases[i].want, "EEA")
                                ? "sepa_debit.bic"
                                : "sepa_debit.iban";
        expect(rc, &err, field, "", cases[i].want);
    }
    CHECK(pay_sepa_reach_of("JE") == PAY_SEPA_NON_EEA && pay_sepa_reach_of("AX") == PAY_SEPA_EEA);
    CHECK(pay_sepa_reach_of("US") == PAY_SEPA_OUTSIDE &&
          pay_sepa_reach_of(NULL) == PAY_SEPA_OUTSIDE);
}

/* The reference part of a purpose must not come back; the code may. */
static bool echoes_reference(const char *rule, const char *value)
{
    const char *colon = strchr(value, ':');
    return colon != NULL && echoes(rule, colon + 1);
}

/* Issue 10, defect 1: a reveal's purpose is a code and a reference. */
static void test_purpose(void)
{
    static const struct {
        const char *purpose;
        const char *want; /* NULL: must pass */
    } cases[] = {
        {"collect-payment", NULL},
        {"collect-payment:INV-2025-000042", NULL},
        {"refund:RE-2025-17", NULL},
        {"chargeback:CB_2026/11.3", NULL},
        {"dispute", NULL},
        {"fraud-review:case-77", NULL},
        {"psp-migration:2026-01-31", NULL},
        {"", "must not be empty"},
        {"collect INV-2025-000042", "must be one of collect-payment, refund"},
        {"collect card 4242424242424242 for jane.doe@example.de", "must be one of"},
        {"Refund", "must be one of"},
        {"refund:", "reference after ':' must not be empty"},
        {"refund:a b", "reference after ':' must be 1 to 64 letters"},
        {"refund:jane@example.de", "reference after ':' must be 1 to 64 letters"},
        {"refund:+4915112345678", "reference after ':' must be 1 to 64 letters"},
        {"refund:4242424242424242", "must not contain a card number"},
        {"refund:4242-4242-4242-4242", "must not contain a card number"},
        {"refund:DE89370400440532013000", "must not contain an IBAN"},
        {"refund:015112345678", "must not contain a phone number"},
        {"refund:0151-12345678", "must not contain a phone number"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mb_error err = {0};
        int rc = pay_check_purpose("purpose", cases[i].purpose, &err);
        expect_field(rc, &err, "purpose", cases[i].purpose, cases[i].want, echoes_reference);
    }
}

int main(void)
{
    RUN(test_brand_names);
    RUN(test_card_numbers);
    RUN(test_card_expiry);
    RUN(test_iban);
    RUN(test_bic);
    RUN(test_mandate_reference);
    RUN(test_sepa_reach);
    RUN(test_purpose);
    return check_summary();
}
