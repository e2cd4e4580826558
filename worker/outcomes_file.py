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
from worker.csv_records import read_records
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
        self._records = read_records(self._nul_watch.watch(chunks), max_record_bytes=limits.max_record_bytes)
        self._header: Header | None = None

    async def read_header(self) -> Header | None:
        """The header, or None for a file that is only a BOM (no records at all: nothing to
        import, spec §4.4). Raises ImportFailed for a header no import can use."""
        cells = await _first(self._records)
        if cells is None:
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
        batch: list[BatchRow] = []
        last_number = 1
        async for number, cells in self._records:
            last_number = number
            if number > limits.max_records:
                raise ImportFailed(f"Too many records (maximum is {limits.max_records})")
            row = self._check_bounds(number, cells) or parse_row(header, number, cells)
            if row is not None:
                batch.append(row)
            if number % limits.batch_size == 0:
                yield batch, number
                batch = []
            elif number % _YIELD_EVERY_RECORDS == 0:
                await asyncio.sleep(0)  # let the batch being applied, and the write in flight, go on
        if last_number == 1:
            raise ImportFailed("File has no outcomes data")
        if batch or last_number % limits.batch_size:
            yield batch, last_number

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


async def _first(records: AsyncIterator[tuple[int, list[bytes | None]]]) -> list[bytes | None] | None:
    async for _, cells in records:
        return cells
    return None
