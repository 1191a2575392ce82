/* test_validate.c - the account field checks: ids, text, postal codes,
 * countries, currencies, VAT IDs, e-mail addresses and phone numbers. Every
 * rejected value is also checked not to reappear in its error message. */
#include <stdbool.h>
#include <string.h>

#include "accounts/validate.h"
#include "base/error.h"
#include "check.h"

/* True if any run of four characters of value (compared without case)
 * appears in the rule part of msg. Longer runs contain a four-run, so this
 * catches every echo of four characters or more. */
static bool echoes(const char *rule, const char *value)
{
    size_t n = strlen(value);
    for (size_t i = 0; i + 4 <= n; i++) {
        char run[5] = {value[i], value[i + 1], value[i + 2], value[i + 3], '\0'};
        if (strcasestr(rule, run) != NULL)
            return true;
    }
    return false;
}

/* One verdict: want == NULL means the value must pass; otherwise it must
 * fail with INVALID_ARGUMENT, a message "<field>: ..." containing want and
 * nothing of the value. */
static void expect(int rc, const mb_error *err, const char *field, const char *value,
                   const char *want)
{
    int failed_before = check_failed;
    if (want == NULL) {
        CHECK(rc == 0);
    } else {
        size_t flen = strlen(field);
        CHECK(rc == -1);
        CHECK_STATUS(*err, GRPC_STATUS_INVALID_ARGUMENT);
        CHECK(strncmp(err->msg, field, flen) == 0 && strncmp(err->msg + flen, ": ", 2) == 0);
        CHECK_CONTAINS(err->msg, want);
        CHECK(!echoes(err->msg + flen, value));
    }
    if (check_failed != failed_before)
        fprintf(stderr, "   ... for value \"%s\" (rc %d, msg \"%s\")\n", value, rc,
                rc == 0 ? "" : err->msg);
}

/* A string of n copies of c, in a static buffer per call site. */
static const char *repeat(char *buf, char c, size_t n)
{
    memset(buf, c, n);
    buf[n] = '\0';
    return buf;
}

struct simple_case {
    const char *value;
    const char *want; /* NULL: must pass; else a part of the error message */
};

typedef int (*simple_check)(const char *field, const char *value, mb_error *err);

static void run_simple(simple_check fn, const char *field, const struct simple_case *cases,
                       size_t n)
{
    for (size_t i = 0; i < n; i++) {
        mb_error err = {0};
        expect(fn(field, cases[i].value, &err), &err, field, cases[i].value, cases[i].want);
    }
}

#define RUN_SIMPLE(fn, field, cases) run_simple(fn, field, cases, sizeof cases / sizeof cases[0])

static void test_id(void)
{
    static const struct simple_case cases[] = {
        {"acc_1", NULL},
        {"a", NULL},
        {"ACME-42:eu.north_1", NULL},
        {"0123456789", NULL},
        {"", "must not be empty"},
        {"acc 1", "may only contain letters, digits"},
        {"acc/1", "may only contain"},
        {"acc\t1", "may only contain"},
        {"\xc3\xa4"
         "cc1",
         "may only contain"},
        {"acc@1", "may only contain"},
    };
    RUN_SIMPLE(acct_check_id, "account.account_id", cases);

    char buf[80];
    mb_error err = {0};
    CHECK(acct_check_id("account.plan_id", repeat(buf, 'p', 64), &err) == 0);
    expect(acct_check_id("account.plan_id", repeat(buf, 'p', 65), &err), &err, "account.plan_id",
           buf, "must be at most 64 characters");
}

static void test_text(void)
{
    static const struct {
        const char *value;
        size_t min, max;
        const char *want;
    } cases[] = {
        {"M\xc3\xbcller GmbH & Co. KG", 1, 200, NULL},
        {"", 0, 200, NULL},
        {"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e", 1, 3, NULL}, /* three CJK characters, 9 bytes */
        {"\xf0\x9f\x98\x80\xf0\x9f\x98\x80", 2, 2, NULL},     /* two emoji, 8 bytes */
        {"Caf\xc3\xa9\xc2\xa0Noir", 1, 200, NULL},            /* NBSP is not a control */
        {"", 1, 200, "must not be empty"},
        {"Ab", 3, 10, "must be at least 3 characters"},
        {"\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe6\x97\xa5", 1, 3, "must be at most 3 characters"},
        {"Line one\nLine two", 1, 200, "must not contain control characters"},
        {"Tabbed\tname", 1, 200, "control characters"},
        {"Carriage\rreturn", 1, 200, "control characters"},
        {"Delete\x7fme", 1, 200, "control characters"},
        {"Next\xc2\x85line", 1, 200, "control characters"}, /* U+0085 NEL */
        {"Last\xc2\x9f"
         "c1",
         1, 200, "control characters"}, /* U+009F */
        {"Bell\x01", 0, 200, "control characters"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mb_error err = {0};
        int rc =
            acct_check_text("account.legal_name", cases[i].value, cases[i].min, cases[i].max, &err);
        expect(rc, &err, "account.legal_name", cases[i].value, cases[i].want);
    }

    /* 200 two-byte characters are 400 bytes and still within 200. */
    char buf[512];
    mb_error err = {0};
    for (size_t i = 0; i < 200; i++)
        memcpy(buf + 2 * i, "\xc3\xbc", 2);
    buf[400] = '\0';
    CHECK(acct_check_text("account.contacts[0].name", buf, 0, 200, &err) == 0);
    memcpy(buf + 400, "\xc3\xbc", 3);
    expect(acct_check_text("account.contacts[0].name", buf, 0, 200, &err), &err,
           "account.contacts[0].name", buf, "must be at most 200 characters");
    CHECK(acct_check_text("x", repeat(buf, 'a', 200), 1, 200, &err) == 0);
    expect(acct_check_text("x", repeat(buf, 'a', 201), 1, 200, &err), &err, "x", buf,
           "must be at most 200 characters");
}

static void test_postal_code(void)
{
    static const struct simple_case cases[] = {
        {"10115", NULL},
        {"SW1A 1AA", NULL},
        {"1234-567", NULL},
        {"D02 X285", NULL},
        {"1234567890ABCDEF", NULL},
        {"", "must not be empty"},
        {"1234567890ABCDEFG", "must be at most 16 characters"},
        {"10115!", "may only contain letters, digits, spaces and hyphens"},
        {"12/34", "may only contain"},
        {"\xc3\x96"
         "1234",
         "may only contain"},
        {" - ", "must contain a letter or digit"},
    };
    RUN_SIMPLE(acct_check_postal_code, "account.billing_address.postal_code", cases);
}

static void test_country(void)
{
    static const struct simple_case cases[] = {
        {"DE", NULL},
        {"GR", NULL},
        {"AX", NULL},
        {"SS", NULL},
        {"CW", NULL},
        {"BQ", NULL},
        {"SX", NULL},
        {"AQ", NULL},
        {"BV", NULL},
        {"ZW", NULL},
        {"US", NULL},
        {"de", "must be an ISO 3166-1 alpha-2 code"},
        {"D", "two upper-case letters"},
        {"DEU", "two upper-case letters"},
        {"", "two upper-case letters"},
        {"D1", "two upper-case letters"},
        {"XK", "is not an assigned ISO 3166-1 alpha-2 country code"},
        {"EU", "not an assigned"},
        {"UK", "not an assigned"},
        {"EL", "not an assigned"},
        {"ZZ", "not an assigned"},
        {"AN", "not an assigned"}, /* Netherlands Antilles, withdrawn 2010 */
        {"YU", "not an assigned"},
    };
    RUN_SIMPLE(acct_check_country, "account.billing_address.country_code", cases);

    /* The table is the whole official list: exactly 249 codes. */
    int assigned = 0, eu = 0;
    for (char a = 'A'; a <= 'Z'; a++) {
        for (char b = 'A'; b <= 'Z'; b++) {
            char cc[3] = {a, b, '\0'};
            assigned += acct_country_is_assigned(cc);
            eu += acct_country_is_eu(cc);
            if (acct_country_is_eu(cc))
                CHECK(acct_country_is_assigned(cc));
        }
    }
    CHECK(assigned == 249);
    CHECK(eu == 27);
    CHECK(acct_country_is_eu("GR"));
    CHECK(acct_country_is_eu("HR"));
    CHECK(acct_country_is_eu("CY"));
    CHECK(!acct_country_is_eu("EL"));
    CHECK(!acct_country_is_eu("GB"));
    CHECK(!acct_country_is_eu("CH"));
    CHECK(!acct_country_is_eu("NO"));
    CHECK(!acct_country_is_eu("de"));
    CHECK(!acct_country_is_eu(NULL));
    CHECK(!acct_country_is_assigned(NULL));
    CHECK(!acct_country_is_assigned("DEU"));
}

static void test_currency(void)
{
    static const struct simple_case cases[] = {
        {"EUR", NULL},
        {"USD", NULL},
        {"JPY", NULL},
        {"CHF", NULL},
        {"XCG", NULL},
        {"ZWG", NULL},
        {"SLE", NULL},
        {"CLF", NULL},
        {"VED", NULL},
        {"eur", "must be an ISO 4217 code (three upper-case letters)"},
        {"EU", "three upper-case letters"},
        {"EURO", "three upper-case letters"},
        {"", "three upper-case letters"},
        {"E1R", "three upper-case letters"},
        {"ANG", "is not an active ISO 4217 currency code"},
        {"BGN", "not an active"},
        {"HRK", "not an active"},
        {"DEM", "not an active"},
        {"XAU", "not an active"},
        {"XXX", "not an active"},
        {"ABC", "not an active"},
    };
    RUN_SIMPLE(acct_check_currency, "account.currency", cases);

    static const struct {
        const char *code;
        int minor;
    } minor[] = {
        {"EUR", 2}, {"USD", 2}, {"HUF", 2}, {"JPY", 0}, {"KRW", 0},  {"ISK", 0},  {"VND", 0},
        {"XOF", 0}, {"UYI", 0}, {"BHD", 3}, {"KWD", 3}, {"JOD", 3},  {"OMR", 3},  {"TND", 3},
        {"LYD", 3}, {"IQD", 3}, {"CLF", 4}, {"UYW", 4}, {"BGN", -1}, {"eur", -1}, {"", -1},
    };
    for (size_t i = 0; i < sizeof minor / sizeof minor[0]; i++)
        CHECK(acct_currency_minor_units(minor[i].code) == minor[i].minor);
    CHECK(acct_currency_minor_units(NULL) == -1);

    /* Every accepted code has a usable scale, and only those are accepted. */
    int accepted = 0;
    for (char a = 'A'; a <= 'Z'; a++) {
        for (char b = 'A'; b <= 'Z'; b++) {
            for (char c = 'A'; c <= 'Z'; c++) {
                char code[4] = {a, b, c, '\0'};
                mb_error err = {0};
                int units = acct_currency_minor_units(code);
                CHECK((acct_check_currency("c", code, &err) == 0) == (units >= 0));
                CHECK(units >= -1 && units <= 4);
                accepted += units >= 0;
            }
        }
    }
    CHECK(accepted > 150 && accepted < 200);
}

static void test_vat_id(void)
{
    static const struct {
        const char *value;
        const char *country; /* billing_address.country_code, or NULL */
        const char *want;    /* NULL: must pass */
        const char *normalised;
    } cases[] = {
        /* DE136695976 is the widely published valid example. */
        {"DE136695976", NULL, NULL, "DE136695976"},
        {"de 136 695 976", "DE", NULL, "DE136695976"},
        {"DE-136.695.976", "DE", NULL, "DE136695976"},
        {"DE811569869", "DE", NULL, "DE811569869"},
        {"DE136695976", "CH", NULL, "DE136695976"}, /* non-EU customer, German VAT ID */
        {"ATU13585627", "AT", NULL, "ATU13585627"},
        {"atu 1358 5627", "AT", NULL, "ATU13585627"},
        {"BE0123456789", "BE", NULL, "BE0123456789"},
        {"BE1234567890", NULL, NULL, "BE1234567890"},
        {"BG123456789", "BG", NULL, "BG123456789"},
        {"BG1234567890", NULL, NULL, "BG1234567890"},
        {"CY12345678X", "CY", NULL, "CY12345678X"},
        {"CZ12345678", "CZ", NULL, "CZ12345678"},
        {"CZ1234567890", NULL, NULL, "CZ1234567890"},
        {"DK12345678", "DK", NULL, "DK12345678"},
        {"EE123456789", "EE", NULL, "EE123456789"},
        {"EL123456789", "GR", NULL, "EL123456789"},
        {"ESX1234567Z", "ES", NULL, "ESX1234567Z"},
        {"ES12345678Z", NULL, NULL, "ES12345678Z"},
        {"ESB12345674", NULL, NULL, "ESB12345674"},
        {"FI12345678", "FI", NULL, "FI12345678"},
        {"FR40303265045", "FR", NULL, "FR40303265045"},
        {"FRAB123456789", NULL, NULL, "FRAB123456789"},
        {"HR12345678901", "HR", NULL, "HR12345678901"},
        {"HU12345678", "HU", NULL, "HU12345678"},
        {"IE1234567T", "IE", NULL, "IE1234567T"},
        {"IE1234567TW", NULL, NULL, "IE1234567TW"},
        {"IE1A23456T", NULL, NULL, "IE1A23456T"},
        {"IE1+23456T", NULL, NULL, "IE1+23456T"},
        {"IE1*23456T", NULL, NULL, "IE1*23456T"},
        {"IT12345678901", "IT", NULL, "IT12345678901"},
        {"LT123456789", "LT", NULL, "LT123456789"},
        {"LT123456789012", NULL, NULL, "LT123456789012"},
        {"LU12345678", "LU", NULL, "LU12345678"},
        {"LV12345678901", "LV", NULL, "LV12345678901"},
        {"MT12345678", "MT", NULL, "MT12345678"},
        {"NL123456789B01", "NL", NULL, "NL123456789B01"},
        {"nl 1234.56789.b01", "NL", NULL, "NL123456789B01"},
        {"PL1234567890", "PL", NULL, "PL1234567890"},
        {"PT123456789", "PT", NULL, "PT123456789"},
        {"RO12", "RO", NULL, "RO12"},
        {"RO1234567890", NULL, NULL, "RO1234567890"},
        {"SE123456789001", "SE", NULL, "SE123456789001"},
        {"SI12345678", "SI", NULL, "SI12345678"},
        {"SK1234567890", "SK", NULL, "SK1234567890"},
        {"XI123456789", "GB", NULL, "XI123456789"},
        {"XI123456789012", NULL, NULL, "XI123456789012"},
        {"XIGD123", "GB", NULL, "XIGD123"},
        {"xiha123", NULL, NULL, "XIHA123"},
        {"CHE-123.456.789", "CH", NULL, "CHE123456789"},
        {"GB123456789", "GB", NULL, "GB123456789"},
        {"NO 123 456 789 MVA", "NO", NULL, "NO123456789MVA"},
        {"US12", NULL, NULL, "US12"},

        {"DE136695977", NULL, "check digit is wrong", NULL},
        {"DE123456789", "DE", "check digit is wrong", NULL},
        {"DE13669597", "DE", "must have the country prefix followed by 9 digits", NULL},
        {"DE1366959761", "DE", "followed by 9 digits", NULL},
        {"DE13669597X", "DE", "followed by 9 digits", NULL},
        {"ATU1234567", "AT", "followed by U and 8 digits", NULL},
        {"AT12345678", "AT", "followed by U and 8 digits", NULL},
        {"BE2123456789", "BE", "10 digits starting with 0 or 1", NULL},
        {"BE012345678", "BE", "10 digits starting with 0 or 1", NULL},
        {"BG12345678", "BG", "9 or 10 digits", NULL},
        {"CY123456789", "CY", "8 digits and a letter", NULL},
        {"CZ1234567", "CZ", "8 to 10 digits", NULL},
        {"EL12345678", "GR", "9 digits", NULL},
        {"ES123456789", "ES", "at least one of them a letter", NULL},
        {"ES1234567", "ES", "7 digits", NULL},
        {"FRIO123456789", "FR", "not I or O", NULL},
        {"FR1234567890", "FR", "not I or O", NULL},
        {"IE1234567", "IE", "7 digits and 1 or 2 letters", NULL},
        {"IE12345678T", "IE", "7 digits and 1 or 2 letters", NULL},
        {"IE1-23456T", "IE", "7 digits and 1 or 2 letters", NULL},
        {"LT1234567890", "LT", "9 or 12 digits", NULL},
        {"NL123456789C01", "NL", "9 digits, B and 2 digits", NULL},
        {"NL123456789B1", "NL", "9 digits, B and 2 digits", NULL},
        {"RO1", "RO", "2 to 10 digits", NULL},
        {"RO12345678901", "RO", "2 to 10 digits", NULL},
        {"SE12345678901", "SE", "12 digits", NULL},
        {"XI12345678", NULL, "GD or HA and 3 digits", NULL},
        {"XIGD1234", NULL, "GD or HA and 3 digits", NULL},
        {"XIAB123", "GB", "GD or HA and 3 digits", NULL},
        {"GR123456789", NULL, "EL for Greece", NULL},
        {"GR123456789", "GR", "EL for Greece", NULL},
        {"EL123456789", "DE", "country prefix does not match billing_address.country_code", NULL},
        {"DE136695976", "AT", "does not match billing_address.country_code", NULL},
        {"XI123456789", "IE", "does not match billing_address.country_code", NULL},
        {"CHE123456789", "FR", "does not match billing_address.country_code", NULL},
        {"CH1", "CH", "followed by 2 to 13 letters or digits", NULL},
        {"CHE12345?789", "CH", "2 to 13 letters or digits", NULL},
        {"", NULL, "must not be empty", NULL},
        {" .- ", NULL, "must not be empty", NULL},
        {"12345678", NULL, "must start with a two-letter country prefix", NULL},
        {"D1234", NULL, "two-letter country prefix", NULL},
        {"DE1234567890123456789", "DE", "must be at most 15 characters", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[ACCT_VAT_ID_SIZE] = "junk";
        mb_error err = {0};
        int rc = acct_check_vat_id("account.vat_id", cases[i].value, cases[i].country, out,
                                   sizeof out, &err);
        expect(rc, &err, "account.vat_id", cases[i].value, cases[i].want);
        if (cases[i].want == NULL)
            CHECK(rc == 0 && strcmp(out, cases[i].normalised) == 0);
        else
            CHECK(out[0] == '\0');
    }

    /* out may be NULL; a short out buffer is the caller's bug. */
    mb_error err = {0};
    CHECK(acct_check_vat_id("v", "DE136695976", "DE", NULL, 0, &err) == 0);
    char small[8];
    CHECK(acct_check_vat_id("v", "DE136695976", "DE", small, sizeof small, &err) == -1);
    CHECK_STATUS(err, GRPC_STATUS_INTERNAL);
}

static void test_email(void)
{
    static const struct {
        const char *value;
        const char *want;
        const char *normalised;
    } cases[] = {
        {"jane.doe@example.com", NULL, "jane.doe@example.com"},
        {"  Jane.Doe@Example.COM \t", NULL, "jane.doe@example.com"},
        {"a@b.co", NULL, "a@b.co"},
        {"user+tag@sub.example.org", NULL, "user+tag@sub.example.org"},
        {"o'brien@example.ie", NULL, "o'brien@example.ie"},
        {"x_y-z@exa-mple.de", NULL, "x_y-z@exa-mple.de"},
        {"!#$%&'*+-/=?^_`{|}~@example.com", NULL, "!#$%&'*+-/=?^_`{|}~@example.com"},
        {"info@xn--mller-kva.de", NULL, "info@xn--mller-kva.de"},
        {"post@example.XN--P1AI", NULL, "post@example.xn--p1ai"},
        {"\r\nq.r@s7.example\n", NULL, "q.r@s7.example"},

        {"", "must not be empty", NULL},
        {" \t ", "must not be empty", NULL},
        {"jane@ex\xc3\xa4mple.de", "must be an ASCII e-mail address", NULL},
        {"j\xc3\xa4ne@example.de", "must be an ASCII e-mail address", NULL},
        {"janeexample.de", "must have the form local-part@domain", NULL},
        {"jane@@example.de", "local-part@domain", NULL},
        {"ja@ne@example.de", "local-part@domain", NULL},
        {"@example.de", "local part must be 1 to 64 characters", NULL},
        {".jane@example.de", "must not start or end with a dot or contain two dots", NULL},
        {"jane.@example.de", "must not start or end with a dot", NULL},
        {"ja..ne@example.de", "two dots in a row", NULL},
        {"ja ne@example.de", "local part contains a character not allowed", NULL},
        {"ja(ne)@example.de", "character not allowed", NULL},
        {"\"jane\"@example.de", "character not allowed", NULL},
        {"ja\\ne@example.de", "character not allowed", NULL},
        {"jane@", "domain must be 1 to 253 characters", NULL},
        {"jane@localhost", "domain must have at least two labels", NULL},
        {"jane@example.c", "top-level domain must be at least two letters", NULL},
        {"jane@example.123", "top-level domain", NULL},
        {"jane@example.x-y", "top-level domain", NULL},
        {"jane@.example.de", "domain must not have an empty label", NULL},
        {"jane@example..de", "empty label", NULL},
        {"jane@example.de.", "empty label", NULL},
        {"jane@-example.de", "must not start or end with '-'", NULL},
        {"jane@example-.de", "must not start or end with '-'", NULL},
        {"jane@exa_mple.de", "domain may only contain letters, digits, '-' and '.'", NULL},
        {"jane@exa mple.de", "domain may only contain", NULL},
        {"jane@[192.0.2.1]", "domain may only contain", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[ACCT_EMAIL_SIZE] = "junk";
        mb_error err = {0};
        int rc =
            acct_check_email("account.contacts[1].email", cases[i].value, out, sizeof out, &err);
        expect(rc, &err, "account.contacts[1].email", cases[i].value, cases[i].want);
        if (cases[i].want == NULL)
            CHECK(rc == 0 && strcmp(out, cases[i].normalised) == 0);
        else
            CHECK(out[0] == '\0');
    }

    /* Length limits: local part 64, label 63, whole address 254. */
    char buf[400], out[ACCT_EMAIL_SIZE];
    mb_error err = {0};
    const char *f = "account.contacts[0].email";
    repeat(buf, 'k', 64);
    memcpy(buf + 64, "@example.de", 12);
    CHECK(acct_check_email(f, buf, out, sizeof out, &err) == 0);
    repeat(buf, 'k', 65);
    memcpy(buf + 65, "@example.de", 12);
    expect(acct_check_email(f, buf, out, sizeof out, &err), &err, f, buf,
           "local part must be 1 to 64 characters");
    memcpy(buf, "q@", 2);
    repeat(buf + 2, 'w', 63);
    memcpy(buf + 65, ".de", 4);
    CHECK(acct_check_email(f, buf, out, sizeof out, &err) == 0);
    repeat(buf + 2, 'w', 64);
    memcpy(buf + 66, ".de", 4);
    expect(acct_check_email(f, buf, out, sizeof out, &err), &err, f, buf,
           "domain labels must be at most 63 characters");
    /* q@ + 3 labels of 63 + ".", + 60 more + ".de" = 254 characters. */
    size_t n = 0;
    memcpy(buf, "q@", 2), n = 2;
    for (int l = 0; l < 3; l++) {
        repeat(buf + n, (char)('a' + l), 63), n += 63;
        buf[n++] = '.';
    }
    repeat(buf + n, 'z', 57), n += 57;
    memcpy(buf + n, ".de", 4), n += 3;
    CHECK(n == 254);
    CHECK(acct_check_email(f, buf, out, sizeof out, &err) == 0);
    CHECK(strcmp(out, buf) == 0);
    memmove(buf + 1, buf, n + 1);
    buf[0] = 'p';
    expect(acct_check_email(f, buf, out, sizeof out, &err), &err, f, buf,
           "must be at most 254 characters");

    CHECK(acct_check_email(f, "a@b.co", NULL, 0, &err) == 0);
    char small[16];
    CHECK(acct_check_email(f, "a@b.co", small, sizeof small, &err) == -1);
    CHECK_STATUS(err, GRPC_STATUS_INTERNAL);
}

static void test_phone(void)
{
    static const struct {
        const char *value;
        const char *want;
        const char *e164;
    } cases[] = {
        {"+4915112345678", NULL, "+4915112345678"},
        {"+49 151 12345678", NULL, "+4915112345678"},
        {"+49-151-123.456.78", NULL, "+4915112345678"},
        {"+49 (0)151 12345678", NULL, "+4915112345678"},
        {"+49(0)15112345678", NULL, "+4915112345678"},
        {"+1 (415) 555-2671", NULL, "+14155552671"},
        {"+39 06 1234 5678", NULL, "+390612345678"}, /* Italy keeps its 0 */
        {"+31 20 794 0000", NULL, "+31207940000"},
        {"+12345678", NULL, "+12345678"},               /* 8 digits */
        {"+123456789012345", NULL, "+123456789012345"}, /* 15 digits */

        {"", "must be an international number: '+' and 8 to 15 digits", NULL},
        {"0151 12345678", "'+' and 8 to 15 digits", NULL},
        {"0049 151 12345678", "'+' and 8 to 15 digits", NULL},
        {"+0151 12345678", "the first not 0", NULL},
        {"+(0)151 12345678", "the first not 0", NULL},
        {"+1234567", "8 to 15 digits", NULL},
        {"+1234567890123456", "8 to 15 digits", NULL},
        {"+49 151 1234567x", "8 to 15 digits", NULL},
        {"+49/151/1234567", "8 to 15 digits", NULL},
        {"++49151123456", "8 to 15 digits", NULL},
        {"+49 151 1234 ext 5", "8 to 15 digits", NULL},
        {"49 151 12345678", "8 to 15 digits", NULL},
        {"+4915112345678+", "8 to 15 digits", NULL},
        {"+49 151 12345678 12345678 12345678 12345678 12345678 99", "8 to 15 digits", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[ACCT_PHONE_SIZE] = "junk";
        mb_error err = {0};
        int rc =
            acct_check_phone("account.contacts[2].phone", cases[i].value, out, sizeof out, &err);
        expect(rc, &err, "account.contacts[2].phone", cases[i].value, cases[i].want);
        if (cases[i].want == NULL)
            CHECK(rc == 0 && strcmp(out, cases[i].e164) == 0);
        else
            CHECK(out[0] == '\0');
    }
    mb_error err = {0};
    CHECK(acct_check_phone("p", "+4915112345678", NULL, 0, &err) == 0);
    char small[8];
    CHECK(acct_check_phone("p", "+4915112345678", small, sizeof small, &err) == -1);
    CHECK_STATUS(err, GRPC_STATUS_INTERNAL);
}

static void test_building_blocks(void)
{
    /* The echo guard itself must bite, or every check above is vacuous. */
    CHECK(echoes(": ends in 5678", "+49 151 12345678"));
    CHECK(echoes(": JANE@", "jane@example.de"));
    CHECK(!echoes(": must not be empty", "jane@example.de"));

    char out[8];
    CHECK(acct_compact("a b-c", " -", true, out, sizeof out) == 3 && strcmp(out, "ABC") == 0);
    CHECK(acct_compact("", " ", false, out, sizeof out) == 0 && out[0] == '\0');
    CHECK(acct_compact("1234567", "", false, out, sizeof out) == 7);
    CHECK(acct_compact("12345678", "", false, out, sizeof out) == -1 && out[0] == '\0');
    CHECK(acct_compact("x", "", false, out, 0) == -1);

    mb_error err = {0};
    CHECK(acct_field_error(&err, "a.b", "must be %d", 7) == -1);
    CHECK_STATUS(err, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK(strcmp(err.msg, "a.b: must be 7") == 0);
    CHECK(acct_field_error(NULL, "a.b", "x") == -1);
}

int main(void)
{
    RUN(test_id);
    RUN(test_text);
    RUN(test_postal_code);
    RUN(test_country);
    RUN(test_currency);
    RUN(test_vat_id);
    RUN(test_email);
    RUN(test_phone);
    RUN(test_building_blocks);
    return check_summary();
}
