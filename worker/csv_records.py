"""Strict, streaming CSV records with Canvas's dialect (Ruby's csv library): spec §4.1, §4.3.

`read_records` turns an async stream of byte chunks into numbered records of raw cells
(`read_record_lists`, into the lists of records each chunk completes). It
does no I/O of its own and never decodes: cells are bytes (UTF-8 validity is checked per cell
later, spec §4.2). Python's `csv` module is lenient where Ruby's is strict, hence this module.

Dialect, as Canvas runs it (`Outcomes::CSVImporter` + `CSV.new(file, col_sep:)`):
- A UTF-8 BOM at the very start of the file is skipped.
- Column separator: `;` if the first physical line (up to the first `\\n`, BOM included) holds
  more `;` than `,`, else `,`. Fixed for the whole file.
- Record separator: the first line ending in the file (`\\r\\n`, `\\n` or `\\r`, looked for
  without regard to quotes, as Ruby does), then used consistently; `\\n` if there is none.
- `"` quotes; `""` inside quotes is one `"`; quoted fields may hold separators and any line
  breaks. Unquoted empty field -> None (null); quoted empty field -> b"".
- An empty line is a record with zero cells; a final line ending adds no record.
- Malformed -> `InvalidCsvFile`: an unterminated quoted field, a quote inside or after an
  unquoted value (`Ti"tle`, `a, "b"`), anything but a separator or line end after a closing
  quote (`"abc"d`), a CR or LF outside quotes that is not the record separator.

Speed (district files of 10^6 rows): no Python code runs per byte. Chunks are split into
lines on the record separator, lines without quotes with `bytes.split`; in lines with quotes
only each quoted field costs a regex match (`scripts/bench_csv_records.py`).

Memory is bounded by the chunk size plus the largest record, with two exceptions that follow
from Canvas's rules: the first physical line is buffered whole, as the separator rule needs
all of it (for a file with CR-only line endings that is the whole file), and an unterminated
quoted field runs, as one record, to the end of the file before it can be reported.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Callable
from typing import Final, cast

from shared.errors import ImportFailed, InvalidCsvFile

Cells = list[bytes | None]
"""Raw cells of one record: None for an unquoted empty field, b"" for a quoted empty one."""

UTF8_BOM: Final = b"\xef\xbb\xbf"

# Feeding the (possibly huge, see module docstring) first line in slices keeps the list of
# split lines, and the records built from it, per slice rather than per file.
_HEAD_SLICE_BYTES: Final = 1 << 20


# A quoted field's content after its opening quote, `""` pairs included: it stops at the
# closing quote, if any. The unrolled-loop form never backtracks.
_QUOTED_CONTENT: Final = re.compile(rb'[^"]*(?:""[^"]*)*')


class RecordTooLarge(ImportFailed):
    """A record exceeds the service's size bound (Settings.max_record_bytes)."""

    def __init__(self, record_number: int, limit: int) -> None:
        super().__init__(f"Record {record_number} is larger than the maximum of {limit} bytes")


async def read_records(
    chunks: AsyncIterable[bytes], *, max_record_bytes: int | None = None
) -> AsyncIterator[tuple[int, Cells]]:
    """Yield `(record_number, cells)` for every record of the CSV in `chunks`, header included.

    Records are numbered from 1 (the header); blank records count. Chunk boundaries may fall
    anywhere (inside the BOM, a quoted field, a CRLF, a UTF-8 sequence). An empty stream or a
    lone BOM yields nothing.

    Raises `InvalidCsvFile` when the first malformed record is reached, and `RecordTooLarge` when
    a record outgrows `max_record_bytes` (so memory stays bounded whatever the file); every record
    before it has been yielded by then. Errors raised by `chunks` propagate unchanged.
    """
    async for first_number, records in read_record_lists(chunks, max_record_bytes=max_record_bytes):
        for numbered in enumerate(records, start=first_number):
            yield numbered


async def read_record_lists(
    chunks: AsyncIterable[bytes], *, max_record_bytes: int | None = None
) -> AsyncIterator[tuple[int, list[Cells]]]:
    """`read_records`, a list at a time: `(number of its first record, records)` for the records
    each chunk completes (never an empty list), with the same records, numbers and errors.

    For a reader of every record (worker/outcomes_file.py): a step of an async generator costs
    more than a record's split, so it is taken once per chunk rather than once per record.
    """
    iterator = aiter(chunks)
    head = await _read_first_line(iterator, max_record_bytes)
    body = head[len(UTF8_BOM) :] if head.startswith(UTF8_BOM) else head
    splitter = _RecordSplitter(_column_separator(head), _row_separator(body))
    number = 0
    records: list[Cells] = []
    async for chunk in _body_chunks(body, iterator):
        malformed = splitter.feed(chunk, records)
        if records:
            yield number + 1, records
            number += len(records)
            records = []
        if malformed:
            raise malformed
        if max_record_bytes is not None and splitter.buffered_bytes > max_record_bytes:
            raise RecordTooLarge(number + 1, max_record_bytes)
    malformed = splitter.finish(records)
    if records:
        yield number + 1, records
    if malformed:
        raise malformed


async def _read_first_line(iterator: AsyncIterator[bytes], limit: int | None) -> bytes:
    """Chunks up to and including the one holding the first `\\n` (or all of them), joined.

    With a `limit`, reading stops once that many bytes are in: a file without LF (CR line
    endings) then has its separator chosen from its first `limit` bytes rather than all of it.
    """
    parts: list[bytes] = []
    size = 0
    async for chunk in iterator:
        parts.append(chunk)
        size += len(chunk)
        if b"\n" in chunk or (limit is not None and size > limit):
            break
    return b"".join(parts)


async def _body_chunks(body: bytes, iterator: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    for start in range(0, len(body), _HEAD_SLICE_BYTES):
        yield body[start : start + _HEAD_SLICE_BYTES]
    async for chunk in iterator:
        yield chunk


def _column_separator(head: bytes) -> bytes:
    """`;` if the first physical line (to the first LF, BOM included) has more `;` than `,`."""
    line_end = head.find(b"\n")
    first_line = head if line_end < 0 else head[: line_end + 1]
    return b";" if first_line.count(b";") > first_line.count(b",") else b","


def _row_separator(body: bytes) -> bytes:
    """The first line ending in `body`, as Ruby's `row_sep: :auto` finds it; LF if none.

    `body` must run to the first LF or the end of the file, so a CR inside it is followed by
    its next byte unless the CR ends the file.
    """
    lf = body.find(b"\n")
    cr = body.find(b"\r", 0, len(body) if lf < 0 else lf)
    if cr >= 0:
        return b"\r\n" if cr + 1 == lf else b"\r"
    return b"\n"


class _RecordSplitter:
    """Push parser: `feed` chunks, then `finish`, each appending the records it completes.

    Both return (not raise) the `InvalidCsvFile` for a malformed record, after appending the
    records before it, so the caller can hand those out first.
    """

    def __init__(self, separator: bytes, row_separator: bytes) -> None:
        self._separator = separator
        self._row_separator = row_separator
        self._tail: list[bytes] = []  # the current line, not yet ended by a record separator
        self._tail_bytes = 0
        self._pending: list[bytes] = []  # lines of a record whose quoted field is still open

    @property
    def buffered_bytes(self) -> int:
        """Bytes held for the record being read: its unfinished line and its earlier lines."""
        if not self._pending:
            return self._tail_bytes
        return self._tail_bytes + sum(map(len, self._pending)) + len(self._pending) * len(self._row_separator)

    def feed(self, chunk: bytes, records: list[Cells]) -> InvalidCsvFile | None:
        """Append to `records` the records that `chunk` completes."""
        if not chunk:
            return None
        self._tail.append(chunk)
        self._tail_bytes += len(chunk)
        if not self._ends_a_line(chunk):
            return None  # parts are joined once a line ends: long lines are joined only once
        text = b"".join(self._tail)
        lines = text.split(self._row_separator)
        self._tail = [lines.pop()]
        self._tail_bytes = len(self._tail[0])
        return self._records(lines, text, len(lines), records)

    def finish(self, records: list[Cells]) -> InvalidCsvFile | None:
        """Append the last record (a line with no line ending), at the end of the input."""
        last = b"".join(self._tail)
        self._tail = []
        self._tail_bytes = 0
        if last or self._pending:
            malformed = self._records([last], last, 0, records)
            if malformed:
                return malformed
        if self._pending:
            return InvalidCsvFile()  # the file ends inside a quoted field
        return None

    def _ends_a_line(self, chunk: bytes) -> bool:
        if self._row_separator in chunk:
            return True
        # A CRLF split across chunks: the CR ended the previous chunk.
        return (
            self._row_separator == b"\r\n"
            and chunk.startswith(b"\n")
            and len(self._tail) > 1
            and self._tail[-2].endswith(b"\r")
        )

    def _records(
        self, lines: list[bytes], text: bytes, line_endings: int, records: list[Cells]
    ) -> InvalidCsvFile | None:
        """Append the records of `lines`, split from `text` at `line_endings` separators."""
        try:
            self._append_records(lines, text, line_endings, records)
        except InvalidCsvFile as malformed:
            return malformed
        return None

    def _append_records(self, lines: list[bytes], text: bytes, line_endings: int, records: list[Cells]) -> None:
        separator = self._separator
        row_separator = self._row_separator
        pending = self._pending
        append = records.append
        # C-level scans of the whole text let most lines skip per-line checks: CR and LF are
        # expected only in the separators split off, empty cells only next to a separator.
        has_quote = b'"' in text
        has_cr_or_lf = text.count(b"\r") + text.count(b"\n") != line_endings * len(row_separator)
        doubled = separator + separator
        has_empty_cell = (
            doubled in text
            or row_separator + separator in text
            or separator + row_separator in text
            or text.startswith(separator)
            or text.endswith(separator)
        )
        for line in lines:
            if pending:
                pending.append(line)
                if not self._still_quoted(line):
                    cells = self._quoted_cells(row_separator.join(pending))
                    assert cells is not None  # the last line closed the quoted field
                    append(cells)
                    pending.clear()
            elif has_quote and b'"' in line:
                # Most quoted lines take the split-on-quotes path; it answers None for anything
                # it does not cover (a stray CR or LF, `""`, an open or misplaced quote), and
                # the general parser then gives the answer (or the error) it always gave.
                cells = None if has_cr_or_lf and (b"\r" in line or b"\n" in line) else _simple_quoted(line, separator)
                if cells is None:
                    cells = self._quoted_cells(line)
                if cells is None:
                    pending.append(line)
                else:
                    append(cells)
            elif has_cr_or_lf and (b"\r" in line or b"\n" in line):
                raise InvalidCsvFile()  # a line ending other than the file's record separator
            elif not line:
                append([])
            else:
                cells = _split(line, separator)
                if has_empty_cell and b"" in cells:
                    _null_empty_cells(cells)
                append(cells)

    def _still_quoted(self, line: bytes) -> bool:
        """Whether the record is still inside a quoted field after `line`, which began in one.

        Raises `InvalidCsvFile` if the rest of the line, after a closing quote, is malformed.
        """
        end = _closing_quote(line, 0)
        if end == len(line):
            return True
        after = end + 1  # past the closing quote
        if after == len(line):
            return False
        if line[after : after + 1] != self._separator:
            raise InvalidCsvFile()  # text after a closing quote
        return self._quoted_cells(line[after + 1 :]) is None

    def _quoted_cells(self, text: bytes) -> Cells | None:
        """The cells of `text`, or None if it ends inside an open quoted field.

        `text` starts at a field and may span lines (joined by the record separator).
        Quote-free stretches are split in C; only quoted fields cost a regex match each.
        Raises `InvalidCsvFile` for a quote that does not start a field, text after a closing
        quote, or a CR or LF outside quotes.
        """
        separator = self._separator
        cells: Cells = []
        start = 0  # always the start of a field
        while True:
            quote = text.find(b'"', start)
            if quote < 0:
                cells += _unquoted_cells(text[start:], separator)
                return cells
            if quote > start:
                if text[quote - 1 : quote] != separator:
                    raise InvalidCsvFile()  # a quote inside an unquoted field
                cells += _unquoted_cells(text[start : quote - 1], separator)
            end = _closing_quote(text, quote + 1)
            if end == len(text):
                return None
            value = text[quote + 1 : end]
            cells.append(value.replace(b'""', b'"') if b'"' in value else value)
            start = end + 2  # past the closing quote and the separator after it
            if start > len(text):
                return cells
            if text[start - 1 : start] != separator:
                raise InvalidCsvFile()  # text after a closing quote
            if start == len(text):
                cells.append(None)
                return cells


def _simple_quoted(line: bytes, separator: bytes) -> Cells | None:
    """The cells of one line holding quoted fields, when no quoted field holds a quote; else None.

    Must be given a line holding a quote and no CR or LF. Splitting on `"` gives the unquoted
    stretches at even and the quoted contents at odd indices. The line is well-formed when there is an odd number
    of parts (every quoted field closed), the first stretch is empty or ends with a separator
    (the quote starts a field), each middle one starts and ends with a separator (an empty one
    is a `""` inside a field: not covered here), and the last is empty or starts with one.
    Anything else returns None, for `_RecordSplitter._quoted_cells` to handle or reject.
    """
    parts = line.split(b'"')
    last = len(parts) - 1
    if last & 1:
        return None  # an odd number of quotes: a quoted field is still open
    first = parts[0]
    cells: Cells
    if not first:
        cells = []
    elif first.endswith(separator):
        cells = _split(first[:-1], separator)
        if b"" in cells:
            _null_empty_cells(cells)
    else:
        return None  # a quote inside an unquoted field
    for index in range(1, last, 2):
        cells.append(parts[index])  # quoted content (b"" for a quoted empty field)
        part = parts[index + 1]
        if index + 1 == last:
            if not part:
                break
            if not part.startswith(separator):
                return None  # text after a closing quote
            unquoted = part[1:]
        elif part.startswith(separator) and part.endswith(separator):
            if len(part) == 1:
                continue  # `"a","b"`: no unquoted field between the two
            unquoted = part[1:-1]
        else:
            return None  # `""`, text after a closing quote, or a quote inside a field
        split = _split(unquoted, separator)
        if b"" in split:
            _null_empty_cells(split)
        cells += split
    return cells


# bytes.split, typed as giving Cells (list[bytes] is one, but list is invariant): no cast() call per line.
_split: Final = cast("Callable[[bytes, bytes], Cells]", bytes.split)


def _null_empty_cells(cells: Cells) -> None:
    """Replace, in place, each empty cell of a split unquoted stretch (an empty field) by None."""
    # Most records have a blank cell or two: finding those in C beats a comprehension over all.
    empty = cells.count(b"")
    if empty > 4:
        cells[:] = [cell or None for cell in cells]
        return
    at = -1
    for _ in range(empty):
        at = cells.index(b"", at + 1)
        cells[at] = None


def _unquoted_cells(text: bytes, separator: bytes) -> Cells:
    if b"\r" in text or b"\n" in text:
        raise InvalidCsvFile()  # a line ending other than the file's record separator
    return [cell or None for cell in text.split(separator)]


def _closing_quote(text: bytes, content_start: int) -> int:
    """Index of the quote closing a field whose content starts at `content_start`, or
    `len(text)` if the field is still open at the end of `text`."""
    match = _QUOTED_CONTENT.match(text, content_start)
    assert match is not None  # the pattern matches the empty string
    return match.end()
