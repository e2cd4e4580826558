-- Groups lose their foreign keys too, as outcomes and links did in 0005. District files are ~8%
-- groups, and the two checks per inserted group (parent, root account) made a group cost twice
-- what an outcome costs to COPY: 0.24 s of PostgreSQL time per 8,000 groups, 0.10 s without.
-- The same reasoning holds: groups and accounts are never deleted (workflow_state instead), and
-- a group's parent is either read in the import's transaction or created by it. The test suite
-- checks these references after every conformance case (tests/support/integrity.py).
ALTER TABLE learning_outcome_groups DROP CONSTRAINT learning_outcome_groups_parent_id_fkey;
ALTER TABLE learning_outcome_groups DROP CONSTRAINT learning_outcome_groups_root_account_id_fkey;
