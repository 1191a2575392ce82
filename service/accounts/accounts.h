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

#include "accounts/account_store.h"
#include "rpc/server.h"

/* UpsertAccount's validation, pure (no store, clock or call): checks acc
 * whole and fills *in with its normalised form (strings in acc or a). */
int accounts_check(mb_arena_t *a, const Minbill__V1__Account *acc, account_in *in, mb_error *err);

int accounts_upsert(rpc_call_t *call, const ProtobufCMessage *req);
int accounts_remove_contact(rpc_call_t *call, const ProtobufCMessage *req);
int accounts_get(rpc_call_t *call, const ProtobufCMessage *req);
int accounts_close(rpc_call_t *call, const ProtobufCMessage *req);

#endif
