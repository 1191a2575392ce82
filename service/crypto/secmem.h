/*
 * secmem.h - secure memory: small, short-lived secret buffers from a pool.
 *
 * Owns every per-request secret buffer of the daemon: clear data keys while
 * a field is sealed or opened, PANs and IBANs between decode and sealing,
 * revealed numbers until their response is sent, keys being re-wrapped. It
 * hands out fixed-size slots (SECMEM_SMALL_BYTES or SECMEM_MAX_BYTES) carved
 * from regions that are each one sodium_malloc() allocation: mlock'd (as far
 * as RLIMIT_MEMLOCK allows: the first region that cannot be is logged),
 * marked MADV_DONTDUMP so core dumps leave it out, and fenced by guard
 * pages. A region is never returned to the system, so handing out a slot is
 * a pop from a free list under a mutex: no mmap, mprotect or munmap, and no
 * TLB shootdown on every free as sodium_free() costs.
 *
 * What it gives up against one sodium_malloc() per buffer: the guard pages
 * and canary fence the region, not each slot, so an overrun from one slot
 * into its neighbour, or a use after free, goes unnoticed in a release
 * build (AddressSanitizer builds poison free slots and the bytes past each
 * request, so the tests still see both). That is acceptable for what it
 * holds: keys and numbers whose lengths the validators bound long before
 * they are copied here, written with explicit sizes. What it keeps: the
 * memory is locked, never swapped and never dumped, and every slot is wiped
 * with sodium_memzero() when freed, so a free slot holds only zeros and no
 * secret outlives its buffer.
 *
 * It must never hand one slot to two owners: secmem_free() aborts on a
 * pointer that is not the start of a slot in use (a foreign free, or a
 * double free before the slot is handed out again), because the next owner
 * of a reused slot would see or overwrite another call's secret. Long-lived
 * secrets (the keyring's master keys) keep their own sodium_malloc() block,
 * which they can make read-only.
 *
 * Thread-safe; nothing to initialise or tear down.
 */
#ifndef MB_CRYPTO_SECMEM_H
#define MB_CRYPTO_SECMEM_H

#include <stddef.h>

/* Slot sizes: 64 bytes takes a data key, a PAN or an IBAN; 1024 bytes a
 * holder name (200 code points of up to 4 bytes of UTF-8, and its NUL). */
#define SECMEM_SMALL_BYTES 64
#define SECMEM_MAX_BYTES 1024
/* All regions together never exceed this. */
#define SECMEM_CAP_BYTES ((size_t)64 << 20)

/* n zeroed bytes (n <= SECMEM_MAX_BYTES; 0 is allowed) at the start of a
 * slot; only those n are the caller's. NULL if n is larger or the pool is at
 * its cap or out of memory: then the caller must fail, never fall back to
 * ordinary memory. */
void *secmem_alloc(size_t n) __attribute__((warn_unused_result, malloc));

/* Wipes the whole slot and makes it free again. NULL does nothing. Aborts if
 * p is not a slot secmem_alloc() returned and nobody freed since. */
void secmem_free(void *p);

typedef struct secmem_usage {
    size_t regions; /* sodium_malloc'd regions */
    size_t bytes;   /* slot bytes in them, at most SECMEM_CAP_BYTES */
    size_t slots;   /* slots in them */
    size_t in_use;  /* slots handed out and not freed */
} secmem_usage;

/* A snapshot over all slot sizes (each size is read under its own lock). */
void secmem_get_usage(secmem_usage *out);

#endif
