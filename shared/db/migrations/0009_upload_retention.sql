-- Stored uploads are kept OUTCOME_IMPORTS_UPLOAD_RETENTION_DAYS after their import ended, then
-- deleted from storage by a worker's periodic pass; the import's record and errors stay.
ALTER TABLE outcome_imports ADD COLUMN upload_deleted_at timestamptz;
-- The pass finds expired uploads oldest first, and checks that no other import (a retry of the
-- same file) still needs one.
CREATE INDEX outcome_imports_upload_expiry_idx ON outcome_imports (ended_at) WHERE upload_deleted_at IS NULL;
CREATE INDEX outcome_imports_object_key_idx ON outcome_imports (object_key);
