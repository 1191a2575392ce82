/*
 * test_invoicing.c - billing runs, invoices and credit notes against the
 * real daemon: a Dutch seller bills a German dealer with a VAT id (reverse
 * charge), a Dutch one (domestic VAT), a French sole trader without a VAT id
 * (French VAT), a US dealer (not subject to EU VAT), an account closed
 * after the period, one without a plan and one that closed long ago; dry
 * runs, idempotent re-runs, late usage, credit notes, immutability, what
 * support sees, and the documents validated as an auditor would.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "fixtures.h"
#include "inv_util.h"
#include "usage_util.h"
#include "minbill/v1/accounts.pb-c.h"

static mbt_server srv;
static iu_keys keys;
static char p1[8], p2[8];
static int64_t t1, t2;
static char year[5];

static int64_t total_of(const Minbill__V1__BillingSummary *s, const char *field)
{
    if (s == NULL)
        return -1;
    if (strcmp(field, "issued") == 0)
        return s->invoices_issued;
    if (strcmp(field, "skipped") == 0)
        return s->invoices_skipped;
    return s->invoices_failed;
}

static Minbill__V1__Invoice *invoice_of(const char *account, const char *period)
{
    char number[32];
    iu_number_of(&srv, &keys, account, period, number);
    if (number[0] == '\0') {
        fprintf(stderr, "no invoice for %s %s\n", account, period);
        return NULL;
    }
    Minbill__V1__Invoice *inv = NULL;
    mb_error st;
    iu_get(&srv, keys.finance, number, &inv, &st);
    return inv;
}

static void free_invoice(Minbill__V1__Invoice *inv)
{
    if (inv != NULL)
        protobuf_c_message_free_unpacked(&inv->base, NULL);
}

static void setup_world(void)
{
    CHECK(iu_plan(&srv, &keys) == 0);
    CHECK(iu_account(&srv, &keys, "acc-de", "Autohaus Schmidt GmbH", "DE", "DE136695976", "pro") ==
          GRPC_STATUS_OK);
    CHECK(iu_account(&srv, &keys, "acc-nl", "Garage de Vries B.V.", "NL", "NL004495445B01",
                     "pro") == GRPC_STATUS_OK);
    CHECK(iu_account(&srv, &keys, "acc-fr", "Jean Martin Automobiles", "FR", "", "pro") ==
          GRPC_STATUS_OK);
    CHECK(iu_account(&srv, &keys, "acc-us", "Main Street Motors Inc.", "US", "", "pro") ==
          GRPC_STATUS_OK);
    CHECK(iu_account(&srv, &keys, "acc-closing", "Auto Closing SARL", "FR", "", "pro") ==
          GRPC_STATUS_OK);
    CHECK(iu_account(&srv, &keys, "acc-noplan", "No Plan Cars", "NL", "", "") == GRPC_STATUS_OK);
    CHECK(iu_account(&srv, &keys, "acc-gone", "Long Gone Cars", "NL", "", "pro") ==
          GRPC_STATUS_OK);

    char token[64];
    CHECK(mbt_attach_card(srv.ch, keys.platform, "acc-de", "4242424242424242", NULL, token,
                          sizeof token, mbt_ms(10000)) == GRPC_STATUS_OK);
    CHECK(iu_set_default(&srv, &keys, token) == GRPC_STATUS_OK);
    /* The US dealer pays by SEPA direct debit from a Dutch account. */
    mb_error ast;
    Minbill__V1__PaymentMethod *sepa = mbt_attach_sepa(srv.ch, keys.platform, "acc-us",
                                                       "NL91ABNA0417164300", "ABNANL2A",
                                                       "MM-US-0001", t1 - 86400 * 30, &ast);
    CHECK_STATUS(ast, GRPC_STATUS_OK);
    CHECK(sepa != NULL && iu_set_default(&srv, &keys, sepa->token) == GRPC_STATUS_OK);
    if (sepa != NULL)
        protobuf_c_message_free_unpacked(&sepa->base, NULL);

    /* acc-de: 12,000 messages in p1 (1,000 free, 9,000 at 0.01, 2,000 at
     * 0.005); acc-nl: 500 messages (free) and 3,333 media (8.3325 -> 8.33). */
    CHECK(iu_usage(&srv, &keys, "de-1", "acc-de", "messages", 12000, t1) == GRPC_STATUS_OK);
    CHECK(iu_usage(&srv, &keys, "nl-1", "acc-nl", "messages", 500, t1) == GRPC_STATUS_OK);
    CHECK(iu_usage(&srv, &keys, "nl-2", "acc-nl", "media", 3333, t1) == GRPC_STATUS_OK);
    CHECK(iu_usage(&srv, &keys, "us-1", "acc-us", "media", 400, t1) == GRPC_STATUS_OK);

    /* Closed now: its usage of p1 still arrives (and is billed) until its
     * final invoice. acc-gone closed before p1 began: not billed at all. */
    Minbill__V1__CloseAccountRequest close = MINBILL__V1__CLOSE_ACCOUNT_REQUEST__INIT;
    close.account_id = "acc-closing";
    ProtobufCMessage *resp = NULL;
    mb_error st;
    mbc_unary(srv.ch, "/minbill.v1.Accounts/CloseAccount", keys.platform, &close.base,
              &minbill__v1__account__descriptor, mbt_ms(10000), &resp, &st);
    if (resp != NULL)
        protobuf_c_message_free_unpacked(resp, NULL);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(iu_usage(&srv, &keys, "closing-1", "acc-closing", "media", 4000, t1) == GRPC_STATUS_OK);
    /* The world existed before the months it is billed for. */
    CHECK(mu_sql(&srv, "UPDATE accounts SET created_at = '2020-01-01T00:00:00.000Z'") == 0);
    CHECK(mu_sql(&srv, "UPDATE accounts SET state = 'closed',"
                       " closed_at = '2001-01-01T00:00:00.000Z' WHERE account_id = 'acc-gone'") ==
          0);
}

static void test_refusals(void)
{
    iu_run r;
    char now[8];
    iu_month_ago(0, now);
    iu_billing(&srv, &keys, now, false, mbt_ms(30000), &r);
    CHECK_STATUS(r.st, GRPC_STATUS_FAILED_PRECONDITION);
    CHECK_CONTAINS(r.st.msg, "period");
    iu_run_free(&r);
    iu_billing(&srv, &keys, "2026-13", false, mbt_ms(30000), &r);
    CHECK_STATUS(r.st, GRPC_STATUS_INVALID_ARGUMENT);
    iu_run_free(&r);

    /* Billing is finance's; support may read invoices but not run or render. */
    mb_error st;
    Minbill__V1__RunBillingRequest req = MINBILL__V1__RUN_BILLING_REQUEST__INIT;
    req.period = p1;
    mbc_call_t *call =
        mbc_call_start_request(srv.ch, IU_RUN, keys.support, mbt_ms(10000), &req.base);
    mbt_call_end(call, &st);
    mbc_call_free(call);
    CHECK_STATUS(st, GRPC_STATUS_PERMISSION_DENIED);
}

static void test_dry_run(void)
{
    iu_run r;
    iu_billing(&srv, &keys, p1, true, mbt_ms(60000), &r);
    CHECK_STATUS(r.st, GRPC_STATUS_OK);
    /* de, nl, fr, us, closing would be invoiced; noplan skipped; gone out. */
    CHECK(total_of(r.summary, "issued") == 5);
    CHECK(total_of(r.summary, "skipped") == 1);
    CHECK(r.steps == 6);
    CHECK(r.issued_steps == 0); /* drafts carry no numbers */
    iu_run_free(&r);
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM invoices") == 0);
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM invoice_series") == 0);
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM invoiced_periods") == 0);
    CHECK(mbt_db_long(srv.d.db, "SELECT sum(invoiced_quantity) FROM usage_counters") == 0);
}

static void test_first_run(void)
{
    iu_run r;
    iu_billing(&srv, &keys, p1, false, mbt_ms(60000), &r);
    CHECK_STATUS(r.st, GRPC_STATUS_OK);
    CHECK(total_of(r.summary, "issued") == 5);
    CHECK(total_of(r.summary, "skipped") == 1);
    CHECK(total_of(r.summary, "failed") == 0);
    CHECK(r.issued_steps == 5);
    char want[32];
    snprintf(want, sizeof want, "INV-%s-000001", year);
    CHECK(strcmp(r.first_number, want) == 0);
    snprintf(want, sizeof want, "INV-%s-000005", year);
    CHECK(strcmp(r.last_number, want) == 0);
    /* net: de 149.00, nl 57.33, fr 49.00, us 50.00, closing 59.00 */
    CHECK(r.summary != NULL && strcmp(r.summary->currency, "EUR") == 0);
    CHECK(r.summary != NULL && r.summary->net_total_minor == 14900 + 5733 + 4900 + 5000 + 5900);
    /* VAT: nl 21 % of 57.33 = 12.04, fr 20 % of 49.00 = 9.80, closing
     * (FR) 20 % of 59.00 = 11.80; de reverse charge, us outside the EU. */
    CHECK(r.summary != NULL && r.summary->tax_total_minor == 1204 + 980 + 1180);
    iu_run_free(&r);

    Minbill__V1__Invoice *de = invoice_of("acc-de", p1);
    CHECK(de != NULL && de->reverse_charge);
    CHECK(de != NULL && de->net_total_minor == 14900 && de->tax_total_minor == 0);
    CHECK(de != NULL && de->n_tax_subtotals == 1 &&
          strcmp(de->tax_subtotals[0]->category, "AE") == 0 &&
          strcmp(de->tax_subtotals[0]->exemption_reason_code, "VATEX-EU-AE") == 0);
    CHECK(de != NULL && de->buyer != NULL && strcmp(de->buyer->vat_id, "DE136695976") == 0);
    CHECK(de != NULL && strstr(de->customization_id, "xrechnung") != NULL);
    CHECK(de != NULL && de->payment != NULL && strcmp(de->payment->means_code, "48") == 0 &&
          strcmp(de->payment->card_last4, "4242") == 0);
    CHECK(de != NULL && de->seller != NULL && strcmp(de->seller->name, "Dealerchat Billing B.V.") == 0);
    const Minbill__V1__InvoiceLine *l = iu_line(de, "Messages");
    CHECK(l != NULL && l->quantity == 9000 && l->line_extension_minor == 9000);
    free_invoice(de);

    Minbill__V1__Invoice *nl = invoice_of("acc-nl", p1);
    CHECK(nl != NULL && !nl->reverse_charge && nl->tax_total_minor == 1204 &&
          nl->gross_total_minor == 5733 + 1204);
    CHECK(nl != NULL && nl->n_tax_subtotals == 1 &&
          strcmp(nl->tax_subtotals[0]->category, "S") == 0 &&
          strcmp(nl->tax_subtotals[0]->rate, "21") == 0);
    CHECK(nl != NULL && iu_line(nl, "Messages") == NULL); /* all 500 were included */
    CHECK(nl != NULL && nl->payment != NULL && strcmp(nl->payment->means_code, "58") == 0 &&
          strcmp(nl->payment->payee_iban, "NL91ABNA0417164300") == 0);
    free_invoice(nl);

    Minbill__V1__Invoice *fr = invoice_of("acc-fr", p1);
    CHECK(fr != NULL && fr->n_lines == 1 && fr->tax_total_minor == 980);
    CHECK(fr != NULL && strcmp(fr->customization_id, "urn:cen.eu:en16931:2017") == 0);
    free_invoice(fr);

    Minbill__V1__Invoice *us = invoice_of("acc-us", p1);
    CHECK(us != NULL && us->n_tax_subtotals == 1 &&
          strcmp(us->tax_subtotals[0]->category, "O") == 0 && us->tax_total_minor == 0);
    /* Direct debit: the mandate and the seller's creditor id, the debited
     * account masked down to its last four digits. */
    CHECK(us != NULL && us->payment != NULL && strcmp(us->payment->means_code, "59") == 0 &&
          strcmp(us->payment->mandate_reference, "MM-US-0001") == 0 &&
          strcmp(us->payment->creditor_id, "NL69ZZZ123456780000") == 0 &&
          strstr(us->payment->debited_account, "ABNA") == NULL &&
          strstr(us->payment->debited_account, "4300") != NULL);
    free_invoice(us);

    /* Exactly the quantities billed, and the period recorded. */
    CHECK(mbt_db_long(srv.d.db, "SELECT invoiced_quantity FROM usage_counters WHERE"
                                " account_id = 'acc-de' AND metric = 'messages'") == 12000);
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM invoiced_periods") == 5);
}

static void test_rerun_and_late_account(void)
{
    iu_run r;
    iu_billing(&srv, &keys, p1, false, mbt_ms(60000), &r);
    CHECK_STATUS(r.st, GRPC_STATUS_OK);
    CHECK(total_of(r.summary, "issued") == 0);
    CHECK(total_of(r.summary, "skipped") == 6);
    iu_run_free(&r);

    /* An account the platform reports late, with usage of p1: its invoice
     * comes with the next run of p1, numbered after the others. */
    CHECK(iu_account(&srv, &keys, "acc-late", "Late Motors BV", "NL", "", "pro") ==
          GRPC_STATUS_OK);
    CHECK(iu_usage(&srv, &keys, "late-1", "acc-late", "media", 100, t1) == GRPC_STATUS_OK);
    iu_billing(&srv, &keys, p1, false, mbt_ms(60000), &r);
    CHECK_STATUS(r.st, GRPC_STATUS_OK);
    CHECK(total_of(r.summary, "issued") == 1);
    char want[32];
    snprintf(want, sizeof want, "INV-%s-000006", year);
    CHECK(strcmp(r.last_number, want) == 0);
    iu_run_free(&r);
}

static void test_late_usage(void)
{
    /* 500 more messages of p1 after its invoice, 2,000 in p2. */
    CHECK(iu_usage(&srv, &keys, "de-2", "acc-de", "messages", 500, t1) == GRPC_STATUS_OK);
    CHECK(iu_usage(&srv, &keys, "de-3", "acc-de", "messages", 2000, t2) == GRPC_STATUS_OK);
    iu_run r;
    iu_billing(&srv, &keys, p2, false, mbt_ms(60000), &r);
    CHECK_STATUS(r.st, GRPC_STATUS_OK);
    /* de, nl, fr, us and closing (it closed after p2 ended); acc-late was
     * registered after p2 and reported no usage of it. */
    CHECK(total_of(r.summary, "issued") == 5);
    CHECK(total_of(r.summary, "failed") == 0);
    iu_run_free(&r);
    Minbill__V1__Invoice *de = invoice_of("acc-de", p2);
    /* p2: units 1,001..2,000 at 0.01; late p1: 12,001..12,500 at 0.005. */
    const Minbill__V1__InvoiceLine *late = iu_line(de, "late");
    CHECK(late != NULL && late->quantity == 500 && late->line_extension_minor == 250 &&
          strcmp(late->period, p1) == 0);
    CHECK(de != NULL && de->net_total_minor == 4900 + 1000 + 250);
    free_invoice(de);
    CHECK(mbt_db_long(srv.d.db, "SELECT invoiced_quantity FROM usage_counters WHERE"
                                " account_id = 'acc-de' AND metric = 'messages' AND period = "
                                "(SELECT min(period) FROM usage_counters)") == 12500);
}

static void test_credit_note(void)
{
    char inv_nl[32], cn[32];
    iu_number_of(&srv, &keys, "acc-nl", p1, inv_nl);
    mb_error st;
    iu_credit(&srv, &keys, inv_nl, "Billed twice for the same month", cn, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    char want[32];
    snprintf(want, sizeof want, "CN-%s-000001", year);
    CHECK(strcmp(cn, want) == 0);
    Minbill__V1__Invoice *c = NULL, *orig = NULL;
    iu_get(&srv, keys.finance, cn, &c, &st);
    CHECK(c != NULL && c->type == MINBILL__V1__INVOICE_TYPE__INVOICE_TYPE_CREDIT_NOTE &&
          strcmp(c->original_invoice_number, inv_nl) == 0 && c->gross_total_minor == 5733 + 1204);
    iu_get(&srv, keys.finance, inv_nl, &orig, &st);
    CHECK(orig != NULL && orig->status == MINBILL__V1__INVOICE_STATUS__INVOICE_STATUS_CREDITED);
    free_invoice(c);
    free_invoice(orig);

    iu_credit(&srv, &keys, inv_nl, "again", NULL, &st);
    CHECK_STATUS(st, GRPC_STATUS_ALREADY_EXISTS);
    iu_credit(&srv, &keys, cn, "a credit note of a credit note", NULL, &st);
    CHECK_STATUS(st, GRPC_STATUS_FAILED_PRECONDITION);
    iu_credit(&srv, &keys, "INV-1999-000001", "unknown", NULL, &st);
    CHECK_STATUS(st, GRPC_STATUS_NOT_FOUND);
    char inv_fr[32];
    iu_number_of(&srv, &keys, "acc-fr", p1, inv_fr);
    iu_credit(&srv, &keys, inv_fr, "refund to card 4242 4242 4242 4242", NULL, &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK(strstr(st.msg, "4242") == NULL);
    iu_credit(&srv, &keys, inv_fr, "asked by jean.martin@example.fr", NULL, &st);
    CHECK_STATUS(st, GRPC_STATUS_INVALID_ARGUMENT);
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM invoices WHERE type = 'credit_note'") == 1);
    /* Runs and credit notes are in the audit trail, by id only. */
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM audit_events WHERE action = 'billing.run'"
                                " AND account_id = '' AND purpose LIKE 'issued=%'") >= 3);
    CHECK(mbt_db_long(srv.d.db, "SELECT count(*) FROM audit_events WHERE action = "
                                "'invoice.credit' AND account_id = 'acc-nl'") == 1);
}

static void test_immutable_and_views(void)
{
    /* The triggers refuse edits and early deletes, whoever asks. */
    CHECK(mu_sql(&srv, "UPDATE invoices SET gross_minor = 1") == -1);
    CHECK(mu_sql(&srv, "DELETE FROM invoices") == -1);
    CHECK(mu_sql(&srv, "DELETE FROM invoices WHERE retain_until < '2000-01-01'") == 0);

    char number[32];
    iu_number_of(&srv, &keys, "acc-de", p1, number);
    Minbill__V1__Invoice *inv = NULL;
    mb_error st;
    iu_get(&srv, keys.support, number, &inv, &st);
    CHECK_STATUS(st, GRPC_STATUS_OK);
    CHECK(inv != NULL && inv->buyer != NULL && inv->buyer->address == NULL &&
          inv->buyer->vat_id[0] == '\0' && strcmp(inv->buyer->name, "Autohaus Schmidt GmbH") == 0);
    free_invoice(inv);
    CHECK(iu_render(&srv, &keys, number, true, NULL, &st) == GRPC_STATUS_OK);
    Minbill__V1__RenderInvoiceRequest req = MINBILL__V1__RENDER_INVOICE_REQUEST__INIT;
    req.invoice_number = number;
    req.format = MINBILL__V1__INVOICE_FORMAT__INVOICE_FORMAT_UBL;
    ProtobufCMessage *resp = NULL;
    mbc_unary(srv.ch, IU_RENDER, keys.support, &req.base, &minbill__v1__rendered_invoice__descriptor,
              mbt_ms(10000), &resp, &st);
    CHECK_STATUS(st, GRPC_STATUS_PERMISSION_DENIED);

    /* Pages of two, in number order, ending with an empty token. */
    char token[32] = "";
    int pages = 0, seen = 0;
    do {
        Minbill__V1__ListInvoicesResponse *r = NULL;
        iu_list(&srv, keys.finance, "", "", 2, token, &r, &st);
        CHECK_STATUS(st, GRPC_STATUS_OK);
        if (r == NULL)
            break;
        seen += (int)r->n_invoices;
        snprintf(token, sizeof token, "%s", r->next_page_token);
        protobuf_c_message_free_unpacked(&r->base, NULL);
        pages++;
    } while (token[0] != '\0' && pages < 20);
    CHECK(seen == (int)mbt_db_long(srv.d.db, "SELECT count(*) FROM invoices"));
}

/* Every document rendered as UBL validates against the UBL 2.1 schema and
 * the EN 16931 (and, for XRechnung documents, the XRechnung) rules. */
static void test_documents_validate(void)
{
    char dir[] = "/tmp/minbill-ubl-XXXXXX", path[96], cmd[256];
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        CHECK(false);
        return;
    }
    Minbill__V1__ListInvoicesResponse *r = NULL;
    mb_error st;
    iu_list(&srv, keys.finance, "", "", 100, "", &r, &st);
    CHECK(r != NULL && r->n_invoices >= 8);
    for (size_t i = 0; r != NULL && i < r->n_invoices; i++) {
        const char *n = r->invoices[i]->invoice_number;
        snprintf(path, sizeof path, "%s/%s.xml", dir, n);
        CHECK(iu_render(&srv, &keys, n, true, path, &st) == GRPC_STATUS_OK);
        if (st.code != GRPC_STATUS_OK)
            fprintf(stderr, "  %s: %s\n", n, st.msg);
        snprintf(path, sizeof path, "%s/%s.json", dir, n);
        CHECK(iu_render(&srv, &keys, n, false, path, &st) == GRPC_STATUS_OK);
    }
    CHECK(iu_validate_ubl(dir) != -1);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    CHECK(system(cmd) == 0);
    if (r != NULL)
        protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void test_unconfigured_seller(void)
{
    mbt_server bare;
    iu_keys k;
    CHECK(mbt_up(&bare, NULL) == 0);
    mbt_key(&bare, "finance", k.finance);
    iu_run r;
    iu_billing(&bare, &k, p1, false, mbt_ms(30000), &r);
    CHECK_STATUS(r.st, GRPC_STATUS_FAILED_PRECONDITION);
    CHECK_CONTAINS(r.st.msg, "seller");
    iu_run_free(&r);
    CHECK(mbt_down(&bare) == 0);
}

int main(void)
{
    t1 = iu_month_ago(2, p1);
    t2 = iu_month_ago(1, p2);
    char today[8];
    iu_month_ago(0, today);
    snprintf(year, sizeof year, "%.4s", today);
    if (iu_up(&srv, &keys) != 0)
        return 1;
    setup_world();
    RUN(test_refusals);
    RUN(test_dry_run);
    RUN(test_first_run);
    RUN(test_rerun_and_late_account);
    RUN(test_late_usage);
    RUN(test_credit_note);
    RUN(test_immutable_and_views);
    RUN(test_documents_validate);
    /* Nothing printed on an invoice is in the database file in clear. */
    CHECK(mbt_stop(&srv, SIGTERM) == 0);
    CHECK(!mbt_file_contains(srv.d.db, "Autohaus Schmidt"));
    CHECK(!mbt_file_contains(srv.d.db, "Industriestrasse"));
    mbt_daemon_cleanup(&srv.d);
    RUN(test_unconfigured_seller);
    return check_summary();
}
