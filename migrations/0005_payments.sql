-- 0005_payments: tokenised payment methods and the vault.

-- What everything else may know of a payment method: a random token and
-- clear metadata (brand, last four, expiry, country). fingerprint is a keyed
-- BLAKE2b of the normalised PAN/IBAN (PCI DSS 3.5.1.1): equal for the same
-- number, useless without the key.
CREATE TABLE payment_methods (
    method_id         INTEGER PRIMARY KEY,
    token             TEXT NOT NULL UNIQUE,
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

-- The vault: the only place a PAN or IBAN (and its holder's name) exists,
-- sealed under the payment method's own data key. Only the payment purpose
-- may read it; detaching deletes the row and destroys the key. It is keyed by
-- the method's integer id, not its random token, so that inserts append
-- instead of touching a random index page each.
CREATE TABLE payment_vault (
    method_id INTEGER PRIMARY KEY REFERENCES payment_methods(method_id),
    number_ct BLOB NOT NULL,
    holder_ct BLOB
) STRICT;
