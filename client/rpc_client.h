/*
 * rpc_client.h - a small synchronous gRPC client over the C core.
 *
 * Used by the `minbill` tool, the integration tests and the benchmarks, so
 * there is one way to make a call. Every call gets its own pluck queue and
 * blocks until its batch completes; that is plenty for a command-line tool
 * and makes test code read top to bottom.
 *
 * Status: every function fills an mb_error with the call's gRPC status code
 * and the server's message (code OK on success).
 */
#ifndef MB_RPC_CLIENT_H
#define MB_RPC_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "base/error.h"

typedef struct mbc_channel mbc_channel_t;
typedef struct mbc_call mbc_call_t;

/* Calls grpc_init() (balanced by mbc_channel_free). target: "host:port". */
mbc_channel_t *mbc_channel_new(const char *target);

/* TLS to a server whose certificate ca_pem signed (NULL: the system's
 * roots); with cert_pem and key_pem, presenting that client certificate
 * (minbilld --tls-client-ca, keys allow-client). PEM text; needed only for
 * the call. */
typedef struct mbc_tls {
    const char *ca_pem, *cert_pem, *key_pem;
} mbc_tls;
mbc_channel_t *mbc_channel_new_tls(const char *target, const mbc_tls *tls);
void mbc_channel_free(mbc_channel_t *ch);

/* 0 once the channel is connected; -1 if the connection failed (refused,
 * unresolvable) or did not succeed in time. */
int mbc_channel_wait_ready(mbc_channel_t *ch, int timeout_ms);

/* One unary call with raw bytes. *resp (malloc'd, caller frees) receives the
 * response on OK. api_key may be NULL. Returns 0 on OK, -1 otherwise. */
int mbc_unary_raw(mbc_channel_t *ch, const char *method, const char *api_key, const void *req,
                  size_t req_len, int timeout_ms, uint8_t **resp, size_t *resp_len,
                  mb_error *status);

/* One unary call with protobuf-c messages; *resp is freed with
 * protobuf_c_message_free_unpacked(*resp, NULL). */
int mbc_unary(mbc_channel_t *ch, const char *method, const char *api_key,
              const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
              int timeout_ms, ProtobufCMessage **resp, mb_error *status);

/* Streaming calls, one step at a time. */
mbc_call_t *mbc_call_start(mbc_channel_t *ch, const char *method, const char *api_key,
                           int timeout_ms);
/* A call that sends one request and reads a stream back: starts it, sends
 * req and half-closes. NULL only if it could not start; a failed send shows
 * in mbc_call_recv and mbc_call_finish like any other failure of the call. */
mbc_call_t *mbc_call_start_request(mbc_channel_t *ch, const char *method, const char *api_key,
                                   int timeout_ms, const ProtobufCMessage *req);
/* Sends one message (bytes). -1 if the call has failed (see mbc_call_finish). */
int mbc_call_send(mbc_call_t *call, const void *msg, size_t len);
int mbc_call_send_msg(mbc_call_t *call, const ProtobufCMessage *msg);
/* Half-closes the sending side. */
int mbc_call_close_send(mbc_call_t *call);
/* 1: a message arrived (*msg malloc'd); 0: the server ended the stream;
 * -1: the call failed. */
int mbc_call_recv(mbc_call_t *call, uint8_t **msg, size_t *len);
/* Waits for the status; returns 0 if OK. Frees nothing. */
int mbc_call_finish(mbc_call_t *call, mb_error *status);
/* Cancels the call if still running and frees it. */
void mbc_call_free(mbc_call_t *call);

#endif
