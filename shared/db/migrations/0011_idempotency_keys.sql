-- Idempotency-Key on the upload routes (IETF httpapi draft): a key remembers, for 24 hours, the
-- import its first request created and what that request was (context, target group, import
-- type and the file's SHA-256), so a retried upload answers that import instead of making another.
CREATE TABLE idempotency_keys (
    user_id           bigint NOT NULL REFERENCES users (id),
    key               text NOT NULL,
    fingerprint       text NOT NULL,
    outcome_import_id bigint NOT NULL REFERENCES outcome_imports (id),
    created_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);
CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);
