-- Dry runs (issue 14): an import whose every change is rolled back. It reports its counts and
-- errors like any other, but never becomes its context's `latest` import.
ALTER TABLE outcome_imports ADD COLUMN dry_run boolean NOT NULL DEFAULT false;

-- What an import did, once it has ended `succeeded`: counts of groups and outcomes created,
-- updated, deleted, restored and unchanged, links added and removed, and rows rejected (see
-- worker/summary.py). NULL before the end, for failed imports, and for imports that ended
-- before this column existed.
ALTER TABLE outcome_imports ADD COLUMN summary json;
