/*
 * test_decimal.c - exact decimal prices: what parses, to which micros, what
 * is refused and why, that formatting gives back the shortest exact form,
 * and that fixed-point formatting (amounts, rates) has exactly the decimals
 * asked for, signs and extremes included, and never truncates.
 */
#include "check.h"
#include "base/decimal.h"

static void parses(const char *s, int64_t want)
{
    mb_error err;
    int64_t got = -1;
    int rc = decimal_parse_micros("unit_price", s, &got, &err);
    if (rc != 0 || got != want)
        fprintf(stderr, "  \"%s\": rc %d, %lld (want %lld) %s\n", s, rc, (long long)got,
                (long long)want, rc ? err.msg : "");
    CHECK(rc == 0 && got == want);
}

static void refuses(const char *s, const char *why)
{
    mb_error err;
    int64_t got = 0;
    CHECK(decimal_parse_micros("prices[1].unit_price", s, &got, &err) == -1);
    CHECK_STATUS(err, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(err.msg, "prices[1].unit_price: ");
    CHECK_CONTAINS(err.msg, why);
}

static void test_parse(void)
{
    parses("0", 0);
    parses("0.0025", 2500);
    parses("0.000001", 1);
    parses("1", 1000000);
    parses("1.5", 1500000);
    parses("1.50", 1500000);
    parses("007.25", 7250000);
    parses("12.345678", 12345678);
    parses("9223372036854", 9223372036854000000LL);
    parses("9223372036854.775807", INT64_MAX);
}

static void test_refuse(void)
{
    refuses("", "required");
    refuses(".5", "decimal number");
    refuses("-1", "decimal number");
    refuses("+1", "decimal number");
    refuses("5.", "followed by digits");
    refuses("1e3", "no sign, exponent");
    refuses(" 1", "decimal number");
    refuses("1 ", "no sign, exponent");
    refuses("1,5", "no sign, exponent");
    refuses("1.2.3", "no sign, exponent");
    refuses("0.0000001", "at most 6 decimal places");
    refuses("1.2345678", "at most 6 decimal places");
    refuses("9223372036854.775808", "too large");
    refuses("9223372036855", "too large");
    refuses("99999999999999999999999", "too large");
    refuses("NaN", "decimal number");
}

static void formats(int64_t micros, const char *want)
{
    char buf[DECIMAL_FORMAT_SIZE];
    const char *got = decimal_format_micros(micros, buf);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "  %lld: \"%s\" (want \"%s\")\n", (long long)micros, got, want);
    CHECK(strcmp(got, want) == 0);
    int64_t back = -1;
    mb_error err;
    CHECK(decimal_parse_micros("x", got, &back, &err) == 0 && back == micros);
}

static void test_format(void)
{
    formats(0, "0");
    formats(1, "0.000001");
    formats(2500, "0.0025");
    formats(1500000, "1.5");
    formats(2000000, "2");
    formats(12345678, "12.345678");
    formats(INT64_MAX, "9223372036854.775807");
}

static void scaled(int64_t value, int digits, const char *want)
{
    char buf[DECIMAL_FORMAT_SIZE];
    const char *got = decimal_format_scaled(value, digits, buf, sizeof buf);
    if (strcmp(got, want) != 0)
        fprintf(stderr, "  %lld/%d: \"%s\" (want \"%s\")\n", (long long)value, digits, got, want);
    CHECK(got == buf && strcmp(got, want) == 0);
}

static void test_format_scaled(void)
{
    scaled(1234, 2, "12.34");
    scaled(5, 2, "0.05");
    scaled(-5, 2, "-0.05");
    scaled(-1234, 2, "-12.34");
    scaled(0, 2, "0.00");
    scaled(100, 2, "1.00");
    scaled(7, 0, "7");
    scaled(-7, 0, "-7");
    scaled(1, 3, "0.001");
    scaled(2550, 2, "25.50");
    scaled(12345, 4, "1.2345");
    scaled(INT64_MAX, 2, "92233720368547758.07");
    scaled(INT64_MIN, 2, "-92233720368547758.08");
    scaled(INT64_MIN, 0, "-9223372036854775808");
    scaled(INT64_MIN, 18, "-9.223372036854775808");
    scaled(1, 18, "0.000000000000000001");
    scaled(1, 19, "");
    scaled(1, -1, "");
    /* Too small a buffer gives "", never a cut-off number. */
    char small[5];
    CHECK(strcmp(decimal_format_scaled(12345, 2, small, sizeof small), "") == 0);
    CHECK(strcmp(decimal_format_scaled(1234, 2, small, sizeof small), "") == 0);
    char fits[6];
    CHECK(strcmp(decimal_format_scaled(1234, 2, fits, sizeof fits), "12.34") == 0);
}

int main(void)
{
    RUN(test_parse);
    RUN(test_refuse);
    RUN(test_format);
    RUN(test_format_scaled);
    return check_summary();
}
