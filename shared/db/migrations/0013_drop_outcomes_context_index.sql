-- No query looks outcomes up by their owner (they are found by guid, by id, and through links),
-- and every index is maintained on every insert. This change was first made by editing 0005
-- after it had been committed, so databases that had already applied 0005 kept the index;
-- 0005 is back to its committed text and the change lives here. IF EXISTS: databases that
-- applied the edited 0005 have no index to drop, and end the same as the others.
DROP INDEX IF EXISTS learning_outcomes_context_idx;
