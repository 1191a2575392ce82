/*
 * ubl.c - see ubl.h.
 *
 * The document is written into a growing heap buffer (xml_buf) in UBL 2.1
 * schema order and copied into the caller's arena at the end. Empty values
 * produce no element at all (PEPPOL-EN16931-R008).
 */
#include "invoicing/ubl.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/check.h"
#include "base/utf8.h"
#include "base/decimal.h"

#define NS_CAC "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
#define NS_CBC "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
#define DATE_SIZE 11 /* "YYYY-MM-DD" + NUL */

const char *ubl_customization_id(bool xrechnung)
{
    return xrechnung ? UBL_CUSTOMIZATION_XRECHNUNG : UBL_CUSTOMIZATION_EN16931;
}

/* The CEF EAS codes the EN 16931 rules (release 1.3.16, BR-CL-25) accept. */
static const char *const EAS_CODES[] = {
    "0002", "0007", "0009", "0037", "0060", "0088", "0096", "0097", "0106", "0130", "0135", "0142",
    "0147", "0151", "0154", "0158", "0170", "0177", "0183", "0184", "0188", "0190", "0191", "0192",
    "0193", "0194", "0195", "0196", "0198", "0199", "0200", "0201", "0202", "0203", "0204", "0205",
    "0208", "0209", "0210", "0211", "0212", "0213", "0215", "0216", "0217", "0218", "0219", "0220",
    "0221", "0225", "0230", "0235", "0240", "0244", "0242", "0245", "0246", "0248", "9910", "9913",
    "9914", "9915", "9918", "9919", "9920", "9922", "9923", "9924", "9925", "9926", "9927", "9928",
    "9929", "9930", "9931", "9932", "9933", "9934", "9935", "9936", "9937", "9938", "9939", "9940",
    "9941", "9942", "9943", "9944", "9945", "9946", "9947", "9948", "9949", "9950", "9951", "9952",
    "9953", "9957", "9959", "AN",   "AQ",   "AS",   "AU",   "EM"};

bool ubl_eas_is_known(const char *scheme)
{
    for (size_t i = 0; i < sizeof EAS_CODES / sizeof EAS_CODES[0]; i++) {
        if (strcmp(EAS_CODES[i], scheme) == 0)
            return true;
    }
    return false;
}

/* VAT-number schemes of the EAS list by country (EU members and their
 * neighbours that have one). */
static const struct {
    char cc[3];
    const char *eas;
} VAT_EAS[] = {
    {"AD", "9922"}, {"AL", "9923"}, {"AT", "9914"}, {"BA", "9924"}, {"BE", "9925"}, {"BG", "9926"},
    {"CH", "9927"}, {"CY", "9928"}, {"CZ", "9929"}, {"DE", "9930"}, {"DK", "0198"}, {"EE", "9931"},
    {"ES", "9920"}, {"FI", "0213"}, {"FR", "9957"}, {"GB", "9932"}, {"GR", "9933"}, {"HR", "9934"},
    {"HU", "9910"}, {"IE", "9935"}, {"IT", "0211"}, {"LI", "9936"}, {"LT", "9937"}, {"LU", "9938"},
    {"LV", "9939"}, {"MC", "9940"}, {"ME", "9941"}, {"MK", "9942"}, {"MT", "9943"}, {"NL", "9944"},
    {"PL", "9945"}, {"PT", "9946"}, {"RO", "9947"}, {"RS", "9948"}, {"SI", "9949"}, {"SK", "9950"},
    {"SM", "9951"}, {"TR", "9952"}, {"VA", "9953"},
};

const char *ubl_eas_for_vat_country(const char *cc)
{
    for (size_t i = 0; i < sizeof VAT_EAS / sizeof VAT_EAS[0]; i++) {
        if (strcmp(VAT_EAS[i].cc, cc) == 0)
            return VAT_EAS[i].eas;
    }
    return NULL;
}

/*
 * The output buffer.
 */

typedef struct xml_buf {
    char *p;
    size_t len, cap;
    bool oom;
} xml_buf;

static void put_n(xml_buf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 8192;
        while (b->len + n + 1 > cap)
            cap *= 2;
        char *p = realloc(b->p, cap);
        if (p == NULL) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void put(xml_buf *b, const char *s)
{
    put_n(b, s, strlen(s));
}

static void putf(xml_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void putf(xml_buf *b, const char *fmt, ...)
{
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    put_n(b, tmp, n < 0 ? 0 : (size_t)n < sizeof tmp ? (size_t)n : sizeof tmp - 1);
}

/* True for a code point XML 1.0 allows in a document (production Char). */
static bool xml_char(uint32_t cp)
{
    return cp == 0x9 || cp == 0xA || cp == 0xD || (cp >= 0x20 && cp <= 0xD7FF) ||
           (cp >= 0xE000 && cp <= 0xFFFD) || cp >= 0x10000;
}

/* Text content or an attribute value, escaped. */
static void put_text(xml_buf *b, const char *s)
{
    const uint8_t *p = (const uint8_t *)s;
    size_t n = strlen(s), i = 0;
    while (i < n) {
        uint32_t cp;
        size_t k = mb_utf8_next(p + i, n - i, &cp);
        if (k == 0) {
            put(b, "\xEF\xBF\xBD"); /* U+FFFD for a byte that is not UTF-8 */
            i++;
            continue;
        }
        switch (cp) {
        case '<':
            put(b, "&lt;");
            break;
        case '>':
            put(b, "&gt;");
            break;
        case '&':
            put(b, "&amp;");
            break;
        case '"':
            put(b, "&quot;");
            break;
        case '\'':
            put(b, "&apos;");
            break;
        case '\r':
            put(b, "&#13;"); /* a literal CR would be normalised away */
            break;
        default:
            if (xml_char(cp))
                put_n(b, s + i, k);
            break;
        }
        i += k;
    }
}

/* <tag>text</tag>, or nothing for an empty text. */
static void elem(xml_buf *b, const char *tag, const char *text)
{
    if (text == NULL || text[0] == '\0')
        return;
    putf(b, "<%s>", tag);
    put_text(b, text);
    putf(b, "</%s>", tag);
}

/* <tag attr="value">text</tag>; the attribute is left out when empty. */
static void elem_attr(xml_buf *b, const char *tag, const char *attr, const char *value,
                      const char *text)
{
    if (text == NULL || text[0] == '\0')
        return;
    putf(b, "<%s", tag);
    if (value != NULL && value[0] != '\0') {
        putf(b, " %s=\"", attr);
        put_text(b, value);
        put(b, "\"");
    }
    put(b, ">");
    put_text(b, text);
    putf(b, "</%s>", tag);
}

/*
 * Values.
 */

typedef struct render_ctx {
    xml_buf b;
    const Minbill__V1__Invoice *inv;
    bool credit_note;
    bool not_subject; /* a line of category O: no VAT identifiers */
    int minor_units;
    mb_error *err;
    bool failed;
} render_ctx;

static void fail(render_ctx *c, const char *field, const char *rule)
{
    if (!c->failed)
        mb_error_set(c->err, GRPC_STATUS_INVALID_ARGUMENT, "invoice.%s: %s", field, rule);
    c->failed = true;
}

static const char *str(const char *s)
{
    return s != NULL ? s : "";
}

/* <tag currencyID="EUR">12.34</tag>: minor units printed exactly. */
static void amount(render_ctx *c, const char *tag, int64_t minor)
{
    char digits[32];
    uint64_t mag = minor < 0 ? (uint64_t)0 - (uint64_t)minor : (uint64_t)minor;
    int n = snprintf(digits, sizeof digits, "%0*" PRIu64, c->minor_units + 1, mag);
    int whole = n - c->minor_units;
    putf(&c->b, "<%s currencyID=\"", tag);
    put_text(&c->b, c->inv->currency);
    putf(&c->b, "\">%s%.*s", minor < 0 ? "-" : "", whole, digits);
    if (c->minor_units > 0)
        putf(&c->b, ".%s", digits + whole);
    putf(&c->b, "</%s>", tag);
}

/* A decimal string (price, rate) in its canonical exact form. */
static const char *decimal(render_ctx *c, const char *field, const char *s,
                           char out[DECIMAL_FORMAT_SIZE])
{
    int64_t micros;
    mb_error e;
    if (decimal_parse_micros(field, str(s), &micros, &e) != 0) {
        fail(c, field, "not a decimal number");
        return "0";
    }
    return decimal_format_micros(micros, out);
}

static bool leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* First and last day of the month "YYYY-MM"; false if s is not one. */
static bool month_bounds(const char *s, char first[DATE_SIZE], char last[DATE_SIZE])
{
    int y, m;
    char tail;
    if (s == NULL || strlen(s) != 7 || sscanf(s, "%4d-%2d%c", &y, &m, &tail) != 2 || m < 1 ||
        m > 12 || y < 1000 || y > 9999)
        return false;
    static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int d = days[m - 1] + (m == 2 && leap(y));
    snprintf(first, DATE_SIZE, "%04d-%02d-01", y, m);
    snprintf(last, DATE_SIZE, "%04d-%02d-%02d", y, m, d);
    return true;
}

static bool is_date(const char *s)
{
    int y, m, d;
    char tail;
    return s != NULL && strlen(s) == 10 && s[4] == '-' && s[7] == '-' &&
           sscanf(s, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3 && m >= 1 && m <= 12 && d >= 1 &&
           d <= 31;
}

/*
 * Parts of the document.
 */

static void tax_scheme(xml_buf *b)
{
    put(b, "<cac:TaxScheme><cbc:ID>VAT</cbc:ID></cac:TaxScheme>");
}

static void address(xml_buf *b, const Minbill__V1__PostalAddress *a)
{
    if (a == NULL)
        return;
    put(b, "<cac:PostalAddress>");
    elem(b, "cbc:StreetName", a->line1);
    elem(b, "cbc:AdditionalStreetName", a->line2);
    elem(b, "cbc:CityName", a->city);
    elem(b, "cbc:PostalZone", a->postal_code);
    put(b, "<cac:Country>");
    elem(b, "cbc:IdentificationCode", a->country_code);
    put(b, "</cac:Country></cac:PostalAddress>");
}

static void party_tax_scheme(xml_buf *b, const char *company_id, const char *scheme)
{
    if (company_id == NULL || company_id[0] == '\0')
        return;
    put(b, "<cac:PartyTaxScheme>");
    elem(b, "cbc:CompanyID", company_id);
    putf(b, "<cac:TaxScheme><cbc:ID>%s</cbc:ID></cac:TaxScheme></cac:PartyTaxScheme>", scheme);
}

static void party_id(xml_buf *b, const char *scheme, const char *id)
{
    if (id == NULL || id[0] == '\0')
        return;
    put(b, "<cac:PartyIdentification>");
    elem_attr(b, "cbc:ID", "schemeID", scheme, id);
    put(b, "</cac:PartyIdentification>");
}

/* BG-4 seller / BG-7 buyer. */
static void party(render_ctx *c, const Minbill__V1__Party *p, bool seller)
{
    xml_buf *b = &c->b;
    const Minbill__V1__PaymentInstructions *pay = c->inv->payment;
    put(b, "<cac:Party>");
    if (str(p->electronic_address_scheme)[0] != '\0')
        elem_attr(b, "cbc:EndpointID", "schemeID", p->electronic_address_scheme,
                  p->electronic_address);
    if (seller && c->not_subject)
        party_id(b, "", str(p->vat_id)[0] != '\0' ? p->vat_id : p->tax_number);
    if (seller && pay != NULL && strcmp(str(pay->means_code), "59") == 0)
        party_id(b, "SEPA", pay->creditor_id);
    address(b, p->address);
    if (!c->not_subject)
        party_tax_scheme(b, p->vat_id, "VAT");
    if (seller)
        party_tax_scheme(b, p->tax_number, "FC");
    put(b, "<cac:PartyLegalEntity>");
    elem(b, "cbc:RegistrationName", p->name);
    put(b, "</cac:PartyLegalEntity>");
    if (seller &&
        (str(p->contact_name)[0] || str(p->contact_phone)[0] || str(p->contact_email)[0])) {
        put(b, "<cac:Contact>");
        elem(b, "cbc:Name", p->contact_name);
        elem(b, "cbc:Telephone", p->contact_phone);
        elem(b, "cbc:ElectronicMail", p->contact_email);
        put(b, "</cac:Contact>");
    }
    put(b, "</cac:Party>");
}

/* UNCL4461 card payments: 48 bank card, 54 credit card, 55 debit card. */
static bool is_card(const char *means_code)
{
    return strcmp(means_code, "48") == 0 || strcmp(means_code, "54") == 0 ||
           strcmp(means_code, "55") == 0;
}

/* BG-16 with BG-17 (credit transfer), BG-18 (card) or BG-19 (direct debit). */
static void payment_means(render_ctx *c)
{
    const Minbill__V1__PaymentInstructions *p = c->inv->payment;
    xml_buf *b = &c->b;
    if (p == NULL || str(p->means_code)[0] == '\0')
        return;
    const char *code = p->means_code;
    put(b, "<cac:PaymentMeans>");
    elem(b, "cbc:PaymentMeansCode", code);
    if (c->credit_note)
        elem(b, "cbc:PaymentDueDate", c->inv->due_date);
    elem(b, "cbc:PaymentID", p->payment_id);
    if (is_card(code)) {
        put(b, "<cac:CardAccount>");
        elem(b, "cbc:PrimaryAccountNumberID", p->card_last4);
        elem(b, "cbc:NetworkID", str(p->card_network)[0] ? p->card_network : "NA");
        put(b, "</cac:CardAccount>");
    } else if (strcmp(code, "59") == 0) {
        put(b, "<cac:PaymentMandate>");
        elem(b, "cbc:ID", p->mandate_reference);
        if (str(p->debited_account)[0] != '\0') {
            put(b, "<cac:PayerFinancialAccount>");
            elem(b, "cbc:ID", p->debited_account);
            put(b, "</cac:PayerFinancialAccount>");
        }
        put(b, "</cac:PaymentMandate>");
    } else if (str(p->payee_iban)[0] != '\0') {
        put(b, "<cac:PayeeFinancialAccount>");
        elem(b, "cbc:ID", p->payee_iban);
        if (str(p->payee_bic)[0] != '\0') {
            put(b, "<cac:FinancialInstitutionBranch>");
            elem(b, "cbc:ID", p->payee_bic);
            put(b, "</cac:FinancialInstitutionBranch>");
        }
        put(b, "</cac:PayeeFinancialAccount>");
    }
    put(b, "</cac:PaymentMeans>");
    if (str(p->terms)[0] != '\0') {
        put(b, "<cac:PaymentTerms>");
        elem(b, "cbc:Note", p->terms);
        put(b, "</cac:PaymentTerms>");
    }
}

/* ClassifiedTaxCategory (line) or TaxCategory (breakdown). A line of
 * category O has no rate (BR-O-05); the breakdown always has one, as
 * XRechnung demands (BR-DE-14) and EN 16931 allows. */
static void tax_category(render_ctx *c, const char *tag, const char *category, const char *rate,
                         const char *reason_code, const char *reason, const char *field)
{
    char buf[DECIMAL_FORMAT_SIZE];
    bool line = strcmp(tag, "cac:ClassifiedTaxCategory") == 0;
    putf(&c->b, "<%s>", tag);
    elem(&c->b, "cbc:ID", category);
    bool o = strcmp(str(category), "O") == 0;
    /* Rating gives category O no rate at all; its breakdown prints 0. */
    if (!line && o && str(rate)[0] == '\0')
        elem(&c->b, "cbc:Percent", "0");
    else if (!line || !o)
        elem(&c->b, "cbc:Percent", decimal(c, field, rate, buf));
    elem(&c->b, "cbc:TaxExemptionReasonCode", reason_code);
    elem(&c->b, "cbc:TaxExemptionReason", reason);
    tax_scheme(&c->b);
    putf(&c->b, "</%s>", tag);
}

static void tax_total(render_ctx *c)
{
    const Minbill__V1__Invoice *inv = c->inv;
    put(&c->b, "<cac:TaxTotal>");
    amount(c, "cbc:TaxAmount", inv->tax_total_minor);
    for (size_t i = 0; i < inv->n_tax_subtotals; i++) {
        const Minbill__V1__TaxSubtotal *t = inv->tax_subtotals[i];
        char field[48];
        snprintf(field, sizeof field, "tax_subtotals[%zu].rate", i);
        if (str(t->category)[0] == '\0')
            fail(c, "tax_subtotals.category", "required");
        put(&c->b, "<cac:TaxSubtotal>");
        amount(c, "cbc:TaxableAmount", t->taxable_minor);
        amount(c, "cbc:TaxAmount", t->tax_minor);
        tax_category(c, "cac:TaxCategory", t->category, t->rate, t->exemption_reason_code,
                     t->exemption_reason, field);
        put(&c->b, "</cac:TaxSubtotal>");
    }
    put(&c->b, "</cac:TaxTotal>");
}

static void monetary_total(render_ctx *c)
{
    const Minbill__V1__Invoice *inv = c->inv;
    put(&c->b, "<cac:LegalMonetaryTotal>");
    amount(c, "cbc:LineExtensionAmount", inv->net_total_minor);
    amount(c, "cbc:TaxExclusiveAmount", inv->net_total_minor);
    amount(c, "cbc:TaxInclusiveAmount", inv->gross_total_minor);
    amount(c, "cbc:PayableAmount", inv->gross_total_minor);
    put(&c->b, "</cac:LegalMonetaryTotal>");
}

static void period(xml_buf *b, const char *start, const char *end)
{
    put(b, "<cac:InvoicePeriod>");
    elem(b, "cbc:StartDate", start);
    elem(b, "cbc:EndDate", end);
    put(b, "</cac:InvoicePeriod>");
}

static void line(render_ctx *c, size_t i, const Minbill__V1__InvoiceLine *l)
{
    xml_buf *b = &c->b;
    const char *tag = c->credit_note ? "cac:CreditNoteLine" : "cac:InvoiceLine";
    char field[48], buf[DECIMAL_FORMAT_SIZE];
    putf(b, "<%s><cbc:ID>%zu</cbc:ID>", tag, i + 1);
    putf(b, "<%s unitCode=\"", c->credit_note ? "cbc:CreditedQuantity" : "cbc:InvoicedQuantity");
    put_text(b, str(l->unit_code)[0] ? l->unit_code : "C62");
    putf(b, "\">%" PRId64 "</%s>", l->quantity,
         c->credit_note ? "cbc:CreditedQuantity" : "cbc:InvoicedQuantity");
    amount(c, "cbc:LineExtensionAmount", l->line_extension_minor);
    char first[DATE_SIZE], last[DATE_SIZE];
    if (str(l->period)[0] != '\0' && strcmp(l->period, str(c->inv->period)) != 0) {
        if (month_bounds(l->period, first, last))
            period(b, first, last);
        else
            fail(c, "lines.period", "must be YYYY-MM");
    }
    put(b, "<cac:Item>");
    const char *name = str(l->description)[0] ? l->description : l->metric;
    elem(b, "cbc:Name", str(name)[0] ? name : "Service");
    snprintf(field, sizeof field, "lines[%zu].vat_rate", i);
    tax_category(c, "cac:ClassifiedTaxCategory", l->vat_category, l->vat_rate, NULL, NULL, field);
    put(b, "</cac:Item><cac:Price>");
    snprintf(field, sizeof field, "lines[%zu].unit_price", i);
    const char *price = decimal(c, field, l->unit_price, buf);
    putf(b, "<cbc:PriceAmount currencyID=\"");
    put_text(b, c->inv->currency);
    putf(b, "\">%s</cbc:PriceAmount></cac:Price></%s>", price, tag);
}

/* BG-14: the invoice period, reaching back to the earliest late-usage
 * line. */
static void invoice_period(render_ctx *c)
{
    const Minbill__V1__Invoice *inv = c->inv;
    char start[DATE_SIZE], end[DATE_SIZE], first[DATE_SIZE], last[DATE_SIZE];
    snprintf(start, sizeof start, "%s", str(inv->period_start));
    snprintf(end, sizeof end, "%s", str(inv->period_end));
    if ((start[0] == '\0' || end[0] == '\0') && month_bounds(inv->period, first, last)) {
        if (start[0] == '\0')
            memcpy(start, first, DATE_SIZE);
        if (end[0] == '\0')
            memcpy(end, last, DATE_SIZE);
    }
    for (size_t i = 0; i < inv->n_lines; i++) {
        if (month_bounds(inv->lines[i]->period, first, last) &&
            (start[0] == '\0' || strcmp(first, start) < 0))
            memcpy(start, first, DATE_SIZE);
    }
    if (start[0] != '\0' || end[0] != '\0')
        period(&c->b, start, end);
}

static void billing_reference(render_ctx *c)
{
    const Minbill__V1__Invoice *inv = c->inv;
    if (str(inv->original_invoice_number)[0] == '\0')
        return;
    put(&c->b, "<cac:BillingReference><cac:InvoiceDocumentReference>");
    elem(&c->b, "cbc:ID", inv->original_invoice_number);
    elem(&c->b, "cbc:IssueDate", inv->original_issue_date);
    put(&c->b, "</cac:InvoiceDocumentReference></cac:BillingReference>");
}

/* BT-22: the invoice note and, on a credit note, its reason, as one note. */
static void note(render_ctx *c)
{
    const char *n = str(c->inv->note), *r = c->credit_note ? str(c->inv->credit_note_reason) : "";
    if (n[0] == '\0' && r[0] == '\0')
        return;
    put(&c->b, "<cbc:Note>");
    put_text(&c->b, n);
    if (n[0] != '\0' && r[0] != '\0')
        put(&c->b, "\n");
    put_text(&c->b, r);
    put(&c->b, "</cbc:Note>");
}

/* What each payment means needs, and never more of a card or the debited
 * account than the rules allow (PCI DSS 3.4.1; issue 8 section 5). */
static void check_payment(render_ctx *c)
{
    const Minbill__V1__PaymentInstructions *p = c->inv->payment;
    const char *code = p != NULL ? str(p->means_code) : "";
    if (is_card(code)) {
        const char *d = str(p->card_last4);
        if (strlen(d) != 4 || strspn(d, "0123456789") != 4)
            fail(c, "payment.card_last4", "must be the last 4 digits of the card");
    } else if (strcmp(code, "59") == 0) {
        if (str(p->mandate_reference)[0] == '\0')
            fail(c, "payment.mandate_reference", "required for a direct debit");
        if (str(p->creditor_id)[0] == '\0')
            fail(c, "payment.creditor_id", "required for a direct debit");
        if (str(p->debited_account)[0] != '\0' && strchr(p->debited_account, '*') == NULL)
            fail(c, "payment.debited_account", "must be masked");
    } else if (strcmp(code, "58") == 0 && str(p->payee_iban)[0] == '\0') {
        fail(c, "payment.payee_iban", "required for a credit transfer");
    }
}

static void check_required(render_ctx *c)
{
    const Minbill__V1__Invoice *inv = c->inv;
    if (str(inv->invoice_number)[0] == '\0')
        fail(c, "invoice_number", "required");
    if (!is_date(inv->issue_date))
        fail(c, "issue_date", "must be YYYY-MM-DD");
    if (str(inv->due_date)[0] != '\0' && !is_date(inv->due_date))
        fail(c, "due_date", "must be YYYY-MM-DD");
    if (c->minor_units < 0)
        fail(c, "currency", "not an ISO 4217 currency");
    if (inv->seller == NULL || inv->seller->address == NULL)
        fail(c, "seller", "required, with its address");
    if (inv->buyer == NULL || inv->buyer->address == NULL)
        fail(c, "buyer", "required, with its address");
    if (inv->n_lines == 0)
        fail(c, "lines", "at least one line is required");
    if (c->credit_note && str(inv->original_invoice_number)[0] == '\0')
        fail(c, "original_invoice_number", "required on a credit note");
    check_payment(c);
}

static void document(render_ctx *c)
{
    const Minbill__V1__Invoice *inv = c->inv;
    xml_buf *b = &c->b;
    const char *root = c->credit_note ? "CreditNote" : "Invoice";
    put(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    putf(b, "<%s xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:%s-2\"", root, root);
    put(b, " xmlns:cac=\"" NS_CAC "\" xmlns:cbc=\"" NS_CBC "\">");
    elem(b, "cbc:CustomizationID",
         str(inv->customization_id)[0] ? inv->customization_id : UBL_CUSTOMIZATION_EN16931);
    elem(b, "cbc:ProfileID", UBL_PROFILE_ID);
    elem(b, "cbc:ID", inv->invoice_number);
    elem(b, "cbc:IssueDate", inv->issue_date);
    if (!c->credit_note) {
        elem(b, "cbc:DueDate", inv->due_date);
        put(b, "<cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>");
    } else {
        put(b, "<cbc:CreditNoteTypeCode>381</cbc:CreditNoteTypeCode>");
    }
    note(c);
    elem(b, "cbc:DocumentCurrencyCode", inv->currency);
    elem(b, "cbc:BuyerReference", inv->buyer_reference);
    invoice_period(c);
    billing_reference(c);
    put(b, "<cac:AccountingSupplierParty>");
    party(c, inv->seller, true);
    put(b, "</cac:AccountingSupplierParty><cac:AccountingCustomerParty>");
    party(c, inv->buyer, false);
    put(b, "</cac:AccountingCustomerParty>");
    payment_means(c);
    tax_total(c);
    monetary_total(c);
    for (size_t i = 0; i < inv->n_lines; i++)
        line(c, i, inv->lines[i]);
    putf(b, "</%s>\n", root);
}

/* The finished document, into the caller's arena. */
static int copy_out(mb_arena_t *a, const xml_buf *b, char **out, size_t *len, mb_error *err)
{
    if (b->oom)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED,
                            "rendering invoice: out of memory");
    if ((*out = mb_arena_alloc(a, b->len + 1)) == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED,
                            "rendering invoice: over memory limit");
    memcpy(*out, b->p, b->len + 1);
    *len = b->len;
    return 0;
}

int ubl_render(mb_arena_t *a, const Minbill__V1__Invoice *inv, char **out, size_t *len,
               mb_error *err)
{
    *out = NULL;
    *len = 0;
    render_ctx c = {.inv = inv,
                    .credit_note = inv->type == MINBILL__V1__INVOICE_TYPE__INVOICE_TYPE_CREDIT_NOTE,
                    .minor_units = check_currency_minor_units(str(inv->currency)),
                    .err = err};
    for (size_t i = 0; i < inv->n_lines; i++) {
        if (strcmp(str(inv->lines[i]->vat_category), "O") == 0)
            c.not_subject = true;
    }
    check_required(&c);
    if (!c.failed)
        document(&c);
    int rc = c.failed ? -1 : copy_out(a, &c.b, out, len, err);
    free(c.b.p);
    return rc;
}
