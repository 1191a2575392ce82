/*
 * test_seller.c - the seller configuration file: what a valid file yields
 * (normalised values, comments, blank lines, white space, CRLF, UTF-8), and
 * that every key's missing, duplicate or invalid value stops it with an
 * error naming the line and the key but never the value.
 */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "invoicing/seller.h"
#include "unit_tmp.h"

/* The example seller of `serve --dev` (dev/seller.conf), read by main(). */
static char dev_text[4096];

static int read_dev_text(void)
{
    FILE *f = fopen(MINBILL_DEV_SELLER_CONFIG, "r");
    size_t n = f != NULL ? fread(dev_text, 1, sizeof dev_text - 1, f) : 0;
    if (f != NULL)
        fclose(f);
    dev_text[n] = '\0';
    return n > 0 && n < sizeof dev_text - 1 && dev_text[n - 1] == '\n' ? 0 : -1;
}

/* The line of the dev text that sets key; its number of lines + 1 for NULL
 * (where variant() appends). */
static int dev_line(const char *key)
{
    int line = 1;
    for (const char *p = dev_text; *p != '\0'; p = strchr(p, '\n') + 1, line++) {
        if (key != NULL && strncmp(p, key, strlen(key)) == 0 && p[strlen(key)] == ' ')
            return line;
    }
    return key == NULL ? line : -1;
}

/* The dev text with key `key` replaced by `line` (NULL: removed), or with
 * `line` appended when key is NULL or not in the dev text. */
static void variant(char *out, size_t size, const char *key, const char *line)
{
    out[0] = '\0';
    bool found = false;
    const char *p = dev_text;
    while (*p != '\0') {
        const char *nl = strchr(p, '\n');
        size_t n = (size_t)(nl - p) + 1;
        size_t klen = key ? strlen(key) : 0;
        bool match = key != NULL && strncmp(p, key, klen) == 0 && p[klen] == ' ';
        found = found || match;
        if (!match)
            strncat(out, p, n);
        else if (line != NULL)
            strcat(strcat(out, line), "\n");
        p += n;
    }
    if (!found && line != NULL)
        strcat(strcat(out, line), "\n");
}

static seller_config *parses(const char *text)
{
    seller_config *s = NULL;
    mb_error err = {0};
    int rc = seller_config_parse(text, strlen(text), &s, &err);
    if (rc != 0)
        fprintf(stderr, "   unexpected error: %s\n", err.msg);
    CHECK(rc == 0 && s != NULL);
    return s;
}

/* Fails with exactly `want` and without `secret` (a piece of the value). */
static void refuses(const char *text, const char *want, const char *secret)
{
    seller_config *s = NULL;
    mb_error err = {0};
    int rc = seller_config_parse(text, strlen(text), &s, &err);
    CHECK(rc == -1 && s == NULL);
    CHECK_STATUS(err, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK_CONTAINS(err.msg, want);
    if (secret != NULL && strstr(err.msg, secret) != NULL) {
        check_failed++;
        fprintf(stderr, "   error echoes the value: %s\n", err.msg);
    }
}

static void refuses_value(const char *key, const char *value, const char *want)
{
    char text[4096], line[512], prefix[128];
    snprintf(line, sizeof line, "%s = %s", key, value);
    variant(text, sizeof text, key, line);
    int lineno = 1;
    for (const char *p = text; strncmp(p, line, strlen(line)) != 0; p = strchr(p, '\n') + 1)
        lineno++;
    snprintf(prefix, sizeof prefix, "seller config line %d: %s: ", lineno, key);
    refuses(text, prefix, NULL);
    refuses(text, want, value[0] != '\0' && strlen(value) > 3 ? value : NULL);
}

static void test_dev(void)
{
    seller_config *s = NULL;
    mb_error err;
    CHECK(seller_config_load(MINBILL_DEV_SELLER_CONFIG, &s, &err) == 0);
    if (s == NULL)
        return;
    CHECK(strcmp(s->legal_name, "Minbill Example B.V.") == 0);
    CHECK(strcmp(s->country_code, "NL") == 0);
    CHECK(strcmp(s->city, "Amsterdam") == 0);
    CHECK(strcmp(s->line2, "") == 0);
    CHECK(strcmp(s->vat_id, "NL123456782B01") == 0);
    CHECK(strcmp(s->tax_number, "") == 0);
    CHECK(strcmp(s->electronic_address_scheme, "9944") == 0);
    CHECK(strcmp(s->electronic_address, "NL123456782B01") == 0);
    CHECK(strcmp(s->contact_name, "Billing") == 0);
    CHECK(strcmp(s->contact_phone, "+31201234567") == 0);
    CHECK(strcmp(s->bank_iban, "NL91ABNA0417164300") == 0);
    CHECK(strcmp(s->bank_bic, "ABNANL2A") == 0);
    CHECK(strcmp(s->sepa_creditor_id, "NL69ZZZ123456780000") == 0);
    CHECK(s->payment_terms_days == 14);
    CHECK(strcmp(s->invoice_prefix, "INV") == 0 && strcmp(s->credit_note_prefix, "CN") == 0);
    CHECK(s->retention_years == 7);
    seller_config_free(s);
}

static void test_syntax(void)
{
    /* CRLF, comments, blank lines, tabs and no spaces around '=', UTF-8,
     * a '#' inside a value, normalisation of IBAN, e-mail, creditor id. */
    const char *text = "# German seller\r\n"
                       "\r\n"
                       "   # indented comment\r\n"
                       "legal_name=Müller & Söhne GmbH #2\r\n"
                       "address.line1 \t=\t Königstraße 1 \r\n"
                       "address.line2 = Hinterhaus\r\n"
                       "address.postal_code = 70173\r\n"
                       "address.city = Stuttgart\r\n"
                       "address.country_code = DE\r\n"
                       "tax_number = 99/815/08150\r\n"
                       "electronic_address = EM:Rechnung@Example.DE\r\n"
                       "contact.name = Buchhaltung\r\n"
                       "contact.phone = +49 (0)711 123456\r\n"
                       "contact.email = Buchhaltung@Example.DE\r\n"
                       "bank.iban = de89 3704 0044 0532 0130 00\r\n"
                       "sepa_creditor_id = de98 zzz0 9999 9999 99\r\n"
                       "payment_terms_days = 0\r\n"
                       "invoice_prefix = RE-2026\r\n"
                       "credit_note_prefix = GS\r\n"
                       "retention_years = 8"; /* no final line end */
    seller_config *s = parses(text);
    if (s == NULL)
        return;
    CHECK(strcmp(s->legal_name, "Müller & Söhne GmbH #2") == 0);
    CHECK(strcmp(s->line1, "Königstraße 1") == 0);
    CHECK(strcmp(s->line2, "Hinterhaus") == 0);
    CHECK(strcmp(s->vat_id, "") == 0 && strcmp(s->tax_number, "99/815/08150") == 0);
    CHECK(strcmp(s->electronic_address_scheme, "EM") == 0);
    CHECK(strcmp(s->electronic_address, "rechnung@example.de") == 0);
    CHECK(strcmp(s->contact_phone, "+49711123456") == 0);
    CHECK(strcmp(s->contact_email, "buchhaltung@example.de") == 0);
    CHECK(strcmp(s->bank_iban, "DE89370400440532013000") == 0);
    CHECK(strcmp(s->bank_bic, "") == 0);
    CHECK(strcmp(s->sepa_creditor_id, "DE98ZZZ09999999999") == 0);
    CHECK(s->payment_terms_days == 0 && s->retention_years == 8);
    CHECK(strcmp(s->invoice_prefix, "RE-2026") == 0);
    seller_config_free(s);
}

static void test_structure(void)
{
    char text[4096], want[160];
    int end = dev_line(NULL);
    variant(text, sizeof text, NULL, "colour = blue");
    snprintf(want, sizeof want, "seller config line %d: colour: unknown key", end);
    refuses(text, want, NULL);
    variant(text, sizeof text, NULL, "Secret@Mail.example = x");
    snprintf(want, sizeof want, "seller config line %d: unknown key", end);
    refuses(text, want, "Secret");
    variant(text, sizeof text, NULL, "just some words");
    snprintf(want, sizeof want, "seller config line %d: expected key = value", end);
    refuses(text, want, "words");
    variant(text, sizeof text, NULL, "vat_id = NL123456782B01");
    snprintf(want, sizeof want, "seller config line %d: vat_id: given twice (first on line %d)",
             end, dev_line("vat_id"));
    refuses(text, want, NULL);
    refuses("legal_name = A\xff B\n", "seller config line 1: not valid UTF-8 text", NULL);
    const char nul[] = "legal_name = A\0B\n";
    seller_config *s = NULL;
    mb_error err;
    CHECK(seller_config_parse(nul, sizeof nul - 1, &s, &err) == -1 && s == NULL);
    CHECK_CONTAINS(err.msg, "seller config line 1: not valid UTF-8 text");

    static const char *const required[] = {
        "legal_name",           "address.line1",      "address.postal_code", "address.city",
        "address.country_code", "electronic_address", "contact.name",        "contact.phone",
        "contact.email",        "bank.iban",          "payment_terms_days",  "invoice_prefix",
        "credit_note_prefix",   "retention_years"};
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        variant(text, sizeof text, required[i], NULL);
        snprintf(want, sizeof want, "seller config: %s: required", required[i]);
        refuses(text, want, NULL);
    }
    /* Optional keys may be left out (or empty). */
    variant(text, sizeof text, "bank.bic", NULL);
    seller_config_free(parses(text));
    variant(text, sizeof text, "sepa_creditor_id", "sepa_creditor_id =");
    s = parses(text);
    CHECK(s != NULL && strcmp(s->sepa_creditor_id, "") == 0);
    seller_config_free(s);
    /* Neither VAT ID nor tax number. */
    variant(text, sizeof text, "vat_id", NULL);
    refuses(text, "seller config: vat_id: required unless tax_number is given", NULL);
    variant(text, sizeof text, "legal_name", "legal_name =");
    snprintf(want, sizeof want, "seller config line %d: legal_name: must not be empty",
             dev_line("legal_name"));
    refuses(text, want, NULL);
}

static void test_values(void)
{
    refuses_value("legal_name", "Bad\tName", "control characters");
    refuses_value("address.line1", "Street\x7f 1", "control characters");
    refuses_value("address.postal_code", "1015_CV", "letters, digits, spaces and hyphens");
    refuses_value("address.city", "", "must not be empty");
    refuses_value("address.country_code", "XX", "country");
    refuses_value("address.country_code", "nl", "country");
    /* Valid, but not the seller's country: the message names the seller's
     * key and its line, not an account's field. */
    char want[128];
    snprintf(want, sizeof want, "country prefix does not match address.country_code on line %d",
             dev_line("address.country_code"));
    refuses_value("vat_id", "DE136695976", want);
    refuses_value("vat_id", "NL12345B01", "");
    refuses_value("tax_number", "12#34", "letters, digits");
    refuses_value("electronic_address", "billing@example.com", "SCHEME:value");
    refuses_value("electronic_address", "XX99:billing@example.com", "EAS list");
    refuses_value("electronic_address", "EM:not-an-address", "local-part@domain");
    refuses_value("electronic_address", "9944:NL 12", "may only contain");
    refuses_value("contact.name",
                  "Billing\x01"
                  "Dept",
                  "control characters");
    refuses_value("contact.phone", "+31 20 12", "");
    refuses_value("contact.email", "billing.example.com", "local-part@domain");
    refuses_value("bank.iban", "NL91ABNA0417164301", "checksum");
    refuses_value("bank.bic", "ABNA", "8 or 11");
    refuses_value("sepa_creditor_id", "NL68ZZZ123456780000", "checksum");
    refuses_value("sepa_creditor_id", "QQ69ZZZ123456780000", "country code");
    refuses_value("sepa_creditor_id", "NL69Z", "at least 8");
    refuses_value("payment_terms_days", "366", "0 to 365");
    refuses_value("payment_terms_days", "-1", "0 to 365");
    refuses_value("payment_terms_days", "14 days", "0 to 365");
    refuses_value("invoice_prefix", "inv", "A-Z, 0-9");
    refuses_value("invoice_prefix", "INVOICES-2026", "A-Z, 0-9");
    refuses_value("credit_note_prefix", "C N", "A-Z, 0-9");
    refuses_value("retention_years", "0", "1 to 30");
    refuses_value("retention_years", "31", "1 to 30");
    /* The country set after the VAT id: its own line is named. */
    char text[4096];
    variant(text, sizeof text, "address.country_code", NULL);
    strcat(text, "address.country_code = BE\n");
    snprintf(want, sizeof want,
             "seller config line %d: vat_id: country prefix does not match address.country_code "
             "on line %d",
             dev_line("vat_id") - 1, dev_line(NULL) - 1);
    refuses(text, want, NULL);
    /* The business code is outside the check digits: any code passes. */
    variant(text, sizeof text, "sepa_creditor_id", "sepa_creditor_id = NL69ABC123456780000");
    seller_config_free(parses(text));
}

static void test_load(void)
{
    char path[512];
    seller_config *s = NULL;
    mb_error err;
    unit_path(path, sizeof path, "seller.conf");
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    if (f == NULL)
        return;
    fputs(dev_text, f);
    fclose(f);
    CHECK(seller_config_load(path, &s, &err) == 0 && s != NULL);
    CHECK(s != NULL && s->retention_years == 7);
    seller_config_free(s);
    unit_path(path, sizeof path, "missing.conf");
    CHECK(seller_config_load(path, &s, &err) == -1 && s == NULL);
    CHECK_STATUS(err, GRPC_STATUS_FAILED_PRECONDITION);
    CHECK_CONTAINS(err.msg, "seller config: cannot read");
    CHECK_CONTAINS(err.msg, "No such file");
}

int main(void)
{
    if (read_dev_text() != 0) {
        fprintf(stderr, "cannot read %s\n", MINBILL_DEV_SELLER_CONFIG);
        return 1;
    }
    RUN(test_dev);
    RUN(test_syntax);
    RUN(test_structure);
    RUN(test_values);
    RUN(test_load);
    return check_summary();
}
