/*
 * decimal.h - exact decimal prices: "0.0025" <-> 2500 micros.
 *
 * Unit prices below one cent travel as decimal strings (api.md) and are kept
 * as integer millionths of the currency unit ("micros"), so no price ever
 * passes through floating point. Parsing is strict: digits, optionally a
 * point and 1 to 6 more digits; no sign, exponent, spaces or grouping.
 */
#ifndef MB_BASE_DECIMAL_H
#define MB_BASE_DECIMAL_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

#define DECIMAL_SCALE 1000000 /* micros per unit */
#define DECIMAL_MAX_FRACTION_DIGITS 6
/* Longest formatted value: 19 digits of INT64_MAX, a point, NUL. */
#define DECIMAL_FORMAT_SIZE 24

/* Parses s into *micros. On failure fills err with INVALID_ARGUMENT
 * "<field>: <rule>" (field names the caller's field, e.g.
 * "prices[1].unit_price"). */
int decimal_parse_micros(const char *field, const char *s, int64_t *micros, mb_error *err);

/* The shortest exact form of micros >= 0: 2500 -> "0.0025", 1500000 ->
 * "1.5", 2000000 -> "2". Returns out. */
const char *decimal_format_micros(int64_t micros, char out[DECIMAL_FORMAT_SIZE]);

/* A fixed-point integer with exactly scale_digits (0..18) decimals, for
 * amounts in minor units and VAT rates in basis points: (1234, 2) ->
 * "12.34", (-5, 2) -> "-0.05", (7, 0) -> "7", (1, 3) -> "0.001". Any int64
 * fits in DECIMAL_FORMAT_SIZE bytes. If out (size bytes) is too small or
 * scale_digits out of range, out is "" (never a truncated number). Returns
 * out. */
const char *decimal_format_scaled(int64_t value, int scale_digits, char *out, size_t size);

#endif
