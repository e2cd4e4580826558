"""Where a row goes: parent_guids resolution (spec §5.3) and the default parent (§1, §8)."""

from __future__ import annotations

from collections.abc import Sequence

from shared.errors import OutcomeImportsError
from worker.batch_state import BatchState, ContextKey, GroupRec, ImportRun
from worker.ruby import inspect_list


class TargetGroupMissing(OutcomeImportsError):
    """The import's target group does not exist."""


def context_details(state: BatchState, run: ImportRun, context: ContextKey) -> tuple[str, int]:
    """(name, root_account_id) of the import context or of a course a group row named."""
    if context == run.context_key:
        return run.context.name, run.context.root_account_id
    course = state.courses[context[1]]
    return course.name, course.root_account_id


def default_parent(state: BatchState, run: ImportRun, context: ContextKey) -> GroupRec:
    """The parent of a row with blank parent_guids: the target group, else the context's root
    group (created on first use). Canvas crashes when the target is gone; so does this."""
    if run.target_group_id is not None:
        target = state.groups.get(run.target_group_id)
        if target is None:
            raise TargetGroupMissing(f"target group {run.target_group_id} does not exist")
        return target
    name, root_account_id = context_details(state, run, context)
    return state.root(context, name, root_account_id)


def find_parents(
    state: BatchState, run: ImportRun, guids: Sequence[str], context: ContextKey, *, any_context: bool
) -> list[GroupRec] | str:
    """The parent groups of a row, or the "not found" message listing the missing guids.

    A guid must name a group this import already wrote (in `context`, or in any context when
    `any_context`: outcome rows of a file with a course_id column). Deleted ones count. One guid
    may name several groups then (one per context), and each is a parent.
    """
    if not guids:
        return [default_parent(state, run, context)]
    within = None if any_context else context
    if len(guids) == 1:  # the common case, without the bookkeeping below
        found = state.written_groups(guids[0], within)
        return found if found else f"Parent references not found prior to this row: {inspect_list(guids)}"
    found = []
    missing: list[str] = []
    for guid in dict.fromkeys(guids):
        matches = state.written_groups(guid, within)
        if matches:
            found.extend(matches)
        else:
            missing.append(guid)
    if missing:
        return f"Parent references not found prior to this row: {inspect_list(missing)}"
    return found
