/*
 * fuzz_email.c - check_email (base/check.c).
 *
 * Invariants: an accepted address normalises to a form that is accepted
 * again and normalises to itself (the blind index must be stable), is
 * lower-case ASCII without surrounding white space, and has one '@'; a
 * refusal names the field and quotes no part of the address.
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
    char out[CHECK_EMAIL_SIZE], again[CHECK_EMAIL_SIZE];
    mb_error err;
    if (check_email("contacts[0].email", value, out, sizeof out, &err) == 0) {
        size_t n = strlen(out);
        FUZZ_ASSERT(n > 0 && n < CHECK_EMAIL_SIZE);
        for (size_t i = 0; i < n; i++)
            FUZZ_ASSERT(out[i] > ' ' && out[i] < 0x7f && !(out[i] >= 'A' && out[i] <= 'Z'));
        const char *at = strchr(out, '@');
        FUZZ_ASSERT(at != NULL && at != out && strchr(at + 1, '@') == NULL);
        FUZZ_ASSERT(check_email("f", out, again, sizeof again, &err) == 0);
        FUZZ_ASSERT(strcmp(out, again) == 0);
        FUZZ_ASSERT(check_email("f", value, NULL, 0, &err) == 0);
    } else {
        fuzz_assert_field_error(&err, "contacts[0].email");
        FUZZ_ASSERT(out[0] == '\0');
        fuzz_assert_no_email(err.msg, value);
        fuzz_assert_no_echo(err.msg, value, 5);
        FUZZ_ASSERT(check_email("f", value, NULL, 0, &err) != 0);
    }
    free(value);
    return 0;
}
