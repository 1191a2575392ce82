/*
 * decimal.c - see decimal.h.
 */
#include "base/decimal.h"

#include <stdio.h>

int decimal_parse_micros(const char *field, const char *s, int64_t *micros, mb_error *err)
{
    if (s == NULL || s[0] == '\0')
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT, "%s: required", field);
    int64_t whole = 0;
    size_t i = 0;
    for (; s[i] >= '0' && s[i] <= '9'; i++) {
        /* whole * DECIMAL_SCALE must stay representable too. */
        if (whole > (INT64_MAX / DECIMAL_SCALE - (s[i] - '0')) / 10)
            return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT, "%s: too large", field);
        whole = whole * 10 + (s[i] - '0');
    }
    if (i == 0)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "%s: must be a decimal number such as \"0.0025\" (digits first)",
                            field);
    int64_t frac = 0;
    int digits = 0;
    if (s[i] == '.') {
        for (i++; s[i] >= '0' && s[i] <= '9'; i++) {
            if (++digits > DECIMAL_MAX_FRACTION_DIGITS)
                return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                                    "%s: at most %d decimal places", field,
                                    DECIMAL_MAX_FRACTION_DIGITS);
            frac = frac * 10 + (s[i] - '0');
        }
        if (digits == 0)
            return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                                "%s: a decimal point must be followed by digits", field);
    }
    if (s[i] != '\0')
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "%s: must be a decimal number such as \"0.0025\" (digits and one "
                            "'.', no sign, exponent or spaces)",
                            field);
    for (; digits < DECIMAL_MAX_FRACTION_DIGITS; digits++)
        frac *= 10;
    int64_t v = whole * DECIMAL_SCALE;
    if (v > INT64_MAX - frac)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT, "%s: too large", field);
    *micros = v + frac;
    return 0;
}

const char *decimal_format_micros(int64_t micros, char out[DECIMAL_FORMAT_SIZE])
{
    if (micros < 0)
        micros = 0; /* prices are never negative; see the CHECKs in 0003_metering */
    int64_t whole = micros / DECIMAL_SCALE, frac = micros % DECIMAL_SCALE;
    if (frac == 0) {
        snprintf(out, DECIMAL_FORMAT_SIZE, "%lld", (long long)whole);
        return out;
    }
    int digits = DECIMAL_MAX_FRACTION_DIGITS;
    while (frac % 10 == 0) {
        frac /= 10;
        digits--;
    }
    snprintf(out, DECIMAL_FORMAT_SIZE, "%lld.%0*lld", (long long)whole, digits, (long long)frac);
    return out;
}

const char *decimal_format_scaled(int64_t value, int scale_digits, char *out, size_t size)
{
    if (size == 0)
        return out;
    out[0] = '\0';
    if (scale_digits < 0 || scale_digits > 18)
        return out;
    /* The magnitude as unsigned, so INT64_MIN needs no special case. */
    uint64_t mag = value < 0 ? 0 - (uint64_t)value : (uint64_t)value;
    uint64_t scale = 1;
    for (int i = 0; i < scale_digits; i++)
        scale *= 10;
    int n = scale_digits == 0
                ? snprintf(out, size, "%s%llu", value < 0 ? "-" : "", (unsigned long long)mag)
                : snprintf(out, size, "%s%llu.%0*llu", value < 0 ? "-" : "",
                           (unsigned long long)(mag / scale), scale_digits,
                           (unsigned long long)(mag % scale));
    if (n < 0 || (size_t)n >= size)
        out[0] = '\0';
    return out;
}
