"""One group row against the batch state: spec §6.2 steps 2-7 (step 1 is in worker/rows.py).

Every check ends the row with exactly one message, except model validation (all of its
messages). A failing row changes nothing. Step 8, deleting an existing group's subtree, needs
the database and is left to the caller (worker/apply.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from shared.models import ContextType
from worker.batch_state import BatchState, ContextKey, GroupRec, ImportRun, magic_group_id
from worker.outcome_rules import validate_group
from worker.parents import context_details, find_parents
from worker.rows import GroupRow, WorkflowState
from worker.ruby import to_i


@dataclass(frozen=True, slots=True)
class GroupOutcome:
    """What a group row did: its messages, and the existing group it deleted, if any."""

    messages: list[str]
    deleted_existing: GroupRec | None = None


def import_group_row(state: BatchState, run: ImportRun, row: GroupRow) -> GroupOutcome:
    """Apply one group row in file order; see the module docstring."""
    context = _group_context(state, run, row)
    if isinstance(context, str):
        return GroupOutcome([context])
    group = state.find_group(context, row.vendor_guid)
    if group is None:
        magic_id = magic_group_id(row.vendor_guid)
        if magic_id is not None:
            by_id = state.groups.get(magic_id)
            if by_id is None:
                # Canvas quotes the canvas_id cell (nil as ""), not the id it looked for.
                return GroupOutcome([f"Outcome group with canvas id {row.canvas_id or ''} not found"])
            # A group of another context means a new one here. A root group is never taken
            # over: it would become its own parent.
            if by_id.context == context and by_id.parent_id is not None:
                group = by_id
    if group is not None and run.target_group_id is not None and group.id in state.target_chain:
        return GroupOutcome([f"Cyclic reference detected when importing: {row.vendor_guid}"])
    parents = find_parents(state, run, row.parent_guids, context, any_context=False)
    if isinstance(parents, str):
        return GroupOutcome([parents])
    if len(parents) > 1:
        return GroupOutcome(["An outcome group can only have one parent"])
    if group is not None and group.last_import_id == run.import_id:
        return GroupOutcome([f'Group "{row.vendor_guid}" has already appeared in this import'])
    errors = validate_group(row)
    if errors:
        return GroupOutcome(errors)
    existed = group is not None
    before = None
    if group is None:
        _, root_account_id = context_details(state, run, context)
        group = state.new_group(context, root_account_id, row.vendor_guid, row.title)
    else:
        before = (group.workflow_state, group.title, group.description, group.parent_id, group.vendor_guid)
        state.set_group_guid(group, row.vendor_guid)
    group.title = row.title
    group.description = row.description
    group.workflow_state = row.workflow_state.value
    group.parent_id = parents[0].id
    after = (group.workflow_state, group.title, group.description, group.parent_id, group.vendor_guid)
    run.summary.groups.count(None if before is None else before[0], group.workflow_state, before != after)
    group.last_import_id = run.import_id
    group.dirty = True
    # A group created by this row has nothing under it yet: saving it deleted is the whole job.
    deleted = existed and row.workflow_state is WorkflowState.DELETED
    return GroupOutcome([], group if deleted else None)


def _group_context(state: BatchState, run: ImportRun, row: GroupRow) -> ContextKey | str:
    """The context the group lives in (spec §5.6), or the course_id message."""
    if row.course_id is None:
        return run.context_key
    if run.context.type is ContextType.course:
        return "Cannot import to other courses"
    course = state.courses.get(to_i(row.course_id))
    if course is None:
        return f"Course with canvas id {row.course_id} not found"
    if not course.in_account:
        return f"Target course {row.course_id} is not a child of current account ({run.context.name})"
    return (ContextType.course.value, course.id)
