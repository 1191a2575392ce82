/*
 * audit_rpc.h - minbill.v1.Audit: ListAuditEvents and VerifyAuditChain.
 */
#ifndef MB_AUDIT_RPC_H
#define MB_AUDIT_RPC_H

#include "audit/audit.h"
#include "rpc/server.h"
#include "store/store.h"

int audit_rpc_list(rpc_call_t *call, const ProtobufCMessage *req);
int audit_rpc_verify(rpc_call_t *call, const ProtobufCMessage *req);

/* Appends an audit event for an action the caller of `call` performs, inside
 * the writer transaction on conn (see audit_append). */
int audit_call_append(store_conn_t *conn, rpc_call_t *call, const char *action,
                      const char *account_id, const char *target_id, const char *purpose,
                      char *event_id, mb_error *err);

/* The same for any entry (e.g. one that names its request_id): the actor
 * fields are filled from the call's identity. */
int audit_call_append_entry(store_conn_t *conn, rpc_call_t *call, audit_entry *e, char *event_id,
                            mb_error *err);

/* The proto Role of a role bit (shared with other handlers that report
 * roles). */
int audit_role_enum(unsigned role_bit);

#endif
