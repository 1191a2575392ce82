/*
 * backup.h - `minbilld backup`: a consistent, verified copy of the database
 * taken while minbilld serves.
 *
 * The copy is made with VACUUM INTO: one read transaction, so it is the
 * database as of one commit (WAL readers do not block the writer), and only
 * live pages are copied, so rows deleted before the backup (a detached
 * card's vault entry, an erased contact) are not carried into it. The copy
 * is made 0600 in a private directory beside the target, made durable,
 * opened again and checked (PRAGMA quick_check, schema history), and only
 * then linked to the target name, which it never overwrites; on any
 * failure nothing is left under that name. The shared schema lock keeps
 * migrations out while it copies.
 *
 * A backup holds what the database holds: ciphertext and data keys wrapped
 * by the master key. Restoring it needs a master key file of a version the
 * backup knows; destroying a data key in the live database after the backup
 * does not reach the copy until the master key is rotated and the old key
 * file destroyed.
 */
#ifndef MB_STORE_BACKUP_H
#define MB_STORE_BACKUP_H

#include <stdint.h>

#include "base/error.h"

typedef struct store_backup_info {
    int schema_version; /* highest migration the copy holds */
    int64_t bytes;      /* size of the copy */
    double seconds;     /* time taken, copy and checks */
} store_backup_info;

/* Copies the database at db to the new file to. FAILED_PRECONDITION when to
 * exists; UNAVAILABLE when either file cannot be read or written; DATA_LOSS
 * when the copy fails its check. */
int store_backup(const char *db, const char *to, store_backup_info *info, mb_error *err);

#endif
