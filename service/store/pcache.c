/*
 * pcache.c - see pcache.h.
 */
#include "store/pcache.h"

#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>

#include <sqlite3.h>

/* More remembered pages than this in one transaction (a bulk load): stop
 * counting and pass the next truncate on. */
#define HIGH_MAX 65536

typedef struct high_page {
    sqlite3_pcache_page *page;
    unsigned key;
} high_page;

typedef struct wrapped {
    sqlite3_pcache *real;
    unsigned limit; /* the last truncate's; UINT_MAX before the first */
    bool lost;      /* a page at or above limit may not be in high[] */
    high_page *high;
    size_t n, cap;
} wrapped;

static sqlite3_pcache_methods2 real_methods;
static atomic_uint_fast64_t passed_count, skipped_count;

/* Remembers that page is at key (key >= w->limit). */
static void remember(wrapped *w, sqlite3_pcache_page *page, unsigned key)
{
    if (w->lost)
        return;
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 64;
        high_page *h = cap <= HIGH_MAX ? realloc(w->high, cap * sizeof *h) : NULL;
        if (h == NULL) {
            w->lost = true;
            return;
        }
        w->high = h;
        w->cap = cap;
    }
    w->high[w->n++] = (high_page){page, key};
}

static int p_init(void *arg)
{
    (void)arg;
    return real_methods.xInit(real_methods.pArg);
}

static void p_shutdown(void *arg)
{
    (void)arg;
    real_methods.xShutdown(real_methods.pArg);
}

static sqlite3_pcache *p_create(int page_size, int extra_size, int purgeable)
{
    wrapped *w = calloc(1, sizeof *w);
    if (w == NULL)
        return NULL;
    w->real = real_methods.xCreate(page_size, extra_size, purgeable);
    if (w->real == NULL) {
        free(w);
        return NULL;
    }
    w->limit = UINT_MAX;
    return (sqlite3_pcache *)w;
}

static void p_cachesize(sqlite3_pcache *p, int n)
{
    real_methods.xCachesize(((wrapped *)p)->real, n);
}

static int p_pagecount(sqlite3_pcache *p)
{
    return real_methods.xPagecount(((wrapped *)p)->real);
}

static sqlite3_pcache_page *p_fetch(sqlite3_pcache *p, unsigned key, int create)
{
    wrapped *w = (wrapped *)p;
    sqlite3_pcache_page *page = real_methods.xFetch(w->real, key, create);
    if (page != NULL && create != 0 && key >= w->limit)
        remember(w, page, key);
    return page;
}

static void p_unpin(sqlite3_pcache *p, sqlite3_pcache_page *page, int discard)
{
    real_methods.xUnpin(((wrapped *)p)->real, page, discard);
}

/* A page remembered under its old key is remembered under the new one
 * (the old entry alone could only cause a needless truncate, but a page
 * moved below the limit must not keep one passed on every time). */
static void p_rekey(sqlite3_pcache *p, sqlite3_pcache_page *page, unsigned old_key,
                    unsigned new_key)
{
    wrapped *w = (wrapped *)p;
    real_methods.xRekey(w->real, page, old_key, new_key);
    if (w->lost)
        return; /* the next truncate is passed on anyway */
    bool found = false;
    for (size_t i = w->n; i-- > 0;)
        if (w->high[i].page == page) {
            w->high[i].key = new_key;
            found = true;
        }
    if (!found && new_key >= w->limit)
        remember(w, page, new_key);
}

static void p_truncate(sqlite3_pcache *p, unsigned limit)
{
    wrapped *w = (wrapped *)p;
    /* Every page at or above w->limit is in high[] (unless lost), and none
     * below it can be at or above a limit that did not go down. */
    bool needed = w->lost || limit < w->limit;
    for (size_t i = 0; i < w->n && !needed; i++)
        needed = w->high[i].key >= limit;
    if (needed) {
        real_methods.xTruncate(w->real, limit);
        atomic_fetch_add_explicit(&passed_count, 1, memory_order_relaxed);
    } else {
        atomic_fetch_add_explicit(&skipped_count, 1, memory_order_relaxed);
    }
    w->limit = limit;
    w->n = 0;
    w->lost = false;
}

static void p_destroy(sqlite3_pcache *p)
{
    wrapped *w = (wrapped *)p;
    real_methods.xDestroy(w->real);
    free(w->high);
    free(w);
}

static void p_shrink(sqlite3_pcache *p)
{
    real_methods.xShrink(((wrapped *)p)->real);
}

int store_pcache_install(void)
{
    int rc = sqlite3_config(SQLITE_CONFIG_GETPCACHE2, &real_methods);
    if (rc != SQLITE_OK)
        return rc;
    static const sqlite3_pcache_methods2 methods = {
        .iVersion = 1,
        .xInit = p_init,
        .xShutdown = p_shutdown,
        .xCreate = p_create,
        .xCachesize = p_cachesize,
        .xPagecount = p_pagecount,
        .xFetch = p_fetch,
        .xUnpin = p_unpin,
        .xRekey = p_rekey,
        .xTruncate = p_truncate,
        .xDestroy = p_destroy,
        .xShrink = p_shrink,
    };
    return sqlite3_config(SQLITE_CONFIG_PCACHE2, &methods);
}

void store_pcache_counts(uint64_t *passed, uint64_t *skipped)
{
    *passed = atomic_load(&passed_count);
    *skipped = atomic_load(&skipped_count);
}
