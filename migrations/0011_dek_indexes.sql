-- 0011_dek_indexes: destroying a data key (erasure, removing a contact,
-- detaching a payment method) deletes its data_keys row, and SQLite checks
-- the foreign keys that reference it: without an index on each referencing
-- dek_id column that check scans the whole table, per key. An erasure of
-- 2,000 contacts took seconds and stalled ingest; with these it takes a
-- fraction of one.
CREATE INDEX accounts_dek ON accounts(dek_id);
CREATE INDEX contacts_dek ON contacts(dek_id);
CREATE INDEX payment_methods_dek ON payment_methods(dek_id);
