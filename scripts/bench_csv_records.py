"""Throughput of worker.csv_records.read_records on district-sized rows.

Run: `.venv/bin/python scripts/bench_csv_records.py [megabytes]`. Rows are ~300 bytes, fed in
64 KiB chunks as storage streams them: (a) no quotes at all, (b) every other row with a quoted
description holding commas and a doubled quote. Timed in CPU seconds, so that other work on a
shared machine skews it less.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from worker.csv_records import read_records

CHUNK_BYTES = 64 * 1024
HEADER = b"vendor_guid,object_type,title,description,display_name,calculation_method,calculation_int,"
HEADER += b"parent_guids,ratings,,,,,\n"


def _row(i: int, quoted: bool) -> bytes:
    description = (
        b'"Students explain, compare and order fractions, decimals and percents; they ""justify"" '
        b'each step, in writing, with models and number lines, for grade 5 and up."'
        if quoted
        else b"Students explain and compare and order fractions and decimals and percents and justify "
        b"each step in writing with models and number lines for grade 5 and up"
    )
    return b",".join(
        [
            b"district-outcome-%08d" % i,
            b"outcome",
            b"Compare and order fractions and decimals %d" % i,
            description,
            b"Fractions %d" % i,
            b"decaying_average",
            b"65",
            b"district-group-%04d" % (i // 100),
            b"4",
            b"Exceeds",
            b"3",
            b"Meets",
            b"0",
            b"Does not meet\n",
        ]
    )


def build(megabytes: int, quoted_every: int | None) -> bytes:
    rows = [HEADER]
    size = len(HEADER)
    i = 0
    while size < megabytes * 1024 * 1024:
        row = _row(i, quoted_every is not None and i % quoted_every == 0)
        rows.append(row)
        size += len(row)
        i += 1
    return b"".join(rows)


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), CHUNK_BYTES):
        yield data[start : start + CHUNK_BYTES]


async def measure(data: bytes) -> tuple[float, int]:
    started = time.process_time()
    records = 0
    async for _number, _cells in read_records(_chunks(data)):
        records += 1
    return time.process_time() - started, records


def main() -> None:
    megabytes = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    for label, quoted_every in (("(a) unquoted", None), ("(b) 50% quoted with commas", 2)):
        data = build(megabytes, quoted_every)
        seconds, records = min(asyncio.run(measure(data)) for _ in range(3))
        mb = len(data) / 1024 / 1024
        print(f"{label}: {mb:.0f} MB, {records} records, {mb / seconds:.1f} MB/s")


if __name__ == "__main__":
    main()
