"""One outcome row against the batch state: spec §6.3 steps 2-8 (step 1 is in worker/rows.py).

Every check ends the row with exactly one message, except model validation (all of its
messages). A failing row changes nothing.
"""

from __future__ import annotations

import functools

from shared.models import ContextType
from worker.batch_state import BatchState, ContextKey, ImportRun, magic_outcome_id
from worker.links import LinkScope, place_outcome, set_friendly_description
from worker.outcome_rules import apply_outcome_row, cannot_modify_message, foreign_outcome_changes
from worker.parents import find_parents
from worker.rows import OutcomeRow, WorkflowState


def import_outcome_row(state: BatchState, run: ImportRun, row: OutcomeRow) -> list[str]:
    """Apply one outcome row in file order; returns its messages (none when it succeeded)."""
    vendor_guid = row.vendor_guid
    context_key = run.context_key
    # magic_outcome_id's own first test, without its call for the guids that are not magic (most).
    magic_id = magic_outcome_id(vendor_guid) if "canvas_outcome" in vendor_guid else None
    if magic_id is not None:
        outcome = state.outcomes.get(magic_id)
        if outcome is None:
            # Canvas quotes the canvas_id cell (nil as ""), not the id it looked for.
            return [f'Outcome with canvas id "{row.canvas_id or ""}" not found']
    else:
        outcome = state.outcome_by_guid(vendor_guid)
    if outcome is not None and outcome.owner != context_key and not _visible(run, outcome.owner):
        return [
            f"Outcome with ID {vendor_guid} already exists in another unrelated course or account "
            f"({outcome.owner_name})"
        ]
    parents = find_parents(state, run, row.parent_guids, context_key, any_context=run.has_course_id_column)
    if isinstance(parents, str):
        return [parents]
    if outcome is not None and outcome.last_import_id == run.import_id:
        return [f'Outcome "{vendor_guid}" has already appeared in this import']
    before = None if outcome is None else outcome.state
    if outcome is None or outcome.owner == context_key:
        result = apply_outcome_row(row, outcome.state if outcome is not None else None)
        if isinstance(result, list):
            return result
        if outcome is None:
            context = run.context
            outcome = state.new_outcome(context_key, context.name, context.root_account_id, result)
        elif result is not outcome.state:
            state.set_outcome_state(outcome, result)
        else:
            # Unchanged (a re-import): nothing to write but the marker, which the seen-outcomes
            # table keeps at a fraction of the cost of updating the outcome's row.
            state.seen.append(outcome)
        outcome.last_import_id = run.import_id
    else:
        changes = foreign_outcome_changes(row, outcome.state)
        if changes:
            return [cannot_modify_message(changes, outcome.owner_name if outcome.owner is not None else None)]
    if row.workflow_state is WorkflowState.DELETED:
        parents = []
    place_outcome(state, outcome, parents, _link_scope(context_key, run.links_scoped_to_subtree), run.summary)
    friendly_changed = set_friendly_description(state, outcome, row.friendly_description)
    after = outcome.state
    run.summary.outcomes.count(
        None if before is None else before.workflow_state,
        after.workflow_state,
        after is not before or friendly_changed,
    )
    return []


@functools.lru_cache(maxsize=64)
def _link_scope(context_key: ContextKey, whole_subtree: bool) -> LinkScope:
    """One LinkScope per import rather than one per row."""
    return LinkScope(context_key, whole_subtree)


def _visible(run: ImportRun, owner: ContextKey | None) -> bool:
    """Global, the import context itself, or an account in its chain (spec §5.1)."""
    if owner is None or owner == run.context_key:
        return True
    return owner[0] == ContextType.account.value and owner[1] in run.context.account_chain
