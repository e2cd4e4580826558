"""Outcome placement after an outcome row (spec §7.1, §7.2) and friendly descriptions (§5.5).

Pure functions on a BatchState: they change the in-memory links and outcomes and mark them
dirty; the batch writes them back in bulk.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass

from worker.batch_state import (
    ACTIVE,
    DELETED,
    BatchState,
    ContextKey,
    FriendlyChange,
    GroupRec,
    LinkRec,
    OutcomeRec,
)
from worker.ruby import RUBY_SPACE_CHARS
from worker.summary import ImportSummary


@dataclass(frozen=True, slots=True)
class LinkScope:
    """Which of an outcome's links an import may remove (step 3 of spec §7.1).

    Account imports whose file has a course_id column: links in the importing account, its
    sub-accounts and their courses. Otherwise links in the importing context, which is the
    owning context for the import's own outcomes and, for an ancestor's outcome, the spec §7.2
    recommendation (Canvas would remove the ancestor's own links).
    """

    import_context: ContextKey
    whole_subtree: bool

    def covers(self, link: LinkRec) -> bool:
        return link.in_import_subtree if self.whole_subtree else link.context == self.import_context


def place_outcome(
    state: BatchState, outcome: OutcomeRec, parents: Sequence[GroupRec], scope: LinkScope, summary: ImportSummary
) -> None:
    """Make the outcome's links match `parents` (spec §7.1); delete it if it is left unlinked.
    Links added and removed are counted in `summary`.

    1. links to a parent that are deleted come back; 2. parents without any link get one;
    3. active links in scope to other groups are deleted; 4. no link created and none active
    anywhere -> the outcome is deleted.
    """
    links = state.links.get(outcome.id)
    if links is None:  # not setdefault: that builds a dict on every call
        links = state.links[outcome.id] = {}
    if len(parents) == 1 and len(links) <= 1:
        # The usual case, written out here (once per outcome row): one parent, and at most one
        # link, to that parent or none at all. Then no other link is in scope (step 3) and the
        # outcome keeps an active link (step 4).
        group = parents[0]
        group_id = group.id
        link = links.get(group_id)
        if link is not None:
            if link.workflow_state == DELETED:  # step 1
                link.workflow_state = ACTIVE
                link.dirty = True
                summary.links_added += 1
            return
        if not links:  # step 2
            context = group.context
            # _in_import_subtree's first test written out: a group of the import context.
            in_subtree = context == scope.import_context or _in_import_subtree(state, scope, group)
            links[group_id] = LinkRec(outcome.id, group_id, context, ACTIVE, in_subtree, True, True)  # dirty, new
            summary.links_added += 1
            return
    wanted = {group.id: group for group in parents}
    created = False
    for group_id, group in wanted.items():
        link = links.get(group_id)
        if link is None:
            links[group_id] = LinkRec(
                outcome.id,
                group_id,
                group.context,
                ACTIVE,
                _in_import_subtree(state, scope, group),
                dirty=True,
                new=True,
            )
            created = True
            summary.links_added += 1
        elif link.workflow_state == DELETED:
            link.workflow_state = ACTIVE
            link.dirty = True
            summary.links_added += 1
    for group_id, link in links.items():
        if group_id not in wanted and link.workflow_state == ACTIVE and scope.covers(link):
            link.workflow_state = DELETED
            link.dirty = True
            summary.links_removed += 1
    if not created and not any(link.workflow_state == ACTIVE for link in links.values()):
        destroy_outcome(state, outcome, summary)


def destroy_outcome(state: BatchState, outcome: OutcomeRec, summary: ImportSummary) -> None:
    """Canvas's LearningOutcome#destroy: the outcome is deleted with all its links, everywhere."""
    for link in state.links.get(outcome.id, {}).values():
        if link.workflow_state == ACTIVE:
            link.workflow_state = DELETED
            link.dirty = True
            summary.links_removed += 1
    if outcome.state.workflow_state != DELETED:
        state.set_outcome_state(outcome, dataclasses.replace(outcome.state, workflow_state=DELETED))


def set_friendly_description(state: BatchState, outcome: OutcomeRec, value: str | None) -> bool:
    """Spec §5.5: a non-blank value is stored for (outcome, owning context) and made active; a
    blank one deactivates a stored one. Global outcomes have no owning context to store it for.
    Returns whether that changes what is stored."""
    owner = outcome.owner
    if owner is None:
        return False
    key = (outcome.id, owner[0], owner[1])
    stored = outcome.friendly
    if value is not None and value.strip(RUBY_SPACE_CHARS):  # not is_blank(value)
        state.friendly[key] = FriendlyChange(value, True)
        return stored != (value, ACTIVE)
    earlier = state.friendly.get(key)
    if earlier is not None:
        state.friendly[key] = FriendlyChange(earlier.description, False)
    elif stored is not None and stored[1] == ACTIVE:
        state.friendly[key] = FriendlyChange(None, False)
    # Otherwise there is nothing active to deactivate: BatchState.friendly_changes would drop it.
    return stored is not None and stored[1] == ACTIVE


def _in_import_subtree(state: BatchState, scope: LinkScope, group: GroupRec) -> bool:
    # A new link's context is its group's: the importing context, or a course that passed the
    # course_id checks (so in the subtree); anything else is a target group elsewhere.
    if group.context == scope.import_context:
        return True
    course = state.courses.get(group.context[1]) if group.context[0] == "Course" else None
    return course is not None and course.in_account
