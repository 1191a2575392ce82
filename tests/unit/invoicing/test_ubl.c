/*
 * test_ubl.c - the UBL and JSON renderings of every kind of invoice issue 8
 * names: domestic, reverse charge, EU non-taxable, non-EU, graduated tiers,
 * late usage, base fee only, zero usage, a closed account's final invoice,
 * card / SEPA / transfer payment and credit notes, built by hand with
 * consistent totals under the built-in dev seller.
 *
 * Each document is checked here for its key values (and, where xmllint is
 * installed, for well-formedness), and written to the directory given as
 * argv[1]; the CTest test validate_ubl then runs tests/validate/
 * validate-ubl.sh over that directory (UBL 2.1 schema, EN 16931 and
 * XRechnung rules). Hostile and random strings must keep the XML
 * well-formed.
 */
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "base/decimal.h"
#include "invoicing/invoice_json.h"
#include "invoicing/seller.h"
#include "invoicing/ubl.h"
#include "invoice_builder.h"
#include "unit_tmp.h"

static char outdir[512];
static bool have_xmllint;

/* Renders inv in both formats, writes them to outdir and returns the XML. */
static const char *render(const char *name, const Minbill__V1__Invoice *inv)
{
    char *xml = NULL, *json = NULL, path[1024];
    size_t xlen = 0, jlen = 0;
    mb_error err = {0};
    int rc = ubl_render(arena, inv, &xml, &xlen, &err);
    if (rc != 0)
        fprintf(stderr, "   %s: %s\n", name, err.msg);
    CHECK(rc == 0 && xml != NULL && strlen(xml) == xlen);
    CHECK(invoice_json_render(arena, inv, &json, &jlen, &err) == 0 && strlen(json) == jlen);
    if (xml == NULL || json == NULL)
        return "";
    snprintf(path, sizeof path, "%s/%s.xml", outdir, name);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL && fwrite(xml, 1, xlen, f) == xlen && fclose(f) == 0);
    if (have_xmllint) {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "xmllint --noout '%s'", path);
        int wf = system(cmd);
        if (wf != 0)
            fprintf(stderr, "   %s is not well-formed\n", path);
        CHECK(wf == 0);
    }
    snprintf(path, sizeof path, "%s/%s.json", outdir, name);
    f = fopen(path, "w");
    CHECK(f != NULL && fwrite(json, 1, jlen, f) == jlen && fclose(f) == 0);
    CHECK_CONTAINS(json, mb_arena_printf(arena, "\"invoiceNumber\":\"%s\"", inv->invoice_number));
    CHECK_CONTAINS(json, mb_arena_printf(arena, "\"grossTotalMinor\":\"%lld\"",
                                         (long long)inv->gross_total_minor));
    return xml;
}

static void lacks(const char *doc, const char *needle)
{
    if (strstr(doc, needle) == NULL) {
        check_passed++;
    } else {
        check_failed++;
        fprintf(stderr, "   document contains \"%s\"\n", needle);
    }
}

static void test_domestic(void)
{
    Minbill__V1__Invoice *inv = new_invoice("INV-2026-000001", "acc-nl-1", BUYER_NL, PAY_TRANSFER);
    add_line(inv, "Base fee", "", 1, "49", NULL);
    add_line(inv, "WhatsApp messages", "messages.whatsapp", 12345, "0.0025", NULL);
    finish(inv);
    Google__Protobuf__Timestamp created = GOOGLE__PROTOBUF__TIMESTAMP__INIT;
    created.seconds = 1793491200; /* 2026-11-01T00:00:00Z */
    created.nanos = 5000000;
    inv->created_at = &created;
    const char *x = render("domestic-nl-transfer", inv);
    char *json = NULL;
    size_t jlen;
    mb_error err;
    CHECK(invoice_json_render(arena, inv, &json, &jlen, &err) == 0);
    CHECK_CONTAINS(json, "\"createdAt\":\"2026-11-01T00:00:00.005000000Z\"");
    CHECK_CONTAINS(json, "\"type\":\"INVOICE_TYPE_INVOICE\",\"status\":\"INVOICE_STATUS_ISSUED\"");
    CHECK_CONTAINS(json,
                   "\"lines\":[{\"description\":\"Base fee\",\"metric\":\"\",\"quantity\":\"1\"");
    CHECK_CONTAINS(json, "\"reverseCharge\":false");
    CHECK(inv->net_total_minor == 4900 + 3086);
    CHECK_CONTAINS(x, "<cbc:CustomizationID>" UBL_CUSTOMIZATION_XRECHNUNG);
    CHECK_CONTAINS(x, "<cbc:InvoiceTypeCode>380</cbc:InvoiceTypeCode>");
    CHECK_CONTAINS(x, "<cbc:BuyerReference>acc-nl-1</cbc:BuyerReference>");
    CHECK_CONTAINS(x,
                   "<cbc:LineExtensionAmount currencyID=\"EUR\">30.86</cbc:LineExtensionAmount>");
    CHECK_CONTAINS(x, "<cbc:TaxAmount currencyID=\"EUR\">16.77</cbc:TaxAmount>");
    CHECK_CONTAINS(x, "<cbc:PayableAmount currencyID=\"EUR\">96.63</cbc:PayableAmount>");
    CHECK_CONTAINS(x, "<cbc:ID>S</cbc:ID><cbc:Percent>21</cbc:Percent>");
    CHECK_CONTAINS(x, "<cbc:PriceAmount currencyID=\"EUR\">0.0025</cbc:PriceAmount>");
    CHECK_CONTAINS(x, "<cbc:EndpointID schemeID=\"9944\">NL123456782B01</cbc:EndpointID>");
    CHECK_CONTAINS(x, "<cbc:EndpointID schemeID=\"9944\">NL004495445B01</cbc:EndpointID>");
    CHECK_CONTAINS(x, "<cbc:PaymentMeansCode>58</cbc:PaymentMeansCode>");
    CHECK_CONTAINS(x, "<cac:PayeeFinancialAccount><cbc:ID>NL91ABNA0417164300</cbc:ID>");
    CHECK_CONTAINS(x, "<cbc:Name>Billing</cbc:Name><cbc:Telephone>+31201234567</cbc:Telephone>");
    CHECK_CONTAINS(x, "<cac:InvoicePeriod><cbc:StartDate>2026-10-01</cbc:StartDate>"
                      "<cbc:EndDate>2026-10-31</cbc:EndDate></cac:InvoicePeriod>");
    lacks(x, "<cac:CardAccount>");
    lacks(x, "<cac:PaymentMandate>");
}

static void test_reverse_charge_sepa(void)
{
    Minbill__V1__Invoice *inv = new_invoice("INV-2026-000002", "acc-de-1", BUYER_DE, PAY_SEPA);
    add_line(inv, "Base fee", "", 1, "49", NULL);
    add_line(inv, "SMS sent", "messages.sms", 2000, "0.075", NULL);
    finish(inv);
    const char *x = render("reverse-charge-de-sepa", inv);
    CHECK(inv->tax_total_minor == 0 && inv->gross_total_minor == 4900 + 15000);
    CHECK_CONTAINS(x, "<cbc:CustomizationID>" UBL_CUSTOMIZATION_XRECHNUNG);
    CHECK_CONTAINS(x, "<cbc:ID>AE</cbc:ID><cbc:Percent>0</cbc:Percent>"
                      "<cbc:TaxExemptionReasonCode>VATEX-EU-AE</cbc:TaxExemptionReasonCode>"
                      "<cbc:TaxExemptionReason>Reverse charge</cbc:TaxExemptionReason>");
    CHECK_CONTAINS(x, "<cac:PartyTaxScheme><cbc:CompanyID>DE136695976</cbc:CompanyID>");
    CHECK_CONTAINS(x, "<cbc:EndpointID schemeID=\"9930\">DE136695976</cbc:EndpointID>");
    CHECK_CONTAINS(x, "Steuerschuldnerschaft des Leistungsempfängers");
    CHECK_CONTAINS(x, "<cbc:PaymentMeansCode>59</cbc:PaymentMeansCode>");
    CHECK_CONTAINS(x, "<cac:PaymentMandate><cbc:ID>MANDATE-2026-0042</cbc:ID>"
                      "<cac:PayerFinancialAccount><cbc:ID>DE** **** 3000</cbc:ID>");
    CHECK_CONTAINS(x, "<cbc:ID schemeID=\"SEPA\">NL69ZZZ123456780000</cbc:ID>");
    lacks(x, "PayeeFinancialAccount");
    lacks(x, "NL91ABNA0417164300");

    Minbill__V1__Invoice *cn = credit_note_of(inv, "CN-2026-000001");
    x = render("credit-note-de-sepa", cn);
    CHECK_CONTAINS(x, "<CreditNote xmlns=\"urn:oasis:names:specification:ubl:schema:xsd:"
                      "CreditNote-2\"");
    CHECK_CONTAINS(x, "<cbc:CreditNoteTypeCode>381</cbc:CreditNoteTypeCode>");
    CHECK_CONTAINS(x, "<cac:BillingReference><cac:InvoiceDocumentReference>"
                      "<cbc:ID>INV-2026-000002</cbc:ID><cbc:IssueDate>2026-11-01</cbc:IssueDate>");
    CHECK_CONTAINS(x, "<cbc:CreditedQuantity unitCode=\"C62\">2000</cbc:CreditedQuantity>");
    CHECK_CONTAINS(x, "<cbc:PaymentDueDate>2026-12-04</cbc:PaymentDueDate>");
    CHECK_CONTAINS(x, "Billing error: wrong plan applied</cbc:Note>");
    lacks(x, "<cbc:DueDate>");
    lacks(x, "InvoiceLine");
}

static void test_eu_non_taxable_card(void)
{
    Minbill__V1__Invoice *inv = new_invoice("INV-2026-000003", "acc-fr-1", BUYER_FR, PAY_CARD);
    add_line(inv, "Base fee", "", 1, "29.9", NULL);
    add_line(inv, "Web chat sessions", "chats.web", 333, "0.01", NULL);
    finish(inv);
    const char *x = render("eu-nontaxable-fr-card", inv);
    CHECK_CONTAINS(x, "<cbc:CustomizationID>" UBL_CUSTOMIZATION_EN16931 "</cbc:CustomizationID>");
    CHECK_CONTAINS(x, "<cbc:ID>S</cbc:ID><cbc:Percent>20</cbc:Percent>");
    CHECK_CONTAINS(x, "<cbc:TaxAmount currencyID=\"EUR\">6.65</cbc:TaxAmount>");
    CHECK_CONTAINS(x,
                   "<cac:CardAccount><cbc:PrimaryAccountNumberID>4242</cbc:PrimaryAccountNumberID>"
                   "<cbc:NetworkID>VISA</cbc:NetworkID></cac:CardAccount>");
    CHECK_CONTAINS(x, "<cbc:RegistrationName>Garage Élodie Durand</cbc:RegistrationName>");
    lacks(x, "PayeeFinancialAccount");
    /* No VAT ID, no electronic address for the buyer. */
    lacks(x, "<cac:AccountingCustomerParty><cac:Party><cbc:EndpointID");
}

static void test_non_eu(void)
{
    Minbill__V1__Invoice *inv = new_invoice("INV-2026-000004", "acc-us-1", BUYER_US, PAY_TRANSFER);
    add_line(inv, "Base fee", "", 1, "49", NULL);
    add_line(inv, "WhatsApp messages", "messages.whatsapp", 1000, "0.0025", NULL);
    finish(inv);
    const char *x = render("non-eu-us-transfer", inv);
    CHECK(inv->tax_total_minor == 0);
    CHECK_CONTAINS(x, "<cbc:ID>O</cbc:ID><cbc:Percent>0</cbc:Percent>"
                      "<cbc:TaxExemptionReasonCode>VATEX-EU-O");
    /* BR-O-05: no rate on the line. */
    CHECK_CONTAINS(x, "<cac:ClassifiedTaxCategory><cbc:ID>O</cbc:ID><cac:TaxScheme>");
    /* BR-O-02: no VAT identifier; the seller is identified by BT-29. */
    lacks(x, "<cac:PartyTaxScheme>");
    CHECK_CONTAINS(x, "<cac:PartyIdentification><cbc:ID>NL123456782B01</cbc:ID>");
}

static void test_tiers_and_late_usage(void)
{
    Minbill__V1__Invoice *inv = new_invoice("INV-2026-000005", "acc-de-2", BUYER_DE, PAY_TRANSFER);
    add_line(inv, "Base fee", "", 1, "99", NULL);
    add_line(inv, "WhatsApp messages, 1 - 10,000", "messages.whatsapp", 10000, "0.005", NULL);
    add_line(inv, "WhatsApp messages, 10,001 - 100,000", "messages.whatsapp", 90000, "0.0035",
             NULL);
    add_line(inv, "WhatsApp messages, above 100,000", "messages.whatsapp", 123457, "0.0021", NULL);
    add_line(inv, "SMS sent (late usage 2026-08)", "messages.sms", 17, "0.075", "2026-08");
    add_line(inv, "SMS sent (late usage 2026-09)", "messages.sms", 3, "0.075", "2026-09");
    finish(inv);
    const char *x = render("graduated-tiers-late-usage-de", inv);
    CHECK(inv->n_lines == 6);
    CHECK_CONTAINS(x,
                   "<cbc:LineExtensionAmount currencyID=\"EUR\">259.26</cbc:LineExtensionAmount>");
    CHECK_CONTAINS(x, "<cac:InvoicePeriod><cbc:StartDate>2026-08-01</cbc:StartDate>"
                      "<cbc:EndDate>2026-10-31</cbc:EndDate></cac:InvoicePeriod>");
    CHECK_CONTAINS(x, "<cbc:LineExtensionAmount currencyID=\"EUR\">1.28</cbc:LineExtensionAmount>"
                      "<cac:InvoicePeriod><cbc:StartDate>2026-08-01</cbc:StartDate>"
                      "<cbc:EndDate>2026-08-31</cbc:EndDate></cac:InvoicePeriod>");
    CHECK_CONTAINS(x, "<cbc:StartDate>2026-09-01</cbc:StartDate><cbc:EndDate>2026-09-30");
    CHECK_CONTAINS(x, "<cbc:ID>6</cbc:ID>");
}

static void test_small_invoices(void)
{
    Minbill__V1__Invoice *inv = new_invoice("INV-2026-000006", "acc-nl-2", BUYER_NL, PAY_CARD);
    add_line(inv, "Base fee", "", 1, "49", NULL);
    finish(inv);
    const char *x = render("base-fee-only-nl-card", inv);
    CHECK_CONTAINS(x, "<cbc:PayableAmount currencyID=\"EUR\">59.29</cbc:PayableAmount>");

    inv = new_invoice("INV-2026-000007", "acc-nl-3", BUYER_NL, PAY_TRANSFER);
    add_line(inv, "WhatsApp messages", "messages.whatsapp", 0, "0.0025", NULL);
    finish(inv);
    x = render("zero-usage-nl", inv);
    CHECK_CONTAINS(x, "<cbc:InvoicedQuantity unitCode=\"C62\">0</cbc:InvoicedQuantity>");
    CHECK_CONTAINS(x, "<cbc:PayableAmount currencyID=\"EUR\">0.00</cbc:PayableAmount>");

    /* A closed account's final invoice: the period it was open in, SEPA. */
    inv = new_invoice("INV-2026-000008", "acc-closed-1", BUYER_NL, PAY_SEPA);
    inv->note = "Final invoice: account closed on 2026-10-17";
    add_line(inv, "Base fee", "", 1, "49", NULL);
    add_line(inv, "SMS sent", "messages.sms", 41, "0.075", NULL);
    finish(inv);
    x = render("closed-account-final-nl-sepa", inv);
    CHECK_CONTAINS(x, "<cbc:Note>Final invoice: account closed on 2026-10-17</cbc:Note>");
    CHECK_CONTAINS(x, "<cbc:PaymentMeansCode>59</cbc:PaymentMeansCode>");

    Minbill__V1__Invoice *cn = credit_note_of(inv, "CN-2026-000002");
    cn->payment->means_code = "58";
    cn->payment->payee_iban = seller->bank_iban;
    x = render("credit-note-nl-transfer", cn);
    CHECK_CONTAINS(x, "<cbc:ID>INV-2026-000008</cbc:ID>");
    lacks(x, "PaymentMandate");
}

/* Strings no XML may carry raw: markup, entities, CDATA ends, quotes,
 * C0 controls, U+FFFE/U+FFFF, a byte that is not UTF-8, bidi overrides. */
static void test_hostile_strings(void)
{
    static const char hostile[] = "<b>&amp; ]]> \"q\" 'a' \x01\x08\x0b\x1f\x7f|"
                                  "\xef\xbf\xbe\xef\xbf\xbf|\xff|\xe2\x80\xae"
                                  "evil\xe2\x80\xac|\r\n</Invoice><x>";
    Minbill__V1__Invoice *inv = new_invoice("INV-2026-000009", "acc-nl-4", BUYER_NL, PAY_TRANSFER);
    inv->buyer->name = (char *)hostile;
    inv->buyer->address->line1 = (char *)hostile;
    inv->note = (char *)hostile;
    add_line(inv, hostile, "", 1, "49", NULL);
    finish(inv);
    const char *x = render("hostile-strings-nl", inv);
    lacks(x, "<b>");
    lacks(x, "]]>");
    lacks(x, "</Invoice><x>");
    lacks(x, "\x01");
    lacks(x, "\x1f");
    lacks(x, "\xef\xbf\xbe");
    lacks(x, "\xef\xbf\xbf");
    lacks(x, "\xff");
    lacks(x, "\r");
    CHECK_CONTAINS(x, "&lt;b&gt;&amp;amp; ]]&gt; &quot;q&quot; &apos;a&apos; \x7f|"
                      "|\xef\xbf\xbd|\xe2\x80\xae"
                      "evil\xe2\x80\xac|&#13;\n&lt;/Invoice&gt;&lt;x&gt;");
    /* Every byte of a document that parses as UTF-8 by our own decoder
     * (xmllint, where present, judged well-formedness in render()). */
    char *json = NULL;
    size_t len;
    mb_error err;
    CHECK(invoice_json_render(arena, inv, &json, &len, &err) == 0);
    CHECK_CONTAINS(json, "\"name\":\"<b>&amp; ]]> \\\"q\\\" 'a' \\u0001\\b\\u000b\\u001f\x7f|");
    CHECK_CONTAINS(json, "|\\ufffd|");
}

/* Random bytes (1..255) in every free-text field of 64 invoices, written
 * to <outdir>/random and checked for well-formedness by one xmllint run;
 * the loop below checks what needs no parser (no C0 control, no 0xFF). */
static unsigned next_random(unsigned *state)
{
    *state = *state * 1103515245u + 12345u;
    return (*state >> 16) & 0x7fff;
}

static char *random_text(unsigned *state)
{
    size_t n = 1 + next_random(state) % 40;
    char *s = alloc(n + 1);
    for (size_t i = 0; i < n; i++)
        s[i] = (char)(1 + next_random(state) % 255);
    s[n] = '\0';
    return s;
}

static void test_random_strings(void)
{
    char dir[600], cmd[800];
    snprintf(dir, sizeof dir, "%s/random", outdir);
    mkdir(dir, 0755);
    unsigned state = 20261204;
    for (int k = 0; k < 64; k++) {
        Minbill__V1__Invoice *inv = new_invoice("INV-2026-100000", "acc-rnd", BUYER_NL, PAY_CARD);
        add_line(inv, random_text(&state), "", 1, "49", NULL);
        finish(inv);
        inv->note = random_text(&state);
        inv->buyer->name = random_text(&state);
        inv->buyer->address->line1 = random_text(&state);
        inv->buyer->address->city = random_text(&state);
        inv->buyer_reference = random_text(&state);
        inv->payment->terms = random_text(&state);
        char *xml = NULL, *json = NULL, path[700];
        size_t len = 0, jlen = 0;
        mb_error err;
        CHECK(ubl_render(arena, inv, &xml, &len, &err) == 0);
        CHECK(invoice_json_render(arena, inv, &json, &jlen, &err) == 0);
        if (xml == NULL)
            continue;
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)xml[i];
            if ((c < 0x20 && c != '\n' && c != '\t') || c == 0xff) {
                check_failed++;
                fprintf(stderr, "   random document %d: byte 0x%02x at %zu\n", k, c, i);
                break;
            }
        }
        snprintf(path, sizeof path, "%s/random-%02d.xml", dir, k);
        FILE *f = fopen(path, "w");
        CHECK(f != NULL && fwrite(xml, 1, len, f) == len && fclose(f) == 0);
    }
    if (have_xmllint) {
        snprintf(cmd, sizeof cmd, "xmllint --noout '%s'/random-*.xml", dir);
        CHECK(system(cmd) == 0);
    }
}

static void test_amounts_and_refusals(void)
{
    Minbill__V1__Invoice *inv = new_invoice("INV-2026-000010", "acc-nl-5", BUYER_NL, PAY_TRANSFER);
    add_line(inv, "Base fee", "", 1, "49", NULL);
    finish(inv);
    char *x = NULL;
    size_t len;
    mb_error err;
    inv->currency = "JPY";
    CHECK(ubl_render(arena, inv, &x, &len, &err) == 0);
    CHECK_CONTAINS(x, "<cbc:PayableAmount currencyID=\"JPY\">5929</cbc:PayableAmount>");
    inv->currency = "KWD";
    CHECK(ubl_render(arena, inv, &x, &len, &err) == 0);
    CHECK_CONTAINS(x, "<cbc:PayableAmount currencyID=\"KWD\">5.929</cbc:PayableAmount>");
    inv->currency = "EUR";
    inv->gross_total_minor = INT64_MAX;
    inv->tax_total_minor = -7;
    CHECK(ubl_render(arena, inv, &x, &len, &err) == 0);
    CHECK_CONTAINS(x, ">92233720368547758.07</cbc:PayableAmount>");
    CHECK_CONTAINS(x, "<cbc:TaxAmount currencyID=\"EUR\">-0.07</cbc:TaxAmount>");

    static const struct {
        const char *field;
        const char *want;
    } refusals[] = {
        {"invoice_number", "invoice.invoice_number: required"},
        {"issue_date", "invoice.issue_date: must be YYYY-MM-DD"},
        {"currency", "invoice.currency: not an ISO 4217 currency"},
        {"unit_price", "invoice.lines[0].unit_price: not a decimal number"},
        {"vat_rate", "invoice.lines[0].vat_rate: not a decimal number"},
        {"period", "invoice.lines.period: must be YYYY-MM"},
        {"lines", "invoice.lines: at least one line is required"},
        {"buyer", "invoice.buyer: required"},
        {"card_last4", "invoice.payment.card_last4: must be the last 4 digits of the card"},
        {"mandate_reference", "invoice.payment.mandate_reference: required for a direct debit"},
        {"creditor_id", "invoice.payment.creditor_id: required for a direct debit"},
        {"debited_account", "invoice.payment.debited_account: must be masked"},
        {"payee_iban", "invoice.payment.payee_iban: required for a credit transfer"},
    };
    for (size_t i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
        Minbill__V1__Invoice bad = *inv;
        Minbill__V1__InvoiceLine line = *inv->lines[0], *lp = &line;
        Minbill__V1__PaymentInstructions card = *payment(PAY_CARD, "INV-2026-000010");
        Minbill__V1__PaymentInstructions sepa = *payment(PAY_SEPA, "INV-2026-000010");
        Minbill__V1__PaymentInstructions transfer = *inv->payment;
        bad.lines = &lp;
        const char *f = refusals[i].field;
        if (strcmp(f, "invoice_number") == 0)
            bad.invoice_number = "";
        else if (strcmp(f, "issue_date") == 0)
            bad.issue_date = "2026-11";
        else if (strcmp(f, "currency") == 0)
            bad.currency = "EURO";
        else if (strcmp(f, "unit_price") == 0)
            line.unit_price = "1e3";
        else if (strcmp(f, "vat_rate") == 0)
            line.vat_rate = "21%";
        else if (strcmp(f, "period") == 0)
            line.period = "October";
        else if (strcmp(f, "lines") == 0)
            bad.n_lines = 0;
        else if (strcmp(f, "buyer") == 0)
            bad.buyer = NULL;
        else if (strcmp(f, "card_last4") == 0)
            (bad.payment = &card)->card_last4 = "4242424242424242";
        else if (strcmp(f, "mandate_reference") == 0)
            (bad.payment = &sepa)->mandate_reference = "";
        else if (strcmp(f, "creditor_id") == 0)
            (bad.payment = &sepa)->creditor_id = "";
        else if (strcmp(f, "debited_account") == 0)
            (bad.payment = &sepa)->debited_account = "DE89370400440532013000";
        else
            (bad.payment = &transfer)->payee_iban = "";
        x = NULL;
        CHECK(ubl_render(arena, &bad, &x, &len, &err) == -1 && x == NULL);
        CHECK_STATUS(err, GRPC_STATUS_INVALID_ARGUMENT);
        CHECK_CONTAINS(err.msg, refusals[i].want);
    }
    /* An arena too small for the document. */
    mb_arena_t *tiny = mb_arena_new(256);
    CHECK(ubl_render(tiny, inv, &x, &len, &err) == -1);
    CHECK_STATUS(err, GRPC_STATUS_RESOURCE_EXHAUSTED);
    mb_arena_free(tiny);
}

static void test_eas(void)
{
    CHECK(strcmp(ubl_eas_for_vat_country("DE"), "9930") == 0);
    CHECK(strcmp(ubl_eas_for_vat_country("NL"), "9944") == 0);
    CHECK(strcmp(ubl_eas_for_vat_country("FR"), "9957") == 0);
    CHECK(ubl_eas_for_vat_country("US") == NULL);
    CHECK(ubl_eas_for_vat_country("SE") == NULL);
    /* Every scheme handed out is one the rules accept. */
    static const char *const eu[] = {"AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES",
                                     "FI", "FR", "GR", "HR", "HU", "IE", "IT", "LT", "LU",
                                     "LV", "MT", "NL", "PL", "PT", "RO", "SI", "SK"};
    for (size_t i = 0; i < sizeof eu / sizeof eu[0]; i++) {
        const char *eas = ubl_eas_for_vat_country(eu[i]);
        CHECK(eas != NULL && ubl_eas_is_known(eas));
    }
    CHECK(ubl_eas_is_known("EM") && !ubl_eas_is_known("9955") && !ubl_eas_is_known(""));
}

/* outdir: argv[1] (created if needed, earlier documents removed) or a
 * private temporary directory. */
static void prepare_outdir(int argc, char **argv)
{
    if (argc < 2) {
        unit_path(outdir, sizeof outdir, "ubl");
    } else {
        snprintf(outdir, sizeof outdir, "%s", argv[1]);
    }
    mkdir(outdir, 0755);
    DIR *d = opendir(outdir);
    if (d == NULL) {
        perror(outdir);
        exit(1);
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        if ((n > 4 && strcmp(e->d_name + n - 4, ".xml") == 0) ||
            (n > 5 && strcmp(e->d_name + n - 5, ".json") == 0)) {
            char path[1024];
            snprintf(path, sizeof path, "%s/%s", outdir, e->d_name);
            remove(path);
        }
    }
    closedir(d);
}

int main(int argc, char **argv)
{
    mb_error err;
    prepare_outdir(argc, argv);
    have_xmllint = system("command -v xmllint >/dev/null 2>&1") == 0;
    if (!have_xmllint)
        fprintf(stderr, "xmllint not installed: well-formedness left to validate_ubl\n");
    arena = mb_arena_new(0);
    if (seller_config_load(MINBILL_DEV_SELLER_CONFIG, &seller, &err) != 0) {
        fprintf(stderr, "dev seller: %s\n", err.msg);
        return 1;
    }
    RUN(test_domestic);
    RUN(test_reverse_charge_sepa);
    RUN(test_eu_non_taxable_card);
    RUN(test_non_eu);
    RUN(test_tiers_and_late_usage);
    RUN(test_small_invoices);
    RUN(test_hostile_strings);
    RUN(test_random_strings);
    RUN(test_amounts_and_refusals);
    RUN(test_eas);
    seller_config_free(seller);
    mb_arena_free(arena);
    return check_summary();
}
