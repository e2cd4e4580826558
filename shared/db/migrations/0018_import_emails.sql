-- Email to the person who started an import, once it has ended, as Canvas sends it (issue 17).

-- The address Canvas's Users API takes as communication_channel[address]. Without one, a login
-- id (pseudonym unique_id) that is an email address is used.
ALTER TABLE users ADD COLUMN email text;

-- Whether imports that end are emailed: on while the workers have OUTCOME_IMPORTS_SMTP_URL. Each
-- worker writes it at start-up (worker/mailer.py); no row: off.
CREATE TABLE import_email_switch (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    enabled    boolean NOT NULL,
    changed_at timestamptz NOT NULL DEFAULT now()
);

-- The outbox: one row per ended import whose user has an address, written by the trigger below in
-- the transaction that ends the import, so an email exists exactly when the end is committed.
-- Workers claim a row (`sending`, committed) before they talk to SMTP, and never claim it again:
-- an email is sent at most once, whatever crashes or re-runs.
CREATE TABLE outcome_import_emails (
    outcome_import_id bigint PRIMARY KEY REFERENCES outcome_imports (id) ON DELETE CASCADE,
    recipient         text NOT NULL,
    state             text NOT NULL DEFAULT 'pending'
                      CHECK (state IN ('pending', 'sending', 'sent', 'abandoned')),
    attempts          integer NOT NULL DEFAULT 0,
    next_attempt_at   timestamptz NOT NULL DEFAULT now(),
    claimed_at        timestamptz,
    claimed_by        text,
    sent_at           timestamptz,
    last_error        text,
    created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX outcome_import_emails_due_idx ON outcome_import_emails (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outcome_import_emails_sending_idx ON outcome_import_emails (claimed_at) WHERE state = 'sending';

-- Every way an import ends passes here: the worker's end (in the import's own transaction, so a
-- rolled-back end queues nothing), its failure, and a waiting import cancelled through the API.
-- The address pattern is worker/import_email.py's EMAIL_ADDRESS (the same text).
CREATE FUNCTION queue_import_email() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    address text;
BEGIN
    IF NEW.user_id IS NULL OR NOT coalesce((SELECT enabled FROM import_email_switch), false) THEN
        RETURN NULL;
    END IF;
    SELECT CASE
               WHEN u.email IS NOT NULL THEN u.email
               WHEN length(u.login_id) <= 254
                    AND u.login_id ~ '^[A-Za-z0-9.!#$%&''*+/=?^_`{|}~-]+@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$'
                   THEN u.login_id
           END
    INTO address FROM users u WHERE u.id = NEW.user_id;
    IF address IS NOT NULL THEN
        INSERT INTO outcome_import_emails (outcome_import_id, recipient) VALUES (NEW.id, address)
        ON CONFLICT (outcome_import_id) DO NOTHING;
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER outcome_imports_queue_email AFTER UPDATE OF workflow_state ON outcome_imports
    FOR EACH ROW
    WHEN (NEW.workflow_state IN ('succeeded', 'failed') AND OLD.workflow_state IS DISTINCT FROM NEW.workflow_state)
    EXECUTE FUNCTION queue_import_email();
