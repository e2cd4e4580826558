"""The rows of one stored Outcomes CSV, in batches: the header and its checks, this service's
bounds, and each record parsed to a group row, an outcome row or a row error.

The job applies what this yields; the fuzz tests (tests/unit/test_fuzz_pipeline.py) read files
through this very class, so whatever it says about a file is what an import says.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from shared.errors import ImportFailed
from worker.csv_records import Cells, read_record_lists
from worker.error_reports import unexpected_error_message
from worker.rows import GroupRow, Header, NullHeaderCell, OutcomeRow, RowError, parse_header, parse_row

BatchRow = GroupRow | OutcomeRow | RowError

NUL_IN_CELL = "A cell contains a NUL character, which cannot be stored"
# How often reading lets the batch being applied, and the write in flight, go on (a few ms: a
# record costs some 10 us to read and parse). Each switch costs far more than its event-loop
# step: every frame of the suspended chain is resumed, and the caches warmed for one task are
# cold for the other. Every 20 records, the switches cost about a tenth of the worker's CPU
# (issue 15: 100,000-row district imports took 9-12% less worker CPU at 100-500).
_YIELD_EVERY_RECORDS = 250


@dataclass(frozen=True, slots=True)
class FileLimits:
    """Bounds of this service (README, "Limits"): they keep one hostile file from costing much."""

    max_columns: int
    max_records: int
    max_record_bytes: int
    batch_size: int


class OutcomesFile:
    """Read once: read_header(), then batches()."""

    def __init__(self, chunks: AsyncIterator[bytes], limits: FileLimits, import_id: int) -> None:
        self._limits = limits
        self._import_id = import_id
        self._nul_watch = _NulWatch()
        self._record_lists = read_record_lists(
            self._nul_watch.watch(chunks), max_record_bytes=limits.max_record_bytes
        )
        self._after_header: list[Cells] = []  # the records read with the header (2, 3, ...)
        self._header: Header | None = None

    async def read_header(self) -> Header | None:
        """The header, or None for a file that is only a BOM (no records at all: nothing to
        import, spec §4.4). Raises ImportFailed for a header no import can use."""
        async for _, records in self._record_lists:
            cells = records[0]  # record 1: lists are never empty
            self._after_header = records[1:]
            break
        else:
            return None
        max_columns = self._limits.max_columns
        if len(cells) > max_columns:
            raise ImportFailed(f"Too many columns (maximum is {max_columns})")
        try:
            self._header = parse_header(cells)
        except NullHeaderCell as exc:
            # The file's fault, not ours; Canvas crashes on it, and its message is the one clients know.
            what = f"{exc.message} (Canvas fails such a file with an error report)"
            raise ImportFailed(unexpected_error_message(self._import_id, exc, what, logging.WARNING)) from exc
        return self._header

    async def batches(self) -> AsyncIterator[tuple[list[BatchRow], int]]:
        """(rows, number of the batch's last record), in file order. Batches end on multiples of
        batch_size (the header is in the first), as Canvas's end on 1000s. Raises ImportFailed
        for a file with no data rows or too many records."""
        header = self._header
        assert header is not None, "read_header() first"
        limits = self._limits
        max_records, max_columns, batch_size = limits.max_records, limits.max_columns, limits.batch_size
        nul_watch = self._nul_watch
        batch: list[BatchRow] = []
        last_number = 1
        async for first_number, records in self._lists_after_header():
            for number, cells in enumerate(records, first_number):
                last_number = number
                if number > max_records:
                    raise ImportFailed(f"Too many records (maximum is {max_records})")
                # Once per record: _check_bounds is called only when a bound may be passed.
                if len(cells) > max_columns or nul_watch.seen:
                    row = self._check_bounds(number, cells) or parse_row(header, number, cells)
                else:
                    row = parse_row(header, number, cells)
                if row is not None:
                    batch.append(row)
                if number % batch_size == 0:
                    yield batch, number
                    batch = []
                elif number % _YIELD_EVERY_RECORDS == 0:
                    await asyncio.sleep(0)  # let the batch being applied, and the write in flight, go on
        if last_number == 1:
            raise ImportFailed("File has no outcomes data")
        if batch or last_number % limits.batch_size:
            yield batch, last_number

    async def _lists_after_header(self) -> AsyncIterator[tuple[int, list[Cells]]]:
        if self._after_header:
            yield 2, self._after_header
        async for numbered_list in self._record_lists:
            yield numbered_list

    def _check_bounds(self, number: int, cells: list[bytes | None]) -> RowError | None:
        max_columns = self._limits.max_columns
        if len(cells) > max_columns:
            return RowError(number, (f"Too many columns (maximum is {max_columns})",))
        # PostgreSQL text cannot hold NUL; Canvas fails the whole import on it, here only the row is skipped.
        if self._nul_watch.seen and b"\x00" in b"".join(filter(None, cells)):  # one C-level scan per record
            return RowError(number, (NUL_IN_CELL,))
        return None


class _NulWatch:
    """Whether the file has shown a NUL byte so far: one C-level scan per chunk read spares
    every record its own scan until one does (a record is read only once its chunks are)."""

    def __init__(self) -> None:
        self.seen = False

    async def watch(self, chunks: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        async for chunk in chunks:
            if not self.seen and b"\x00" in chunk:
                self.seen = True
            yield chunk
