"""PostgreSQL restarts in the middle of an import: the API answers 503 meanwhile, then recovers; the import
is retried to the result of a clean run. The import is held at a known point (a lock on a group its third
batch renames) when PostgreSQL stops, so the stop lands mid-import however fast the machine is."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from arq.constants import retry_key_prefix
from redis.asyncio import Redis

from api.app import create_app
from shared.db.errors import UNAVAILABLE_ERRORS
from shared.queue import import_job_id
from shared.settings import Settings
from tests.faults import (
    RestartableServer,
    WorkerProcess,
    assert_context_holds,
    assert_succeeded_with,
    held_at_a_lock,
    held_group_file,
    holding_group_row,
    import_row,
    post_import,
    small_file,
    wait_until,
)
from tests.support.canvas import attachment, expect_json
from tests.support.files import outcomes_file

# A group of outcomes_file(20_000) half-way through the file (one every 50 rows, g1, g51, ...): with
# batches of 5,000 rows, two batches are done when its batch waits for the group's row.
HELD_GROUP = "g10001"


@asynccontextmanager
async def connected(url: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(url)
    try:
        yield conn
    finally:
        await conn.close()


async def assert_unavailable(resp: Any) -> None:
    """503 with Canvas's error shape, and nothing of a traceback."""
    text = await resp.text()
    assert resp.status == 503, (resp.status, text)
    body = await resp.json()
    assert list(body) == ["errors"] and isinstance(body["errors"][0]["message"], str), body
    assert "Traceback" not in text and "asyncpg" not in text


@pytest.mark.timeout(120)
async def test_the_api_answers_503_while_postgres_is_away_and_the_import_is_retried_after_it_restarts(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    admin_headers: dict[str, str],
    settings: Settings,
    private_postgres: RestartableServer,
    start_worker: Callable[[Settings], WorkerProcess],
) -> None:
    on_private_postgres = settings.with_(database_url=private_postgres.url, heartbeat_seconds=1)
    client = await aiohttp_client(create_app(on_private_postgres))
    data, errors, groups, outcomes = outcomes_file(20_000)
    worker = start_worker(on_private_postgres)
    seed_id = await post_import(client, admin_headers, "accounts/1", held_group_file(HELD_GROUP))

    async def seeded() -> bool:
        async with connected(private_postgres.url) as db:
            return bool((await import_row(db, seed_id))["workflow_state"] == "succeeded")

    await wait_until(seeded, within=60, what="the held group to be imported", alive=worker.problem)
    async with holding_group_row(private_postgres.url, HELD_GROUP):
        import_id = await post_import(client, admin_headers, "accounts/1", data)

        async def held() -> bool:
            async with connected(private_postgres.url) as db:
                return await held_at_a_lock(db, import_id, progress=20)

        await wait_until(
            held, within=60, what="the import to wait at the held group, progress >= 20", alive=worker.problem
        )
        await private_postgres.stop_async()  # the held import's transaction and our lock go with it

    show = f"/api/v1/accounts/1/outcome_imports/{import_id}"
    await assert_unavailable(await client.get(show, headers=admin_headers))
    await assert_unavailable(await client.get("/api/v1/accounts/1/outcome_imports/latest", headers=admin_headers))
    await assert_unavailable(await client.get("/api/v1/accounts/1/outcome_groups", headers=admin_headers))
    await assert_unavailable(await client.get("/api/v1/accounts/1", headers=admin_headers))
    upload, imports = attachment(small_file("x", 1)), "/api/v1/accounts/1/outcome_imports"
    await assert_unavailable(await client.post(imports, data=upload, headers=admin_headers))

    async def job_tried_again_meanwhile() -> bool:
        tries = await redis.get(retry_key_prefix + import_job_id(import_id))
        return int(tries or 0) >= 2

    redis = Redis.from_url(settings.redis_url)
    try:
        await wait_until(job_tried_again_meanwhile, within=30, what="a retry during the outage", alive=worker.problem)
    finally:
        await redis.aclose()

    await private_postgres.start_async()
    # The same app, not restarted: its pool reconnects by itself.
    assert (await expect_json(await client.get(show, headers=admin_headers), 200))["id"] == import_id

    async def finished() -> bool:
        try:
            async with connected(private_postgres.url) as db:
                return (await import_row(db, import_id))["workflow_state"] in ("succeeded", "failed")
        except UNAVAILABLE_ERRORS:
            return False

    await wait_until(finished, within=90, what="the import to finish", alive=worker.problem)
    async with connected(private_postgres.url) as db:
        await assert_succeeded_with(db, import_id, errors)
        # The held group is one of the file's: renamed, not counted twice.
        await assert_context_holds(db, ("Account", 1), groups=groups, outcomes=outcomes)
        assert (await import_row(db, import_id))["attempts"] >= 2
    final = await expect_json(await client.get(show, headers=admin_headers), 200)
    assert (final["workflow_state"], final["progress"]) == ("succeeded", 100)
    assert final["processing_errors"] == [[row, message] for row, message in errors[:25]]
