-- 0009_privacy: data-subject requests (GDPR Art. 12-21), row-level
-- restriction and objection, and the settings that the daemon and the
-- command-line tools must share.

-- A request never stores the requester's e-mail: only what it matched
-- (subject_request_scope). Times are microseconds since the epoch, UTC.
CREATE TABLE subject_requests (
    request_id       TEXT PRIMARY KEY,
    kind             TEXT NOT NULL CHECK (kind IN ('access', 'rectification', 'erasure',
                                                   'restriction', 'portability', 'objection')),
    state            TEXT NOT NULL DEFAULT 'open'
                     CHECK (state IN ('open', 'completed', 'rejected')),
    subject_type     TEXT NOT NULL CHECK (subject_type IN ('email', 'contact', 'account')),
    verified_by      TEXT NOT NULL,
    received_us      INTEGER NOT NULL,
    due_us           INTEGER NOT NULL,
    -- Set by the one extension Art. 12(3) allows: the due date before it.
    original_due_us  INTEGER,
    extension_reason TEXT NOT NULL DEFAULT '',
    completed_us     INTEGER,
    outcome_reason   TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX subject_requests_open_due ON subject_requests(state, due_us);

-- What a request matched when it was opened: a contact (contact_id set) or
-- an account's own fields (contact_id ''). Kept after an erasure: ids are
-- not personal data, and the request is the proof that it was answered.
CREATE TABLE subject_request_scope (
    request_id TEXT NOT NULL REFERENCES subject_requests(request_id),
    account_id TEXT NOT NULL,
    contact_id TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (request_id, account_id, contact_id)
) STRICT;
CREATE INDEX subject_request_scope_account ON subject_request_scope(account_id, contact_id);

-- Art. 19: the recipients to be told of a rectification or erasure.
CREATE TABLE subject_request_notices (
    request_id TEXT NOT NULL REFERENCES subject_requests(request_id),
    recipient  TEXT NOT NULL,
    PRIMARY KEY (request_id, recipient)
) STRICT;

-- Art. 18 restriction and Art. 21 objection, per row: the purpose-bound
-- readers see these tables through views that leave restricted rows out
-- (or objecting contacts, for marketing); see store.c.
ALTER TABLE accounts ADD COLUMN restricted_us INTEGER;
ALTER TABLE contacts ADD COLUMN restricted_us INTEGER;
ALTER TABLE contacts ADD COLUMN objected_us INTEGER;
ALTER TABLE payment_methods ADD COLUMN restricted_us INTEGER;

-- Settings that `serve` records and the tools beside it (purge) must use
-- too: a purge with a shorter acceptance window than the daemon's would
-- delete idempotency hashes the daemon still needs.
CREATE TABLE settings (
    name       TEXT PRIMARY KEY,
    value      INTEGER NOT NULL,
    updated_us INTEGER NOT NULL
) STRICT;
