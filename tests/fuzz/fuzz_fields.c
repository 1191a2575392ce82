/*
 * fuzz_fields.c - the other field checks of base/check.c: ids, free text,
 * postal codes, country and currency codes, one input through all of them.
 *
 * Invariants: each verdict matches the rule as the header states it,
 * checked here independently (character sets, lengths in code points, the
 * reference tables agreeing with each other); every refusal names the
 * field.
 */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "base/check.h"

static bool in(char c, const char *set)
{
    return c != '\0' && strchr(set, c) != NULL;
}

static bool alnum(char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static size_t code_points(const char *s)
{
    size_t n = 0;
    for (; *s != '\0'; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

static bool has_control(const char *s)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; u[i] != '\0'; i++)
        if (u[i] < 0x20 || u[i] == 0x7f || (u[i] == 0xc2 && u[i + 1] >= 0x80 && u[i + 1] <= 0x9f))
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *v = fuzz_text(data, size);
    if (v == NULL)
        return 0;
    size_t len = strlen(v);
    mb_error err;

    bool id_ok = len >= 1 && len <= 64;
    for (size_t i = 0; i < len; i++)
        id_ok &= alnum(v[i]) || in(v[i], "._:-");
    int rc = check_id("account_id", v, &err);
    FUZZ_ASSERT((rc == 0) == id_ok);
    if (rc != 0)
        fuzz_assert_field_error(&err, "account_id");

    size_t cps = code_points(v);
    bool text_ok = !has_control(v) && cps >= 1 && cps <= 200;
    rc = check_text("account.legal_name", v, 1, 200, &err);
    FUZZ_ASSERT((rc == 0) == text_ok);
    if (rc != 0)
        fuzz_assert_field_error(&err, "account.legal_name");
    FUZZ_ASSERT((check_text("f", v, 0, 3, &err) == 0) == (!has_control(v) && cps <= 3));

    bool postal_ok = len >= 1 && len <= 16, any = false;
    for (size_t i = 0; i < len; i++) {
        postal_ok &= alnum(v[i]) || in(v[i], " -");
        any |= alnum(v[i]);
    }
    rc = check_postal_code("account.billing_address.postal_code", v, &err);
    FUZZ_ASSERT((rc == 0) == (postal_ok && any));
    if (rc != 0)
        fuzz_assert_field_error(&err, "account.billing_address.postal_code");

    rc = check_country("account.billing_address.country_code", v, &err);
    FUZZ_ASSERT((rc == 0) == check_country_is_assigned(v));
    if (rc == 0)
        FUZZ_ASSERT(len == 2 && v[0] >= 'A' && v[0] <= 'Z' && v[1] >= 'A' && v[1] <= 'Z');
    else
        fuzz_assert_field_error(&err, "account.billing_address.country_code");
    if (check_country_is_eu(v))
        FUZZ_ASSERT(rc == 0);

    rc = check_currency("account.currency", v, &err);
    int minor = check_currency_minor_units(v);
    FUZZ_ASSERT((rc == 0) == (minor >= 0));
    if (rc == 0)
        FUZZ_ASSERT(len == 3 && minor <= 4);
    else
        fuzz_assert_field_error(&err, "account.currency");
    free(v);
    return 0;
}
