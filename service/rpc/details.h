/*
 * details.h - rich error details: the serialized google.rpc.Status that the
 * runtime sends in the `grpc-status-details-bin` trailer, so that clients in
 * any language can show which field was wrong.
 *
 * minbill's error messages name the field first ("events[3].quantity: must
 * be positive"); an INVALID_ARGUMENT becomes one google.rpc.BadRequest field
 * violation with field = the part before the first ": " (empty when there
 * is none) and description = the rest. The message is already safe to send
 * (handlers never put payload in it), so nothing new leaves the server.
 */
#ifndef MB_RPC_DETAILS_H
#define MB_RPC_DETAILS_H

#include <stdint.h>

#include <grpc/slice.h>
#include <grpc/status.h>

#define RPC_DETAILS_KEY "grpc-status-details-bin"
#define RPC_BAD_REQUEST_TYPE_URL "type.googleapis.com/google.rpc.BadRequest"

/* The google.rpc.Status for code and msg with a BadRequest detail, as a new
 * slice (the caller unrefs it). */
grpc_slice rpc_details_bad_request(grpc_status_code code, const char *msg);

#endif
