/*
 * dek.c - see dek.h.
 */
#include "crypto/dek.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/rng.h"
#include "crypto/secmem.h"

/* Read on every create rather than counted here. A counter would be right
 * within one write transaction: a rollback, of a savepoint or of all of it,
 * only removes rows, so the counter stays ahead of the table (gaps, never a
 * duplicate; and max + 1 reusing a rolled-back id is fine too, its row is
 * gone). Between transactions, though, another process may insert keys, so
 * the counter would have to be dropped at every commit and rollback, which
 * only the writer (store/) sees. The seek to the last key costs ~1 us on the
 * writer thread: not worth coupling the two. */
static const char SQL_NEXT_ID[] = "SELECT coalesce(max(dek_id), 0) + 1 FROM data_keys";
static const char SQL_INSERT[] =
    "INSERT INTO data_keys(dek_id, master_version, nonce, wrapped) VALUES (?1, ?2, ?3, ?4)";
static const char SQL_GET[] =
    "SELECT dek_id, master_version, nonce, wrapped FROM data_keys WHERE dek_id = ?1";
static const char SQL_DELETE[] = "DELETE FROM data_keys WHERE dek_id = ?1";
static const char SQL_CLASS_GET[] = "SELECT dek_id FROM retention_keys WHERE class = ?1";
static const char SQL_CLASS_ADD[] =
    "INSERT INTO retention_keys(class, dek_id, retain_until) VALUES (?1, ?2, ?3)";

/* The wrapped key is bound to its row: swapping wrapped keys between rows
 * makes them fail to unwrap. */
static void wrap_ad(char *ad, size_t size, int64_t id)
{
    snprintf(ad, size, "minbill:data_keys:%lld", (long long)id);
}

static int alloc_key(dek *out, mb_error *err)
{
    out->key = secmem_alloc(KEYRING_KEY_BYTES);
    if (out->key == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of locked memory for keys");
    return 0;
}

int dek_create(store_conn_t *conn, keyring_t *kr, dek *out, mb_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_NEXT_ID, err);
    if (st == NULL)
        return -1;
    int rc = sqlite3_step(st);
    int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW)
        return store_error(conn, err, "allocating a data key id");
    if (alloc_key(out, err) != 0)
        return -1;
    rng_fill(out->key, KEYRING_KEY_BYTES);
    out->id = id;
    unsigned char nonce[KEYRING_NONCE_BYTES], wrapped[KEYRING_WRAPPED_BYTES];
    char ad[64];
    int version;
    wrap_ad(ad, sizeof ad, id);
    if (keyring_wrap(kr, conn, ad, out->key, nonce, wrapped, &version, err) != 0 ||
        (st = store_conn_prepare(conn, SQL_INSERT, err)) == NULL)
        goto fail;
    sqlite3_bind_int64(st, 1, id);
    sqlite3_bind_int(st, 2, version);
    sqlite3_bind_blob(st, 3, nonce, sizeof nonce, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, wrapped, sizeof wrapped, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return 0;
    store_error(conn, err, "storing a data key");
fail:
    dek_release(out);
    return -1;
}

int dek_from_row(store_conn_t *conn, keyring_t *kr, sqlite3_stmt *st, int col, dek *out,
                 mb_error *err)
{
    memset(out, 0, sizeof *out);
    int64_t id = sqlite3_column_int64(st, col);
    if (sqlite3_column_bytes(st, col + 2) != KEYRING_NONCE_BYTES ||
        sqlite3_column_bytes(st, col + 3) != KEYRING_WRAPPED_BYTES)
        return mb_error_set(err, GRPC_STATUS_DATA_LOSS, "data key %lld is missing or malformed",
                            (long long)id);
    if (alloc_key(out, err) != 0)
        return -1;
    char ad[64];
    wrap_ad(ad, sizeof ad, id);
    if (keyring_unwrap(kr, conn, sqlite3_column_int(st, col + 1), ad,
                       sqlite3_column_blob(st, col + 2), sqlite3_column_blob(st, col + 3), out->key,
                       err) != 0) {
        dek_release(out);
        return -1;
    }
    out->id = id;
    return 0;
}

int dek_load(store_conn_t *conn, keyring_t *kr, int64_t id, dek *out, mb_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_GET, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_int64(st, 1, id);
    int ret = -1;
    char missing[64];
    snprintf(missing, sizeof missing, "data key %lld is missing", (long long)id);
    if (store_step_one(conn, st, missing, "reading a data key", err) == 0)
        ret = dek_from_row(conn, kr, st, 0, out, err);
    else if (err != NULL && err->code == GRPC_STATUS_NOT_FOUND)
        err->code = GRPC_STATUS_DATA_LOSS; /* a key a row refers to is gone */
    sqlite3_reset(st);
    return ret;
}

int dek_for_class(store_conn_t *conn, keyring_t *kr, const char *cls, const char *retain_until,
                  dek *out, mb_error *err)
{
    memset(out, 0, sizeof *out);
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_CLASS_GET, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, cls, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int64_t id = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (rc == SQLITE_ROW)
        return dek_load(conn, kr, id, out, err);
    if (rc != SQLITE_DONE)
        return store_error(conn, err, "reading a retention class key");
    if (dek_create(conn, kr, out, err) != 0)
        return -1;
    if ((st = store_conn_prepare(conn, SQL_CLASS_ADD, err)) == NULL)
        goto fail;
    sqlite3_bind_text(st, 1, cls, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, out->id);
    sqlite3_bind_text(st, 3, retain_until, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return 0;
    store_error(conn, err, "storing a retention class key");
fail:
    dek_release(out);
    return -1;
}

int dek_destroy_unscrubbed(store_conn_t *conn, int64_t id, mb_error *err)
{
    return store_exec_id(conn, SQL_DELETE, id, "destroying a data key", err);
}

int dek_destroy(store_conn_t *conn, int64_t id, mb_error *err)
{
    if (dek_destroy_unscrubbed(conn, id, err) != 0)
        return -1;
    store_conn_note_shred(conn); /* its older copies in the WAL go too */
    return 0;
}

void dek_release(dek *d)
{
    secmem_free(d->key);
    d->key = NULL;
    d->id = 0;
}

static int seal_ad(char *ad, size_t size, const dek *d, const char *table, const char *column,
                   const char *row_id)
{
    return snprintf(ad, size, "minbill:%s:%s:%s:dek%lld", table, column, row_id, (long long)d->id);
}

void dek_seal(const dek *d, const char *table, const char *column, const char *row_id,
              const void *plain, size_t len, unsigned char *out)
{
    char ad[256];
    int adlen = seal_ad(ad, sizeof ad, d, table, column, row_id);
    rng_fill(out, 24);
    crypto_aead_xchacha20poly1305_ietf_encrypt(out + 24, NULL, plain, len, (unsigned char *)ad,
                                               (size_t)adlen, NULL, out, d->key);
}

int dek_bind_sealed(sqlite3_stmt *st, int idx, const dek *d, const char *table, const char *column,
                    const char *row_id, const char *value, mb_error *err)
{
    if (value == NULL || value[0] == '\0') {
        sqlite3_bind_null(st, idx);
        return 0;
    }
    size_t len = strlen(value);
    unsigned char *ct = malloc(len + DEK_SEAL_OVERHEAD);
    if (ct == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    dek_seal(d, table, column, row_id, value, len, ct);
    sqlite3_bind_blob(st, idx, ct, (int)(len + DEK_SEAL_OVERHEAD), free);
    return 0;
}

int dek_column_open(sqlite3_stmt *st, int col, const dek *d, const char *table, const char *column,
                    const char *row_id, mb_arena_t *arena, char **out, mb_error *err)
{
    const unsigned char *ct = sqlite3_column_blob(st, col);
    size_t n = (size_t)sqlite3_column_bytes(st, col);
    if (ct == NULL) {
        *out = "";
        return 0;
    }
    if (n < DEK_SEAL_OVERHEAD)
        return mb_error_set(err, GRPC_STATUS_DATA_LOSS, "%s.%s of %s is malformed", table, column,
                            row_id);
    char *plain = mb_arena_alloc(arena, n - DEK_SEAL_OVERHEAD + 1);
    if (plain == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    char ad[256];
    int adlen = seal_ad(ad, sizeof ad, d, table, column, row_id);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt((unsigned char *)plain, NULL, NULL, ct + 24,
                                                   n - 24, (unsigned char *)ad, (size_t)adlen, ct,
                                                   d->key) != 0)
        return mb_error_set(err, GRPC_STATUS_DATA_LOSS, "%s.%s of %s does not decrypt", table,
                            column, row_id);
    plain[n - DEK_SEAL_OVERHEAD] = '\0';
    *out = plain;
    return 0;
}
