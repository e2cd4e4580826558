-- Row errors an import found, stored or not: at most OUTCOME_IMPORTS_MAX_STORED_ERRORS are
-- stored (error_count), and the error report says how many more there were. NULL for imports
-- that ended before this column existed, and for failed imports (they keep only their one error).
ALTER TABLE outcome_imports ADD COLUMN errors_found integer;
