"""The operations controls against real imports and a real worker: cancel (waiting, and running
while stuck on a lock), retry, pause and resume; each one in the audit log, none changing
Canvas's routes or states."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from arq.constants import job_key_prefix
from redis.asyncio import Redis

from shared.db.import_jobs import queued_imports
from shared.queue import import_job_id
from shared.settings import Settings
from tests.faults import import_row, post_import, small_file, wait_until
from tests.support.canvas import expect_json
from tests.support.files import outcomes_file
from tests.support.operators import ADMIN_A, SITE, OpsWorld, create_ops_world

Client = TestClient[Any, Any]
OPS = "/api/v1/operations"
CANCELLED = "The import was cancelled by an administrator"


@pytest.fixture
async def world(client: Client, admin_headers: dict[str, str]) -> OpsWorld:
    return await create_ops_world(client, admin_headers)


async def _post(client: Client, path: str, headers: dict[str, str], status: int = 200) -> Any:
    return await expect_json(await client.post(OPS + path, headers=headers), status)


async def _canvas_view(client: Client, world: OpsWorld, context: str, import_id: int) -> Any:
    resp = await client.get(f"/api/v1/{world.path(context)}/outcome_imports/{import_id}", headers=world.headers[SITE])
    return await expect_json(resp, 200)


async def _outcomes_in(db: asyncpg.Connection, account_id: int) -> int:
    count: int = await db.fetchval(
        "SELECT count(*) FROM learning_outcomes WHERE context_type = 'Account' AND context_id = $1", account_id
    )
    return count


async def _audit(client: Client, world: OpsWorld) -> list[tuple[Any, ...]]:
    entries = (await expect_json(await client.get(f"{OPS}/audit_log", headers=world.headers[SITE]), 200))["entries"]
    return [(e["user"]["name"], e["action"], e["root_account_id"], e["outcome_import_id"]) for e in entries]


async def test_a_waiting_import_cancelled_ends_failed_and_its_job_leaves_it_so(
    client: Client, world: OpsWorld, db: asyncpg.Connection, run_worker: Callable[[], Awaitable[None]]
) -> None:
    import_id = await post_import(client, world.headers[SITE], world.path("A"), small_file("a", 3))
    body = await _post(client, f"/imports/{import_id}/cancel", world.headers[SITE])
    assert (body["workflow_state"], body["cancel_requested"], body["errors"]) == ("failed", True, [[1, CANCELLED]])
    await run_worker()  # its job still runs, finds it ended, and leaves it so
    canvas = await _canvas_view(client, world, "A", import_id)
    assert (canvas["workflow_state"], canvas["processing_errors"]) == ("failed", [[1, CANCELLED]])
    assert await _outcomes_in(db, world.accounts["A"]) == 0
    assert await _post(client, f"/imports/{import_id}/cancel", world.headers[SITE], 409) == {
        "errors": [{"message": "Only a waiting or running import can be cancelled"}]
    }
    assert await _audit(client, world) == [("Site Admin", "cancel_waiting_import", world.accounts["A"], import_id)]


async def test_a_running_import_stuck_on_a_lock_is_cancelled_and_rolled_back(
    client: Client, world: OpsWorld, db: asyncpg.Connection, settings: Settings
) -> None:
    from worker.settings import create_worker

    data, _, _, _ = outcomes_file(3000)
    import_id = await post_import(client, world.headers[SITE], world.path("A"), data)
    blocker = await asyncpg.connect(settings.database_url)
    worker = create_worker(settings.with_(batch_size=500), burst=True, poll_delay=0)
    running = asyncio.create_task(worker.main())
    try:
        async with blocker.transaction():
            # Every write of links waits for this lock: the import is stuck in a statement, where
            # only cancelling the statement can stop it.
            await blocker.execute("LOCK TABLE learning_outcome_links IN SHARE MODE")

            async def stuck() -> bool:
                waiting = await db.fetchval(
                    "SELECT count(*) FROM pg_locks WHERE relation = 'learning_outcome_links'::regclass AND NOT granted"
                )
                return bool(waiting)

            await wait_until(stuck, within=30, what="the import to wait for the lock")
            body = await _post(client, f"/imports/{import_id}/cancel", world.headers[SITE])
            assert (body["workflow_state"], body["cancel_requested"]) == ("importing", True)

            async def ended() -> bool:
                return (await import_row(db, import_id))["workflow_state"] == "failed"

            await wait_until(ended, within=15, what="the cancelled import to end, the lock still held")
        await asyncio.wait_for(running, 30)
    finally:
        await worker.close()
        await blocker.close()
    canvas = await _canvas_view(client, world, "A", import_id)
    assert (canvas["workflow_state"], canvas["processing_errors"]) == ("failed", [[1, CANCELLED]])
    assert await _outcomes_in(db, world.accounts["A"]) == 0
    assert await db.fetchval("SELECT count(*) FROM learning_outcome_groups WHERE last_import_id = $1", import_id) == 0


async def test_a_failed_import_is_retried_from_its_stored_file(
    client: Client, world: OpsWorld, db: asyncpg.Connection, run_worker: Callable[[], Awaitable[None]]
) -> None:
    failed = await post_import(client, world.headers[SITE], world.path("A"), small_file("a", 4))
    await _post(client, f"/imports/{failed}/cancel", world.headers[SITE])
    assert await _post(client, f"/imports/{failed}/retry", world.headers[ADMIN_A], 403)
    retried = await _post(client, f"/imports/{failed}/retry", world.headers[SITE], 201)
    assert (retried["workflow_state"], retried["retry_of_id"], retried["file_name"]) == (
        "created", failed, "outcomes.csv",
    )  # fmt: skip
    assert retried["id"] != failed
    await run_worker()
    canvas = await _canvas_view(client, world, "A", retried["id"])
    assert (canvas["workflow_state"], canvas["processing_errors"]) == ("succeeded", [])
    assert await _outcomes_in(db, world.accounts["A"]) == 4
    assert await _post(client, f"/imports/{retried['id']}/retry", world.headers[SITE], 409) == {
        "errors": [{"message": "Only a failed import can be retried"}]
    }
    assert (await _audit(client, world))[0] == ("Site Admin", "retry_import", world.accounts["A"], failed)


async def test_a_paused_district_keeps_its_imports_waiting_until_resumed(
    client: Client,
    world: OpsWorld,
    db: asyncpg.Connection,
    settings: Settings,
    run_worker: Callable[[], Awaitable[None]],
) -> None:
    a = world.accounts["A"]
    paused = await _post(client, f"/queues/{a}/pause", world.headers[SITE])
    assert (paused["root_account_id"], paused["paused"], paused["waiting"]) == (a, True, 0)
    assert (await _post(client, f"/queues/{a}/pause", world.headers[SITE]))["paused_at"] == paused["paused_at"]
    in_a = await post_import(client, world.headers[SITE], world.path("A"), small_file("a", 3))  # still accepted
    in_b = await post_import(client, world.headers[SITE], world.path("B"), small_file("b", 3))
    await run_worker()
    assert (await import_row(db, in_a))["workflow_state"] == "created"
    assert (await import_row(db, in_b))["workflow_state"] == "succeeded"
    # Its job has ended: a paused import costs no worker anything, and the reconciler (which
    # enqueues waiting imports that have no job) leaves it be.
    redis = Redis.from_url(settings.redis_url)
    try:
        assert not await redis.exists(job_key_prefix + import_job_id(in_a))
    finally:
        await redis.aclose()
    assert in_a not in await queued_imports(db)
    queue = (await expect_json(await client.get(f"{OPS}/queues", headers=world.headers[ADMIN_A]), 200))["queues"]
    assert [(q["root_account_id"], q["waiting"], q["paused"]) for q in queue] == [(a, 1, True)]

    resumed = await _post(client, f"/queues/{a}/resume", world.headers[SITE])
    assert (resumed["paused"], resumed["paused_at"], resumed["waiting"]) == (False, None, 1)
    await run_worker()
    assert (await _canvas_view(client, world, "A", in_a))["workflow_state"] == "succeeded"
    assert [entry[1:3] for entry in await _audit(client, world)] == [
        ("resume_queue", a), ("pause_queue", a), ("pause_queue", a),
    ]  # fmt: skip
