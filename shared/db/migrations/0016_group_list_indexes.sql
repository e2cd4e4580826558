-- Keyset ("bookmark") pages of the Outcome Groups API (shared/db/outcome_lists.py) start each
-- page right after the last item of the one before, read in index order: a page then costs the
-- same at the end of a list as at its start. A context's groups are listed by id, a group's
-- children by (lower(title), title, id). Groups are about 8% of an import's rows, so these cost
-- imports little; links and outcomes get no new index (a group's links are found through
-- (associated_group_id, learning_outcome_id) and sorted by their outcomes' titles).
CREATE INDEX learning_outcome_groups_context_active_idx ON learning_outcome_groups (context_type, context_id, id)
    WHERE workflow_state = 'active';
CREATE INDEX learning_outcome_groups_parent_title_idx ON learning_outcome_groups (parent_id, lower(title), title, id)
    WHERE workflow_state = 'active';
