-- 0012_usage_counters_by_period: the counters are stored in period order.
-- Ingest adds to the current period's counters of many accounts at once;
-- ordered by account first, each account's months lay between them, so a
-- batch spanning 100 accounts rewrote about 100 pages per commit once a
-- couple of years of history were kept (an account's 24 months x 5 metrics
-- fill a page). In period order this month's counters of every account sit
-- together in a few dozen pages. Reads by account (export, support lookup,
-- erasure) use the index, which changes only when a counter is created,
-- never when one is added to.
CREATE TABLE usage_counters_new (
    account_id        TEXT NOT NULL REFERENCES accounts(account_id),
    period            TEXT NOT NULL,  -- 'YYYY-MM'
    metric            TEXT NOT NULL,
    quantity          INTEGER NOT NULL CHECK (quantity >= 0),
    invoiced_quantity INTEGER NOT NULL DEFAULT 0
                      CHECK (invoiced_quantity >= 0 AND invoiced_quantity <= quantity),
    PRIMARY KEY (period, account_id, metric)
) STRICT, WITHOUT ROWID;
INSERT INTO usage_counters_new(account_id, period, metric, quantity, invoiced_quantity)
    SELECT account_id, period, metric, quantity, invoiced_quantity FROM usage_counters;
DROP TABLE usage_counters;
ALTER TABLE usage_counters_new RENAME TO usage_counters;
CREATE INDEX usage_counters_account ON usage_counters(account_id, period, metric);
