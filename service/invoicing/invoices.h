/*
 * invoices.h - the issued documents' RPCs: Invoicing.GetInvoice,
 * ListInvoices, RenderInvoice (JSON, EN 16931 UBL) and IssueCreditNote.
 *
 * Reads go through the caller's purpose: finance reads as invoicing,
 * support as support, and support sees an invoice without the buyer's
 * address and VAT id (the account view hides them from support too).
 * A credit note reverses an invoice in full, in its own gap-free series,
 * once; the reason is stored free text and must carry no personal data.
 */
#ifndef MB_INVOICING_INVOICES_H
#define MB_INVOICING_INVOICES_H

#include "rpc/server.h"

#define INVOICE_LIST_DEFAULT 50
#define INVOICE_LIST_MAX 500
#define CREDIT_REASON_MAX 300

int invoices_get(rpc_call_t *call, const ProtobufCMessage *req);
int invoices_list(rpc_call_t *call, const ProtobufCMessage *req);
int invoices_render(rpc_call_t *call, const ProtobufCMessage *req);
int invoices_credit(rpc_call_t *call, const ProtobufCMessage *req);

#endif
