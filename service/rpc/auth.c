/*
 * auth.c - see auth.h.
 *
 * The cache is a fixed table of CACHE_WAYS-way sets keyed by the key hash
 * (two keys a client uses in turn must not evict each other on every call).
 * It holds only keys that verified, so a flood of bad keys cannot evict good
 * ones. Unknown keys have their own small negative cache, and every
 * presented key that misses the positive cache needs a token in its peer
 * address's bucket (AUTH_PEER_RATE a second): a client trying keys gets
 * UNAUTHENTICATED without a database lookup once it is over that rate. A key
 * that verifies gives its token back: only failed tries count.
 */
#include "rpc/auth.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <grpc/grpc_security.h>
#include <sodium.h>

#include "base/bucket.h"
#include "base/clock.h"
#include "base/log.h"
#include "rpc/limits.h"
#include "store/writer.h"

#define CACHE_SLOTS 1024
#define CACHE_WAYS 4
#define NEG_SLOTS 1024
/* Keys a peer address may try (those not in the positive cache) a second,
 * and in a burst. A key created meanwhile is one try, then cached. */
#define AUTH_PEER_RATE 10.0
#define AUTH_PEER_BURST 50.0
#define HASH_BYTES 32

static const char BASE62[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

static const struct {
    unsigned role;
    const char *name;
} roles[] = {
    {ROLE_PLATFORM, "platform"}, {ROLE_FINANCE, "finance"}, {ROLE_SUPPORT, "support"},
    {ROLE_PAYMENTS, "payments"}, {ROLE_PRIVACY, "privacy"}, {ROLE_ADMIN, "admin"},
};

static const char SQL_INSERT[] =
    "INSERT INTO api_keys(key_id, name, role, secret_hash, kind) VALUES (?1, ?2, ?3, ?4, ?5)";
static const char SQL_LOOKUP[] =
    "SELECT key_id, role FROM api_keys WHERE secret_hash = ?1 AND revoked_at IS NULL";
/* The hash goes too: a revoked key is needed for nothing, and a revoked
 * certificate identity may be allowed again (secret_hash is UNIQUE). */
static const char SQL_REVOKE[] =
    "UPDATE api_keys SET revoked_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now'),"
    " secret_hash = randomblob(32) WHERE key_id = ?1 AND revoked_at IS NULL";
static const char SQL_KEY_EXISTS[] = "SELECT 1 FROM api_keys WHERE key_id = ?1";
static const char SQL_LIST[] =
    "SELECT key_id, name, role, created_at, coalesce(revoked_at, ''), kind FROM api_keys"
    " ORDER BY created_at, key_id";

typedef struct cache_slot {
    unsigned char hash[HASH_BYTES];
    auth_identity id;
    int64_t expires_ns; /* 0 = empty */
} cache_slot;

typedef struct neg_slot {
    unsigned char hash[HASH_BYTES];
    int64_t expires_ns; /* 0 = empty */
} neg_slot;

struct auth {
    store_t *store;
    const keyring_t *kr;
    pthread_rwlock_t lock;
    cache_slot slots[CACHE_SLOTS];
    neg_slot neg[NEG_SLOTS];
    rpc_buckets_t *peers;
    atomic_uint_fast64_t lookups;
    pthread_mutex_t log_lock; /* the two fields below */
    mb_bucket log_bucket;
    long refused_unlogged;
};

const char *auth_role_name(unsigned role)
{
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++)
        if (roles[i].role == role)
            return roles[i].name;
    return "anonymous";
}

int auth_role_parse(const char *name, unsigned *role, mb_error *err)
{
    for (size_t i = 0; i < sizeof roles / sizeof roles[0]; i++) {
        if (strcmp(roles[i].name, name) == 0) {
            *role = roles[i].role;
            return 0;
        }
    }
    return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                        "role: must be one of platform, finance, support, payments, privacy, "
                        "admin");
}

static void random_base62(char *out, size_t n)
{
    /* 62 does not divide 256: uniform draws avoid a biased alphabet. */
    for (size_t i = 0; i < n; i++)
        out[i] = BASE62[randombytes_uniform(62)];
    out[n] = '\0';
}

static void key_hash(const keyring_t *kr, const char *key, size_t len,
                     unsigned char out[HASH_BYTES])
{
    crypto_generichash(out, HASH_BYTES, (const unsigned char *)key, len,
                       keyring_secret_borrow(kr, KEYRING_SECRET_APIKEY_HASH), KEYRING_KEY_BYTES);
}

static bool name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (name[i] < 0x20 || name[i] > 0x7e)
            return false;
    return true;
}

/* Inserts a credential whose keyed hash is hash; out_key_id receives its
 * new public id. */
static int insert_credential(store_conn_t *conn, unsigned role, const char *name, const char *kind,
                             const unsigned char hash[HASH_BYTES], const char *key_id,
                             mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_INSERT, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 3, auth_role_name(role), -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 4, hash, HASH_BYTES, SQLITE_STATIC);
    sqlite3_bind_text(st, 5, kind, -1, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc == SQLITE_DONE)
        return 0;
    if ((sqlite3_extended_errcode(store_conn_db_borrow(conn)) & 0xff) == SQLITE_CONSTRAINT)
        return mb_error_set(err, GRPC_STATUS_ALREADY_EXISTS,
                            "identity: a credential for it exists already");
    return store_error(conn, err, "storing the credential");
}

int auth_key_create(store_conn_t *conn, const keyring_t *kr, unsigned role, const char *name,
                    char out_key[AUTH_KEY_MAX], char out_key_id[AUTH_KEY_ID_LEN + 1],
                    mb_error *err)
{
    if (!name_ok(name))
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "name: must be 1-64 printable ASCII characters");
    char secret[AUTH_SECRET_LEN + 1];
    unsigned char hash[HASH_BYTES];
    random_base62(out_key_id, AUTH_KEY_ID_LEN);
    random_base62(secret, AUTH_SECRET_LEN);
    snprintf(out_key, AUTH_KEY_MAX, "mbk_%s_%s", out_key_id, secret);
    sodium_memzero(secret, sizeof secret);
    key_hash(kr, out_key, strlen(out_key), hash);
    if (insert_credential(conn, role, name, "key", hash, out_key_id, err) != 0) {
        sodium_memzero(out_key, AUTH_KEY_MAX);
        return -1;
    }
    return 0;
}

/*
 * Certificate identities are typed: an operator allows "dns:billing.internal",
 * and only a DNS subject alternative name of that value matches - not a URI,
 * an e-mail or a common name that happens to read the same (a CA checks the
 * names it certifies by type). The common name counts only as "cn:" and only
 * in a certificate without subject alternative names, as in TLS itself.
 */
static const struct {
    const char *prefix;
    const char *property; /* the auth-context property of that type */
    bool fold_case;       /* DNS names are case-insensitive */
} id_types[] = {
    {"dns:", GRPC_PEER_DNS_PROPERTY_NAME, true},
    {"uri:", GRPC_PEER_URI_PROPERTY_NAME, false},
    {"email:", GRPC_PEER_EMAIL_PROPERTY_NAME, false},
    {"ip:", GRPC_PEER_IP_PROPERTY_NAME, false},
    {"cn:", GRPC_X509_CN_PROPERTY_NAME, false},
};
#define N_ID_TYPES (sizeof id_types / sizeof id_types[0])
#define CN_TYPE (N_ID_TYPES - 1)

/* The keyed hash of identity value (len bytes) of type t, as stored; the
 * "x509:" prefix keeps it apart from API keys (which start "mbk_"). -1 if
 * the value is empty, too long or not printable ASCII. */
static int identity_hash(const keyring_t *kr, size_t t, const char *value, size_t len,
                         unsigned char out[HASH_BYTES])
{
    char buf[16 + AUTH_IDENTITY_MAX];
    size_t plen = strlen(id_types[t].prefix);
    if (len == 0 || len > AUTH_IDENTITY_MAX)
        return -1;
    memcpy(buf, "x509:", 5);
    memcpy(buf + 5, id_types[t].prefix, plen);
    for (size_t i = 0; i < len; i++) {
        char ch = value[i];
        if (ch < 0x20 || ch > 0x7e)
            return -1;
        buf[5 + plen + i] = id_types[t].fold_case && ch >= 'A' && ch <= 'Z' ? ch + 32 : ch;
    }
    key_hash(kr, buf, 5 + plen + len, out);
    sodium_memzero(buf, sizeof buf);
    return 0;
}

int auth_cert_allow(store_conn_t *conn, const keyring_t *kr, unsigned role, const char *name,
                    const char *identity, char out_key_id[AUTH_KEY_ID_LEN + 1], mb_error *err)
{
    if (!name_ok(name))
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "name: must be 1-64 printable ASCII characters");
    unsigned char hash[HASH_BYTES];
    size_t t = 0;
    while (t < N_ID_TYPES &&
           strncmp(identity, id_types[t].prefix, strlen(id_types[t].prefix)) != 0)
        t++;
    const char *value = t < N_ID_TYPES ? identity + strlen(id_types[t].prefix) : "";
    if (t == N_ID_TYPES || identity_hash(kr, t, value, strlen(value), hash) != 0)
        return mb_error_set(err, GRPC_STATUS_INVALID_ARGUMENT,
                            "identity: must be dns:NAME, uri:URI, email:ADDRESS or ip:ADDRESS "
                            "(a subject alternative name of the certificate), or cn:NAME (its "
                            "common name, for certificates without one), 1-%d printable ASCII "
                            "characters after the type",
                            AUTH_IDENTITY_MAX);
    random_base62(out_key_id, AUTH_KEY_ID_LEN);
    return insert_credential(conn, role, name, "x509", hash, out_key_id, err);
}

int auth_key_revoke(store_conn_t *conn, const char *key_id, mb_error *err)
{
    if (store_exec_text(conn, SQL_REVOKE, key_id, NULL, "revoking the API key", err) != 0)
        return -1;
    if (sqlite3_changes(store_conn_db_borrow(conn)) == 1)
        return 0;
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_KEY_EXISTS, err);
    if (st == NULL)
        return -1;
    sqlite3_bind_text(st, 1, key_id, -1, SQLITE_STATIC);
    int ret = store_step_one(conn, st, "key-id: no such API key", "reading the API key", err);
    sqlite3_reset(st);
    if (ret == 0)
        ret = mb_error_set(err, GRPC_STATUS_FAILED_PRECONDITION,
                           "key-id: the API key is revoked already");
    return ret;
}

int auth_key_list(store_conn_t *conn, void (*fn)(void *arg, const auth_key_info *k), void *arg,
                  mb_error *err)
{
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_LIST, err);
    if (st == NULL)
        return -1;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        auth_key_info k = {.key_id = (const char *)sqlite3_column_text(st, 0),
                           .name = (const char *)sqlite3_column_text(st, 1),
                           .role = (const char *)sqlite3_column_text(st, 2),
                           .created_at = (const char *)sqlite3_column_text(st, 3),
                           .revoked_at = (const char *)sqlite3_column_text(st, 4),
                           .kind = (const char *)sqlite3_column_text(st, 5)};
        fn(arg, &k);
    }
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? 0 : store_error(conn, err, "listing API keys");
}

int auth_new(store_t *store, const keyring_t *kr, auth_t **out, mb_error *err)
{
    auth_t *a = calloc(1, sizeof *a);
    if (a == NULL)
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "auth: out of memory");
    a->store = store;
    a->kr = kr;
    a->peers = rpc_buckets_new();
    if (a->peers == NULL) {
        free(a);
        return mb_error_set(err, GRPC_STATUS_RESOURCE_EXHAUSTED, "auth: out of memory");
    }
    pthread_rwlock_init(&a->lock, NULL);
    pthread_mutex_init(&a->log_lock, NULL);
    *out = a;
    return 0;
}

void auth_free(auth_t *a)
{
    if (a == NULL)
        return;
    pthread_rwlock_destroy(&a->lock);
    pthread_mutex_destroy(&a->log_lock);
    rpc_buckets_free(a->peers);
    free(a);
}

/* The first slot of hash's set. */
static size_t set_of(const unsigned char hash[HASH_BYTES])
{
    size_t h;
    memcpy(&h, hash, sizeof h);
    return h % (CACHE_SLOTS / CACHE_WAYS) * CACHE_WAYS;
}

static bool cache_get(auth_t *a, const unsigned char hash[HASH_BYTES], auth_identity *out)
{
    bool hit = false;
    int64_t now = mb_mono_ns();
    pthread_rwlock_rdlock(&a->lock);
    const cache_slot *set = &a->slots[set_of(hash)];
    for (size_t i = 0; i < CACHE_WAYS && !hit; i++) {
        if (set[i].expires_ns > now && sodium_memcmp(set[i].hash, hash, HASH_BYTES) == 0) {
            *out = set[i].id;
            hit = true;
        }
    }
    pthread_rwlock_unlock(&a->lock);
    return hit;
}

/* Replaces hash's own entry if the set has one, else the one that expires
 * first (an expired one, if any). */
static void cache_put(auth_t *a, const unsigned char hash[HASH_BYTES], const auth_identity *id)
{
    pthread_rwlock_wrlock(&a->lock);
    cache_slot *set = &a->slots[set_of(hash)], *s = &set[0];
    for (size_t i = 0; i < CACHE_WAYS; i++) {
        if (sodium_memcmp(set[i].hash, hash, HASH_BYTES) == 0) {
            s = &set[i];
            break;
        }
        if (set[i].expires_ns < s->expires_ns)
            s = &set[i];
    }
    memcpy(s->hash, hash, HASH_BYTES);
    s->id = *id;
    s->expires_ns = mb_mono_ns() + (int64_t)AUTH_CACHE_TTL_SECONDS * 1000000000;
    pthread_rwlock_unlock(&a->lock);
}

static neg_slot *neg_slot_of(auth_t *a, const unsigned char hash[HASH_BYTES])
{
    size_t h;
    memcpy(&h, hash + sizeof h, sizeof h); /* other bytes than set_of() */
    return &a->neg[h % NEG_SLOTS];
}

static bool neg_get(auth_t *a, const unsigned char hash[HASH_BYTES])
{
    pthread_rwlock_rdlock(&a->lock);
    const neg_slot *s = neg_slot_of(a, hash);
    bool hit = s->expires_ns > mb_mono_ns() && sodium_memcmp(s->hash, hash, HASH_BYTES) == 0;
    pthread_rwlock_unlock(&a->lock);
    return hit;
}

static void neg_put(auth_t *a, const unsigned char hash[HASH_BYTES])
{
    pthread_rwlock_wrlock(&a->lock);
    neg_slot *s = neg_slot_of(a, hash);
    memcpy(s->hash, hash, HASH_BYTES);
    s->expires_ns = mb_mono_ns() + (int64_t)AUTH_CACHE_TTL_SECONDS * 1000000000;
    pthread_rwlock_unlock(&a->lock);
}

/* Takes a try from peer's bucket; UNAUTHENTICATED (and a log line at most
 * once a second, with the count refused since the last) when none is
 * left. */
static int peer_try(auth_t *a, const char *peer, mb_error *err)
{
    int64_t wait_ns;
    if (peer == NULL || rpc_buckets_take(a->peers, peer, AUTH_PEER_RATE, AUTH_PEER_BURST, &wait_ns))
        return 0;
    pthread_mutex_lock(&a->log_lock);
    long refused = ++a->refused_unlogged;
    bool write_line = mb_bucket_take(&a->log_bucket, 1.0, 1.0, mb_mono_ns(), NULL);
    if (write_line)
        a->refused_unlogged = 0;
    pthread_mutex_unlock(&a->log_lock);
    if (write_line)
        mb_log(MB_LOG_WARN,
               "event=auth_failures_limited peer=%s limit_per_s=%.0f refused_since_last_line=%ld",
               peer, AUTH_PEER_RATE, refused);
    return mb_error_set(err, GRPC_STATUS_UNAUTHENTICATED,
                        "too many failed authentications from this address; retry in %lld ms",
                        (long long)(wait_ns / 1000000 + 1));
}

uint64_t auth_lookups(auth_t *a)
{
    return atomic_load(&a->lookups);
}

static int lookup(auth_t *a, const unsigned char hash[HASH_BYTES], auth_identity *out,
                  mb_error *err)
{
    atomic_fetch_add(&a->lookups, 1);
    store_conn_t *conn = store_reader_acquire(a->store);
    int ret = -1;
    sqlite3_stmt *st = store_conn_prepare(conn, SQL_LOOKUP, err);
    if (st == NULL)
        goto out;
    sqlite3_bind_blob(st, 1, hash, HASH_BYTES, SQLITE_STATIC);
    int rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const char *key_id = (const char *)sqlite3_column_text(st, 0);
        const char *role = (const char *)sqlite3_column_text(st, 1);
        snprintf(out->key_id, sizeof out->key_id, "%s", key_id ? key_id : "");
        ret = auth_role_parse(role ? role : "", &out->role, err);
    } else if (rc == SQLITE_DONE) {
        mb_error_set(err, GRPC_STATUS_UNAUTHENTICATED, "unknown or revoked API key");
    } else {
        store_error(conn, err, "looking up the API key");
    }
    sqlite3_reset(st);
out:
    store_reader_release(a->store, conn);
    return ret;
}

int auth_verify(auth_t *a, const char *key, size_t len, const char *peer, auth_identity *out,
                mb_error *err)
{
    if (len != AUTH_KEY_MAX - 1 || memcmp(key, "mbk_", 4) != 0) {
        if (peer_try(a, peer, err) != 0)
            return -1;
        return mb_error_set(err, GRPC_STATUS_UNAUTHENTICATED,
                            "malformed API key (expected mbk_<id>_<secret>)");
    }
    unsigned char hash[HASH_BYTES];
    key_hash(a->kr, key, len, hash);
    if (cache_get(a, hash, out))
        return 0;
    if (peer_try(a, peer, err) != 0)
        return -1;
    if (neg_get(a, hash))
        return mb_error_set(err, GRPC_STATUS_UNAUTHENTICATED, "unknown or revoked API key");
    if (lookup(a, hash, out, err) != 0) {
        if (err->code == GRPC_STATUS_UNAUTHENTICATED)
            neg_put(a, hash);
        return -1;
    }
    rpc_buckets_give(a->peers, peer, AUTH_PEER_BURST);
    cache_put(a, hash, out);
    return 0;
}

/* Looks one typed identity up; 1 if it is not allowed. A certificate
 * carries every name it has on every call, most of them never allowed, so
 * "not allowed" is cached too (role 0): without that, each call would query
 * the database once per unallowed name. allow-client, like revoke-api-key,
 * thus takes effect within AUTH_CACHE_TTL_SECONDS for a name just seen. */
static int verify_identity(auth_t *a, size_t t, const char *value, size_t len,
                           auth_identity *out, mb_error *err)
{
    unsigned char hash[HASH_BYTES];
    if (identity_hash(a->kr, t, value, len, hash) != 0)
        return 1;
    if (cache_get(a, hash, out))
        return out->role != 0 ? 0 : 1;
    mb_error miss;
    if (lookup(a, hash, out, &miss) == 0) {
        cache_put(a, hash, out);
        return 0;
    }
    if (miss.code != GRPC_STATUS_UNAUTHENTICATED) {
        *err = miss; /* the lookup failed, not the identity */
        return -1;
    }
    cache_put(a, hash, &(auth_identity){.role = 0});
    return 1;
}

int auth_verify_peer(auth_t *a, const grpc_auth_context *ctx, auth_identity *out, mb_error *err)
{
    if (!grpc_auth_context_peer_is_authenticated(ctx))
        return 1;
    const char *by = grpc_auth_context_peer_identity_property_name(ctx);
    bool has_san = by == NULL || strcmp(by, GRPC_X509_CN_PROPERTY_NAME) != 0;
    size_t seen = 0, matches = 0;
    for (size_t t = 0; t < N_ID_TYPES; t++) {
        if (t == CN_TYPE && has_san)
            continue;
        grpc_auth_property_iterator it =
            grpc_auth_context_find_properties_by_name(ctx, id_types[t].property);
        const grpc_auth_property *p;
        while ((p = grpc_auth_property_iterator_next(&it)) != NULL) {
            seen++;
            auth_identity who;
            int rc = verify_identity(a, t, p->value, p->value_length, &who, err);
            if (rc < 0)
                return -1;
            if (rc == 0 && (matches == 0 || strcmp(who.key_id, out->key_id) != 0)) {
                matches++;
                *out = who;
            }
        }
    }
    if (seen == 0)
        return 1;
    /* Identities are not repeated: they may name a person. */
    if (matches > 1)
        return mb_error_set(err, GRPC_STATUS_UNAUTHENTICATED,
                            "client certificate matches %zu allowed identities: allow only one "
                            "of its names",
                            matches);
    if (matches == 0)
        return mb_error_set(err, GRPC_STATUS_UNAUTHENTICATED,
                            "client certificate not allowed (or revoked): see minbilld keys "
                            "allow-client");
    return 0;
}
