/*
 * accounts.c - see accounts.h.
 */
#include "accounts/accounts.h"

#include <stdio.h>
#include <string.h>

#include "accounts/account_store.h"
#include "base/check.h"
#include "app.h"
#include "audit/audit_rpc.h"
#include "inventory/inventory.h"
#include "invoicing/plans.h"
#include "minbill/v1/accounts.pb-c.h"
#include "rpc/write.h"

#define MAX_CONTACTS 50

/* Finishes the call with err and returns what a handler returns. */
static int check_address(const Minbill__V1__PostalAddress *a, mb_error *err)
{
    if (a == NULL)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "account.billing_address: required");
    return check_text("account.billing_address.line1", a->line1, 1, 200, err) ||
                   check_text("account.billing_address.line2", a->line2, 0, 200, err) ||
                   check_postal_code("account.billing_address.postal_code", a->postal_code,
                                          err) ||
                   check_text("account.billing_address.city", a->city, 1, 100, err) ||
                   check_country("account.billing_address.country_code", a->country_code,
                                      err)
               ? -1
               : 0;
}

static const char *role_text(Minbill__V1__ContactRole r)
{
    switch (r) {
    case MINBILL__V1__CONTACT_ROLE__CONTACT_ROLE_BILLING: return "billing";
    case MINBILL__V1__CONTACT_ROLE__CONTACT_ROLE_OWNER: return "owner";
    case MINBILL__V1__CONTACT_ROLE__CONTACT_ROLE_TECHNICAL: return "technical";
    default: return NULL;
    }
}

static int check_contact(mb_arena_t *a, const Minbill__V1__Contact *c, size_t i, contact_in *out,
                         mb_error *err)
{
    char field[64];
    char *email = mb_arena_alloc(a, CHECK_EMAIL_SIZE), *phone = mb_arena_alloc(a, CHECK_PHONE_SIZE);
    if (email == NULL || phone == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    email[0] = phone[0] = '\0';
#define FIELD(name) (snprintf(field, sizeof field, "account.contacts[%zu]." name, i), field)
    if (check_id(FIELD("contact_id"), c->contact_id, err) != 0 ||
        check_text(FIELD("name"), c->name, 0, 200, err) != 0 ||
        (c->email[0] != '\0' &&
         check_email(FIELD("email"), c->email, email, CHECK_EMAIL_SIZE, err) != 0) ||
        (c->phone[0] != '\0' &&
         check_phone(FIELD("phone"), c->phone, phone, CHECK_PHONE_SIZE, err) != 0))
        return -1;
    if ((out->role = role_text(c->role)) == NULL)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "%s: must be CONTACT_ROLE_BILLING, _OWNER or _TECHNICAL", FIELD("role"));
#undef FIELD
    out->contact_id = c->contact_id;
    out->name = c->name;
    out->email = email;
    out->phone = phone;
    return 0;
}

int accounts_check(mb_arena_t *a, const Minbill__V1__Account *acc, account_in *in, mb_error *err)
{
    if (acc == NULL)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT, "account: required");
    char *vat = mb_arena_alloc(a, CHECK_VAT_ID_SIZE);
    if (vat == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    vat[0] = '\0';
    if (check_id("account.account_id", acc->account_id, err) != 0 ||
        check_text("account.legal_name", acc->legal_name, 1, 200, err) != 0 ||
        check_address(acc->billing_address, err) != 0 ||
        (acc->vat_id[0] != '\0' &&
         check_vat_id("account.vat_id", acc->vat_id, acc->billing_address->country_code,
                      "billing_address.country_code", vat, CHECK_VAT_ID_SIZE, err) != 0) ||
        check_currency("account.currency", acc->currency, err) != 0 ||
        (acc->plan_id[0] != '\0' && check_id("account.plan_id", acc->plan_id, err) != 0))
        return -1;
    if (acc->n_contacts > MAX_CONTACTS)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "account.contacts: at most %d contacts per request", MAX_CONTACTS);
    in->contacts = mb_arena_alloc(a, (acc->n_contacts ? acc->n_contacts : 1) * sizeof *in->contacts);
    if (in->contacts == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    for (size_t i = 0; i < acc->n_contacts; i++) {
        if (check_contact(a, acc->contacts[i], i, &in->contacts[i], err) != 0)
            return -1;
        for (size_t j = 0; j < i; j++)
            if (strcmp(in->contacts[j].contact_id, in->contacts[i].contact_id) == 0)
                return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                                    "account.contacts[%zu].contact_id: duplicates contacts[%zu]",
                                    i, j);
    }
    in->n_contacts = acc->n_contacts;
    in->account_id = acc->account_id;
    in->legal_name = acc->legal_name;
    in->address = acc->billing_address;
    in->vat_id = vat;
    in->currency = acc->currency;
    in->plan_id = acc->plan_id;
    return 0;
}

/* The masked account, read inside the write transaction for the answer. */
static int answer_masked(store_conn_t *conn, rpc_call_t *call, const char *account_id,
                         ProtobufCMessage **resp, mb_error *err)
{
    Minbill__V1__Account *acc;
    if (account_store_read(conn, ((mb_app *)rpc_call_app(call))->keyring, account_id,
                           ACCOUNT_VIEW_MASKED, rpc_call_arena(call), &acc, err) != 0)
        return -1;
    *resp = &acc->base;
    return 0;
}

static int upsert_run(store_conn_t *conn, rpc_call_t *call, void *arg, ProtobufCMessage **resp,
                      mb_error *err)
{
    const account_in *in = arg;
    if ((in->plan_id[0] != '\0' &&
         plan_check_for_account(conn, in->plan_id, in->currency, err) != 0) ||
        account_store_upsert(conn, ((mb_app *)rpc_call_app(call))->keyring, in, err) != 0)
        return -1;
    return answer_masked(conn, call, in->account_id, resp, err);
}

int accounts_upsert(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Minbill__V1__UpsertAccountRequest *req = (const void *)msg;
    mb_error err;
    account_in *in = mb_arena_alloc(rpc_call_arena(call), sizeof *in);
    if (in == NULL)
        return rpc_call_fail(call, &(mb_error){GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory"});
    if (accounts_check(rpc_call_arena(call), req->account, in, &err) != 0)
        return rpc_call_fail(call, &err);
    rpc_call_write(call, ((mb_app *)rpc_call_app(call))->store, upsert_run, in);
    return RPC_CONTINUE;
}

static int remove_run(store_conn_t *conn, rpc_call_t *call, void *arg, ProtobufCMessage **resp,
                      mb_error *err)
{
    const Minbill__V1__RemoveContactRequest *req = arg;
    if (account_store_remove_contact(conn, req->account_id, req->contact_id, err) != 0 ||
        audit_call_append(conn, call, "contact.remove", req->account_id, req->contact_id,
                     "data minimisation", NULL, err) != 0)
        return -1;
    return answer_masked(conn, call, req->account_id, resp, err);
}

int accounts_remove_contact(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Minbill__V1__RemoveContactRequest *req = (const void *)msg;
    mb_error err;
    if (check_id("account_id", req->account_id, &err) != 0 ||
        check_id("contact_id", req->contact_id, &err) != 0)
        return rpc_call_fail(call, &err);
    rpc_call_write(call, ((mb_app *)rpc_call_app(call))->store, remove_run, (void *)req);
    return RPC_CONTINUE;
}

static int close_run(store_conn_t *conn, rpc_call_t *call, void *arg, ProtobufCMessage **resp,
                     mb_error *err)
{
    const Minbill__V1__CloseAccountRequest *req = arg;
    if (account_store_close(conn, req->account_id, err) != 0 ||
        audit_call_append(conn, call, "account.close", req->account_id, NULL, "account lifecycle",
                     NULL, err) != 0)
        return -1;
    return answer_masked(conn, call, req->account_id, resp, err);
}

int accounts_close(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Minbill__V1__CloseAccountRequest *req = (const void *)msg;
    mb_error err;
    if (check_id("account_id", req->account_id, &err) != 0)
        return rpc_call_fail(call, &err);
    rpc_call_write(call, ((mb_app *)rpc_call_app(call))->store, close_run, (void *)req);
    return RPC_CONTINUE;
}

typedef struct reveal {
    const char *account_id;
    Minbill__V1__Account *account;
} reveal;

/* The revealed data leaves only once its audit event is committed. */
static int reveal_run(store_conn_t *conn, rpc_call_t *call, void *arg, ProtobufCMessage **resp,
                      mb_error *err)
{
    reveal *r = arg;
    if (audit_call_append(conn, call, "account.reveal", r->account_id, NULL, "privacy reveal", NULL,
                     err) != 0)
        return -1;
    *resp = &r->account->base;
    return 0;
}

typedef struct get_args {
    keyring_t *kr;
    const char *account_id;
    account_view view;
    mb_arena_t *arena;
    Minbill__V1__Account *out;
} get_args;

static int get_read(store_conn_t *conn, void *arg, mb_error *err)
{
    get_args *g = arg;
    return account_store_read(conn, g->kr, g->account_id, g->view, g->arena, &g->out, err);
}

int accounts_get(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Minbill__V1__GetAccountRequest *req = (const void *)msg;
    mb_app *app = rpc_call_app(call);
    mb_error err;
    if (check_id("account_id", req->account_id, &err) != 0)
        return rpc_call_fail(call, &err);
    /* The contract: reveal is honoured for the privacy role only; support
     * and finance asking for it get the masked account, and since nothing
     * is revealed, nothing is audited. */
    bool full = req->reveal && rpc_call_identity(call)->role == ROLE_PRIVACY;
    /* Masked reads use the support purpose's connection, reveals the export
     * purpose's: each can read only what its view needs. */
    int purpose = full ? PURPOSE_EXPORT : PURPOSE_SUPPORT;
    /* The account row and its contacts (a count, then the rows) are read
     * in one snapshot, so a contact added meanwhile cannot overrun it. */
    get_args g = {.kr = app->keyring,
                  .account_id = req->account_id,
                  .view = full ? ACCOUNT_VIEW_FULL : ACCOUNT_VIEW_MASKED,
                  .arena = rpc_call_arena(call)};
    if (store_read_for(app->store, purpose, get_read, &g, &err) != 0)
        return rpc_call_fail(call, &err);
    Minbill__V1__Account *acc = g.out;
    if (!full) {
        rpc_call_finish(call, &acc->base, NULL);
        return RPC_CONTINUE;
    }
    reveal *r = mb_arena_alloc(rpc_call_arena(call), sizeof *r);
    if (r == NULL)
        return rpc_call_fail(call, &(mb_error){GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory"});
    *r = (reveal){.account_id = req->account_id, .account = acc};
    rpc_call_write(call, app->store, reveal_run, r);
    return RPC_CONTINUE;
}
