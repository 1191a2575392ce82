/*
 * test_streams.c - open streams are bounded (issue 10, defect 13): anonymous
 * Health/Watch streams from many connections cannot grow the daemon without
 * bound. One connection gets at most 100 concurrent streams (HTTP/2
 * MAX_CONCURRENT_STREAMS: the rest wait on the client), the server at most
 * 1000 streaming calls (the rest: RESOURCE_EXHAUSTED at once), and what
 * cancelled streams held is given back.
 *
 * The C-core API is used directly: each channel gets its own connection
 * (a local subchannel pool), and hundreds of calls share one queue.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/byte_buffer.h>
#include <grpc/grpc.h>
#include <grpc/grpc_security.h>
#include <grpc/support/time.h>

#include "check.h"
#include "common.h"
#include "grpc/health/v1/health.pb-c.h"

#define N_CONN 13
#define PER_CONN 100
#define SERVER_MAX 1000
#define N_CALLS (N_CONN * PER_CONN)

typedef struct watch {
    grpc_call *call;
    grpc_byte_buffer *req;
    grpc_metadata_array initial, trailing;
    grpc_status_code code;
    grpc_slice details;
    bool done;
} watch;

static mbt_server srv;
static grpc_channel *chans[N_CONN];
static watch calls[N_CALLS];
static grpc_completion_queue *cq;

static void start_watch(watch *w, grpc_channel *ch)
{
    grpc_slice m = grpc_slice_from_static_string(MBT_HEALTH_WATCH);
    w->call = grpc_channel_create_call(ch, NULL, GRPC_PROPAGATE_DEFAULTS, cq, m, NULL,
                                       gpr_inf_future(GPR_CLOCK_REALTIME), NULL);
    uint8_t empty[1];
    grpc_slice body = grpc_slice_from_copied_buffer((const char *)empty, 0);
    w->req = grpc_raw_byte_buffer_create(&body, 1);
    grpc_slice_unref(body);
    grpc_metadata_array_init(&w->initial);
    grpc_metadata_array_init(&w->trailing);
    w->details = grpc_empty_slice();
    /* Status is delivered only once initial metadata has been read. */
    grpc_op ops[5];
    memset(ops, 0, sizeof ops);
    ops[0].op = GRPC_OP_SEND_INITIAL_METADATA;
    ops[1].op = GRPC_OP_SEND_MESSAGE;
    ops[1].data.send_message.send_message = w->req;
    ops[2].op = GRPC_OP_SEND_CLOSE_FROM_CLIENT;
    ops[3].op = GRPC_OP_RECV_STATUS_ON_CLIENT;
    ops[3].data.recv_status_on_client.status = &w->code;
    ops[3].data.recv_status_on_client.status_details = &w->details;
    ops[3].data.recv_status_on_client.trailing_metadata = &w->trailing;
    ops[4].op = GRPC_OP_RECV_INITIAL_METADATA;
    ops[4].data.recv_initial_metadata.recv_initial_metadata = &w->initial;
    CHECK(grpc_call_start_batch(w->call, ops, 5, w, NULL) == GRPC_CALL_OK);
}

/* Collects completed calls for up to ms; returns how many completed. */
static int drain(int ms)
{
    int n = 0;
    gpr_timespec until =
        gpr_time_add(gpr_now(GPR_CLOCK_REALTIME), gpr_time_from_millis(ms, GPR_TIMESPAN));
    for (;;) {
        grpc_event ev = grpc_completion_queue_next(cq, until, NULL);
        if (ev.type != GRPC_OP_COMPLETE)
            break;
        ((watch *)ev.tag)->done = true;
        n++;
    }
    return n;
}

static int count_code(grpc_status_code code)
{
    int n = 0;
    for (int i = 0; i < N_CALLS; i++)
        n += calls[i].done && calls[i].code == code;
    return n;
}

static void test_bounded(void)
{
    grpc_arg arg = {
        .type = GRPC_ARG_INTEGER, .key = GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, .value.integer = 1};
    grpc_channel_args args = {1, &arg};
    grpc_channel_credentials *creds = grpc_insecure_credentials_create();
    for (int i = 0; i < N_CONN; i++)
        chans[i] = grpc_channel_create(srv.d.target, creds, &args);
    grpc_channel_credentials_release(creds);
    long rss_base = mbt_daemon_rss_kib(&srv);

    /* Each connection asks for one stream more than it may have open. */
    for (int i = 0; i < N_CONN; i++)
        for (int k = 0; k < PER_CONN; k++)
            start_watch(&calls[i * PER_CONN + k], chans[i]);
    int ended = drain(mbt_ms(4000));
    int refused = count_code(GRPC_STATUS_RESOURCE_EXHAUSTED);
    long rss_open = mbt_daemon_rss_kib(&srv);
    fprintf(stderr,
            "   %d Watch streams on %d connections: %d ended at once (%d RESOURCE_EXHAUSTED); "
            "daemon RSS %ld -> %ld KiB\n",
            N_CALLS, N_CONN, ended, refused, rss_base, rss_open);
    CHECK(refused == N_CALLS - SERVER_MAX);
    CHECK(ended == refused);

    /* A new connection still gets its answers once streams are released. */
    for (int i = 0; i < N_CALLS; i++)
        if (!calls[i].done)
            grpc_call_cancel(calls[i].call, NULL);
    ended += drain(mbt_ms(3000));
    CHECK(ended == N_CALLS);
    mbt_sleep_ms(mbt_ms(500));
    long rss_after = mbt_daemon_rss_kib(&srv);
    fprintf(stderr, "   after cancelling them: daemon RSS %ld KiB\n", rss_after);
    /* What the streams held is freed and given back to the system. */
    if (!mbt_instrumented())
        CHECK(rss_after - rss_base < (rss_open - rss_base) / 2 + 2048);
    CHECK(mbt_health_ok(srv.ch));
    /* Refused streams do not write a line each: at most 20 a second pass,
     * and the next line that passes counts those dropped. */
    int refused_lines = mbt_log_count(&srv, "Health/Watch", "status=RESOURCE_EXHAUSTED");
    fprintf(stderr, "   %d of the %d refusals logged\n", refused_lines, refused);
    CHECK(refused_lines >= 1 && refused_lines <= 60);

    for (int i = 0; i < N_CALLS; i++) {
        grpc_call_unref(calls[i].call);
        grpc_byte_buffer_destroy(calls[i].req);
        grpc_metadata_array_destroy(&calls[i].initial);
        grpc_metadata_array_destroy(&calls[i].trailing);
        grpc_slice_unref(calls[i].details);
    }
    for (int i = 0; i < N_CONN; i++)
        grpc_channel_destroy(chans[i]);
}

int main(void)
{
    if (mbt_up(&srv, NULL) != 0)
        return 1;
    grpc_init();
    cq = grpc_completion_queue_create_for_next(NULL);
    test_bounded();
    CHECK(mbt_down(&srv) == 0);
    grpc_completion_queue_shutdown(cq);
    while (grpc_completion_queue_next(cq, gpr_inf_future(GPR_CLOCK_REALTIME), NULL).type !=
           GRPC_QUEUE_SHUTDOWN)
        ;
    grpc_completion_queue_destroy(cq);
    grpc_shutdown_blocking();
    return check_summary();
}
