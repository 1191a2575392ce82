-- 0006_token_locator: payment-method tokens carry their row id, encrypted
-- (service/accounts/pm_token.h), and are found by primary key.
--
-- A random token under a UNIQUE index cost every new payment method one
-- random index page written to the WAL (and again by the checkpoint): half
-- of a tokenisation's I/O. payment_methods keeps the whole token (a lookup
-- matches id and token), without an index on it.
--
-- Tokens issued before this migration are random and stay valid: they move
-- to payment_token_legacy, which lookups consult first (empty on databases
-- created after it: a seek in an empty tree).
--
-- SQLite cannot drop a UNIQUE constraint, so the table is rebuilt. With
-- foreign keys enforced inside the migration's transaction, the tables that
-- reference payment_methods are rebuilt with it, children first, and the
-- renames (which rewrite REFERENCES clauses) come last.

CREATE TABLE payment_methods_new (
    method_id         INTEGER PRIMARY KEY,
    token             TEXT NOT NULL,
    account_id        TEXT NOT NULL REFERENCES accounts(account_id),
    type              TEXT NOT NULL CHECK (type IN ('card', 'sepa_debit')),
    brand             TEXT NOT NULL DEFAULT '',
    last4             TEXT NOT NULL,
    exp_month         INTEGER NOT NULL DEFAULT 0,
    exp_year          INTEGER NOT NULL DEFAULT 0,
    country_code      TEXT NOT NULL DEFAULT '',
    bic               TEXT NOT NULL DEFAULT '',
    mandate_reference TEXT NOT NULL DEFAULT '',
    mandate_signed_us INTEGER NOT NULL DEFAULT 0,
    fingerprint       BLOB NOT NULL,
    dek_id            INTEGER NOT NULL REFERENCES data_keys(dek_id),
    created_us        INTEGER NOT NULL,
    UNIQUE (account_id, fingerprint)
) STRICT;
INSERT INTO payment_methods_new
    SELECT method_id, token, account_id, type, brand, last4, exp_month, exp_year, country_code,
           bic, mandate_reference, mandate_signed_us, fingerprint, dek_id, created_us
    FROM payment_methods;

CREATE TABLE payment_vault_new (
    method_id INTEGER PRIMARY KEY REFERENCES payment_methods_new(method_id),
    number_ct BLOB NOT NULL,
    holder_ct BLOB
) STRICT;
INSERT INTO payment_vault_new SELECT method_id, number_ct, holder_ct FROM payment_vault;

CREATE TABLE payment_token_legacy (
    token     TEXT PRIMARY KEY,
    method_id INTEGER NOT NULL UNIQUE REFERENCES payment_methods_new(method_id)
) STRICT, WITHOUT ROWID;
INSERT INTO payment_token_legacy SELECT token, method_id FROM payment_methods;

DROP TABLE payment_vault;
DROP TABLE payment_methods;
ALTER TABLE payment_methods_new RENAME TO payment_methods;
ALTER TABLE payment_vault_new RENAME TO payment_vault;
