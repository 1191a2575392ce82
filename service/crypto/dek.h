/*
 * dek.h - data keys (DEKs) and the fields they encrypt.
 *
 * Every account, contact and payment method has its own 32-byte data key,
 * stored wrapped by the master key in data_keys. Personal and payment fields
 * are sealed with XChaCha20-Poly1305 under their owner's DEK; the associated
 * data names table, column, row and DEK id, so a ciphertext copied to another
 * row or column fails to open. Destroying the DEK (dek_destroy) makes every
 * ciphertext under it unreadable for good: that is how erasure reaches
 * copies we cannot delete (WAL frames, backups).
 *
 * Every data key has a class: a subject (the account, contact or payment
 * method row that references it; erasure destroys it) or a retention class
 * (retention_keys: "invoice:<seller country>:<year retention ends>"; issued
 * documents are sealed under it and expiry destroys it), so erasure and
 * retention never share a key.
 *
 * Clear key bytes live only in secure memory (crypto/secmem.h: locked, never
 * dumped, wiped on free), from dek_create / dek_load until dek_release.
 */
#ifndef MB_CRYPTO_DEK_H
#define MB_CRYPTO_DEK_H

#include <stddef.h>
#include <stdint.h>

#include "base/arena.h"
#include "base/error.h"
#include "crypto/keyring.h"
#include "store/store.h"

/* nonce || ciphertext || tag */
#define DEK_SEAL_OVERHEAD (24 + 16)

typedef struct dek {
    int64_t id;
    unsigned char *key; /* secmem_alloc'd, KEYRING_KEY_BYTES */
} dek;

/* A new random DEK, stored wrapped. Writer connection only. */
int dek_create(store_conn_t *conn, keyring_t *kr, dek *out, mb_error *err);
int dek_load(store_conn_t *conn, keyring_t *kr, int64_t id, dek *out, mb_error *err);
/* The same from columns col..col+3 of the current row of st: dek_id,
 * master_version, nonce, wrapped (join data_keys instead of a query per
 * row). */
int dek_from_row(store_conn_t *conn, keyring_t *kr, sqlite3_stmt *st, int col, dek *out,
                 mb_error *err);
/* The key of retention class `cls` (kept until retain_until, "YYYY-MM-DD"),
 * created on first use. Writer connection only. */
int dek_for_class(store_conn_t *conn, keyring_t *kr, const char *cls, const char *retain_until,
                  dek *out, mb_error *err);
/* Deletes the wrapped key: everything sealed under it is gone. */
int dek_destroy(store_conn_t *conn, int64_t id, mb_error *err);
/* The same without the WAL scrub after the commit (store_conn_note_shred):
 * for work that destroys keys in many short jobs and notes the shred once,
 * in its last job, so the writer truncates the WAL once rather than
 * holding writes back for a checkpoint after every job. */
int dek_destroy_unscrubbed(store_conn_t *conn, int64_t id, mb_error *err);
/* Wipes and frees the clear key; safe on a zeroed dek. */
void dek_release(dek *d);

/* Seals len bytes into out (len + DEK_SEAL_OVERHEAD bytes). */
void dek_seal(const dek *d, const char *table, const char *column, const char *row_id,
              const void *plain, size_t len, unsigned char *out);

/* Binds the sealed form of value to parameter idx; an empty or NULL value
 * binds NULL (nothing stored, nothing to leak). */
int dek_bind_sealed(sqlite3_stmt *st, int idx, const dek *d, const char *table, const char *column,
                    const char *row_id, const char *value, mb_error *err);

/* Opens the sealed column col of the current row into a NUL-terminated
 * string in the arena ("" for NULL). DATA_LOSS if it does not open. */
int dek_column_open(sqlite3_stmt *st, int col, const dek *d, const char *table, const char *column,
                    const char *row_id, mb_arena_t *arena, char **out, mb_error *err);

#endif
