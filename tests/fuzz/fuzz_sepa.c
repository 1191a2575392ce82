/*
 * fuzz_sepa.c - check_iban, check_bic (base/check.c) and
 * pay_check_mandate_reference (accounts/payment_validate.c), one input
 * through all three.
 *
 * Invariants: an accepted IBAN normalises to its compact upper-case form
 * (the value without spaces), whose MOD 97 (computed here independently)
 * is 1, which is accepted again as itself; country and last4 come from
 * it. An accepted BIC is 8 or 11 upper-case letters and digits; an accepted
 * mandate reference 1 to 35 characters of the SEPA set. A refusal names
 * the field and quotes no run of the IBAN (its country code aside).
 */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "accounts/payment_validate.h"
#include "base/check.h"

static int mod97(const char *s)
{
    size_t n = strlen(s);
    int r = 0;
    for (size_t k = 0; k < n; k++) {
        char c = s[(k + 4) % n];
        r = c >= '0' && c <= '9' ? (r * 10 + (c - '0')) % 97 : (r * 100 + (c - 'A' + 10)) % 97;
    }
    return r;
}

static void iban(const char *v)
{
    char out[CHECK_IBAN_SIZE], again[CHECK_IBAN_SIZE], cc[3], cc2[3], last4[5], last4b[5];
    mb_error err;
    if (check_iban("sepa_debit.iban", v, out, sizeof out, cc, last4, &err) == 0) {
        size_t n = strlen(out), k = 0;
        FUZZ_ASSERT(n >= 15 && n <= 34 && mod97(out) == 1);
        for (const char *p = v; *p != '\0'; p++) {
            if (*p == ' ')
                continue;
            char up = *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
            FUZZ_ASSERT(k < n && up == out[k]);
            k++;
        }
        FUZZ_ASSERT(k == n);
        FUZZ_ASSERT(memcmp(cc, out, 2) == 0 && cc[2] == '\0' && strcmp(last4, out + n - 4) == 0);
        FUZZ_ASSERT(check_iban("f", out, again, sizeof again, cc2, last4b, &err) == 0);
        FUZZ_ASSERT(strcmp(out, again) == 0 && strcmp(cc, cc2) == 0);
    } else {
        FUZZ_ASSERT(out[0] == '\0' && cc[0] == '\0' && last4[0] == '\0');
        fuzz_assert_field_error(&err, "sepa_debit.iban");
        /* Numbers in IBAN rules: the length limit, "characters 3 and 4",
         * a country's IBAN length (15 to 33). */
        static const char *const limits[] = {"3",  "4",  "15", "16", "18", "19", "20", "21",
                                             "22", "23", "24", "25", "26", "27", "28", "29",
                                             "30", "31", "32", "33", "34", NULL};
        fuzz_assert_digits_only(err.msg, limits);
        fuzz_assert_no_echo(err.msg, v, 3);
    }
}

static void bic(const char *v)
{
    mb_error err;
    int rc = check_bic("sepa_debit.bic", v, true, &err);
    size_t n = strlen(v);
    if (rc == 0) {
        FUZZ_ASSERT(n == 8 || n == 11);
        for (size_t i = 0; i < n; i++)
            FUZZ_ASSERT((v[i] >= 'A' && v[i] <= 'Z') || (i >= 4 && v[i] >= '0' && v[i] <= '9'));
    } else {
        fuzz_assert_field_error(&err, "sepa_debit.bic");
    }
    FUZZ_ASSERT((check_bic("f", v, false, &err) == 0) == (rc == 0 || n == 0));
}

static void mandate(const char *v)
{
    mb_error err;
    size_t n = strlen(v);
    if (pay_check_mandate_reference("sepa_debit.mandate_reference", v, &err) == 0) {
        FUZZ_ASSERT(n >= 1 && n <= 35 && v[0] != '/' && v[n - 1] != '/' && !strstr(v, "//"));
        for (size_t i = 0; i < n; i++)
            FUZZ_ASSERT((v[i] >= 'A' && v[i] <= 'Z') || (v[i] >= 'a' && v[i] <= 'z') ||
                        (v[i] >= '0' && v[i] <= '9') || strchr(" /-?:().,'+", v[i]) != NULL);
    } else {
        fuzz_assert_field_error(&err, "sepa_debit.mandate_reference");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *v = fuzz_text(data, size);
    if (v == NULL)
        return 0;
    iban(v);
    bic(v);
    mandate(v);
    free(v);
    return 0;
}
