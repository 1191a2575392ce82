/*
 * bench_usage.c - see bench_usage.h.
 */
#include "bench_usage.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer_reader.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "minbill/v1/metering.pb-c.h"

#define STREAM_METHOD "/minbill.v1.Metering/StreamUsage"
#define KEY_LEN 24     /* fixed width, see make_key() */
#define EVENT_MAX 128  /* encoded bytes of one event, with room to spare */
#define LANE_BATCHED 70 /* unary lanes, apart from the streams' 0..63 */
#define LANE_SINGLE 90

#define ID_MAX 48

int bu_accounts(bu_shape *s, long n, const char *prefix)
{
    char *ids = calloc((size_t)n, ID_MAX);
    char **v = calloc((size_t)n, sizeof *v);
    if (ids == NULL || v == NULL) {
        free(ids);
        free(v);
        fprintf(stderr, "accounts: out of memory\n");
        return -1;
    }
    for (long i = 0; i < n; i++) {
        v[i] = ids + i * ID_MAX;
        snprintf(v[i], ID_MAX, "%s%05ld", prefix, i);
    }
    s->accounts = v;
    s->n_accounts = n;
    return 0;
}

void bu_accounts_free(bu_shape *s)
{
    if (s->accounts != NULL)
        free(s->accounts[0]);
    free((void *)s->accounts);
    s->accounts = NULL;
}

void bu_new_run(bu_shape *s)
{
    snprintf(s->run_id, sizeof s->run_id, "%08x", (unsigned)rand());
}

/* --- hand encoding ---------------------------------------------------------- */

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

static size_t put_string(uint8_t *p, unsigned field, const char *s, size_t len)
{
    size_t n = put_varint(p, field << 3 | 2);
    n += put_varint(p + n, len);
    memcpy(p + n, s, len);
    return n + len;
}

/* One UsageEvent (quantity 1) as a RecordUsageRequest.events entry. */
static size_t encode_event(uint8_t *out, const char *key, const char *account, const char *metric,
                           int64_t occurred)
{
    uint8_t ev[EVENT_MAX], ts[16];
    size_t n = put_string(ev, 1, key, KEY_LEN);
    n += put_string(ev + n, 2, account, strlen(account));
    n += put_string(ev + n, 3, metric, strlen(metric));
    n += put_varint(ev + n, 4 << 3 | 0);
    n += put_varint(ev + n, 1);
    size_t tn = put_varint(ts, 1 << 3 | 0);
    tn += put_varint(ts + tn, (uint64_t)occurred);
    n += put_varint(ev + n, 5 << 3 | 2);
    n += put_varint(ev + n, tn);
    memcpy(ev + n, ts, tn);
    n += tn;
    size_t m = put_varint(out, 1 << 3 | 2);
    m += put_varint(out + m, n);
    memcpy(out + m, ev, n);
    return m + n;
}

/* "r" run(8) "-" lane(2) "-" seq(11): distinct per (run, lane, seq). */
static void make_key(char key[KEY_LEN + 1], const char *run_id, long lane, uint64_t seq)
{
    key[0] = 'r';
    memcpy(key + 1, run_id, 8);
    key[9] = '-';
    key[10] = (char)('0' + lane / 10 % 10);
    key[11] = (char)('0' + lane % 10);
    key[12] = '-';
    for (int i = KEY_LEN - 1; i >= 13; i--, seq /= 10)
        key[i] = (char)('0' + seq % 10);
    key[KEY_LEN] = '\0';
}

static grpc_byte_buffer *wrap(const uint8_t *buf, size_t len)
{
    grpc_slice s = grpc_slice_from_copied_buffer((const char *)buf, len);
    grpc_byte_buffer *bb = grpc_raw_byte_buffer_create(&s, 1);
    grpc_slice_unref(s);
    return bb;
}

/* n events (keys seq..seq+n-1 of the lane) spread over the shape's span of
 * accounts, which moves on with every message, and both metrics. */
static grpc_byte_buffer *batch_buffer(const bu_shape *s, long lane, uint64_t seq, long n)
{
    static _Thread_local uint8_t buf[BU_MAX_BATCH * EVENT_MAX];
    size_t len = 0;
    long first = lane * 7 + (long)(seq / (uint64_t)n) * 3;
    for (long e = 0; e < n; e++) {
        char key[KEY_LEN + 1];
        make_key(key, s->run_id, lane, seq + (uint64_t)e);
        len += encode_event(buf + len, key, s->accounts[(first + e % s->span) % s->n_accounts],
                            e % 2 ? "seats" : "messages", s->occurred);
    }
    return wrap(buf, len);
}

static int decode_counts(grpc_byte_buffer *bb, int64_t *accepted, int64_t *duplicates)
{
    grpc_byte_buffer_reader r;
    if (bb == NULL || !grpc_byte_buffer_reader_init(&r, bb))
        return -1;
    grpc_slice s = grpc_byte_buffer_reader_readall(&r);
    grpc_byte_buffer_reader_destroy(&r);
    Minbill__V1__RecordUsageResponse *m = minbill__v1__record_usage_response__unpack(
        NULL, GRPC_SLICE_LENGTH(s), GRPC_SLICE_START_PTR(s));
    grpc_slice_unref(s);
    if (m == NULL)
        return -1;
    *accepted = m->accepted;
    *duplicates = m->duplicates;
    minbill__v1__record_usage_response__free_unpacked(m, NULL);
    return 0;
}

/* --- streams ------------------------------------------------------------------ */

typedef struct stream stream;
typedef struct tag {
    stream *s;
    bool final;
} tag;

struct stream {
    long idx;
    grpc_call *call;
    tag t_send, t_final;
    uint64_t seq;
    grpc_byte_buffer *sending, *resp;
    grpc_metadata_array init_md, trail_md;
    grpc_status_code status;
    grpc_slice details;
};

static void stream_send(const bu_shape *sh, stream *s, bool first, grpc_metadata *auth)
{
    grpc_op ops[2];
    size_t n = 0;
    memset(ops, 0, sizeof ops);
    if (first) {
        ops[n].op = GRPC_OP_SEND_INITIAL_METADATA;
        ops[n].data.send_initial_metadata.count = 1;
        ops[n++].data.send_initial_metadata.metadata = auth;
    }
    s->sending = batch_buffer(sh, s->idx, s->seq, sh->batch);
    s->seq += (uint64_t)sh->batch;
    ops[n].op = GRPC_OP_SEND_MESSAGE;
    ops[n++].data.send_message.send_message = s->sending;
    grpc_call_start_batch(s->call, ops, n, &s->t_send, NULL);
}

static void stream_close(stream *s)
{
    grpc_op ops[4];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    bc_recv_ops(&ops[1], &s->init_md, &s->resp, &s->status, &s->details, &s->trail_md);
    grpc_call_start_batch(s->call, ops, 4, &s->t_final, NULL);
}

int bu_run_streams(const char *prog, const bu_shape *sh, const char *target,
                   const char *platform_key, long streams, double seconds, bu_stream_result *res)
{
    memset(res, 0, sizeof *res);
    stream *st = calloc((size_t)streams, sizeof *st);
    if (st == NULL) {
        fprintf(stderr, "%s: streams: out of memory\n", prog);
        return -1;
    }
    grpc_init();
    grpc_completion_queue *cq = grpc_completion_queue_create_for_next(NULL);
    /* Two connections, so one HTTP/2 connection's flow control is not the
     * bottleneck being measured. */
    grpc_arg arg = {
        .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, .value.integer = 1};
    grpc_channel_args args = {1, &arg};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    grpc_channel *ch[2] = {grpc_channel_create(target, creds, &args),
                           grpc_channel_create(target, creds, &args)};
    grpc_channel_credentials_release(creds);
    char bearer[160];
    snprintf(bearer, sizeof bearer, "Bearer %s", platform_key);
    grpc_metadata auth = {.key = grpc_slice_from_static_string("authorization"),
                          .value = grpc_slice_from_copied_string(bearer)};
    grpc_slice method = grpc_slice_from_static_string(STREAM_METHOD);
    gpr_timespec deadline =
        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME),
                     gpr_time_from_seconds((int64_t)seconds + 120, GPR_TIMESPAN));
    int64_t t0 = bc_now_ns(), end = t0 + (int64_t)(seconds * 1e9),
            next_report = t0 + 10000000000LL;
    int64_t sent_at_report = 0;
    for (long i = 0; i < streams; i++) {
        stream *s = &st[i];
        s->idx = i;
        s->t_send = (tag){s, false};
        s->t_final = (tag){s, true};
        grpc_metadata_array_init(&s->init_md);
        grpc_metadata_array_init(&s->trail_md);
        s->call = grpc_channel_create_call(ch[i % 2], NULL, GRPC_PROPAGATE_DEFAULTS, cq, method,
                                           NULL, deadline, NULL);
        stream_send(sh, s, true, &auth);
    }
    long open = streams;
    int64_t last_done = t0;
    while (open > 0) {
        grpc_event ev = grpc_completion_queue_next(
            cq, gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(200, GPR_TIMESPAN)),
            NULL);
        int64_t now = bc_now_ns();
        if (now >= next_report) {
            printf("  %3.0f s: %.0f events/s sent in the last 10 s\n", (now - t0) / 1e9,
                   (res->sent - sent_at_report) / ((now - next_report + 10000000000LL) / 1e9));
            fflush(stdout);
            sent_at_report = res->sent;
            next_report = now + 10000000000LL;
        }
        if (ev.type != GRPC_OP_COMPLETE)
            continue;
        tag *t = ev.tag;
        stream *s = t->s;
        if (!t->final) {
            grpc_byte_buffer_destroy(s->sending);
            s->sending = NULL;
            if (ev.success)
                res->sent += sh->batch;
            if (ev.success && now < end)
                stream_send(sh, s, false, &auth);
            else
                stream_close(s);
            continue;
        }
        open--;
        last_done = now;
        int64_t acc = 0, dup = 0;
        if (s->status != GRPC_STATUS_OK || decode_counts(s->resp, &acc, &dup) != 0) {
            if (res->failed++ == 0)
                snprintf(res->first_error, sizeof res->first_error, "stream %ld: %s: %.*s", s->idx,
                         mb_status_name(s->status), (int)GRPC_SLICE_LENGTH(s->details),
                         (const char *)GRPC_SLICE_START_PTR(s->details));
        }
        res->accepted += acc;
        res->duplicates += dup;
    }
    res->seconds = (last_done - t0) / 1e9;
    for (long i = 0; i < streams; i++) {
        stream *s = &st[i];
        if (s->resp != NULL)
            grpc_byte_buffer_destroy(s->resp);
        grpc_metadata_array_destroy(&s->init_md);
        grpc_metadata_array_destroy(&s->trail_md);
        grpc_slice_unref(s->details);
        grpc_call_unref(s->call);
    }
    free(st);
    grpc_slice_unref(auth.value);
    grpc_channel_destroy(ch[0]);
    grpc_channel_destroy(ch[1]);
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN) {
    }
    grpc_completion_queue_destroy(cq);
    grpc_shutdown();
    return 0;
}

/* --- unary calls ---------------------------------------------------------------- */

static int make_call(void *user, size_t thread, void *ctx, grpc_byte_buffer **req, char *why,
                     size_t why_size)
{
    bu_unary *u = user;
    const bu_shape *s = u->shape;
    uint64_t seq = atomic_fetch_add(&u->seq, (uint64_t)u->events);
    if (u->events > 1) {
        *req = batch_buffer(s, LANE_BATCHED, seq, u->events);
        return 0;
    }
    char key[KEY_LEN + 1];
    uint8_t buf[EVENT_MAX];
    make_key(key, s->run_id, LANE_SINGLE, seq);
    *req = wrap(buf, encode_event(buf, key, s->accounts[seq % (uint64_t)s->n_accounts], "messages",
                                  s->occurred));
    return 0;
}

static int check_call(void *user, size_t thread, void *ctx, const uint8_t *resp, size_t len,
                      char *why, size_t why_size)
{
    const bu_unary *u = user;
    return bc_check_usage_counts(resp, len, u->events, 0, why, why_size);
}

bc_load_spec bu_unary_spec(bu_unary *u, const bu_shape *s, long events, const char *prog,
                           const char *target, const char *platform_key, long inflight,
                           int deadline_ms)
{
    u->shape = s;
    u->events = events;
    atomic_store(&u->seq, 0);
    bc_load_spec sp = bc_record_usage_spec(prog, target, platform_key, inflight, deadline_ms);
    sp.user = u;
    sp.make = make_call;
    sp.check = check_call;
    return sp;
}
