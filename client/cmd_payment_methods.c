/*
 * cmd_payment_methods.c - see cmd_payment_methods.h.
 *
 * The server never sends a PAN or IBAN here, only the last four characters;
 * the tool shows them behind "••••" so that no cell can be mistaken for (or
 * pasted as) a number.
 */
#include "cmd_payment_methods.h"

#include <stdio.h>
#include <stdlib.h>

#include "cli_rpc.h"
#include "minbill/v1/accounts.pb-c.h"
#include "table.h"

/* One row: token, type, brand, number, expiry, country, default, created. */
static void add_method(table *t, const Minbill__V1__PaymentMethod *m)
{
    char type[32], number[32] = "", expires[16] = "", created[16];
    table_enum_word(&minbill__v1__payment_method_type__descriptor, (int)m->type, type, sizeof type);
    /* At most four characters, whatever the field holds: this column must
     * never be able to show a whole number. */
    if (m->last4[0] != '\0')
        snprintf(number, sizeof number, "•••• %.4s", m->last4);
    /* Only cards expire; SEPA debit sends 0/0. */
    if (m->exp_month != 0 || m->exp_year != 0)
        snprintf(expires, sizeof expires, "%02d/%04d", (int)m->exp_month, (int)m->exp_year);
    table_date(m->created_at, created, sizeof created);
    table_add(t, (const char *[]){m->token, type, m->brand, number, expires, m->country_code,
                                  m->is_default ? "yes" : "", created});
}

static int print_methods(const ProtobufCMessage *msg, const void *arg)
{
    const Minbill__V1__ListPaymentMethodsResponse *r = (const void *)msg;
    if (r->n_payment_methods == 0) {
        printf("no payment methods\n");
        return 0;
    }
    table t;
    table_init(&t, 8,
               (const char *[]){"TOKEN", "TYPE", "BRAND", "NUMBER", "EXPIRES", "COUNTRY", "DEFAULT",
                                "CREATED"});
    for (size_t i = 0; i < r->n_payment_methods; i++)
        add_method(&t, r->payment_methods[i]);
    int rc = table_print(&t, stdout);
    table_free(&t);
    return rc;
}

/* Pages are fetched until the last and shown as one list (default first,
 * as the server orders it); pages stay alive until the list is printed,
 * since the merged list points into them. */
#define PAGES_MAX 1000

static int payment_methods_list_run(cli_ctx *ctx, const cli_args *args)
{
    Minbill__V1__ListPaymentMethodsRequest req = MINBILL__V1__LIST_PAYMENT_METHODS_REQUEST__INIT;
    req.account_id = (char *)args->arg[0];
    req.page_size = 500;
    Minbill__V1__ListPaymentMethodsResponse *pages[PAGES_MAX];
    Minbill__V1__ListPaymentMethodsResponse all = MINBILL__V1__LIST_PAYMENT_METHODS_RESPONSE__INIT;
    size_t n_pages = 0, total = 0;
    int rc = CLI_OK;
    do {
        ProtobufCMessage *answer = NULL;
        if (n_pages == PAGES_MAX) {
            rc = cli_fail(ctx, CLI_FAILED, "more than %d pages of payment methods", PAGES_MAX);
            goto out;
        }
        rc = cli_rpc_unary(ctx, "/minbill.v1.Accounts/ListPaymentMethods", &req.base,
                           &minbill__v1__list_payment_methods_response__descriptor, &answer);
        if (rc != CLI_OK)
            goto out;
        pages[n_pages++] = (void *)answer;
        total += pages[n_pages - 1]->n_payment_methods;
        req.page_token = pages[n_pages - 1]->next_page_token;
    } while (req.page_token[0] != '\0');
    all.payment_methods = malloc((total ? total : 1) * sizeof *all.payment_methods);
    if (all.payment_methods == NULL) {
        rc = cli_fail(ctx, CLI_FAILED, "out of memory");
        goto out;
    }
    for (size_t p = 0; p < n_pages; p++)
        for (size_t i = 0; i < pages[p]->n_payment_methods; i++)
            all.payment_methods[all.n_payment_methods++] = pages[p]->payment_methods[i];
    rc = table_output(ctx, &all.base, print_methods, NULL);
    free(all.payment_methods);
out:
    for (size_t p = 0; p < n_pages; p++)
        protobuf_c_message_free_unpacked(&pages[p]->base, NULL);
    return rc;
}

const cli_command cmd_payment_methods_list = {
    .name = "payment-methods list",
    .synopsis = "ACCOUNT_ID",
    .summary = "list an account's payment methods",
    .help = "Calls minbill.v1.Accounts/ListPaymentMethods and prints a table: token, type\n"
            "(card or sepa_debit), brand, the last four characters as '•••• 4242', expiry\n"
            "MM/YYYY (cards), country, 'yes' for the default method, and the date it was\n"
            "attached (UTC). A full card number or IBAN is never sent here.\n"
            "\n"
            "Every page is fetched; the default method is listed first.\n"
            "\n"
            "With --json: {\"payment_methods\":[...]}, each method with every field under its\n"
            "proto name (token, type, brand, last4, exp_month, exp_year, country_code,\n"
            "fingerprint, mandate_reference, created_at, account_id, is_default,\n"
            "already_attached, updated_existing) and \"next_page_token\":\"\"; type as\n"
            "PAYMENT_METHOD_TYPE_CARD or _SEPA_DEBIT, created_at in RFC 3339.\n"
            "\n"
            "exit status: 0 ok (also for an account without payment methods); 1 if the\n"
            "server refused (NOT_FOUND, PERMISSION_DENIED); 2 usage error; 3 if the server\n"
            "cannot be reached.\n",
    .flags = NULL,
    .min_args = 1,
    .max_args = 1,
    .run = payment_methods_list_run,
};
