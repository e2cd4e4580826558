"""A file of distinct ~1 MiB cells in every column the row parsers cache (rating cells, mastery
points, calculation method) leaves a worker process no larger than it was: the caches are
bounded in bytes and emptied after each job (worker/parse_caches.py). Counted in entries alone,
they kept every one of those cells (four copies a row here) for as long as the worker lived."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
import pytest
from arq.constants import result_key_prefix
from redis.asyncio import Redis

from shared.queue import import_job_id
from shared.settings import Settings
from tests.faults import SELECT_STORED_ERRORS, WorkerProcess, import_row, post_import, small_file, wait_until

MIB = 1024 * 1024
HOSTILE_ROWS = 32
# What a worker may grow by over the import. Measured: 4-7 MiB; with the caches bounded and
# emptied but without malloc_trim, 4-46 MiB; with caches counted in entries, 171 MiB.
RSS_GROWTH_BOUND = 32 * MIB
INVALID_METHOD = (
    'Calculation method calculation_method must be one of the following: ["decaying_average", "weighted_average",'
    ' "standard_decaying_average", "n_mastery", "highest", "latest", "average"]'
)


def hostile_file() -> bytes:
    """A group, then HOSTILE_ROWS outcomes each with its own ~1 MiB calculation_method (invalid: a
    row error), mastery_points (valid: 3 after 1 MiB of spaces) and rating tier description."""
    lines = [b"vendor_guid,object_type,title,parent_guids,calculation_method,mastery_points,ratings,", b"g,group,G,"]
    for n in range(HOSTILE_ROWS):
        size = MIB + n  # distinct cells: each one is a cache miss
        cells = [f"o{n}", "outcome", f"Outcome {n}", "g", "m" * size, " " * size + "3", "2", "d" * size]
        lines.append(",".join(cells).encode())
    return b"\n".join(lines) + b"\n"


async def job_ended(redis: Redis, import_id: int) -> bool:
    """arq stores a job's result after the worker's on_job_end hook (which empties the caches) ran."""
    return bool(await redis.exists(result_key_prefix + import_job_id(import_id)))


@pytest.mark.timeout(180)
async def test_an_import_of_long_distinct_cells_leaves_the_worker_no_larger(
    client: Any,
    admin_headers: dict[str, str],
    settings: Settings,
    db: asyncpg.Connection,
    start_worker: Callable[[Settings], WorkerProcess],
) -> None:
    worker = start_worker(settings)
    redis = Redis.from_url(settings.redis_url)
    try:
        # A first import loads everything an import needs (modules, connections, pools).
        warm_id = await post_import(client, admin_headers, "accounts/1", small_file("warm", 200))
        await wait_until(lambda: job_ended(redis, warm_id), within=60, what="the warm-up import", alive=worker.problem)
        before = worker.rss_bytes()

        hostile_id = await post_import(client, admin_headers, "accounts/1", hostile_file())
        await wait_until(
            lambda: job_ended(redis, hostile_id), within=120, what="the hostile import", alive=worker.problem
        )
        after = worker.rss_bytes()
    finally:
        await redis.aclose()
    print(f"worker RSS {before / MIB:.0f} MiB before the hostile import, {after / MIB:.0f} MiB after")

    row = await import_row(db, hostile_id)
    assert (row["workflow_state"], row["error_count"]) == ("succeeded", HOSTILE_ROWS)
    stored = [(r["row"], r["message"]) for r in await db.fetch(SELECT_STORED_ERRORS, hostile_id)]
    assert stored == [(n + 3, INVALID_METHOD) for n in range(HOSTILE_ROWS)]
    assert after - before <= RSS_GROWTH_BOUND, (before, after)
