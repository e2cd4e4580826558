-- The operations view of waiting imports, fleet-wide and oldest first, read a million finished
-- imports in id order to find a page of waiting ones (178 ms with 10^6 imports); waiting
-- imports are few, and this index holds only them.
CREATE INDEX outcome_imports_waiting_idx ON outcome_imports (id) WHERE workflow_state = 'created';
