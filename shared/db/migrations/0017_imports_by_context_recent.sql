-- A context's imports newest first (GET .../outcome_imports): the index ends in the id, so a page
-- is read straight off it, backwards. It serves every lookup by context the old index served.
CREATE INDEX outcome_imports_context_recent_idx ON outcome_imports (context_type, context_id, id);
DROP INDEX outcome_imports_context_idx;
