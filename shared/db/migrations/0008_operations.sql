-- Operations: what operators see and steer (README, "Operations"). Workers, who holds which
-- import and how far it got, cancel requests, retries, paused queues, an audit log of every
-- control, dashboard sign-ins, and import counts by state kept exact without counting the table.

-- The worker that holds an import (workers.id), the data records it has processed so far
-- (written with the progress), a cancel request (the worker rolls the import back and ends it
-- `failed`), and the import a retry was made from.
ALTER TABLE outcome_imports
    ADD COLUMN worker_id text,
    ADD COLUMN rows_processed bigint NOT NULL DEFAULT 0,
    ADD COLUMN cancel_requested_at timestamptz,
    ADD COLUMN retry_of_id bigint REFERENCES outcome_imports (id);
-- Recent finished (and failed) imports, fleet-wide and per root account, newest first.
CREATE INDEX outcome_imports_ended_idx ON outcome_imports (ended_at DESC, id DESC)
    WHERE ended_at IS NOT NULL;
CREATE INDEX outcome_imports_root_ended_idx ON outcome_imports (root_account_id, ended_at DESC, id DESC)
    WHERE ended_at IS NOT NULL;
CREATE INDEX outcome_imports_failed_idx ON outcome_imports (ended_at DESC, id DESC)
    WHERE workflow_state = 'failed';
CREATE INDEX outcome_imports_root_failed_idx ON outcome_imports (root_account_id, ended_at DESC, id DESC)
    WHERE workflow_state = 'failed';

-- One row per worker process; it beats every heartbeat period. A worker is alive while its
-- heartbeat is younger than the stale-after setting. Rows of workers long gone are deleted.
CREATE TABLE workers (
    id             text PRIMARY KEY,  -- host:pid:random, unique per process start
    host           text NOT NULL,
    pid            integer NOT NULL,
    max_jobs       integer NOT NULL,
    started_at     timestamptz NOT NULL DEFAULT now(),
    heartbeat_at   timestamptz NOT NULL DEFAULT now(),
    stopped_at     timestamptz,
    rows_processed bigint NOT NULL DEFAULT 0
);
CREATE INDEX workers_heartbeat_idx ON workers (heartbeat_at);

-- A paused root account's imports wait (state `created`) until it is resumed; uploads are accepted.
CREATE TABLE paused_queues (
    root_account_id bigint PRIMARY KEY REFERENCES accounts (id),
    paused_by       bigint REFERENCES users (id),
    paused_at       timestamptz NOT NULL DEFAULT now()
);

-- Who did what, when: every operations control.
CREATE TABLE audit_log (
    id                bigserial PRIMARY KEY,
    user_id           bigint REFERENCES users (id),
    action            text NOT NULL,
    root_account_id   bigint,
    outcome_import_id bigint,
    detail            text,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX audit_log_root_idx ON audit_log (root_account_id, id DESC);

-- Dashboard sign-ins: a cookie names a session (stored as its SHA-256 digest), which lives no
-- longer than the API token it was opened with.
CREATE TABLE dashboard_sessions (
    digest          bytea PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (id),
    access_token_id bigint NOT NULL REFERENCES access_tokens (id),
    csrf_token      text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL
);
CREATE INDEX dashboard_sessions_expires_idx ON dashboard_sessions (expires_at);

-- Imports by root account and state, kept by a trigger in the same transaction as the change,
-- so a metrics scrape reads a few rows instead of counting a table of millions. Every
-- transaction takes these rows in the order created < importing < succeeded | failed, so two
-- cannot deadlock on them.
CREATE TABLE outcome_import_state_counts (
    root_account_id bigint NOT NULL,
    workflow_state  text NOT NULL,
    imports         bigint NOT NULL,
    PRIMARY KEY (root_account_id, workflow_state)
);
INSERT INTO outcome_import_state_counts
SELECT root_account_id, workflow_state, count(*) FROM outcome_imports GROUP BY 1, 2;

CREATE FUNCTION count_outcome_import_states() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        IF NEW.workflow_state = OLD.workflow_state THEN
            RETURN NULL;
        END IF;
        UPDATE outcome_import_state_counts SET imports = imports - 1
        WHERE root_account_id = OLD.root_account_id AND workflow_state = OLD.workflow_state;
    END IF;
    INSERT INTO outcome_import_state_counts VALUES (NEW.root_account_id, NEW.workflow_state, 1)
    ON CONFLICT (root_account_id, workflow_state)
    DO UPDATE SET imports = outcome_import_state_counts.imports + 1;
    RETURN NULL;
END
$$;
CREATE TRIGGER outcome_imports_count_states AFTER INSERT OR UPDATE OF workflow_state ON outcome_imports
    FOR EACH ROW EXECUTE FUNCTION count_outcome_import_states();
