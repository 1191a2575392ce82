/*
 * invoice_store.h - issued invoices and credit notes in the database
 * (migrations/0008_invoicing.sql): issuing them (gap-free numbers, the
 * quantities billed, sealing under the retention class key), reading and
 * listing them.
 *
 * An issued document is the packed minbill.v1.Invoice, sealed under its
 * retention class's data key; the row is never updated (a trigger refuses),
 * and a credit note referencing it is what makes it "credited".
 *
 * Issuing runs inside a writer job; reads run on a purpose-bound reader
 * (invoicing, support or export), which may read exactly the columns the
 * inventory declares for it.
 */
#ifndef MB_INVOICING_INVOICE_STORE_H
#define MB_INVOICING_INVOICE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/error.h"
#include "crypto/dek.h"
#include "minbill/v1/invoicing.pb-c.h"
#include "store/store.h"

#define INVOICE_NUMBER_SIZE 32

/* One usage counter an invoice bills: its invoiced_quantity moves from what
 * the billing run read to that plus exactly the quantity on the invoice. */
typedef struct invoice_billed {
    const char *period;
    const char *metric;
    int64_t read_invoiced;
    int64_t new_invoiced;
} invoice_billed;

typedef struct invoice_issue_in {
    /* invoice_number must point to INVOICE_NUMBER_SIZE writable bytes: the
     * number is written there (and payment->payment_id points to it). */
    Minbill__V1__Invoice *inv;
    const char *prefix;        /* series prefix: "INV", "CN" */
    const dek *class_key;      /* the retention class's key (dek_for_class) */
    const char *retention_class;
    const char *retain_until;
    const invoice_billed *billed; /* invoices only */
    size_t n_billed;
} invoice_issue_in;

enum { INVOICE_ISSUED = 0, INVOICE_EXISTS = 1 };

/* Issues in->inv inside the writer transaction: for an invoice, unless its
 * (account, period) was invoiced already (returns INVOICE_EXISTS, the
 * existing number in existing), moves every billed counter, failing with
 * ABORTED when one changed since it was read (the caller reads again);
 * takes the next number of the series "<prefix>-<issue year>"; records the
 * invoiced period; stores the sealed document. A credit note whose
 * original already has one fails with ALREADY_EXISTS. Nothing is left
 * behind on failure (the job's savepoint rolls back). */
int invoice_store_issue(store_conn_t *conn, invoice_issue_in *in,
                        char existing[INVOICE_NUMBER_SIZE], mb_error *err);

/* The document `number` (status ISSUED or CREDITED), allocated in a;
 * NOT_FOUND if there is none. */
int invoice_store_load(store_conn_t *conn, keyring_t *kr, mb_arena_t *a, const char *number,
                       Minbill__V1__Invoice **out, mb_error *err);

/* Up to limit documents with numbers after `after` (""; the first page),
 * ordered by number, optionally of one account and/or one period ("" for
 * any). *more is set when there are further documents. */
int invoice_store_list(store_conn_t *conn, keyring_t *kr, mb_arena_t *a, const char *account_id,
                       const char *period, const char *after, size_t limit,
                       Minbill__V1__Invoice ***out, size_t *n, bool *more, mb_error *err);

#endif
