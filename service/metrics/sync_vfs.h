/*
 * sync_vfs.h - times every fsync SQLite makes, for the fsync histogram.
 *
 * A thin SQLite VFS over the default one ("unix"): every file operation is
 * passed through unchanged; xSync is also timed and reported to
 * metrics_fsync() with the kind of file (database, WAL, other). That is the
 * fsync a commit waits for with synchronous=FULL, measured where it
 * happens rather than guessed from the commit's duration. It must never
 * change what SQLite does: no operation is skipped, reordered or retried.
 */
#ifndef MB_METRICS_SYNC_VFS_H
#define MB_METRICS_SYNC_VFS_H

#include "base/error.h"

/* Registers the VFS as the default for connections opened afterwards.
 * Idempotent. */
int metrics_sync_vfs_register(mb_error *err);

#endif
