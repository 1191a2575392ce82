/*
 * jobs.c - see jobs.h.
 *
 * `active` counts work accepted and not yet done (queued in the ring or
 * running), so it never exceeds the number of threads and the ring, sized
 * like the pool, never overflows.
 */
#include "rpc/jobs.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "base/clock.h"

typedef struct job {
    void (*fn)(void *arg);
    void *arg;
} job;

struct rpc_jobs {
    pthread_mutex_t lock;
    pthread_cond_t work; /* ring not empty, or stopping */
    pthread_cond_t idle; /* active dropped */
    pthread_t *threads;
    int n_threads, started;
    job *ring;
    int head, queued, active;
    bool stopping;
};

static void *job_thread(void *arg)
{
    rpc_jobs_t *p = arg;
    pthread_setname_np(pthread_self(), "mb-job");
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (p->queued == 0 && !p->stopping)
            pthread_cond_wait(&p->work, &p->lock);
        if (p->queued == 0)
            break;
        job j = p->ring[p->head];
        p->head = (p->head + 1) % p->n_threads;
        p->queued--;
        pthread_mutex_unlock(&p->lock);
        j.fn(j.arg);
        pthread_mutex_lock(&p->lock);
        p->active--;
        pthread_cond_broadcast(&p->idle);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

rpc_jobs_t *rpc_jobs_new(int n)
{
    rpc_jobs_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->work, NULL);
    mb_mono_cond_init(&p->idle);
    p->n_threads = n > 0 ? n : 1;
    p->threads = calloc((size_t)p->n_threads, sizeof *p->threads);
    p->ring = calloc((size_t)p->n_threads, sizeof *p->ring);
    if (p->threads == NULL || p->ring == NULL) {
        rpc_jobs_free(p);
        return NULL;
    }
    for (; p->started < p->n_threads; p->started++) {
        if (pthread_create(&p->threads[p->started], NULL, job_thread, p) != 0) {
            rpc_jobs_free(p);
            return NULL;
        }
    }
    return p;
}

int rpc_jobs_try_run(rpc_jobs_t *p, void (*fn)(void *arg), void *arg)
{
    pthread_mutex_lock(&p->lock);
    bool room = !p->stopping && p->active < p->n_threads;
    if (room) {
        p->ring[(p->head + p->queued) % p->n_threads] = (job){fn, arg};
        p->queued++;
        p->active++;
        pthread_cond_signal(&p->work);
    }
    pthread_mutex_unlock(&p->lock);
    return room ? 0 : -1;
}

bool rpc_jobs_wait_idle(rpc_jobs_t *p, int timeout_ms)
{
    struct timespec until = mb_mono_timespec(mb_mono_ns() + (int64_t)timeout_ms * 1000000);
    pthread_mutex_lock(&p->lock);
    while (p->active > 0) {
        if (timeout_ms < 0)
            pthread_cond_wait(&p->idle, &p->lock);
        else if (pthread_cond_timedwait(&p->idle, &p->lock, &until) != 0)
            break;
    }
    bool idle = p->active == 0;
    pthread_mutex_unlock(&p->lock);
    return idle;
}

void rpc_jobs_free(rpc_jobs_t *p)
{
    if (p == NULL)
        return;
    rpc_jobs_wait_idle(p, -1);
    pthread_mutex_lock(&p->lock);
    p->stopping = true;
    pthread_cond_broadcast(&p->work);
    pthread_mutex_unlock(&p->lock);
    for (int i = 0; i < p->started; i++)
        pthread_join(p->threads[i], NULL);
    free(p->threads);
    free(p->ring);
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->idle);
    pthread_mutex_destroy(&p->lock);
    free(p);
}
