/*
 * vat.h - VAT as data: which category, rate and wording an invoice line
 * gets, and the standard rates of the 27 EU member states over time.
 *
 * Owns: the rule that decides the VAT treatment of minbill's one kind of
 * supply (an electronically supplied service, sold by a seller established
 * in an EU state) and the dated table of standard rates it draws from
 * (vat.c, with its sources). Pure: no store, no RPC, no allocation, no
 * state; callable from any thread.
 *
 * Must never: guess. A country without a rate in the table, or a date
 * before the table knows the rate, is an error naming both, not a default
 * rate on a legal document.
 *
 * Countries are ISO 3166-1 alpha-2 codes as the billing address carries
 * them: Greece is "GR" (its VAT prefix "EL" is not a country code); "GB" is
 * outside the EU; Northern Ireland's "XI" is a VAT prefix, not a country
 * code, and is refused like any unassigned code.
 */
#ifndef MB_INVOICING_VAT_H
#define MB_INVOICING_VAT_H

#include <stdbool.h>
#include <stdint.h>

#include "base/error.h"

typedef struct vat_treatment {
    char category[3]; /* UNCL5305: "S", "AE" (reverse charge), "O" (not subject) */
    int32_t rate_bp;  /* percent x 100: 2100 = 21 %, 2550 = 25.5 %, 0 */
    /* "21", "25.5", "0" (shortest exact form); "" for "O": its lines must
     * not carry a rate (BR-O-05) and its breakdown need not (BR-48), so
     * renderers omit it. An "O" invoice must not show the seller's or the
     * buyer's VAT identifier either (BR-O-02). */
    char rate[8];
    bool reverse_charge;
    const char *exemption_reason; /* BT-120; NULL for "S" */
    const char *exemption_code;   /* BT-121 "VATEX-EU-AE" / "VATEX-EU-O"; NULL for "S" */
    const char *note;             /* BT-22 invoice note or NULL */
} vat_treatment;

/* The treatment of an electronically supplied service from a seller in
 * seller_country (an EU state) to a buyer in buyer_country, on on_date
 * ("YYYY-MM-DD": the last day of the billed period, when the supply is
 * complete and VAT becomes chargeable):
 *   same country                    -> S at the seller state's standard rate
 *                                      (even if the buyer has a VAT ID);
 *   other EU state with a VAT ID    -> AE 0 %, reverse charge (Art. 44, 196);
 *   other EU state without a VAT ID -> S at the buyer state's standard rate
 *                                      (Art. 58: taxed where the customer is);
 *   outside the EU                  -> O, not subject to EU VAT (Art. 44, 59).
 * The strings in *out are static. INVALID_ARGUMENT naming the argument for
 * a malformed date, an unassigned country code or a seller outside the EU;
 * OUT_OF_RANGE if the table holds no rate for that date. */
int vat_decide(const char *seller_country, const char *buyer_country, bool buyer_has_vat_id,
               const char *on_date, vat_treatment *out, mb_error *err)
    __attribute__((warn_unused_result));

/* The standard rate of an EU state on a date ("YYYY-MM-DD"); -1 with err if
 * unknown (INVALID_ARGUMENT: not an EU state or not a date; OUT_OF_RANGE:
 * a date before the first rate the table holds for the state). */
int vat_standard_rate_bp(const char *country, const char *on_date, int32_t *rate_bp, mb_error *err)
    __attribute__((warn_unused_result));

#endif
