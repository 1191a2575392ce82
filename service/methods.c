/*
 * methods.c - see methods.h.
 *
 * A method whose handler is NULL is part of the contract but not built yet:
 * the runtime authenticates and authorizes the call, then answers
 * UNIMPLEMENTED. Roles follow api.md: deny by default, so a role not listed
 * here gets PERMISSION_DENIED.
 */
#include "methods.h"

#include "accounts/accounts.h"
#include "accounts/payments.h"
#include "audit/audit_rpc.h"

#include "minbill/v1/accounts.pb-c.h"
#include "minbill/v1/audit.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"
#include "minbill/v1/invoicing.pb-c.h"
#include "minbill/v1/metering.pb-c.h"
#include "minbill/v1/privacy.pb-c.h"
#include "grpc/reflection/v1/reflection.pb-c.h"
#include "rpc/health.h"
#include "rpc/reflection.h"

#define D(name) &minbill__v1__##name##__descriptor

enum {
    PLATFORM = ROLE_PLATFORM,
    FINANCE = ROLE_FINANCE,
    SUPPORT = ROLE_SUPPORT,
    PAYMENTS = ROLE_PAYMENTS,
    PRIVACY = ROLE_PRIVACY,
    ADMIN = ROLE_ADMIN,
    ANYONE = ROLE_ANONYMOUS,
};

/* A contract method whose capability is not built yet. */
#define PLANNED(p, k, req, r) {.path = p, .kind = k, .request = req, .roles = r}

const rpc_method mb_methods[] = {
    {.path = "/grpc.health.v1.Health/Check",
     .kind = RPC_UNARY,
     .request = &grpc__health__v1__health_check_request__descriptor,
     .roles = ANYONE,
     .on_message = health_check},
    {.path = "/grpc.health.v1.Health/Watch",
     .kind = RPC_SERVER_STREAMING,
     .request = &grpc__health__v1__health_check_request__descriptor,
     .roles = ANYONE,
     .on_message = health_watch,
     .on_cancel = health_watch_cancel},
    /* v1alpha's messages are v1's on the wire; generic clients try both. */
    {.path = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
     .kind = RPC_BIDI_STREAMING,
     .request = &grpc__reflection__v1__server_reflection_request__descriptor,
     .roles = ANYONE,
     .on_message = reflection_on_message,
     .on_end = reflection_on_end,
     .on_cancel = reflection_on_cancel},
    {.path = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
     .kind = RPC_BIDI_STREAMING,
     .request = &grpc__reflection__v1__server_reflection_request__descriptor,
     .roles = ANYONE,
     .on_message = reflection_on_message,
     .on_end = reflection_on_end,
     .on_cancel = reflection_on_cancel},

    PLANNED("/minbill.v1.Metering/RecordUsage", RPC_UNARY, D(record_usage_request), PLATFORM),
    PLANNED("/minbill.v1.Metering/StreamUsage", RPC_CLIENT_STREAMING, D(record_usage_request), PLATFORM),
    PLANNED("/minbill.v1.Metering/GetUsage", RPC_UNARY, D(get_usage_request), FINANCE | SUPPORT),

    {.path = "/minbill.v1.Accounts/UpsertAccount",
     .kind = RPC_UNARY,
     .request = D(upsert_account_request),
     .roles = PLATFORM,
     .on_message = accounts_upsert},
    {.path = "/minbill.v1.Accounts/RemoveContact",
     .kind = RPC_UNARY,
     .request = D(remove_contact_request),
     .roles = PLATFORM,
     .on_message = accounts_remove_contact},
    {.path = "/minbill.v1.Accounts/GetAccount",
     .kind = RPC_UNARY,
     .request = D(get_account_request),
     .roles = FINANCE | SUPPORT | PRIVACY,
     .on_message = accounts_get},
    {.path = "/minbill.v1.Accounts/CloseAccount",
     .kind = RPC_UNARY,
     .request = D(close_account_request),
     .roles = PLATFORM,
     .on_message = accounts_close},
    {.path = "/minbill.v1.Accounts/AttachPaymentMethod",
     .kind = RPC_UNARY,
     .request = D(attach_payment_method_request),
     .roles = PLATFORM,
     .on_message = payments_attach},
    {.path = "/minbill.v1.Accounts/ListPaymentMethods",
     .kind = RPC_UNARY,
     .request = D(list_payment_methods_request),
     .roles = FINANCE | SUPPORT,
     .on_message = payments_list},
    {.path = "/minbill.v1.Accounts/DetachPaymentMethod",
     .kind = RPC_UNARY,
     .request = D(detach_payment_method_request),
     .roles = PLATFORM,
     .on_message = payments_detach},
    {.path = "/minbill.v1.Accounts/SetDefaultPaymentMethod",
     .kind = RPC_UNARY,
     .request = D(set_default_payment_method_request),
     .roles = PLATFORM,
     .on_message = payments_set_default},
    {.path = "/minbill.v1.Accounts/RevealPaymentMethod",
     .kind = RPC_UNARY,
     .request = D(reveal_payment_method_request),
     .roles = PAYMENTS,
     .on_message = payments_reveal},

    PLANNED("/minbill.v1.Invoicing/UpsertPlan", RPC_UNARY, D(plan), ADMIN | FINANCE),
    PLANNED("/minbill.v1.Invoicing/RunBilling", RPC_SERVER_STREAMING, D(run_billing_request), FINANCE),
    PLANNED("/minbill.v1.Invoicing/GetInvoice", RPC_UNARY, D(get_invoice_request), FINANCE | SUPPORT),
    PLANNED("/minbill.v1.Invoicing/ListInvoices", RPC_UNARY, D(list_invoices_request), FINANCE | SUPPORT),
    PLANNED("/minbill.v1.Invoicing/RenderInvoice", RPC_UNARY, D(render_invoice_request), FINANCE),
    PLANNED("/minbill.v1.Invoicing/IssueCreditNote", RPC_UNARY, D(issue_credit_note_request), FINANCE),

    PLANNED("/minbill.v1.Privacy/OpenSubjectRequest", RPC_UNARY, D(open_subject_request_request),
     PRIVACY | SUPPORT),
    PLANNED("/minbill.v1.Privacy/ExportSubjectData", RPC_SERVER_STREAMING,
     D(export_subject_data_request), PRIVACY),
    PLANNED("/minbill.v1.Privacy/RectifySubject", RPC_UNARY, D(rectify_subject_request), PRIVACY),
    PLANNED("/minbill.v1.Privacy/EraseSubject", RPC_UNARY, D(erase_subject_request), PRIVACY),
    PLANNED("/minbill.v1.Privacy/RestrictSubject", RPC_UNARY, D(restrict_subject_request), PRIVACY),
    PLANNED("/minbill.v1.Privacy/ListSubjectRequests", RPC_UNARY, D(list_subject_requests_request),
     PRIVACY),

    {.path = "/minbill.v1.Audit/ListAuditEvents",
     .kind = RPC_UNARY,
     .request = D(list_audit_events_request),
     .roles = PRIVACY,
     .on_message = audit_rpc_list},
    {.path = "/minbill.v1.Audit/VerifyAuditChain",
     .kind = RPC_UNARY,
     .request = D(verify_audit_chain_request),
     .roles = PRIVACY,
     .on_message = audit_rpc_verify},
};

const size_t mb_methods_count = sizeof mb_methods / sizeof mb_methods[0];
