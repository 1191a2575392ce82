/*
 * fuzz_seller_config.c - seller_config_parse (invoicing/seller.c) on raw
 * bytes: a file on disk has not passed the wire check, so NULs and bytes
 * that are not UTF-8 come in too.
 *
 * Invariants: an accepted configuration has every field set, each valid
 * UTF-8 and passing the check seller.c applies to it (check_text,
 * check_postal_code, check_country, check_vat_id, check_phone,
 * check_email, check_iban, check_bic, check_creditor_id, the
 * EAS list, the number and prefix ranges), normalised values are their own
 * normal form, and writing the configuration back as `key = value` lines
 * parses to the same configuration. A refusal leaves cfg NULL, is
 * "seller config[ line N]: <key>: <rule>" (or a syntax rule for the line)
 * and its rule quotes no run of digits, IBAN, VAT id, phone number or
 * e-mail address of the input.
 */
#include "fuzz.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/utf8.h"
#include "invoicing/seller.h"
#include "invoicing/ubl.h"

static bool utf8_ok(const char *s)
{
    FUZZ_ASSERT(s != NULL);
    size_t n = strlen(s);
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = mb_utf8_next((const uint8_t *)s + i, n - i, &cp);
        if (k == 0)
            return false;
        i += k;
    }
    return true;
}

static void text_ok(const char *v, size_t max, bool optional)
{
    mb_error err;
    FUZZ_ASSERT(utf8_ok(v));
    FUZZ_ASSERT((optional && v[0] == '\0') || check_text("f", v, 1, max, &err) == 0);
}

static void ascii_ok(const char *v, size_t max, const char *extra)
{
    mb_error err;
    FUZZ_ASSERT(check_ascii("f", v, 1, max, extra, "r", &err) == 0);
}

static void prefix_ok(const char *v)
{
    size_t n = strlen(v);
    FUZZ_ASSERT(n >= 1 && n <= SELLER_PREFIX_MAX);
    FUZZ_ASSERT(strspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") == n);
}

static void check_config(const seller_config *c)
{
    mb_error err;
    char buf[CHECK_EMAIL_SIZE], iban[CHECK_IBAN_SIZE], cc[3], last4[5];
    text_ok(c->legal_name, 200, false);
    text_ok(c->line1, 100, false);
    text_ok(c->line2, 100, true);
    text_ok(c->city, 100, false);
    text_ok(c->contact_name, 100, false);
    FUZZ_ASSERT(utf8_ok(c->postal_code) && check_postal_code("f", c->postal_code, &err) == 0);
    FUZZ_ASSERT(strlen(c->country_code) == 2 && check_country("f", c->country_code, &err) == 0);
    FUZZ_ASSERT(c->vat_id[0] != '\0' || c->tax_number[0] != '\0');
    if (c->vat_id[0] != '\0') {
        FUZZ_ASSERT(
            check_vat_id("f", c->vat_id, c->country_code, "c", buf, CHECK_VAT_ID_SIZE, &err) == 0);
        FUZZ_ASSERT(strcmp(buf, c->vat_id) == 0);
    }
    if (c->tax_number[0] != '\0')
        ascii_ok(c->tax_number, 32, " ./-");
    FUZZ_ASSERT(ubl_eas_is_known(c->electronic_address_scheme));
    if (strcmp(c->electronic_address_scheme, "EM") == 0) {
        FUZZ_ASSERT(check_email("f", c->electronic_address, buf, sizeof buf, &err) == 0);
        FUZZ_ASSERT(strcmp(buf, c->electronic_address) == 0);
    } else {
        ascii_ok(c->electronic_address, 100, "-._/+");
    }
    FUZZ_ASSERT(check_phone("f", c->contact_phone, buf, CHECK_PHONE_SIZE, &err) == 0);
    FUZZ_ASSERT(strcmp(buf, c->contact_phone) == 0);
    FUZZ_ASSERT(check_email("f", c->contact_email, buf, sizeof buf, &err) == 0);
    FUZZ_ASSERT(strcmp(buf, c->contact_email) == 0);
    FUZZ_ASSERT(check_iban("f", c->bank_iban, iban, sizeof iban, cc, last4, &err) == 0);
    FUZZ_ASSERT(strcmp(iban, c->bank_iban) == 0);
    FUZZ_ASSERT(check_bic("f", c->bank_bic, false, &err) == 0);
    if (c->sepa_creditor_id[0] != '\0') {
        FUZZ_ASSERT(check_creditor_id("f", c->sepa_creditor_id, buf, sizeof buf, &err) == 0);
        FUZZ_ASSERT(strcmp(buf, c->sepa_creditor_id) == 0);
    }
    FUZZ_ASSERT(c->payment_terms_days >= 0 && c->payment_terms_days <= 365);
    FUZZ_ASSERT(c->retention_years >= 1 && c->retention_years <= 30);
    prefix_ok(c->invoice_prefix);
    prefix_ok(c->credit_note_prefix);
}

/* The configuration in the file format, optional entries left out when
 * empty (malloc'd). */
static char *write_back(const seller_config *c, size_t *len)
{
    char *out = NULL;
    FILE *f = open_memstream(&out, len);
    FUZZ_ASSERT(f != NULL);
    fprintf(f, "legal_name = %s\naddress.line1 = %s\n", c->legal_name, c->line1);
    if (c->line2[0] != '\0')
        fprintf(f, "address.line2 = %s\n", c->line2);
    fprintf(f, "address.postal_code = %s\naddress.city = %s\naddress.country_code = %s\n",
            c->postal_code, c->city, c->country_code);
    if (c->vat_id[0] != '\0')
        fprintf(f, "vat_id = %s\n", c->vat_id);
    if (c->tax_number[0] != '\0')
        fprintf(f, "tax_number = %s\n", c->tax_number);
    fprintf(f, "electronic_address = %s:%s\n", c->electronic_address_scheme, c->electronic_address);
    fprintf(f, "contact.name = %s\ncontact.phone = %s\ncontact.email = %s\n", c->contact_name,
            c->contact_phone, c->contact_email);
    fprintf(f, "bank.iban = %s\n", c->bank_iban);
    if (c->bank_bic[0] != '\0')
        fprintf(f, "bank.bic = %s\n", c->bank_bic);
    if (c->sepa_creditor_id[0] != '\0')
        fprintf(f, "sepa_creditor_id = %s\n", c->sepa_creditor_id);
    fprintf(f, "payment_terms_days = %d\ninvoice_prefix = %s\ncredit_note_prefix = %s\n",
            c->payment_terms_days, c->invoice_prefix, c->credit_note_prefix);
    fprintf(f, "retention_years = %d\n", c->retention_years);
    FUZZ_ASSERT(fclose(f) == 0);
    return out;
}

static void same_config(const seller_config *a, const seller_config *b)
{
    const char *sa[] = {a->legal_name,
                        a->line1,
                        a->line2,
                        a->postal_code,
                        a->city,
                        a->country_code,
                        a->vat_id,
                        a->tax_number,
                        a->electronic_address_scheme,
                        a->electronic_address,
                        a->contact_name,
                        a->contact_phone,
                        a->contact_email,
                        a->bank_iban,
                        a->bank_bic,
                        a->sepa_creditor_id,
                        a->invoice_prefix,
                        a->credit_note_prefix};
    const char *sb[] = {b->legal_name,
                        b->line1,
                        b->line2,
                        b->postal_code,
                        b->city,
                        b->country_code,
                        b->vat_id,
                        b->tax_number,
                        b->electronic_address_scheme,
                        b->electronic_address,
                        b->contact_name,
                        b->contact_phone,
                        b->contact_email,
                        b->bank_iban,
                        b->bank_bic,
                        b->sepa_creditor_id,
                        b->invoice_prefix,
                        b->credit_note_prefix};
    for (size_t i = 0; i < sizeof sa / sizeof sa[0]; i++)
        FUZZ_ASSERT(strcmp(sa[i], sb[i]) == 0);
    FUZZ_ASSERT(a->payment_terms_days == b->payment_terms_days &&
                a->retention_years == b->retention_years);
}

static bool is_key(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '.' || s[i] == '_' ||
              (s[i] >= '0' && s[i] <= '9')))
            return false;
    }
    return true;
}

/* err is "seller config[ line N]: [key: ]rule"; returns the rule with any
 * "(first on line N)" cut off, in buf. */
static const char *rule_of(const mb_error *err, char *buf, size_t size)
{
    fuzz_assert_field_error(err, NULL);
    const char *p = err->msg;
    FUZZ_ASSERT(strncmp(p, "seller config", 13) == 0);
    p += 13;
    if (strncmp(p, " line ", 6) == 0) {
        p += 6;
        size_t d = strspn(p, "0123456789");
        FUZZ_ASSERT(d > 0 && p[0] != '0');
        p += d;
    }
    FUZZ_ASSERT(p[0] == ':' && p[1] == ' ');
    p += 2;
    const char *colon = strstr(p, ": ");
    if (colon != NULL && is_key(p, (size_t)(colon - p)))
        p = colon + 2;
    FUZZ_ASSERT(p[0] != '\0');
    snprintf(buf, size, "%s", p);
    char *twice = strstr(buf, " (first on line ");
    if (twice != NULL)
        *twice = '\0';
    /* check_vat_id's rule names the field it compares with; a name, not
     * a value. */
    static const char other[] = "billing_address.country_code";
    char *o = strstr(buf, other);
    if (o != NULL)
        memset(o, ' ', strlen(other));
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    seller_config *cfg = NULL;
    mb_error err = {0};
    if (seller_config_parse((const char *)data, size, &cfg, &err) == 0) {
        FUZZ_ASSERT(cfg != NULL);
        check_config(cfg);
        size_t len;
        char *text = write_back(cfg, &len);
        seller_config *again = NULL;
        if (seller_config_parse(text, len, &again, &err) != 0)
            fprintf(stderr, "written back:\n%s\nrefused: %s\n", text, err.msg);
        FUZZ_ASSERT(again != NULL);
        same_config(cfg, again);
        seller_config_free(again);
        free(text);
        seller_config_free(cfg);
        return 0;
    }
    FUZZ_ASSERT(cfg == NULL);
    char rule[sizeof err.msg];
    rule_of(&err, rule, sizeof rule);
    /* The input as C strings, one per line (a NUL also ends one). */
    char *copy = malloc(size + 1);
    FUZZ_ASSERT(copy != NULL);
    memcpy(copy, data, size);
    copy[size] = '\0';
    for (size_t i = 0; i < size; i++) {
        if (copy[i] == '\n')
            copy[i] = '\0';
    }
    /* Values must not be echoed; key names may be (a rule names the key
     * it compares with, e.g. address.country_code). */
    for (size_t i = 0; i <= size; i += strlen(copy + i) + 1) {
        const char *eq = strchr(copy + i, '=');
        const char *value = eq != NULL ? eq + 1 : copy + i;
        fuzz_assert_no_echo(rule, value, 5);
        fuzz_assert_no_email(rule, value);
    }
    free(copy);
    return 0;
}
