/*
 * invoice_purge.h - issued documents past their retention: the invoicing
 * rule of the purge facility (purge/purge.h).
 *
 * Documents are sealed under the key of their retention class
 * ("invoice:<seller country>:<year retention ends>", retention_keys). Once
 * a class's retain_until has passed, its documents are deleted a chunk per
 * step (secure_delete overwrites them), then the class row and its data key
 * go, and the WAL is scrubbed (store_conn_note_shred): every copy, backups
 * included, is unreadable from then on. The keys reference each other
 * (invoices -> retention_keys -> data_keys), so the key goes last; the
 * documents are deleted meanwhile, INVOICE_PURGE_CHUNK per step.
 *
 * An invoice that a credit note still kept references stays, with its class
 * and key, until that credit note's own retention ends (the credit note
 * needs what it reverses). Classes run latest first, so a credit note
 * expiring in the same run goes before the invoice it references.
 */
#ifndef MB_INVOICING_INVOICE_PURGE_H
#define MB_INVOICING_INVOICE_PURGE_H

#include "purge/purge.h"

/* Documents deleted per step: each is a few KiB that secure_delete
 * overwrites; bench_purge prints the longest step. */
#define INVOICE_PURGE_CHUNK 100

/* The purge_fn; arg unused. "Today" is ctx->now_us's UTC date; the
 * invoices_no_delete trigger checks the same rule on SQLite's own clock. */
int invoice_purge_step(store_conn_t *conn, void *arg, const purge_ctx *ctx, purge_step *step,
                       mb_error *err);

#endif
