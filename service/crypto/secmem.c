/*
 * secmem.c - see secmem.h.
 *
 * Each slot size has a pool: an append-only table of regions, a stack of
 * free slots and a per-slot "in use" flag, the last two guarded by the
 * pool's mutex. A region is filled in before the count that publishes it is
 * raised (release) and never changes after, so finding the region of a
 * pointer needs no lock. Invariant: every slot on a free stack is all zeros
 * (a region is zeroed when added, a slot when freed), so secmem_alloc()
 * returns zeroed memory without writing to it.
 *
 * In AddressSanitizer builds free slots, and the bytes of a slot past what
 * was asked for, are poisoned: the tests then still catch the overruns and
 * uses after free that per-buffer guard pages would have caught.
 */
#include "crypto/secmem.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include <sodium.h>

#include "base/log.h"

#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* Regions double from 64 KiB (1024 small slots; 128 attaches in flight
 * hold 128) up to 4 MiB, so a pool reaches the cap in at most 7 + 14
 * regions. Every size is a multiple of the page and of both slot
 * sizes, so slots tile a region exactly and the cap exactly. */
#define FIRST_REGION_BYTES ((size_t)64 << 10)
#define MAX_REGION_BYTES ((size_t)4 << 20)
#define MAX_REGIONS 32

typedef struct region {
    unsigned char *base; /* sodium_malloc'd, never freed */
    size_t bytes;
    bool *used; /* per slot: handed out and not freed; under the pool lock */
} region;

typedef struct pool {
    size_t slot; /* bytes */
    pthread_mutex_t lock;
    atomic_size_t nregions; /* published regions */
    region regions[MAX_REGIONS];
    void **free; /* free slots, room for every slot; under the lock */
    size_t nfree, slots;
} pool;

static pool pools[] = {
    {.slot = SECMEM_SMALL_BYTES, .lock = PTHREAD_MUTEX_INITIALIZER},
    {.slot = SECMEM_MAX_BYTES, .lock = PTHREAD_MUTEX_INITIALIZER},
};
#define NPOOLS (sizeof pools / sizeof pools[0])

/* Bytes of all pools' regions, reserved before a region is allocated so
 * that two pools growing at once cannot pass the cap together. */
static atomic_size_t total_bytes;
static atomic_bool mlock_warned;

static _Noreturn void misuse(const char *what)
{
    mb_log(MB_LOG_ERROR, "event=secmem_misuse error=\"%s\"", what);
    abort();
}

static pool *pool_for(size_t n)
{
    for (size_t i = 0; i < NPOOLS; i++)
        if (n <= pools[i].slot)
            return &pools[i];
    return NULL;
}

/* The region of p holding s, and the slot index of s in it; NULL if s is in
 * none of p's regions. */
static region *region_of(pool *p, const void *s, size_t *index)
{
    size_t n = atomic_load_explicit(&p->nregions, memory_order_acquire);
    uintptr_t a = (uintptr_t)s;
    for (size_t i = 0; i < n; i++) {
        region *r = &p->regions[i];
        uintptr_t base = (uintptr_t)r->base;
        if (a >= base && a - base < r->bytes) {
            *index = (a - base) / p->slot;
            if ((a - base) % p->slot != 0)
                misuse("free of a pointer inside a slot");
            return r;
        }
    }
    return NULL;
}

static size_t reserve(size_t want)
{
    size_t total = atomic_load(&total_bytes), bytes;
    do {
        if (total >= SECMEM_CAP_BYTES)
            return 0;
        bytes = want < SECMEM_CAP_BYTES - total ? want : SECMEM_CAP_BYTES - total;
    } while (!atomic_compare_exchange_weak(&total_bytes, &total, total + bytes));
    return bytes;
}

/* Adds a region to p and its slots to the free stack. Caller holds p->lock,
 * which also keeps a second thread from growing the same pool meanwhile. */
static int grow(pool *p)
{
    size_t n = atomic_load_explicit(&p->nregions, memory_order_relaxed);
    if (n == MAX_REGIONS)
        return -1;
    size_t want = n == 0 ? FIRST_REGION_BYTES : p->regions[n - 1].bytes * 2;
    size_t bytes = reserve(want < MAX_REGION_BYTES ? want : MAX_REGION_BYTES);
    if (bytes == 0)
        return -1;
    size_t nslots = bytes / p->slot;
    void **stack = realloc(p->free, (p->slots + nslots) * sizeof *stack);
    if (stack != NULL)
        p->free = stack; /* only larger: fine to keep even if the rest fails */
    bool *used = calloc(nslots, sizeof *used);
    /* sodium_malloc() needs sodium_init() (page size, canary); repeating it
     * is cheap and thread-safe. */
    unsigned char *base = sodium_init() < 0 ? NULL : sodium_malloc(bytes);
    if (stack == NULL || used == NULL || base == NULL) {
        free(used);
        sodium_free(base);
        atomic_fetch_sub(&total_bytes, bytes);
        return -1;
    }
    /* sodium_malloc() fills with garbage; free slots must hold zeros. It also
     * does not say whether mlock() worked: asking again costs nothing for
     * pages already locked, and tells the operator when RLIMIT_MEMLOCK is too
     * low for secrets to stay out of swap. */
    sodium_memzero(base, bytes);
    POISON(base, bytes);
    if (sodium_mlock(base, bytes) != 0 && !atomic_exchange(&mlock_warned, true))
        mb_log(MB_LOG_WARN,
               "event=secmem_mlock_failed region_bytes=%zu total_bytes=%zu"
               " hint=\"raise RLIMIT_MEMLOCK (LimitMEMLOCK=) or secrets may be swapped\"",
               bytes, atomic_load(&total_bytes));
    /* Pushed from the top down so that the lowest slot is handed out first. */
    for (size_t i = nslots; i-- > 0;)
        p->free[p->nfree++] = base + i * p->slot;
    p->slots += nslots;
    p->regions[n] = (region){.base = base, .bytes = bytes, .used = used};
    atomic_store_explicit(&p->nregions, n + 1, memory_order_release);
    return 0;
}

void *secmem_alloc(size_t n)
{
    pool *p = pool_for(n);
    if (p == NULL)
        return NULL;
    void *s = NULL;
    pthread_mutex_lock(&p->lock);
    if (p->nfree > 0 || grow(p) == 0) {
        size_t index;
        s = p->free[--p->nfree];
        region_of(p, s, &index)->used[index] = true;
        UNPOISON(s, n);
    }
    pthread_mutex_unlock(&p->lock);
    return s;
}

void secmem_free(void *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < NPOOLS; i++) {
        pool *p = &pools[i];
        size_t index;
        region *r = region_of(p, s, &index);
        if (r == NULL)
            continue;
        /* Checked and wiped under the lock: once the slot is on the stack,
         * another thread may own it. */
        pthread_mutex_lock(&p->lock);
        if (!r->used[index])
            misuse("double free of a slot");
        r->used[index] = false;
        UNPOISON(s, p->slot);
        sodium_memzero(s, p->slot);
        POISON(s, p->slot);
        p->free[p->nfree++] = s;
        pthread_mutex_unlock(&p->lock);
        return;
    }
    misuse("free of a pointer secmem_alloc() did not return");
}

void secmem_get_usage(secmem_usage *out)
{
    *out = (secmem_usage){0};
    for (size_t i = 0; i < NPOOLS; i++) {
        pool *p = &pools[i];
        pthread_mutex_lock(&p->lock);
        size_t n = atomic_load_explicit(&p->nregions, memory_order_relaxed);
        out->regions += n;
        for (size_t j = 0; j < n; j++)
            out->bytes += p->regions[j].bytes;
        out->slots += p->slots;
        out->in_use += p->slots - p->nfree;
        pthread_mutex_unlock(&p->lock);
    }
}
