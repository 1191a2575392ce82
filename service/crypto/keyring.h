/*
 * keyring.h - the master key and the service secrets it wraps.
 *
 * The master key is 32 random bytes in a key file that must not be readable
 * by group or others. It never touches the database: it only wraps other
 * keys. Service secrets (the API-key hashing key today; fingerprint, blind
 * index and audit-chain keys later) are random 32-byte keys stored in
 * keyring_secrets wrapped by the master key, so rotating the master key
 * re-wraps them without changing any hash computed with them.
 *
 * All key bytes live in sodium_malloc'd memory (guard pages, mlock'd, wiped
 * on free) and are read-only except while being filled.
 */
#ifndef MB_KEYRING_H
#define MB_KEYRING_H

#include <stddef.h>

#include "base/error.h"
#include "store/store.h"

#define KEYRING_KEY_BYTES 32

typedef struct keyring keyring_t;

typedef enum {
    KEYRING_SECRET_APIKEY_HASH,  /* keys the BLAKE2b hash of API keys */
    KEYRING_SECRET_FINGERPRINT,  /* keys payment-method fingerprints (PCI DSS 3.5.1.1) */
    KEYRING_SECRET_BLIND_INDEX,  /* keys the blind index of contact e-mails */
    KEYRING_SECRET_AUDIT_CHAIN,  /* keys the audit trail's hash chain */
    KEYRING_SECRET_IDEMPOTENCY,  /* keys the hashes of usage idempotency keys */
    KEYRING_SECRET_COUNT
} keyring_secret;

/* Writes a new key file of 32 random bytes with mode 0600; refuses to
 * overwrite an existing file. */
int keyring_file_create(const char *path, mb_error *err);

/* Reads the key file (refusing one that group or others may read, or that is
 * not exactly 32 bytes) into locked memory. */
int keyring_load(const char *path, keyring_t **out, mb_error *err);
void keyring_free(keyring_t *kr);

/* Binds the keyring to a database inside the caller's write transaction:
 * records the master key's id on first use, refuses a key file that is not
 * the database's, and unwraps (creating on first use) every service secret. */
int keyring_attach(keyring_t *kr, store_conn_t *conn, mb_error *err);

/* The 32 bytes of an attached service secret; valid until keyring_free(). */
const unsigned char *keyring_secret_borrow(const keyring_t *kr, keyring_secret which);

/* Keyed BLAKE2b of data under a service secret (fingerprints, blind index,
 * idempotency and audit hashes). out_len 16..64. */
void keyring_mac(const keyring_t *kr, keyring_secret which, const void *data, size_t len,
                 unsigned char *out, size_t out_len);

#define KEYRING_NONCE_BYTES 24
#define KEYRING_WRAPPED_BYTES (KEYRING_KEY_BYTES + 16)

/* The master key version keys are wrapped with (after keyring_attach). */
int keyring_master_version(const keyring_t *kr);

/* Wraps a 32-byte key under the current master key; ad binds it to where it
 * is stored. */
void keyring_wrap(const keyring_t *kr, const char *ad, const unsigned char key[KEYRING_KEY_BYTES],
                  unsigned char nonce[KEYRING_NONCE_BYTES],
                  unsigned char wrapped[KEYRING_WRAPPED_BYTES]);

/* Unwraps into key (caller's locked memory). DATA_LOSS if it was wrapped by
 * another master key version or tampered with. */
int keyring_unwrap(const keyring_t *kr, int master_version, const char *ad,
                   const unsigned char nonce[KEYRING_NONCE_BYTES],
                   const unsigned char wrapped[KEYRING_WRAPPED_BYTES],
                   unsigned char key[KEYRING_KEY_BYTES], mb_error *err);

#endif
