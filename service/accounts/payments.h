/*
 * payments.h - payment tokenisation: AttachPaymentMethod, ListPaymentMethods,
 * DetachPaymentMethod, SetDefaultPaymentMethod, RevealPaymentMethod.
 *
 * A PAN or IBAN enters minbill only through Attach and leaves only through
 * Reveal (payments role, a stated purpose, audited before the number is
 * sent). In between it exists only sealed in payment_vault under the payment
 * method's own data key; every other answer carries the random token and
 * clear metadata. Clear numbers are held in secure memory (locked, never
 * dumped, wiped on free: crypto/secmem.h). This module never logs, and
 * never puts in an error, any part of a number.
 */
#ifndef MB_PAYMENTS_H
#define MB_PAYMENTS_H

#include "rpc/server.h"

int payments_attach(rpc_call_t *call, const ProtobufCMessage *req);
int payments_list(rpc_call_t *call, const ProtobufCMessage *req);
int payments_detach(rpc_call_t *call, const ProtobufCMessage *req);
int payments_set_default(rpc_call_t *call, const ProtobufCMessage *req);
int payments_reveal(rpc_call_t *call, const ProtobufCMessage *req);

#endif
