/*
 * accounts.h - minbill.v1.Accounts: UpsertAccount, RemoveContact, GetAccount,
 * CloseAccount (payment methods: payments.h).
 *
 * Handlers turn protobuf into validated, normalised input on the calling
 * thread (INVALID_ARGUMENT naming the field, never echoing a value), write
 * through the group-commit writer and answer after the commit. Responses to
 * the platform and to support show contacts masked; only the privacy role
 * may ask for reveal=true, and every reveal is audited before the data
 * leaves.
 */
#ifndef MB_ACCOUNTS_H
#define MB_ACCOUNTS_H

#include "rpc/server.h"

int accounts_upsert(rpc_call_t *call, const ProtobufCMessage *req);
int accounts_remove_contact(rpc_call_t *call, const ProtobufCMessage *req);
int accounts_get(rpc_call_t *call, const ProtobufCMessage *req);
int accounts_close(rpc_call_t *call, const ProtobufCMessage *req);

#endif
