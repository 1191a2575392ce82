/*
 * pcache.h - SQLite's own page cache, with a truncate that only walks the
 * cache when a page above the limit is left.
 *
 * Every COMMIT truncates the connection's page cache to the database size.
 * SQLite's cache (pcache1) decides how much to walk from the highest page
 * number it has ever held since the last truncate, and a B-tree split that
 * reorders its new pages (balance_nonroot) parks a page for a moment under
 * the lock-byte page's number (262,145 with 4 KiB pages). While the
 * database is smaller than 1 GiB the next truncate then walks every bucket
 * of the cache: with the writer's 64 MiB cache that was ~30 % of the
 * writer thread under single-event ingest.
 *
 * The wrapper remembers the pages created or moved at or above the last
 * truncate's limit since then (few: the pages a transaction appends) and
 * passes a truncate on only when one of them may still be at or above the
 * new limit, when the limit went down, or when it lost count; otherwise no
 * page can be at or above it, and the truncate has nothing to remove.
 * Everything else is pcache1's.
 */
#ifndef MB_STORE_PCACHE_H
#define MB_STORE_PCACHE_H

#include <stdint.h>

/* Installs the wrapper around SQLite's default page cache: before SQLite
 * initializes (store_configure). 0, or an SQLite error code. */
int store_pcache_install(void);

/* Truncates passed on to SQLite's cache and those found to have nothing
 * to remove, since the start (for tests). */
void store_pcache_counts(uint64_t *passed, uint64_t *skipped);

#endif
