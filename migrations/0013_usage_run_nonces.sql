-- 0013_usage_run_nonces: a random number per idempotency run, set when its
-- row is created. A checkpoint of the usage filter lists the (run, nonce)
-- pairs it covers, so a start can tell the run it covered from a later run
-- of the same number: one re-created after a rollback, a number used again
-- once every older run expired, a restored backup that went on differently
-- (see service/metering/idem_ckpt.h).
ALTER TABLE usage_idem_runs ADD COLUMN nonce INTEGER NOT NULL DEFAULT 0;
UPDATE usage_idem_runs SET nonce = random();
