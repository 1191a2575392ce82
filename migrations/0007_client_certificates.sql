-- 0007_client_certificates: callers may authenticate with a client
-- certificate (mTLS) instead of an API key. Such a credential is a row of
-- api_keys like any other (role, name, revocation, audit), of kind 'x509',
-- whose secret_hash is the keyed hash of "x509:" and the certificate's
-- identity (its subject alternative name, else its common name). The
-- identity itself is not stored: it may name a person.
ALTER TABLE api_keys ADD COLUMN kind TEXT NOT NULL DEFAULT 'key' CHECK (kind IN ('key', 'x509'));
