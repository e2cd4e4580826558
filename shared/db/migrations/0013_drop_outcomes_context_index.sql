-- No query looks outcomes up by their owner (they are found by guid, by id, and through links),
-- and every index is maintained on every insert. That change was first made by editing 0005
-- after it had been committed, so databases that had already applied 0005 kept the index; 0005
-- stays as it now reads (a committed migration never changes again), and the change is made
-- here for every database. IF EXISTS: databases that applied the edited 0005 have no index to
-- drop, and end the same as the others.
DROP INDEX IF EXISTS learning_outcomes_context_idx;
