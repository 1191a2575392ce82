-- 0001_foundation: key material bookkeeping and API keys.

-- Which master keys this database has seen. The key itself is never stored:
-- key_id is a keyed BLAKE2b of a constant under the key, so starting the
-- daemon with the wrong key file fails loudly instead of writing garbage.
CREATE TABLE keyring_master (
    version    INTEGER PRIMARY KEY,
    key_id     BLOB NOT NULL UNIQUE,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- Service-wide secrets (e.g. the key that hashes API keys), each wrapped
-- (XChaCha20-Poly1305) by one master key version.
CREATE TABLE keyring_secrets (
    name           TEXT PRIMARY KEY,
    master_version INTEGER NOT NULL REFERENCES keyring_master(version),
    nonce          BLOB NOT NULL,
    wrapped        BLOB NOT NULL,
    created_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- API keys: only a keyed hash of the secret is kept; key_id is the public,
-- loggable half of the key.
CREATE TABLE api_keys (
    key_id      TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL
                CHECK (role IN ('platform', 'finance', 'support', 'payments', 'privacy', 'admin')),
    secret_hash BLOB NOT NULL UNIQUE,
    created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    revoked_at  TEXT
) STRICT;
