/*
 * invoice_build.c - see invoice_build.h.
 */
#include "invoicing/invoice_build.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/check.h"
#include "base/period.h"
#include "invoicing/ubl.h"
#include "invoicing/vat.h"

/* The number written by the n digits at s ("YYYY-MM-DD" dates are made
 * here or checked where they enter). */
static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++)
        v = v * 10 + (s[i] - '0');
    return v;
}

void invoice_date_add(const char *date, int days, char out[11])
{
    struct tm tm = {.tm_year = digits(date, 4) - 1900,
                    .tm_mon = digits(date + 5, 2) - 1,
                    .tm_mday = digits(date + 8, 2) + days};
    /* timegm normalises the day past the month's end; gmtime_r reads it back. */
    time_t t = timegm(&tm);
    gmtime_r(&t, &tm);
    strftime(out, 11, "%Y-%m-%d", &tm);
}

void invoice_retention(const seller_config *seller, const char *issue_date, char cls[32],
                       char retain_until[11])
{
    int last = digits(issue_date, 4) + seller->retention_years;
    snprintf(cls, 32, "invoice:%s:%d", seller->country_code, last);
    snprintf(retain_until, 11, "%04d-12-31", last);
}

static Minbill__V1__Party *seller_party(mb_arena_t *a, const seller_config *s)
{
    Minbill__V1__Party *p = mb_arena_alloc(a, sizeof *p);
    Minbill__V1__PostalAddress *addr = mb_arena_alloc(a, sizeof *addr);
    if (p == NULL || addr == NULL)
        return NULL;
    minbill__v1__party__init(p);
    minbill__v1__postal_address__init(addr);
    addr->line1 = s->line1;
    addr->line2 = s->line2;
    addr->postal_code = s->postal_code;
    addr->city = s->city;
    addr->country_code = (char *)s->country_code;
    p->name = s->legal_name;
    p->address = addr;
    p->vat_id = s->vat_id;
    p->tax_number = s->tax_number;
    p->electronic_address = s->electronic_address;
    p->electronic_address_scheme = s->electronic_address_scheme;
    p->contact_name = s->contact_name;
    p->contact_phone = s->contact_phone;
    p->contact_email = s->contact_email;
    return p;
}

static Minbill__V1__Party *buyer_party(mb_arena_t *a, const billing_input *in)
{
    Minbill__V1__Party *p = mb_arena_alloc(a, sizeof *p);
    if (p == NULL)
        return NULL;
    minbill__v1__party__init(p);
    p->name = (char *)in->legal_name;
    p->address = (Minbill__V1__PostalAddress *)in->address;
    p->vat_id = (char *)in->vat_id;
    const char *eas =
        in->vat_id[0] != '\0' ? ubl_eas_for_vat_country(in->address->country_code) : NULL;
    if (eas != NULL) {
        p->electronic_address = (char *)in->vat_id;
        p->electronic_address_scheme = (char *)eas;
    }
    return p;
}

/* BG-16..19 from the default payment method: a card's last 4 digits, a
 * SEPA mandate with the debited account masked, or else a transfer to the
 * seller's account. */
static Minbill__V1__PaymentInstructions *payment(mb_arena_t *a, const seller_config *s,
                                                 const billing_input *in)
{
    Minbill__V1__PaymentInstructions *pi = mb_arena_alloc(a, sizeof *pi);
    if (pi == NULL)
        return NULL;
    minbill__v1__payment_instructions__init(pi);
    if (strcmp(in->pm_type, "card") == 0) {
        pi->means_code = "48";
        pi->card_last4 = (char *)in->pm_last4;
        pi->terms = "Charged to the card on file";
    } else if (strcmp(in->pm_type, "sepa_debit") == 0 && s->sepa_creditor_id[0] != '\0') {
        pi->means_code = "59";
        pi->mandate_reference = (char *)in->pm_mandate_reference;
        pi->creditor_id = s->sepa_creditor_id;
        pi->debited_account = mb_arena_printf(a, "%s**%s", in->pm_country, in->pm_last4);
        pi->terms = "Collected by SEPA direct debit";
    } else {
        pi->means_code = "58";
        pi->payee_iban = s->bank_iban;
        pi->payee_bic = s->bank_bic;
        pi->terms = mb_arena_printf(a, "Payable within %d days of the invoice date",
                                    s->payment_terms_days);
    }
    return pi;
}

static bool priced(const plan *p, const char *metric)
{
    for (size_t i = 0; i < p->n_prices; i++)
        if (strcmp(p->prices[i].metric, metric) == 0)
            return true;
    return false;
}

static int collect_billed(mb_arena_t *a, const plan *p, const billing_input *in,
                          invoice_billed **billed, size_t *n_billed, mb_error *err)
{
    invoice_billed *b = mb_arena_alloc(a, (in->n_counters + 1) * sizeof *b);
    if (b == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    size_t n = 0;
    for (size_t i = 0; i < in->n_counters; i++) {
        const rating_counter *c = &in->counters[i];
        if (!priced(p, c->metric) || c->quantity == c->invoiced_quantity)
            continue;
        b[n++] = (invoice_billed){.period = c->period,
                                  .metric = c->metric,
                                  .read_invoiced = c->invoiced_quantity,
                                  .new_invoiced = c->quantity};
    }
    *billed = b;
    *n_billed = n;
    return 0;
}

int invoice_build(mb_arena_t *a, const seller_config *seller, const plan *p,
                  const billing_input *in, const char *period, const char *issue_date,
                  Minbill__V1__Invoice **out, invoice_billed **billed, size_t *n_billed,
                  mb_error *err)
{
    if (strcmp(p->currency, in->currency) != 0)
        return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                            "plan_id: the plan is priced in %s, the account is billed in %s",
                            p->currency, in->currency);
    if (in->address == NULL || in->address->country_code == NULL ||
        in->address->country_code[0] == '\0' || in->legal_name[0] == '\0')
        return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                            "billing_address: an invoice needs the buyer's legal name and address");
    int minor = check_currency_minor_units(in->currency);
    if (minor < 0)
        return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                            "currency: has no minor unit to invoice in");
    Minbill__V1__Invoice *inv = mb_arena_alloc(a, sizeof *inv);
    char *number = mb_arena_alloc(a, INVOICE_NUMBER_SIZE);
    char *first = mb_arena_alloc(a, 11), *last = mb_arena_alloc(a, 11), *due = mb_arena_alloc(a, 11);
    if (inv == NULL || number == NULL || first == NULL || last == NULL || due == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    minbill__v1__invoice__init(inv);
    memset(number, 0, INVOICE_NUMBER_SIZE);
    period_first_day(period, first);
    period_last_day(period, last);
    invoice_date_add(issue_date, seller->payment_terms_days, due);

    vat_treatment vat;
    rating_line *lines;
    size_t n_lines, n_unpriced;
    if (vat_decide(seller->country_code, in->address->country_code, in->vat_id[0] != '\0', last,
                   &vat, err) != 0 ||
        rating_lines(a, p, period, minor, in->counters, in->n_counters, &lines, &n_lines,
                     &n_unpriced, err) != 0 ||
        rating_fill_invoice(a, lines, n_lines, &vat, minor, inv, err) != 0)
        return -1;

    inv->invoice_number = number;
    inv->type = MINBILL__V1__INVOICE_TYPE__INVOICE_TYPE_INVOICE;
    inv->status = MINBILL__V1__INVOICE_STATUS__INVOICE_STATUS_ISSUED;
    inv->account_id = (char *)in->account_id;
    inv->period = (char *)period;
    inv->issue_date = (char *)issue_date;
    inv->due_date = due;
    inv->currency = (char *)in->currency;
    inv->period_start = first;
    inv->period_end = last;
    inv->buyer_reference = (char *)in->account_id;
    inv->seller = seller_party(a, seller);
    inv->buyer = buyer_party(a, in);
    inv->payment = payment(a, seller, in);
    if (inv->seller == NULL || inv->buyer == NULL || inv->payment == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    /* The XRechnung CIUS for a buyer reachable by its VAT id (BT-49), so it
     * needs no personal e-mail address; plain EN 16931 otherwise. */
    inv->customization_id =
        (char *)ubl_customization_id(inv->buyer->electronic_address[0] != '\0');
    if (collect_billed(a, p, in, billed, n_billed, err) != 0)
        return -1;
    *out = inv;
    return 0;
}

int invoice_build_credit_note(mb_arena_t *a, const Minbill__V1__Invoice *original,
                              const char *reason, const char *issue_date,
                              Minbill__V1__Invoice **out, mb_error *err)
{
    Minbill__V1__Invoice *cn = mb_arena_alloc(a, sizeof *cn);
    char *number = mb_arena_alloc(a, INVOICE_NUMBER_SIZE);
    if (cn == NULL || number == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    /* Shares the original's (arena) strings and lines: nothing is changed
     * but the fields that make it a credit note. */
    *cn = *original;
    memset(number, 0, INVOICE_NUMBER_SIZE);
    cn->invoice_number = number;
    cn->type = MINBILL__V1__INVOICE_TYPE__INVOICE_TYPE_CREDIT_NOTE;
    cn->status = MINBILL__V1__INVOICE_STATUS__INVOICE_STATUS_ISSUED;
    cn->issue_date = (char *)issue_date;
    cn->due_date = (char *)issue_date;
    cn->original_invoice_number = original->invoice_number;
    cn->original_issue_date = original->issue_date;
    cn->credit_note_reason = (char *)reason;
    cn->created_at = NULL;
    /* BG-16 stays (XRechnung BR-DE-1 wants it on credit notes too): the
     * amount goes back the way it was paid. */
    if (original->payment != NULL) {
        Minbill__V1__PaymentInstructions *pi = mb_arena_alloc(a, sizeof *pi);
        if (pi == NULL)
            return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        *pi = *original->payment;
        pi->terms = "Refunded by the means the invoice was paid with";
        cn->payment = pi;
    }
    *out = cn;
    return 0;
}
