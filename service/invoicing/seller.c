/*
 * seller.c - see seller.h.
 *
 * Two passes: the first splits the text into keys and raw values (syntax,
 * unknown and duplicate keys), the second validates the values in a fixed
 * order, so a check that depends on another entry (the VAT ID on the
 * country) sees it wherever it stands in the file.
 */
#include "invoicing/seller.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/utf8.h"
#include "invoicing/ubl.h"

#define SELLER_FILE_MAX (64 * 1024)
#define FIELD_SIZE 96

enum seller_key {
    K_LEGAL_NAME,
    K_LINE1,
    K_LINE2,
    K_POSTAL_CODE,
    K_CITY,
    K_COUNTRY,
    K_VAT_ID,
    K_TAX_NUMBER,
    K_EADDRESS,
    K_CONTACT_NAME,
    K_CONTACT_PHONE,
    K_CONTACT_EMAIL,
    K_IBAN,
    K_BIC,
    K_CREDITOR_ID,
    K_TERMS,
    K_INVOICE_PREFIX,
    K_CN_PREFIX,
    K_RETENTION,
    K_COUNT
};

static const struct {
    const char *name;
    bool required; /* vat_id / tax_number: one of them, checked apart */
} KEYS[K_COUNT] = {
    [K_LEGAL_NAME] = {"legal_name", true},
    [K_LINE1] = {"address.line1", true},
    [K_LINE2] = {"address.line2", false},
    [K_POSTAL_CODE] = {"address.postal_code", true},
    [K_CITY] = {"address.city", true},
    [K_COUNTRY] = {"address.country_code", true},
    [K_VAT_ID] = {"vat_id", false},
    [K_TAX_NUMBER] = {"tax_number", false},
    [K_EADDRESS] = {"electronic_address", true},
    [K_CONTACT_NAME] = {"contact.name", true},
    [K_CONTACT_PHONE] = {"contact.phone", true},
    [K_CONTACT_EMAIL] = {"contact.email", true},
    [K_IBAN] = {"bank.iban", true},
    [K_BIC] = {"bank.bic", false},
    [K_CREDITOR_ID] = {"sepa_creditor_id", false},
    [K_TERMS] = {"payment_terms_days", true},
    [K_INVOICE_PREFIX] = {"invoice_prefix", true},
    [K_CN_PREFIX] = {"credit_note_prefix", true},
    [K_RETENTION] = {"retention_years", true},
};

/* The raw entries of the first pass. */
typedef struct raw_config {
    char *value[K_COUNT]; /* NULL: not given */
    int line[K_COUNT];
} raw_config;

static void raw_free(raw_config *raw)
{
    for (int k = 0; k < K_COUNT; k++)
        free(raw->value[k]);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t';
}

static void trim(const char **s, const char **e)
{
    while (*s < *e && is_space(**s))
        (*s)++;
    while (*e > *s && is_space((*e)[-1]))
        (*e)--;
}

static int key_lookup(const char *s, size_t n)
{
    for (int k = 0; k < K_COUNT; k++) {
        if (strlen(KEYS[k].name) == n && memcmp(KEYS[k].name, s, n) == 0)
            return k;
    }
    return -1;
}

static int line_error(mb_error *err, int line, const char *rule)
{
    return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT, "seller config line %d: %s", line, rule);
}

/* A key of this format is short and made of [a-z._]; anything else could be
 * a value pasted in the wrong place and is not repeated. */
static bool key_is_printable(const char *s, size_t n)
{
    if (n == 0 || n > 40)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= 'a' && s[i] <= 'z') || s[i] == '.' || s[i] == '_'))
            return false;
    }
    return true;
}

static int parse_line(raw_config *raw, int line, const char *s, const char *e, mb_error *err)
{
    trim(&s, &e);
    if (s == e || *s == '#')
        return 0;
    const char *eq = memchr(s, '=', (size_t)(e - s));
    if (eq == NULL)
        return line_error(err, line, "expected key = value");
    const char *ks = s, *ke = eq, *vs = eq + 1, *ve = e;
    trim(&ks, &ke);
    trim(&vs, &ve);
    int k = key_lookup(ks, (size_t)(ke - ks));
    if (k < 0) {
        if (key_is_printable(ks, (size_t)(ke - ks)))
            return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                                "seller config line %d: %.*s: unknown key", line, (int)(ke - ks),
                                ks);
        return line_error(err, line, "unknown key");
    }
    if (raw->value[k] != NULL)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "seller config line %d: %s: given twice (first on line %d)", line,
                            KEYS[k].name, raw->line[k]);
    raw->value[k] = strndup(vs, (size_t)(ve - vs));
    if (raw->value[k] == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "seller config: out of memory");
    raw->line[k] = line;
    return 0;
}

/* First pass. The whole text must be UTF-8 without NUL bytes, so the field
 * checks of the second pass may rely on it. */
static int parse_raw(const char *text, size_t len, raw_config *raw, mb_error *err)
{
    int line = 1;
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && text[i] != '\n') {
            uint32_t cp;
            size_t n = mb_utf8_next((const uint8_t *)text + i, len - i, &cp);
            if (n == 0 || cp == 0)
                return line_error(err, line, "not valid UTF-8 text");
            i += n - 1;
            continue;
        }
        size_t end = i;
        if (end > start && text[end - 1] == '\r')
            end--;
        if (parse_line(raw, line, text + start, text + end, err) != 0)
            return -1;
        line++;
        start = i + 1;
    }
    return 0;
}

/*
 * Second pass.
 */

static const char *field_name(char buf[FIELD_SIZE], const raw_config *raw, int k)
{
    snprintf(buf, FIELD_SIZE, "seller config line %d: %s", raw->line[k], KEYS[k].name);
    return buf;
}

/* Takes the raw value into *dst ("" when absent and optional). */
static int take(raw_config *raw, int k, char **dst, mb_error *err)
{
    if (raw->value[k] == NULL || raw->value[k][0] == '\0') {
        if (KEYS[k].required) {
            if (raw->value[k] == NULL)
                return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                                    "seller config: %s: required", KEYS[k].name);
            char f[FIELD_SIZE];
            return check_field_error(err, field_name(f, raw, k), "must not be empty");
        }
        free(raw->value[k]);
        raw->value[k] = NULL;
        *dst = strdup("");
    } else {
        *dst = raw->value[k];
        raw->value[k] = NULL;
    }
    return *dst == NULL
               ? mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "seller config: out of memory")
               : 0;
}

/* Replaces *dst with the normalised form in buf. */
static int replace(char **dst, const char *buf, mb_error *err)
{
    char *copy = strdup(buf);
    if (copy == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "seller config: out of memory");
    free(*dst);
    *dst = copy;
    return 0;
}

static int take_text(raw_config *raw, int k, char **dst, size_t max, mb_error *err)
{
    char f[FIELD_SIZE];
    if (take(raw, k, dst, err) != 0)
        return -1;
    if ((*dst)[0] == '\0')
        return 0;
    return check_text(field_name(f, raw, k), *dst, 1, max, err);
}

static int take_int(raw_config *raw, int k, int min, int max, int *dst, mb_error *err)
{
    char f[FIELD_SIZE], *v = NULL;
    if (take(raw, k, &v, err) != 0)
        return -1;
    long n = 0;
    bool ok = strlen(v) <= 4;
    for (const char *p = v; ok && *p != '\0'; p++) {
        ok = *p >= '0' && *p <= '9';
        n = n * 10 + (*p - '0');
    }
    free(v);
    if (!ok || n < min || n > max)
        return check_field_error(err, field_name(f, raw, k), "must be a whole number from %d to %d",
                                 min, max);
    *dst = (int)n;
    return 0;
}

static int take_prefix(raw_config *raw, int k, char **dst, mb_error *err)
{
    char f[FIELD_SIZE];
    if (take(raw, k, dst, err) != 0)
        return -1;
    const char *rule = "must be 1 to 10 of A-Z, 0-9 and '-'";
    if (strlen(*dst) > SELLER_PREFIX_MAX)
        return check_field_error(err, field_name(f, raw, k), "%s", rule);
    for (const char *p = *dst; *p != '\0'; p++) {
        if (!((*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '-'))
            return check_field_error(err, field_name(f, raw, k), "%s", rule);
    }
    return 0;
}

/* "SCHEME:value", the scheme from the EAS list; an e-mail address under
 * "EM", otherwise 1 to 100 printable ASCII characters without spaces. */
static int take_eaddress(raw_config *raw, seller_config *s, mb_error *err)
{
    char f[FIELD_SIZE], *v = NULL;
    if (take(raw, K_EADDRESS, &v, err) != 0)
        return -1;
    field_name(f, raw, K_EADDRESS);
    char *colon = strchr(v, ':');
    int rc = -1;
    if (colon == NULL) {
        check_field_error(err, f, "must be SCHEME:value");
        goto out;
    }
    *colon = '\0';
    if (!ubl_eas_is_known(v)) {
        check_field_error(err, f, "scheme is not a code of the EAS list");
        goto out;
    }
    const char *value = colon + 1;
    char email[CHECK_EMAIL_SIZE];
    if (strcmp(v, "EM") == 0) {
        if (check_email(f, value, email, sizeof email, err) != 0)
            goto out;
        value = email;
    } else if (check_ascii(f, value, 1, 100, "-._/+",
                           "value may only contain letters, digits and - . _ / +", err) != 0) {
        goto out;
    }
    s->electronic_address_scheme = strdup(v);
    s->electronic_address = strdup(value);
    rc = s->electronic_address_scheme && s->electronic_address
             ? 0
             : mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "seller config: out of memory");
out:
    free(v);
    return rc;
}

static int take_party(raw_config *raw, seller_config *s, mb_error *err)
{
    char f[FIELD_SIZE], *cc = NULL;
    if (take_text(raw, K_LEGAL_NAME, &s->legal_name, 200, err) != 0 ||
        take_text(raw, K_LINE1, &s->line1, 100, err) != 0 ||
        take_text(raw, K_LINE2, &s->line2, 100, err) != 0 ||
        take(raw, K_POSTAL_CODE, &s->postal_code, err) != 0 ||
        check_postal_code(field_name(f, raw, K_POSTAL_CODE), s->postal_code, err) != 0 ||
        take_text(raw, K_CITY, &s->city, 100, err) != 0 || take(raw, K_COUNTRY, &cc, err) != 0)
        goto fail;
    if (check_country(field_name(f, raw, K_COUNTRY), cc, err) != 0)
        goto fail;
    memcpy(s->country_code, cc, 3);
    free(cc);
    char vat[CHECK_VAT_ID_SIZE], country_field[FIELD_SIZE];
    if (take(raw, K_VAT_ID, &s->vat_id, err) != 0)
        return -1;
    /* The VAT id may stand before the country: name the country's line. */
    snprintf(country_field, sizeof country_field, "%s on line %d", KEYS[K_COUNTRY].name,
             raw->line[K_COUNTRY]);
    if (s->vat_id[0] != '\0' &&
        (check_vat_id(field_name(f, raw, K_VAT_ID), s->vat_id, s->country_code, country_field, vat,
                      sizeof vat, err) != 0 ||
         replace(&s->vat_id, vat, err) != 0))
        return -1;
    if (take(raw, K_TAX_NUMBER, &s->tax_number, err) != 0)
        return -1;
    if (s->tax_number[0] != '\0' &&
        check_ascii(field_name(f, raw, K_TAX_NUMBER), s->tax_number, 1, 32, " ./-",
                    "may only contain letters, digits, spaces and . / -", err) != 0)
        return -1;
    if (s->vat_id[0] == '\0' && s->tax_number[0] == '\0')
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "seller config: vat_id: required unless tax_number is given");
    return take_eaddress(raw, s, err);
fail:
    free(cc);
    return -1;
}

static int take_contact(raw_config *raw, seller_config *s, mb_error *err)
{
    char f[FIELD_SIZE], phone[CHECK_PHONE_SIZE], email[CHECK_EMAIL_SIZE];
    if (take_text(raw, K_CONTACT_NAME, &s->contact_name, 100, err) != 0 ||
        take(raw, K_CONTACT_PHONE, &s->contact_phone, err) != 0 ||
        check_phone(field_name(f, raw, K_CONTACT_PHONE), s->contact_phone, phone, sizeof phone,
                    err) != 0 ||
        replace(&s->contact_phone, phone, err) != 0 ||
        take(raw, K_CONTACT_EMAIL, &s->contact_email, err) != 0 ||
        check_email(field_name(f, raw, K_CONTACT_EMAIL), s->contact_email, email, sizeof email,
                    err) != 0)
        return -1;
    return replace(&s->contact_email, email, err);
}

static int take_bank(raw_config *raw, seller_config *s, mb_error *err)
{
    char f[FIELD_SIZE], iban[CHECK_IBAN_SIZE], creditor[CHECK_CREDITOR_ID_SIZE];
    if (take(raw, K_IBAN, &s->bank_iban, err) != 0 ||
        check_iban(field_name(f, raw, K_IBAN), s->bank_iban, iban, sizeof iban, NULL, NULL, err) !=
            0 ||
        replace(&s->bank_iban, iban, err) != 0 || take(raw, K_BIC, &s->bank_bic, err) != 0 ||
        check_bic(field_name(f, raw, K_BIC), s->bank_bic, false, err) != 0 ||
        take(raw, K_CREDITOR_ID, &s->sepa_creditor_id, err) != 0)
        return -1;
    if (s->sepa_creditor_id[0] == '\0')
        return 0;
    if (check_creditor_id(field_name(f, raw, K_CREDITOR_ID), s->sepa_creditor_id, creditor,
                          sizeof creditor, err) != 0)
        return -1;
    return replace(&s->sepa_creditor_id, creditor, err);
}

int seller_config_parse(const char *text, size_t len, seller_config **out, mb_error *err)
{
    *out = NULL;
    if (len > SELLER_FILE_MAX)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "seller config: larger than %d bytes", SELLER_FILE_MAX);
    raw_config raw = {0};
    seller_config *s = calloc(1, sizeof *s);
    if (s == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "seller config: out of memory");
    int rc = -1;
    if (parse_raw(text, len, &raw, err) != 0 || take_party(&raw, s, err) != 0 ||
        take_contact(&raw, s, err) != 0 || take_bank(&raw, s, err) != 0 ||
        take_int(&raw, K_TERMS, 0, 365, &s->payment_terms_days, err) != 0 ||
        take_prefix(&raw, K_INVOICE_PREFIX, &s->invoice_prefix, err) != 0 ||
        take_prefix(&raw, K_CN_PREFIX, &s->credit_note_prefix, err) != 0 ||
        take_int(&raw, K_RETENTION, 1, 30, &s->retention_years, err) != 0)
        goto out;
    *out = s;
    s = NULL;
    rc = 0;
out:
    raw_free(&raw);
    seller_config_free(s);
    return rc;
}

int seller_config_load(const char *path, seller_config **out, mb_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                            "seller config: cannot read %s: %s", path, strerror(errno));
    char *buf = malloc(SELLER_FILE_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "seller config: out of memory");
    }
    size_t n = fread(buf, 1, SELLER_FILE_MAX + 1, f);
    int rc;
    if (ferror(f))
        rc = mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION, "seller config: cannot read %s: %s",
                          path, strerror(errno));
    else
        rc = seller_config_parse(buf, n, out, err);
    fclose(f);
    free(buf);
    return rc;
}

void seller_config_free(seller_config *s)
{
    if (s == NULL)
        return;
    char **fields[] = {&s->legal_name,
                       &s->line1,
                       &s->line2,
                       &s->postal_code,
                       &s->city,
                       &s->vat_id,
                       &s->tax_number,
                       &s->electronic_address_scheme,
                       &s->electronic_address,
                       &s->contact_name,
                       &s->contact_phone,
                       &s->contact_email,
                       &s->bank_iban,
                       &s->bank_bic,
                       &s->sepa_creditor_id,
                       &s->invoice_prefix,
                       &s->credit_note_prefix};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        free(*fields[i]);
    free(s);
}
