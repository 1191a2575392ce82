/*
 * idem_filter.c - see idem_filter.h.
 *
 * Partial-key cuckoo hashing (Fan et al., "Cuckoo Filter: Practically Better
 * Than Bloom", 2014) with a table size that need not be a power of two: an
 * entry with fingerprint fp lives in bucket i1 or i2 = (H(fp) - i1) mod n,
 * and since (H(fp) - i2) mod n = i1 either bucket yields the other from the
 * fingerprint alone, which is what lets insertion move entries around.
 *
 * Hash bits (the hash is a keyed BLAKE2b output, so uniform): bits 0-9 pick
 * the partition, bytes 2-5 the first bucket, bytes 6-7 the fingerprint.
 */
#include "metering/idem_filter.h"

#include <stdlib.h>
#include <string.h>

#define SLOTS 4
#define MIN_BUCKETS 16
#define MAX_KICKS 500
/* Above this share of slots in use insertions get slow: grow instead. */
#define MAX_LOAD_PERCENT 94

typedef struct part {
    uint16_t *slots; /* buckets * SLOTS fingerprints; 0 = empty */
    uint32_t buckets;
    uint32_t items;
} part;

struct idem_filter {
    part parts[IDEM_FILTER_PARTS];
    uint32_t rng;
};

unsigned idem_filter_part(const uint8_t h[IDEM_HASH_BYTES])
{
    return ((unsigned)h[0] << 2) | (h[1] >> 6);
}

static uint16_t fingerprint(const uint8_t h[IDEM_HASH_BYTES])
{
    uint16_t fp = (uint16_t)((h[6] << 8) | h[7]);
    return fp != 0 ? fp : 1;
}

/* Maps a 32-bit value onto 0..n-1 without a division. */
static uint32_t reduce(uint32_t x, uint32_t n)
{
    return (uint32_t)(((uint64_t)x * n) >> 32);
}

static uint32_t first_bucket(const part *p, const uint8_t h[IDEM_HASH_BYTES])
{
    uint32_t x = ((uint32_t)h[2] << 24) | ((uint32_t)h[3] << 16) | ((uint32_t)h[4] << 8) | h[5];
    return reduce(x, p->buckets);
}

static uint32_t other_bucket(const part *p, uint32_t i, uint16_t fp)
{
    uint32_t hfp = reduce(fp * 0x5bd1e995u, p->buckets);
    return hfp >= i ? hfp - i : hfp + p->buckets - i;
}

static bool bucket_has(const part *p, uint32_t b, uint16_t fp)
{
    const uint16_t *s = &p->slots[(size_t)b * SLOTS];
    return s[0] == fp || s[1] == fp || s[2] == fp || s[3] == fp;
}

static bool bucket_put(part *p, uint32_t b, uint16_t fp)
{
    uint16_t *s = &p->slots[(size_t)b * SLOTS];
    for (int k = 0; k < SLOTS; k++) {
        if (s[k] == 0) {
            s[k] = fp;
            return true;
        }
    }
    return false;
}

static bool bucket_take(part *p, uint32_t b, uint16_t fp)
{
    uint16_t *s = &p->slots[(size_t)b * SLOTS];
    for (int k = 0; k < SLOTS; k++) {
        if (s[k] == fp) {
            s[k] = 0;
            return true;
        }
    }
    return false;
}

static uint32_t buckets_for(size_t items)
{
    size_t b = (items * 2 + SLOTS - 1) / SLOTS; /* about half full */
    if (b < MIN_BUCKETS)
        b = MIN_BUCKETS;
    if (b > UINT32_MAX / SLOTS)
        b = UINT32_MAX / SLOTS;
    return (uint32_t)b;
}

int idem_filter_reset(idem_filter_t *f, unsigned pi, size_t items)
{
    part *p = &f->parts[pi];
    uint32_t buckets = buckets_for(items);
    uint16_t *slots = calloc((size_t)buckets * SLOTS, sizeof *slots);
    if (slots == NULL)
        return -1;
    free(p->slots);
    p->slots = slots;
    p->buckets = buckets;
    p->items = 0;
    return 0;
}

idem_filter_t *idem_filter_new(size_t items_per_part)
{
    idem_filter_t *f = calloc(1, sizeof *f);
    if (f == NULL)
        return NULL;
    f->rng = 0x9e3779b9u;
    for (unsigned i = 0; i < IDEM_FILTER_PARTS; i++) {
        if (idem_filter_reset(f, i, items_per_part) != 0) {
            idem_filter_free(f);
            return NULL;
        }
    }
    return f;
}

void idem_filter_free(idem_filter_t *f)
{
    if (f == NULL)
        return;
    for (unsigned i = 0; i < IDEM_FILTER_PARTS; i++)
        free(f->parts[i].slots);
    free(f);
}

bool idem_filter_maybe(const idem_filter_t *f, const uint8_t h[IDEM_HASH_BYTES])
{
    const part *p = &f->parts[idem_filter_part(h)];
    uint16_t fp = fingerprint(h);
    uint32_t i1 = first_bucket(p, h);
    return bucket_has(p, i1, fp) || bucket_has(p, other_bucket(p, i1, fp), fp);
}

int idem_filter_add(idem_filter_t *f, const uint8_t h[IDEM_HASH_BYTES])
{
    part *p = &f->parts[idem_filter_part(h)];
    if ((uint64_t)p->items * 100 >= (uint64_t)p->buckets * SLOTS * MAX_LOAD_PERCENT)
        return -1;
    uint16_t fp = fingerprint(h);
    uint32_t i = first_bucket(p, h);
    if (bucket_put(p, i, fp) || bucket_put(p, i = other_bucket(p, i, fp), fp)) {
        p->items++;
        return 0;
    }
    for (int kick = 0; kick < MAX_KICKS; kick++) {
        /* xorshift: a victim slot that does not follow a pattern. */
        f->rng ^= f->rng << 13;
        f->rng ^= f->rng >> 17;
        f->rng ^= f->rng << 5;
        uint16_t *victim = &p->slots[(size_t)i * SLOTS + (f->rng % SLOTS)];
        uint16_t displaced = *victim;
        *victim = fp;
        fp = displaced;
        i = other_bucket(p, i, fp);
        if (bucket_put(p, i, fp)) {
            p->items++;
            return 0;
        }
    }
    /* fp is homeless now; the rebuild the caller must do restores it. */
    return -1;
}

void idem_filter_remove(idem_filter_t *f, const uint8_t h[IDEM_HASH_BYTES])
{
    part *p = &f->parts[idem_filter_part(h)];
    uint16_t fp = fingerprint(h);
    uint32_t i1 = first_bucket(p, h);
    if (bucket_take(p, i1, fp) || bucket_take(p, other_bucket(p, i1, fp), fp))
        p->items--;
}

size_t idem_filter_items(const idem_filter_t *f, unsigned pi)
{
    return f->parts[pi].items;
}

size_t idem_filter_bytes(const idem_filter_t *f)
{
    size_t n = sizeof *f;
    for (unsigned i = 0; i < IDEM_FILTER_PARTS; i++)
        n += (size_t)f->parts[i].buckets * SLOTS * sizeof(uint16_t);
    return n;
}
