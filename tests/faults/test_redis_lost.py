"""Redis restarts empty while imports are queued and running: nothing is lost, the worker reconnects by itself."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from api.app import create_app
from shared.settings import Settings
from tests.faults import (
    RestartableServer,
    WorkerProcess,
    assert_context_holds,
    assert_succeeded_with,
    context_of,
    import_row,
    post_import,
    small_file,
    wait_until,
)
from tests.support.canvas import create_conformance_contexts, expect_json
from tests.support.files import outcomes_file

# Long enough for the worker's queue polling and status writes to hit the closed port many times.
OUTAGE = timedelta(seconds=2)


@pytest.mark.timeout(120)
async def test_imports_queued_running_and_posted_while_redis_is_away_all_succeed(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    admin_headers: dict[str, str],
    settings: Settings,
    db: asyncpg.Connection,
    private_redis: RestartableServer,
    start_worker: Callable[[Settings], WorkerProcess],
) -> None:
    on_private_redis = settings.with_(redis_url=private_redis.url, reconcile_every_seconds=1, heartbeat_seconds=1)
    client = await aiohttp_client(create_app(on_private_redis))
    contexts = await create_conformance_contexts(client, admin_headers)
    a, b = contexts.path("A"), contexts.path("B")
    # A lock of ours holds every import at its first write of links, so that the large one is
    # certainly running through the outage however fast it is; it goes on while Redis is still away.
    blocker = await asyncpg.connect(settings.database_url)
    try:
        holding = blocker.transaction()
        await holding.start()
        await blocker.execute("LOCK TABLE learning_outcome_links IN SHARE MODE")
        large, large_errors, large_groups, large_outcomes = outcomes_file(20_000)
        large_id = await post_import(client, admin_headers, a, large)
        queued_in_a = await post_import(client, admin_headers, a, small_file("a-later", 40))
        in_b = await post_import(client, admin_headers, b, small_file("b", 30))
        worker = start_worker(on_private_redis)

        async def large_is_under_way() -> bool:
            return (await import_row(db, large_id))["workflow_state"] == "importing"

        await wait_until(large_is_under_way, within=60, what="the large import to start", alive=worker.problem)
        await private_redis.stop_async()
        outage_began = await db.fetchval("SELECT now()")
        health = await client.get("/health")
        assert (health.status, (await health.json())["checks"]["redis"]) == (503, "unavailable")

        # PostgreSQL answers for Redis meanwhile: reads, and an upload the reconciler will enqueue later.
        for path, import_id in ((a, large_id), (a, queued_in_a), (b, in_b)):
            body = await expect_json(
                await client.get(f"/api/v1/{path}/outcome_imports/{import_id}", headers=admin_headers), 200
            )
            assert body["id"] == import_id
        during_outage = await post_import(client, admin_headers, b, small_file("b-outage", 25))
        assert (await import_row(db, large_id))["workflow_state"] == "importing"

        async def worker_lived_through_two_seconds_of_outage() -> bool:
            beat = await db.fetchval("SELECT heartbeat_at FROM outcome_imports WHERE id = $1", large_id)
            return bool(beat >= outage_began + OUTAGE)

        await wait_until(
            worker_lived_through_two_seconds_of_outage, within=30, what="heartbeats", alive=worker.problem
        )
        await holding.rollback()
    finally:
        await blocker.close()

    async def large_went_on_without_redis() -> bool:
        return (await import_row(db, large_id))["progress"] > 0

    await wait_until(large_went_on_without_redis, within=60, what="progress during the outage", alive=worker.problem)
    await private_redis.start_async()  # same port, no data

    async def all_finished() -> bool:
        ids = (large_id, queued_in_a, in_b, during_outage)
        states = [(await import_row(db, i))["workflow_state"] for i in ids]
        return all(state in ("succeeded", "failed") for state in states)

    await wait_until(all_finished, within=90, what="every import to finish", alive=worker.problem)
    assert worker.problem() is None, "the worker must ride out the restart in the same process"
    await assert_succeeded_with(db, large_id, large_errors)
    await assert_succeeded_with(db, queued_in_a, [])
    await assert_succeeded_with(db, in_b, [])
    await assert_succeeded_with(db, during_outage, [])
    # Same root account: the small import of A ran after the large one.
    assert (await import_row(db, queued_in_a))["started_at"] >= (await import_row(db, large_id))["ended_at"]
    await assert_context_holds(db, context_of(a), groups=large_groups + 1, outcomes=large_outcomes + 40)
    await assert_context_holds(db, context_of(b), groups=2, outcomes=30 + 25)
    for path, import_id in ((a, large_id), (a, queued_in_a), (b, in_b), (b, during_outage)):
        body = await expect_json(
            await client.get(f"/api/v1/{path}/outcome_imports/{import_id}", headers=admin_headers), 200
        )
        assert (body["workflow_state"], body["progress"]) == ("succeeded", 100)
