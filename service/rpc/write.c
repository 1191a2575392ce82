/*
 * write.c - see write.h.
 */
#include "rpc/write.h"

#include "store/writer.h"

typedef struct write_job {
    store_job job;
    rpc_call_t *call;
    rpc_write_fn fn;
    void *arg;
    ProtobufCMessage *resp;
} write_job;

static int write_run(store_conn_t *conn, void *arg, mb_error *err)
{
    write_job *w = arg;
    return w->fn(conn, w->call, w->arg, &w->resp, err);
}

static void write_done(void *arg, const mb_error *err)
{
    write_job *w = arg;
    rpc_call_finish(w->call, err != NULL ? NULL : w->resp, err);
}

void rpc_call_write(rpc_call_t *call, store_t *store, rpc_write_fn fn, void *arg)
{
    mb_error err;
    write_job *w = mb_arena_alloc(rpc_call_arena(call), sizeof *w);
    if (w == NULL) {
        mb_error_set(&err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        rpc_call_finish(call, NULL, &err);
        return;
    }
    *w = (write_job){.job = {.run = write_run,
                             .done = write_done,
                             .deadline_ns = rpc_call_deadline_ns(call)},
                     .call = call,
                     .fn = fn,
                     .arg = arg};
    w->job.arg = w;
    if (store_submit(store, &w->job, &err) != 0)
        rpc_call_finish(call, NULL, &err);
}
