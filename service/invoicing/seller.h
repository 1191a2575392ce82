/*
 * seller.h - the seller configuration (`serve --seller-config FILE`): who
 * issues the invoices, where to pay them and how they are numbered.
 *
 * Owns: the `key = value` file format that api.md fixes ("The seller
 * configuration") and the validation of every entry, so a daemon with a bad
 * seller never starts. Nothing here touches the store.
 *
 * Format: one `key = value` per line, UTF-8, LF or CRLF line ends; blank
 * lines and lines whose first non-blank character is `#` are ignored (a `#`
 * inside a value is part of it: legal names may contain one); white space
 * around the key and the value is dropped.
 *
 * Errors name the line and the key and never echo a value:
 * "seller config line 7: vat_id: not a valid VAT identification number".
 * An unknown key, a duplicate key, a missing required key (reported as
 * "seller config: <key>: required") or an invalid value is an error.
 */
#ifndef MB_INVOICING_SELLER_H
#define MB_INVOICING_SELLER_H

#include <stddef.h>

#include "base/error.h"

#define SELLER_PREFIX_MAX 10

typedef struct seller_config {
    char *legal_name, *line1, *line2, *postal_code, *city; /* line2 "" when absent */
    char country_code[3];
    char *vat_id, *tax_number;       /* "" when absent; at least one set */
    char *electronic_address_scheme; /* EAS code, e.g. "EM", "9944" */
    char *electronic_address;
    char *contact_name, *contact_phone, *contact_email; /* phone E.164, e-mail lower-case */
    char *bank_iban, *bank_bic;                         /* bic "" when absent */
    char *sepa_creditor_id;                             /* "" when absent */
    int payment_terms_days;                             /* 0..365 */
    char *invoice_prefix, *credit_note_prefix;          /* 1-10 of [A-Z0-9-] */
    int retention_years;                                /* 1..30 */
} seller_config;

/* Parses and validates text[0..len). On success *out is a new configuration
 * (seller_config_free); on failure *out is NULL and err is INVALID_ARGUMENT
 * as described above. */
int seller_config_parse(const char *text, size_t len, seller_config **out, mb_error *err);

/* Reads and parses the file at path; an unreadable file is
 * FAILED_PRECONDITION "seller config: cannot read <path>: <reason>". */
int seller_config_load(const char *path, seller_config **out, mb_error *err);

void seller_config_free(seller_config *s);

#endif
