-- 0004_audit: the tamper-evident audit trail.

-- Append-only, hash-chained: hash = keyed BLAKE2b-256 (keyring secret
-- "audit-chain") over the event's fields and prev_hash. Entries name ids,
-- roles and purposes, never personal data.
CREATE TABLE audit_events (
    seq          INTEGER PRIMARY KEY,
    occurred_us  INTEGER NOT NULL,
    actor_key_id TEXT NOT NULL,
    actor_role   TEXT NOT NULL,
    action       TEXT NOT NULL,
    account_id   TEXT NOT NULL DEFAULT '',
    target_id    TEXT NOT NULL DEFAULT '',
    purpose      TEXT NOT NULL DEFAULT '',
    request_id   TEXT NOT NULL DEFAULT '',
    prev_hash    BLOB NOT NULL,
    hash         BLOB NOT NULL
) STRICT;
CREATE INDEX audit_events_account ON audit_events(account_id, seq);

-- The retention purge is the only code allowed to delete audit events: it
-- inserts a row here inside its own transaction, deletes, and removes the
-- row before committing. Updates are never allowed.
CREATE TABLE audit_purge_gate (opened_by TEXT NOT NULL) STRICT;

CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only');
END;

CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events
WHEN NOT EXISTS (SELECT 1 FROM audit_purge_gate)
BEGIN
    SELECT RAISE(ABORT, 'audit_events is append-only outside the retention purge');
END;
