/*
 * server.h - the gRPC C-core runtime: listener, completion-queue threads,
 * method table dispatch, call state machines, auth, status and call logs.
 *
 * A handler sees a decoded, size-bounded, UTF-8-checked request from an
 * authenticated caller whose role the method admits; it answers by calling
 * rpc_call_finish() exactly once, either before returning or later from any
 * thread (typically the store writer after a commit). The runtime keeps the
 * call alive until then, even if the client has gone away meanwhile.
 *
 * Never log or put into a status message anything from the request payload:
 * handlers name fields, the runtime logs ids, method, role and status only.
 */
#ifndef MB_RPC_SERVER_H
#define MB_RPC_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

#include "base/clock.h"
#include "base/arena.h"
#include "base/error.h"
#include "rpc/auth.h"
#include "rpc/limits.h"

typedef struct rpc_server rpc_server_t;
typedef struct rpc_call rpc_call_t;

typedef enum { RPC_UNARY, RPC_CLIENT_STREAMING, RPC_SERVER_STREAMING, RPC_BIDI_STREAMING } rpc_kind;

/* on_message return values (client streaming). */
enum { RPC_CONTINUE = 0, RPC_PAUSE = 1 };

typedef struct rpc_method {
    const char *path; /* "/minbill.v1.Accounts/GetAccount" */
    rpc_kind kind;
    const ProtobufCMessageDescriptor *request;
    unsigned roles; /* ROLE_* mask; ROLE_ANONYMOUS: no API key needed */
    /* NULL: the capability is not built yet; the call answers UNIMPLEMENTED
     * (after authentication, so the answer leaks nothing to strangers). */
    int (*on_message)(rpc_call_t *call, const ProtobufCMessage *msg);
    /* Client and bidi streaming: the client half-closed. */
    void (*on_end)(rpc_call_t *call);
    /* Streaming: the call ended (deadline, client cancel, shutdown) before
     * the handler finished. The handler must still call rpc_call_finish().
     * Not used for .job methods: a job sees rpc_call_stopped() instead. */
    void (*on_cancel)(rpc_call_t *call);
    /* on_message runs on one of the server's job threads instead of a
     * completion-queue thread: it may block (store_write_sync, reads of one
     * snapshot, rpc_call_send_wait) and must call rpc_call_finish() exactly
     * once before it returns. When every job thread is busy the call is
     * answered RESOURCE_EXHAUSTED at once ("too many long-running calls in
     * progress; retry later"), before on_message runs. For unary and
     * server-streaming methods. */
    bool job;
} rpc_method;

typedef struct rpc_options {
    const char *listen;         /* host:port; port 0 picks a free one */
    int threads;                /* completion-queue threads */
    size_t max_message_bytes;   /* larger requests: RESOURCE_EXHAUSTED */
    const rpc_method *methods;
    size_t n_methods;
    auth_t *auth;
    /* TLS (PEM text; NULL: plaintext), needed only until rpc_server_start()
     * returns. With a client CA, clients may present a certificate it signed,
     * and one whose identity is allowed (auth_cert_allow) authenticates calls
     * without an API key. */
    const char *tls_cert_pem, *tls_key_pem, *tls_client_ca_pem;
    void *app;                  /* handed to handlers by rpc_call_app() */
    /* Called once when shutdown begins, before in-flight calls are awaited
     * (e.g. to end Health/Watch streams). */
    void (*on_shutdown)(void *app);
    int job_threads; /* threads for methods with .job; 0 means 2 */
    /* Streaming calls (not jobs) open at once; more are answered
     * RESOURCE_EXHAUSTED. 0 means 1000. One connection may open at most 100
     * streams of any kind (HTTP/2 MAX_CONCURRENT_STREAMS). */
    int max_streams;
    /* Calls a second per API key, by role (NULL: rpc_rate_limits_default);
     * methods callable without a key (health) are not limited. */
    const rpc_rate_limits *rate_limits;
} rpc_options;

int rpc_server_start(const rpc_options *opt, rpc_server_t **out, int *bound_port,
                     mb_error *err);

/* Graceful shutdown: stop accepting, make rpc_call_stopped() true for every
 * call, let in-flight calls finish for up to grace_ms, cancel the rest, wait
 * for job handlers to return (they must, promptly), join the threads, free
 * everything. */
void rpc_server_shutdown(rpc_server_t *srv, int grace_ms);

/* --- For handlers --------------------------------------------------------- */

void *rpc_call_app(const rpc_call_t *call);
const auth_identity *rpc_call_identity(const rpc_call_t *call);
const rpc_method *rpc_call_method(const rpc_call_t *call);
/* CLOCK_MONOTONIC nanoseconds (INT64_MAX: none); see mb_mono_ns(). */
int64_t rpc_call_deadline_ns(const rpc_call_t *call);
/* Memory that lives as long as the call. */
mb_arena_t *rpc_call_arena(rpc_call_t *call);
void rpc_call_set_state(rpc_call_t *call, void *state);
void *rpc_call_state(const rpc_call_t *call);

/* Server and bidi streaming: queues one response message. Returns -1 if the
 * call has already ended (the handler should then finish), or if 64
 * messages are already queued behind the one being written: a client that
 * reads that much slower than the stream produces ends it. */
int rpc_call_send(rpc_call_t *call, const ProtobufCMessage *msg);

/* Messages a job may have queued or being written before
 * rpc_call_send_wait() waits. */
#define RPC_SEND_WINDOW 2

/* Job handlers only: queues one message and waits while RPC_SEND_WINDOW (2)
 * messages are still queued or being written, so a slow reader slows the
 * producer and memory stays bounded however long the stream. Returns 0, or
 * -1 once the call has ended (client cancelled, deadline passed, server
 * shutting down): the handler then stops and finishes. */
int rpc_call_send_wait(rpc_call_t *call, const ProtobufCMessage *msg);

/* True once the call was cancelled by the client, its deadline passed, or
 * the server began shutting down: long work checks it between steps. Any
 * thread. */
bool rpc_call_stopped(const rpc_call_t *call);

/* Ends the call: with err == NULL (or code OK) the status is OK and, for
 * unary and client-streaming methods, resp is the response. Exactly once. */
void rpc_call_finish(rpc_call_t *call, const ProtobufCMessage *resp, const mb_error *err);

/* Ends the call with err (not OK) and returns RPC_CONTINUE, so a handler
 * refuses a request with `return rpc_call_fail(call, &err);`. */
int rpc_call_fail(rpc_call_t *call, const mb_error *err);

/* Runs fn(arg) when the call is freed, whatever its outcome: for wiping and
 * freeing secrets a response pointed to (secmem_free of a revealed PAN).
 * Returns -1 (and runs nothing) if out of memory. */
int rpc_call_defer(rpc_call_t *call, void (*fn)(void *arg), void *arg);

/* Client and bidi streaming: reads the next message after on_message
 * paused. */
void rpc_call_resume(rpc_call_t *call);

#endif
