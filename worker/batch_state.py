"""The in-memory view of one batch: the objects its rows reference, and what the rows did to them.

A BatchState is built from a few set-based reads (worker/apply_sql.py), changed row by row in
file order, then written back in bulk and dropped. It lives for one batch (or the part of a
batch up to a group deletion), so its size follows the batch, never the file: between batches
the database, inside the import's open transaction, is the memory (see worker/apply.py).

Completeness contract, relied on by the lookups below: for every guid the batch names, the state
holds every group with that guid in each context a row of the batch can use, every group this
import already wrote with that guid (`last_import_id`), every outcome with that guid (its
`last_import_id` the import's id when the import has seen it, written or not), and every link
of those outcomes. Objects the batch creates are added as they are created.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

from shared.db.accounts import Context
from shared.db.pool import JsonText
from shared.models import ContextType
from worker.outcome_rules import OutcomeState
from worker.parse_caches import ParseCache, text_bytes
from worker.rows import Rating, shared_ratings
from worker.summary import ImportSummary

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
    names_case_items: bool = False
    """A CASE package's rows: their errors name the item (`CFItem "<identifier>": ...`)."""
    summary: ImportSummary = field(default_factory=ImportSummary, compare=False)
    """What its rows have done so far (counted as they are applied)."""
    context_key: ContextKey = field(init=False, compare=False)
    """(context_type, context_id) of the import context."""
    links_scoped_to_subtree: bool = field(init=False, compare=False)
    """Account import with a course_id column: outcome rows may use course groups (§5.6, §7.1)."""

    def __post_init__(self) -> None:
        # Read once per row or more: worked out once per import.
        object.__setattr__(self, "context_key", (self.context.type.value, self.context.id))
        scoped = self.has_course_id_column and self.context.type is ContextType.account
        object.__setattr__(self, "links_scoped_to_subtree", scoped)


def magic_outcome_id(guid: str) -> int | None:
    """The id in a `canvas_outcome:<digits>` guid (0 when it cannot be an id), else None."""
    if "canvas_outcome" not in guid:
        return None  # most guids: no regex search
    return _magic_id(_MAGIC_OUTCOME, guid)


def magic_group_id(guid: str) -> int | None:
    """The id in a `canvas_outcome_group:<digits>` guid (0 when it cannot be an id), else None."""
    if "canvas_outcome" not in guid:
        return None  # most guids: no regex search
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
    new: bool = False  # created by this batch: inserted, not updated


StoredFriendly = tuple[str, str]
"""A stored friendly description: (description, workflow_state)."""


@dataclass(slots=True)
class OutcomeRec:
    id: int
    owner: ContextKey | None  # None: a global outcome
    owner_name: str | None
    root_account_id: int | None
    state: OutcomeState
    last_import_id: int | None
    dirty: bool = False
    friendly: StoredFriendly | None = None
    """The friendly description stored for (outcome, owner), if any."""
    new: bool = False
    """Created by this batch (its id reserved by it): inserted, not updated."""


@dataclass(slots=True)
class LinkRec:
    outcome_id: int
    group_id: int
    context: ContextKey  # the group's context
    workflow_state: str
    in_import_subtree: bool  # see apply_sql.SELECT_LINKS
    dirty: bool = False
    new: bool = False  # created by this batch: inserted, not updated


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


@dataclass(frozen=True, slots=True)
class BatchWrites:
    """One batch's changes as rows: tuples in the column order of worker/apply_sql.py, each
    built once, split by how it is written (new rows are inserted, stored ones upserted)."""

    new_groups: list[tuple[Any, ...]]
    stored_groups: list[tuple[Any, ...]]
    new_outcomes: list[tuple[Any, ...]]
    stored_outcomes: list[tuple[Any, ...]]
    seen_outcome_ids: list[int]
    links: list[tuple[Any, ...]]
    """In the order they are to take ids: new and stored links together, as one upsert takes them."""
    links_all_new: bool
    """Every link is new: copied straight into the table, no upsert (worker/apply_sql.py)."""
    friendly: list[tuple[Any, ...]]


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
    seen: list[OutcomeRec] = field(default_factory=list)
    """Outcomes a row of this batch left as they were: this import has seen them, though
    nothing is written (see BatchApplier: the database then remembers them in another way)."""
    _groups_by_guid: dict[str, list[GroupRec]] = field(default_factory=dict)
    _outcomes_by_guid: dict[str, OutcomeRec] = field(default_factory=dict)
    _free_group_ids: list[int] = field(default_factory=list)
    _free_outcome_ids: list[int] = field(default_factory=list)

    # --- loading ----------------------------------------------------------------------------

    def load_group(self, rec: GroupRec) -> None:
        self.groups[rec.id] = rec
        if rec.vendor_guid is not None:
            by_guid = self._groups_by_guid.get(rec.vendor_guid)
            if by_guid is None:
                self._groups_by_guid[rec.vendor_guid] = [rec]
            else:
                by_guid.append(rec)
        if rec.parent_id is None:
            self.roots.setdefault(rec.context, rec)

    def load_outcome(self, rec: OutcomeRec) -> None:
        outcome_id = rec.id
        self.outcomes[outcome_id] = rec
        links = self.links
        if outcome_id not in links:  # not setdefault: that builds a dict on every call
            links[outcome_id] = {}
        guid = rec.state.vendor_guid
        if guid is not None:
            self._outcomes_by_guid[guid] = rec

    def load_link(self, rec: LinkRec) -> None:
        by_group = self.links.get(rec.outcome_id)
        if by_group is None:
            self.links[rec.outcome_id] = {rec.group_id: rec}
        else:
            by_group[rec.group_id] = rec

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

    def written_groups(self, guid: str, context: ContextKey | None = None) -> list[GroupRec]:
        """Groups with this guid that this import has written (any state), in `context` if given."""
        import_id = self.import_id
        groups = self._groups_by_guid.get(guid)
        if groups is None:
            return []
        if len(groups) == 1:  # the usual case, without a comprehension
            group = groups[0]
            if group.last_import_id == import_id and (context is None or group.context == context):
                return [group]
            return []
        return [g for g in groups if g.last_import_id == import_id and (context is None or g.context == context)]

    def new_group(self, context: ContextKey, root_account_id: int, vendor_guid: str | None, title: str) -> GroupRec:
        """A new group with a reserved id, not saved yet (its caller fills it in and marks it dirty)."""
        rec = GroupRec(
            self._free_group_ids.pop(), context, root_account_id, None, vendor_guid, title, None, ACTIVE, None, new=True
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

    def count_unknown_outcome_guids(self, guids: Iterable[str]) -> int:
        """How many of `guids` (repeats counted) name no outcome of the state."""
        by_guid = self._outcomes_by_guid
        return sum(1 for guid in guids if guid not in by_guid)

    def new_outcome(self, owner: ContextKey, owner_name: str, root_account_id: int, state: OutcomeState) -> OutcomeRec:
        """A new outcome with a reserved id, to be saved (dirty); its caller sets last_import_id."""
        outcome_id = self._free_outcome_ids.pop()
        # Positional (cheaper than keywords): last_import_id=None, dirty=True, friendly=None, new=True.
        rec = OutcomeRec(outcome_id, owner, owner_name, root_account_id, state, None, True, None, True)
        # load_outcome written out (once per new outcome): a new id has no links yet.
        self.outcomes[outcome_id] = rec
        self.links[outcome_id] = {}
        if state.vendor_guid is not None:
            self._outcomes_by_guid[state.vendor_guid] = rec
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

    # --- the batch before -------------------------------------------------------------------

    def carry_over(self, earlier: BatchState, writes: BatchWrites) -> None:
        """Take the objects the batch before changed (`writes`, from its take_writes()), as it
        left them: they replace what this batch's reads found of them.

        For a state read while the batch before is not written yet (its write runs while this
        batch's rows are applied, see worker/apply.py). It holds whole what it changed (an
        outcome with every link), and nothing else has changed since the batch before it was
        written, so the result is what the reads would have found after the write. Only what
        it changed is taken, so states do not grow from batch to batch.
        """
        for record in (*writes.new_groups, *writes.stored_groups):
            group = earlier.groups[record[0]]
            found_group = self.groups.get(group.id)
            if found_group is not None:
                self._forget_group(found_group)
            self.load_group(group)
        changed = {record[0] for record in writes.new_outcomes}
        changed.update(record[0] for record in writes.stored_outcomes)
        changed.update(writes.seen_outcome_ids)
        changed.update(record[0] for record in writes.links)
        changed.update(record[0] for record in writes.friendly)
        outcomes = [earlier.outcomes[outcome_id] for outcome_id in changed]
        by_guid = self._outcomes_by_guid
        for outcome in outcomes:  # first forget every one they replace: guids may have moved
            found = self.outcomes.get(outcome.id)
            if found is not None:
                guid = found.state.vendor_guid
                if guid is not None and by_guid.get(guid) is found:
                    del by_guid[guid]
        for outcome in outcomes:
            self.outcomes[outcome.id] = outcome
            self.links[outcome.id] = earlier.links[outcome.id]
            if outcome.state.vendor_guid is not None:
                by_guid[outcome.state.vendor_guid] = outcome

    def _forget_group(self, rec: GroupRec) -> None:
        if rec.vendor_guid is not None:
            same_guid = self._groups_by_guid[rec.vendor_guid]
            same_guid[:] = [g for g in same_guid if g is not rec]
        if self.roots.get(rec.context) is rec:
            del self.roots[rec.context]

    def take_writes(self) -> BatchWrites:
        """What the batch changed, as rows to write (see worker/batch_loader.py); from then on
        the state counts them as stored (not new, not dirty). One pass over each collection.

        Once per written row (two or three a row of the file): the records are built here
        inline, already split by how they are written, rather than by a method call each and
        then sliced and sorted again at the write."""
        seen = self.seen_outcome_ids()
        friendly = self.friendly_changes()
        new_groups: list[tuple[Any, ...]] = []
        stored_groups: list[tuple[Any, ...]] = []
        for group in self.groups.values():
            if group.dirty:
                context_type, context_id = group.context
                (new_groups if group.new else stored_groups).append(
                    (
                        group.id,
                        context_type,
                        context_id,
                        group.root_account_id,
                        group.parent_id,
                        group.vendor_guid,
                        group.title,
                        group.description,
                        group.workflow_state,
                        group.last_import_id,
                    )
                )
                group.dirty = group.new = False
        new_outcomes: list[tuple[Any, ...]] = []
        stored_outcomes: list[tuple[Any, ...]] = []
        for outcome in self.outcomes.values():
            if outcome.dirty:
                s = outcome.state
                owner = outcome.owner
                (new_outcomes if outcome.new else stored_outcomes).append(
                    (
                        outcome.id,
                        owner[0] if owner else None,
                        owner[1] if owner else None,
                        outcome.root_account_id,
                        s.vendor_guid,
                        s.short_description,
                        s.description,
                        s.display_name,
                        s.calculation_method,
                        s.calculation_int,
                        ratings_json(s.ratings),
                        s.mastery_points,
                        s.points_possible,
                        s.workflow_state,
                        outcome.last_import_id,
                    )
                )
                outcome.dirty = outcome.new = False
        links: list[tuple[Any, ...]] = []
        links_all_new = True
        outcomes_by_id = self.outcomes
        for outcome_id, by_group in self.links.items():
            for link in by_group.values():
                if link.dirty:
                    context_type, context_id = link.context
                    # The outcome's title as it is written: links are listed by it (migration 0022).
                    title = outcomes_by_id[outcome_id].state.short_description
                    links.append((outcome_id, link.group_id, context_type, context_id, link.workflow_state, title))
                    links_all_new = links_all_new and link.new
                    link.dirty = link.new = False
        for outcome_id, _, _, description, active in friendly:
            outcome = self.outcomes[outcome_id]
            if description is None:  # deactivated: friendly_changes keeps that only for an active one
                assert outcome.friendly is not None
                outcome.friendly = (outcome.friendly[0], DELETED)
            else:
                outcome.friendly = (description, ACTIVE if active else DELETED)
        self.seen.clear()
        self.friendly.clear()
        return BatchWrites(
            new_groups, stored_groups, new_outcomes, stored_outcomes, seen, links, links_all_new, friendly
        )

    # --- writing back -----------------------------------------------------------------------

    def written_group_contexts(self) -> set[ContextKey]:
        """The contexts of the groups this import has written, as far as this batch knows them."""
        import_id = self.import_id
        return {g.context for g in self.groups.values() if g.last_import_id == import_id}

    def seen_outcome_ids(self) -> list[int]:
        """Outcomes this batch saw and left as they were (see `seen`), each once."""
        return list(dict.fromkeys(o.id for o in self.seen if not o.dirty))

    def friendly_changes(self) -> list[tuple[Any, ...]]:
        """The friendly descriptions to write: those whose stored row the batch changes.

        Writing what is stored already, or deactivating where nothing active is stored, would
        change nothing but updated_at, so those are left out.
        """
        changes = []
        for key, change in self.friendly.items():
            outcome = self.outcomes[key[0]]
            stored = outcome.friendly
            if change.description is None:
                if stored is None or stored[1] != ACTIVE:
                    continue  # nothing active to deactivate
            elif stored is not None and stored == (change.description, ACTIVE if change.active else DELETED):
                continue
            changes.append((key[0], key[1], key[2], change.description, change.active))
        return changes


# JSON text <-> ratings. The same scale repeats on most rows of a file, so both directions are
# cached; a text read back from the database is often one this process wrote, and then gives
# the very tuple the rows carry, which compares by identity.
# Bounded in bytes and emptied after every job like the parsers' caches (worker/parse_caches.py):
# a file of distinct long rating descriptions must not pin memory in the worker.
_RATINGS_CACHE_LIMIT: Final = 1024
_JSON_BY_RATINGS: Final = ParseCache[int, tuple[tuple[Rating, ...], JsonText]](_RATINGS_CACHE_LIMIT)
_json_by_ratings: Final = _JSON_BY_RATINGS.entries  # id(ratings) -> (ratings, JSON)
_RATINGS_BY_JSON: Final = ParseCache[str, tuple[Rating, ...]](_RATINGS_CACHE_LIMIT)
_ratings_by_json: Final = _RATINGS_BY_JSON.entries


def ratings_json(ratings: tuple[Rating, ...]) -> JsonText:
    """Ratings as stored (JSON text, highest first)."""
    # Keyed by id(): the entry holds the tuple, so the id cannot be reused while it is cached.
    cached = _json_by_ratings.get(id(ratings))
    if cached is not None and cached[0] is ratings:
        return cached[1]
    text = JsonText(json.dumps([{"points": r.points, "description": r.description} for r in ratings]))
    _JSON_BY_RATINGS.remember(id(ratings), (ratings, text), _weight(text))
    _remember_ratings(text, ratings)
    return text


def ratings_cache_entries() -> dict[str, tuple[Rating, ...]]:
    """The cache ratings_from_json looks in first (JSON text -> ratings), for a hot loop to read."""
    return _ratings_by_json


def ratings_from_json(text: str) -> tuple[Rating, ...]:
    """Stored ratings (JSON text, highest first) as Rating values."""
    ratings = _ratings_by_json.get(text)
    if ratings is None:
        ratings = shared_ratings(
            tuple(Rating(float(r["points"]), str(r.get("description") or "")) for r in json.loads(text))
        )
        _remember_ratings(text, ratings)
    return ratings


def _remember_ratings(text: str, ratings: tuple[Rating, ...]) -> None:
    # Parsing `text` gives values equal to `ratings`, field for field (floats round-trip).
    _RATINGS_BY_JSON.remember(text, ratings, _weight(text))


def _weight(text: str) -> int:
    # The JSON text, and the ratings' descriptions, which are about as long.
    return 2 * text_bytes((text,))
