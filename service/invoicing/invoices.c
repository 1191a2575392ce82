/*
 * invoices.c - see invoices.h.
 */
#include "invoicing/invoices.h"

#include <stdio.h>
#include <string.h>

#include "app.h"
#include "audit/audit_rpc.h"
#include "base/check.h"
#include "base/clock.h"
#include "base/period.h"
#include "crypto/dek.h"
#include "inventory/inventory.h"
#include "invoicing/invoice_build.h"
#include "invoicing/invoice_json.h"
#include "invoicing/invoice_store.h"
#include "invoicing/ubl.h"
#include "rpc/write.h"

/* Invoice numbers are "<prefix>-<year>-<6 digits>": letters, digits and
 * hyphens only. */
static int check_number(const char *field, const char *s, mb_error *err)
{
    return check_ascii(field, s, 1, INVOICE_NUMBER_SIZE - 1, "-",
                       "may only contain letters, digits and '-'", err);
}

static bool is_support(rpc_call_t *call)
{
    return rpc_call_identity(call)->role == ROLE_SUPPORT;
}

static int purpose_of(rpc_call_t *call)
{
    return is_support(call) ? PURPOSE_SUPPORT : PURPOSE_INVOICING;
}

/* Support recognises an invoice by its parties' names; the buyer's address
 * and VAT id stay with finance. */
static void view_for(rpc_call_t *call, Minbill__V1__Invoice *inv)
{
    if (!is_support(call) || inv->buyer == NULL)
        return;
    inv->buyer->address = NULL;
    inv->buyer->vat_id = "";
    inv->buyer->electronic_address = "";
    inv->buyer->electronic_address_scheme = "";
}

typedef struct load_args {
    rpc_call_t *call;
    const char *number;
    Minbill__V1__Invoice *out;
} load_args;

static int load_read(store_conn_t *conn, void *arg, mb_error *err)
{
    load_args *l = arg;
    return invoice_store_load(conn, ((mb_app *)rpc_call_app(l->call))->keyring,
                              rpc_call_arena(l->call), l->number, &l->out, err);
}

static int load(rpc_call_t *call, const char *number, Minbill__V1__Invoice **out, mb_error *err)
{
    if (check_number("invoice_number", number, err) != 0)
        return -1;
    load_args l = {.call = call, .number = number};
    if (store_read_for(((mb_app *)rpc_call_app(call))->store, purpose_of(call), load_read, &l,
                       err) != 0)
        return -1;
    *out = l.out;
    return 0;
}

int invoices_get(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Minbill__V1__GetInvoiceRequest *req = (const void *)msg;
    mb_error err;
    Minbill__V1__Invoice *inv;
    if (load(call, req->invoice_number, &inv, &err) != 0)
        return rpc_call_fail(call, &err);
    view_for(call, inv);
    rpc_call_finish(call, &inv->base, NULL);
    return RPC_CONTINUE;
}

typedef struct list_args {
    rpc_call_t *call;
    const Minbill__V1__ListInvoicesRequest *req;
    size_t limit;
    Minbill__V1__ListInvoicesResponse *resp;
} list_args;

static int list_read(store_conn_t *conn, void *arg, mb_error *err)
{
    list_args *l = arg;
    mb_arena_t *a = rpc_call_arena(l->call);
    bool more;
    size_t n;
    Minbill__V1__Invoice **list;
    if (invoice_store_list(conn, ((mb_app *)rpc_call_app(l->call))->keyring, a,
                           l->req->account_id, l->req->period, l->req->page_token, l->limit,
                           &list, &n, &more, err) != 0)
        return -1;
    for (size_t i = 0; i < n; i++)
        view_for(l->call, list[i]);
    l->resp->invoices = list;
    l->resp->n_invoices = n;
    /* The token is the last number shown: numbers are not secret, and a
     * page boundary by number stays right while documents are issued. */
    if (more && n > 0)
        l->resp->next_page_token = list[n - 1]->invoice_number;
    return 0;
}

int invoices_list(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Minbill__V1__ListInvoicesRequest *req = (const void *)msg;
    mb_error err;
    if ((req->account_id[0] != '\0' && check_id("account_id", req->account_id, &err) != 0) ||
        (req->period[0] != '\0' && period_check("period", req->period, &err) != 0) ||
        (req->page_token[0] != '\0' && check_number("page_token", req->page_token, &err) != 0))
        return rpc_call_fail(call, &err);
    if (req->page_size < 0 || req->page_size > INVOICE_LIST_MAX) {
        mb_error_set(&err, GRPC_STATUS_INVALID_ARGUMENT, "page_size: must be 0..%d",
                     INVOICE_LIST_MAX);
        return rpc_call_fail(call, &err);
    }
    Minbill__V1__ListInvoicesResponse *resp = mb_arena_alloc(rpc_call_arena(call), sizeof *resp);
    if (resp == NULL) {
        mb_error_set(&err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return rpc_call_fail(call, &err);
    }
    minbill__v1__list_invoices_response__init(resp);
    list_args l = {.call = call,
                   .req = req,
                   .limit = req->page_size > 0 ? (size_t)req->page_size : INVOICE_LIST_DEFAULT,
                   .resp = resp};
    if (store_read_for(((mb_app *)rpc_call_app(call))->store, purpose_of(call), list_read, &l,
                       &err) != 0)
        return rpc_call_fail(call, &err);
    rpc_call_finish(call, &resp->base, NULL);
    return RPC_CONTINUE;
}

int invoices_render(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Minbill__V1__RenderInvoiceRequest *req = (const void *)msg;
    mb_error err;
    bool ubl = req->format == MINBILL__V1__INVOICE_FORMAT__INVOICE_FORMAT_UBL;
    if (!ubl && req->format != MINBILL__V1__INVOICE_FORMAT__INVOICE_FORMAT_JSON) {
        mb_error_set(&err, GRPC_STATUS_INVALID_ARGUMENT,
                     "format: must be INVOICE_FORMAT_JSON or INVOICE_FORMAT_UBL");
        return rpc_call_fail(call, &err);
    }
    Minbill__V1__Invoice *inv;
    if (load(call, req->invoice_number, &inv, &err) != 0)
        return rpc_call_fail(call, &err);
    mb_arena_t *a = rpc_call_arena(call);
    char *doc;
    size_t len;
    if ((ubl ? ubl_render(a, inv, &doc, &len, &err) : invoice_json_render(a, inv, &doc, &len, &err)) !=
        0)
        return rpc_call_fail(call, &err);
    Minbill__V1__RenderedInvoice resp = MINBILL__V1__RENDERED_INVOICE__INIT;
    resp.content_type = ubl ? "application/xml" : "application/json";
    resp.content.data = (uint8_t *)doc;
    resp.content.len = len;
    resp.invoice_number = inv->invoice_number;
    resp.format = req->format;
    rpc_call_finish(call, &resp.base, NULL);
    return RPC_CONTINUE;
}

typedef struct credit_args {
    Minbill__V1__Invoice *cn;
    char cls[32], retain_until[11];
} credit_args;

static int credit_run(store_conn_t *conn, rpc_call_t *call, void *arg, ProtobufCMessage **resp,
                      mb_error *err)
{
    credit_args *c = arg;
    mb_app *app = rpc_call_app(call);
    dek key;
    if (dek_for_class(conn, app->keyring, c->cls, c->retain_until, &key, err) != 0)
        return -1;
    invoice_issue_in in = {.inv = c->cn,
                           .prefix = app->seller->credit_note_prefix,
                           .class_key = &key,
                           .retention_class = c->cls,
                           .retain_until = c->retain_until};
    char existing[INVOICE_NUMBER_SIZE];
    int ret = invoice_store_issue(conn, &in, existing, err);
    dek_release(&key);
    if (ret < 0 || audit_call_append(conn, call, "invoice.credit", c->cn->account_id,
                                     c->cn->invoice_number, c->cn->original_invoice_number, NULL,
                                     err) != 0)
        return -1;
    *resp = &c->cn->base;
    return 0;
}

int invoices_credit(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Minbill__V1__IssueCreditNoteRequest *req = (const void *)msg;
    mb_app *app = rpc_call_app(call);
    mb_error err;
    if (app->seller == NULL) {
        mb_error_set(&err, GRPC_STATUS_FAILED_PRECONDITION,
                     "the seller is not configured: start minbilld with --seller-config FILE");
        return rpc_call_fail(call, &err);
    }
    if (check_stored_text("reason", req->reason, 1, CREDIT_REASON_MAX, &err) != 0)
        return rpc_call_fail(call, &err);
    Minbill__V1__Invoice *orig;
    if (load(call, req->invoice_number, &orig, &err) != 0)
        return rpc_call_fail(call, &err);
    if (orig->type != MINBILL__V1__INVOICE_TYPE__INVOICE_TYPE_INVOICE) {
        mb_error_set(&err, GRPC_STATUS_FAILED_PRECONDITION,
                     "invoice_number: is a credit note; only invoices can be credited");
        return rpc_call_fail(call, &err);
    }
    if (orig->status == MINBILL__V1__INVOICE_STATUS__INVOICE_STATUS_CREDITED) {
        mb_error_set(&err, GRPC_STATUS_ALREADY_EXISTS,
                     "invoice_number: the invoice has a credit note already");
        return rpc_call_fail(call, &err);
    }
    mb_arena_t *a = rpc_call_arena(call);
    credit_args *c = mb_arena_alloc(a, sizeof *c);
    char *today = mb_arena_alloc(a, 11);
    if (c == NULL || today == NULL) {
        mb_error_set(&err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return rpc_call_fail(call, &err);
    }
    mb_today_utc(today);
    invoice_retention(app->seller, today, c->cls, c->retain_until);
    if (invoice_build_credit_note(a, orig, req->reason, today, &c->cn, &err) != 0)
        return rpc_call_fail(call, &err);
    rpc_call_write(call, app->store, credit_run, c);
    return RPC_CONTINUE;
}
