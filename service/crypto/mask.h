/*
 * mask.h - the masked forms of personal data shown to support and finance.
 *
 * Masks are computed once, when the value is written, and stored beside the
 * ciphertext: a masked read then needs no decryption, and the connections of
 * the support and invoicing purposes never get to read the ciphertext.
 * PCI DSS 3.4.1 allows at most first six / last four digits of a PAN; these
 * show less. A mask never shows more than a fixed share of its value (a
 * quarter of an e-mail address, a third of a phone number or name), so
 * short values are starred rather than shown almost whole.
 */
#ifndef MB_CRYPTO_MASK_H
#define MB_CRYPTO_MASK_H

#include <stddef.h>

/* "jane.doe@example.de" -> "j***@e***.de", "a@b.de" -> "***@***" */
void mask_email(const char *email, char *out, size_t size);
/* "+4915112345667" (E.164) -> "+49 *** *** 67", "+12345678" ->
 * "+** *** *** 78" */
void mask_phone(const char *e164, char *out, size_t size);
/* "Jane Mary Doe" -> "J. M. D." (first code point of each word, as far
 * as a third of the letters allows: "Al Bo" -> "A. *.") */
void mask_name(const char *name, char *out, size_t size);

#endif
