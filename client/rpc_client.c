/*
 * rpc_client.c - see rpc_client.h.
 */
#include "rpc_client.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>
#include <sodium.h>

struct mbc_channel {
    grpc_channel *channel;
};

struct mbc_call {
    grpc_call *call;
    grpc_completion_queue *cq;
    grpc_metadata auth_md;
    bool have_auth;
    bool initial_md_received;
    grpc_metadata_array initial_md;
    bool failed;
    bool status_received;
    grpc_status_code status;
    grpc_slice details;
    grpc_metadata_array trailing_md;
    char auth_value[512];
};

static gpr_timespec deadline_after(int timeout_ms)
{
    if (timeout_ms <= 0)
        return gpr_inf_future(GPR_CLOCK_REALTIME);
    return gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                        gpr_time_from_millis(timeout_ms, GPR_TIMESPAN));
}

mbc_channel_t *mbc_channel_new(const char *target)
{
    return mbc_channel_new_tls(target, NULL);
}

mbc_channel_t *mbc_channel_new_tls(const char *target, const mbc_tls *tls)
{
    grpc_init();
    mbc_channel_t *ch = calloc(1, sizeof *ch);
    if (ch == NULL) {
        grpc_shutdown_blocking();
        return NULL;
    }
    /* Requests may be as large as the server allows; answers too. */
    grpc_arg args[1];
    args[0].type = GRPC_ARG_INTEGER;
    args[0].key = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH;
    args[0].value.integer = 64 << 20;
    grpc_channel_args chargs = {1, args};
    grpc_channel_credentials *creds;
    if (tls != NULL) {
        grpc_ssl_pem_key_cert_pair pair = {tls->key_pem, tls->cert_pem};
        creds = grpc_ssl_credentials_create(tls->ca_pem, tls->cert_pem != NULL ? &pair : NULL, NULL,
                                            NULL);
    } else {
        creds = grpc_insecure_credentials_create();
    }
    ch->channel = grpc_channel_create(target, creds, &chargs);
    grpc_channel_credentials_release(creds);
    return ch;
}

void mbc_channel_free(mbc_channel_t *ch)
{
    if (ch == NULL)
        return;
    grpc_channel_destroy(ch->channel);
    free(ch);
    grpc_shutdown_blocking();
}

int mbc_channel_wait_ready(mbc_channel_t *ch, int timeout_ms)
{
    gpr_timespec deadline = deadline_after(timeout_ms);
    grpc_completion_queue *cq = grpc_completion_queue_create_for_pluck(NULL);
    int ret = -1;
    for (;;) {
        grpc_connectivity_state s = grpc_channel_check_connectivity_state(ch->channel, 1);
        if (s == GRPC_CHANNEL_READY) {
            ret = 0;
            break;
        }
        /* Refused or unresolvable: the answer is in, waiting for the
         * deadline would only delay it. */
        if (s == GRPC_CHANNEL_TRANSIENT_FAILURE || s == GRPC_CHANNEL_SHUTDOWN)
            break;
        int tag;
        grpc_channel_watch_connectivity_state(ch->channel, s, deadline, cq, &tag);
        grpc_event ev = grpc_completion_queue_pluck(cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME),
                                                    NULL);
        if (!ev.success)
            break; /* deadline passed without a state change */
    }
    grpc_completion_queue_shutdown(cq);
    grpc_completion_queue_destroy(cq);
    return ret;
}

static bool run_batch(mbc_call_t *c, const grpc_op *ops, size_t n)
{
    int tag;
    if (grpc_call_start_batch(c->call, ops, n, &tag, NULL) != GRPC_CALL_OK) {
        c->failed = true;
        return false;
    }
    grpc_event ev = grpc_completion_queue_pluck(c->cq, &tag, gpr_inf_future(GPR_CLOCK_REALTIME),
                                                NULL);
    if (!ev.success)
        c->failed = true;
    return ev.success != 0;
}

static mbc_call_t *call_new(mbc_channel_t *ch, const char *method, const char *api_key,
                            int timeout_ms)
{
    mbc_call_t *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->cq = grpc_completion_queue_create_for_pluck(NULL);
    c->details = grpc_empty_slice();
    grpc_metadata_array_init(&c->initial_md);
    grpc_metadata_array_init(&c->trailing_md);
    grpc_slice m = grpc_slice_from_copied_string(method);
    c->call = grpc_channel_create_call(ch->channel, NULL, GRPC_PROPAGATE_DEFAULTS, c->cq, m, NULL,
                                       deadline_after(timeout_ms), NULL);
    grpc_slice_unref(m);
    if (api_key != NULL) {
        /* A key that does not fit is refused, never sent cut short. */
        if (snprintf(c->auth_value, sizeof c->auth_value, "Bearer %s", api_key) >=
            (int)sizeof c->auth_value) {
            mbc_call_free(c);
            return NULL;
        }
        c->auth_md.key = grpc_slice_from_static_string("authorization");
        c->auth_md.value = grpc_slice_from_copied_string(c->auth_value);
        c->have_auth = true;
    }
    return c;
}

void mbc_call_free(mbc_call_t *c)
{
    if (c == NULL)
        return;
    if (!c->status_received)
        grpc_call_cancel(c->call, NULL);
    grpc_call_unref(c->call);
    grpc_completion_queue_shutdown(c->cq);
    while (grpc_completion_queue_pluck(c->cq, NULL, gpr_inf_past(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(c->cq);
    if (c->have_auth)
        grpc_slice_unref(c->auth_md.value);
    grpc_slice_unref(c->details);
    grpc_metadata_array_destroy(&c->initial_md);
    grpc_metadata_array_destroy(&c->trailing_md);
    sodium_memzero(c->auth_value, sizeof c->auth_value); /* the API key */
    free(c);
}

static void set_send_initial(mbc_call_t *c, grpc_op *op)
{
    memset(op, 0, sizeof *op);
    op->op = GRPC_OP_SEND_INITIAL_METADATA;
    if (c->have_auth) {
        op->data.send_initial_metadata.count = 1;
        op->data.send_initial_metadata.metadata = &c->auth_md;
    }
}

static void set_recv_status(mbc_call_t *c, grpc_op *op)
{
    memset(op, 0, sizeof *op);
    op->op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    op->data.recv_status_on_client.status = &c->status;
    op->data.recv_status_on_client.status_details = &c->details;
    op->data.recv_status_on_client.trailing_metadata = &c->trailing_md;
}

static void fill_status(const mbc_call_t *c, mb_error *status)
{
    if (!c->status_received) {
        mb_error_set(status, GRPC_STATUS_INTERNAL, "call failed before a status arrived");
        return;
    }
    int n = (int)GRPC_SLICE_LENGTH(c->details);
    mb_error_set(status, c->status, "%.*s", n, (const char *)GRPC_SLICE_START_PTR(c->details));
}

/* Copies a received byte buffer into malloc'd memory. */
static int take_buffer(grpc_byte_buffer *bb, uint8_t **out, size_t *len)
{
    grpc_byte_buffer_reader r;
    if (!grpc_byte_buffer_reader_init(&r, bb))
        return -1;
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    *len = GRPC_SLICE_LENGTH(s);
    *out = malloc(*len ? *len : 1);
    if (*out != NULL)
        memcpy(*out, GRPC_SLICE_START_PTR(s), *len);
    grpc_slice_unref(s);
    return *out != NULL ? 0 : -1;
}

int mbc_unary_raw(mbc_channel_t *ch, const char *method, const char *api_key, const void *req,
                  size_t req_len, int timeout_ms, uint8_t **resp, size_t *resp_len,
                  mb_error *status)
{
    mbc_call_t *c = call_new(ch, method, api_key, timeout_ms);
    if (c == NULL)
        return mb_error_set(status, GRPC_STATUS_INVALID_ARGUMENT,
                            "cannot start the call: out of memory or API key too long");
    grpc_slice s = grpc_slice_from_copied_buffer(req, req_len);
    grpc_byte_buffer *send = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    grpc_byte_buffer *recv = NULL;
    grpc_op ops[6];
    memset(ops, 0, sizeof ops);
    set_send_initial(c, &ops[0]);
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = send;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[3].data.recv_initial_metadata.recv_initial_metadata = &c->initial_md;
    ops[4].op = GRPC_OP_RECV_MESSAGE;
    ops[4].data.recv_message.recv_message = &recv;
    set_recv_status(c, &ops[5]);
    c->status_received = run_batch(c, ops, 6);
    grpc_byte_buffer_destroy(send);
    fill_status(c, status);
    int ret = status->code == GRPC_STATUS_OK ? 0 : -1;
    if (ret == 0) {
        if (recv == NULL || take_buffer(recv, resp, resp_len) != 0)
            ret = mb_error_set(status, GRPC_STATUS_INTERNAL, "OK status without a response");
    }
    if (recv != NULL)
        grpc_byte_buffer_destroy(recv);
    mbc_call_free(c);
    return ret;
}

int mbc_unary(mbc_channel_t *ch, const char *method, const char *api_key,
              const ProtobufCMessage *req, const ProtobufCMessageDescriptor *resp_desc,
              int timeout_ms, ProtobufCMessage **resp, mb_error *status)
{
    size_t n = protobuf_c_message_get_packed_size(req);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL)
        return mb_error_set(status, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    protobuf_c_message_pack(req, buf);
    uint8_t *out = NULL;
    size_t out_len = 0;
    int ret = mbc_unary_raw(ch, method, api_key, buf, n, timeout_ms, &out, &out_len, status);
    free(buf);
    if (ret != 0)
        return -1;
    *resp = protobuf_c_message_unpack(resp_desc, NULL, out_len, out);
    free(out);
    if (*resp == NULL)
        return mb_error_set(status, GRPC_STATUS_INTERNAL, "response is not a valid %s",
                            resp_desc->name);
    return 0;
}

mbc_call_t *mbc_call_start(mbc_channel_t *ch, const char *method, const char *api_key,
                           int timeout_ms)
{
    mbc_call_t *c = call_new(ch, method, api_key, timeout_ms);
    if (c == NULL)
        return NULL;
    grpc_op op;
    set_send_initial(c, &op);
    run_batch(c, &op, 1);
    return c;
}

mbc_call_t *mbc_call_start_request(mbc_channel_t *ch, const char *method, const char *api_key,
                                   int timeout_ms, const ProtobufCMessage *req)
{
    mbc_call_t *c = mbc_call_start(ch, method, api_key, timeout_ms);
    if (c != NULL && mbc_call_send_msg(c, req) == 0)
        mbc_call_close_send(c);
    return c;
}

int mbc_call_send(mbc_call_t *c, const void *msg, size_t len)
{
    if (c->failed)
        return -1;
    grpc_slice s = grpc_slice_from_copied_buffer(msg, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_MESSAGE;
    op.data.send_message.send_message = bb;
    bool ok = run_batch(c, &op, 1);
    grpc_byte_buffer_destroy(bb);
    return ok ? 0 : -1;
}

int mbc_call_send_msg(mbc_call_t *c, const ProtobufCMessage *msg)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = malloc(n ? n : 1);
    if (buf == NULL)
        return -1;
    protobuf_c_message_pack(msg, buf);
    int ret = mbc_call_send(c, buf, n);
    free(buf);
    return ret;
}

int mbc_call_close_send(mbc_call_t *c)
{
    if (c->failed)
        return -1;
    grpc_op op;
    memset(&op, 0, sizeof op);
    op.op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    return run_batch(c, &op, 1) ? 0 : -1;
}

int mbc_call_recv(mbc_call_t *c, uint8_t **msg, size_t *len)
{
    grpc_op ops[2];
    size_t n = 0;
    grpc_byte_buffer *bb = NULL;
    memset(ops, 0, sizeof ops);
    if (!c->initial_md_received) {
        ops[n].op = GRPC_OP_RECV_INITIAL_METADATA;
        ops[n++].data.recv_initial_metadata.recv_initial_metadata = &c->initial_md;
        c->initial_md_received = true;
    }
    ops[n].op = GRPC_OP_RECV_MESSAGE;
    ops[n++].data.recv_message.recv_message = &bb;
    if (!run_batch(c, ops, n))
        return -1;
    if (bb == NULL)
        return 0;
    int ret = take_buffer(bb, msg, len) == 0 ? 1 : -1;
    grpc_byte_buffer_destroy(bb);
    return ret;
}

int mbc_call_finish(mbc_call_t *c, mb_error *status)
{
    if (!c->status_received && !c->failed) {
        /* The status is delivered only after the initial metadata and every
         * message were read: drain what the caller left. */
        uint8_t *msg;
        size_t len;
        while (mbc_call_recv(c, &msg, &len) == 1)
            free(msg);
    }
    if (!c->status_received) {
        grpc_op op;
        set_recv_status(c, &op);
        c->status_received = run_batch(c, &op, 1);
    }
    fill_status(c, status);
    return status->code == GRPC_STATUS_OK ? 0 : -1;
}
