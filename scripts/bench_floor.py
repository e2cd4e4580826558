"""The bench's third yardstick: the least PostgreSQL must do to hold an import's result.

An import writes its groups, outcomes, links and friendly descriptions in one transaction on one
connection, so one backend does all of PostgreSQL's work for it, on one core: whatever the worker
does, the import can go no faster than that backend writing the rows into the schema's tables,
with every index, trigger and WAL record they cost. This measures that part alone: the rows the
fresh import stored, saved with `COPY ... TO STDOUT (FORMAT binary)`, are COPYed back in binary
into the same tables of another freshly migrated database, in one transaction, with no reads, no
sequence and no client work to speak of. Its rows/s, set against the server COPY of the same round
(the file into an unlogged table with no index), is the ceiling of any import into this schema.
"""

from __future__ import annotations

import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import asyncpg
from harness import backend_cpu_seconds, fresh_database

from shared.db.migrate import migrate

# In the order an import writes them: links and friendly descriptions name outcomes and groups.
RESULT_TABLES = (
    "learning_outcome_groups",
    "learning_outcomes",
    "learning_outcome_links",
    "outcome_friendly_descriptions",
)


class FloorError(Exception):
    """The rows saved did not all come back."""


async def save_result(conn: asyncpg.Connection, directory: Path) -> dict[str, int]:
    """Save every row of the result tables (the bench database holds one import's result) to files
    in the existing `directory`; returns the row count of each table."""
    counts = {}
    for table in RESULT_TABLES:
        status = await conn.copy_from_table(table, output=directory / f"{table}.copy", format="binary")
        counts[table] = int(status.split()[-1])
    return counts


async def measure_floor(
    pg_server: str, database: str, directory: Path, counts: dict[str, int], rows: int
) -> dict[str, Any]:
    """COPY the saved rows into a freshly migrated database `database` in one transaction; rows/s
    counts the file's data rows (as the imports' figures do), CPU is the one backend's."""
    async with AsyncExitStack() as stack:
        url = await fresh_database(stack, pg_server, database, keep=False)
        await migrate(url)
        conn = await asyncpg.connect(url)
        stack.push_async_callback(conn.close)
        backend = conn.get_server_pid()
        cpu_before = backend_cpu_seconds(backend)
        started = time.perf_counter()
        async with conn.transaction():
            for table in RESULT_TABLES:
                status = await conn.copy_to_table(table, source=directory / f"{table}.copy", format="binary")
                if status != f"COPY {counts[table]}":
                    raise FloorError(f"COPY into {table} wrote {status!r}, expected {counts[table]} rows")
        seconds = time.perf_counter() - started
        cpu_after = backend_cpu_seconds(backend)
    report: dict[str, Any] = {
        "seconds": round(seconds, 3),
        "rows_per_second": round(rows / seconds),
        "table_rows": counts,
    }
    if cpu_before is not None and cpu_after is not None:
        report["postgres_cpu_seconds"] = round(cpu_after - cpu_before, 2)
        report["postgres_cpu_us_per_row"] = round((cpu_after - cpu_before) / rows * 1e6, 2)
    return report
