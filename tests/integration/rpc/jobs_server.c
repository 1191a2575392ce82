/*
 * jobs_server.c - a gRPC server for the runtime's job tests (test_jobs.c):
 * rpc_server_start() with its own method table, so that the tests exercise
 * .job methods without a test-only RPC in minbilld's contract.
 *
 * It takes the command lines the harness gives minbilld: `serve --listen
 * HOST:PORT ...` (other flags ignored) serves; anything else (`keys init`)
 * has nothing to do and succeeds. Serving, it logs `event=serving port=N` and, on
 * SIGTERM, shuts down like minbilld and logs `event=stopped`.
 *
 * Methods (requests and stream messages are grpc.health.v1.HealthCheckRequest;
 * its `service` string carries the parameters and the answers):
 *   /minbill.test.Jobs/Count  server streaming, job: "N SIZE STEP_MS" sends N
 *                             messages of SIZE bytes with rpc_call_send_wait,
 *                             sleeping STEP_MS before each
 *   /minbill.test.Jobs/Hold   unary, job: runs until rpc_call_stopped()
 *   /minbill.test.Jobs/Flood  server streaming, ordinary: "N SIZE" queues N
 *                             messages of SIZE bytes with rpc_call_send at
 *                             once, stopping at the first refusal
 *   /minbill.test.Jobs/Stats  unary, ordinary: "started=.. running=..
 *                             stopped=.. produced=.. flooded=.." (produced:
 *                             messages the latest Count has handed to the
 *                             runtime; flooded: those the latest Flood queued)
 */
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/log.h"
#include "grpc/health/v1/health.pb-c.h"
#include "rpc/server.h"

#define SHUTDOWN_GRACE_MS 10000

static atomic_long started, running, stopped, produced, flooded;

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* A job saw its call end: counted, logged (test_jobs checks the log after a
 * shutdown), and answered. */
static void end_stopped(rpc_call_t *call, const char *method)
{
    atomic_fetch_add(&stopped, 1);
    mb_log(MB_LOG_INFO, "event=job_stopped method=%s", method);
    mb_error err;
    mb_error_set(&err, GRPC_STATUS_ABORTED, "stopped");
    rpc_call_finish(call, NULL, &err);
}

static int count(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Grpc__Health__V1__HealthCheckRequest *req = (const void *)msg;
    atomic_fetch_add(&started, 1);
    atomic_fetch_add(&running, 1);
    atomic_store(&produced, 0);
    long n = 0, size = 0, step_ms = 0;
    sscanf(req->service, "%ld %ld %ld", &n, &size, &step_ms);
    char *text = malloc((size_t)size + 32);
    bool ended = false;
    for (long i = 0; text != NULL && i < n && !ended; i++) {
        sleep_ms(step_ms);
        if (rpc_call_stopped(call)) {
            ended = true;
            break;
        }
        int k = snprintf(text, 32, "%ld ", i);
        memset(text + k, 'x', (size_t)size);
        text[k + size] = '\0';
        Grpc__Health__V1__HealthCheckRequest out = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
        out.service = text;
        ended = rpc_call_send_wait(call, &out.base) != 0;
        atomic_fetch_add(&produced, 1);
    }
    free(text);
    if (ended)
        end_stopped(call, "Count");
    else
        rpc_call_finish(call, NULL, NULL);
    atomic_fetch_sub(&running, 1);
    return RPC_CONTINUE;
}

static int hold(rpc_call_t *call, const ProtobufCMessage *msg)
{
    (void)msg;
    atomic_fetch_add(&started, 1);
    atomic_fetch_add(&running, 1);
    while (!rpc_call_stopped(call))
        sleep_ms(5);
    end_stopped(call, "Hold");
    atomic_fetch_sub(&running, 1);
    return RPC_CONTINUE;
}

static int flood(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Grpc__Health__V1__HealthCheckRequest *req = (const void *)msg;
    long n = 0, size = 0, sent = 0;
    sscanf(req->service, "%ld %ld", &n, &size);
    char *text = calloc(1, (size_t)size + 1);
    if (text != NULL)
        memset(text, 'x', (size_t)size);
    Grpc__Health__V1__HealthCheckRequest out = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    out.service = text;
    while (text != NULL && sent < n && rpc_call_send(call, &out.base) == 0)
        sent++;
    free(text);
    atomic_store(&flooded, sent);
    rpc_call_finish(call, NULL, NULL);
    return RPC_CONTINUE;
}

/* Flood finishes before it returns: nothing is left to cancel. */
static void flood_cancel(rpc_call_t *call)
{
    (void)call;
}

static int stats(rpc_call_t *call, const ProtobufCMessage *msg)
{
    (void)msg;
    char text[160];
    snprintf(text, sizeof text, "started=%ld running=%ld stopped=%ld produced=%ld flooded=%ld",
             atomic_load(&started), atomic_load(&running), atomic_load(&stopped),
             atomic_load(&produced), atomic_load(&flooded));
    Grpc__Health__V1__HealthCheckRequest out = GRPC__HEALTH__V1__HEALTH_CHECK_REQUEST__INIT;
    out.service = text;
    rpc_call_finish(call, &out.base, NULL);
    return RPC_CONTINUE;
}

static const rpc_method methods[] = {
    {.path = "/minbill.test.Jobs/Count",
     .kind = RPC_SERVER_STREAMING,
     .request = &grpc__health__v1__health_check_request__descriptor,
     .roles = ROLE_ANONYMOUS,
     .on_message = count,
     .job = true},
    {.path = "/minbill.test.Jobs/Hold",
     .kind = RPC_UNARY,
     .request = &grpc__health__v1__health_check_request__descriptor,
     .roles = ROLE_ANONYMOUS,
     .on_message = hold,
     .job = true},
    {.path = "/minbill.test.Jobs/Flood",
     .kind = RPC_SERVER_STREAMING,
     .request = &grpc__health__v1__health_check_request__descriptor,
     .roles = ROLE_ANONYMOUS,
     .on_message = flood,
     .on_cancel = flood_cancel},
    {.path = "/minbill.test.Jobs/Stats",
     .kind = RPC_UNARY,
     .request = &grpc__health__v1__health_check_request__descriptor,
     .roles = ROLE_ANONYMOUS,
     .on_message = stats},
};

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "serve") != 0)
        return 0;
    const char *listen = "127.0.0.1:0";
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--listen") == 0)
            listen = argv[i + 1];
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    rpc_options opt = {
        .listen = listen,
        .threads = 2,
        .max_message_bytes = 4 << 20,
        .methods = methods,
        .n_methods = sizeof methods / sizeof methods[0],
        .job_threads = 2,
    };
    rpc_server_t *srv;
    int port;
    mb_error err;
    if (rpc_server_start(&opt, &srv, &port, &err) != 0) {
        mb_log(MB_LOG_ERROR, "event=start_failed error=\"%s\"", err.msg);
        return 1;
    }
    mb_log(MB_LOG_INFO, "event=serving port=%d", port);
    int sig;
    sigwait(&sigs, &sig);
    rpc_server_shutdown(srv, SHUTDOWN_GRACE_MS);
    mb_log(MB_LOG_INFO, "event=stopped");
    return 0;
}
