/* test_payment_validate.c - card numbers and expiry, SEPA mandate
 * references, SEPA reach and reveal purposes (IBANs and BICs: test_check.c).
 * Every rejection is also checked not to echo the card number or IBAN: no
 * run of four of its characters may appear in the message, with or without
 * the separators the caller typed. */
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
    RUN(test_mandate_reference);
    RUN(test_sepa_reach);
    RUN(test_purpose);
    return check_summary();
}
