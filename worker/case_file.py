"""The rows of one stored CASE package, in batches: the same GroupRow, OutcomeRow and RowError
values an Outcomes CSV gives, so that every rule, batch and the transaction of a CSV import apply.

Each row is made as a CSV row would be: the CFDocument or CFItem is written as the cells of a
record under a fixed header (`CASE_HEADER`) and given to worker/rows.py's parse_row, so
sanitising, bounds and checks are the CSV path's own. The mapping (README, "CASE packages"):
the CFDocument is a group (row 1) under the import's target; CFItems[i] is row i + 2, a group
when some item is isChildOf it, else an outcome; its parents are its isChildOf destinations, or
the CFDocument's group. worker/case_graph.py reads the package's shape first, in one pass, and
says in which read of CFItems each item is emitted so that parents come first.

A package written by our export (api/case_export.py) carries each object's exact Canvas values in
`extensions.outcomeImports`; they are preferred to the values derived from the CASE fields, so that
the export imports back with no change, and a CFDocument marked `context_root` makes no group.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator, Mapping, Sequence
from decimal import Decimal
from typing import Any, Final

import ijson

from shared.errors import ImportFailed
from shared.storage import Storage
from worker.case_graph import (
    DOCUMENT,
    EXTENSION,
    CaseShape,
    CycleFound,
    identifier_text,
    pushed_events,
    read_shape,
)
from worker.outcome_rules import apply_outcome_row
from worker.outcomes_file import NUL_IN_CELL, BatchRow, FileLimits
from worker.rows import Header, OutcomeRow, RowError, parse_header, parse_row

CASE_JSON: Final = "case_json"
_COLUMNS: Final = (
    "vendor_guid",
    "object_type",
    "title",
    "description",
    "display_name",
    "parent_guids",
    "calculation_method",
    "calculation_int",
    "mastery_points",
)
CASE_HEADER: Final[Header] = parse_header([name.encode() for name in (*_COLUMNS, "ratings")])
MAX_TITLE: Final = 255
OPTION_NAMES: Final = ("calculation_method", "calculation_int", "mastery_points")


def case_title(code: str, statement: str) -> str:
    """`humanCodingScheme statement`, whitespace collapsed, cut to 255 characters (with an ellipsis)."""
    title = " ".join(f"{code} {statement}".split())
    return title if len(title) <= MAX_TITLE else title[: MAX_TITLE - 1] + "\u2026"


def case_description(*texts: str) -> str | None:
    """Plain-text statements as HTML paragraphs (escaped; line breaks kept), None when all are blank."""
    paragraphs = [
        "<p>" + html.escape(text.strip()).replace("\n", "<br>") + "</p>" for text in texts if text and text.strip()
    ]
    return "".join(paragraphs) or None


def _text(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    return str(value)


def _points(score: float) -> str:
    return str(int(score)) if score.is_integer() else repr(score)


def _number_text(value: Any) -> str | None:
    """A JSON number of an extension as a CSV cell (digits, never an exponent); None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int) or value.is_integer():
        return str(int(value))
    text = repr(value)
    return format(Decimal(text), "f") if "e" in text or "E" in text else text


def _extension(item: dict[str, Any]) -> dict[str, Any] | None:
    """The item's `extensions.outcomeImports` object (our export's exact Canvas fields), if any."""
    extensions = item.get("extensions")
    found = extensions.get(EXTENSION) if isinstance(extensions, dict) else None
    return found if isinstance(found, dict) else None


def _optional_text(mapping: Mapping[str, Any], key: str, otherwise: str | None) -> str | None:
    """mapping[key] when the key is there (a string, or None for null/other), else `otherwise`."""
    if key not in mapping:
        return otherwise
    value = mapping[key]
    return value if isinstance(value, str) else None


class CaseFile:
    """Read once: read_header() (the first pass), then batches() (one or more reads of CFItems)."""

    def __init__(
        self,
        storage: Storage,
        object_key: str,
        limits: FileLimits,
        import_id: int,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        self._storage = storage
        self._key = object_key
        self._limits = limits
        self._import_id = import_id
        options = options or {}
        self._option_cells = [options.get(name) or None for name in OPTION_NAMES]
        self._default_ratings: list[str] = [str(cell) for cell in options.get("ratings") or []]
        self._shape: CaseShape | None = None
        # The identifier of every group item emitted so far: its children name it. Groups only
        # (in published frameworks a few percent of the items); outcomes are never kept.
        self._group_ids: dict[int, str] = {}

    @property
    def record_count(self) -> int:
        """The CFDocument and the CFItems (after read_header)."""
        return 1 + (self._shape.item_count if self._shape else 0)

    @property
    def associations_skipped(self) -> int:
        return self._shape.associations_skipped if self._shape else 0

    async def read_header(self) -> Header:
        """Read the package's shape; raise ImportFailed for a file that is not a CASE package or
        request parameters that a CSV's columns would not accept."""
        self._check_options()
        stream = self._storage.open_stream(self._key)
        try:
            self._shape = await read_shape(stream)
        except CycleFound as cycle:
            identifier = await self._identifier_at(cycle.position)
            raise ImportFailed(
                f'Not a valid CASE package: CFItem "{identifier}" (CFItems[{cycle.position}]) is isChildOf itself'
                " through its isChildOf associations (a cycle)"
            ) from cycle
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
        if self.record_count > self._limits.max_records:
            raise ImportFailed(f"Too many records (maximum is {self._limits.max_records})")
        return CASE_HEADER

    def _check_options(self) -> None:
        probe = self._cells("probe", "outcome", "Probe", None, None, "", self._default_ratings)
        parsed = parse_row(CASE_HEADER, 1, probe)
        # An outcome of no stored state: the model's checks of calculation_method and calculation_int.
        applied = apply_outcome_row(parsed, None) if isinstance(parsed, OutcomeRow) else None
        messages = parsed.messages if isinstance(parsed, RowError) else applied if isinstance(applied, list) else []
        if messages:
            raise ImportFailed(f"Invalid request parameters for the CASE import: {'; '.join(messages)}")

    async def _identifier_at(self, position: int) -> str:
        async for at, item in self._items():
            if at == position:
                return identifier_text(item.get("identifier") if isinstance(item, dict) else None)
        return ""

    async def _items(self) -> AsyncIterator[tuple[int, Any]]:
        prefix = self._shape.prefix if self._shape else await self._prefix()
        stream = self._storage.open_stream(self._key)
        try:
            position = 0
            async for items in pushed_events(stream, ijson.items_coro, f"{prefix}CFItems.item", use_float=True):
                # No explicit switch: each read of a stored chunk (256 KiB, a few hundred items) lets
                # the batch being applied, and the write in flight, go on.
                for item in items:
                    yield position, item
                    position += 1
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    async def _prefix(self) -> str:
        stream = self._storage.open_stream(self._key)
        try:
            async for events in pushed_events(stream, ijson.parse_coro):
                if len(events) >= 2:
                    return "CFPackage." if events[1][1:] == ("map_key", "CFPackage") else ""
            return ""
        finally:
            await stream.aclose()  # type: ignore[attr-defined]

    async def batches(self) -> AsyncIterator[tuple[list[BatchRow], int]]:
        """(rows, 1 + the items emitted so far): the CFDocument's group, then the items, parents
        first, in batches of batch_size rows."""
        shape = self._shape
        assert shape is not None, "read_header() first"
        batch_size = self._limits.batch_size
        document_row = self._document_row(shape)
        batch: list[BatchRow] = [] if document_row is None else [document_row]
        emitted = 0
        for read in range(shape.reads):
            async for position, item in self._items():
                if shape.read_of[position] != read:
                    continue
                batch.append(self._item_row(shape, position, item))
                emitted += 1
                if len(batch) >= batch_size:
                    yield batch, emitted + 1
                    batch = []
        if batch:
            yield batch, emitted + 1

    def _document_row(self, shape: CaseShape) -> BatchRow | None:
        """The CFDocument's group row; None for a document that is the context's root (our export
        of a context with several top-level groups): its children go under the import's target."""
        extension = shape.document_extension
        if extension.get("context_root") is True:
            return None
        title = extension.get("title")
        cells = self._cells(
            shape.document_identifier,
            "group",
            title if isinstance(title, str) else case_title("", shape.document_title),
            _optional_text(extension, "description", case_description(shape.document_description))
            if isinstance(title, str)
            else case_description(shape.document_description),
            None,
            "",
            [],
        )
        return self._parsed(1, cells, f'CFDocument "{shape.document_identifier}"')

    def _item_row(self, shape: CaseShape, position: int, item: Any) -> BatchRow:
        row = position + 2
        if not isinstance(item, dict):
            return RowError(row, (f"CFItems[{position}] is not an object",))
        identifier = identifier_text(item.get("identifier"))
        if not identifier:
            return RowError(row, (f"CFItems[{position}] has no identifier",))
        name = f'CFItem "{identifier}"'
        extension = _extension(item)
        # An empty group of our export has no children: its extension says it is a group.
        is_group = bool(shape.has_children[position]) or bool(extension and extension.get("object_type") == "group")
        if is_group:
            self._group_ids[position] = identifier
        if position in shape.duplicates:
            return RowError(row, (f"{name}: an earlier CFItem or the CFDocument has the same identifier",))
        if position in shape.unknown_parent:
            index = shape.unknown_parent[position]
            return RowError(row, (f"{name}: its parent in CFAssociations[{index}] (isChildOf) is not in the package",))
        # The document that is the context's root has no group: its children go under the target
        # (blank parent_guids), which cannot be named beside other parents.
        document_guid = None if shape.document_extension.get("context_root") is True else shape.document_identifier
        parent_guids = [
            document_guid if parent == DOCUMENT else self._group_ids[parent] for parent in shape.parents_of(position)
        ] or [document_guid]
        guids = " ".join(guid for guid in parent_guids if guid is not None)
        code = _text(item.get("humanCodingScheme"))
        full = _text(item.get("fullStatement"))
        statement = _text(item.get("abbreviatedStatement")) or full
        description = case_description(full, _text(item.get("notes")))
        title = case_title(code, statement)
        display_name = code or None
        options: list[str | None] | None = None
        ratings: Sequence[str] | None = None
        if extension is not None:  # our export: the exact fields, as a CSV export's cells are
            exact_title = extension.get("title")
            title = exact_title if isinstance(exact_title, str) else title
            description = _optional_text(extension, "description", description)
            display_name = _optional_text(extension, "display_name", display_name)
            options = [
                _optional_text(extension, "calculation_method", None),
                _number_text(extension.get("calculation_int")),
                _number_text(extension.get("mastery_points")),
            ]
            if isinstance(extension.get("ratings"), list):
                ratings = [
                    cell
                    for rating in extension["ratings"]
                    if isinstance(rating, dict)
                    for cell in (_number_text(rating.get("points")) or "", _text(rating.get("description")))
                ]
        if is_group:
            cells = self._cells(identifier, "group", title, description, None, guids, [])
        else:
            rubric = shape.rubrics.get(position)
            if ratings is None:
                ratings = (
                    [cell for score, text in rubric.levels for cell in (_points(score), html.escape(text))]
                    if rubric
                    else self._default_ratings
                )
            cells = self._cells(identifier, "outcome", title, description, display_name, guids, ratings, options)
        return self._parsed(row, cells, name)

    def _cells(
        self,
        vendor_guid: str,
        object_type: str,
        title: str,
        description: str | None,
        display_name: str | None,
        parent_guids: str,
        ratings: Sequence[str],
        options: Sequence[str | None] | None = None,
    ) -> list[bytes | None]:
        # A CSV group row leaves the outcome columns blank.
        if object_type != "outcome":
            options = [None] * len(OPTION_NAMES)
        elif options is None:
            options = self._option_cells
        texts: list[str | None] = [
            vendor_guid,
            object_type,
            title,
            description,
            display_name,
            parent_guids or None,
            *options,
        ]
        cells = [None if text is None else text.encode() for text in texts]
        cells.extend(cell.encode() for cell in ratings)
        return cells

    @staticmethod
    def _parsed(row: int, cells: list[bytes | None], name: str) -> BatchRow:
        if any(cell is not None and b"\x00" in cell for cell in cells):
            return RowError(row, (f"{name}: {NUL_IN_CELL}",))
        parsed = parse_row(CASE_HEADER, row, cells)
        if parsed is None:  # every cell blank: the vendor_guid alone never is
            return RowError(row, (f"{name} is empty",))
        if isinstance(parsed, RowError):
            return RowError(row, tuple(f"{name}: {message}" for message in parsed.messages))
        return parsed
