/*
 * health.h - grpc.health.v1.Health: Check and Watch.
 *
 * The server is SERVING from the moment it accepts calls (it only starts
 * listening after migrations ran and the keys loaded) until shutdown begins;
 * then every Watch stream is told NOT_SERVING and ended. While the storage
 * refuses writes (read-only, I/O error, full disk, locked by another
 * process), it is NOT_SERVING too, and SERVING again after a commit. Service names known
 * to Check are "" (the whole server) and every service in the method table.
 */
#ifndef MB_RPC_HEALTH_H
#define MB_RPC_HEALTH_H

#include <stdbool.h>

#include "rpc/server.h"

typedef struct health health_t;

health_t *health_new(const rpc_method *methods, size_t n_methods);
void health_free(health_t *h);

/* Updates the status and tells every watcher. Going to not-serving is final:
 * it ends the Watch streams (shutdown). */
void health_set_serving(health_t *h, bool serving);

/* Whether the storage takes writes (the writer says, see
 * store_watch_writable); tells the watchers when that changes the status. */
void health_set_writable(health_t *h, bool writable);

/* Handlers, for the method table (they find the health_t in the mb_app). */
int health_check(rpc_call_t *call, const ProtobufCMessage *req);
int health_watch(rpc_call_t *call, const ProtobufCMessage *req);
void health_watch_cancel(rpc_call_t *call);

#endif
