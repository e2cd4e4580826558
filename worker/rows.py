"""Pure row rules of the importer: header check, then cells -> GroupRow | OutcomeRow | RowError.

Restates spec §4.4, §4.5, §5 and §6.1 (Canvas `Outcomes::CSVImporter#validate_headers`,
`#import_row`, `#parse_ratings` and `Outcomes::Import#check_object`, `#import_group`,
`#import_outcome` up to the first database lookup). Nothing here does I/O or needs stored
state; rules that do (§5.1 lookups, §5.3 parents, §5.6 course lookups, model validation)
belong to the worker and `worker.outcome_rules`.

A bad row is data (`RowError`), never an exception; a bad header is `ImportFailed`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from shared.errors import ImportFailed
from worker.ruby import (
    decode_lenient,
    format_float,
    has_ascii_whitespace,
    inspect,
    inspect_list,
    is_blank,
    is_present,
    parse_number,
    split_words,
)
from worker.sanitize import sanitize_html

REQUIRED_FIELDS: Final = ("title", "vendor_guid", "object_type")
OPTIONAL_FIELDS: Final = (
    "canvas_id",
    "course_id",
    "description",
    "friendly_description",
    "display_name",
    "parent_guids",
    "calculation_method",
    "calculation_int",
    "mastery_points",
    "workflow_state",
)
_KNOWN_FIELDS: Final = frozenset(REQUIRED_FIELDS + OPTIONAL_FIELDS)
_RATINGS_MARKER: Final = b"ratings"
# Columns that must be blank on a group row; rating cells count as a third, "ratings".
_OUTCOME_ONLY_FIELDS: Final = frozenset({"calculation_method", "calculation_int"})
NO_COMMENT: Final = "No Comment"
"""Description of a rating tier whose description cell is null (Canvas `rubric_criterion=`)."""
MAX_FRIENDLY_DESCRIPTION: Final = 255


class WorkflowState(StrEnum):
    """What a row asks for; blank means active."""

    ACTIVE = "active"
    DELETED = "deleted"


class NullHeaderCell(ImportFailed):
    """A header cell before `ratings` is null."""

    def __init__(self, position: int) -> None:
        super().__init__(f"Header cell {position + 1} is null")
        self.position = position
        """0-based index of the first null cell; Canvas crashes here, so the worker reports
        `An unexpected error has occurred: see error report <n>` (spec §4.4)."""


@dataclass(frozen=True, slots=True)
class Header:
    """A header that passed §4.4."""

    names: tuple[str, ...]
    """Column names in header order, duplicates kept (cells before `ratings`)."""
    columns: dict[str, int]
    """Column name -> cell index; the rightmost of duplicate names wins."""
    width: int
    """Number of column names: cells at index >= width are rating cells (§4.5)."""
    has_course_id: bool
    """The file has a `course_id` column: outcome rows may name parents in courses (§5.6)."""


@dataclass(frozen=True, slots=True)
class Rating:
    """One rubric tier. `points` is what Canvas stores (a float)."""

    points: float
    description: str


@dataclass(frozen=True, slots=True)
class RowError:
    """A rejected record: one message, or one per failing attribute for model validation."""

    row: int
    messages: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GroupRow:
    """A group row that passed every check needing no stored state (§6.2 step 1)."""

    row: int
    vendor_guid: str
    title: str
    description: str
    """Sanitised; "" when the cell is null (Canvas `group[:description] || ""`)."""
    raw_description: str
    """As in the file ("" when null): model validation measures this one (§10)."""
    workflow_state: WorkflowState
    parent_guids: tuple[str, ...]
    """Empty when blank: the root (or target) group is the parent (§5.3)."""
    course_id: str | None
    """Raw cell when present, None when blank; the worker applies §5.6."""
    canvas_id: str | None


@dataclass(frozen=True, slots=True)
class OutcomeRow:
    """An outcome row that passed every check needing no stored state (§6.3 step 1)."""

    row: int
    vendor_guid: str
    title: str
    description: str | None
    """Sanitised; None when blank."""
    raw_description: str | None
    """As in the file (None when null or no column): §5.5 merge, validation, change checks."""
    display_name: str | None
    """As in the file (None when null or no column)."""
    calculation_method: str | None
    """Raw, None when blank."""
    calculation_int: str | None
    """Raw, None when blank (converted with Ruby `to_i` by `outcome_rules`)."""
    ratings: tuple[Rating, ...]
    """In file order (points never increase); empty when the row gives no tiers."""
    tiers_complete: bool
    """False when some tier had a null description cell (stored as `No Comment`): Canvas then
    always sees the tiers as changed (nil != "No Comment"), see `outcome_rules`."""
    mastery_points: float | None
    friendly_description: str | None
    """As in the file, None when blank."""
    workflow_state: WorkflowState
    parent_guids: tuple[str, ...]
    """Empty when blank: the root (or target) group is the parent (§5.3)."""
    canvas_id: str | None


ParsedRow = GroupRow | OutcomeRow | RowError
_CellLookup = Callable[[str], str | None]


class _Rejected(Exception):
    """Ends the checks of one row; turned into a RowError at the module boundary."""


def parse_header(cells: Sequence[bytes | None]) -> Header:
    """Check record 1 (spec §4.4) and return the column layout.

    Order: a null cell before `ratings` raises `NullHeaderCell` (Canvas crashes before its
    checks); then non-blank cells after `ratings`, missing required names, unknown names,
    each raising `ImportFailed` with Canvas's exact message. Names are exact bytes compared
    as UTF-8; invalid bytes never match and are shown as `\\xNN` in messages.
    """
    ratings_at = next((i for i, cell in enumerate(cells) if cell == _RATINGS_MARKER), len(cells))
    for position, cell in enumerate(cells[:ratings_at]):
        if cell is None:
            raise NullHeaderCell(position)
    after_ratings = [decode_lenient(cell) for cell in cells[ratings_at + 1 :] if cell is not None]
    stray = [name for name in after_ratings if not is_blank(name)]
    if stray:
        raise ImportFailed(f"Invalid fields after ratings: {inspect_list(stray)}")
    names = tuple(decode_lenient(cell) for cell in cells[:ratings_at] if cell is not None)
    missing = [name for name in REQUIRED_FIELDS if name not in names]
    if missing:
        raise ImportFailed(f"Missing required fields: {inspect_list(missing)}")
    unknown = [name for name in names if name not in _KNOWN_FIELDS]
    if unknown:
        raise ImportFailed(f"Invalid fields: {inspect_list(unknown)}")
    return Header(
        names=names,
        columns={name: index for index, name in enumerate(names)},
        width=ratings_at,
        has_course_id="course_id" in names,
    )


def parse_row(header: Header, record_number: int, cells: Sequence[bytes | None]) -> ParsedRow | None:
    """Apply the stateless row rules to one data record; None means skip it silently.

    Order (spec §6.1): UTF-8 of each cell left to right; all blank -> None; ratings (§5.2);
    mastery_points; friendly_description length; vendor_guid required, title required,
    vendor_guid whitespace, workflow_state; object_type; then for groups the outcome-only
    fields (§6.2 step 1) and for outcomes a non-blank course_id (§6.3 step 1). The first
    failing check gives a one-message RowError. Short records read as null-padded (§4.5).
    """
    texts: list[str | None] = []
    for cell in cells:
        if cell is None:
            texts.append(None)
            continue
        try:
            texts.append(cell.decode("utf-8"))
        except UnicodeDecodeError:
            return RowError(record_number, (f"Not a valid utf-8 string: {inspect(cell)}",))
    if all(is_blank(text) for text in texts):
        return None
    try:
        return _parse_checked_row(header, record_number, texts)
    except _Rejected as rejected:
        return RowError(record_number, (str(rejected),))


def _parse_checked_row(header: Header, record_number: int, texts: list[str | None]) -> GroupRow | OutcomeRow:
    def cell(name: str) -> str | None:
        index = header.columns.get(name)
        return texts[index] if index is not None and index < len(texts) else None

    ratings, tiers_complete = _parse_ratings(texts[header.width :])
    mastery_points = _parse_mastery_points(cell("mastery_points"))
    friendly_description = cell("friendly_description")
    if is_present(friendly_description) and len(friendly_description) > MAX_FRIENDLY_DESCRIPTION:
        raise _Rejected("Friendly description is too long (maximum is 255 characters)")
    vendor_guid, title, workflow_state = _check_object(
        cell("vendor_guid"), cell("title"), cell("workflow_state")
    )
    object_type = cell("object_type")
    parent_guids = _parse_parent_guids(cell("parent_guids"))
    if object_type == "group":
        _check_group_fields(header, cell, has_ratings=bool(ratings))
        group_description = cell("description") or ""
        return GroupRow(
            row=record_number,
            vendor_guid=vendor_guid,
            title=title,
            description=sanitize_html(group_description),
            raw_description=group_description,
            workflow_state=workflow_state,
            parent_guids=parent_guids,
            course_id=_present_or_none(cell("course_id")),
            canvas_id=cell("canvas_id"),
        )
    if object_type == "outcome":
        if is_present(cell("course_id")):
            raise _Rejected(f"Invalid fields for an outcome: {inspect_list(['course_id'])}")
        raw_description = cell("description")
        return OutcomeRow(
            row=record_number,
            vendor_guid=vendor_guid,
            title=title,
            description=sanitize_html(raw_description) if is_present(raw_description) else None,
            raw_description=raw_description,
            display_name=cell("display_name"),
            calculation_method=_present_or_none(cell("calculation_method")),
            calculation_int=_present_or_none(cell("calculation_int")),
            ratings=ratings,
            tiers_complete=tiers_complete,
            mastery_points=mastery_points,
            friendly_description=_present_or_none(friendly_description),
            workflow_state=workflow_state,
            parent_guids=parent_guids,
            canvas_id=cell("canvas_id"),
        )
    # Canvas interpolates the raw value (nil as ""), not its inspect.
    raise _Rejected(f'Invalid object_type: "{object_type or ""}"')


def _parse_ratings(cells: Sequence[str | None]) -> tuple[tuple[Rating, ...], bool]:
    """Rating cells -> tiers (§5.2); also whether every tier had a description cell."""
    end = len(cells)
    while end and cells[end - 1] is None:
        end -= 1
    tiers: list[Rating] = []
    complete = True
    prior: float | None = None
    for index, start in enumerate(range(0, end, 2), start=1):
        raw_points = cells[start]
        if raw_points is None or is_blank(raw_points):
            raise _Rejected(f"Points for rating tier {index} not present")
        points = parse_number(raw_points)
        if points is None:
            raise _Rejected(f'Invalid value for rating tier {index} threshold: "{raw_points}"')
        if prior is not None and prior < points:
            raise _Rejected(
                f"Points for tier {index} must be less than points for prior tier "
                f"({format_float(points)} is greater than {format_float(prior)})"
            )
        prior = points
        description = cells[start + 1] if start + 1 < end else None
        if description is None:
            complete = False
            tiers.append(Rating(points, NO_COMMENT))
        else:
            tiers.append(Rating(points, sanitize_html(description)))
    return tuple(tiers), complete


def _parse_mastery_points(raw: str | None) -> float | None:
    if raw is None or is_blank(raw):
        return None
    points = parse_number(raw)
    if points is None:
        raise _Rejected(f'Invalid value for mastery points: "{raw}"')
    return points


def _check_object(
    vendor_guid: str | None, title: str | None, workflow_state: str | None
) -> tuple[str, str, WorkflowState]:
    """Canvas `check_object`, in its order; returns the checked values."""
    if vendor_guid is None or is_blank(vendor_guid):
        raise _Rejected('The "vendor_guid" field is required')
    if title is None or is_blank(title):
        raise _Rejected('The "title" field is required')
    if has_ascii_whitespace(vendor_guid):
        raise _Rejected('The "vendor_guid" field must have no spaces')
    # Canvas accepts exactly nil, "", "active", "deleted": a whitespace-only cell is rejected.
    if workflow_state not in (None, "", WorkflowState.ACTIVE, WorkflowState.DELETED):
        raise _Rejected('"workflow_state" must be either "active" or "deleted"')
    state = WorkflowState.DELETED if workflow_state == WorkflowState.DELETED else WorkflowState.ACTIVE
    return vendor_guid, title, state


def _check_group_fields(header: Header, cell: _CellLookup, *, has_ratings: bool) -> None:
    """§6.2 step 1: outcome-only columns in header order (first occurrence), then ratings."""
    invalid = [
        name
        for name in dict.fromkeys(header.names)
        if name in _OUTCOME_ONLY_FIELDS and is_present(cell(name))
    ]
    if has_ratings:
        invalid.append("ratings")
    if invalid:
        raise _Rejected(f"Invalid fields for a group: {inspect_list(invalid)}")


def _parse_parent_guids(raw: str | None) -> tuple[str, ...]:
    """Canvas `parent_guids.strip.split.uniq`; blank -> () (the root or target group)."""
    if raw is None or is_blank(raw):
        return ()
    return tuple(dict.fromkeys(split_words(raw)))


def _present_or_none(value: str | None) -> str | None:
    return value if is_present(value) else None
