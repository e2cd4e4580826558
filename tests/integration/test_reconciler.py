"""The reconciler enqueues every first-in-line import without a job, and reports as lost only
those that were not created a moment ago (those the API is most likely enqueueing right now)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from arq.connections import ArqRedis
from arq.constants import job_key_prefix

from shared.db.pool import create_pool
from shared.fleet_metrics import FleetMetrics
from shared.queue import import_job_id, missing_jobs
from shared.settings import Settings
from shared.status import StatusStore
from shared.storage import open_storage
from tests.faults import post_import, small_file
from worker.deps import Deps
from worker.reconciler import reconcile_once
from worker.registry import WorkerRegistry


@pytest.fixture
async def worker_deps(settings: Settings) -> AsyncIterator[Deps]:
    redis = ArqRedis.from_url(settings.redis_url)
    async with create_pool(settings.database_url) as pool, open_storage(settings.storage_url) as storage:
        yield Deps(settings, pool, redis, storage, StatusStore(redis, 60), FleetMetrics(redis), WorkerRegistry(1))
    await redis.aclose()


async def test_a_job_missing_for_a_new_import_is_enqueued_without_a_warning_and_for_an_old_one_with_one(
    client: Any,
    admin_headers: dict[str, str],
    worker_deps: Deps,
    db: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    import_id = await post_import(client, admin_headers, "accounts/1", small_file("r", 2))
    redis = worker_deps.redis
    # As if the API had died between its commit and its enqueue.
    await redis.delete(job_key_prefix + import_job_id(import_id))
    with caplog.at_level(logging.INFO, logger="worker.reconciler"):
        _, lost = await reconcile_once(worker_deps, redis)
    assert lost == [import_id] and await missing_jobs(redis, [import_id]) == []
    [line] = [r for r in caplog.records if r.name == "worker.reconciler"]
    assert (line.levelno, line.getMessage()) == (
        logging.INFO,
        f"import_id={import_id} (just created) has no job in Redis yet; enqueueing it",
    )

    caplog.clear()
    await db.execute("UPDATE outcome_imports SET created_at = now() - interval '1 minute' WHERE id = $1", import_id)
    await redis.delete(job_key_prefix + import_job_id(import_id))
    with caplog.at_level(logging.INFO, logger="worker.reconciler"):
        _, lost = await reconcile_once(worker_deps, redis)
    assert lost == [import_id] and await missing_jobs(redis, [import_id]) == []
    [line] = [r for r in caplog.records if r.name == "worker.reconciler"]
    assert (line.levelno, line.getMessage()) == (
        logging.WARNING,
        f"import_id={import_id} has no job in Redis; enqueueing it again",
    )
