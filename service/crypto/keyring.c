/*
 * keyring.c - see keyring.h.
 *
 * Loaded master keys form an append-only table: a slot is filled completely
 * before the count that publishes it is raised, so lookups need no lock;
 * loading (keyring_refresh) is serialised by a mutex. A slot's version is 0
 * until the database says which version its key id is.
 */
#include "crypto/keyring.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "base/clock.h"
#include "crypto/rng.h"
#include "crypto/secmem.h"

#define MAX_MASTERS 16
/* How often a wrap asks the database whether a rotation registered a newer
 * master key; a rotation waits ROTATE_SETTLE_MS > this before re-wrapping,
 * so no key wrapped by the old version can appear after its last pass. */
#define RECHECK_NS (100 * 1000000LL)
#define ROTATE_SETTLE_MS 250
#define ROTATE_BATCH 256
#define KEY_ID_BYTES 16

typedef struct key_mem {
    unsigned char masters[MAX_MASTERS][KEYRING_KEY_BYTES];
    unsigned char secrets[KEYRING_SECRET_COUNT][KEYRING_KEY_BYTES];
} key_mem;

typedef struct master_slot {
    _Atomic int version; /* 0: not (yet) a version of this database */
    unsigned char id[KEY_ID_BYTES];
} master_slot;

struct keyring {
    char path[PATH_MAX];
    pthread_mutex_t lock;
    atomic_int n;       /* published slots */
    atomic_int current; /* slot that wraps */
    _Atomic int64_t checked_ns; /* last look for a newer version (CLOCK_MONOTONIC) */
    master_slot slots[MAX_MASTERS];
    key_mem *mem; /* sodium_malloc'd: long-lived, so it gets its own pages to protect */
};

static const char *const secret_names[KEYRING_SECRET_COUNT] = {
    [KEYRING_SECRET_APIKEY_HASH] = "apikey-hash",
    [KEYRING_SECRET_FINGERPRINT] = "fingerprint",
    [KEYRING_SECRET_BLIND_INDEX] = "blind-index",
    [KEYRING_SECRET_AUDIT_CHAIN] = "audit-chain",
    [KEYRING_SECRET_IDEMPOTENCY] = "idempotency",
    [KEYRING_SECRET_TOKEN] = "payment-token",
};

static const char SQL_VERSION_BY_ID[] = "SELECT version FROM keyring_master WHERE key_id = ?1";
static const char SQL_MAX_VERSION[] = "SELECT coalesce(max(version), 0) FROM keyring_master";
static const char SQL_MASTER_INSERT[] =
    "INSERT INTO keyring_master(version, key_id) VALUES (?1, ?2)";
static const char SQL_SECRET_GET[] =
    "SELECT master_version, nonce, wrapped FROM keyring_secrets WHERE name = ?1";
static const char SQL_SECRET_PUT[] =
    "INSERT INTO keyring_secrets(name, master_version, nonce, wrapped) VALUES (?1, ?2, ?3, ?4)";
static const char SQL_STALE_DEKS[] =
    "SELECT dek_id, master_version, nonce, wrapped FROM data_keys WHERE master_version <> ?1"
    " LIMIT ?2";
static const char SQL_REWRAP_DEK[] =
    "UPDATE data_keys SET master_version = ?2, nonce = ?3, wrapped = ?4 WHERE dek_id = ?1";
static const char SQL_STALE_SECRETS[] =
    "SELECT name, master_version, nonce, wrapped FROM keyring_secrets WHERE master_version <> ?1";
static const char SQL_REWRAP_SECRET[] =
    "UPDATE keyring_secrets SET master_version = ?2, nonce = ?3, wrapped = ?4 WHERE name = ?1";

/* ---- key files ----------------------------------------------------------- */

static int write_key_file(const char *path, const unsigned char *key, mb_error *err)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION, "key file %s: %s", path,
                            errno == EEXIST ? "already exists (refusing to overwrite a key)"
                                            : strerror(errno));
    int ret = 0;
    if (write(fd, key, KEYRING_KEY_BYTES) != KEYRING_KEY_BYTES || fsync(fd) != 0) {
        ret = mb_error_set(err, GRPC_STATUS_UNAVAILABLE, "key file %s: write failed: %s", path,
                           strerror(errno));
        unlink(path);
    }
    close(fd);
    return ret;
}

int keyring_file_create(const char *path, mb_error *err)
{
    if (sodium_init() < 0)
        return mb_error_set(err, GRPC_STATUS_INTERNAL, "libsodium failed to initialise");
    unsigned char *key = secmem_alloc(KEYRING_KEY_BYTES);
    if (key == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of locked memory");
    randombytes_buf(key, KEYRING_KEY_BYTES);
    int ret = write_key_file(path, key, err);
    secmem_free(key);
    return ret;
}

/* Reads a key file into out. *missing tells a file that does not exist from
 * one that is unusable (which is an error). */
static int read_key_file(const char *path, unsigned char *out, bool *missing, mb_error *err)
{
    *missing = false;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        *missing = errno == ENOENT;
        return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                            "key file %s: %s (create one with: minbilld keys init --key-file %s)",
                            path, strerror(errno), path);
    }
    struct stat st;
    int ret = -1;
    if (fstat(fd, &st) != 0)
        mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION, "key file %s: %s", path,
                     strerror(errno));
    else if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
        mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                     "key file %s is accessible by group or others (mode %03o): chmod 600 it",
                     path, (unsigned)(st.st_mode & 0777));
    else if (!S_ISREG(st.st_mode) || st.st_size != KEYRING_KEY_BYTES)
        mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                     "key file %s must be a regular file of exactly %d bytes", path,
                     KEYRING_KEY_BYTES);
    else if (read(fd, out, KEYRING_KEY_BYTES) != KEYRING_KEY_BYTES)
        mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION, "key file %s: short read", path);
    else
        ret = 0;
    close(fd);
    return ret;
}

/* Makes the creation, linking or renaming of path's directory entry
 * durable: fsync of the file alone does not. */
static int fsync_dir_of(const char *path, mb_error *err)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == NULL)
        snprintf(dir, sizeof dir, ".");
    else if (slash == dir)
        dir[1] = '\0';
    else
        *slash = '\0';
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return mb_error_set(err, GRPC_STATUS_UNAVAILABLE, "cannot sync directory %s: %s", dir,
                            strerror(e));
    }
    close(fd);
    return 0;
}

static void next_path(const keyring_t *kr, char *out, size_t size)
{
    snprintf(out, size, "%s.next", kr->path);
}

static void key_id(const unsigned char *key, unsigned char id[KEY_ID_BYTES])
{
    static const char label[] = "minbill master key id v1";
    crypto_generichash(id, KEY_ID_BYTES, (const unsigned char *)label, sizeof label - 1, key,
                       KEYRING_KEY_BYTES);
}

/* Once the table is full: the slot of the oldest version that does not
 * wrap (-1 if none). Rotations re-wrap everything the older versions
 * wrapped, so a daemon serving through any number of rotations needs only
 * its newest few keys. */
static int retired_slot(const keyring_t *kr)
{
    int best = -1, current = atomic_load(&kr->current);
    for (int i = 0; i < MAX_MASTERS; i++) {
        int v = atomic_load(&kr->slots[i].version);
        if (i != current && v > 0 && (best < 0 || v < atomic_load(&kr->slots[best].version)))
            best = i;
    }
    return best;
}

/* Adds the key in path unless it is loaded already (duplicates are found
 * before anything is counted). Caller holds the lock. A missing file is fine
 * when optional. A reused slot is unpublished (version 0) before its key
 * changes; a lookup that found it just before would fail to unwrap
 * (DATA_LOSS) rather than use a wrong key, and it held a version nothing is
 * wrapped with any more. */
static int load_file(keyring_t *kr, const char *path, bool optional, mb_error *err)
{
    bool missing;
    mb_error file_err;
    unsigned char id[KEY_ID_BYTES];
    unsigned char *key = secmem_alloc(KEYRING_KEY_BYTES);
    if (key == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of locked memory");
    int ret = read_key_file(path, key, &missing, &file_err);
    if (ret != 0) {
        if (missing && optional)
            ret = 0;
        else if (err != NULL)
            *err = file_err;
        goto out;
    }
    key_id(key, id);
    int n = atomic_load(&kr->n);
    for (int i = 0; i < n; i++)
        if (sodium_memcmp(kr->slots[i].id, id, KEY_ID_BYTES) == 0)
            goto out;
    int slot = n < MAX_MASTERS ? n : retired_slot(kr);
    if (slot < 0) {
        ret = mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED,
                           "too many master keys loaded and none retired");
        goto out;
    }
    atomic_store(&kr->slots[slot].version, 0);
    memcpy(kr->slots[slot].id, id, KEY_ID_BYTES);
    sodium_mprotect_readwrite(kr->mem);
    memcpy(kr->mem->masters[slot], key, KEYRING_KEY_BYTES);
    sodium_mprotect_readonly(kr->mem);
    if (slot == n)
        atomic_store(&kr->n, n + 1);
out:
    secmem_free(key);
    return ret;
}

int keyring_load(const char *path, keyring_t **out, mb_error *err)
{
    if (sodium_init() < 0)
        return mb_error_set(err, GRPC_STATUS_INTERNAL, "libsodium failed to initialise");
    keyring_t *kr = calloc(1, sizeof *kr);
    if (kr == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    snprintf(kr->path, sizeof kr->path, "%s", path);
    pthread_mutex_init(&kr->lock, NULL);
    atomic_init(&kr->current, -1);
    if ((kr->mem = sodium_malloc(sizeof *kr->mem)) == NULL) {
        keyring_free(kr);
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of locked memory for keys");
    }
    sodium_memzero(kr->mem, sizeof *kr->mem);
    sodium_mprotect_readonly(kr->mem);
    char next[PATH_MAX + 8];
    next_path(kr, next, sizeof next);
    if (load_file(kr, path, false, err) != 0 || load_file(kr, next, true, err) != 0) {
        keyring_free(kr);
        return -1;
    }
    *out = kr;
    return 0;
}

void keyring_free(keyring_t *kr)
{
    if (kr == NULL)
        return;
    if (kr->mem != NULL)
        sodium_free(kr->mem); /* wipes */
    pthread_mutex_destroy(&kr->lock);
    free(kr);
}

/* ---- versions ------------------------------------------------------------ */

/* Asks the database which version each unmapped slot is, and makes the
 * newest known version current. Caller holds the lock (or is single). */
static int map_versions(keyring_t *kr, store_conn_t *conn, mb_error *err)
{
    int n = atomic_load(&kr->n), best = atomic_load(&kr->current);
    for (int i = 0; i < n; i++) {
        if (atomic_load(&kr->slots[i].version) == 0) {
            sqlite3_stmt *st = store_conn_prepare(conn, SQL_VERSION_BY_ID, err);
            if (st == NULL)
                return -1;
            sqlite3_bind_blob(st, 1, kr->slots[i].id, KEY_ID_BYTES, SQLITE_STATIC);
            int rc = sqlite3_step(st);
            if (rc == SQLITE_ROW)
                atomic_store(&kr->slots[i].version, sqlite3_column_int(st, 0));
            sqlite3_reset(st);
            if (rc != SQLITE_ROW && rc != SQLITE_DONE)
                return store_error(conn, err, "reading keyring_master");
        }
        int v = atomic_load(&kr->slots[i].version);
        if (v > 0 && (best < 0 || v > atomic_load(&kr->slots[best].version)))
            best = i;
    }
    atomic_store(&kr->current, best);
    return 0;
}

/* Loads the key files again (a rotation may have staged or installed a new
 * key) and maps their versions. */
static int refresh(keyring_t *kr, store_conn_t *conn, mb_error *err)
{
    char next[PATH_MAX + 8];
    next_path(kr, next, sizeof next);
    pthread_mutex_lock(&kr->lock);
    int ret = 0;
    if (load_file(kr, kr->path, true, err) != 0 || load_file(kr, next, true, err) != 0 ||
        map_versions(kr, conn, err) != 0)
        ret = -1;
    pthread_mutex_unlock(&kr->lock);
    return ret;
}

static int slot_of_version(const keyring_t *kr, int version)
{
    int n = atomic_load(&kr->n);
    for (int i = 0; i < n; i++)
        if (atomic_load(&kr->slots[i].version) == version)
            return i;
    return -1;
}

static int max_version(store_conn_t *conn, int *out, mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_MAX_VERSION, err);
    if (st == NULL)
        return -1;
    int rc = sqlite3_step(st);
    *out = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
    sqlite3_reset(st);
    return rc == SQLITE_ROW ? 0 : store_error(conn, err, "reading keyring_master");
}

static int current_version(const keyring_t *kr)
{
    int c = atomic_load(&kr->current);
    return c < 0 ? 0 : atomic_load(&kr->slots[c].version);
}

static void wrap_with(const keyring_t *kr, int slot, const char *ad,
                      const unsigned char key[KEYRING_KEY_BYTES],
                      unsigned char nonce[KEYRING_NONCE_BYTES],
                      unsigned char wrapped[KEYRING_WRAPPED_BYTES])
{
    rng_fill(nonce, KEYRING_NONCE_BYTES);
    crypto_aead_xchacha20poly1305_ietf_encrypt(wrapped, NULL, key, KEYRING_KEY_BYTES,
                                               (const unsigned char *)ad, strlen(ad), NULL, nonce,
                                               kr->mem->masters[slot]);
}

int keyring_wrap(keyring_t *kr, store_conn_t *conn, const char *ad,
                 const unsigned char key[KEYRING_KEY_BYTES],
                 unsigned char nonce[KEYRING_NONCE_BYTES],
                 unsigned char wrapped[KEYRING_WRAPPED_BYTES], int *version, mb_error *err)
{
    /* A rotation registers its version, waits ROTATE_SETTLE_MS, then
     * re-wraps: new keys must use the new version by then. */
    int64_t now = mb_mono_ns();
    if (now - atomic_load(&kr->checked_ns) >= RECHECK_NS) {
        int newest;
        if (max_version(conn, &newest, err) != 0)
            return -1;
        if (newest > current_version(kr) && refresh(kr, conn, err) != 0)
            return -1;
        atomic_store(&kr->checked_ns, now);
    }
    int c = atomic_load(&kr->current);
    if (c < 0)
        return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION, "keyring is not attached");
    wrap_with(kr, c, ad, key, nonce, wrapped);
    *version = atomic_load(&kr->slots[c].version);
    return 0;
}

int keyring_unwrap(keyring_t *kr, store_conn_t *conn, int version, const char *ad,
                   const unsigned char nonce[KEYRING_NONCE_BYTES],
                   const unsigned char wrapped[KEYRING_WRAPPED_BYTES],
                   unsigned char key[KEYRING_KEY_BYTES], mb_error *err)
{
    int s = slot_of_version(kr, version);
    if (s < 0 && conn != NULL) {
        if (refresh(kr, conn, err) != 0)
            return -1;
        s = slot_of_version(kr, version);
    }
    if (s < 0)
        return mb_error_set(err, GRPC_STATUS_DATA_LOSS,
                            "master key version %d is not in the key file", version);
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(key, NULL, NULL, wrapped,
                                                   KEYRING_WRAPPED_BYTES,
                                                   (const unsigned char *)ad, strlen(ad), nonce,
                                                   kr->mem->masters[s]) != 0)
        return mb_error_set(err, GRPC_STATUS_DATA_LOSS,
                            "a key wrapped by master key version %d does not unwrap", version);
    return 0;
}

/* ---- attach -------------------------------------------------------------- */

static void secret_ad(char *ad, size_t size, const char *name, int version)
{
    snprintf(ad, size, "minbill:keyring_secrets:%s:v%d", name, version);
}

static int register_version(keyring_t *kr, store_conn_t *conn, int slot, mb_error *err)
{
    int v;
    if (max_version(conn, &v, err) != 0)
        return -1;
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_MASTER_INSERT, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_int(st, 1, v + 1);
    sqlite3_bind_blob(st, 2, kr->slots[slot].id, KEY_ID_BYTES, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_error(conn, err, "recording a master key");
    atomic_store(&kr->slots[slot].version, v + 1);
    atomic_store(&kr->current, slot);
    return 0;
}

/* Unwraps the named secret into out, creating and storing it if missing. */
static int attach_secret(keyring_t *kr, store_conn_t *conn, const char *name,
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
        bool ok = sqlite3_column_bytes(st, 1) == (int)sizeof nonce &&
                  sqlite3_column_bytes(st, 2) == (int)sizeof wrapped;
        if (ok) {
            memcpy(nonce, sqlite3_column_blob(st, 1), sizeof nonce);
            memcpy(wrapped, sqlite3_column_blob(st, 2), sizeof wrapped);
        }
        sqlite3_reset(st);
        if (!ok)
            return mb_error_set(err, GRPC_STATUS_DATA_LOSS, "keyring secret %s is malformed",
                                name);
        secret_ad(ad, sizeof ad, name, version);
        if (keyring_unwrap(kr, conn, version, ad, nonce, wrapped, out, err) != 0) {
            mb_error_prefix(err, "keyring secret %s: ", name);
            return -1;
        }
        return 0;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return store_error(conn, err, "reading keyring_secrets");
    int version;
    randombytes_buf(out, KEYRING_KEY_BYTES);
    version = current_version(kr);
    secret_ad(ad, sizeof ad, name, version);
    wrap_with(kr, atomic_load(&kr->current), ad, out, nonce, wrapped);
    if ((st = store_conn_prepare(conn, SQL_SECRET_PUT, err)) == NULL)
        return -1;
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, version);
    sqlite3_bind_blob(st, 3, nonce, sizeof nonce, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, wrapped, sizeof wrapped, SQLITE_STATIC);
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_error(conn, err, "storing a keyring secret");
}

int keyring_attach(keyring_t *kr, store_conn_t *conn, mb_error *err)
{
    int newest, ret = -1;
    pthread_mutex_lock(&kr->lock);
    if (map_versions(kr, conn, err) != 0 || max_version(conn, &newest, err) != 0)
        goto out;
    if (atomic_load(&kr->current) < 0) {
        if (newest != 0) {
            mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                         "the key file is not this database's master key");
            goto out;
        }
        if (register_version(kr, conn, 0, err) != 0)
            goto out;
    }
    pthread_mutex_unlock(&kr->lock);
    /* Outside the lock: unwrapping may refresh, which takes it. */
    sodium_mprotect_readwrite(kr->mem);
    ret = 0;
    for (int i = 0; i < KEYRING_SECRET_COUNT && ret == 0; i++)
        ret = attach_secret(kr, conn, secret_names[i], kr->mem->secrets[i], err);
    sodium_mprotect_readonly(kr->mem);
    return ret;
out:
    pthread_mutex_unlock(&kr->lock);
    return ret;
}

const unsigned char *keyring_secret_borrow(const keyring_t *kr, keyring_secret which)
{
    return kr->mem->secrets[which];
}

void keyring_mac(const keyring_t *kr, keyring_secret which, const void *data, size_t len,
                 unsigned char *out, size_t out_len)
{
    crypto_generichash(out, out_len, data, len, kr->mem->secrets[which], KEYRING_KEY_BYTES);
}

/* ---- rotation ------------------------------------------------------------ */

/* Re-wraps one row read by a stale-row query into the current version. */
static int rewrap_row(keyring_t *kr, store_conn_t *conn, sqlite3_stmt *row, const char *upd,
                      const char *ad_old, const char *ad_new, mb_error *err)
{
    unsigned char *key = secmem_alloc(KEYRING_KEY_BYTES);
    unsigned char nonce[KEYRING_NONCE_BYTES], wrapped[KEYRING_WRAPPED_BYTES];
    if (key == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of locked memory");
    int ret = -1;
    if (sqlite3_column_bytes(row, 2) != KEYRING_NONCE_BYTES ||
        sqlite3_column_bytes(row, 3) != KEYRING_WRAPPED_BYTES) {
        mb_error_set(err, GRPC_STATUS_DATA_LOSS, "a wrapped key is malformed");
        goto out;
    }
    if (keyring_unwrap(kr, conn, sqlite3_column_int(row, 1), ad_old, sqlite3_column_blob(row, 2),
                       sqlite3_column_blob(row, 3), key, err) != 0)
        goto out;
    int c = atomic_load(&kr->current);
    wrap_with(kr, c, ad_new, key, nonce, wrapped);
    sqlite3_stmt *st = store_conn_prepare(conn, upd, err);
    if (st == NULL)
        goto out;
    sqlite3_bind_value(st, 1, sqlite3_column_value(row, 0));
    sqlite3_bind_int(st, 2, atomic_load(&kr->slots[c].version));
    sqlite3_bind_blob(st, 3, nonce, sizeof nonce, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, wrapped, sizeof wrapped, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    ret = rc == SQLITE_DONE ? 0 : store_error(conn, err, "re-wrapping a key");
out:
    secmem_free(key);
    return ret;
}

/* One short transaction: re-wraps up to ROTATE_BATCH data keys (and, when
 * none are left, the service secrets). *done tells whether nothing was left. */
static int rotate_batch(keyring_t *kr, store_conn_t *conn, keyring_rotation *r, bool *done,
                        mb_error *err)
{
    int to = r->to_version, rows = 0, rc = SQLITE_DONE;
    if (store_conn_exec(conn, "BEGIN IMMEDIATE", err) != 0)
        return -1;
    double t0 = mb_mono_ns() / 1e6;
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_STALE_DEKS, err);
    if (st == NULL)
        goto fail;
    sqlite3_bind_int(st, 1, to);
    sqlite3_bind_int(st, 2, ROTATE_BATCH);
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        char ad[64];
        snprintf(ad, sizeof ad, "minbill:data_keys:%lld", (long long)sqlite3_column_int64(st, 0));
        if (rewrap_row(kr, conn, st, SQL_REWRAP_DEK, ad, ad, err) != 0) {
            sqlite3_reset(st);
            goto fail;
        }
        rows++;
    }
    sqlite3_reset(st);
    if (rc != SQLITE_DONE) {
        store_error(conn, err, "reading data keys");
        goto fail;
    }
    r->data_keys += rows;
    if (rows == 0) {
        if ((st = store_conn_prepare(conn, SQL_STALE_SECRETS, err)) == NULL)
            goto fail;
        sqlite3_bind_int(st, 1, to);
        while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
            char ad_old[96], ad_new[96];
            const char *name = (const char *)sqlite3_column_text(st, 0);
            secret_ad(ad_old, sizeof ad_old, name, sqlite3_column_int(st, 1));
            secret_ad(ad_new, sizeof ad_new, name, to);
            if (rewrap_row(kr, conn, st, SQL_REWRAP_SECRET, ad_old, ad_new, err) != 0) {
                sqlite3_reset(st);
                goto fail;
            }
            r->secrets++;
        }
        sqlite3_reset(st);
        *done = true;
    }
    if (store_conn_exec(conn, "COMMIT", err) != 0)
        goto fail;
    double ms = mb_mono_ns() / 1e6 - t0;
    if (ms > r->longest_batch_ms)
        r->longest_batch_ms = ms;
    r->batches++;
    return 0;
fail:
    sqlite3_exec(store_conn_db_borrow(conn), "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* Makes sure "<path>.next" holds a key registered as a new version, making
 * one unless an interrupted rotation left it. Returns its slot. */
static int stage_next(keyring_t *kr, store_conn_t *conn, int *slot, mb_error *err)
{
    char next[PATH_MAX + 8];
    next_path(kr, next, sizeof next);
    if (access(next, F_OK) != 0 &&
        (keyring_file_create(next, err) != 0 || fsync_dir_of(next, err) != 0))
        return -1;
    if (store_conn_exec(conn, "BEGIN IMMEDIATE", err) != 0)
        return -1;
    pthread_mutex_lock(&kr->lock);
    int ret = load_file(kr, next, false, err) == 0 && map_versions(kr, conn, err) == 0 ? 0 : -1;
    /* The staged key is the slot whose id matches the .next file. */
    unsigned char id[KEY_ID_BYTES];
    bool missing;
    unsigned char *tmp = secmem_alloc(KEYRING_KEY_BYTES);
    if (ret == 0 && (tmp == NULL || read_key_file(next, tmp, &missing, err) != 0))
        ret = -1;
    if (ret == 0) {
        key_id(tmp, id);
        *slot = -1;
        for (int i = 0; i < atomic_load(&kr->n); i++)
            if (sodium_memcmp(kr->slots[i].id, id, KEY_ID_BYTES) == 0)
                *slot = i;
        /* Slot 0 is the key file's own key: staging it again is no rotation. */
        if (*slot <= 0)
            ret = mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                               "%s holds the current key: remove it and rotate again", next);
        else if (atomic_load(&kr->slots[*slot].version) == 0)
            ret = register_version(kr, conn, *slot, err);
        else
            atomic_store(&kr->current, *slot);
    }
    secmem_free(tmp);
    pthread_mutex_unlock(&kr->lock);
    if (ret == 0 && store_conn_exec(conn, "COMMIT", err) == 0)
        return 0;
    sqlite3_exec(store_conn_db_borrow(conn), "ROLLBACK", NULL, NULL, NULL);
    return -1;
}

/* Links the key file (slot 0 of kr, version out->from_version) as
 * out->retired. Once linked by an interrupted rotation, it is there
 * already; a file of that name holding another key is left alone. */
static int retire_key_file(const keyring_t *kr, const char *path, keyring_rotation *out,
                           mb_error *err)
{
    if (snprintf(out->retired, sizeof out->retired, "%s.v%d", path, out->from_version) >=
        (int)sizeof out->retired)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT, "key file path too long");
    if (link(path, out->retired) != 0) {
        if (errno != EEXIST)
            return mb_error_set(err, GRPC_STATUS_UNAVAILABLE, "cannot keep the old key as %s: %s",
                                out->retired, strerror(errno));
        bool missing;
        unsigned char id[KEY_ID_BYTES];
        unsigned char *old = secmem_alloc(KEYRING_KEY_BYTES);
        int same = old != NULL && read_key_file(out->retired, old, &missing, err) == 0;
        if (same) {
            key_id(old, id);
            same = sodium_memcmp(id, kr->slots[0].id, KEY_ID_BYTES) == 0;
        }
        secmem_free(old);
        if (!same)
            return mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                                "%s exists and is not the key being retired: move it away and "
                                "rotate again",
                                out->retired);
    }
    return fsync_dir_of(out->retired, err);
}

int keyring_rotate(const char *path, store_conn_t *conn, keyring_rotation *out, mb_error *err)
{
    keyring_t *kr = NULL;
    memset(out, 0, sizeof *out);
    int slot, ret = -1;
    if (keyring_load(path, &kr, err) != 0)
        return -1;
    if (store_conn_exec(conn, "BEGIN IMMEDIATE", err) != 0)
        goto out;
    if (keyring_attach(kr, conn, err) != 0 || store_conn_exec(conn, "COMMIT", err) != 0) {
        sqlite3_exec(store_conn_db_borrow(conn), "ROLLBACK", NULL, NULL, NULL);
        goto out;
    }
    /* The version the key file itself holds is what we rotate away from. */
    out->from_version = atomic_load(&kr->slots[0].version);
    if (stage_next(kr, conn, &slot, err) != 0)
        goto out;
    out->to_version = atomic_load(&kr->slots[slot].version);
    /* A running daemon notices the new version on its next wrap after at
     * most RECHECK_NS; wait that out so that the passes below see every key
     * it still wraps with the old version. */
    struct timespec settle = {0, ROTATE_SETTLE_MS * 1000000L};
    nanosleep(&settle, NULL);
    for (bool done = false; !done;)
        if (rotate_batch(kr, conn, out, &done, err) != 0)
            goto out;
    /* Every key is wrapped by the new version: keep the old key as
     * "<path>.v<from>" (backups taken before now need it), then install the
     * new one as the key file. rename() is atomic, so a crash leaves either
     * key file, both usable; the directory syncs make each step durable. */
    char next[PATH_MAX + 8];
    next_path(kr, next, sizeof next);
    if (retire_key_file(kr, path, out, err) != 0)
        goto out;
    if (rename(next, path) != 0) {
        mb_error_set(err, GRPC_STATUS_UNAVAILABLE, "cannot install %s as %s: %s", next, path,
                     strerror(errno));
        goto out;
    }
    ret = fsync_dir_of(path, err);
out:
    keyring_free(kr);
    return ret;
}
