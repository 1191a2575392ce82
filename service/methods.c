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
#include "invoicing/billing.h"
#include "invoicing/invoices.h"
#include "invoicing/plans.h"
#include "metering/metering.h"
#include "privacy/export.h"

#include "minbill/v1/accounts.pb-c.h"
#include "minbill/v1/audit.pb-c.h"
#include "grpc/health/v1/health.pb-c.h"
#include "minbill/v1/invoicing.pb-c.h"
#include "minbill/v1/metering.pb-c.h"
#include "minbill/v1/privacy.pb-c.h"
#include "privacy/erase.h"
#include "privacy/rectify.h"
#include "privacy/requests.h"
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

/* A built unary method. */
#define UNARY(p, req, r, fn) {.path = p, .kind = RPC_UNARY, .request = req, .roles = r, .on_message = fn}

/* Server reflection, anonymous and bidi-streaming. */
#define REFLECTION(p)                                                                            \
    {.path = p,                                                                                  \
     .kind = RPC_BIDI_STREAMING,                                                                 \
     .request = &grpc__reflection__v1__server_reflection_request__descriptor,                    \
     .roles = ANYONE,                                                                            \
     .on_message = reflection_on_message,                                                        \
     .on_end = reflection_on_end,                                                                \
     .on_cancel = reflection_on_cancel}


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
    REFLECTION("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
    REFLECTION("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo"),

    UNARY("/minbill.v1.Metering/RecordUsage", D(record_usage_request), PLATFORM, metering_record_usage),
    {.path = "/minbill.v1.Metering/StreamUsage",
     .kind = RPC_CLIENT_STREAMING,
     .request = D(record_usage_request),
     .roles = PLATFORM,
     .on_message = metering_stream_usage,
     .on_end = metering_stream_end,
     .on_cancel = metering_stream_cancel},
    UNARY("/minbill.v1.Metering/GetUsage", D(get_usage_request), FINANCE | SUPPORT, metering_get_usage),

    UNARY("/minbill.v1.Accounts/UpsertAccount", D(upsert_account_request), PLATFORM, accounts_upsert),
    UNARY("/minbill.v1.Accounts/RemoveContact", D(remove_contact_request), PLATFORM, accounts_remove_contact),
    UNARY("/minbill.v1.Accounts/GetAccount", D(get_account_request), FINANCE | SUPPORT | PRIVACY, accounts_get),
    UNARY("/minbill.v1.Accounts/CloseAccount", D(close_account_request), PLATFORM, accounts_close),
    UNARY("/minbill.v1.Accounts/AttachPaymentMethod", D(attach_payment_method_request), PLATFORM, payments_attach),
    UNARY("/minbill.v1.Accounts/ListPaymentMethods", D(list_payment_methods_request), FINANCE | SUPPORT, payments_list),
    UNARY("/minbill.v1.Accounts/DetachPaymentMethod", D(detach_payment_method_request), PLATFORM, payments_detach),
    UNARY("/minbill.v1.Accounts/SetDefaultPaymentMethod", D(set_default_payment_method_request), PLATFORM, payments_set_default),
    UNARY("/minbill.v1.Accounts/RevealPaymentMethod", D(reveal_payment_method_request), PAYMENTS, payments_reveal),

    UNARY("/minbill.v1.Invoicing/UpsertPlan", D(plan), ADMIN | FINANCE, plans_upsert),
    UNARY("/minbill.v1.Invoicing/GetPlan", D(get_plan_request), ADMIN | FINANCE, plans_get),
    UNARY("/minbill.v1.Invoicing/ListPlans", D(list_plans_request), ADMIN | FINANCE, plans_list),
    /* A billing run takes seconds: it runs on a job thread. */
    {.path = "/minbill.v1.Invoicing/RunBilling",
     .kind = RPC_SERVER_STREAMING,
     .request = D(run_billing_request),
     .roles = FINANCE,
     .on_message = billing_run,
     .job = true},
    UNARY("/minbill.v1.Invoicing/GetInvoice", D(get_invoice_request), FINANCE | SUPPORT, invoices_get),
    UNARY("/minbill.v1.Invoicing/ListInvoices", D(list_invoices_request), FINANCE | SUPPORT, invoices_list),
    UNARY("/minbill.v1.Invoicing/RenderInvoice", D(render_invoice_request), FINANCE, invoices_render),
    UNARY("/minbill.v1.Invoicing/IssueCreditNote", D(issue_credit_note_request), FINANCE, invoices_credit),

    UNARY("/minbill.v1.Privacy/OpenSubjectRequest", D(open_subject_request_request), PRIVACY | SUPPORT, privacy_open),
    /* An export streams the subject's whole history: a job thread. */
    {.path = "/minbill.v1.Privacy/ExportSubjectData",
     .kind = RPC_SERVER_STREAMING,
     .request = D(export_subject_data_request),
     .roles = PRIVACY,
     .on_message = privacy_export,
     .job = true},
    UNARY("/minbill.v1.Privacy/RectifySubject", D(rectify_subject_request), PRIVACY, privacy_rectify),
    /* An erasure of a large account writes in many short jobs. */
    {.path = "/minbill.v1.Privacy/EraseSubject",
     .kind = RPC_UNARY,
     .request = D(erase_subject_request),
     .roles = PRIVACY,
     .on_message = privacy_erase,
     .job = true},
    UNARY("/minbill.v1.Privacy/RestrictSubject", D(restrict_subject_request), PRIVACY, privacy_restrict),
    UNARY("/minbill.v1.Privacy/ListSubjectRequests", D(list_subject_requests_request), PRIVACY, privacy_list),
    UNARY("/minbill.v1.Privacy/GetSubjectRequest", D(get_subject_request_request), PRIVACY, privacy_get),
    UNARY("/minbill.v1.Privacy/CompleteSubjectRequest", D(complete_subject_request_request), PRIVACY, privacy_complete),
    UNARY("/minbill.v1.Privacy/RejectSubjectRequest", D(reject_subject_request_request), PRIVACY, privacy_reject),
    UNARY("/minbill.v1.Privacy/ExtendSubjectRequest", D(extend_subject_request_request), PRIVACY, privacy_extend),

    UNARY("/minbill.v1.Audit/ListAuditEvents", D(list_audit_events_request), PRIVACY, audit_rpc_list),
    UNARY("/minbill.v1.Audit/VerifyAuditChain", D(verify_audit_chain_request), PRIVACY, audit_rpc_verify),
};

const size_t mb_methods_count = sizeof mb_methods / sizeof mb_methods[0];
