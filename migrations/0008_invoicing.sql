-- 0008_invoicing: issued invoices and credit notes, their gap-free series,
-- and the retention-class data keys that seal them.

-- A data key has a class (architecture.md, "Keys and retention"): a subject
-- (account, contact, payment method: the row that references it) or a
-- retention class, "invoice:<seller country>:<year retention ends>". Issued
-- documents are sealed under their class's key, never under the account's,
-- so erasing an account leaves the invoices the law requires us to keep,
-- and destroying a class key when its retention has ended destroys that
-- year's documents at once.
CREATE TABLE retention_keys (
    class        TEXT PRIMARY KEY,
    dek_id       INTEGER NOT NULL UNIQUE REFERENCES data_keys(dek_id),
    retain_until TEXT NOT NULL  -- 'YYYY-MM-DD', last day the documents must be kept
) STRICT;

-- The last number used per series ('INV-2026', 'CN-2026'). Raised in the
-- transaction that issues the document, so a rolled-back issue uses no
-- number: numbers run 1..N without gaps or repeats.
CREATE TABLE invoice_series (
    series TEXT PRIMARY KEY,
    last   INTEGER NOT NULL CHECK (last >= 1)
) STRICT;

-- Issued invoices and credit notes. The clear columns are what lists and
-- summaries need (no personal data); everything printed on the document
-- (parties, lines, VAT breakdown, payment instructions) is the packed
-- minbill.v1.Invoice sealed under the retention class's key, associated
-- data "invoices:document:<number>:<dek>". Credit notes reference their
-- original; an invoice is "credited" when one does (derived, never stored:
-- rows are never updated).
CREATE TABLE invoices (
    invoice_number  TEXT PRIMARY KEY,
    type            TEXT NOT NULL CHECK (type IN ('invoice', 'credit_note')),
    account_id      TEXT NOT NULL,
    period          TEXT NOT NULL,
    issue_date      TEXT NOT NULL,
    currency        TEXT NOT NULL,
    net_minor       INTEGER NOT NULL,
    tax_minor       INTEGER NOT NULL,
    gross_minor     INTEGER NOT NULL,
    original_number TEXT REFERENCES invoices(invoice_number),
    retention_class TEXT NOT NULL REFERENCES retention_keys(class),
    retain_until    TEXT NOT NULL,
    document_ct     BLOB NOT NULL,
    created_us      INTEGER NOT NULL,
    CHECK ((type = 'credit_note') = (original_number IS NOT NULL))
) STRICT;
CREATE INDEX invoices_account ON invoices(account_id, invoice_number);
CREATE INDEX invoices_period ON invoices(period, invoice_number);
-- One invoice per account and period; one credit note per invoice.
CREATE UNIQUE INDEX invoices_one_per_period ON invoices(account_id, period)
    WHERE type = 'invoice';
CREATE UNIQUE INDEX invoices_one_credit_note ON invoices(original_number)
    WHERE original_number IS NOT NULL;

-- Issued documents are immutable; only the retention purge deletes them,
-- and only once their retention has ended.
CREATE TRIGGER invoices_no_update BEFORE UPDATE ON invoices
BEGIN
    SELECT RAISE(ABORT, 'issued invoices are immutable');
END;

CREATE TRIGGER invoices_no_delete BEFORE DELETE ON invoices
WHEN old.retain_until >= strftime('%Y-%m-%d', 'now')
BEGIN
    SELECT RAISE(ABORT, 'issued invoices are kept until their retention ends');
END;
