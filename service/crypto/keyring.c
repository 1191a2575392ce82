/*
 * keyring.c - see keyring.h.
 */
#include "crypto/keyring.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

struct keyring {
    unsigned char master[KEYRING_KEY_BYTES];
    unsigned char secrets[KEYRING_SECRET_COUNT][KEYRING_KEY_BYTES];
    int master_version;
    bool attached;
};

static const char *const secret_names[KEYRING_SECRET_COUNT] = {
    [KEYRING_SECRET_APIKEY_HASH] = "apikey-hash",
    [KEYRING_SECRET_FINGERPRINT] = "fingerprint",
    [KEYRING_SECRET_BLIND_INDEX] = "blind-index",
    [KEYRING_SECRET_AUDIT_CHAIN] = "audit-chain",
    [KEYRING_SECRET_IDEMPOTENCY] = "idempotency",
};

static const char SQL_MASTER_BY_ID[] = "SELECT version FROM keyring_master WHERE key_id = ?1";
static const char SQL_MASTER_ANY[] = "SELECT count(*) FROM keyring_master";
static const char SQL_MASTER_INSERT[] =
    "INSERT INTO keyring_master(version, key_id) VALUES (?1, ?2)";
static const char SQL_SECRET_GET[] =
    "SELECT master_version, nonce, wrapped FROM keyring_secrets WHERE name = ?1";
static const char SQL_SECRET_PUT[] =
    "INSERT INTO keyring_secrets(name, master_version, nonce, wrapped) VALUES (?1, ?2, ?3, ?4)";

int keyring_file_create(const char *path, mb_error *err)
{
    if (sodium_init() < 0)
        return mb_error_set(err, GRPC_STATUS_INTERNAL, "libsodium failed to initialise");
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION, "key file %s: %s", path,
                            errno == EEXIST ? "already exists (refusing to overwrite a key)"
                                            : strerror(errno));
    unsigned char *key = sodium_malloc(KEYRING_KEY_BYTES);
    int ret = 0;
    if (key == NULL) {
        ret = mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of locked memory");
        goto out;
    }
    randombytes_buf(key, KEYRING_KEY_BYTES);
    if (write(fd, key, KEYRING_KEY_BYTES) != KEYRING_KEY_BYTES || fsync(fd) != 0)
        ret = mb_error_set(err, GRPC_STATUS_UNAVAILABLE, "key file %s: write failed: %s", path,
                           strerror(errno));
out:
    sodium_free(key);
    close(fd);
    if (ret != 0)
        unlink(path);
    return ret;
}

int keyring_load(const char *path, keyring_t **out, mb_error *err)
{
    if (sodium_init() < 0)
        return mb_error_set(err, GRPC_STATUS_INTERNAL, "libsodium failed to initialise");
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0)
        return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                            "key file %s: %s (create one with: minbilld keys init --key-file %s)",
                            path, strerror(errno), path);
    keyring_t *kr = NULL;
    struct stat st;
    int ret = -1;
    if (fstat(fd, &st) != 0) {
        mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION, "key file %s: %s", path,
                     strerror(errno));
        goto out;
    }
    if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
        mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                     "key file %s is accessible by group or others (mode %03o): "
                     "chmod 600 it",
                     path, (unsigned)(st.st_mode & 0777));
        goto out;
    }
    if (!S_ISREG(st.st_mode) || st.st_size != KEYRING_KEY_BYTES) {
        mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                     "key file %s must be a regular file of exactly %d bytes", path,
                     KEYRING_KEY_BYTES);
        goto out;
    }
    kr = sodium_malloc(sizeof *kr);
    if (kr == NULL) {
        mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of locked memory for keys");
        goto out;
    }
    memset(kr, 0, sizeof *kr);
    if (read(fd, kr->master, KEYRING_KEY_BYTES) != KEYRING_KEY_BYTES) {
        mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION, "key file %s: short read", path);
        goto out;
    }
    sodium_mprotect_readonly(kr);
    *out = kr;
    kr = NULL;
    ret = 0;
out:
    if (kr != NULL)
        sodium_free(kr); /* sodium_free wipes before releasing */
    close(fd);
    return ret;
}

void keyring_free(keyring_t *kr)
{
    if (kr != NULL)
        sodium_free(kr);
}

static void master_key_id(const keyring_t *kr, unsigned char id[16])
{
    static const char label[] = "minbill master key id v1";
    crypto_generichash(id, 16, (const unsigned char *)label, sizeof label - 1, kr->master,
                       KEYRING_KEY_BYTES);
}

/* The master version of this key in this database, inserting it as version 1
 * when the database has never seen a key. */
static int attach_master(keyring_t *kr, store_conn_t *conn, mb_error *err)
{
    unsigned char id[16];
    master_key_id(kr, id);
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_MASTER_BY_ID, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_blob(st, 1, id, sizeof id, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    int version = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_reset(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return store_error(conn, err, "reading keyring_master");
    if (version == 0) {
        if ((st = store_conn_prepare(conn, SQL_MASTER_ANY, err)) == NULL)
            return -1;
        rc = sqlite3_step(st);
        int known = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
        sqlite3_reset(st);
        if (known != 0)
            return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                                "the key file is not this database's master key");
        if ((st = store_conn_prepare(conn, SQL_MASTER_INSERT, err)) == NULL)
            return -1;
        version = 1;
        sqlite3_bind_int(st, 1, version);
        sqlite3_bind_blob(st, 2, id, sizeof id, SQLITE_STATIC);
        rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return store_error(conn, err, "recording the master key");
    }
    kr->master_version = version;
    return 0;
}

static void secret_ad(char *ad, size_t size, const char *name, int version)
{
    snprintf(ad, size, "minbill:keyring_secrets:%s:v%d", name, version);
}

/* Unwraps the named secret into out, creating and storing it if missing. */
static int attach_secret(const keyring_t *kr, store_conn_t *conn, const char *name,
                         unsigned char out[KEYRING_KEY_BYTES], mb_error *err)
{
    unsigned char nonce[KEYRING_NONCE_BYTES];
    unsigned char wrapped[KEYRING_WRAPPED_BYTES];
    char ad[96];
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_SECRET_GET, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        int version = sqlite3_column_int(st, 0);
        int ok = sqlite3_column_bytes(st, 1) == (int)sizeof nonce &&
                 sqlite3_column_bytes(st, 2) == (int)sizeof wrapped;
        if (ok) {
            memcpy(nonce, sqlite3_column_blob(st, 1), sizeof nonce);
            memcpy(wrapped, sqlite3_column_blob(st, 2), sizeof wrapped);
        }
        sqlite3_reset(st);
        secret_ad(ad, sizeof ad, name, version);
        if (!ok)
            return mb_error_set(err, GRPC_STATUS_DATA_LOSS, "keyring secret %s is malformed",
                                name);
        if (keyring_unwrap(kr, version, ad, nonce, wrapped, out, err) != 0) {
            mb_error_prefix(err, "keyring secret %s: ", name);
            return -1;
        }
        return 0;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_error(conn, err, "reading keyring_secrets");
    randombytes_buf(out, KEYRING_KEY_BYTES);
    secret_ad(ad, sizeof ad, name, kr->master_version);
    keyring_wrap(kr, ad, out, nonce, wrapped);
    if ((st = store_conn_prepare(conn, SQL_SECRET_PUT, err)) == NULL)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, kr->master_version);
    sqlite3_bind_blob(st, 3, nonce, sizeof nonce, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, wrapped, sizeof wrapped, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_error(conn, err, "storing a keyring secret");
}

int keyring_attach(keyring_t *kr, store_conn_t *conn, mb_error *err)
{
    int ret = 0;
    sodium_mprotect_readwrite(kr);
    if (attach_master(kr, conn, err) != 0) {
        ret = -1;
        goto out;
    }
    for (int i = 0; i < KEYRING_SECRET_COUNT; i++) {
        if (attach_secret(kr, conn, secret_names[i], kr->secrets[i], err) != 0) {
            ret = -1;
            goto out;
        }
    }
    kr->attached = true;
out:
    sodium_mprotect_readonly(kr);
    return ret;
}

const unsigned char *keyring_secret_borrow(const keyring_t *kr, keyring_secret which)
{
    return kr->secrets[which];
}

void keyring_mac(const keyring_t *kr, keyring_secret which, const void *data, size_t len,
                 unsigned char *out, size_t out_len)
{
    crypto_generichash(out, out_len, data, len, kr->secrets[which], KEYRING_KEY_BYTES);
}

int keyring_master_version(const keyring_t *kr)
{
    return kr->master_version;
}

void keyring_wrap(const keyring_t *kr, const char *ad, const unsigned char key[KEYRING_KEY_BYTES],
                  unsigned char nonce[KEYRING_NONCE_BYTES],
                  unsigned char wrapped[KEYRING_WRAPPED_BYTES])
{
    randombytes_buf(nonce, KEYRING_NONCE_BYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(wrapped, NULL, key, KEYRING_KEY_BYTES,
                                               (const unsigned char *)ad, strlen(ad), NULL,
                                               nonce, kr->master);
}

int keyring_unwrap(const keyring_t *kr, int master_version, const char *ad,
                   const unsigned char nonce[KEYRING_NONCE_BYTES],
                   const unsigned char wrapped[KEYRING_WRAPPED_BYTES],
                   unsigned char key[KEYRING_KEY_BYTES], mb_error *err)
{
    if (master_version != kr->master_version ||
        crypto_aead_xchacha20poly1305_ietf_decrypt(key, NULL, NULL, wrapped,
                                                   KEYRING_WRAPPED_BYTES,
                                                   (const unsigned char *)ad, strlen(ad), nonce,
                                                   kr->master) != 0)
        return mb_error_set(err, GRPC_STATUS_DATA_LOSS,
                            "a key wrapped by master key version %d cannot be unwrapped",
                            master_version);
    return 0;
}
