/*
 * reflection.h - grpc.reflection.v1 and v1alpha ServerReflection, so that
 * generic tools (grpcurl, Postman, grpcui) can list minbill's services and
 * call them without a copy of proto/.
 *
 * Answers come from the FileDescriptorSet protoc wrote at build time
 * (every served .proto and its imports), indexed once at start-up.
 */
#ifndef MB_RPC_REFLECTION_H
#define MB_RPC_REFLECTION_H

#include "base/error.h"
#include "rpc/server.h"

typedef struct reflection reflection_t;

int reflection_new(reflection_t **out, mb_error *err);
void reflection_free(reflection_t *r);

/* Bidi-streaming handlers (they find the reflection_t in the mb_app). */
int reflection_on_message(rpc_call_t *call, const ProtobufCMessage *req);
void reflection_on_end(rpc_call_t *call);
void reflection_on_cancel(rpc_call_t *call);

#endif
