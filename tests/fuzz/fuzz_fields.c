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
#include "base/utf8.h"

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

/* check_text's character rules as check.h states them: no control
 * characters (C0, DEL, C1, U+2028, U+2029), no invisible or
 * text-direction characters, not white space (or a blank filler) alone. */
static bool text_chars_ok(const char *s)
{
    const uint8_t *u = (const uint8_t *)s;
    size_t n = strlen(s), chars = 0, visible = 0;
    for (size_t i = 0; i < n;) {
        uint32_t c;
        size_t k = mb_utf8_next(u + i, n - i, &c);
        if (c < 0x20 || (c >= 0x7f && c <= 0x9f) || c == 0x2028 || c == 0x2029)
            return false;
        if (c == 0xad || c == 0x61c || c == 0x180e || (c >= 0x200b && c <= 0x200f) ||
            (c >= 0x202a && c <= 0x202e) || (c >= 0x2060 && c <= 0x206f) || c == 0xfeff ||
            (c >= 0xfff9 && c <= 0xfffb))
            return false;
        bool blank = c == 0x20 || c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
                     c == 0x202f || c == 0x205f || c == 0x3000 || c == 0x115f || c == 0x1160 ||
                     c == 0x2800 || c == 0x3164 || c == 0xffa0;
        visible += !blank;
        chars++;
        i += k;
    }
    return chars == 0 || visible > 0;
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
    bool text_ok = text_chars_ok(v) && cps >= 1 && cps <= 200;
    rc = check_text("account.legal_name", v, 1, 200, &err);
    FUZZ_ASSERT((rc == 0) == text_ok);
    if (rc != 0)
        fuzz_assert_field_error(&err, "account.legal_name");
    FUZZ_ASSERT((check_text("f", v, 0, 3, &err) == 0) == (text_chars_ok(v) && cps <= 3));

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
