/*
 * fuzz_card.c - pay_check_card (accounts/payment_validate.c). Input: two
 * bytes choosing the expiry month and year, then the PAN.
 *
 * Invariants: an accepted card's digits are the PAN's digits (separators
 * dropped), 12 to 19 of them, pass Luhn (computed here independently), have
 * a brand, and are accepted again as the same card; last4 is their tail.
 * A refusal names one of the card's fields and quotes no run of the PAN's
 * digits (PCI DSS 3.3); on refusal nothing is written out.
 */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "accounts/payment_validate.h"

#define NOW_YEAR 2026
#define NOW_MONTH 6

static bool luhn(const char *d)
{
    size_t n = strlen(d);
    int sum = 0;
    for (size_t i = 0; i < n; i++) {
        int v = d[n - 1 - i] - '0';
        if (i % 2 == 1)
            v = v * 2 > 9 ? v * 2 - 9 : v * 2;
        sum += v;
    }
    return sum % 10 == 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    int month = data[0] % 15 - 1;    /* -1..13 */
    int year = 1998 + data[1] % 105; /* 1998..2102 */
    char *pan = fuzz_text(data + 2, size - 2);
    if (pan == NULL)
        return 0;
    char digits[PAY_PAN_SIZE], again[PAY_PAN_SIZE], last4[5], last4b[5];
    pay_brand brand, brand2;
    mb_error err;
    if (pay_check_card("card", pan, month, year, NOW_YEAR, NOW_MONTH, digits, &brand, last4,
                       &err) == 0) {
        size_t n = strlen(digits);
        FUZZ_ASSERT(n >= 12 && n <= 19 && luhn(digits) && brand != PAY_BRAND_UNKNOWN);
        FUZZ_ASSERT(strcmp(pay_brand_name(brand), "unknown") != 0);
        FUZZ_ASSERT(strcmp(last4, digits + n - 4) == 0);
        size_t k = 0;
        for (const char *p = pan; *p != '\0'; p++) {
            if (*p == ' ' || *p == '-')
                continue;
            FUZZ_ASSERT(k < n && *p == digits[k]);
            k++;
        }
        FUZZ_ASSERT(k == n);
        FUZZ_ASSERT(month >= 1 && month <= 12 &&
                    (year > NOW_YEAR || (year == NOW_YEAR && month >= NOW_MONTH)));
        FUZZ_ASSERT(pay_check_card("c", digits, month, year, NOW_YEAR, NOW_MONTH, again, &brand2,
                                   last4b, &err) == 0);
        FUZZ_ASSERT(strcmp(digits, again) == 0 && brand == brand2 && strcmp(last4, last4b) == 0);
    } else {
        FUZZ_ASSERT(digits[0] == '\0' && last4[0] == '\0' && brand == PAY_BRAND_UNKNOWN);
        fuzz_assert_field_error(&err, NULL);
        FUZZ_ASSERT(strncmp(err.msg, "card.pan: ", 10) == 0 ||
                    strncmp(err.msg, "card.exp_month: ", 16) == 0 ||
                    strncmp(err.msg, "card.exp_year: ", 15) == 0);
        /* The only numbers a card error may carry are its rules' own. */
        static const char *const limits[] = {"1", "12", "19", "2000", "2099", NULL};
        fuzz_assert_digits_only(err.msg, limits);
        fuzz_assert_no_echo(err.msg, pan, 5);
    }
    free(pan);
    return 0;
}
