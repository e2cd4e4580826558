"""The in-memory view of one batch: the objects its rows reference, and what the rows did to them.

A BatchState is built from a few set-based reads (worker/apply_sql.py), changed row by row in
file order, then written back in bulk and dropped. It lives for one batch (or the part of a
batch up to a group deletion), so its size follows the batch, never the file: between batches
the database, inside the import's open transaction, is the only memory.

Completeness contract, relied on by the lookups below: for every guid the batch names, the state
holds every group with that guid in each context a row of the batch can use, every group this
import already wrote with that guid (`last_import_id`), every outcome with that guid, and every
link of those outcomes. Objects the batch creates are added as they are created.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from shared.db.accounts import Context
from shared.models import ContextType
from worker.outcome_rules import OutcomeState
from worker.rows import Rating

ContextKey = tuple[str, int]
"""(context_type, context_id): ('Account', 1) or ('Course', 7)."""

ACTIVE: Final = "active"
DELETED: Final = "deleted"

# Canvas matches these anywhere in the guid (Ruby's \d is ASCII only).
_MAGIC_OUTCOME: Final = re.compile(r"canvas_outcome:([0-9]+)")
_MAGIC_GROUP: Final = re.compile(r"canvas_outcome_group:([0-9]+)")
_MAX_ID: Final = 2**63 - 1


@dataclass(frozen=True, slots=True)
class ImportRun:
    """What every batch of one import is applied for."""

    import_id: int
    context: Context
    target_group_id: int | None
    has_course_id_column: bool

    @property
    def context_key(self) -> ContextKey:
        return (self.context.type.value, self.context.id)

    @property
    def links_scoped_to_subtree(self) -> bool:
        """Account import with a course_id column: outcome rows may use course groups (§5.6, §7.1)."""
        return self.has_course_id_column and self.context.type is ContextType.account


def magic_outcome_id(guid: str) -> int | None:
    """The id in a `canvas_outcome:<digits>` guid (0 when it cannot be an id), else None."""
    return _magic_id(_MAGIC_OUTCOME, guid)


def magic_group_id(guid: str) -> int | None:
    """The id in a `canvas_outcome_group:<digits>` guid (0 when it cannot be an id), else None."""
    return _magic_id(_MAGIC_GROUP, guid)


def _magic_id(pattern: re.Pattern[str], guid: str) -> int | None:
    match = pattern.search(guid)
    if match is None:
        return None
    value = int(match.group(1))
    return value if value <= _MAX_ID else 0


@dataclass(slots=True)
class GroupRec:
    id: int
    context: ContextKey
    root_account_id: int
    parent_id: int | None
    vendor_guid: str | None
    title: str
    description: str | None
    workflow_state: str
    last_import_id: int | None
    dirty: bool = False

    def as_record(self) -> tuple[Any, ...]:
        """A row for apply_sql.GROUP_COLUMNS."""
        return (
            self.id,
            self.context[0],
            self.context[1],
            self.root_account_id,
            self.parent_id,
            self.vendor_guid,
            self.title,
            self.description,
            self.workflow_state,
            self.last_import_id,
        )


@dataclass(slots=True)
class OutcomeRec:
    id: int
    owner: ContextKey | None  # None: a global outcome
    owner_name: str | None
    root_account_id: int | None
    state: OutcomeState
    last_import_id: int | None
    dirty: bool = False

    def as_record(self) -> tuple[Any, ...]:
        """A row for apply_sql.OUTCOME_COLUMNS."""
        s = self.state
        ratings = json.dumps([{"points": r.points, "description": r.description} for r in s.ratings])
        return (
            self.id,
            self.owner[0] if self.owner else None,
            self.owner[1] if self.owner else None,
            self.root_account_id,
            s.vendor_guid,
            s.short_description,
            s.description,
            s.display_name,
            s.calculation_method,
            s.calculation_int,
            ratings,
            s.mastery_points,
            s.points_possible,
            s.workflow_state,
            self.last_import_id,
        )


@dataclass(slots=True)
class LinkRec:
    outcome_id: int
    group_id: int
    context: ContextKey  # the group's context
    workflow_state: str
    in_import_subtree: bool  # see apply_sql.SELECT_LINKS
    dirty: bool = False

    def as_record(self) -> tuple[Any, ...]:
        """A row for apply_sql.LINK_COLUMNS."""
        return (self.outcome_id, self.group_id, self.context[0], self.context[1], self.workflow_state)


@dataclass(frozen=True, slots=True)
class CourseRec:
    id: int
    name: str
    root_account_id: int
    in_account: bool  # in the importing account's subtree


@dataclass(slots=True)
class FriendlyChange:
    """The net effect of a batch on one (outcome, owning context) friendly description."""

    description: str | None  # the last value a row set, if any row set one
    active: bool


@dataclass(slots=True)
class BatchState:
    import_id: int
    target_chain: frozenset[int] = frozenset()
    courses: dict[int, CourseRec] = field(default_factory=dict)
    groups: dict[int, GroupRec] = field(default_factory=dict)
    roots: dict[ContextKey, GroupRec] = field(default_factory=dict)
    outcomes: dict[int, OutcomeRec] = field(default_factory=dict)
    links: dict[int, dict[int, LinkRec]] = field(default_factory=dict)  # outcome id -> group id -> link
    friendly: dict[tuple[int, str, int], FriendlyChange] = field(default_factory=dict)
    _groups_by_guid: dict[str, list[GroupRec]] = field(default_factory=dict)
    _outcomes_by_guid: dict[str, OutcomeRec] = field(default_factory=dict)
    _free_group_ids: list[int] = field(default_factory=list)
    _free_outcome_ids: list[int] = field(default_factory=list)

    # --- loading ----------------------------------------------------------------------------

    def load_group(self, rec: GroupRec) -> None:
        self.groups[rec.id] = rec
        if rec.vendor_guid is not None:
            self._groups_by_guid.setdefault(rec.vendor_guid, []).append(rec)
        if rec.parent_id is None:
            self.roots.setdefault(rec.context, rec)

    def load_outcome(self, rec: OutcomeRec) -> None:
        self.outcomes[rec.id] = rec
        self.links.setdefault(rec.id, {})
        if rec.state.vendor_guid is not None:
            self._outcomes_by_guid[rec.state.vendor_guid] = rec

    def load_link(self, rec: LinkRec) -> None:
        self.links.setdefault(rec.outcome_id, {})[rec.group_id] = rec

    def add_free_ids(self, group_ids: list[int], outcome_ids: list[int]) -> None:
        self._free_group_ids.extend(group_ids)
        self._free_outcome_ids.extend(outcome_ids)

    # --- groups -----------------------------------------------------------------------------

    def find_group(self, context: ContextKey, guid: str) -> GroupRec | None:
        """The group with this guid in this context, preferring an active one (spec §5.1)."""
        candidates = [g for g in self._groups_by_guid.get(guid, ()) if g.context == context]
        if not candidates:
            return None
        return min(candidates, key=lambda g: (g.workflow_state != ACTIVE, g.id))

    def written_groups(self, guid: str) -> Iterator[GroupRec]:
        """Groups with this guid that this import has written (any context, any state)."""
        return (g for g in self._groups_by_guid.get(guid, ()) if g.last_import_id == self.import_id)

    def new_group(self, context: ContextKey, root_account_id: int, vendor_guid: str | None, title: str) -> GroupRec:
        """A new group with a reserved id, not saved yet (its caller fills it in and marks it dirty)."""
        rec = GroupRec(
            self._free_group_ids.pop(), context, root_account_id, None, vendor_guid, title, None, ACTIVE, None
        )
        self.load_group(rec)
        return rec

    def root(self, context: ContextKey, title: str, root_account_id: int) -> GroupRec:
        """The context's root group, created (title = context name, no guid) on first use."""
        rec = self.roots.get(context)
        if rec is None:
            rec = self.new_group(context, root_account_id, None, title)
            rec.dirty = True
        return rec

    def set_group_guid(self, rec: GroupRec, guid: str) -> None:
        if rec.vendor_guid == guid:
            return
        if rec.vendor_guid is not None:
            self._groups_by_guid[rec.vendor_guid].remove(rec)
        rec.vendor_guid = guid
        self._groups_by_guid.setdefault(guid, []).append(rec)

    # --- outcomes ---------------------------------------------------------------------------

    def outcome_by_guid(self, guid: str) -> OutcomeRec | None:
        return self._outcomes_by_guid.get(guid)

    def new_outcome(self, owner: ContextKey, owner_name: str, root_account_id: int, state: OutcomeState) -> OutcomeRec:
        rec = OutcomeRec(self._free_outcome_ids.pop(), owner, owner_name, root_account_id, state, None)
        self.load_outcome(rec)
        return rec

    def set_outcome_state(self, rec: OutcomeRec, state: OutcomeState) -> None:
        """Replace the outcome's attributes; a changed guid (magic-guid rows) moves its index entry."""
        old_guid = rec.state.vendor_guid
        if old_guid is not None and state.vendor_guid != old_guid and self._outcomes_by_guid.get(old_guid) is rec:
            del self._outcomes_by_guid[old_guid]
        rec.state = state
        if state.vendor_guid is not None:
            self._outcomes_by_guid[state.vendor_guid] = rec
        rec.dirty = True

    # --- writing back -----------------------------------------------------------------------

    def dirty_groups(self) -> list[tuple[Any, ...]]:
        return [g.as_record() for g in self.groups.values() if g.dirty]

    def dirty_outcomes(self) -> list[tuple[Any, ...]]:
        return [o.as_record() for o in self.outcomes.values() if o.dirty]

    def dirty_links(self) -> list[tuple[Any, ...]]:
        return [link.as_record() for by_group in self.links.values() for link in by_group.values() if link.dirty]

    def friendly_changes(self) -> list[tuple[Any, ...]]:
        return [(key[0], key[1], key[2], c.description, c.active) for key, c in self.friendly.items()]


def ratings_from_json(text: str) -> tuple[Rating, ...]:
    """Stored ratings (JSON text, highest first) as Rating values."""
    return tuple(Rating(float(r["points"]), str(r.get("description") or "")) for r in json.loads(text))
