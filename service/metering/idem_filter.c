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
 *
 * Each slot's tag (in an array of its own, read only when a fingerprint
 * matches, so a new hash still costs two cache lines) moves with its
 * fingerprint when an insertion displaces it.
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
    uint8_t *tags;   /* the tag of each slot */
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

/* Appends the tags of bucket b's entries with fingerprint fp to tags[*n]. */
static void bucket_find(const part *p, uint32_t b, uint16_t fp, uint8_t *tags, unsigned *n)
{
    size_t base = (size_t)b * SLOTS;
    for (int k = 0; k < SLOTS; k++)
        if (p->slots[base + k] == fp)
            tags[(*n)++] = p->tags[base + k];
}

static bool bucket_put(part *p, uint32_t b, uint16_t fp, uint8_t tag)
{
    size_t base = (size_t)b * SLOTS;
    for (int k = 0; k < SLOTS; k++) {
        if (p->slots[base + k] == 0) {
            p->slots[base + k] = fp;
            p->tags[base + k] = tag;
            return true;
        }
    }
    return false;
}

static bool bucket_take(part *p, uint32_t b, uint16_t fp, uint8_t tag)
{
    size_t base = (size_t)b * SLOTS;
    for (int k = 0; k < SLOTS; k++) {
        if (p->slots[base + k] == fp && p->tags[base + k] == tag) {
            p->slots[base + k] = 0;
            return true;
        }
    }
    return false;
}

static uint32_t buckets_for(size_t items)
{
    /* Two thirds full: a partition grows by half when it fills (94 %), so
     * it is between 67 and 94 % full, about 3.8 bytes per hash; doubling
     * (half full) cost 4.3 and took a 100 M-hash state to the 512 MiB
     * limit. */
    size_t b = (items * 3 / 2 + SLOTS - 1) / SLOTS;
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
    uint8_t *tags = calloc((size_t)buckets * SLOTS, 1); /* copied whole (idem_filter_part_copy) */
    if (slots == NULL || tags == NULL) {
        free(slots);
        free(tags);
        return -1;
    }
    free(p->slots);
    free(p->tags);
    p->slots = slots;
    p->tags = tags;
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
    for (unsigned i = 0; i < IDEM_FILTER_PARTS; i++) {
        free(f->parts[i].slots);
        free(f->parts[i].tags);
    }
    free(f);
}

unsigned idem_filter_find(const idem_filter_t *f, const uint8_t h[IDEM_HASH_BYTES],
                          uint8_t tags[IDEM_FILTER_MATCHES])
{
    const part *p = &f->parts[idem_filter_part(h)];
    uint16_t fp = fingerprint(h);
    uint32_t i1 = first_bucket(p, h), i2 = other_bucket(p, i1, fp);
    unsigned n = 0;
    bucket_find(p, i1, fp, tags, &n);
    if (i2 != i1)
        bucket_find(p, i2, fp, tags, &n);
    return n;
}

int idem_filter_add(idem_filter_t *f, const uint8_t h[IDEM_HASH_BYTES], uint8_t tag)
{
    part *p = &f->parts[idem_filter_part(h)];
    if ((uint64_t)p->items * 100 >= (uint64_t)p->buckets * SLOTS * MAX_LOAD_PERCENT)
        return -1;
    uint16_t fp = fingerprint(h);
    uint32_t i = first_bucket(p, h);
    if (bucket_put(p, i, fp, tag) || bucket_put(p, i = other_bucket(p, i, fp), fp, tag)) {
        p->items++;
        return 0;
    }
    for (int kick = 0; kick < MAX_KICKS; kick++) {
        /* xorshift: a victim slot that does not follow a pattern. */
        f->rng ^= f->rng << 13;
        f->rng ^= f->rng >> 17;
        f->rng ^= f->rng << 5;
        size_t victim = (size_t)i * SLOTS + (f->rng % SLOTS);
        uint16_t displaced = p->slots[victim];
        uint8_t displaced_tag = p->tags[victim];
        p->slots[victim] = fp;
        p->tags[victim] = tag;
        fp = displaced;
        tag = displaced_tag;
        i = other_bucket(p, i, fp);
        if (bucket_put(p, i, fp, tag)) {
            p->items++;
            return 0;
        }
    }
    /* fp is homeless now; the rebuild the caller must do restores it. */
    return -1;
}

void idem_filter_remove(idem_filter_t *f, const uint8_t h[IDEM_HASH_BYTES], uint8_t tag)
{
    part *p = &f->parts[idem_filter_part(h)];
    uint16_t fp = fingerprint(h);
    uint32_t i1 = first_bucket(p, h);
    if (bucket_take(p, i1, fp, tag) || bucket_take(p, other_bucket(p, i1, fp), fp, tag))
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
        n += (size_t)f->parts[i].buckets * SLOTS * (sizeof(uint16_t) + sizeof(uint8_t));
    return n;
}

/*
 * A partition as bytes: its bucket and item counts (4 bytes each, little
 * endian as in memory: a file of them is only read back by the machine that
 * wrote it, and idem_ckpt.c checksums it), then its fingerprint and tag
 * arrays.
 */
size_t idem_filter_part_bytes(const idem_filter_t *f, unsigned pi)
{
    const part *p = &f->parts[pi];
    return 2 * sizeof(uint32_t) + (size_t)p->buckets * SLOTS * (sizeof *p->slots + 1);
}

void idem_filter_part_copy(const idem_filter_t *f, unsigned pi, uint8_t *out)
{
    const part *p = &f->parts[pi];
    size_t n = (size_t)p->buckets * SLOTS;
    memcpy(out, &p->buckets, sizeof p->buckets);
    memcpy(out + 4, &p->items, sizeof p->items);
    memcpy(out + 8, p->slots, n * sizeof *p->slots);
    memcpy(out + 8 + n * sizeof *p->slots, p->tags, n);
}

int idem_filter_part_set(idem_filter_t *f, unsigned pi, const uint8_t *in, size_t len)
{
    uint32_t buckets, items;
    if (len < 8)
        return -1;
    memcpy(&buckets, in, sizeof buckets);
    memcpy(&items, in + 4, sizeof items);
    if (buckets < MIN_BUCKETS || buckets > UINT32_MAX / SLOTS || items > buckets * SLOTS)
        return -1;
    size_t n = (size_t)buckets * SLOTS;
    if (len != 8 + n * (sizeof(uint16_t) + 1))
        return -1;
    uint16_t *slots = malloc(n * sizeof *slots);
    uint8_t *tags = malloc(n);
    if (slots == NULL || tags == NULL) {
        free(slots);
        free(tags);
        return -1;
    }
    memcpy(slots, in + 8, n * sizeof *slots);
    memcpy(tags, in + 8 + n * sizeof *slots, n);
    part *p = &f->parts[pi];
    free(p->slots);
    free(p->tags);
    *p = (part){.slots = slots, .tags = tags, .buckets = buckets, .items = items};
    return 0;
}
