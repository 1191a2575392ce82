-- 0010_audit_anchor: what keeps the audit chain verifiable at both ends.

-- The newest event's seq and hash, with a MAC under the audit-chain secret
-- (domain-separated from event hashes), rewritten in the transaction of
-- every append. Deleting events at the end leaves a head naming an event
-- that is gone; a head cannot be forged or moved back without the key.
-- Appends continue from the head, never from the last row left.
CREATE TABLE audit_head (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    seq  INTEGER NOT NULL,
    hash BLOB NOT NULL,
    mac  BLOB NOT NULL
) STRICT;

-- One row per retention purge (audit_purge_before), written in its
-- transaction: the last purged seq and its hash, the events purged in all,
-- when, and a MAC over all of it and the row's id. The first remaining
-- event must link to the newest anchor; with no anchor the chain must start
-- at seq 1.
CREATE TABLE audit_anchors (
    id           INTEGER PRIMARY KEY,
    through_seq  INTEGER NOT NULL,
    through_hash BLOB NOT NULL,
    purged_total INTEGER NOT NULL,
    purged_us    INTEGER NOT NULL,
    mac          BLOB NOT NULL
) STRICT;

CREATE TRIGGER audit_anchors_no_update BEFORE UPDATE ON audit_anchors
BEGIN
    SELECT RAISE(ABORT, 'audit_anchors is append-only');
END;

CREATE TRIGGER audit_anchors_no_delete BEFORE DELETE ON audit_anchors
BEGIN
    SELECT RAISE(ABORT, 'audit_anchors is append-only');
END;

CREATE TRIGGER audit_head_no_delete BEFORE DELETE ON audit_head
BEGIN
    SELECT RAISE(ABORT, 'audit_head is only ever replaced');
END;
