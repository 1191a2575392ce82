/*
 * keyring.h - master keys and the service secrets they wrap.
 *
 * A master key is 32 random bytes in a key file that must not be readable by
 * group or others. It never touches the database: it only wraps other keys
 * (data keys in data_keys, service secrets in keyring_secrets). The database
 * records each master key version by a keyed id, never the key.
 *
 * Rotation (keyring_rotate, `minbilld keys rotate`) stages a new key in
 * "<key-file>.next", registers it as the next version, re-wraps every data
 * key and secret in small transactions while the daemon keeps serving, then
 * keeps the old key as "<key-file>.v<old version>" (backups taken before the
 * rotation need it; the operator removes it with the last such backup) and
 * renames the new one over the key file, syncing the directory after each
 * step. A running daemon notices a newer version on its next wrap and an
 * unknown one on unwrap, and loads it from the key file and "<key-file>.next";
 * it keeps up to 16 keys, reusing the slot of the oldest retired version.
 *
 * Master keys and service secrets live in one sodium_malloc'd block of
 * their own (guard pages, mlock'd, wiped on free), read-only except while
 * being filled; keys passing through (being created or re-wrapped) live in
 * secure memory (crypto/secmem.h). The functions are thread-safe once
 * keyring_attach() succeeded.
 */
#ifndef MB_KEYRING_H
#define MB_KEYRING_H

#include <stddef.h>
#include <stdint.h>

#include "base/error.h"
#include "store/store.h"

#define KEYRING_KEY_BYTES 32
#define KEYRING_NONCE_BYTES 24
#define KEYRING_WRAPPED_BYTES (KEYRING_KEY_BYTES + 16)

typedef struct keyring keyring_t;

typedef enum {
    KEYRING_SECRET_APIKEY_HASH,  /* keys the BLAKE2b hash of API keys */
    KEYRING_SECRET_FINGERPRINT,  /* keys payment-method fingerprints (PCI DSS 3.5.1.1) */
    KEYRING_SECRET_BLIND_INDEX,  /* keys the blind index of contact e-mails */
    KEYRING_SECRET_AUDIT_CHAIN,  /* keys the audit trail's hash chain */
    KEYRING_SECRET_IDEMPOTENCY,  /* keys the hashes of usage idempotency keys */
    KEYRING_SECRET_TOKEN,        /* keys the row ids inside payment-method tokens */
    KEYRING_SECRET_COUNT
} keyring_secret;

/* Writes a new key file of 32 random bytes with mode 0600; refuses to
 * overwrite an existing file. */
int keyring_file_create(const char *path, mb_error *err);

/* Reads the key file (and "<path>.next" if a rotation is under way),
 * refusing one that group or others may read or that is not 32 bytes. */
int keyring_load(const char *path, keyring_t **out, mb_error *err);
void keyring_free(keyring_t *kr);

/* Binds the keyring to a database inside the caller's write transaction:
 * records the key as version 1 of a new database, refuses a key file that
 * is none of the database's versions, and unwraps (creating on first use)
 * every service secret. */
int keyring_attach(keyring_t *kr, store_conn_t *conn, mb_error *err);

/* The 32 bytes of an attached service secret; valid until keyring_free(). */
const unsigned char *keyring_secret_borrow(const keyring_t *kr, keyring_secret which);

/* Keyed BLAKE2b of data under a service secret (fingerprints, blind index,
 * idempotency and audit hashes). out_len 16..64. */
void keyring_mac(const keyring_t *kr, keyring_secret which, const void *data, size_t len,
                 unsigned char *out, size_t out_len);

/* Wraps a 32-byte key under the newest master key this process knows of
 * (after checking the database for a newer one on conn); *version receives
 * the version used. ad binds the wrapped key to where it is stored. */
int keyring_wrap(keyring_t *kr, store_conn_t *conn, const char *ad,
                 const unsigned char key[KEYRING_KEY_BYTES],
                 unsigned char nonce[KEYRING_NONCE_BYTES],
                 unsigned char wrapped[KEYRING_WRAPPED_BYTES], int *version, mb_error *err);

/* Unwraps into key (caller's locked memory), loading the key files again if
 * the version is not known yet. DATA_LOSS if the version's key is missing
 * or the wrapped key was tampered with. */
int keyring_unwrap(keyring_t *kr, store_conn_t *conn, int version, const char *ad,
                   const unsigned char nonce[KEYRING_NONCE_BYTES],
                   const unsigned char wrapped[KEYRING_WRAPPED_BYTES],
                   unsigned char key[KEYRING_KEY_BYTES], mb_error *err);

typedef struct keyring_rotation {
    int from_version, to_version;
    int64_t data_keys, secrets;    /* re-wrapped */
    int batches;
    double longest_batch_ms;       /* the longest any write waited for us */
    char retired[4096 + 16];       /* "<key file>.v<from_version>": the old key */
} keyring_rotation;

/* `minbilld keys rotate`: rotates the master key of the database at conn
 * (a writer connection of the calling process) whose key file is path. Safe
 * to run while minbilld serves, and to run again after a crash. out->retired
 * names the file that keeps the old key. */
int keyring_rotate(const char *path, store_conn_t *conn, keyring_rotation *out, mb_error *err);

#endif
