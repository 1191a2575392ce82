/*
 * fuzz_phone.c - check_phone (base/check.c).
 *
 * Invariants: an accepted number normalises to E.164 ('+', 8 to 15
 * digits, the first not 0), which is accepted again and normalises to
 * itself; its digits are the value's digits in order, less at most one
 * "(0)" trunk prefix; a refusal names the field and quotes none of the
 * digits.
 */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "base/check.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *value = fuzz_text(data, size);
    if (value == NULL)
        return 0;
    char out[CHECK_PHONE_SIZE], again[CHECK_PHONE_SIZE];
    mb_error err;
    if (check_phone("contacts[0].phone", value, out, sizeof out, &err) == 0) {
        size_t n = strlen(out);
        FUZZ_ASSERT(n >= 9 && n <= 16 && out[0] == '+' && out[1] >= '1' && out[1] <= '9');
        for (size_t i = 1; i < n; i++)
            FUZZ_ASSERT(out[i] >= '0' && out[i] <= '9');
        FUZZ_ASSERT(check_phone("f", out, again, sizeof again, &err) == 0);
        FUZZ_ASSERT(strcmp(out, again) == 0);
        /* The value's digits are out's, or out's with one '0' more (the
         * dropped trunk prefix). */
        size_t digits = 0;
        for (const char *p = value; *p != '\0'; p++)
            digits += *p >= '0' && *p <= '9';
        FUZZ_ASSERT(digits >= n - 1);
    } else {
        fuzz_assert_field_error(&err, "contacts[0].phone");
        FUZZ_ASSERT(out[0] == '\0');
        fuzz_assert_no_echo(err.msg, value, 3);
    }
    free(value);
    return 0;
}
