/*
 * test_invoice_build.c - one account's invoice from the legal minimum:
 * VAT treatment by the buyer's country and VAT id, XRechnung only for a
 * buyer reachable by its VAT id, payment means from the default method
 * (card last 4, SEPA mandate with the account masked, else transfer), the
 * counters an invoice bills, refusals (currency, address), due dates and
 * retention classes, and the credit note of an invoice.
 */
#include "check.h"
#include "invoicing/invoice_build.h"

static mb_arena_t *arena;
static seller_config *seller;

static plan_tier tiers[] = {{10000, 10000}, {0, 5000}};
static plan_price prices[] = {
    {.metric = "messages", .description = "Messages sent", .included_quantity = 1000, .n_tiers = 2,
     .tiers = tiers},
};
static const plan PLAN = {"pro", "EUR", 4900, 1, prices};

static Minbill__V1__PostalAddress addr(const char *cc)
{
    Minbill__V1__PostalAddress a = MINBILL__V1__POSTAL_ADDRESS__INIT;
    a.line1 = "Hauptstrasse 1";
    a.postal_code = "10115";
    a.city = "Berlin";
    a.country_code = (char *)cc;
    return a;
}

static billing_input input(const Minbill__V1__PostalAddress *a, const char *vat_id,
                           const rating_counter *c, size_t n)
{
    return (billing_input){.account_id = "acc-1",
                           .currency = "EUR",
                           .legal_name = "Autohaus Schmidt GmbH",
                           .address = a,
                           .vat_id = vat_id,
                           .pm_type = "",
                           .pm_last4 = "",
                           .pm_country = "",
                           .pm_mandate_reference = "",
                           .counters = c,
                           .n_counters = n};
}

static Minbill__V1__Invoice *build(const billing_input *in, mb_error *err)
{
    Minbill__V1__Invoice *inv = NULL;
    invoice_billed *billed;
    size_t n_billed;
    if (invoice_build(arena, seller, &PLAN, in, "2026-11", "2026-12-04", &inv, &billed, &n_billed,
                      err) != 0)
        return NULL;
    return inv;
}

static void test_reverse_charge_xrechnung(void)
{
    Minbill__V1__PostalAddress de = addr("DE");
    rating_counter c[] = {{"2026-11", "messages", 12000, 0}, {"2026-11", "faxes", 5, 0},
                          {"2026-10", "messages", 12500, 12000}};
    billing_input in = input(&de, "DE136695976", c, 3);
    in.pm_type = "card";
    in.pm_last4 = "4242";
    mb_error err;
    Minbill__V1__Invoice *inv = NULL;
    invoice_billed *billed = NULL;
    size_t n_billed = 0;
    CHECK(invoice_build(arena, seller, &PLAN, &in, "2026-11", "2026-12-04", &inv, &billed,
                        &n_billed, &err) == 0);
    if (inv == NULL)
        return;
    CHECK(inv->reverse_charge && strcmp(inv->tax_subtotals[0]->category, "AE") == 0);
    CHECK(strstr(inv->customization_id, "xrechnung") != NULL);
    CHECK(strcmp(inv->buyer->electronic_address_scheme, "9930") == 0 &&
          strcmp(inv->buyer->electronic_address, "DE136695976") == 0);
    CHECK(strcmp(inv->payment->means_code, "48") == 0 &&
          strcmp(inv->payment->card_last4, "4242") == 0);
    CHECK(strcmp(inv->due_date, "2026-12-18") == 0);
    CHECK(strcmp(inv->period_start, "2026-11-01") == 0 && strcmp(inv->period_end, "2026-11-30") == 0);
    CHECK(strcmp(inv->buyer_reference, "acc-1") == 0);
    /* The unpriced metric is not billed; late usage moves 12,000 -> 12,500. */
    CHECK(n_billed == 2);
    CHECK(n_billed == 2 && strcmp(billed[1].period, "2026-10") == 0 &&
          billed[1].read_invoiced == 12000 && billed[1].new_invoiced == 12500);
    CHECK(inv->net_total_minor == 4900 + 9000 + 1000 + 250);
}

static void test_domestic_and_payment_means(void)
{
    Minbill__V1__PostalAddress nl = addr("NL"), fr = addr("FR"), us = addr("US");
    mb_error err;
    billing_input in = input(&nl, "", NULL, 0);
    in.pm_type = "sepa_debit";
    in.pm_last4 = "4300";
    in.pm_country = "NL";
    in.pm_mandate_reference = "M-1";
    Minbill__V1__Invoice *inv = build(&in, &err);
    CHECK(inv != NULL && strcmp(inv->tax_subtotals[0]->category, "S") == 0 &&
          strcmp(inv->tax_subtotals[0]->rate, "21") == 0 && inv->tax_total_minor == 1029);
    CHECK(inv != NULL && strcmp(inv->customization_id, "urn:cen.eu:en16931:2017") == 0);
    CHECK(inv != NULL && strcmp(inv->payment->means_code, "59") == 0 &&
          strcmp(inv->payment->mandate_reference, "M-1") == 0 &&
          strcmp(inv->payment->creditor_id, seller->sepa_creditor_id) == 0 &&
          strstr(inv->payment->debited_account, "4300") != NULL &&
          strlen(inv->payment->debited_account) < 12);
    in = input(&fr, "", NULL, 0);
    inv = build(&in, &err);
    CHECK(inv != NULL && strcmp(inv->tax_subtotals[0]->rate, "20") == 0);
    CHECK(inv != NULL && strcmp(inv->payment->means_code, "58") == 0 &&
          strcmp(inv->payment->payee_iban, seller->bank_iban) == 0);
    in = input(&us, "", NULL, 0);
    inv = build(&in, &err);
    CHECK(inv != NULL && strcmp(inv->tax_subtotals[0]->category, "O") == 0 &&
          inv->tax_total_minor == 0);
}

static void test_refusals(void)
{
    Minbill__V1__PostalAddress de = addr("DE");
    mb_error err;
    billing_input in = input(&de, "", NULL, 0);
    in.currency = "USD";
    CHECK(build(&in, &err) == NULL);
    CHECK_STATUS(err, GRPC_STATUS_FAILED_PRECONDITION);
    CHECK_CONTAINS(err.msg, "plan_id");
    in = input(NULL, "", NULL, 0);
    CHECK(build(&in, &err) == NULL);
    CHECK_STATUS(err, GRPC_STATUS_FAILED_PRECONDITION);
    CHECK_CONTAINS(err.msg, "billing_address");
}

static void test_dates_and_retention(void)
{
    char out[11], cls[32], until[11];
    invoice_date_add("2026-12-25", 14, out);
    CHECK(strcmp(out, "2027-01-08") == 0);
    invoice_date_add("2028-02-28", 1, out);
    CHECK(strcmp(out, "2028-02-29") == 0);
    invoice_retention(seller, "2026-12-04", cls, until);
    CHECK(strcmp(cls, "invoice:NL:2033") == 0 && strcmp(until, "2033-12-31") == 0);
}

static void test_credit_note(void)
{
    Minbill__V1__PostalAddress nl = addr("NL");
    mb_error err;
    billing_input in = input(&nl, "", NULL, 0);
    Minbill__V1__Invoice *inv = build(&in, &err), *cn = NULL;
    if (inv == NULL)
        return;
    inv->invoice_number = "INV-2026-000007";
    CHECK(invoice_build_credit_note(arena, inv, "duplicate", "2026-12-20", &cn, &err) == 0);
    CHECK(cn != NULL && cn->type == MINBILL__V1__INVOICE_TYPE__INVOICE_TYPE_CREDIT_NOTE &&
          strcmp(cn->original_invoice_number, "INV-2026-000007") == 0 &&
          strcmp(cn->original_issue_date, "2026-12-04") == 0 &&
          strcmp(cn->issue_date, "2026-12-20") == 0 && cn->gross_total_minor == inv->gross_total_minor &&
          cn->invoice_number[0] == '\0' && cn->invoice_number != inv->invoice_number &&
          cn->payment != NULL && strcmp(cn->payment->means_code, inv->payment->means_code) == 0);
}

int main(void)
{
    mb_error err;
    arena = mb_arena_new(0);
    if (arena == NULL || seller_config_load(MINBILL_DEV_SELLER_CONFIG, &seller, &err) != 0) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return 1;
    }
    RUN(test_reverse_charge_xrechnung);
    RUN(test_domestic_and_payment_means);
    RUN(test_refusals);
    RUN(test_dates_and_retention);
    RUN(test_credit_note);
    seller_config_free(seller);
    mb_arena_free(arena);
    return check_summary();
}
