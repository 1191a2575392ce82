/*
 * invoice_build.h - one account's invoice of a period, from the legal
 * minimum: the seller's configuration, the buyer's legal name, address and
 * VAT id, the plan, the usage counters and the default payment method's
 * clear metadata. Pure: no database, no clock (dates come in), so every
 * rule is unit-tested without a daemon.
 *
 * Never reads or writes a contact's name, e-mail or phone: the inputs have
 * no field for them.
 */
#ifndef MB_INVOICING_INVOICE_BUILD_H
#define MB_INVOICING_INVOICE_BUILD_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/error.h"
#include "invoicing/invoice_store.h"
#include "invoicing/plans.h"
#include "invoicing/rating.h"
#include "invoicing/seller.h"
#include "minbill/v1/invoicing.pb-c.h"

/* What an account contributes to its invoice. */
typedef struct billing_input {
    const char *account_id;
    const char *currency;
    const char *legal_name;
    const Minbill__V1__PostalAddress *address; /* NULL if none stored */
    const char *vat_id;                        /* normalised, "" if none */
    /* The default payment method ("" type: none): clear metadata only. */
    const char *pm_type; /* "card", "sepa_debit" or "" */
    const char *pm_last4;
    const char *pm_country;
    const char *pm_mandate_reference;
    /* Counters to bill: the period's own, and the late usage of earlier
     * periods already invoiced. */
    const rating_counter *counters;
    size_t n_counters;
} billing_input;

/* The invoice of `period` issued on issue_date ("YYYY-MM-DD"), allocated in
 * a, with status ISSUED and no number yet (invoice_number points to
 * INVOICE_NUMBER_SIZE zeroed bytes for invoice_store_issue()); *billed
 * lists the counters it bills (their invoiced quantity moves to their
 * quantity). Fails for the account (FAILED_PRECONDITION: no billing
 * address, a plan in another currency; OUT_OF_RANGE: an amount that does
 * not fit), never with a wrong invoice. */
int invoice_build(mb_arena_t *a, const seller_config *seller, const plan *p,
                  const billing_input *in, const char *period, const char *issue_date,
                  Minbill__V1__Invoice **out, invoice_billed **billed, size_t *n_billed,
                  mb_error *err);

/* The full reversal of an issued invoice: same parties, lines and totals
 * (positive, as UBL CreditNote wants), its own issue date and reason,
 * referencing the original (BT-25, BT-26). */
int invoice_build_credit_note(mb_arena_t *a, const Minbill__V1__Invoice *original,
                              const char *reason, const char *issue_date,
                              Minbill__V1__Invoice **out, mb_error *err);

/* issue_date + days, "YYYY-MM-DD" (out: 11 bytes). */
void invoice_date_add(const char *date, int days, char out[11]);

/* The retention class of documents issued on issue_date by this seller and
 * the last day they must be kept (retention_years after the end of the
 * issue year). */
void invoice_retention(const seller_config *seller, const char *issue_date, char cls[32],
                       char retain_until[11]);

#endif
