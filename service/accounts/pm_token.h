/*
 * pm_token.h - payment-method tokens: "pm_" and 24 base62 letters.
 *
 * A token is what every other system holds instead of a PAN or IBAN, so it
 * must be unguessable and say nothing about the number. It must also be
 * cheap to find: with a random token under a UNIQUE index, every new payment
 * method wrote one more random index page to the WAL, which on the
 * reference VM was half of what a tokenisation cost.
 *
 * So a token carries its row id, encrypted. Its first 13 letters are random
 * (77 bits, a nonce); its last 11 are the base62 digits of the row id, each
 * shifted mod 62 by a keystream letter drawn from a keyed BLAKE2b of the
 * nonce (service secret KEYRING_SECRET_TOKEN). To anyone without that secret
 * all 24 letters are uniformly random and unrelated to the number; with it,
 * pm_token_id() recovers the row id, and the row is found by its primary
 * key. The id alone grants nothing: the row stores the whole token, and a
 * lookup matches both, so the only valid token for a row is the one issued.
 *
 * Tokens issued before migration 0006 are fully random and are found
 * through payment_token_legacy instead.
 *
 * The secret cannot be rotated like the master key: every token issued
 * under it would stop finding its row. It is wrapped by the master key like
 * the other service secrets, so master key rotation re-wraps it unchanged.
 */
#ifndef MB_ACCOUNTS_PM_TOKEN_H
#define MB_ACCOUNTS_PM_TOKEN_H

#include <stdint.h>

#include "base/error.h"
#include "crypto/keyring.h"

#define PM_TOKEN_LEN 27 /* "pm_" + 24 base62 */

/* A token with all 24 letters random: the nonce is set, the id letters are
 * filled in by pm_token_bind() once the row id is known. */
void pm_token_new(char out[PM_TOKEN_LEN + 1]);

/* Writes the encrypted id (1 .. INT64_MAX) into the token's last 11 letters,
 * keyed by its first 13. */
void pm_token_bind(const keyring_t *kr, int64_t id, char token[PM_TOKEN_LEN + 1]);

/* The row id a token that passed pm_token_check() carries, or -1 when its
 * letters decode to no possible id (a legacy token, or one made up). */
int64_t pm_token_id(const keyring_t *kr, const char *token);

/* INVALID_ARGUMENT naming field unless token is "pm_" and 24 base62 letters. */
int pm_token_check(const char *field, const char *token, mb_error *err);

#endif
