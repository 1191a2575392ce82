-- 0003_metering: the plan catalog, usage counters and idempotency hashes.

-- A plan prices usage. Prices are exact: unit prices are integer millionths
-- of the currency unit (micros, "0.0025" = 2500), never floating point.
CREATE TABLE plans (
    plan_id        TEXT PRIMARY KEY,
    currency       TEXT NOT NULL,
    base_fee_minor INTEGER NOT NULL CHECK (base_fee_minor >= 0),
    created_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    updated_at     TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
) STRICT;

-- One price per metric of a plan, in the order the plan lists them. The set
-- of metrics named here (by any plan) is the metric catalog usage is checked
-- against; plan_prices_metric keeps that check one index probe.
-- unit_price_micros applies when the price has no tiers.
CREATE TABLE plan_prices (
    plan_id           TEXT NOT NULL REFERENCES plans(plan_id) ON DELETE CASCADE,
    metric            TEXT NOT NULL,
    position          INTEGER NOT NULL,
    description       TEXT NOT NULL,
    unit_price_micros INTEGER NOT NULL CHECK (unit_price_micros >= 0),
    included_quantity INTEGER NOT NULL CHECK (included_quantity >= 0),
    PRIMARY KEY (plan_id, metric)
) STRICT;
CREATE INDEX plan_prices_metric ON plan_prices(metric);

-- Graduated tiers of a price: quantity up to and including up_to (0 = no
-- upper bound, last tier only) costs unit_price_micros per unit.
CREATE TABLE plan_tiers (
    plan_id           TEXT NOT NULL,
    metric            TEXT NOT NULL,
    position          INTEGER NOT NULL,
    up_to             INTEGER NOT NULL CHECK (up_to >= 0),
    unit_price_micros INTEGER NOT NULL CHECK (unit_price_micros >= 0),
    PRIMARY KEY (plan_id, metric, position),
    FOREIGN KEY (plan_id, metric) REFERENCES plan_prices(plan_id, metric) ON DELETE CASCADE
) STRICT;

-- Usage is aggregated at ingest: one counter per (account, calendar month in
-- UTC, metric); raw events are never stored.
--
-- quantity is everything counted for the period. invoiced_quantity is the
-- part already billed: when invoicing issues the invoice of (account,
-- period) it records the period in invoiced_periods and sets
-- invoiced_quantity = quantity for that period's counters, in the same
-- transaction. Usage arriving later only ever raises quantity, so
-- quantity - invoiced_quantity of an invoiced period is its late usage: the
-- next invoice bills it as its own line ("usage of 2026-10 reported late")
-- and raises invoiced_quantity to quantity again.
CREATE TABLE usage_counters (
    account_id        TEXT NOT NULL REFERENCES accounts(account_id),
    period            TEXT NOT NULL,  -- 'YYYY-MM'
    metric            TEXT NOT NULL,
    quantity          INTEGER NOT NULL CHECK (quantity >= 0),
    invoiced_quantity INTEGER NOT NULL DEFAULT 0
                      CHECK (invoiced_quantity >= 0 AND invoiced_quantity <= quantity),
    PRIMARY KEY (account_id, period, metric)
) STRICT, WITHOUT ROWID;

-- Periods whose invoice has been issued (filled by invoicing).
CREATE TABLE invoiced_periods (
    account_id     TEXT NOT NULL REFERENCES accounts(account_id),
    period         TEXT NOT NULL,  -- 'YYYY-MM'
    invoice_number TEXT NOT NULL,
    issued_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')),
    PRIMARY KEY (account_id, period)
) STRICT;

-- Idempotency: for every accepted event, a 16-byte keyed BLAKE2b of
-- (account_id, idempotency_key) (key: the keyring's idempotency secret), and
-- nothing else about the event. Hashes are written in runs: a run is a
-- bounded slice of consecutively accepted hashes (at most one day's), so a
-- commit only touches the pages of the newest run instead of random pages of
-- one huge index; the daemon finds a hash across runs through an in-memory
-- filter (see service/metering/idem.h). A run is purged whole once every
-- hash in it is older than the acceptance window (plus a day of margin).
CREATE TABLE usage_idem_runs (
    run       INTEGER PRIMARY KEY,
    first_day INTEGER NOT NULL,  -- days since 1970-01-01 (UTC) of the first hash
    last_day  INTEGER NOT NULL   -- ... and of the last
) STRICT;

CREATE TABLE usage_idem (
    run  INTEGER NOT NULL,
    hash BLOB NOT NULL CHECK (length(hash) = 16),
    PRIMARY KEY (run, hash)
) STRICT, WITHOUT ROWID;
