/*
 * fuzz_decimal.c - decimal prices (invoicing/decimal.c): the parser on the
 * input as text, the formatter on its first eight bytes as a number.
 *
 * Invariants: an accepted price is the exact value of the string (checked
 * here digit by digit, without overflow since the parser promises at most
 * INT64_MAX micros); its canonical form parses back to the same micros and
 * is its own canonical form (no leading or trailing zeros that carry
 * nothing). format(x) parses back to x for every x >= 0.
 */
#include "fuzz.h"

#include <stdlib.h>
#include <string.h>

#include "base/decimal.h"

static void canonical(int64_t micros)
{
    char out[DECIMAL_FORMAT_SIZE], again[DECIMAL_FORMAT_SIZE];
    int64_t back = -1;
    mb_error err;
    decimal_format_micros(micros, out);
    size_t n = strlen(out);
    FUZZ_ASSERT(n > 0 && n < DECIMAL_FORMAT_SIZE);
    FUZZ_ASSERT(decimal_parse_micros("f", out, &back, &err) == 0 && back == micros);
    FUZZ_ASSERT(strcmp(decimal_format_micros(back, again), out) == 0);
    FUZZ_ASSERT(!(out[0] == '0' && out[1] >= '0' && out[1] <= '9'));
    if (strchr(out, '.') != NULL)
        FUZZ_ASSERT(out[n - 1] != '0' && n - (size_t)(strchr(out, '.') - out) - 1 <= 6);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size >= 8) {
        uint64_t x = 0;
        for (int i = 0; i < 8; i++)
            x = x << 8 | data[i];
        canonical((int64_t)(x >> 1));
    }
    char *s = fuzz_text(data, size);
    if (s == NULL)
        return 0;
    int64_t micros = -1;
    mb_error err;
    if (decimal_parse_micros("prices[0].unit_price", s, &micros, &err) == 0) {
        FUZZ_ASSERT(micros >= 0);
        /* The exact value, from the text: whole digits, then up to six. */
        const char *dot = strchr(s, '.');
        size_t whole_len = dot != NULL ? (size_t)(dot - s) : strlen(s);
        FUZZ_ASSERT(whole_len >= 1);
        int64_t rest = micros;
        int64_t frac = rest % DECIMAL_SCALE, whole = rest / DECIMAL_SCALE;
        for (int d = 5; d >= 0; d--) {
            int want = 0;
            if (dot != NULL && (size_t)(5 - d) < strlen(dot + 1))
                want = dot[1 + 5 - d] - '0';
            FUZZ_ASSERT(want >= 0 && want <= 9);
            int64_t p = 1;
            for (int k = 0; k < d; k++)
                p *= 10;
            FUZZ_ASSERT(frac / p % 10 == want);
        }
        for (size_t i = whole_len; i-- > 0; whole /= 10)
            FUZZ_ASSERT(s[i] - '0' == whole % 10);
        FUZZ_ASSERT(whole == 0);
        canonical(micros);
    } else {
        fuzz_assert_field_error(&err, "prices[0].unit_price");
        FUZZ_ASSERT(micros == -1);
    }
    free(s);
    return 0;
}
