/*
 * write.h - the common shape of a unary RPC that writes: run a function in
 * the group-commit writer, answer after the commit.
 *
 * The handler validates on its completion-queue thread, then calls
 * rpc_call_write(); fn runs on the writer thread inside the group
 * transaction (in its own savepoint) and builds the response in the call's
 * arena; the call is finished once the transaction committed, or with fn's
 * error (its changes rolled back), or with the commit's error. The call's
 * deadline is the job's deadline.
 */
#ifndef MB_RPC_WRITE_H
#define MB_RPC_WRITE_H

#include "rpc/server.h"
#include "store/store.h"

typedef int (*rpc_write_fn)(store_conn_t *conn, rpc_call_t *call, void *arg,
                            ProtobufCMessage **resp, mb_error *err);

/* Always finishes the call, now (queueing failed) or after the commit. */
void rpc_call_write(rpc_call_t *call, store_t *store, rpc_write_fn fn, void *arg);

#endif
