-- Webhooks (issue 17, README "Webhooks"): endpoints registered per root account, an outbox of
-- deliveries filled in the same transaction as an import's end, and a log of every attempt.

-- An endpoint. The secret signs deliveries, so it is kept as given (the API shows it once).
-- An inactive endpoint (turned off by an admin, or after a 410 Gone) gets no new deliveries,
-- and its pending ones wait until it is active again.
CREATE TABLE outcome_import_webhooks (
    id              bigserial PRIMARY KEY,
    root_account_id bigint NOT NULL REFERENCES accounts (id),
    url             text NOT NULL,
    secret          text NOT NULL,
    events          text[] NOT NULL,
    active          boolean NOT NULL DEFAULT true,
    disabled_reason text,
    created_by      bigint REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outcome_import_webhooks_root_idx ON outcome_import_webhooks (root_account_id, id);

-- One event for one endpoint. message_id is the `webhook-id` header: the same on every attempt,
-- so that receivers can deduplicate. payload is the body, frozen before the first attempt so that
-- every attempt sends the same bytes. A pending delivery is due at next_attempt_at; a worker that
-- claims it moves next_attempt_at past its attempt (a lease), so a worker that dies mid-attempt
-- leaves it due again later, with the same message_id.
CREATE TABLE outcome_import_webhook_deliveries (
    id                bigserial PRIMARY KEY,
    webhook_id        bigint NOT NULL REFERENCES outcome_import_webhooks (id) ON DELETE CASCADE,
    outcome_import_id bigint NOT NULL REFERENCES outcome_imports (id) ON DELETE CASCADE,
    message_id        text NOT NULL UNIQUE,
    event_type        text NOT NULL,
    event_at          timestamptz NOT NULL,
    payload           bytea,
    state             text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz,
    last_attempt_at   timestamptz,
    last_status       integer,
    last_error        text,
    last_latency_ms   integer,
    delivered_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    UNIQUE (webhook_id, outcome_import_id, event_type)
);
CREATE INDEX outcome_import_webhook_deliveries_due_idx ON outcome_import_webhook_deliveries (next_attempt_at, id)
    WHERE state = 'pending';
CREATE INDEX outcome_import_webhook_deliveries_webhook_idx ON outcome_import_webhook_deliveries (webhook_id, id);
CREATE INDEX outcome_import_webhook_deliveries_import_idx ON outcome_import_webhook_deliveries (outcome_import_id);

-- Every attempt: written when it starts (ended_at NULL while it runs, or forever if its worker died).
CREATE TABLE outcome_import_webhook_attempts (
    id            bigserial PRIMARY KEY,
    delivery_id   bigint NOT NULL REFERENCES outcome_import_webhook_deliveries (id) ON DELETE CASCADE,
    attempt       integer NOT NULL,
    worker_id     text,
    started_at    timestamptz NOT NULL DEFAULT now(),
    ended_at      timestamptz,
    status        integer,
    latency_ms    integer,
    error         text,
    response_body text,
    UNIQUE (delivery_id, attempt)
);

-- The outbox: every way an import ends (the worker's commit, a failure, a waiting import cancelled
-- through the API, the reaper giving up) sets workflow_state in some transaction; this trigger adds
-- the deliveries in that same transaction, so they exist exactly when the end is committed.
CREATE FUNCTION enqueue_outcome_import_webhooks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outcome_import_webhook_deliveries
        (webhook_id, outcome_import_id, message_id, event_type, event_at, next_attempt_at)
    SELECT w.id, NEW.id, 'msg_' || replace(gen_random_uuid()::text, '-', ''),
           'outcome_import.' || NEW.workflow_state, coalesce(NEW.ended_at, clock_timestamp()), now()
    FROM outcome_import_webhooks w
    WHERE w.root_account_id = NEW.root_account_id AND w.active
      AND 'outcome_import.' || NEW.workflow_state = ANY (w.events)
    ON CONFLICT (webhook_id, outcome_import_id, event_type) DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER outcome_imports_webhooks AFTER UPDATE OF workflow_state ON outcome_imports
    FOR EACH ROW
    WHEN (NEW.workflow_state IN ('succeeded', 'failed') AND OLD.workflow_state IS DISTINCT FROM NEW.workflow_state)
    EXECUTE FUNCTION enqueue_outcome_import_webhooks();
