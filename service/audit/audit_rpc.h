/*
 * audit_rpc.h - minbill.v1.Audit: ListAuditEvents and VerifyAuditChain.
 */
#ifndef MB_AUDIT_RPC_H
#define MB_AUDIT_RPC_H

#include "rpc/server.h"

int audit_rpc_list(rpc_call_t *call, const ProtobufCMessage *req);
int audit_rpc_verify(rpc_call_t *call, const ProtobufCMessage *req);

/* The proto Role of a role bit (shared with other handlers that report
 * roles). */
int audit_role_enum(unsigned role_bit);

#endif
