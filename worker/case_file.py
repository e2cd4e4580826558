"""The rows of one stored CASE package, in batches: the same GroupRow, OutcomeRow and RowError
values an Outcomes CSV gives, so that every rule, batch and the transaction of a CSV import apply.

Each row is made as a CSV row would be: the CFDocument or CFItem is written as the cells of a
record under a fixed header (`CASE_HEADER`) and given to worker/rows.py's parse_row, so
sanitising, bounds and checks are the CSV path's own. The mapping (README, "CASE packages"):
the CFDocument is a group (row 1) under the import's target; CFItems[i] is row i + 2, a group
when some item is isChildOf it, else an outcome; its parents are its isChildOf destinations, or
the CFDocument's group. worker/case_graph.py reads the package's shape first, in one pass, and
says in which read of CFItems each item is emitted so that parents come first.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, Final

import ijson

from shared.errors import ImportFailed
from shared.storage import Storage
from worker.case_graph import DOCUMENT, CaseShape, CycleFound, identifier_text, pushed_events, read_shape
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
        batch: list[BatchRow] = [self._document_row(shape)]
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

    def _document_row(self, shape: CaseShape) -> BatchRow:
        cells = self._cells(
            shape.document_identifier,
            "group",
            case_title("", shape.document_title),
            case_description(shape.document_description),
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
        is_group = bool(shape.has_children[position])
        if is_group:
            self._group_ids[position] = identifier
        if position in shape.duplicates:
            return RowError(row, (f"{name}: an earlier CFItem or the CFDocument has the same identifier",))
        if position in shape.unknown_parent:
            index = shape.unknown_parent[position]
            return RowError(row, (f"{name}: its parent in CFAssociations[{index}] (isChildOf) is not in the package",))
        parent_guids = [
            shape.document_identifier if parent == DOCUMENT else self._group_ids[parent]
            for parent in shape.parents_of(position)
        ] or [shape.document_identifier]
        code = _text(item.get("humanCodingScheme"))
        full = _text(item.get("fullStatement"))
        statement = _text(item.get("abbreviatedStatement")) or full
        description = case_description(full, _text(item.get("notes")))
        title = case_title(code, statement)
        if is_group:
            cells = self._cells(identifier, "group", title, description, None, " ".join(parent_guids), [])
        else:
            rubric = shape.rubrics.get(position)
            ratings = (
                [cell for score, text in rubric.levels for cell in (_points(score), html.escape(text))]
                if rubric
                else self._default_ratings
            )
            guids = " ".join(parent_guids)
            cells = self._cells(identifier, "outcome", title, description, code or None, guids, ratings)
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
    ) -> list[bytes | None]:
        # A CSV group row leaves the outcome columns blank.
        options = self._option_cells if object_type == "outcome" else [None] * len(OPTION_NAMES)
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
