/*
 * server.c - the gRPC C-core runtime (see server.h).
 *
 * Threads: one completion queue per thread, and every call lives on the queue
 * it was accepted on, so all events of one call are handled by one thread, in
 * order. Other threads touch a call only through rpc_call_finish(),
 * rpc_call_send() and rpc_call_resume(); those and every
 * grpc_call_start_batch() happen under the call's mutex, as the core requires
 * for concurrent batches on one call.
 *
 * Lifetime: a call is reference counted. One reference belongs to the handler
 * until it calls rpc_call_finish(); one more is held by each batch in flight,
 * and a temporary one around every handler callback. The call is freed when
 * the count drops to zero, on whichever thread drops it.
 *
 * Accepting: each queue keeps REQUESTS_PER_METHOD requests posted for every
 * registered method plus a few for unknown methods (answered UNIMPLEMENTED,
 * otherwise a client calling a typo would hang until its deadline). A fired
 * request is replaced before the call is processed.
 *
 * Unary calls send everything in one final batch (initial metadata, message,
 * status, close). Streaming calls and jobs post RECV_CLOSE_ON_SERVER at once
 * so that a cancelled call (deadline, client gone, shutdown) is noticed while
 * the handler is waiting for something else.
 *
 * Jobs (methods with .job): the request is decoded and checked here, then the
 * handler runs on a thread of the jobs pool, holding a reference to the call.
 * Running jobs are listed on the server so that shutdown can wake those
 * waiting in rpc_call_send_wait(); the call's `sent` condition is signalled
 * whenever a send completes or the call ends.
 */
#include "rpc/server.h"

#include <dlfcn.h>
#include <malloc.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/alloc.h>
#include <grpc/support/log.h>
#include <grpc/support/time.h>
#include <sodium.h>

#include "base/bucket.h"
#include "base/clock.h"
#include "base/log.h"
#include "metrics/metrics.h"
#include "rpc/details.h"
#include "rpc/jobs.h"
#include "rpc/limits.h"
#include "rpc/wirecheck.h"
#include "store/writer.h"

#define REQUESTS_PER_METHOD 8
#define REQUESTS_UNKNOWN 2
/* Decoding may allocate this many times the wire size before we call the
 * request abusive (protobuf-c amplification, see arena.h). */
#define DECODE_AMPLIFICATION 4
#define METHOD_LOG_MAX 96
/* HTTP/2 streams one connection may have open (advertised in SETTINGS); a
 * client's further calls wait in its own queue, not in our memory. */
#define STREAMS_PER_CONNECTION 100
/* Streaming calls (not jobs) open at once over all connections, by default:
 * each holds a call, its arena and the core's stream state (~16 KiB). */
#define STREAMS_TOTAL 1000
/* Messages rpc_call_send() queues behind the one being written; a stream
 * whose client reads slower than that is ended. */
#define SEND_QUEUE_MAX 64
/* After this many streaming calls were freed, give free heap back to the
 * system: thousands of short-lived streams (a burst of Watch calls) leave
 * their memory in malloc's free lists otherwise, and the daemon's RSS stays
 * at the burst's peak. */
#define STREAMS_PER_TRIM 256
/* Events a completion-queue thread handles before it writes the log lines
 * they made, however busy its queue stays (log.h: what SIGKILL can lose). */
#define PASS_EVENTS 64

typedef enum { TAG_NEW, TAG_RECV, TAG_SEND, TAG_FINAL, TAG_CLOSE, TAG_SHUTDOWN } tag_kind;

typedef struct call_tag {
    rpc_call_t *call;
    tag_kind kind;
} call_tag;

typedef struct deferred {
    struct deferred *next;
    void (*fn)(void *arg);
    void *arg;
} deferred;

typedef struct out_msg {
    struct out_msg *next;
    grpc_byte_buffer *buf;
} out_msg;

struct rpc_call {
    rpc_server_t *srv;
    size_t cq_index;
    long method_index; /* -1: unknown method */
    const rpc_method *method;
    grpc_call *call;
    gpr_timespec deadline;
    grpc_call_details details; /* unknown methods only */
    grpc_metadata_array md;
    grpc_byte_buffer *payload;  /* request of unary / server-streaming calls */
    grpc_byte_buffer *recv_buf; /* client streaming reads */
    grpc_byte_buffer *sending;  /* the message in the send batch in flight */
    out_msg *out_head, *out_tail;
    call_tag t_new, t_recv, t_send, t_final, t_close;
    pthread_mutex_t lock;
    int refs;
    bool handler_done, final_started, initial_md_sent, send_in_flight, ended, cancel_notified;
    int close_cancelled;
    grpc_status_code status;
    char status_msg[MB_ERROR_MSG_MAX];
    grpc_slice status_slice;
    grpc_metadata details_md; /* grpc-status-details-bin of an INVALID_ARGUMENT */
    grpc_byte_buffer *final_resp;
    mb_arena_t *arena;
    mb_arena_t *msg_arena;
    auth_identity who;
    int64_t start_ns, deadline_ns;
    uint64_t rid;
    char path[METHOD_LOG_MAX];
    void *state;
    deferred *deferred;
    bool accepted;         /* counted in srv->in_flight */
    bool stream_counted;   /* counted in srv->streams */
    bool refused;          /* by a limit, before any work: its log line is rate-limited */
    bool started;          /* on_message has been called: on_cancel may be */
    bool close_posted;     /* RECV_CLOSE_ON_SERVER posted on its own */
    size_t n_out;          /* messages on the out list */
    pthread_cond_t sent;   /* a send completed or the call ended (CLOCK_MONOTONIC) */
    ProtobufCMessage *req; /* unary / server streaming: decoded, awaiting the stream's end */
    rpc_call_t *job_prev, *job_next; /* on srv->jobs_running, under srv->lock */
};

struct rpc_server {
    grpc_server *server;
    grpc_completion_queue **cqs;
    pthread_t *threads;
    size_t n_cqs;
    void **registered;
    rpc_options opt;   /* without the TLS PEM texts: the credentials hold copies */
    bool client_certs; /* TLS with a client CA: certificates may authenticate */
    size_t arena_limit;
    atomic_int shutting_down;
    atomic_int in_flight; /* accepted calls not yet freed */
    atomic_int streams;   /* streaming calls (not jobs) not yet freed */
    atomic_uint streams_freed;
    int max_streams;
    atomic_uint_fast64_t next_rid;
    call_tag shutdown_tag;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    bool shutdown_done;
    /* Once the completion queues are being shut down no batch may start:
     * the core asserts when a batch begins on a queue whose shutdown has
     * completed, which an event still queued behind it (a call matched
     * just before the server's shutdown) would otherwise do. Batches start
     * under the read lock; the shutdown sets cqs_closed under the write
     * lock, so a batch either began before (and the queue waits for it) or
     * sees the flag. */
    pthread_rwlock_t cq_gate;
    bool cqs_closed;
    rpc_rate_limits rates;
    rpc_buckets_t *key_buckets; /* by API key id */
    rpc_jobs_t *jobs;           /* NULL when no method is a job */
    rpc_call_t *jobs_running;
};

static void start_final_locked(rpc_call_t *c);

/* Kinds whose requests arrive as a stream of RECV_MESSAGE. */
static bool reads_stream(rpc_kind k)
{
    return k == RPC_CLIENT_STREAMING || k == RPC_BIDI_STREAMING;
}

/* Kinds whose final batch carries the one response message. */
static bool answers_once(rpc_kind k)
{
    return k == RPC_UNARY || k == RPC_CLIENT_STREAMING;
}

/* --- allocation and references ------------------------------------------- */

static rpc_call_t *call_new(rpc_server_t *srv, size_t cq_index, long method_index)
{
    rpc_call_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->srv = srv;
    c->cq_index = cq_index;
    c->method_index = method_index;
    c->method = method_index >= 0 ? &srv->opt.methods[method_index] : NULL;
    c->t_new = (call_tag){c, TAG_NEW};
    c->t_recv = (call_tag){c, TAG_RECV};
    c->t_send = (call_tag){c, TAG_SEND};
    c->t_final = (call_tag){c, TAG_FINAL};
    c->t_close = (call_tag){c, TAG_CLOSE};
    c->status_slice = grpc_empty_slice();
    c->details_md.key = grpc_slice_from_static_string(RPC_DETAILS_KEY);
    c->details_md.value = grpc_empty_slice();
    grpc_metadata_array_init(&c->md);
    grpc_call_details_init(&c->details);
    pthread_mutex_init(&c->lock, NULL);
    mb_mono_cond_init(&c->sent);
    c->refs = 1;
    return c;
}

static void call_destroy(rpc_call_t *c)
{
    if (c->accepted)
        atomic_fetch_sub(&c->srv->in_flight, 1);
    bool trim = false;
    if (c->stream_counted) {
        atomic_fetch_sub(&c->srv->streams, 1);
        trim =
            atomic_fetch_add(&c->srv->streams_freed, 1) % STREAMS_PER_TRIM == STREAMS_PER_TRIM - 1;
    }
    for (deferred *d = c->deferred; d != NULL; d = d->next)
        d->fn(d->arg);
    if (c->call != NULL)
        grpc_call_unref(c->call);
    grpc_metadata_array_destroy(&c->md);
    grpc_call_details_destroy(&c->details);
    if (c->payload != NULL)
        grpc_byte_buffer_destroy(c->payload);
    if (c->recv_buf != NULL)
        grpc_byte_buffer_destroy(c->recv_buf);
    if (c->sending != NULL)
        grpc_byte_buffer_destroy(c->sending);
    if (c->final_resp != NULL)
        grpc_byte_buffer_destroy(c->final_resp);
    for (out_msg *m = c->out_head, *next; m != NULL; m = next) {
        next = m->next;
        grpc_byte_buffer_destroy(m->buf);
        free(m);
    }
    grpc_slice_unref(c->status_slice);
    grpc_slice_unref(c->details_md.value);
    mb_arena_free(c->arena);
    mb_arena_free(c->msg_arena);
    pthread_cond_destroy(&c->sent);
    pthread_mutex_destroy(&c->lock);
    free(c);
    if (trim)
        malloc_trim(0);
}

static void call_ref(rpc_call_t *c)
{
    pthread_mutex_lock(&c->lock);
    c->refs++;
    pthread_mutex_unlock(&c->lock);
}

static void call_unref(rpc_call_t *c)
{
    pthread_mutex_lock(&c->lock);
    bool drop = --c->refs == 0;
    pthread_mutex_unlock(&c->lock);
    if (drop)
        call_destroy(c);
}

/* Starts a batch under the call lock, holding a reference for it. */
static bool start_batch_locked(rpc_call_t *c, const grpc_op *ops, size_t n, call_tag *tag)
{
    pthread_rwlock_rdlock(&c->srv->cq_gate);
    bool closed = c->srv->cqs_closed;
    grpc_call_error e = closed ? GRPC_CALL_OK : grpc_call_start_batch(c->call, ops, n, tag, NULL);
    pthread_rwlock_unlock(&c->srv->cq_gate);
    if (closed)
        return false;
    if (e != GRPC_CALL_OK) {
        mb_log(MB_LOG_ERROR, "event=start_batch_failed rid=%016llx error=%d",
               (unsigned long long)c->rid, (int)e);
        return false;
    }
    c->refs++;
    return true;
}

/* --- accepting calls ------------------------------------------------------ */

static void post_request(rpc_server_t *srv, size_t cq_index, long method_index)
{
    rpc_call_t *c = call_new(srv, cq_index, method_index);
    if (c == NULL) {
        mb_log(MB_LOG_ERROR, "event=post_request_failed reason=out_of_memory");
        return;
    }
    grpc_completion_queue *cq = srv->cqs[cq_index];
    grpc_call_error e;
    if (method_index >= 0) {
        bool with_payload = !reads_stream(c->method->kind);
        e = grpc_server_request_registered_call(
            srv->server, srv->registered[method_index], &c->call, &c->deadline, &c->md,
            with_payload ? &c->payload : NULL, cq, cq, &c->t_new);
    } else {
        e = grpc_server_request_call(srv->server, &c->call, &c->details, &c->md, cq, cq, &c->t_new);
    }
    if (e != GRPC_CALL_OK) {
        mb_log(MB_LOG_ERROR, "event=post_request_failed error=%d", (int)e);
        call_destroy(c);
    }
}

/* --- encoding -------------------------------------------------------------- */

static grpc_byte_buffer *pack(const ProtobufCMessage *m)
{
    size_t n = protobuf_c_message_get_packed_size(m);
    grpc_slice s = grpc_slice_malloc(n);
    protobuf_c_message_pack(m, GRPC_SLICE_START_PTR(s));
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

/* The gRPC core (1.51) hands a message whose frame says "compressed" to
 * the application as it came when the call named no grpc-encoding, instead
 * of refusing it as the protocol asks; only the flags it kept for its own
 * tests tell. They are C++ functions of libgrpc (hence the mangled names),
 * declared weak so that a core without them still links and only loses
 * this check. */
#define WRITE_INTERNAL_COMPRESS 0x80000000u
extern uint32_t _Z37grpc_call_test_only_get_message_flagsP9grpc_call(grpc_call *call)
    __attribute__((weak));
extern int _Z45grpc_call_test_only_get_compression_algorithmP9grpc_call(grpc_call *call)
    __attribute__((weak));

static bool compressed_without_encoding(grpc_call *call)
{
    if (_Z37grpc_call_test_only_get_message_flagsP9grpc_call == NULL ||
        _Z45grpc_call_test_only_get_compression_algorithmP9grpc_call == NULL)
        return false;
    return (_Z37grpc_call_test_only_get_message_flagsP9grpc_call(call) & WRITE_INTERNAL_COMPRESS) !=
               0 &&
           _Z45grpc_call_test_only_get_compression_algorithmP9grpc_call(call) == GRPC_COMPRESS_NONE;
}

static int decode(rpc_call_t *c, grpc_byte_buffer *bb, mb_arena_t *arena, ProtobufCMessage **out,
                  mb_error *err)
{
    const ProtobufCMessageDescriptor *desc = c->method->request;
    if (compressed_without_encoding(c->call))
        return mb_error_set(err, GRPC_STATUS_INTERNAL,
                            "request message is flagged compressed but the call names no "
                            "grpc-encoding");
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, bb))
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "request could not be read (unsupported compression?)");
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    const uint8_t *data = GRPC_SLICE_START_PTR(s);
    size_t len = GRPC_SLICE_LENGTH(s);
    int ret = rpc_wire_decode(desc, data, len, arena, c->srv->arena_limit, out, err);
    grpc_slice_unref(s);
    return ret;
}

/* --- finishing ------------------------------------------------------------- */

static void start_final_locked(rpc_call_t *c)
{
    grpc_op ops[4];
    size_t n = 0;
    memset(ops, 0, sizeof ops);
    if (!c->initial_md_sent) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        c->initial_md_sent = true;
    }
    if (c->final_resp != NULL) {
        ops[n].op = GRPC_OP_SEND_MESSAGE;
        ops[n++].data.send_message.send_message = c->final_resp;
    }
    ops[n].op = GRPC_OP_SEND_STATUS_FROM_SERVER;
    ops[n].data.send_status_from_server.status = c->status;
    if (c->status_msg[0] != '\0') {
        c->status_slice = grpc_slice_from_copied_string(c->status_msg);
        ops[n].data.send_status_from_server.status_details = &c->status_slice;
    }
    if (c->status == GRPC_STATUS_INVALID_ARGUMENT) {
        c->details_md.value = rpc_details_bad_request(c->status, c->status_msg);
        ops[n].data.send_status_from_server.trailing_metadata = &c->details_md;
        ops[n].data.send_status_from_server.trailing_metadata_count = 1;
    }
    n++;
    if (!c->close_posted) {
        ops[n].op = GRPC_OP_RECV_CLOSE_ON_SERVER;
        ops[n++].data.recv_close_on_server.cancelled = &c->close_cancelled;
    }
    c->final_started = true;
    start_batch_locked(c, ops, n, &c->t_final);
}

void rpc_call_finish(rpc_call_t *c, const ProtobufCMessage *resp, const mb_error *err)
{
    grpc_status_code code = err != NULL ? err->code : GRPC_STATUS_OK;
    bool with_message = c->method == NULL || answers_once(c->method->kind);
    grpc_byte_buffer *bb = NULL;
    if (code == GRPC_STATUS_OK && with_message) {
        if (resp != NULL)
            bb = pack(resp);
        else
            code = GRPC_STATUS_INTERNAL; /* a handler bug; never a silent empty OK */
    }
    pthread_mutex_lock(&c->lock);
    if (c->handler_done) {
        pthread_mutex_unlock(&c->lock);
        mb_log(MB_LOG_ERROR, "event=double_finish rid=%016llx", (unsigned long long)c->rid);
        if (bb != NULL)
            grpc_byte_buffer_destroy(bb);
        return;
    }
    c->handler_done = true;
    c->status = code;
    if (code == GRPC_STATUS_INTERNAL && err == NULL)
        snprintf(c->status_msg, sizeof c->status_msg, "handler produced no response");
    else if (code != GRPC_STATUS_OK)
        snprintf(c->status_msg, sizeof c->status_msg, "%s", err->msg);
    c->final_resp = bb;
    if (!c->send_in_flight)
        start_final_locked(c);
    bool drop = --c->refs == 0;
    pthread_mutex_unlock(&c->lock);
    if (drop)
        call_destroy(c);
}

int rpc_call_fail(rpc_call_t *call, const mb_error *err)
{
    rpc_call_finish(call, NULL, err);
    return RPC_CONTINUE;
}

static void finish_error(rpc_call_t *c, grpc_status_code code, const char *msg)
{
    mb_error err;
    mb_error_set(&err, code, "%s", msg);
    rpc_call_finish(c, NULL, &err);
}

/* --- streaming ------------------------------------------------------------- */

static void start_send_locked(rpc_call_t *c, grpc_byte_buffer *bb)
{
    grpc_op ops[2];
    size_t n = 0;
    memset(ops, 0, sizeof ops);
    if (!c->initial_md_sent) {
        ops[n++].op = GRPC_OP_SEND_INITIAL_METADATA;
        c->initial_md_sent = true;
    }
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = bb;
    c->sending = bb;
    c->send_in_flight = start_batch_locked(c, ops, n, &c->t_send);
    if (!c->send_in_flight) {
        grpc_byte_buffer_destroy(bb);
        c->sending = NULL;
    }
}

int rpc_call_send(rpc_call_t *c, const ProtobufCMessage *msg)
{
    grpc_byte_buffer *bb = pack(msg);
    pthread_mutex_lock(&c->lock);
    if (c->handler_done || c->ended) {
        pthread_mutex_unlock(&c->lock);
        grpc_byte_buffer_destroy(bb);
        return -1;
    }
    if (c->send_in_flight && c->n_out >= SEND_QUEUE_MAX) {
        /* The client does not read: end the stream rather than buffer it. */
        c->ended = true;
        pthread_mutex_unlock(&c->lock);
        grpc_byte_buffer_destroy(bb);
        mb_log(MB_LOG_WARN, "event=send_queue_full rid=%016llx method=%s queued=%zu",
               (unsigned long long)c->rid, c->path, c->n_out);
        return -1;
    }
    if (c->send_in_flight) {
        out_msg *m = malloc(sizeof *m);
        if (m == NULL) {
            pthread_mutex_unlock(&c->lock);
            grpc_byte_buffer_destroy(bb);
            return -1;
        }
        m->next = NULL;
        m->buf = bb;
        if (c->out_tail != NULL)
            c->out_tail->next = m;
        else
            c->out_head = m;
        c->out_tail = m;
        c->n_out++;
    } else {
        start_send_locked(c, bb);
    }
    pthread_mutex_unlock(&c->lock);
    return 0;
}

static void start_read(rpc_call_t *c)
{
    pthread_mutex_lock(&c->lock);
    if (!c->handler_done && !c->ended) {
        grpc_op op;
        memset(&op, 0, sizeof op);
        op.op = GRPC_OP_RECV_MESSAGE;
        op.data.recv_message.recv_message = &c->recv_buf;
        start_batch_locked(c, &op, 1, &c->t_recv);
    }
    pthread_mutex_unlock(&c->lock);
}

void rpc_call_resume(rpc_call_t *c)
{
    start_read(c);
}

/* --- jobs ------------------------------------------------------------------ */

static bool stopped_locked(const rpc_call_t *c)
{
    return c->ended || atomic_load(&c->srv->shutting_down) || mb_mono_ns() >= c->deadline_ns;
}

bool rpc_call_stopped(const rpc_call_t *call)
{
    rpc_call_t *c = (rpc_call_t *)call; /* only to take its lock */
    pthread_mutex_lock(&c->lock);
    bool stopped = stopped_locked(c);
    pthread_mutex_unlock(&c->lock);
    return stopped;
}

int rpc_call_send_wait(rpc_call_t *c, const ProtobufCMessage *msg)
{
    if (rpc_call_send(c, msg) != 0)
        return -1;
    struct timespec until = mb_mono_timespec(c->deadline_ns);
    pthread_mutex_lock(&c->lock);
    while (!stopped_locked(c) && c->n_out + (c->send_in_flight ? 1 : 0) >= RPC_SEND_WINDOW) {
        if (c->deadline_ns == INT64_MAX)
            pthread_cond_wait(&c->sent, &c->lock);
        else
            pthread_cond_timedwait(&c->sent, &c->lock, &until);
    }
    bool stopped = stopped_locked(c);
    pthread_mutex_unlock(&c->lock);
    return stopped ? -1 : 0;
}

static void jobs_list(rpc_call_t *c, bool on)
{
    rpc_server_t *srv = c->srv;
    pthread_mutex_lock(&srv->lock);
    if (on) {
        c->job_next = srv->jobs_running;
        if (c->job_next != NULL)
            c->job_next->job_prev = c;
        srv->jobs_running = c;
    } else {
        if (c->job_prev != NULL)
            c->job_prev->job_next = c->job_next;
        else
            srv->jobs_running = c->job_next;
        if (c->job_next != NULL)
            c->job_next->job_prev = c->job_prev;
        c->job_prev = c->job_next = NULL;
    }
    pthread_mutex_unlock(&srv->lock);
}

/* Shutdown has begun (rpc_call_stopped() is true): wake every job waiting in
 * rpc_call_send_wait() so that it sees it. */
static void jobs_wake(rpc_server_t *srv)
{
    pthread_mutex_lock(&srv->lock);
    for (rpc_call_t *c = srv->jobs_running; c != NULL; c = c->job_next) {
        pthread_mutex_lock(&c->lock);
        pthread_cond_broadcast(&c->sent);
        pthread_mutex_unlock(&c->lock);
    }
    pthread_mutex_unlock(&srv->lock);
}

static void job_run(void *arg)
{
    rpc_call_t *c = arg;
    c->method->on_message(c, c->req);
    pthread_mutex_lock(&c->lock);
    bool finished = c->handler_done;
    pthread_mutex_unlock(&c->lock);
    if (!finished) {
        mb_log(MB_LOG_ERROR, "event=job_unfinished rid=%016llx method=%s",
               (unsigned long long)c->rid, c->path);
        finish_error(c, GRPC_STATUS_INTERNAL, "handler ended without an answer");
    }
    jobs_list(c, false);
    call_unref(c); /* the job's own reference, taken in start_job() */
}

static void start_job(rpc_call_t *c)
{
    call_ref(c);
    jobs_list(c, true);
    if (rpc_jobs_try_run(c->srv->jobs, job_run, c) == 0)
        return;
    jobs_list(c, false);
    finish_error(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
                 "too many long-running calls in progress; retry later");
    call_unref(c);
}

static void post_close(rpc_call_t *c)
{
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_RECV_CLOSE_ON_SERVER;
    op.data.recv_close_on_server.cancelled = &c->close_cancelled;
    pthread_mutex_lock(&c->lock);
    c->close_posted = start_batch_locked(c, &op, 1, &c->t_close);
    pthread_mutex_unlock(&c->lock);
}

/* Tells the handler once that its stream is over. */
static void notify_cancel(rpc_call_t *c)
{
    pthread_mutex_lock(&c->lock);
    bool notify = c->started && !c->handler_done && !c->cancel_notified;
    c->cancel_notified = true;
    pthread_mutex_unlock(&c->lock);
    if (notify)
        c->method->on_cancel(c);
}

/* --- events ---------------------------------------------------------------- */

/*
 * Log lines a client can cause as often as it likes (the core's own lines,
 * refused calls) pass at most LOG_LIMIT_PER_SECOND a second, per kind; what
 * is dropped is counted in the next line that passes (dropped_before=N).
 */
#define LOG_LIMIT_PER_SECOND 20

typedef struct log_limit {
    pthread_mutex_t lock;
    mb_bucket bucket;
    int dropped;
} log_limit;

#define LOG_LIMIT_INIT                                                                             \
    {                                                                                              \
        PTHREAD_MUTEX_INITIALIZER, {0, 0}, 0                                                       \
    }

static bool log_limit_pass(log_limit *l, int *dropped_before)
{
    pthread_mutex_lock(&l->lock);
    bool pass =
        mb_bucket_take(&l->bucket, LOG_LIMIT_PER_SECOND, LOG_LIMIT_PER_SECOND, mb_mono_ns(), NULL);
    *dropped_before = l->dropped;
    l->dropped = pass ? 0 : l->dropped + 1;
    pthread_mutex_unlock(&l->lock);
    return pass;
}

static log_limit refusal_log_limit = LOG_LIMIT_INIT;

static void log_call(const rpc_call_t *c)
{
    int64_t us = (mb_mono_ns() - c->start_ns) / 1000;
    grpc_status_code code = c->status;
    if (code == GRPC_STATUS_OK && c->close_cancelled)
        code = GRPC_STATUS_CANCELLED;
    metrics_call(c->method_index, code, us);
    int dropped = 0;
    if (c->refused && !log_limit_pass(&refusal_log_limit, &dropped))
        return;
    if (code == GRPC_STATUS_OK) {
        mb_log(MB_LOG_INFO,
               "event=call rid=%016llx method=%s role=%s key=%s status=OK latency_us=%lld",
               (unsigned long long)c->rid, c->path, auth_role_name(c->who.role),
               c->who.key_id[0] ? c->who.key_id : "-", (long long)us);
    } else {
        char q[MB_ERROR_MSG_MAX + 8], refused[48] = "";
        if (c->refused)
            snprintf(refused, sizeof refused, " refused_dropped_before=%d", dropped);
        mb_log(MB_LOG_INFO,
               "event=call rid=%016llx method=%s role=%s key=%s status=%s latency_us=%lld "
               "error=%s%s",
               (unsigned long long)c->rid, c->path, auth_role_name(c->who.role),
               c->who.key_id[0] ? c->who.key_id : "-", mb_status_name(code), (long long)us,
               mb_log_quote(q, sizeof q, c->status_msg), refused);
    }
}

static const grpc_slice *find_metadata(const grpc_metadata_array *md, const char *key)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < md->count; i++) {
        const grpc_slice *k = &md->metadata[i].key;
        if (GRPC_SLICE_LENGTH(*k) == klen && memcmp(GRPC_SLICE_START_PTR(*k), key, klen) == 0)
            return &md->metadata[i].value;
    }
    return NULL;
}

static int check_role(const rpc_call_t *c, mb_error *err)
{
    unsigned roles = c->method->roles;
    if (!(roles & ROLE_ANONYMOUS) && !(roles & c->who.role))
        return mb_error_set(err, GRPC_STATUS_PERMISSION_DENIED, "role %s may not call %s",
                            auth_role_name(c->who.role), c->path);
    return 0;
}

/* Authenticates c by the client certificate the TLS layer verified, if
 * any (auth_verify_peer); 1 if there is none. */
static int authenticate_peer(rpc_call_t *c, mb_error *err)
{
    grpc_auth_context *ctx = grpc_call_auth_context(c->call);
    if (ctx == NULL)
        return 1;
    int ret = auth_verify_peer(c->srv->opt.auth, ctx, &c->who, err);
    grpc_auth_context_release(ctx);
    return ret;
}

/* Fills c->who. An API key, if presented, must be valid even on methods that
 * need none: a wrong credential is an error, never silently ignored. Without
 * one, a client certificate allowed by minbilld keys allow-client is the
 * credential. */
static int authenticate(rpc_call_t *c, mb_error *err)
{
    const grpc_slice *v = find_metadata(&c->md, "authorization");
    unsigned roles = c->method->roles;
    if (v == NULL) {
        if (roles & ROLE_ANONYMOUS)
            return 0;
        int rc = c->srv->client_certs ? authenticate_peer(c, err) : 1;
        if (rc < 0)
            return -1;
        if (rc > 0)
            return mb_error_set(err, GRPC_STATUS_UNAUTHENTICATED,
                                "missing API key: send metadata 'authorization: Bearer "
                                "<api-key>'%s",
                                c->srv->client_certs ? " or an allowed client certificate" : "");
        return check_role(c, err);
    }
    const char *s = (const char *)GRPC_SLICE_START_PTR(*v);
    size_t len = GRPC_SLICE_LENGTH(*v);
    if (len < 7 || strncasecmp(s, "Bearer ", 7) != 0)
        return mb_error_set(err, GRPC_STATUS_UNAUTHENTICATED,
                            "authorization metadata must be 'Bearer <api-key>'");
    /* "ipv4:10.0.0.7:51234" -> "ipv4:10.0.0.7": failed tries count per
     * address, whichever port a client reconnects from. */
    char *peer = grpc_call_get_peer(c->call);
    char *port = peer != NULL ? strrchr(peer, ':') : NULL;
    if (port != NULL && port != strchr(peer, ':'))
        *port = '\0';
    int rc = auth_verify(c->srv->opt.auth, s + 7, len - 7, peer, &c->who, err);
    gpr_free(peer);
    if (rc != 0)
        return -1;
    return check_role(c, err);
}

/* The per-key rate of the caller's role (rpc_options.rate_limits), for
 * methods that need a role: RESOURCE_EXHAUSTED with the retry delay. */
static int check_rate(rpc_call_t *c, mb_error *err)
{
    if (c->who.key_id[0] == '\0' || (c->method->roles & ROLE_ANONYMOUS) || c->who.role == 0)
        return 0;
    const rpc_rate *r = &c->srv->rates.role[__builtin_ctz(c->who.role) % RPC_ROLE_BITS];
    int64_t wait_ns;
    if (r->rate <= 0 ||
        rpc_buckets_take(c->srv->key_buckets, c->who.key_id, r->rate, r->burst, &wait_ns))
        return 0;
    return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED,
                        "rate limit of role %s exceeded (%.0f calls a second per API key, burst "
                        "%.0f); retry in %lld ms",
                        auth_role_name(c->who.role), r->rate, r->burst,
                        (long long)(wait_ns / 1000000 + 1));
}

static int64_t deadline_to_ns(gpr_timespec deadline)
{
    gpr_timespec d = gpr_convert_clock_type(deadline, GPR_CLOCK_MONOTONIC);
    if (gpr_time_cmp(d, gpr_inf_future(GPR_CLOCK_MONOTONIC)) == 0)
        return INT64_MAX;
    gpr_timespec left = gpr_time_sub(d, gpr_now(GPR_CLOCK_MONOTONIC));
    return mb_mono_ns() + (int64_t)left.tv_sec * 1000000000 + left.tv_nsec;
}

static void copy_path(char *dst, const grpc_slice *s)
{
    size_t n = GRPC_SLICE_LENGTH(*s);
    const char *p = (const char *)GRPC_SLICE_START_PTR(*s);
    size_t o = 0;
    for (size_t i = 0; i < n && o + 1 < METHOD_LOG_MAX; i++)
        dst[o++] = (p[i] > 0x20 && p[i] < 0x7f && p[i] != '"') ? p[i] : '?';
    dst[o] = '\0';
}

static void on_new_call(rpc_call_t *c)
{
    rpc_server_t *srv = c->srv;
    c->start_ns = mb_mono_ns();
    c->rid = atomic_fetch_add(&srv->next_rid, 1);
    c->deadline_ns = deadline_to_ns(c->method != NULL ? c->deadline : c->details.deadline);
    c->arena = mb_arena_new(srv->arena_limit);
    if (c->method == NULL) {
        copy_path(c->path, &c->details.method);
        char msg[METHOD_LOG_MAX + 32];
        snprintf(msg, sizeof msg, "unknown method %s", c->path);
        finish_error(c, GRPC_STATUS_UNIMPLEMENTED, msg);
        return;
    }
    snprintf(c->path, sizeof c->path, "%s", c->method->path);
    mb_error err;
    if (c->arena == NULL) {
        finish_error(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return;
    }
    if (authenticate(c, &err) != 0 || check_rate(c, &err) != 0) {
        /* Client-made refusals, as many as a client cares to send. */
        c->refused =
            err.code == GRPC_STATUS_UNAUTHENTICATED || err.code == GRPC_STATUS_RESOURCE_EXHAUSTED;
        rpc_call_finish(c, NULL, &err);
        return;
    }
    if (c->method->on_message == NULL) {
        char msg[METHOD_LOG_MAX + 32];
        snprintf(msg, sizeof msg, "%s is not implemented yet", c->path + 1);
        finish_error(c, GRPC_STATUS_UNIMPLEMENTED, msg);
        return;
    }
    if (c->deadline_ns <= mb_mono_ns()) {
        finish_error(c, GRPC_STATUS_DEADLINE_EXCEEDED, "deadline passed before the call started");
        return;
    }
    if (c->method->kind != RPC_UNARY && !c->method->job) {
        c->stream_counted = true;
        if (atomic_fetch_add(&srv->streams, 1) >= srv->max_streams) {
            c->refused = true;
            finish_error(c, GRPC_STATUS_RESOURCE_EXHAUSTED,
                         "too many open streams on this server; retry later");
            return;
        }
    }
    if (c->method->kind != RPC_UNARY || c->method->job)
        post_close(c);
    if (reads_stream(c->method->kind)) {
        c->msg_arena = mb_arena_new(srv->arena_limit);
        if (c->msg_arena == NULL) {
            finish_error(c, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
            return;
        }
        c->started = true;
        start_read(c);
        return;
    }
    if (c->payload == NULL) {
        finish_error(c, GRPC_STATUS_INVALID_ARGUMENT, "request message missing");
        return;
    }
    if (decode(c, c->payload, c->arena, &c->req, &err) != 0) {
        rpc_call_finish(c, NULL, &err);
        return;
    }
    /* The handler runs once the client's stream has ended (on_recv): a
     * second request message is a protocol error, not something to drop. */
    start_read(c);
}

/* The read after the one request of a unary or server-streaming call. */
static void on_request_end(rpc_call_t *c, bool ok, grpc_byte_buffer *bb)
{
    if (bb != NULL) {
        grpc_byte_buffer_destroy(bb);
        finish_error(c, GRPC_STATUS_INTERNAL,
                     "more than one request message on a call that takes one");
        return;
    }
    /* A stream cancelled meanwhile (its close event came first) never
     * starts: its on_cancel would not be called again. */
    pthread_mutex_lock(&c->lock);
    bool gone = !ok || c->ended;
    c->started = !gone;
    pthread_mutex_unlock(&c->lock);
    if (gone) {
        finish_error(c, GRPC_STATUS_CANCELLED, "the call ended before its handler started");
        return;
    }
    if (c->method->job) {
        start_job(c);
        return;
    }
    call_ref(c);
    c->method->on_message(c, c->req);
    call_unref(c);
}

static void on_recv(rpc_call_t *c, bool ok)
{
    pthread_mutex_lock(&c->lock);
    grpc_byte_buffer *bb = c->recv_buf;
    c->recv_buf = NULL;
    bool done = c->handler_done;
    pthread_mutex_unlock(&c->lock);
    if (!done && !reads_stream(c->method->kind)) {
        on_request_end(c, ok, bb);
        return;
    }
    if (done || !ok) {
        if (bb != NULL)
            grpc_byte_buffer_destroy(bb);
        if (!done)
            notify_cancel(c);
        return;
    }
    if (bb == NULL) {
        c->method->on_end(c);
        return;
    }
    mb_arena_reset(c->msg_arena);
    ProtobufCMessage *msg = NULL;
    mb_error err;
    int rc = decode(c, bb, c->msg_arena, &msg, &err);
    grpc_byte_buffer_destroy(bb);
    if (rc != 0) {
        rpc_call_finish(c, NULL, &err);
        return;
    }
    if (c->method->on_message(c, msg) == RPC_CONTINUE)
        start_read(c);
}

static void on_send_done(rpc_call_t *c, bool ok)
{
    pthread_mutex_lock(&c->lock);
    c->send_in_flight = false;
    grpc_byte_buffer_destroy(c->sending);
    c->sending = NULL;
    if (!ok)
        c->ended = true;
    out_msg *m = c->out_head;
    if (m != NULL && ok) {
        c->out_head = m->next;
        if (c->out_head == NULL)
            c->out_tail = NULL;
        c->n_out--;
        start_send_locked(c, m->buf);
        free(m);
    } else if (c->handler_done && !c->final_started) {
        start_final_locked(c);
    }
    pthread_cond_broadcast(&c->sent);
    pthread_mutex_unlock(&c->lock);
}

static void on_close(rpc_call_t *c)
{
    pthread_mutex_lock(&c->lock);
    c->ended = true;
    bool cancelled = c->close_cancelled != 0;
    pthread_cond_broadcast(&c->sent);
    pthread_mutex_unlock(&c->lock);
    if (cancelled && !c->method->job)
        notify_cancel(c);
}

static void dispatch(rpc_server_t *srv, call_tag *tag, bool ok)
{
    rpc_call_t *c = tag->call;
    switch (tag->kind) {
    case TAG_SHUTDOWN:
        pthread_mutex_lock(&srv->lock);
        srv->shutdown_done = true;
        pthread_cond_broadcast(&srv->cond);
        pthread_mutex_unlock(&srv->lock);
        return;
    case TAG_NEW:
        if (!ok) { /* server shutting down: the request was never matched */
            call_destroy(c);
            return;
        }
        if (!atomic_load(&srv->shutting_down))
            post_request(srv, c->cq_index, c->method_index);
        c->accepted = true;
        atomic_fetch_add(&srv->in_flight, 1);
        /* The reference that was the posted request becomes the handler's. */
        on_new_call(c);
        return;
    case TAG_RECV:
        on_recv(c, ok);
        break;
    case TAG_SEND:
        on_send_done(c, ok);
        break;
    case TAG_FINAL:
        log_call(c);
        break;
    case TAG_CLOSE:
        on_close(c);
        break;
    }
    /* The batch's reference kept c alive while its event was handled. */
    call_unref(c);
}

static void *cq_thread(void *arg)
{
    rpc_server_t *srv = ((void **)arg)[0];
    grpc_completion_queue *cq = ((void **)arg)[1];
    free(arg);
    pthread_setname_np(pthread_self(), "mb-cq");
    /* The call lines of one pass over the queue go out in one write: when
     * the queue has nothing ready (before the thread blocks), and at least
     * every PASS_EVENTS events under load. While the thread waits it
     * collects nothing: the core logs there too (a failed TLS handshake),
     * and such a line must not wait for the next call. */
    mb_log_buffer_begin();
    int since_flush = 0;
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(cq, gpr_inf_past(GPR_CLOCK_MONOTONIC), NULL);
        if (since_flush == PASS_EVENTS) {
            mb_log_flush();
            since_flush = 0;
        }
        if (ev.type == GRPC_QUEUE_TIMEOUT) {
            mb_log_buffer_end();
            ev = grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
            mb_log_buffer_begin();
            since_flush = 0;
        }
        if (ev.type == GRPC_QUEUE_SHUTDOWN)
            break;
        if (ev.type == GRPC_OP_COMPLETE) {
            dispatch(srv, ev.tag, ev.success != 0);
            since_flush++;
        }
    }
    mb_log_buffer_end();
    return NULL;
}

/* --- server lifecycle ------------------------------------------------------ */

static void server_free(rpc_server_t *srv)
{
    rpc_jobs_free(srv->jobs);
    rpc_buckets_free(srv->key_buckets);
    if (srv->server != NULL)
        grpc_server_destroy(srv->server);
    for (size_t i = 0; i < srv->n_cqs; i++)
        if (srv->cqs[i] != NULL)
            grpc_completion_queue_destroy(srv->cqs[i]);
    free(srv->cqs);
    free(srv->threads);
    free(srv->registered);
    pthread_mutex_destroy(&srv->lock);
    pthread_rwlock_destroy(&srv->cq_gate);
    pthread_cond_destroy(&srv->cond);
    free(srv);
    grpc_shutdown_blocking();
}

/*
 * The gRPC core's own log lines (a failed TLS handshake, for one) would go
 * to stderr unstructured, between the call log's lines, and as often as a
 * client cares to fail. They become log events here, rate-limited.
 */
static log_limit core_log_limit = LOG_LIMIT_INIT;

static void core_log(gpr_log_func_args *args)
{
    int dropped;
    if (!log_limit_pass(&core_log_limit, &dropped))
        return;
    char msg[512];
    mb_log(args->severity == GPR_LOG_SEVERITY_ERROR ? MB_LOG_ERROR : MB_LOG_WARN,
           "event=grpc_core source=%s:%d message=%s dropped_before=%d",
           strrchr(args->file, '/') != NULL ? strrchr(args->file, '/') + 1 : args->file, args->line,
           mb_log_quote(msg, sizeof msg, args->message), dropped);
}

/*
 * Debian builds abseil without NDEBUG, so every absl::Mutex lock inside
 * gRPC also records the lock in a global deadlock graph (GraphCycles):
 * about 2 % of the daemon's CPU under small calls. That is a debugging aid
 * for abseil's own users; gRPC's locks are not ours to debug. abseil's
 * switch for it is a C++ function, looked up by its mangled name so this
 * C program can call it; a build of abseil without it (another version or
 * namespace) simply keeps checking.
 */
static void quiet_absl_deadlock_graph(void)
{
    void (*set_mode)(int) = (void (*)(int))dlsym(
        RTLD_DEFAULT, "_ZN4absl7debian329SetMutexDeadlockDetectionModeENS0_15OnDeadlockCycleE");
    if (set_mode != NULL)
        set_mode(0); /* absl::OnDeadlockCycle::kIgnore */
}

int rpc_server_start(const rpc_options *opt, rpc_server_t **out, int *bound_port, mb_error *err)
{
    bool any_job = false;
    for (size_t i = 0; i < opt->n_methods; i++) {
        const rpc_method *m = &opt->methods[i];
        any_job |= m->job;
        if (m->job && m->kind != RPC_UNARY && m->kind != RPC_SERVER_STREAMING)
            return mb_error_set(err, GRPC_STATUS_INTERNAL,
                                "%s: only unary and server-streaming methods run as jobs", m->path);
        if (m->on_message != NULL && m->kind != RPC_UNARY && !m->job && m->on_cancel == NULL)
            return mb_error_set(err, GRPC_STATUS_INTERNAL, "%s: streaming handler lacks on_cancel",
                                m->path);
        if (m->on_message != NULL && reads_stream(m->kind) && m->on_end == NULL)
            return mb_error_set(err, GRPC_STATUS_INTERNAL, "%s: streaming handler lacks on_end",
                                m->path);
    }
    gpr_set_log_function(core_log);
    quiet_absl_deadlock_graph();
    grpc_init();
    rpc_server_t *srv = calloc(1, sizeof *srv);
    if (srv == NULL) {
        grpc_shutdown_blocking();
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    pthread_mutex_init(&srv->lock, NULL);
    pthread_rwlock_init(&srv->cq_gate, NULL);
    mb_mono_cond_init(&srv->cond);
    srv->opt = *opt;
    srv->opt.tls_cert_pem = srv->opt.tls_key_pem = srv->opt.tls_client_ca_pem = NULL;
    srv->client_certs = opt->tls_cert_pem != NULL && opt->tls_client_ca_pem != NULL;
    srv->n_cqs = opt->threads > 0 ? (size_t)opt->threads : 1;
    srv->arena_limit = opt->max_message_bytes * DECODE_AMPLIFICATION + 65536;
    srv->max_streams = opt->max_streams > 0 ? opt->max_streams : STREAMS_TOTAL;
    srv->shutdown_tag = (call_tag){NULL, TAG_SHUTDOWN};
    atomic_init(&srv->next_rid, ((uint64_t)randombytes_random() << 32));
    srv->cqs = calloc(srv->n_cqs, sizeof *srv->cqs);
    srv->threads = calloc(srv->n_cqs, sizeof *srv->threads);
    srv->registered = calloc(opt->n_methods ? opt->n_methods : 1, sizeof *srv->registered);
    if (opt->rate_limits != NULL)
        srv->rates = *opt->rate_limits;
    else
        rpc_rate_limits_default(&srv->rates);
    srv->key_buckets = rpc_buckets_new();
    if (srv->cqs == NULL || srv->threads == NULL || srv->registered == NULL ||
        srv->key_buckets == NULL) {
        server_free(srv);
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    }
    if (any_job) {
        srv->jobs = rpc_jobs_new(opt->job_threads > 0 ? opt->job_threads : 2);
        if (srv->jobs == NULL) {
            server_free(srv);
            return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED,
                                "cannot start the job threads");
        }
    }

    grpc_arg args[4];
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = (int)opt->max_message_bytes;
    /* Two daemons must never share a port by accident. */
    args[1].type = GRPC_ARG_INTEGER;
    args[1].key = GRPC_ARG_ALLOW_REUSEPORT;
    args[1].value.integer = 0;
    /* BDP probing grows HTTP/2 flow-control windows to megabytes per stream,
     * and the transport buffers that much of a client stream whose handler
     * has paused reading (RPC_PAUSE): measured, 8 usage streams held ~280 MiB
     * of unread messages. With the default 64 KiB windows a paused stream
     * holds little, and backpressure reaches the client. */
    args[2].type = GRPC_ARG_INTEGER;
    args[2].key = GRPC_ARG_HTTP2_BDP_PROBE;
    args[2].value.integer = 0;
    args[3].type = GRPC_ARG_INTEGER;
    args[3].key = GRPC_ARG_MAX_CONCURRENT_STREAMS;
    args[3].value.integer = STREAMS_PER_CONNECTION;
    grpc_channel_args chargs = {4, args};
    srv->server = grpc_server_create(&chargs, NULL);
    for (size_t i = 0; i < srv->n_cqs; i++) {
        srv->cqs[i] = grpc_completion_queue_create_for_next(NULL);
        grpc_server_register_completion_queue(srv->server, srv->cqs[i], NULL);
    }
    for (size_t i = 0; i < opt->n_methods; i++) {
        const rpc_method *m = &opt->methods[i];
        srv->registered[i] = grpc_server_register_method(
            srv->server, m->path, NULL,
            reads_stream(m->kind) ? GRPC_SRM_PAYLOAD_NONE
                                  : GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER,
            0);
        if (srv->registered[i] == NULL) {
            server_free(srv);
            return mb_error_set(err, GRPC_STATUS_INTERNAL, "cannot register method %s", m->path);
        }
    }
    grpc_server_credentials *creds;
    if (opt->tls_cert_pem != NULL) {
        grpc_ssl_pem_key_cert_pair pair = {opt->tls_key_pem, opt->tls_cert_pem};
        creds = grpc_ssl_server_credentials_create_ex(
            opt->tls_client_ca_pem, &pair, 1,
            opt->tls_client_ca_pem != NULL ? GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY
                                           : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE,
            NULL);
    } else {
        creds = grpc_insecure_server_credentials_create();
    }
    int port = grpc_server_add_http2_port(srv->server, opt->listen, creds);
    grpc_server_credentials_release(creds);
    if (port == 0) {
        server_free(srv);
        return mb_error_set(err, GRPC_STATUS_UNAVAILABLE,
                            opt->tls_cert_pem != NULL
                                ? "cannot listen on %s: the address is in use or invalid, or "
                                  "the TLS certificate, key or client CA is not valid PEM (or "
                                  "the key is not the certificate's)"
                                : "cannot listen on %s (address in use or invalid)",
                            opt->listen);
    }
    grpc_server_start(srv->server);
    for (size_t q = 0; q < srv->n_cqs; q++) {
        for (size_t i = 0; i < opt->n_methods; i++)
            for (int k = 0; k < REQUESTS_PER_METHOD; k++)
                post_request(srv, q, (long)i);
        for (int k = 0; k < REQUESTS_UNKNOWN; k++)
            post_request(srv, q, -1);
    }
    for (size_t q = 0; q < srv->n_cqs; q++) {
        void **arg = malloc(2 * sizeof *arg);
        if (arg == NULL)
            abort();
        arg[0] = srv;
        arg[1] = srv->cqs[q];
        if (pthread_create(&srv->threads[q], NULL, cq_thread, arg) != 0)
            abort();
    }
    *bound_port = port;
    *out = srv;
    return 0;
}

static bool wait_shutdown(rpc_server_t *srv, int timeout_ms)
{
    struct timespec until = mb_mono_timespec(mb_mono_ns() + (int64_t)timeout_ms * 1000000);
    pthread_mutex_lock(&srv->lock);
    while (!srv->shutdown_done) {
        if (timeout_ms < 0)
            pthread_cond_wait(&srv->cond, &srv->lock);
        else if (pthread_cond_timedwait(&srv->cond, &srv->lock, &until) != 0)
            break;
    }
    bool done = srv->shutdown_done;
    pthread_mutex_unlock(&srv->lock);
    return done;
}

void rpc_server_shutdown(rpc_server_t *srv, int grace_ms)
{
    atomic_store(&srv->shutting_down, 1);
    jobs_wake(srv);
    if (srv->opt.on_shutdown != NULL)
        srv->opt.on_shutdown(srv->opt.app);
    grpc_server_shutdown_and_notify(srv->server, srv->cqs[0], &srv->shutdown_tag);
    /* The core reports shutdown only once every connection is gone, and a
     * connection that never speaks (a probe, a half-open peer) would hold us
     * for the whole grace period. So wait for the calls, not the
     * connections: once none is in flight, cancelling drops what is left. */
    bool done = false;
    for (int waited = 0; !done && waited < grace_ms; waited += 20) {
        if (atomic_load(&srv->in_flight) == 0)
            break;
        done = wait_shutdown(srv, 20);
    }
    if (!done && atomic_load(&srv->in_flight) > 0)
        mb_log(MB_LOG_WARN, "event=shutdown_grace_expired action=cancel_all_calls in_flight=%d",
               atomic_load(&srv->in_flight));
    if (!done)
        grpc_server_cancel_all_calls(srv->server);
    /* A job still running would finish its call on queues and a server that
     * are about to go: nothing is freed before every job has returned. */
    if (srv->jobs != NULL && !rpc_jobs_wait_idle(srv->jobs, 0)) {
        mb_log(MB_LOG_WARN, "event=shutdown_waits_for_jobs");
        rpc_jobs_wait_idle(srv->jobs, -1);
    }
    if (!done)
        wait_shutdown(srv, -1);
    pthread_rwlock_wrlock(&srv->cq_gate);
    srv->cqs_closed = true;
    pthread_rwlock_unlock(&srv->cq_gate);
    for (size_t i = 0; i < srv->n_cqs; i++)
        grpc_completion_queue_shutdown(srv->cqs[i]);
    for (size_t i = 0; i < srv->n_cqs; i++)
        pthread_join(srv->threads[i], NULL);
    server_free(srv);
}

/* --- accessors ------------------------------------------------------------- */

void *rpc_call_app(const rpc_call_t *c)
{
    return c->srv->opt.app;
}

const auth_identity *rpc_call_identity(const rpc_call_t *c)
{
    return &c->who;
}

const rpc_method *rpc_call_method(const rpc_call_t *c)
{
    return c->method;
}

int64_t rpc_call_deadline_ns(const rpc_call_t *c)
{
    return c->deadline_ns;
}

mb_arena_t *rpc_call_arena(rpc_call_t *c)
{
    return c->arena;
}

int rpc_call_defer(rpc_call_t *c, void (*fn)(void *arg), void *arg)
{
    deferred *d = mb_arena_alloc(c->arena, sizeof *d);
    if (d == NULL)
        return -1;
    *d = (deferred){.fn = fn, .arg = arg};
    pthread_mutex_lock(&c->lock);
    d->next = c->deferred;
    c->deferred = d;
    pthread_mutex_unlock(&c->lock);
    return 0;
}

void rpc_call_set_state(rpc_call_t *c, void *state)
{
    c->state = state;
}

void *rpc_call_state(const rpc_call_t *c)
{
    return c->state;
}
