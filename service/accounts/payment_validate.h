/*
 * payment_validate.h - pure syntax checks for payment methods: card numbers
 * and expiry dates, SEPA mandate references, the SEPA scheme's reach and the
 * purposes of a reveal. IBANs and BICs are checked by base/check.h, which
 * the seller configuration shares.
 *
 * Owns: the card brand IIN ranges and lengths, and the EPC list of SEPA
 * scheme countries. Nothing here allocates, stores, logs or keeps state.
 *
 * Must never: echo a PAN, IBAN or any digit of them in an error message (PCI
 * DSS 3.3/3.5, GDPR Art. 32). Messages name the field and the rule; the only
 * things derived from a value that may appear are the IBAN's country code
 * and the card brand, neither of which identifies an account. Local copies
 * of a PAN are wiped before returning.
 *
 * Conventions as in check.h: inputs are NUL-terminated valid UTF-8,
 * functions return 0 or -1 with err = INVALID_ARGUMENT "<field>: <rule>",
 * and outputs are written only on success (on failure they hold "" and
 * PAY_BRAND_UNKNOWN).
 */
#ifndef MB_ACCOUNTS_PAYMENT_VALIDATE_H
#define MB_ACCOUNTS_PAYMENT_VALIDATE_H

#include <stdbool.h>

#include "base/error.h"

#define PAY_PAN_SIZE 20 /* at most 19 digits + NUL */

typedef enum {
    PAY_BRAND_UNKNOWN,
    PAY_BRAND_VISA,
    PAY_BRAND_MASTERCARD,
    PAY_BRAND_AMEX,
    PAY_BRAND_DISCOVER,
    PAY_BRAND_JCB,
    PAY_BRAND_DINERS,
    PAY_BRAND_UNIONPAY,
    PAY_BRAND_MAESTRO
} pay_brand;

/* "visa", "mastercard", "amex", "discover", "jcb", "diners", "unionpay",
 * "maestro"; "unknown" for anything else. */
const char *pay_brand_name(pay_brand brand);

/* A card: pan with spaces and hyphens ignored must be 12 to 19 digits,
 * pass Luhn, fall in a supported brand's IIN range and have a length that
 * brand issues; exp_month 1..12, exp_year 2000..2099, and the card valid
 * through the end of its expiry month as of now_year/now_month. Errors name
 * "<field_prefix>.pan", "<field_prefix>.exp_month" or
 * "<field_prefix>.exp_year". On success digits_out (PAY_PAN_SIZE bytes)
 * holds the bare digits, *brand the brand and last4 the last four digits. */
int pay_check_card(const char *field_prefix, const char *pan, int exp_month, int exp_year,
                   int now_year, int now_month, char *digits_out, pay_brand *brand, char last4[5],
                   mb_error *err);

/* A SEPA mandate reference: 1 to 35 characters of the SEPA set (letters,
 * digits, space and / - ? : ( ) . , ' +), not starting or ending with '/'
 * and without "//" (EPC SDD rulebook). */
int pay_check_mandate_reference(const char *field, const char *ref, mb_error *err);

/* How far the SEPA direct debit scheme reaches for an account in country
 * cc (the IBAN's country code). */
typedef enum {
    PAY_SEPA_OUTSIDE, /* not a SEPA scheme country: no SEPA direct debit */
    PAY_SEPA_EEA,     /* EEA country or territory */
    PAY_SEPA_NON_EEA, /* SEPA, but outside the EEA: the scheme needs the BIC */
} pay_sepa_reach;

pay_sepa_reach pay_sepa_reach_of(const char *cc);

/* A SEPA direct debit account: the IBAN's country (country, already
 * checked by check_iban) must be in the scheme's reach, and bic must be
 * given for a country outside the EEA. Errors name iban_field or bic_field;
 * the country code may appear in the message (it identifies no account). */
int pay_check_sepa_reach(const char *iban_field, const char *country, const char *bic_field,
                         const char *bic, mb_error *err);

/* The purpose of a reveal: one of the codes of PAY_PURPOSE_CODES, optionally
 * followed by ':' and a reference of 1 to 64 letters, digits and . _ / -
 * ("collect-payment:INV-2025-000042"). The reference must hold no personal
 * data (check_no_personal_data). The whole purpose goes to the audit trail. */
#define PAY_PURPOSE_CODES                                                                          \
    "collect-payment, refund, chargeback, dispute, fraud-review, psp-migration"
int pay_check_purpose(const char *field, const char *purpose, mb_error *err);

#endif
