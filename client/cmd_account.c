/*
 * cmd_account.c - see cmd_account.h.
 *
 * Shows what the server sends and nothing more: support's view has masked
 * contacts and no address or VAT id, and the tool does not try to fill the
 * gaps or to say what they would hold. --reveal only asks; the server alone
 * decides (privacy role) and audits the read before answering.
 */
#include "cmd_account.h"

#include <stdio.h>

#include "minbill/v1/accounts.pb-c.h"
#include "table.h"

enum { FLAG_REVEAL };
static const cli_flag account_show_flags[] = {
    [FLAG_REVEAL] = {"reveal", NULL},
    {NULL, NULL},
};

/* The address rows of the full view: one line per line of the address, as
 * it would be written on an envelope, the label only on the first. */
static void add_address(table *t, const Minbill__V1__PostalAddress *a)
{
    char city[512];
    snprintf(city, sizeof city, "%s %s", a->postal_code, a->city);
    table_add(t, (const char *[]){"billing address", a->line1});
    if (a->line2[0] != '\0')
        table_add(t, (const char *[]){NULL, a->line2});
    table_add(t, (const char *[]){NULL, city});
    table_add(t, (const char *[]){NULL, a->country_code});
}

static int print_contacts(const Minbill__V1__Account *a)
{
    if (a->n_contacts == 0) {
        printf("\ncontacts: none\n");
        return 0;
    }
    table t;
    table_init(&t, 6, (const char *[]){"ID", "ROLE", "NAME", "E-MAIL", "PHONE", "PRIVACY"});
    for (size_t i = 0; i < a->n_contacts; i++) {
        const Minbill__V1__Contact *c = a->contacts[i];
        char role[32];
        table_enum_word(&minbill__v1__contact_role__descriptor, (int)c->role, role, sizeof role);
        /* NULL (blank) when neither applies: most contacts. */
        const char *privacy = c->restricted && c->marketing_objection ? "restricted, no marketing"
                              : c->restricted                         ? "restricted"
                              : c->marketing_objection                ? "no marketing"
                                                                      : NULL;
        table_add(&t, (const char *[]){c->contact_id, role, c->name, c->email, c->phone, privacy});
    }
    printf("\ncontacts\n");
    int rc = table_print(&t, stdout);
    table_free(&t);
    return rc;
}

/* The human form: the account as label/value rows, then its contacts.
 * What the server sent says which view it is: only the full view carries
 * the billing address (a reveal asked by a role that may not gets the
 * masked one). */
int cmd_account_print(const ProtobufCMessage *msg, const void *arg)
{
    (void)arg;
    const Minbill__V1__Account *a = (const void *)msg;
    bool reveal = a->billing_address != NULL;
    char state[32];
    table_enum_word(&minbill__v1__account_state__descriptor, (int)a->state, state, sizeof state);

    table t;
    table_init(&t, 2, NULL);
    table_add(&t, (const char *[]){"account id", a->account_id});
    table_add(&t, (const char *[]){"legal name", a->legal_name});
    table_add(&t, (const char *[]){"state", state});
    table_add(&t, (const char *[]){"currency", a->currency});
    table_add(&t, (const char *[]){"plan", a->plan_id});
    table_add(&t, (const char *[]){"default payment", a->default_payment_method});
    if (a->billing_address != NULL)
        add_address(&t, a->billing_address);
    /* In the masked view an empty vat_id means "not shown", not "none". */
    if (reveal)
        table_add(&t, (const char *[]){"VAT id", a->vat_id});
    table_add(&t, (const char *[]){"personal data",
                                   reveal ? "in full (this read is audited)" : "masked"});
    if (a->restricted)
        table_add(&t, (const char *[]){"processing", "restricted (Art. 18)"});
    int rc = table_print(&t, stdout);
    table_free(&t);
    return rc != 0 ? -1 : print_contacts(a);
}

static int account_show_run(cli_ctx *ctx, const cli_args *args)
{
    Minbill__V1__GetAccountRequest req = MINBILL__V1__GET_ACCOUNT_REQUEST__INIT;
    req.account_id = (char *)args->arg[0];
    req.reveal = args->flag[FLAG_REVEAL] != NULL;
    return table_show(ctx, "/minbill.v1.Accounts/GetAccount", &req.base,
                      &minbill__v1__account__descriptor, cmd_account_print, NULL);
}

const cli_command cmd_account_show = {
    .name = "account show",
    .synopsis = "ACCOUNT_ID [--reveal]",
    .summary = "show an account and its contacts",
    .help = "Calls minbill.v1.Accounts/GetAccount and prints the account (id, legal name,\n"
            "state, currency, plan, default payment method) and a table of its contacts.\n"
            "Contacts are masked as the server sends them to support and finance\n"
            "(j***@e***.de, +49 *** *** 67, J. D.); billing address and VAT id are shown\n"
            "only in the full view. A contact whose processing is restricted (Art. 18) or\n"
            "who objected to marketing use (Art. 21) says so in the PRIVACY column; an\n"
            "account whose own fields are restricted has a 'processing' row.\n"
            "\n"
            "  --reveal  ask for the full, unmasked account. Only the privacy role gets it;\n"
            "            every such read is audited. Others get the masked account.\n"
            "\n"
            "With --json: the Account message as one JSON object, keys as the proto field\n"
            "names (account_id, legal_name, billing_address, vat_id, currency, plan_id,\n"
            "state, contacts[contact_id, role, name, email, phone, restricted,\n"
            "marketing_objection], default_payment_method, notified_recipients, restricted),\n"
            "enums by their proto names (ACCOUNT_STATE_ACTIVE), billing_address null when\n"
            "not shown.\n"
            "\n"
            "exit status: 0 ok; 1 if the server refused (NOT_FOUND for an unknown account,\n"
            "PERMISSION_DENIED); 2 usage error; 3 if the server cannot be reached.\n",
    .flags = account_show_flags,
    .min_args = 1,
    .max_args = 1,
    .run = account_show_run,
};
