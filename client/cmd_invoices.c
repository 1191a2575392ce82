/*
 * cmd_invoices.c - see cmd_invoices.h.
 *
 * Amounts travel as integer minor units; they are printed with the
 * currency's decimals (base/check.h knows them), never through floating
 * point.
 */
#include "cmd_invoices.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/check.h"
#include "base/clock.h"
#include "cli_rpc.h"
#include "minbill/v1/invoicing.pb-c.h"
#include "table.h"

#define PROGRESS_EVERY_NS 100000000 /* redraw the bar at most every 100 ms */
#define FAILURES_SHOWN 20
#define LIST_PAGE 500
/* Room for any formatted amount (the compiler counts every digit). */
#define MONEY_SIZE 72

/* minor units of currency as "1234.56". */
static const char *money(int64_t minor, const char *currency, char out[MONEY_SIZE])
{
    int units = check_currency_minor_units(currency);
    uint64_t mag = minor < 0 ? 0 - (uint64_t)minor : (uint64_t)minor;
    /* At least units + 1 digits, so 5 cents shows as 0.05. */
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)mag);
    while (units > 0 && n <= units && n < (int)sizeof digits - 1) {
        memmove(digits + 1, digits, (size_t)n + 1);
        digits[0] = '0';
        n++;
    }
    if (units <= 0 || n <= units) {
        snprintf(out, MONEY_SIZE, "%s%s", minor < 0 ? "-" : "", digits);
        return out;
    }
    snprintf(out, MONEY_SIZE, "%s%.*s.%s", minor < 0 ? "-" : "", n - units, digits, digits + n - units);
    return out;
}

/* --- invoices run ----------------------------------------------------------- */

static void draw_bar(int64_t done, int64_t total)
{
    int width = 30, filled = total > 0 ? (int)(done * width / total) : width;
    fprintf(stderr, "\r[%.*s%*s] %lld/%lld accounts", filled, "##############################",
            width - filled, "", (long long)done, (long long)total);
    fflush(stderr);
}

static int print_summary(const Minbill__V1__BillingSummary *s)
{
    printf("period %s%s: %lld invoice(s) %s, %lld skipped, %lld failed\n", s->period,
           s->dry_run ? " (dry run: nothing stored, no numbers used)" : "",
           (long long)s->invoices_issued, s->dry_run ? "would be issued" : "issued",
           (long long)s->invoices_skipped, (long long)s->invoices_failed);
    if (s->accounts_erased > 0)
        printf("%lld account(s) not invoiced: their personal data was erased (Art. 17); their "
               "usage stays unbilled\n",
               (long long)s->accounts_erased);
    if (s->n_totals == 0)
        return 0;
    table t;
    table_init(&t, 5, (const char *[]){"CURRENCY", "INVOICES", "NET", "VAT", "GROSS"});
    for (size_t i = 0; i < s->n_totals; i++) {
        const Minbill__V1__CurrencyTotals *c = s->totals[i];
        char n[24], net[MONEY_SIZE], tax[MONEY_SIZE], gross[MONEY_SIZE];
        snprintf(n, sizeof n, "%lld", (long long)c->invoices);
        table_add(&t, (const char *[]){c->currency, n, money(c->net_total_minor, c->currency, net),
                                      money(c->tax_total_minor, c->currency, tax),
                                      money(c->gross_total_minor, c->currency, gross)});
    }
    int rc = table_print(&t, stdout);
    table_free(&t);
    return rc;
}

static int invoices_run_run(cli_ctx *ctx, const cli_args *args)
{
    if (args->flag[0] == NULL)
        return cli_usage_error(ctx, "--period is required");
    Minbill__V1__RunBillingRequest req = MINBILL__V1__RUN_BILLING_REQUEST__INIT;
    req.period = (char *)args->flag[0];
    req.dry_run = args->flag[1] != NULL;
    int rc = cli_rpc_connect(ctx);
    if (rc != CLI_OK)
        return rc;
    mbc_call_t *call =
        mbc_call_start(ctx->ch, "/minbill.v1.Invoicing/RunBilling", ctx->api_key,
                       cli_remaining_ms(ctx));
    if (call == NULL || mbc_call_send_msg(call, &req.base) != 0 || mbc_call_close_send(call) != 0) {
        mbc_call_free(call);
        return cli_fail(ctx, CLI_FAILED, "could not start the billing run");
    }
    bool bar = !ctx->json && isatty(STDERR_FILENO);
    int64_t last_draw = 0, failures = 0;
    Minbill__V1__RunBillingProgress *final = NULL;
    uint8_t *msg;
    size_t len;
    while (mbc_call_recv(call, &msg, &len) == 1) {
        Minbill__V1__RunBillingProgress *p = minbill__v1__run_billing_progress__unpack(NULL, len, msg);
        free(msg);
        if (p == NULL)
            continue;
        if (p->done) {
            if (final != NULL)
                minbill__v1__run_billing_progress__free_unpacked(final, NULL);
            final = p;
            continue;
        }
        /* An account that could not be invoiced is worth a line of its own;
         * the summary counts the rest. */
        if (!ctx->json && p->invoice_number[0] == '\0' && p->skipped_reason[0] != '\0' &&
            strcmp(p->skipped_reason, "already invoiced") != 0 &&
            strcmp(p->skipped_reason, "nothing to bill") != 0 &&
            strcmp(p->skipped_reason, "the account has no plan") != 0 &&
            failures++ < FAILURES_SHOWN) {
            char *id = table_clean(p->account_id), *why = table_clean(p->skipped_reason);
            if (bar)
                fputc('\n', stderr);
            fprintf(stderr, "minbill: invoices run: %s: %s\n", id ? id : "?", why ? why : "?");
            free(id);
            free(why);
        }
        int64_t now = mb_mono_ns();
        if (bar && now - last_draw > PROGRESS_EVERY_NS) {
            draw_bar(p->processed, p->total);
            last_draw = now;
        }
        minbill__v1__run_billing_progress__free_unpacked(p, NULL);
    }
    mb_error st;
    int ended = mbc_call_finish(call, &st);
    mbc_call_free(call);
    if (bar && final != NULL) {
        draw_bar(final->processed, final->total);
        fputc('\n', stderr);
    }
    if (ended != 0 || final == NULL || final->summary == NULL) {
        if (final != NULL)
            minbill__v1__run_billing_progress__free_unpacked(final, NULL);
        return ended != 0 ? cli_rpc_fail_status(ctx, &st)
                          : cli_fail(ctx, CLI_FAILED, "the run ended without a summary");
    }
    if (ctx->json) {
        json_out j;
        json_out_init(&j, stdout);
        rc = table_json_message(&j, &final->summary->base);
        if (json_out_finish(&j) != 0)
            rc = -1;
    } else {
        rc = print_summary(final->summary);
    }
    minbill__v1__run_billing_progress__free_unpacked(final, NULL);
    return rc == 0 ? CLI_OK : cli_fail(ctx, CLI_FAILED, "out of memory");
}

static const cli_flag run_flags[] = {{"period", "YYYY-MM"}, {"dry-run", NULL}, {NULL, NULL}};

const cli_command cmd_invoices_run = {
    .name = "invoices run",
    .synopsis = "--period YYYY-MM [--dry-run]",
    .summary = "issue the invoices of a period that has ended",
    .help = "Calls minbill.v1.Invoicing/RunBilling: one invoice per account with a plan,\n"
            "from its base fee, usage of the period and usage of earlier periods that\n"
            "arrived after their invoice. Safe to run again: accounts already invoiced are\n"
            "skipped. With --dry-run nothing is stored and no numbers are used.\n"
            "\n"
            "On a terminal a progress bar is drawn on stderr; accounts that could not be\n"
            "invoiced are listed there with the reason. Then a summary: invoices issued,\n"
            "skipped and failed, accounts not invoiced because their personal data was\n"
            "erased (Art. 17: an invoice must name its buyer), and a table of net, VAT and\n"
            "gross per currency. Large runs take a while: give them time with --timeout\n"
            "(e.g. --timeout 600).\n"
            "\n"
            "With --json: the BillingSummary message (period, dry_run, invoices_issued,\n"
            "invoices_skipped, invoices_failed, accounts_erased, totals[] per currency,\n"
            "amounts in minor units).\n"
            "\n"
            "exit status: 0 ok; 1 if the server refused (FAILED_PRECONDITION: the period has\n"
            "not ended or no seller is configured); 2 usage error; 3 if the server cannot be\n"
            "reached.\n",
    .flags = run_flags,
    .min_args = 0,
    .max_args = 0,
    .run = invoices_run_run,
};

/* --- invoices list ---------------------------------------------------------- */

static void add_invoice_row(table *t, const ProtobufCMessage *msg)
{
    const Minbill__V1__Invoice *inv = (const void *)msg;
    char type[24], status[24], gross[MONEY_SIZE];
    table_enum_word(&minbill__v1__invoice_type__descriptor, (int)inv->type, type, sizeof type);
    table_enum_word(&minbill__v1__invoice_status__descriptor, (int)inv->status, status,
                    sizeof status);
    money(inv->gross_total_minor, inv->currency, gross);
    table_add(t, (const char *[]){inv->invoice_number, type, status, inv->account_id, inv->period,
                                  inv->issue_date, gross, inv->currency});
}

static int invoices_list_run(cli_ctx *ctx, const cli_args *args)
{
    Minbill__V1__ListInvoicesRequest req = MINBILL__V1__LIST_INVOICES_REQUEST__INIT;
    req.account_id = (char *)(args->flag[0] != NULL ? args->flag[0] : "");
    req.period = (char *)(args->flag[1] != NULL ? args->flag[1] : "");
    req.page_size = LIST_PAGE;
    table t;
    table_init(&t, 8,
               (const char *[]){"NUMBER", "TYPE", "STATUS", "ACCOUNT", "PERIOD", "ISSUED", "GROSS",
                                "CURRENCY"});
    return table_list_pages(ctx, "/minbill.v1.Invoicing/ListInvoices", &req.base,
                            &minbill__v1__list_invoices_response__descriptor, "invoices", &t,
                            add_invoice_row, "no invoices");
}

static const cli_flag list_flags[] = {{"account", "ID"}, {"period", "YYYY-MM"}, {NULL, NULL}};

const cli_command cmd_invoices_list = {
    .name = "invoices list",
    .synopsis = "[--account ID] [--period YYYY-MM]",
    .summary = "list invoices and credit notes",
    .help = "Calls minbill.v1.Invoicing/ListInvoices, page after page, and prints a table:\n"
            "number, type (invoice or credit_note), status (issued or credited), account,\n"
            "period, issue date, gross amount and currency, in number order.\n"
            "\n"
            "With --json: {\"invoices\":[...]}, each an Invoice message with every field.\n"
            "\n"
            "exit status: 0 ok (also for none); 1 if the server refused; 2 usage error; 3 if\n"
            "the server cannot be reached.\n",
    .flags = list_flags,
    .min_args = 0,
    .max_args = 0,
    .run = invoices_list_run,
};

/* --- invoice show ----------------------------------------------------------- */

static void party_rows(table *t, const char *label, const Minbill__V1__Party *p)
{
    if (p == NULL)
        return;
    table_add(t, (const char *[]){label, p->name});
    if (p->address != NULL) {
        char line[256];
        snprintf(line, sizeof line, "%s%s%s, %s %s, %s", p->address->line1,
                 p->address->line2[0] ? ", " : "", p->address->line2, p->address->postal_code,
                 p->address->city, p->address->country_code);
        table_add(t, (const char *[]){NULL, line});
    }
    if (p->vat_id[0] != '\0')
        table_add(t, (const char *[]){NULL, p->vat_id});
}

static int print_invoice(const ProtobufCMessage *msg, const void *arg)
{
    (void)arg;
    const Minbill__V1__Invoice *inv = (const void *)msg;
    char type[24], status[24], net[MONEY_SIZE], tax[MONEY_SIZE], gross[MONEY_SIZE];
    table_enum_word(&minbill__v1__invoice_type__descriptor, (int)inv->type, type, sizeof type);
    table_enum_word(&minbill__v1__invoice_status__descriptor, (int)inv->status, status,
                    sizeof status);
    table head;
    table_init(&head, 2, NULL);
    table_add(&head, (const char *[]){"number", inv->invoice_number});
    table_add(&head, (const char *[]){"type", type});
    table_add(&head, (const char *[]){"status", status});
    table_add(&head, (const char *[]){"account", inv->account_id});
    table_add(&head, (const char *[]){"period", inv->period});
    table_add(&head, (const char *[]){"issued", inv->issue_date});
    table_add(&head, (const char *[]){"due", inv->due_date});
    if (inv->original_invoice_number[0] != '\0') {
        table_add(&head, (const char *[]){"credits", inv->original_invoice_number});
        table_add(&head, (const char *[]){"reason", inv->credit_note_reason});
    }
    party_rows(&head, "seller", inv->seller);
    party_rows(&head, "buyer", inv->buyer);
    if (inv->note[0] != '\0')
        table_add(&head, (const char *[]){"note", inv->note});
    table_add(&head, (const char *[]){"net", money(inv->net_total_minor, inv->currency, net)});
    table_add(&head, (const char *[]){"vat", money(inv->tax_total_minor, inv->currency, tax)});
    table_add(&head, (const char *[]){"gross", money(inv->gross_total_minor, inv->currency, gross)});
    table_add(&head, (const char *[]){"currency", inv->currency});
    int rc = table_print(&head, stdout);
    table_free(&head);
    table lines;
    table_init(&lines, 6, (const char *[]){"LINE", "PERIOD", "QUANTITY", "UNIT PRICE", "NET", "VAT"});
    for (size_t i = 0; i < inv->n_lines; i++) {
        const Minbill__V1__InvoiceLine *l = inv->lines[i];
        char q[24], amount[MONEY_SIZE], vat[24];
        snprintf(q, sizeof q, "%lld", (long long)l->quantity);
        snprintf(vat, sizeof vat, "%s %s%%", l->vat_category, l->vat_rate);
        table_add(&lines, (const char *[]){l->description, l->period, q, l->unit_price,
                                           money(l->line_extension_minor, inv->currency, amount),
                                           vat});
    }
    printf("\n");
    if (table_print(&lines, stdout) != 0)
        rc = -1;
    table_free(&lines);
    return rc;
}

static int invoice_show_run(cli_ctx *ctx, const cli_args *args)
{
    Minbill__V1__GetInvoiceRequest req = MINBILL__V1__GET_INVOICE_REQUEST__INIT;
    req.invoice_number = (char *)args->arg[0];
    return table_show(ctx, "/minbill.v1.Invoicing/GetInvoice", &req.base,
                      &minbill__v1__invoice__descriptor, print_invoice, NULL);
}

const cli_command cmd_invoice_show = {
    .name = "invoice show",
    .synopsis = "NUMBER",
    .summary = "show an invoice or credit note",
    .help = "Calls minbill.v1.Invoicing/GetInvoice and prints the document: number, type,\n"
            "status, account, period, dates, seller and buyer as printed on it, totals, then\n"
            "one row per line (description, service period, quantity, unit price, net, VAT\n"
            "category and rate). Support sees the buyer without address and VAT id.\n"
            "\n"
            "With --json: the Invoice message with every field.\n"
            "\n"
            "exit status: 0 ok; 1 if the server refused (NOT_FOUND); 2 usage error; 3 if the\n"
            "server cannot be reached.\n",
    .flags = NULL,
    .min_args = 1,
    .max_args = 1,
    .run = invoice_show_run,
};

/* --- invoice render --------------------------------------------------------- */

static int invoice_render_run(cli_ctx *ctx, const cli_args *args)
{
    const char *format = args->flag[0], *out = args->flag[1];
    if (format == NULL)
        return cli_usage_error(ctx, "--format is required");
    Minbill__V1__RenderInvoiceRequest req = MINBILL__V1__RENDER_INVOICE_REQUEST__INIT;
    req.invoice_number = (char *)args->arg[0];
    if (strcmp(format, "ubl") == 0)
        req.format = MINBILL__V1__INVOICE_FORMAT__INVOICE_FORMAT_UBL;
    else if (strcmp(format, "json") == 0)
        req.format = MINBILL__V1__INVOICE_FORMAT__INVOICE_FORMAT_JSON;
    else
        return cli_usage_error(ctx, "--format: must be ubl or json");
    ProtobufCMessage *answer = NULL;
    int rc = cli_rpc_unary(ctx, "/minbill.v1.Invoicing/RenderInvoice", &req.base,
                           &minbill__v1__rendered_invoice__descriptor, &answer);
    if (rc != CLI_OK)
        return rc;
    const Minbill__V1__RenderedInvoice *r = (const void *)answer;
    FILE *f = out != NULL ? fopen(out, "wx") : stdout;
    if (f == NULL) {
        char w[CLI_WORD_MAX];
        int e = errno;
        protobuf_c_message_free_unpacked(answer, NULL);
        return cli_fail(ctx, CLI_FAILED, "--out: cannot create %s: %s",
                        cli_word(ctx, out, w, sizeof w), strerror(e));
    }
    bool ok = fwrite(r->content.data, 1, r->content.len, f) == r->content.len;
    if (f != stdout && fclose(f) != 0)
        ok = false;
    protobuf_c_message_free_unpacked(answer, NULL);
    if (!ok && f != stdout)
        return cli_fail(ctx, CLI_FAILED, "--out: writing the document failed");
    return CLI_OK;
}

static const cli_flag render_flags[] = {{"format", "ubl|json"}, {"out", "FILE"}, {NULL, NULL}};

const cli_command cmd_invoice_render = {
    .name = "invoice render",
    .synopsis = "NUMBER --format ubl|json [--out FILE]",
    .summary = "an invoice as an EN 16931 e-invoice (UBL 2.1 XML) or JSON",
    .help = "Calls minbill.v1.Invoicing/RenderInvoice and writes the document to stdout, or\n"
            "to FILE (which must not exist yet). ubl: a UBL 2.1 Invoice or CreditNote with\n"
            "every EN 16931 business term; buyers with a VAT id get the XRechnung 3.0 CIUS.\n"
            "json: the same document as JSON.\n"
            "\n"
            "exit status: 0 ok; 1 if the server refused (NOT_FOUND) or FILE could not be\n"
            "written; 2 usage error; 3 if the server cannot be reached.\n",
    .flags = render_flags,
    .min_args = 1,
    .max_args = 1,
    .run = invoice_render_run,
};

/* --- invoice credit --------------------------------------------------------- */

static int print_credit(const ProtobufCMessage *msg, const void *arg)
{
    (void)arg;
    const Minbill__V1__Invoice *cn = (const void *)msg;
    char gross[MONEY_SIZE];
    printf("credit note %s issued for invoice %s (%s %s)\n", cn->invoice_number,
           cn->original_invoice_number, money(cn->gross_total_minor, cn->currency, gross),
           cn->currency);
    return 0;
}

static int invoice_credit_run(cli_ctx *ctx, const cli_args *args)
{
    if (args->flag[0] == NULL)
        return cli_usage_error(ctx, "--reason is required");
    Minbill__V1__IssueCreditNoteRequest req = MINBILL__V1__ISSUE_CREDIT_NOTE_REQUEST__INIT;
    req.invoice_number = (char *)args->arg[0];
    req.reason = (char *)args->flag[0];
    return table_show(ctx, "/minbill.v1.Invoicing/IssueCreditNote", &req.base,
                      &minbill__v1__invoice__descriptor, print_credit, NULL);
}

static const cli_flag credit_flags[] = {{"reason", "TEXT"}, {NULL, NULL}};

const cli_command cmd_invoice_credit = {
    .name = "invoice credit",
    .synopsis = "NUMBER --reason TEXT",
    .summary = "reverse an invoice in full with a credit note",
    .help = "Calls minbill.v1.Invoicing/IssueCreditNote: a credit note with its own number\n"
            "that reverses the whole invoice and references it; the invoice becomes\n"
            "'credited'. An invoice is credited once. The reason is stored: it must not\n"
            "contain a card number, IBAN, e-mail address or phone number.\n"
            "\n"
            "With --json: the credit note as an Invoice message.\n"
            "\n"
            "exit status: 0 ok; 1 if the server refused (ALREADY_EXISTS, NOT_FOUND,\n"
            "INVALID_ARGUMENT); 2 usage error; 3 if the server cannot be reached.\n",
    .flags = credit_flags,
    .min_args = 1,
    .max_args = 1,
    .run = invoice_credit_run,
};
