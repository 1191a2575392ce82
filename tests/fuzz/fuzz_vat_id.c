/*
 * fuzz_vat_id.c - check_vat_id (base/check.c). Input: the billing
 * country code, '\n', the VAT id.
 *
 * Invariants: an accepted id normalises to upper-case letters and digits
 * (and the '+' or '*' of old Irish numbers) starting with a two-letter
 * prefix, which is accepted again and normalises to itself; for an EU
 * billing country the prefix is that state's; a refusal names the field
 * and quotes no digits of the id.
 */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "base/check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *country, *value;
    fuzz_split(data, size, &country, &value);
    if (value == NULL)
        return 0;
    char out[CHECK_VAT_ID_SIZE], again[CHECK_VAT_ID_SIZE];
    mb_error err;
    if (check_vat_id("account.vat_id", value, country, "c", out, sizeof out, &err) == 0) {
        size_t n = strlen(out);
        FUZZ_ASSERT(n >= 4 && n < CHECK_VAT_ID_SIZE);
        FUZZ_ASSERT(out[0] >= 'A' && out[0] <= 'Z' && out[1] >= 'A' && out[1] <= 'Z');
        for (size_t i = 2; i < n; i++)
            FUZZ_ASSERT((out[i] >= 'A' && out[i] <= 'Z') || (out[i] >= '0' && out[i] <= '9') ||
                        out[i] == '+' || out[i] == '*');
        FUZZ_ASSERT(check_vat_id("f", out, country, "c", again, sizeof again, &err) == 0);
        FUZZ_ASSERT(strcmp(out, again) == 0);
        /* Without a billing country the id stands on its own. */
        FUZZ_ASSERT(check_vat_id("f", out, "", "c", NULL, 0, &err) == 0);
        if (check_country_is_eu(country))
            FUZZ_ASSERT(memcmp(out, strcmp(country, "GR") == 0 ? "EL" : country, 2) == 0);
    } else {
        fuzz_assert_field_error(&err, "account.vat_id");
        FUZZ_ASSERT(out[0] == '\0');
        fuzz_assert_no_echo(err.msg, value, 3);
    }
    free(country);
    free(value);
    return 0;
}
