"""Stored uploads are deleted once past retention; the import's record stays, and nothing that an
unfinished or recent import needs is deleted."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from arq.connections import ArqRedis

from api.app import create_app
from shared.db.pool import create_pool
from shared.errors import StoredObjectNotFound
from shared.fleet_metrics import FleetMetrics
from shared.settings import Settings
from shared.status import StatusStore
from shared.storage import Storage, open_storage
from tests.faults import post_import, small_file
from tests.support.canvas import expect_json
from tests.support.seaweedfs import run_seaweedfs
from tests.support.workers import run_burst_worker
from worker.deps import Deps
from worker.registry import WorkerRegistry
from worker.retention import delete_expired_uploads

Client = TestClient[Any, Any]


@pytest.fixture(params=["disk", "s3"])
async def storage_settings(
    request: pytest.FixtureRequest, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Settings]:
    """The test's settings, with uploads on local disk or in a real S3 server (SeaweedFS)."""
    if request.param == "disk":
        yield settings
        return
    with run_seaweedfs() as server:
        for name, value in server.client_env().items():
            monkeypatch.setenv(name, value)  # botocore reads credentials from the environment
        yield settings.with_(
            storage_url=f"s3://{server.bucket}/uploads", s3_endpoint_url=server.endpoint_url, s3_region=server.region
        )


@pytest.fixture
async def worker_deps(storage_settings: Settings) -> AsyncIterator[Deps]:
    s = storage_settings
    redis = ArqRedis.from_url(s.redis_url)
    async with (
        create_pool(s.database_url) as pool,
        open_storage(s.storage_url, s3_endpoint_url=s.s3_endpoint_url, s3_region=s.s3_region) as storage,
    ):
        status, fleet = StatusStore(redis, 60), FleetMetrics(redis)
        yield Deps(s, pool, redis, storage, status, fleet, WorkerRegistry(1))
    await redis.aclose()


async def _is_stored(storage: Storage, key: str) -> bool:
    stream = storage.open_stream(key)
    try:
        await anext(stream)
    except StoredObjectNotFound:
        return False
    finally:
        await stream.aclose()
    return True


async def test_uploads_past_retention_are_deleted_from_disk_or_s3_and_their_imports_stay(
    aiohttp_client: Callable[..., Awaitable[Client]],
    admin_headers: dict[str, str],
    storage_settings: Settings,
    db: asyncpg.Connection,
    worker_deps: Deps,
) -> None:
    client = await aiohttp_client(create_app(storage_settings))
    old = await post_import(client, admin_headers, "accounts/1", small_file("old", 2))
    recent = await post_import(client, admin_headers, "accounts/1", small_file("recent", 2))
    await run_burst_worker(storage_settings)
    waiting = await post_import(client, admin_headers, "accounts/1", small_file("waiting", 2))
    await db.execute("UPDATE outcome_imports SET ended_at = now() - interval '31 days' WHERE id = $1", old)
    keys = {r["id"]: r["object_key"] for r in await db.fetch("SELECT id, object_key FROM outcome_imports")}
    storage = worker_deps.storage
    assert [await _is_stored(storage, keys[i]) for i in (old, recent, waiting)] == [True, True, True]

    assert await delete_expired_uploads(worker_deps) == 1
    assert [await _is_stored(storage, keys[i]) for i in (old, recent, waiting)] == [False, True, True]
    assert await db.fetchval("SELECT upload_deleted_at IS NOT NULL FROM outcome_imports WHERE id = $1", old)
    assert await delete_expired_uploads(worker_deps) == 0  # done once
    body = await expect_json(
        await client.get(f"/api/v1/accounts/1/outcome_imports/{old}", headers=admin_headers), 200
    )
    assert body["workflow_state"] == "succeeded"  # the record stays


async def test_a_file_a_retry_still_needs_is_kept_and_a_gone_file_cannot_be_retried(
    aiohttp_client: Callable[..., Awaitable[Client]],
    admin_headers: dict[str, str],
    storage_settings: Settings,
    db: asyncpg.Connection,
    worker_deps: Deps,
) -> None:
    client = await aiohttp_client(create_app(storage_settings))
    failed = await post_import(client, admin_headers, "accounts/1", small_file("f", 2))
    await expect_json(await client.post(f"/api/v1/operations/imports/{failed}/cancel", headers=admin_headers), 200)
    retried = await expect_json(
        await client.post(f"/api/v1/operations/imports/{failed}/retry", headers=admin_headers), 201
    )
    await db.execute("UPDATE outcome_imports SET ended_at = now() - interval '31 days' WHERE id = $1", failed)
    # The retry waits, and reads the same stored file: it is kept.
    assert await delete_expired_uploads(worker_deps) == 0
    key = await db.fetchval("SELECT object_key FROM outcome_imports WHERE id = $1", retried["id"])
    assert await _is_stored(worker_deps.storage, key)
    # Once the retry has ended long ago too, the file goes, and a retry of either is refused.
    await db.execute("UPDATE outcome_imports SET workflow_state = 'failed', ended_at = now() - interval '40 days'")
    assert await delete_expired_uploads(worker_deps) == 1
    resp = await client.post(f"/api/v1/operations/imports/{failed}/retry", headers=admin_headers)
    gone = "The import's file is no longer stored (uploads are kept 30 days after their import ends)"
    assert await expect_json(resp, 409) == {"errors": [{"message": gone}]}


async def test_retention_zero_keeps_every_upload(
    aiohttp_client: Callable[..., Awaitable[Client]],
    admin_headers: dict[str, str],
    storage_settings: Settings,
    db: asyncpg.Connection,
    worker_deps: Deps,
) -> None:
    client = await aiohttp_client(create_app(storage_settings))
    old = await post_import(client, admin_headers, "accounts/1", small_file("old", 2))
    await db.execute("UPDATE outcome_imports SET ended_at = now() - interval '3000 days' WHERE id = $1", old)
    keep_all = dataclasses.replace(worker_deps, settings=worker_deps.settings.with_(upload_retention_days=0))
    assert await delete_expired_uploads(keep_all) == 0
