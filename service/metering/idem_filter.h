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
 * The one rule that makes it exact: every hash on disk must be in the filter
 * (extra entries only cost a lookup). Hence remove only hashes that were
 * added. Not thread-safe: idem.c uses it from the writer thread only.
 */
#ifndef MB_METERING_IDEM_FILTER_H
#define MB_METERING_IDEM_FILTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define IDEM_HASH_BYTES 16
#define IDEM_FILTER_PARTS 1024

typedef struct idem_filter idem_filter_t;

/* Every partition sized for items_per_part entries. NULL when out of memory. */
idem_filter_t *idem_filter_new(size_t items_per_part);
void idem_filter_free(idem_filter_t *f);

/* The partition a hash belongs to (its first 10 bits). */
unsigned idem_filter_part(const uint8_t hash[IDEM_HASH_BYTES]);

bool idem_filter_maybe(const idem_filter_t *f, const uint8_t hash[IDEM_HASH_BYTES]);

/* 0, or -1 when the hash's partition is full: the caller must rebuild the
 * partition (idem_filter_reset + re-adding every stored hash of it), which
 * also restores whatever entry the failed insertion displaced. */
int idem_filter_add(idem_filter_t *f, const uint8_t hash[IDEM_HASH_BYTES]);

/* Removes one entry of hash (which must have been added). */
void idem_filter_remove(idem_filter_t *f, const uint8_t hash[IDEM_HASH_BYTES]);

/* Empties partition part and sizes it for items entries at about half load.
 * -1 when out of memory (the partition keeps its old contents). */
int idem_filter_reset(idem_filter_t *f, unsigned part, size_t items);

/* Entries in a partition (including stale ones). */
size_t idem_filter_items(const idem_filter_t *f, unsigned part);

/* Bytes of fingerprint tables, for logs and the benchmark. */
size_t idem_filter_bytes(const idem_filter_t *f);

#endif
