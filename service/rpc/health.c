/*
 * health.c - see health.h.
 */
#include "rpc/health.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "grpc/health/v1/health.pb-c.h"

typedef struct watcher {
    struct watcher *prev, *next;
    rpc_call_t *call;
    bool known;
    bool listed; /* on h->watchers; changed only under h->lock */
} watcher;

struct health {
    const rpc_method *methods;
    size_t n_methods;
    pthread_mutex_t lock;
    bool serving;
    bool writable; /* the storage takes writes (health_set_writable) */
    watcher *watchers;
};

health_t *health_new(const rpc_method *methods, size_t n_methods)
{
    health_t *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->methods = methods;
    h->n_methods = n_methods;
    h->writable = true;
    pthread_mutex_init(&h->lock, NULL);
    return h;
}

void health_free(health_t *h)
{
    if (h == NULL)
        return;
    pthread_mutex_destroy(&h->lock);
    free(h);
}

/* "" or "pkg.Service" for which the method table has a method. */
static bool service_known(const health_t *h, const char *service)
{
    size_t n = strlen(service);
    if (n == 0)
        return true;
    for (size_t i = 0; i < h->n_methods; i++) {
        const char *p = h->methods[i].path;
        if (strncmp(p + 1, service, n) == 0 && p[n + 1] == '/')
            return true;
    }
    return false;
}

static Grpc__Health__V1__HealthCheckResponse__ServingStatus status_of(const health_t *h,
                                                                     bool known)
{
    if (!known)
        return GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVICE_UNKNOWN;
    return h->serving && h->writable
               ? GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__SERVING
               : GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__SERVING_STATUS__NOT_SERVING;
}

static int send_status(rpc_call_t *call, Grpc__Health__V1__HealthCheckResponse__ServingStatus s)
{
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    resp.status = s;
    return rpc_call_send(call, &resp.base);
}

static health_t *health_of(const rpc_call_t *call)
{
    return ((mb_app *)rpc_call_app(call))->health;
}

int health_check(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Grpc__Health__V1__HealthCheckRequest *req = (const void *)msg;
    health_t *h = health_of(call);
    if (!service_known(h, req->service)) {
        mb_error err;
        mb_error_set(&err, GRPC_STATUS_NOT_FOUND, "service: unknown service name");
        return rpc_call_fail(call, &err);
    }
    Grpc__Health__V1__HealthCheckResponse resp = GRPC__HEALTH__V1__HEALTH_CHECK_RESPONSE__INIT;
    pthread_mutex_lock(&h->lock);
    resp.status = status_of(h, true);
    pthread_mutex_unlock(&h->lock);
    rpc_call_finish(call, &resp.base, NULL);
    return RPC_CONTINUE;
}

int health_watch(rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Grpc__Health__V1__HealthCheckRequest *req = (const void *)msg;
    health_t *h = health_of(call);
    watcher *w = mb_arena_alloc(rpc_call_arena(call), sizeof *w);
    if (w == NULL) {
        mb_error err;
        mb_error_set(&err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return rpc_call_fail(call, &err);
    }
    w->call = call;
    w->known = service_known(h, req->service);
    w->prev = NULL;
    w->listed = true;
    rpc_call_set_state(call, w);
    pthread_mutex_lock(&h->lock);
    /* Sent under the lock so that no status change can overtake it. */
    send_status(call, status_of(h, w->known));
    w->next = h->watchers;
    if (h->watchers != NULL)
        h->watchers->prev = w;
    h->watchers = w;
    pthread_mutex_unlock(&h->lock);
    return RPC_CONTINUE;
}

static void unlink_watcher(health_t *h, watcher *w)
{
    if (w->prev != NULL)
        w->prev->next = w->next;
    else
        h->watchers = w->next;
    if (w->next != NULL)
        w->next->prev = w->prev;
    w->prev = w->next = NULL;
    w->listed = false;
}

void health_watch_cancel(rpc_call_t *call)
{
    health_t *h = health_of(call);
    watcher *w = rpc_call_state(call);
    pthread_mutex_lock(&h->lock);
    /* If shutdown already took it off the list, shutdown finishes it. */
    bool listed = w != NULL && w->listed;
    if (listed)
        unlink_watcher(h, w);
    pthread_mutex_unlock(&h->lock);
    if (listed) {
        mb_error err;
        mb_error_set(&err, GRPC_STATUS_CANCELLED, "watch ended by the client");
        rpc_call_finish(call, NULL, &err);
    }
}

void health_set_serving(health_t *h, bool serving)
{
    pthread_mutex_lock(&h->lock);
    h->serving = serving;
    watcher *ended = NULL;
    if (serving) {
        for (watcher *w = h->watchers; w != NULL; w = w->next)
            if (w->known)
                send_status(w->call, status_of(h, true));
    } else {
        ended = h->watchers;
        h->watchers = NULL;
        /* The chain stays intact for the loop below; unlisting tells
         * health_watch_cancel() that the call is ours to finish. */
        for (watcher *w = ended; w != NULL; w = w->next) {
            w->listed = false;
            if (w->known)
                send_status(w->call, status_of(h, true));
        }
    }
    pthread_mutex_unlock(&h->lock);
    while (ended != NULL) {
        watcher *w = ended;
        ended = w->next;
        mb_error err;
        mb_error_set(&err, GRPC_STATUS_UNAVAILABLE, "server is shutting down");
        rpc_call_finish(w->call, NULL, &err);
    }
}

void health_set_writable(health_t *h, bool writable)
{
    pthread_mutex_lock(&h->lock);
    bool changed = h->writable != writable;
    h->writable = writable;
    /* While shutting down the streams are ended; nothing to tell. */
    for (watcher *w = h->watchers; changed && w != NULL; w = w->next)
        if (w->known)
            send_status(w->call, status_of(h, true));
    pthread_mutex_unlock(&h->lock);
}
