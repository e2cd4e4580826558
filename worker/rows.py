"""Pure row rules of the importer: header check, then cells -> GroupRow | OutcomeRow | RowError.

Restates spec §4.4, §4.5, §5 and §6.1 (Canvas `Outcomes::CSVImporter#validate_headers`,
`#import_row`, `#parse_ratings` and `Outcomes::Import#check_object`, `#import_group`,
`#import_outcome` up to the first database lookup). Nothing here does I/O or needs stored
state; rules that do (§5.1 lookups, §5.3 parents, §5.6 course lookups, model validation)
belong to the worker and `worker.outcome_rules`.

A bad row is data (`RowError`), never an exception; a bad header is `ImportFailed`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from enum import StrEnum
from typing import Any, Final, TypeGuard, TypeVar

from shared.errors import ImportFailed
from worker.parse_caches import ParseCache, text_bytes
from worker.ruby import (
    RUBY_SPACE_CHARS,
    decode_lenient,
    format_float,
    inspect,
    inspect_list,
    is_blank,
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
    layout: tuple[int, ...] = field(init=False, compare=False, repr=False)
    """Cell index of each of `_LAYOUT_FIELDS`, `width` for an absent column: `parse_row` pads
    the named cells with a null at `width`, so each field is one list index away."""
    group_only_checks: tuple[tuple[str, int], ...] = field(init=False, compare=False, repr=False)
    """(name, cell index) of the outcome-only columns, in header order of first occurrence."""
    padding: tuple[None, ...] = field(init=False, compare=False, repr=False)
    """`width + 1` nulls."""

    def __post_init__(self) -> None:
        # Worked out once per file rather than once per row.
        layout = tuple(self.columns.get(name, self.width) for name in _LAYOUT_FIELDS)
        checks = tuple((name, self.columns[name]) for name in dict.fromkeys(self.names) if name in _OUTCOME_ONLY_FIELDS)
        object.__setattr__(self, "layout", layout)
        object.__setattr__(self, "group_only_checks", checks)
        object.__setattr__(self, "padding", (None,) * (self.width + 1))


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


# Fast construction of the frozen row values, for the hot path (one per CSV row).
#
# A frozen dataclass's __init__ stores each field with a call to object.__setattr__, which makes
# building an OutcomeRow cost more than all the checks of its row. A builder has the very same
# slots as its dataclass, in the same order, and an __init__ that fills them with plain attribute
# stores; it then turns the instance into the dataclass (`__class__` assignment, which CPython
# allows between classes of identical layout). The result is an ordinary instance of the
# dataclass, equal to, hashing like and as frozen as one built by its own __init__
# (tests/unit/test_fast_paths.py). Both the slots and the __init__ are made from the dataclass's
# fields, as dataclasses makes its own __init__, so they cannot drift from it.

T = TypeVar("T")


def positional_builder(cls: type[T]) -> Callable[..., T]:
    """`cls(...)` for a frozen dataclass with slots, taking every field positionally in order, faster."""
    names = tuple(f.name for f in fields(cls))  # type: ignore[arg-type]
    stores = "".join(f"    self.{name} = {name}\n" for name in names)
    namespace: dict[str, Any] = {"cls": cls}
    exec(f"def __init__(self, {', '.join(names)}):\n{stores}    self.__class__ = cls\n", namespace)
    return type(f"{cls.__name__}Builder", (), {"__slots__": names, "__init__": namespace["__init__"]})


build_group_row = positional_builder(GroupRow)
"""`GroupRow(...)` with positional arguments in field order, faster (see above)."""
build_outcome_row = positional_builder(OutcomeRow)
"""`OutcomeRow(...)` with positional arguments in field order, faster (see above)."""


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
    width = header.width
    # Rating cells seen before (most files repeat one scale on every row) are known to be valid
    # UTF-8, and their tiers (or error) are known: then only the named cells are decoded.
    rated = _NO_RATINGS if len(cells) <= width else _rated_cells.get(tuple(cells[width:]))
    try:
        if rated is None:
            texts = [None if cell is None else cell.decode() for cell in cells]  # decode(): UTF-8, strict
            named = texts[:width]
        else:
            named = [None if cell is None else cell.decode() for cell in cells[:width]]
            texts = named
    except UnicodeDecodeError:
        return _invalid_utf8(record_number, cells)
    for text in texts:
        if text is not None and text.strip(RUBY_SPACE_CHARS):
            break
    else:
        # Every cell decoded is blank; with known rating cells, those decide.
        if rated is None or not any(_present(text) for text in _decoded(cells[width:])):
            return None  # every cell is blank
    if rated is None:
        rated = _rate(cells, texts, width)
    try:
        return _parse_checked_row(header, record_number, named, rated)
    except _Rejected as rejected:
        return RowError(record_number, (str(rejected),))


def _decoded(cells: Sequence[bytes | None]) -> list[str | None]:
    return [None if cell is None else cell.decode() for cell in cells]


def _invalid_utf8(record_number: int, cells: Sequence[bytes | None]) -> RowError:
    """The error for the first cell, left to right, that is not valid UTF-8."""
    for cell in cells:
        if cell is None:
            continue
        try:
            cell.decode("utf-8")
        except UnicodeDecodeError:
            return RowError(record_number, (f"Not a valid utf-8 string: {inspect(cell)}",))
    raise AssertionError("a cell failed to decode once and not again")


# The fields parse_row reads, in the order of Header.layout (unpacked in _parse_checked_row).
_LAYOUT_FIELDS: Final = ("vendor_guid", "title", "object_type", *OPTIONAL_FIELDS)
_NO_RATINGS: Final[tuple[tuple[Rating, ...], bool]] = ((), True)


def _parse_checked_row(
    header: Header, record_number: int, named: list[str | None], rated: _Rated
) -> GroupRow | OutcomeRow:
    """The checks after the blank-row test; `named` (a list of its own) holds the cells before
    `ratings`, `rated` what `_rate` made of the cells from there."""
    # Runs once per row: the checks of _check_object and the `_present` tests are written out
    # inline (same rules, same order) to save a function call each.
    named.extend(header.padding[len(named) :])  # short records read as null; [width] is null too
    (
        vendor_guid_at,
        title_at,
        object_type_at,
        canvas_id_at,
        course_id_at,
        description_at,
        friendly_at,
        display_name_at,
        parent_guids_at,
        method_at,
        int_at,
        mastery_at,
        workflow_state_at,
    ) = header.layout
    if isinstance(rated, str):
        raise _Rejected(rated)
    ratings, tiers_complete = rated
    raw_mastery = named[mastery_at]
    # A cached parse without the call (a miss, or a cached 0.0 or error, goes through it).
    mastery_points = (
        None if raw_mastery is None else _mastery_cache.get(raw_mastery) or _parse_mastery_points(raw_mastery)
    )
    friendly_description = named[friendly_at]
    if friendly_description is not None:
        if not friendly_description.strip(RUBY_SPACE_CHARS):
            friendly_description = None  # blank
        elif len(friendly_description) > MAX_FRIENDLY_DESCRIPTION:
            raise _Rejected("Friendly description is too long (maximum is 255 characters)")
    # Canvas `check_object`, in its order.
    vendor_guid = named[vendor_guid_at]
    if vendor_guid is None or not vendor_guid.strip(RUBY_SPACE_CHARS):
        raise _Rejected('The "vendor_guid" field is required')
    title = named[title_at]
    if title is None or not title.strip(RUBY_SPACE_CHARS):
        raise _Rejected('The "title" field is required')
    # Without the regex for most guids: ASCII whitespace other than " " is not printable.
    if (" " in vendor_guid or not vendor_guid.isprintable()) and _search_ascii_whitespace(vendor_guid):
        raise _Rejected('The "vendor_guid" field must have no spaces')
    # Canvas accepts exactly nil, "", "active", "deleted": a whitespace-only cell is rejected.
    raw_state = named[workflow_state_at]
    if not raw_state or raw_state == "active":
        workflow_state = WorkflowState.ACTIVE
    elif raw_state == "deleted":
        workflow_state = WorkflowState.DELETED
    else:
        raise _Rejected('"workflow_state" must be either "active" or "deleted"')
    object_type = named[object_type_at]
    raw_parents = named[parent_guids_at]
    # A cached parse without the call (a miss, or a cached (), goes through it).
    parent_guids = () if raw_parents is None else _parents_cache.get(raw_parents) or _parent_guids(raw_parents)
    if object_type == "outcome":
        course_id = named[course_id_at]
        if course_id is not None and course_id.strip(RUBY_SPACE_CHARS):
            raise _Rejected(f"Invalid fields for an outcome: {inspect_list(['course_id'])}")
        raw_description = named[description_at]
        method = named[method_at]
        calculation_int = named[int_at]
        return build_outcome_row(
            record_number,
            vendor_guid,
            title,
            (
                sanitize_html(raw_description)
                if raw_description is not None and raw_description.strip(RUBY_SPACE_CHARS)
                else None
            ),
            raw_description,
            named[display_name_at],
            method if method is not None and method.strip(RUBY_SPACE_CHARS) else None,
            calculation_int if calculation_int is not None and calculation_int.strip(RUBY_SPACE_CHARS) else None,
            ratings,
            tiers_complete,
            mastery_points,
            friendly_description,
            workflow_state,
            parent_guids,
            named[canvas_id_at],
        )
    if object_type == "group":
        invalid = [name for name, index in header.group_only_checks if _present(named[index])]
        if ratings:
            invalid.append("ratings")
        if invalid:
            raise _Rejected(f"Invalid fields for a group: {inspect_list(invalid)}")
        group_description = named[description_at] or ""
        course_id = named[course_id_at]
        return build_group_row(
            record_number,
            vendor_guid,
            title,
            sanitize_html(group_description),
            group_description,
            workflow_state,
            parent_guids,
            course_id if _present(course_id) else None,
            named[canvas_id_at],
        )
    # Canvas interpolates the raw value (nil as ""), not its inspect.
    raise _Rejected(f'Invalid object_type: "{object_type or ""}"')


def _present(value: str | None) -> TypeGuard[str]:
    """`is_present` for the hot path (the same rule)."""
    return value is not None and bool(value.strip(RUBY_SPACE_CHARS))


# What the rating cells of a record give (tiers and whether all had a description, or the error
# message), by the raw cells: most files repeat the same scale on every row. An entry is made
# only for cells that decoded, so a hit also says they are valid UTF-8 (see parse_row). A parse
# is a pure function of the cells, so a hit gives what parsing again would. Long cells are
# not kept: worker/parse_caches.py bounds every parse cache in bytes.
_Rated = tuple[tuple[Rating, ...], bool] | str
_RATED: Final = ParseCache[tuple[bytes | None, ...], _Rated](1024)
_rated_cells: Final = _RATED.entries


def _rate(cells: Sequence[bytes | None], texts: list[str | None], width: int) -> _Rated:
    """The rating cells (from `width` on, `texts` decoded from `cells`) -> tiers (§5.2) and
    whether every tier had a description, or the message of the first error; remembered."""
    if len(cells) <= width:
        return _NO_RATINGS
    end = len(texts)
    while end > width and texts[end - 1] is None:
        end -= 1
    rated: _Rated
    if end == width:
        rated = _NO_RATINGS
    else:
        try:
            rated = _parse_rating_cells(texts[width:end])
        except _Rejected as rejected:
            rated = str(rejected)
    key = tuple(cells[width:])
    _RATED.remember(key, rated, text_bytes(key) + _rated_bytes(rated))
    return rated


def _rated_bytes(rated: _Rated) -> int:
    if isinstance(rated, str):
        return text_bytes((rated,))
    return text_bytes(tier.description for tier in rated[0])


def _parse_rating_cells(cells: Sequence[str | None]) -> tuple[tuple[Rating, ...], bool]:
    """Rating cells without trailing nulls -> tiers (§5.2), and whether every tier had a description."""
    end = len(cells)
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
    return shared_ratings(tuple(tiers)), complete


# Equal rating scales as one tuple, however each was made (from a row's cells here, or from the
# JSON text read back, worker/batch_state.py): a re-import compares every row's tiers with the
# stored ones (outcome_rules._replaced_rubric), and the same tuple compares by identity, where
# equal ones cost a Rating.__eq__ call per tier. Looked up only when a scale is parsed.
_SCALES: Final = ParseCache[tuple[Rating, ...], tuple[Rating, ...]](1024)
_scales: Final = _SCALES.entries


def shared_ratings(ratings: tuple[Rating, ...]) -> tuple[Rating, ...]:
    """The tuple equal to `ratings` seen first (since the caches were last emptied), else `ratings`."""
    shared = _scales.get(ratings)
    if shared is None:
        _SCALES.remember(ratings, ratings, text_bytes(tier.description for tier in ratings))
        return ratings
    return shared


_MASTERY: Final = ParseCache[str, float | None](1024)
_mastery_cache: Final = _MASTERY.entries


def _parse_mastery_points(raw: str) -> float | None:
    if raw in _mastery_cache:
        points = _mastery_cache[raw]
    elif is_blank(raw):
        return None
    else:
        points = parse_number(raw)
        _MASTERY.remember(raw, points, text_bytes((raw,)))
    if points is None:
        raise _Rejected(f'Invalid value for mastery points: "{raw}"')
    return points


def _parse_parent_guids(raw: str) -> tuple[str, ...]:
    """Canvas `parent_guids.strip.split.uniq`; blank -> () (the root or target group)."""
    if not raw.strip(RUBY_SPACE_CHARS):
        return ()
    if not _SPLITS_OR_STRIPS.search(raw):
        return (raw,)  # one word: what strip.split.uniq would give
    return tuple(dict.fromkeys(split_words(raw)))


# Characters that make `strip.split` do more than return the cell as its one word.
_SPLITS_OR_STRIPS: Final = re.compile("[ \t\n\v\f\r\x00]")

# Parsed parent_guids cells by their text: a parent names many rows in turn (a pure function).
_PARENTS: Final = ParseCache[str, tuple[str, ...]](4096)
_parents_cache: Final = _PARENTS.entries


def _parent_guids(raw: str) -> tuple[str, ...]:
    """`_parse_parent_guids`, cached (worker/parse_caches.py bounds the cache in bytes)."""
    guids = _parents_cache.get(raw)
    if guids is None:
        guids = _parse_parent_guids(raw)
        _PARENTS.remember(raw, guids, text_bytes((raw, *guids)))
    return guids


# `has_ascii_whitespace` without its call (Ruby `match?(/\s/)`).
_search_ascii_whitespace: Final = re.compile("[ \t\n\v\f\r]").search
