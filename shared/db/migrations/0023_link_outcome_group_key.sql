-- A link's uniqueness is now kept by an index led by the outcome, which then also serves every
-- lookup of an outcome's links (the importer's, the title trigger of 0022, the `check`
-- invariants), so learning_outcome_links_outcome_idx goes: one index fewer to maintain for every
-- link an import writes. The importer's ON CONFLICT (associated_group_id, learning_outcome_id)
-- names columns, not an index, and PostgreSQL takes this one as its arbiter. A group's links are
-- only ever read active, through learning_outcome_links_group_title_idx (0022), which is led by
-- the group.
--
-- scripts/profile_import.py 100000 --district --twice --changed-fraction 0.1, 13 runs each,
-- alternated: PostgreSQL CPU for the fresh import 1.62-2.89 s (median 1.96) before, 1.51-2.59 s
-- (median 1.84) after, and 10% fewer buffer accesses (1.98 million, 1.78 million); for the
-- re-import 1.82-2.55 s (median 2.15) before, 1.77-2.17 s (median 2.01) after (6 runs each from
-- the same fresh database), 0.7% fewer buffer accesses. Same stored rows and ids (--digest).
ALTER TABLE learning_outcome_links
    ADD CONSTRAINT learning_outcome_links_outcome_group_key UNIQUE (learning_outcome_id, associated_group_id);
ALTER TABLE learning_outcome_links DROP CONSTRAINT learning_outcome_links_associated_group_id_learning_outcome_key;
DROP INDEX learning_outcome_links_outcome_idx;
