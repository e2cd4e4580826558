"""A district with a backlog costs the fleet nothing while it waits, and delays no other district."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from shared.queue import QUEUE_NAME
from shared.settings import Settings
from tests.faults import import_row, post_import, small_file, wait_until
from tests.support.canvas import create_conformance_contexts
from worker.settings import create_worker

BACKLOG = 100
GROUP_FILE = b"vendor_guid,object_type,title,parent_guids\na-g,group,%s,\n"


async def _state(db: asyncpg.Connection, import_id: int) -> str:
    state: str = (await import_row(db, import_id))["workflow_state"]
    return state


@pytest.mark.timeout(120)
async def test_a_backlog_waits_without_jobs_while_another_district_runs_at_once(
    client: TestClient[Any, Any], admin_headers: dict[str, str], db: asyncpg.Connection, settings: Settings
) -> None:
    contexts = await create_conformance_contexts(client, admin_headers)
    a, b = contexts.path("A"), contexts.path("B")
    seed_id = await post_import(client, admin_headers, a, GROUP_FILE % b"Group")
    worker = create_worker(settings, poll_delay=0.05, max_jobs=2)
    running = asyncio.create_task(worker.main())
    blocker = await asyncpg.connect(settings.database_url)
    redis = Redis.from_url(settings.redis_url)
    try:
        await wait_until(lambda: _is(db, seed_id, "succeeded"), within=30, what="the seed import")
        async with blocker.transaction():
            # District A's first import renames the group, and waits for this row lock meanwhile.
            await blocker.execute("SELECT 1 FROM learning_outcome_groups WHERE vendor_guid = 'a-g' FOR UPDATE")
            head = await post_import(client, admin_headers, a, GROUP_FILE % b"Renamed")
            await wait_until(lambda: _is(db, head, "importing"), within=30, what="A's first import to start")
            backlog = [await post_import(client, admin_headers, a, small_file(f"a{n}", 2)) for n in range(BACKLOG)]
            # Only the first in line has a job: the backlog is rows in PostgreSQL, nothing in Redis.
            assert await redis.zcard(QUEUE_NAME) == 1

            def picked() -> int:
                return worker.jobs_complete + worker.jobs_retried + worker.jobs_failed

            # Counted from here: before it, the head's job may have met the seed's job still letting
            # go of its lock, and waited a moment (a retry of its own, by design).
            picked_before, retried_before = picked(), worker.jobs_retried
            in_b = await post_import(client, admin_headers, b, small_file("b", 3))
            await wait_until(lambda: _is(db, in_b, "succeeded"), within=30, what="district B's import, A still held")
            assert await _state(db, head) == "importing"

            # The worker picked up B's job and nothing else: no waiting import of A was touched.
            # (Its counters move once the job has returned, a moment after the import's commit.)
            async def b_job_done() -> bool:
                return picked() > picked_before

            await wait_until(b_job_done, within=10, what="the worker to finish B's job")
            assert picked() == picked_before + 1
            assert worker.jobs_retried == retried_before
        await wait_until(lambda: _is(db, backlog[-1], "succeeded"), within=90, what="A's backlog to drain")
    finally:
        await blocker.close()
        await redis.aclose()
        running.cancel()
        await worker.close()
    rows = await db.fetch(
        "SELECT id, workflow_state, attempts, started_at FROM outcome_imports WHERE id = ANY($1::bigint[]) ORDER BY id",
        [head, *backlog],
    )
    assert {(r["workflow_state"], r["attempts"]) for r in rows} == {("succeeded", 1)}  # waiting spent no attempt
    started = [r["started_at"] for r in rows]
    assert started == sorted(started), "district A ran in creation order"


async def _is(db: asyncpg.Connection, import_id: int, state: str) -> bool:
    return await _state(db, import_id) == state
