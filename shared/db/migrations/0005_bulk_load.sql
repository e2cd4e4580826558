-- An import writes up to a million outcomes and links in one transaction. A foreign key is
-- checked by a trigger for every inserted row (an index probe plus a lock on the row it names),
-- which was half of what PostgreSQL spent inserting links and a quarter of it for outcomes.
-- These references cannot dangle without them: nothing deletes outcomes, groups or accounts
-- (deletion is workflow_state = 'deleted'), and the importer writes only ids it read or
-- reserved in the same transaction. The test suite checks that after every conformance case
-- (tests/support/integrity.py). Groups keep theirs: they are few.
ALTER TABLE learning_outcome_links DROP CONSTRAINT learning_outcome_links_learning_outcome_id_fkey;
ALTER TABLE learning_outcome_links DROP CONSTRAINT learning_outcome_links_associated_group_id_fkey;
ALTER TABLE learning_outcomes DROP CONSTRAINT learning_outcomes_root_account_id_fkey;

-- Guids are only ever compared for equality, so byte order serves them as well as a locale's,
-- and makes every index insert and probe a memcmp instead of a locale comparison.
ALTER TABLE learning_outcomes ALTER COLUMN vendor_guid TYPE text COLLATE "C";
ALTER TABLE learning_outcome_groups ALTER COLUMN vendor_guid TYPE text COLLATE "C";

-- No query looks outcomes up by their owner (they are found by guid, by id, and through links),
-- and every index is maintained on every insert.
DROP INDEX learning_outcomes_context_idx;
