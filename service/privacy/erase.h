/*
 * erase.h - erasure (GDPR Art. 17) and restriction (Art. 18) of a data
 * subject, derived from the inventory's table declarations
 * (inventory_tables[]): which column links a row to its account or
 * contact, which column holds its data key, and what erasure does to it.
 *
 * Erasure destroys data keys (crypto-shredding: copies in the WAL or a
 * backup become unreadable) and deletes the rows, children first
 * (ERASE_ROWS); clears the personal columns and the key of a row others
 * refer to (ERASE_FIELDS); keeps what a legal duty keeps (ERASE_RETAIN:
 * issued invoices), restricted, and reports it with its legal basis and
 * the date its retention ends. Open amounts keep nothing else.
 *
 * It writes in short writer jobs of ERASE_CHUNK rows on a job thread, so
 * other writers (ingest) share the group commits in between; every job
 * leaves a state that running the erasure again finishes. The request is
 * closed, with its audit event, in the last job.
 *
 * Restriction sets the declared restricted column on the subject's rows;
 * the purpose-bound readers' views (inventory_views_sql) then hide or mask
 * them for every purpose but the export and legal duties.
 */
#ifndef MB_PRIVACY_ERASE_H
#define MB_PRIVACY_ERASE_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "purge/purge.h"
#include "rpc/server.h"
#include "store/store.h"

/* Rows per writer job. */
#define ERASE_CHUNK 64
#define PRIVACY_ERASED_MAX 8

/* What an erasure removed, by inventory category ("contact",
 * "payment_method", "account"). */
typedef struct privacy_erased {
    struct {
        const char *category; /* static */
        int64_t count;
    } by[PRIVACY_ERASED_MAX];
    size_t n;
} privacy_erased;

/* The purge rule (purge/purge.h) for accounts closed longer than their
 * grace period (closed_account_grace_days): their contacts and payment
 * methods (with vault rows and legacy tokens) are erased exactly as an
 * erasure request would, a chunk per step, without a request; the purge
 * audits its totals. Issued invoices stay under their own retention. */
#define CLOSED_PURGE_CHUNK ERASE_CHUNK
int privacy_closed_purge_step(store_conn_t *conn, void *arg, const purge_ctx *ctx, purge_step *out,
                              mb_error *err);

/* Privacy.EraseSubject (a .job method) and Privacy.RestrictSubject. */
int privacy_erase(rpc_call_t *call, const ProtobufCMessage *req);
int privacy_restrict(rpc_call_t *call, const ProtobufCMessage *req);

#endif
