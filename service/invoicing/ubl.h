/*
 * ubl.h - an issued invoice as an EN 16931 e-invoice in UBL 2.1 syntax:
 * Invoice (type code 380) or CreditNote (381), plain EN 16931 or the
 * XRechnung 3.0 CIUS.
 *
 * Owns: the mapping from the Invoice message to UBL elements and the
 * business rules that decide which optional parts appear (EN 16931 and the
 * XRechnung rules, see tests/validate/). It renders from the invoice alone:
 * seller, buyer, payment instructions and the customization id are
 * snapshots in it, so a rendering never reads the store or the current
 * configuration.
 *
 * Rules applied at rendering, not stored:
 * - an invoice with a line of VAT category O ("not subject to VAT") carries
 *   no seller or buyer VAT identifier (BR-O-02); the seller is then
 *   identified by its VAT ID or tax number as seller identifier (BT-29,
 *   BR-CO-26);
 * - the invoicing period (BG-14) is widened to the first day of the
 *   earliest line period, so late-usage lines lie inside it
 *   (PEPPOL-EN16931-R110); such lines carry their own period (BG-26);
 * - a credit note's due date goes to PaymentMeans/PaymentDueDate (UBL
 *   CreditNote has no DueDate).
 *
 * Every text is XML-escaped; characters XML 1.0 cannot carry (C0 controls
 * other than tab, LF and CR, U+FFFE, U+FFFF) are dropped and bytes that are
 * not UTF-8 become U+FFFD, so the document is well-formed whatever the
 * strings hold.
 */
#ifndef MB_INVOICING_UBL_H
#define MB_INVOICING_UBL_H

#include <stdbool.h>
#include <stddef.h>

#include "base/arena.h"
#include "base/error.h"
#include "minbill/v1/invoicing.pb-c.h"

/* BT-24 for plain EN 16931 and for the XRechnung 3.0 CIUS. */
#define UBL_CUSTOMIZATION_EN16931 "urn:cen.eu:en16931:2017"
#define UBL_CUSTOMIZATION_XRECHNUNG                                                                \
    "urn:cen.eu:en16931:2017#compliant#urn:xeinkauf.de:kosit:xrechnung_3.0"
/* BT-23, the business process (Peppol billing). */
#define UBL_PROFILE_ID "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"

/* The customization id to store in Invoice.customization_id at issue time. */
const char *ubl_customization_id(bool xrechnung);

/* True if scheme is a code of the CEF Electronic Address Scheme list the
 * EN 16931 rules accept (BR-CL-25), e.g. "EM", "9930", "0088". */
bool ubl_eas_is_known(const char *scheme);

/* The EAS code under which a VAT ID of country cc (ISO 3166-1 alpha-2, e.g.
 * "DE" -> "9930") is an electronic address (BT-49); NULL for a country
 * without one (e.g. SE, whose VAT scheme 9955 the list no longer has). */
const char *ubl_eas_for_vat_country(const char *cc);

/* Renders inv into a NUL-terminated document allocated in a (*len bytes
 * without the NUL). Fails with INVALID_ARGUMENT naming the field when the
 * invoice lacks what every e-invoice needs (number, dates, currency, both
 * parties, a line), holds a decimal it cannot print exactly, or payment
 * instructions that lack what their means needs (IBAN for 58, mandate and
 * creditor id for 59) or carry more than a card's last 4 digits or an
 * unmasked debited account; RESOURCE_EXHAUSTED when a is over its limit. */
int ubl_render(mb_arena_t *a, const Minbill__V1__Invoice *inv, char **out, size_t *len,
               mb_error *err);

#endif
