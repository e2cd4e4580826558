"""The first pass over a stored CASE package: its shape as integers, and the order to import it in.

A CASE package (1EdTech Competencies and Academic Standards Exchange, 1.0 or 1.1, bare or as
{"CFPackage": ...}) names its tree in CFAssociations of type isChildOf (origin: the child,
destination: the parent, a CFItem or the CFDocument). One streamed read (ijson's C backend)
learns that tree with no text kept but the CFDocument's: each CFItem is a 64-bit hash of its
identifier (kept in CFItems order, and sorted for look-ups), each isChildOf edge two item
positions. About 30 bytes per item and per association, whatever the statements' length
(README, "CASE packages").

The importer needs a group's row before the rows that name it as a parent (CSV semantics), and
the package's order may be any: each item gets the number of the read of CFItems (worker/case_file.py)
that emits it, the smallest such that every parent comes either in an earlier read or earlier in
the same one. A package listing parents first, as published frameworks do, is one read.
"""

from __future__ import annotations

import hashlib
from array import array
from bisect import bisect_left
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

import ijson

from shared.errors import ImportFailed

IS_CHILD_OF: Final = "isChildOf"
EXTENSION: Final = "outcomeImports"
"""The member of an object's `extensions` (CASE 1.1) in which our export (api/case_export.py) carries
what CASE cannot say: the exact Canvas fields, so that its package imports back with no change."""
DOCUMENT: Final = -1
"""The parent position of an item whose parent is the CFDocument (its group)."""
NO_IDENTIFIER: Final = 0
"""The hash of a CFItem without an identifier (no real identifier hashes to 0 with any likelihood)."""
MAX_READS: Final = 64
"""Reads of CFItems an import may take: a package ordered children-before-parents needs one per level."""
_MAX_MESSAGE_DETAIL: Final = 200
# Events that begin a CFItems entry that is not an object (an array, or a scalar).
_ITEM_STARTS: Final = frozenset({"start_array", "string", "number", "boolean", "null"})


class CycleFound(Exception):
    """The isChildOf associations make a cycle through the item at `position` (worker/case_file.py
    reads its identifier for the message)."""

    def __init__(self, position: int) -> None:
        super().__init__(f"isChildOf cycle through CFItems[{position}]")
        self.position = position


def identifier_text(value: Any) -> str:
    """An identifier as both reads see it: a string, or a number written as text; else ""."""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return ""


def identifier_hash(identifier: str) -> int:
    """A signed 64-bit hash of an identifier (never NO_IDENTIFIER)."""
    value = int.from_bytes(hashlib.blake2b(identifier.encode(), digest_size=8).digest(), "big", signed=True)
    return value or 1


_BOM: Final = b"\xef\xbb\xbf"
PUSH_BYTES: Final = 32 * 1024


async def pushed_events(
    chunks: AsyncIterator[bytes], parser: Any, *args: Any, **kwargs: Any
) -> AsyncIterator[list[Any]]:
    """What ijson's push parser `parser` (parse_coro, items_coro) makes of the chunks, a list per
    PUSH_BYTES of JSON (emptied once the caller has it): no await per JSON event, and no more
    than a few thousand events held at once. A leading UTF-8 BOM is skipped (RFC 8259 lets a
    parser ignore it); raises ImportFailed for text that is not JSON."""
    sink = ijson.sendable_list()
    coro = parser(sink, *args, **kwargs)
    first = True
    try:
        async for chunk in chunks:
            if first and chunk:
                chunk = chunk.removeprefix(_BOM)
                first = False
            for start in range(0, len(chunk), PUSH_BYTES):
                coro.send(chunk[start : start + PUSH_BYTES])
                if sink:
                    yield sink
                    del sink[:]
        coro.close()
    except ijson.JSONError as exc:
        raise not_json(exc) from exc
    if sink:
        yield sink


def not_json(exc: Exception) -> ImportFailed:
    # yajl's first line says what (its next lines point at the text: not for a one-line message).
    detail = (str(exc).strip().splitlines() or [""])[0][:_MAX_MESSAGE_DETAIL]
    return ImportFailed(f"The file is not valid JSON: {detail}")


@dataclass(slots=True)
class Rubric:
    """Rating tiers of a CFRubricCriterion that points at a CFItem: (score, text) by score, highest first."""

    levels: list[tuple[float, str]] = field(default_factory=list)


@dataclass(slots=True)
class CaseShape:
    """What the first pass learnt. Positions are 0-based indexes into CFItems."""

    prefix: str  # "CFPackage." for a wrapped package, else ""
    document_identifier: str
    document_title: str
    document_description: str
    item_hashes: array[int]  # by position; NO_IDENTIFIER for an item without one
    duplicates: set[int]  # positions whose identifier an earlier item (or the CFDocument) has
    parent_start: array[int]  # parents of position i: parents[parent_start[i]:parent_start[i + 1]]
    parents: array[int]  # positions, or DOCUMENT
    has_children: array[int]  # 1 for an item some item is isChildOf: a group
    unknown_parent: dict[int, int]  # position -> the CFAssociations index naming a parent not in the package
    read_of: array[int]  # the read of CFItems that emits each position
    reads: int
    rubrics: dict[int, Rubric]  # position -> its rubric criterion's levels
    associations_skipped: int  # associations that are not outcomes (other types, or from an unknown item)
    document_extension: dict[str, Any] = field(default_factory=dict)
    """The CFDocument's `extensions.outcomeImports` members read: `title`, `description` (strings,
    None for a JSON null), `context_root` (True: the document is the import's target itself)."""

    @property
    def item_count(self) -> int:
        return len(self.item_hashes)

    def parents_of(self, position: int) -> array[int]:
        return self.parents[self.parent_start[position] : self.parent_start[position + 1]]


class _Pass:
    """The event handler of the first pass: a few string comparisons per JSON event, in one loop."""

    def __init__(self) -> None:
        self.prefix: str | None = None
        self.events_seen = 0
        self.document_count = 0
        self.document: dict[str, str] = {}
        self.document_extension: dict[str, Any] = {}
        self.item_hashes = array("q")
        self.current_item = NO_IDENTIFIER
        self.edge_child = array("q")
        self.edge_parent = array("q")
        self.edge_index = array("l")
        self.associations = 0
        self.skipped = 0
        self.assoc: dict[str, str] = {}
        self.rubric_levels: dict[int, list[tuple[float, str]]] = {}
        self.criterion_item: str | None = None
        self.criterion_levels: list[tuple[float, str]] = []
        self.level: dict[str, Any] = {}

    def start(self, events: list[Any]) -> list[Any]:
        """Learn from the first events whether the package is wrapped; the events left to feed."""
        for index, (_, event, value) in enumerate(events):
            self.events_seen += 1
            if self.events_seen == 1 and event != "start_map":
                raise ImportFailed("Not a CASE package: the file is not a JSON object")
            if self.events_seen == 2:
                self.prefix = "CFPackage." if event == "map_key" and value == "CFPackage" else ""
                self._names(self.prefix)
                return events[index + 1 :]
        return []

    def _names(self, prefix: str) -> None:
        self.doc = f"{prefix}CFDocument"
        self.item = f"{prefix}CFItems.item"
        self.item_id = f"{self.item}.identifier"
        self.assoc_path = f"{prefix}CFAssociations.item"
        self.assoc_fields = {
            f"{self.assoc_path}.associationType": "associationType",
            f"{self.assoc_path}.originNodeURI.identifier": "origin",
            f"{self.assoc_path}.destinationNodeURI.identifier": "destination",
        }
        self.doc_fields = {f"{self.doc}.{name}": name for name in ("identifier", "title", "description", "notes")}
        self.doc_extension = {
            f"{self.doc}.extensions.{EXTENSION}.{name}": name for name in ("title", "description", "context_root")
        }
        self.criterion = f"{prefix}CFRubrics.item.CFRubricCriteria.item"
        self.criterion_item_path = f"{self.criterion}.CFItemURI.identifier"
        self.level_path = f"{self.criterion}.CFRubricCriterionLevels.item"
        self.level_fields = {f"{self.level_path}.{name}": name for name in ("score", "quality", "description")}

    def feed(self, events: list[Any]) -> None:
        if self.prefix is None:
            events = self.start(events)
            if self.prefix is None:
                return
        item, item_id, assoc, assoc_fields = self.item, self.item_id, self.assoc_path, self.assoc_fields
        for path, event, value in events:
            if path == item:
                if event == "start_map":
                    self.current_item = NO_IDENTIFIER
                elif event == "end_map":
                    self.item_hashes.append(self.current_item)
                elif event in _ITEM_STARTS:  # not an object, yet a position in CFItems
                    self.item_hashes.append(NO_IDENTIFIER)
            elif path == item_id:
                identifier = identifier_text(value)
                if identifier:
                    self.current_item = identifier_hash(identifier)
            elif path == assoc:
                if event == "end_map":
                    self.end_association()
            elif path in assoc_fields:
                if event in ("string", "number"):
                    self.assoc[assoc_fields[path]] = str(value)
            elif path.startswith(item) or path.startswith(assoc):
                continue  # the bulk of a package: statements and URIs
            else:
                self._other(path, event, value)

    def _other(self, path: str, event: str, value: Any) -> None:
        if path == self.doc:
            if event == "start_map":
                self.document_count += 1
        elif path in self.doc_fields:
            if event in ("string", "number"):
                self.document[self.doc_fields[path]] = str(value)
        elif path in self.doc_extension:
            if event in ("string", "boolean", "null"):
                self.document_extension[self.doc_extension[path]] = value
        elif path == self.criterion:
            if event == "end_map":
                self.end_criterion()
        elif path == self.criterion_item_path:
            if event in ("string", "number"):
                self.criterion_item = str(value)
        elif path == self.level_path:
            if event == "end_map":
                self.end_level()
        elif path in self.level_fields and event in ("string", "number"):
            self.level[self.level_fields[path]] = value

    def end_association(self) -> None:
        index = self.associations
        self.associations += 1
        assoc, self.assoc = self.assoc, {}
        if assoc.get("associationType") != IS_CHILD_OF:
            self.skipped += 1
            return
        origin, destination = assoc.get("origin"), assoc.get("destination")
        if not origin:
            self.skipped += 1  # names no child: orphans nothing
            return
        self.edge_child.append(identifier_hash(origin))
        self.edge_parent.append(identifier_hash(destination) if destination else NO_IDENTIFIER)
        self.edge_index.append(index)

    def end_level(self) -> None:
        level, self.level = self.level, {}
        score = level.get("score")
        if isinstance(score, int | float | Decimal) and not isinstance(score, bool):
            text = level.get("quality") or level.get("description") or ""
            self.criterion_levels.append((float(score), str(text)))

    def end_criterion(self) -> None:
        item, levels = self.criterion_item, self.criterion_levels
        self.criterion_item, self.criterion_levels = None, []
        if item and levels:
            self.rubric_levels[identifier_hash(item)] = sorted(levels, key=lambda level: -level[0])


async def read_shape(chunks: AsyncIterator[bytes]) -> CaseShape:
    """Stream the package once; raise ImportFailed for a file that is not a CASE package (not
    JSON, not an object, no CFDocument or one without an identifier, an order needing more than
    MAX_READS reads), CycleFound for an isChildOf cycle."""
    state = _Pass()
    async for events in pushed_events(chunks, ijson.parse_coro, use_float=True):
        state.feed(events)
    if state.events_seen == 0:
        raise ImportFailed("Not a CASE package: the file is not a JSON object")
    if state.document_count == 0:
        raise ImportFailed("Not a CASE package: it has no CFDocument")
    document_identifier = state.document.get("identifier", "")
    if not document_identifier.strip():
        raise ImportFailed("Not a CASE package: its CFDocument has no identifier")
    return _shape(state, state.prefix or "", document_identifier)


def _shape(state: _Pass, prefix: str, document_identifier: str) -> CaseShape:
    hashes = state.item_hashes
    count = len(hashes)
    document_hash = identifier_hash(document_identifier)
    # One int per item, (hash, position) packed, sorted in place: the least memory a sort in pure
    # Python takes (about 45 bytes an item, for the moment of the sort).
    packed = [h << 32 | position for position, h in enumerate(hashes) if h != NO_IDENTIFIER]
    packed.sort()
    sorted_hashes = array("q", (value >> 32 for value in packed))
    sorted_positions = array("l", (value & 0xFFFFFFFF for value in packed))
    del packed
    duplicates = {position for position, h in enumerate(hashes) if h == document_hash}
    for index in range(1, len(sorted_hashes)):
        if sorted_hashes[index] == sorted_hashes[index - 1]:
            duplicates.add(sorted_positions[index])  # of equal hashes, the later position comes later

    def find(h: int) -> int | None:
        at = bisect_left(sorted_hashes, h)
        return sorted_positions[at] if at < len(sorted_hashes) and sorted_hashes[at] == h else None

    child_of = array("l")
    parent_of = array("l")
    unknown_parent: dict[int, int] = {}
    skipped = state.skipped
    for child_hash, parent_hash, index in zip(state.edge_child, state.edge_parent, state.edge_index, strict=True):
        child = find(child_hash)
        if child is None:
            skipped += 1  # an isChildOf of an item not in the package (or of the document): orphans nothing
            continue
        parent = DOCUMENT if parent_hash == document_hash else find(parent_hash)
        if parent is None:
            unknown_parent.setdefault(child, index)
            continue
        child_of.append(child)
        parent_of.append(parent)
    rubrics = {}
    for h, levels in state.rubric_levels.items():
        position = find(h)
        if position is not None:
            rubrics[position] = Rubric(levels)
    parent_start, parents = _grouped(count, child_of, parent_of)
    has_children = array("b", bytes(count))
    for parent in parents:
        if parent != DOCUMENT:
            has_children[parent] = 1
    # A group has one parent (an Outcomes CSV rejects a group row with several): a group item goes
    # under its first isChildOf destination only, and its others are skipped.
    if any(has_children[p] and parent_start[p + 1] - parent_start[p] > 1 for p in range(count)):
        _read_numbers(count, parent_start, parents)  # a cycle through the associations dropped is one too
        parent_start, parents, dropped = _first_parent_of_groups(count, parent_start, parents, has_children)
        skipped += dropped
    read_of, reads = _read_numbers(count, parent_start, parents)
    return CaseShape(
        prefix=prefix,
        document_identifier=document_identifier,
        document_title=state.document.get("title", ""),
        document_description="\n\n".join(
            text for text in (state.document.get("description"), state.document.get("notes")) if text
        ),
        item_hashes=hashes,
        duplicates=duplicates,
        parent_start=parent_start,
        parents=parents,
        has_children=has_children,
        unknown_parent=unknown_parent,
        read_of=read_of,
        reads=reads,
        rubrics=rubrics,
        associations_skipped=skipped,
        document_extension=state.document_extension,
    )


def _in_cycle(position: int, parent_start: array[int], parents: array[int], waiting: array[int]) -> int:
    """A position on a cycle, from one that is in or under it: an item left waiting has a parent
    left waiting, so following such parents comes back to one seen."""
    seen = set()
    while position not in seen:
        seen.add(position)
        position = next(
            p for p in parents[parent_start[position] : parent_start[position + 1]] if p != DOCUMENT and waiting[p] > 0
        )
    return position


def _first_parent_of_groups(
    count: int, parent_start: array[int], parents: array[int], has_children: array[int]
) -> tuple[array[int], array[int], int]:
    kept = array("l")
    starts = array("l", [0])
    dropped = 0
    for position in range(count):
        own = parents[parent_start[position] : parent_start[position + 1]]
        if has_children[position] and len(own) > 1:
            dropped += len(own) - 1
            own = own[:1]
        kept.extend(own)
        starts.append(len(kept))
    return starts, kept, dropped


def _grouped(count: int, keys: array[int], values: array[int]) -> tuple[array[int], array[int]]:
    """values grouped by key (0 <= key < count), each group's values in the order given, duplicates
    dropped: (start of each key's group, with count + 1 entries; the values)."""
    sizes = array("l", bytes(8 * (count + 1)))
    for key in keys:
        sizes[key + 1] += 1
    for index in range(count):
        sizes[index + 1] += sizes[index]
    start = array("l", sizes)
    out = array("l", bytes(8 * len(values)))
    fill = array("l", sizes)
    for key, value in zip(keys, values, strict=True):
        out[fill[key]] = value
        fill[key] += 1
    # Drop a parent named twice (two identical associations): keep the first.
    kept = array("l")
    starts = array("l", [0])
    for index in range(count):
        seen = out[start[index] : start[index + 1]]
        kept.extend(dict.fromkeys(seen))
        starts.append(len(kept))
    return starts, kept


def _read_numbers(count: int, parent_start: array[int], parents: array[int]) -> tuple[array[int], int]:
    """Each position's read (see the module's docstring) and the number of reads; raises
    ImportFailed for an isChildOf cycle or an order needing more than MAX_READS reads."""
    waiting = array("l", bytes(8 * count))  # parents (items) not yet placed
    child_start, children = _grouped(
        count,
        array("l", (p for i in range(count) for p in parents[parent_start[i] : parent_start[i + 1]] if p != DOCUMENT)),
        array("l", (i for i in range(count) for p in parents[parent_start[i] : parent_start[i + 1]] if p != DOCUMENT)),
    )
    for position in range(count):
        own = parents[parent_start[position] : parent_start[position + 1]]
        waiting[position] = sum(1 for p in own if p != DOCUMENT)
    read_of = array("l", bytes(8 * count))
    ready = array("l", (position for position in range(count) if waiting[position] == 0))  # a queue
    placed = 0
    while placed < len(ready):
        parent = ready[placed]
        placed += 1
        for child in children[child_start[parent] : child_start[parent + 1]]:
            # A child after its parent in CFItems can come in the same read; one before it, in the next.
            read = read_of[parent] + (1 if parent > child else 0)
            if read > read_of[child]:
                read_of[child] = read
            waiting[child] -= 1
            if waiting[child] == 0:
                ready.append(child)
    if placed < count:
        raise CycleFound(_in_cycle(next(p for p in range(count) if waiting[p] > 0), parent_start, parents, waiting))
    reads = max(read_of, default=0) + 1
    if reads > MAX_READS:
        raise ImportFailed(
            f"The CASE package lists children so far before their parents that importing it would take {reads} "
            f"reads of CFItems (at most {MAX_READS}): list parents before their children"
        )
    return read_of, reads
