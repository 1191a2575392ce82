/*
 * check.h - pure syntax checks for request fields, shared by every domain:
 * identifiers, free text, postal codes, country and currency codes, VAT IDs,
 * e-mail addresses, phone numbers, timestamps, IBANs, BICs and SEPA creditor
 * identifiers; and the one detector of personal data in free text minbill
 * stores or logs.
 *
 * Owns: the rules a field's value must follow and the reference tables they
 * need (ISO 3166-1 alpha-2, ISO 4217, the EU member states and their VAT ID
 * formats, the IBAN lengths of the SWIFT IBAN registry). Nothing here
 * allocates, touches the store or the network, or keeps state; every
 * function may be called from any thread.
 *
 * Must never: put the value, or any part of it, into an error message. A
 * failure names the field the caller passed (e.g.
 * "account.contacts[1].email") and the rule it broke, nothing else, because
 * messages travel to clients and into logs where a name, e-mail address,
 * phone number or IBAN must not appear (error.h, api.md). The one exception
 * is an IBAN's country code, which identifies no account.
 *
 * Conventions: `field` is the caller's path to the value; `value` is a
 * NUL-terminated string the RPC layer has already checked to be valid UTF-8
 * without embedded NULs. Each check returns 0, or -1 with err set to
 * INVALID_ARGUMENT and the message "<field>: <rule>". A check that writes a
 * normalised form takes `out`/`out_size`; out may be NULL when only the
 * verdict is wanted, and on failure it holds the empty string. An out buffer
 * smaller than the documented size is the caller's bug and fails with
 * INTERNAL.
 */
#ifndef MB_BASE_CHECK_H
#define MB_BASE_CHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/error.h"

/* Buffer sizes (including the NUL) for the normalised outputs. */
#define CHECK_VAT_ID_SIZE 16 /* two-letter prefix + at most 13 characters */
#define CHECK_EMAIL_SIZE 255 /* RFC 5321 path limit of 254 octets */
#define CHECK_PHONE_SIZE 17  /* '+' and at most 15 digits (ITU-T E.164) */
#define CHECK_IBAN_MAX 34    /* ISO 13616 */
#define CHECK_IBAN_SIZE (CHECK_IBAN_MAX + 1)
#define CHECK_CREDITOR_ID_SIZE 36 /* at most 35 characters (EPC262-08) */

/* account_id, contact_id, plan_id: 1 to 64 of [A-Za-z0-9._:-]. */
int check_id(const char *field, const char *value, mb_error *err);

/* The one rule for every stored text field (legal_name, address lines,
 * city, contact and holder names, descriptions, purposes, reasons): valid
 * UTF-8 of min..max Unicode code points; no control characters (C0, DEL,
 * C1, U+2028, U+2029); no invisible or text-direction characters (soft
 * hyphen, zero-width U+200B..U+200F, bidi embeddings and overrides
 * U+202A..U+202E, U+2060..U+206F with the bidi isolates, the BOM U+FEFF...),
 * which make a value look empty or like another; and not white space alone
 * (when min is 0, empty passes but "   " does not). */
int check_text(const char *field, const char *value, size_t min, size_t max, mb_error *err);

/* INVALID_ARGUMENT unless value is free of anything shaped like personal
 * data: a card number (12 to 19 digits passing Luhn, alone or in groups of
 * 4+ digits split by spaces, hyphens or dots), an IBAN (registry length and
 * MOD 97, spaces allowed), an e-mail address, or a phone number ('+' and 8+
 * digits; 00 or 0 prefixed national and international numbers; 11 to 15
 * digits in groups of 3+). The rule names what was found, never the value.
 * References such as INV-2025-000042, dates and amounts pass. */
int check_no_personal_data(const char *field, const char *value, mb_error *err);

/* Text that minbill stores or logs but that must hold no personal data
 * (purposes, reasons, API-key names, plan price descriptions): check_text()
 * and check_no_personal_data(). */
int check_stored_text(const char *field, const char *value, size_t min, size_t max, mb_error *err);

/* A google.protobuf.Timestamp: year 1970 to 9999 (seconds 0 to
 * 253402300799) and nanos 0 to 999999999. *us receives microseconds since
 * the epoch. */
int check_timestamp(const char *field, int64_t seconds, int32_t nanos, int64_t *us, mb_error *err);

/* 1 to 16 ASCII letters, digits, spaces and hyphens, at least one of them a
 * letter or digit. Deliberately not country-specific. */
int check_postal_code(const char *field, const char *value, mb_error *err);

/* An assigned ISO 3166-1 alpha-2 code, upper-case. */
int check_country(const char *field, const char *value, mb_error *err);

/* True if cc is one of the 249 officially assigned ISO 3166-1 alpha-2 codes
 * (upper-case, exactly two letters). */
bool check_country_is_assigned(const char *cc);

/* True if cc (ISO 3166-1 alpha-2, e.g. "GR", not the VAT prefix "EL") is one
 * of the 27 EU member states. */
bool check_country_is_eu(const char *cc);

/* An active ISO 4217 currency or fund code with defined minor units,
 * upper-case. */
int check_currency(const char *field, const char *value, mb_error *err);

/* The ISO 4217 minor units (decimal places) of code: EUR 2, JPY 0, KWD 3,
 * CLF 4; -1 if code is not accepted by check_currency(). */
int check_currency_minor_units(const char *code);

/* A VAT identification number. Spaces, dots and hyphens are ignored and the
 * prefix may be in any case. EU prefixes (EL for Greece) and XI (Northern
 * Ireland) are checked against their national syntax, German ones also by
 * their check digit; any other prefix needs 2 to 13 letters or digits after
 * it. If country_code (the party's address's) names an EU member state, the
 * prefix must be that state's; a mismatch names country_field, the caller's
 * name for where country_code came from ("billing_address.country_code").
 * out (CHECK_VAT_ID_SIZE bytes) receives the normalised form: upper-case, no
 * separators ("DE136695976"). */
int check_vat_id(const char *field, const char *value, const char *country_code,
                 const char *country_field, char *out, size_t out_size, mb_error *err);

/* An ASCII e-mail address in RFC 5321 dot-atom form (no quoted local parts,
 * no address literals). out (CHECK_EMAIL_SIZE bytes) receives the form the
 * blind index is computed over: surrounding white space removed and the whole
 * address lower-cased. */
int check_email(const char *field, const char *value, char *out, size_t out_size,
                     mb_error *err);

/* An international phone number. Spaces, hyphens, dots and parentheses are
 * ignored, and so is a "(0)" trunk prefix after the country code; what is
 * left must be '+' and 8 to 15 digits, the first not 0. out
 * (CHECK_PHONE_SIZE bytes) receives the E.164 form ("+4915112345678"). */
int check_phone(const char *field, const char *value, char *out, size_t out_size,
                     mb_error *err);

/* An IBAN: spaces ignored, letters upper-cased; a country of the SWIFT IBAN
 * registry, that country's length, check digits 02..98 and MOD 97 == 1. The
 * message may name the country code (see above). out (CHECK_IBAN_SIZE
 * bytes) receives the compact upper-case form, country (if not NULL) the
 * country code and last4 (if not NULL) the last four characters; all are
 * "" on failure. */
int check_iban(const char *field, const char *value, char *out, size_t out_size, char country[3],
               char last4[5], mb_error *err);

/* A BIC (ISO 9362): 8 or 11 upper-case characters, 4 letters (bank), an
 * assigned country code, 2 letters or digits (location) and optionally 3
 * letters or digits (branch). An empty value passes unless `required`. */
int check_bic(const char *field, const char *value, bool required, mb_error *err);

/* A SEPA creditor identifier (EPC262-08): spaces ignored, letters
 * upper-cased; an assigned country code, two check digits, a three-character
 * creditor business code and the national identifier, at most 35 in all;
 * ISO 7064 MOD 97-10 over all but the business code, as for an IBAN. out
 * (CHECK_CREDITOR_ID_SIZE bytes) receives the compact form. */
int check_creditor_id(const char *field, const char *value, char *out, size_t out_size,
                      mb_error *err);

/*
 * Building blocks, shared with payment_validate.c.
 */

/* Sets err to INVALID_ARGUMENT "<field>: <rule>" and returns -1. The rule
 * text must never contain the value or any part of it. */
int check_field_error(mb_error *err, const char *field, const char *rule_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* 1..max ASCII characters from letters, digits and the characters in
 * `extra` (and at least min of them); `charset_rule` is the message when
 * another character appears ("may only contain letters, digits and ..."). */
int check_ascii(const char *field, const char *value, size_t min, size_t max,
                     const char *extra, const char *charset_rule, mb_error *err);

/* Luhn (ISO/IEC 7812-1) over len ASCII digits. */
bool check_luhn(const char *digits, size_t len);

/* The IBAN length the SWIFT registry gives country cc (two upper-case
 * letters), or 0 if cc issues no IBANs. */
int check_iban_length(const char *cc);

/* True if the compact upper-case IBAN s (len characters) has check digits
 * 02..98 and passes ISO 7064 MOD 97-10. */
bool check_iban_checksum(const char *s, size_t len);

/* Copies in to out without the characters in `drop`, upper-casing ASCII
 * letters if `upper`. Returns the length copied, or -1 if it does not fit in
 * out_size bytes (out is then wiped). */
int check_compact(const char *in, const char *drop, bool upper, char *out, size_t out_size);

#endif
