-- Workers beat on the imports they hold; a reaper re-queues an import whose heartbeat stopped.
ALTER TABLE outcome_imports ADD COLUMN heartbeat_at timestamptz;
