/*
 * rng.c - see rng.h.
 *
 * Bytes are taken from the end of the unused part of the pool, so "left"
 * is all the state there is: pool[0, left) is unused kernel randomness,
 * pool[left, RNG_POOL_BYTES) zeros.
 */
#include "crypto/rng.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <string.h>
#include <sys/random.h>

#include <sodium.h>

#include "crypto/secmem.h"

_Static_assert(RNG_POOL_BYTES <= SECMEM_MAX_BYTES, "the pool is one secure memory slot");

typedef struct rng_pool {
    unsigned char *bytes; /* secmem slot; NULL until first use or if none was free */
    size_t left;
} rng_pool;

static _Thread_local rng_pool tl_pool;
static pthread_key_t pool_key; /* frees a thread's slot when it ends */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static bool key_ok;

/* Runs in the ending thread: a later draw there (another destructor) gets
 * a new pool instead of the freed slot. */
static void pool_free(void *bytes)
{
    tl_pool = (rng_pool){.bytes = NULL, .left = 0};
    secmem_free(bytes);
}

/* In the child of fork(), the forking thread's pool holds bytes its parent
 * may still hand out: the child must never use them. */
static void child_after_fork(void)
{
    if (tl_pool.bytes != NULL)
        sodium_memzero(tl_pool.bytes, RNG_POOL_BYTES);
    tl_pool.left = 0;
}

static void setup(void)
{
    key_ok = pthread_key_create(&pool_key, pool_free) == 0 &&
             pthread_atfork(NULL, NULL, child_after_fork) == 0;
}

/* The calling thread's pool, allocated on first use; NULL without one. */
static rng_pool *own_pool(void)
{
    if (tl_pool.bytes != NULL)
        return &tl_pool;
    pthread_once(&once, setup);
    if (!key_ok)
        return NULL;
    unsigned char *bytes = secmem_alloc(RNG_POOL_BYTES);
    if (bytes == NULL)
        return NULL;
    if (pthread_setspecific(pool_key, bytes) != 0) {
        secmem_free(bytes);
        return NULL;
    }
    tl_pool = (rng_pool){.bytes = bytes, .left = 0};
    return &tl_pool;
}

/* Fills the whole pool. getrandom(2) itself, not randombytes_buf(), which
 * asks for at most 256 bytes a call: a 1 KiB refill would be four calls. */
static void refill(rng_pool *p)
{
    size_t got = 0;
    while (got < RNG_POOL_BYTES) {
        ssize_t r = getrandom(p->bytes + got, RNG_POOL_BYTES - got, 0);
        if (r > 0)
            got += (size_t)r;
        else if (r < 0 && errno != EINTR)
            break;
    }
    if (got < RNG_POOL_BYTES) /* no getrandom(2): libsodium has other sources */
        randombytes_buf(p->bytes + got, RNG_POOL_BYTES - got);
    p->left = RNG_POOL_BYTES;
}

void rng_fill(void *out, size_t n)
{
    rng_pool *p = n <= RNG_POOL_BYTES / 4 ? own_pool() : NULL;
    if (p == NULL) {
        randombytes_buf(out, n);
        return;
    }
    if (p->left < n)
        refill(p);
    p->left -= n;
    memcpy(out, p->bytes + p->left, n);
    sodium_memzero(p->bytes + p->left, n);
}
