/*
 * idem_filter.h - an in-memory cuckoo filter over 16-byte idempotency hashes.
 *
 * Answers "may this hash have been stored?" in two cache lines: "no" is
 * certain, "maybe" is wrong for about 1 in 8,000 new hashes (16-bit
 * fingerprints, 4 per bucket, 2 buckets per hash) and is then settled by an
 * exact lookup in the database. It exists so that ingest can keep hashes on
 * disk in arrival order (cheap commits, see idem.h) and still tell a new key
 * from a replay without searching every run.
 *
 * The filter is split into IDEM_FILTER_PARTS partitions by the first bits of
 * the hash. A partition cannot grow in place (a fingerprint does not hold
 * the hash bits a bigger table would need), so when one fills up its owner
 * rebuilds just that partition from the hashes on disk: a small, bounded
 * pause instead of one long one.
 *
 * Every entry carries an 8-bit tag besides its fingerprint: idem.c stores
 * the low bits of the run the hash was written to, so a "maybe" names the
 * few runs worth searching instead of sending the caller through all of
 * them (a replay of old events used to cost one lookup per stored run).
 *
 * The one rule that makes it exact: every hash on disk must be in the filter
 * with its run's tag (extra entries only cost a lookup). Hence remove only
 * hashes that were added, with the tag they were added with. Not
 * thread-safe: idem.c uses it from the writer thread only.
 */
#ifndef MB_METERING_IDEM_FILTER_H
#define MB_METERING_IDEM_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IDEM_HASH_BYTES 16
#define IDEM_FILTER_PARTS 1024
/* The most entries one hash can match: both of its buckets full of its
 * fingerprint. */
#define IDEM_FILTER_MATCHES 8

typedef struct idem_filter idem_filter_t;

/* Every partition sized for items_per_part entries. NULL when out of memory. */
idem_filter_t *idem_filter_new(size_t items_per_part);
void idem_filter_free(idem_filter_t *f);

/* The partition a hash belongs to (its first 10 bits). */
unsigned idem_filter_part(const uint8_t hash[IDEM_HASH_BYTES]);

/* The entries that may be hash: 0 means certainly never added; otherwise
 * their count, and their tags in tags[0..count-1] (the hash, if it was
 * added, was added with one of them). */
unsigned idem_filter_find(const idem_filter_t *f, const uint8_t hash[IDEM_HASH_BYTES],
                          uint8_t tags[IDEM_FILTER_MATCHES]);

/* 0, or -1 when the hash's partition is full: the caller must rebuild the
 * partition (idem_filter_reset + re-adding every stored hash of it), which
 * also restores whatever entry the failed insertion displaced. */
int idem_filter_add(idem_filter_t *f, const uint8_t hash[IDEM_HASH_BYTES], uint8_t tag);

/* Removes one entry of hash with tag (which must have been added). */
void idem_filter_remove(idem_filter_t *f, const uint8_t hash[IDEM_HASH_BYTES], uint8_t tag);

/* Empties partition part and sizes it for items entries at two thirds load.
 * -1 when out of memory (the partition keeps its old contents). */
int idem_filter_reset(idem_filter_t *f, unsigned part, size_t items);

/* Entries in a partition (including stale ones). */
size_t idem_filter_items(const idem_filter_t *f, unsigned part);

/* Bytes of fingerprint and tag tables, for logs and the benchmark. */
size_t idem_filter_bytes(const idem_filter_t *f);

/* A partition as bytes, for checkpoints (idem_ckpt.h): part_bytes says how
 * many, part_copy writes them to out, part_set replaces the partition with
 * such a copy (-1 if in is not one, or when out of memory). */
size_t idem_filter_part_bytes(const idem_filter_t *f, unsigned part);
void idem_filter_part_copy(const idem_filter_t *f, unsigned part, uint8_t *out);
int idem_filter_part_set(idem_filter_t *f, unsigned part, const uint8_t *in, size_t len);

#endif
