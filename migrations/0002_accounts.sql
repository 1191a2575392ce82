-- 0002_accounts: accounts, their contacts, and the data keys that encrypt them.

-- Data keys (DEKs): one per account, per contact and per payment method,
-- wrapped (XChaCha20-Poly1305) by a master key version. Deleting a row
-- crypto-shreds everything encrypted under it.
CREATE TABLE data_keys (
    dek_id         INTEGER PRIMARY KEY,
    master_version INTEGER NOT NULL REFERENCES keyring_master(version),
    nonce          BLOB NOT NULL,
    wrapped        BLOB NOT NULL,
    created_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- An account is a dealer. Only ids, state and billing settings are clear;
-- legal name, postal address and VAT id are ciphertext under the account's
-- DEK (personal data when the dealer is a sole trader). *_ct columns hold
-- nonce || ciphertext || tag, with associated data "table:column:row:dek".
CREATE TABLE accounts (
    account_id             TEXT PRIMARY KEY,
    state                  TEXT NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'closed')),
    currency               TEXT NOT NULL,
    plan_id                TEXT NOT NULL DEFAULT '',
    dek_id                 INTEGER REFERENCES data_keys(dek_id),
    legal_name_ct          BLOB,
    address_ct             BLOB,
    vat_id_ct              BLOB,
    default_payment_method TEXT,
    created_at             TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at             TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    closed_at              TEXT
) STRICT;

-- Contacts are natural persons: every personal field is ciphertext under the
-- contact's own DEK. The *_masked columns hold the masked forms support and
-- finance see ("j***@e***.de"), computed at write time so those purposes never
-- read ciphertext. email_bidx is a keyed BLAKE2b of the normalised e-mail
-- (blind index) so an access request by e-mail finds every contact without a
-- clear column.
CREATE TABLE contacts (
    account_id    TEXT NOT NULL REFERENCES accounts(account_id),
    contact_id    TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('billing', 'owner', 'technical')),
    dek_id        INTEGER NOT NULL REFERENCES data_keys(dek_id),
    name_ct       BLOB,
    email_ct      BLOB,
    phone_ct      BLOB,
    name_masked   TEXT NOT NULL DEFAULT '',
    email_masked  TEXT NOT NULL DEFAULT '',
    phone_masked  TEXT NOT NULL DEFAULT '',
    email_bidx    BLOB,
    created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (account_id, contact_id)
) STRICT;
CREATE INDEX contacts_email_bidx ON contacts(email_bidx) WHERE email_bidx IS NOT NULL;
