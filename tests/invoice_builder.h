/*
 * invoice_builder.h - invoices built by hand for the renderer tests and
 * benchmarks: the dev seller, four buyers (NL domestic, DE reverse charge,
 * FR non-taxable, US outside the EU), three payment means, lines with EUR
 * amounts rounded half up and VAT once over the sum (BR-CO-17).
 *
 * The including program sets `arena` (everything is allocated there) and
 * `seller` (the example seller, dev/seller.conf) before building.
 */
#ifndef MB_TEST_INVOICE_BUILDER_H
#define MB_TEST_INVOICE_BUILDER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/arena.h"
#include "base/decimal.h"
#include "invoicing/seller.h"
#include "invoicing/ubl.h"

static mb_arena_t *arena;
static seller_config *seller;

enum buyer_kind { BUYER_NL, BUYER_DE, BUYER_FR, BUYER_US };
enum pay_kind { PAY_TRANSFER, PAY_CARD, PAY_SEPA };

#define MAX_LINES 16

static inline char *dup_str(const char *s)
{
    return mb_arena_printf(arena, "%s", s);
}

static inline void *alloc(size_t n)
{
    void *p = mb_arena_alloc(arena, n);
    if (p == NULL)
        abort();
    return p;
}

static inline Minbill__V1__PostalAddress *address(const char *line1, const char *postal,
                                                  const char *city, const char *cc)
{
    Minbill__V1__PostalAddress *a = alloc(sizeof *a);
    minbill__v1__postal_address__init(a);
    a->line1 = dup_str(line1);
    a->postal_code = dup_str(postal);
    a->city = dup_str(city);
    a->country_code = dup_str(cc);
    return a;
}

static inline Minbill__V1__Party *seller_party(void)
{
    Minbill__V1__Party *p = alloc(sizeof *p);
    minbill__v1__party__init(p);
    p->name = seller->legal_name;
    p->address = address(seller->line1, seller->postal_code, seller->city, seller->country_code);
    p->address->line2 = seller->line2;
    p->vat_id = seller->vat_id;
    p->tax_number = seller->tax_number;
    p->electronic_address_scheme = seller->electronic_address_scheme;
    p->electronic_address = seller->electronic_address;
    p->contact_name = seller->contact_name;
    p->contact_phone = seller->contact_phone;
    p->contact_email = seller->contact_email;
    return p;
}

static inline Minbill__V1__Party *buyer_party(enum buyer_kind kind)
{
    Minbill__V1__Party *p = alloc(sizeof *p);
    minbill__v1__party__init(p);
    switch (kind) {
    case BUYER_NL:
        p->name = "Autobedrijf Jansen B.V.";
        p->address = address("Stationsweg 12", "3511 ED", "Utrecht", "NL");
        p->vat_id = "NL004495445B01";
        break;
    case BUYER_DE:
        p->name = "Autohaus Müller GmbH";
        p->address = address("Königsallee 5", "40212", "Düsseldorf", "DE");
        p->vat_id = "DE136695976";
        break;
    case BUYER_FR:
        p->name = "Garage Élodie Durand";
        p->address = address("12 rue de la Paix", "75002", "Paris", "FR");
        break;
    case BUYER_US:
        p->name = "Springfield Motors Inc.";
        p->address = address("742 Evergreen Terrace", "49007", "Springfield", "US");
        break;
    }
    const char *eas = p->vat_id[0] ? ubl_eas_for_vat_country(p->address->country_code) : NULL;
    if (eas != NULL) {
        p->electronic_address_scheme = dup_str(eas);
        p->electronic_address = p->vat_id;
    }
    return p;
}

static inline Minbill__V1__PaymentInstructions *payment(enum pay_kind kind, const char *number)
{
    Minbill__V1__PaymentInstructions *p = alloc(sizeof *p);
    minbill__v1__payment_instructions__init(p);
    p->terms = mb_arena_printf(arena, "Payable within %d days", seller->payment_terms_days);
    p->payment_id = dup_str(number);
    switch (kind) {
    case PAY_TRANSFER:
        p->means_code = "58";
        p->payee_iban = seller->bank_iban;
        p->payee_bic = seller->bank_bic;
        break;
    case PAY_CARD:
        p->means_code = "48";
        p->card_last4 = "4242";
        p->card_network = "VISA";
        break;
    case PAY_SEPA:
        p->means_code = "59";
        p->mandate_reference = "MANDATE-2026-0042";
        p->creditor_id = seller->sepa_creditor_id;
        p->debited_account = "DE** **** 3000";
        break;
    }
    return p;
}

/* A new invoice for period 2026-10, its VAT treatment from the buyer. */
static inline Minbill__V1__Invoice *new_invoice(const char *number, const char *account,
                                                enum buyer_kind buyer, enum pay_kind pay)
{
    Minbill__V1__Invoice *inv = alloc(sizeof *inv);
    minbill__v1__invoice__init(inv);
    inv->invoice_number = dup_str(number);
    inv->type = MINBILL__V1__INVOICE_TYPE__INVOICE_TYPE_INVOICE;
    inv->status = MINBILL__V1__INVOICE_STATUS__INVOICE_STATUS_ISSUED;
    inv->account_id = dup_str(account);
    inv->buyer_reference = inv->account_id;
    inv->period = "2026-10";
    inv->period_start = "2026-10-01";
    inv->period_end = "2026-10-31";
    inv->issue_date = "2026-11-01";
    inv->due_date = "2026-11-15";
    inv->currency = "EUR";
    inv->seller = seller_party();
    inv->buyer = buyer_party(buyer);
    inv->payment = payment(pay, number);
    inv->customization_id = (char *)ubl_customization_id(inv->buyer->vat_id[0] != '\0');
    inv->lines = alloc(MAX_LINES * sizeof *inv->lines);
    inv->tax_subtotals = alloc(sizeof *inv->tax_subtotals);
    inv->n_tax_subtotals = 1;
    Minbill__V1__TaxSubtotal *t = alloc(sizeof *t);
    minbill__v1__tax_subtotal__init(t);
    inv->tax_subtotals[0] = t;
    switch (buyer) {
    case BUYER_NL:
        t->category = "S";
        t->rate = "21";
        break;
    case BUYER_DE:
        t->category = "AE";
        t->rate = "0";
        t->exemption_reason = "Reverse charge";
        t->exemption_reason_code = "VATEX-EU-AE";
        inv->reverse_charge = true;
        inv->note = "Reverse charge: VAT to be accounted for by the recipient "
                    "(Steuerschuldnerschaft des Leistungsempfängers), Art. 196 VAT Directive";
        break;
    case BUYER_FR:
        t->category = "S";
        t->rate = "20";
        break;
    case BUYER_US:
        t->category = "O";
        t->rate = "0";
        t->exemption_reason = "Not subject to EU VAT: services to a customer outside the EU";
        t->exemption_reason_code = "VATEX-EU-O";
        break;
    }
    return inv;
}

static inline int64_t micros(const char *decimal)
{
    int64_t m = 0;
    mb_error err;
    if (decimal_parse_micros("test", decimal, &m, &err) != 0)
        abort();
    return m;
}

static inline void add_line(Minbill__V1__Invoice *inv, const char *description, const char *metric,
                            int64_t quantity, const char *unit_price, const char *period)
{
    Minbill__V1__InvoiceLine *l = alloc(sizeof *l);
    minbill__v1__invoice_line__init(l);
    l->description = dup_str(description);
    l->metric = dup_str(metric);
    l->quantity = quantity;
    l->unit_price = dup_str(unit_price);
    /* EUR cents, half up: quantity x price micros / 10^4. */
    l->line_extension_minor = (int64_t)(((__int128)quantity * micros(unit_price) + 5000) / 10000);
    l->vat_category = inv->tax_subtotals[0]->category;
    l->vat_rate = inv->tax_subtotals[0]->rate;
    l->unit_code = "C62";
    l->period = dup_str(period != NULL ? period : inv->period);
    inv->lines[inv->n_lines++] = l;
}

/* Totals: VAT once over the sum of line nets (BR-CO-17), half up. */
static inline void finish(Minbill__V1__Invoice *inv)
{
    Minbill__V1__TaxSubtotal *t = inv->tax_subtotals[0];
    int64_t net = 0;
    for (size_t i = 0; i < inv->n_lines; i++)
        net += inv->lines[i]->line_extension_minor;
    t->taxable_minor = net;
    t->tax_minor = (int64_t)(((__int128)net * micros(t->rate) + 50000000) / 100000000);
    inv->net_total_minor = net;
    inv->tax_total_minor = t->tax_minor;
    inv->gross_total_minor = net + t->tax_minor;
}

static inline Minbill__V1__Invoice *credit_note_of(const Minbill__V1__Invoice *orig,
                                                   const char *number)
{
    Minbill__V1__Invoice *cn = alloc(sizeof *cn);
    *cn = *orig;
    cn->invoice_number = dup_str(number);
    cn->type = MINBILL__V1__INVOICE_TYPE__INVOICE_TYPE_CREDIT_NOTE;
    cn->original_invoice_number = orig->invoice_number;
    cn->original_issue_date = orig->issue_date;
    cn->credit_note_reason = "Billing error: wrong plan applied";
    cn->issue_date = "2026-11-20";
    cn->due_date = "2026-12-04";
    cn->payment = alloc(sizeof *cn->payment);
    *cn->payment = *orig->payment;
    cn->payment->payment_id = cn->invoice_number;
    return cn;
}

#endif
