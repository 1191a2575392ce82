/*
 * auth.h - who is calling: roles, API keys and their verification.
 *
 * An API key looks like `mbk_<key_id>_<secret>`: key_id (12 base62
 * characters) is public and appears in logs and audit entries; the whole key
 * is only ever stored as a keyed BLAKE2b-256 hash (key: the keyring's
 * apikey-hash secret), so a stolen database does not yield usable keys.
 *
 * Verified keys are cached in memory for AUTH_CACHE_TTL_SECONDS so the hot
 * path costs one hash and one table probe; a key created by
 * `minbilld keys create-api-key` while the daemon runs is found on its first
 * use through the database, and one revoked by `minbilld keys revoke-api-key`
 * stops working within AUTH_CACHE_TTL_SECONDS.
 */
#ifndef MB_RPC_AUTH_H
#define MB_RPC_AUTH_H

#include <stddef.h>

#include <grpc/grpc_security.h>

#include "base/error.h"
#include "crypto/keyring.h"
#include "store/store.h"

/* Roles are bits so that a method can list the roles it admits as a mask. */
enum {
    ROLE_PLATFORM = 1u << 0,
    ROLE_FINANCE = 1u << 1,
    ROLE_SUPPORT = 1u << 2,
    ROLE_PAYMENTS = 1u << 3,
    ROLE_PRIVACY = 1u << 4,
    ROLE_ADMIN = 1u << 5,
    /* Not a role: on a method, "callable without an API key". */
    ROLE_ANONYMOUS = 1u << 15,
};

#define AUTH_KEY_ID_LEN 12
#define AUTH_SECRET_LEN 32
/* "mbk_" + key_id + "_" + secret + NUL */
#define AUTH_KEY_MAX (4 + AUTH_KEY_ID_LEN + 1 + AUTH_SECRET_LEN + 1)
#define AUTH_CACHE_TTL_SECONDS 10

typedef struct auth_identity {
    unsigned role;                     /* one ROLE_* bit; 0 for anonymous */
    char key_id[AUTH_KEY_ID_LEN + 1]; /* "" for anonymous */
} auth_identity;

/* "platform", ...; "anonymous" for 0. */
const char *auth_role_name(unsigned role);

/* Parses a role name; -1 with INVALID_ARGUMENT listing the valid names. */
int auth_role_parse(const char *name, unsigned *role, mb_error *err);

/* Creates an API key inside the caller's write transaction. out_key receives
 * the full key (shown once, never stored), out_key_id its public id. */
int auth_key_create(store_conn_t *conn, const keyring_t *kr, unsigned role, const char *name,
                    char out_key[AUTH_KEY_MAX], char out_key_id[AUTH_KEY_ID_LEN + 1],
                    mb_error *err);

/* Longest certificate identity accepted. */
#define AUTH_IDENTITY_MAX 255

/* Allows callers presenting a client certificate (verified by the TLS layer
 * against --tls-client-ca) of identity `identity` - typed: dns:NAME,
 * uri:URI, email:ADDRESS, ip:ADDRESS (subject alternative names) or cn:NAME
 * (the common name of a certificate without those) - with role; inside the
 * caller's write transaction. It is a credential like an API key (listed, revoked,
 * audited the same way) of kind "x509"; out_key_id receives its id. Only a
 * keyed hash of the identity is stored. */
int auth_cert_allow(store_conn_t *conn, const keyring_t *kr, unsigned role, const char *name,
                    const char *identity, char out_key_id[AUTH_KEY_ID_LEN + 1], mb_error *err);

/* Revokes the key key_id inside the caller's write transaction: NOT_FOUND
 * if there is none, FAILED_PRECONDITION if it is revoked already. */
int auth_key_revoke(store_conn_t *conn, const char *key_id, mb_error *err);

typedef struct auth_key_info {
    const char *key_id, *name, *role, *created_at;
    const char *revoked_at; /* "" while the key is valid */
    const char *kind;       /* "key" or "x509" (a client certificate) */
} auth_key_info;

/* Calls fn for every API key, oldest first (the secret hashes stay inside). */
int auth_key_list(store_conn_t *conn, void (*fn)(void *arg, const auth_key_info *k), void *arg,
                  mb_error *err);

typedef struct auth auth_t;

int auth_new(store_t *store, const keyring_t *kr, auth_t **out, mb_error *err);
void auth_free(auth_t *auth);

/* Verifies a presented key (not NUL-terminated). UNAUTHENTICATED if it is
 * malformed, unknown or revoked; the message never repeats the key. An
 * unknown key is remembered as such for AUTH_CACHE_TTL_SECONDS (no second
 * database lookup). peer (the caller's address; NULL: no limit) may try at
 * most 10 keys a second that are not cached as valid (burst 50); beyond,
 * UNAUTHENTICATED with the retry delay, without a lookup, and a log line
 * at most once a second counting the refusals. */
int auth_verify(auth_t *auth, const char *key, size_t len, const char *peer, auth_identity *out,
                mb_error *err);

/* Database lookups of API keys and certificate identities so far. */
uint64_t auth_lookups(auth_t *auth);

/* Verifies a caller by its TLS-verified client certificate: each subject
 * alternative name, typed (dns:, uri:, email:, ip:), and its common name
 * (cn:) if it has none, is looked up; exactly one allowed credential must
 * match. 1 if the peer presented no verified certificate; UNAUTHENTICATED if
 * nothing or several match. The message never repeats an identity. */
int auth_verify_peer(auth_t *auth, const grpc_auth_context *ctx, auth_identity *out,
                     mb_error *err);

#endif
