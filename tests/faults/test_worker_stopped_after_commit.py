"""SIGTERM to a worker after its import committed but before it wrote the final status to Redis (found
by scripts/scale_test.py during a rolling restart): the job is handed back and runs again, finds the
import finished, and must still leave the status view saying what PostgreSQL says."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import asyncpg
import pytest

from shared.settings import Settings
from tests.faults import WorkerProcess, import_row, post_import, small_file, wait_until
from tests.support.canvas import create_conformance_contexts, expect_json


@pytest.mark.timeout(120)
async def test_an_import_committed_just_before_sigterm_is_reported_succeeded(
    client: Any,
    admin_headers: dict[str, str],
    settings: Settings,
    db: asyncpg.Connection,
    start_worker: Callable[[Settings], WorkerProcess],
) -> None:
    contexts = await create_conformance_contexts(client, admin_headers)
    path = contexts.path("A")
    import_id = await post_import(client, admin_headers, path, small_file("A", 2_000))
    # The reconciler's later passes stay out of the way: only the re-run job may repair the view.
    settings = replace(settings, reconcile_every_seconds=3600)
    stop_writes = await asyncpg.connect(settings.database_url)
    stop_status = await asyncpg.connect(settings.database_url)
    try:
        # The import waits inside its first write of links until stop_writes lets go.
        write_lock = stop_writes.transaction()
        await write_lock.start()
        await stop_writes.execute("LOCK TABLE learning_outcome_links IN SHARE MODE")
        first = start_worker(settings)

        async def importing() -> bool:
            return bool((await import_row(db, import_id))["workflow_state"] == "importing")

        await wait_until(importing, within=60, what="the import to start", alive=first.problem)
        # Reading the committed import back for the status view joins `users`: that read waits here.
        async with stop_status.transaction():
            await stop_status.execute("LOCK TABLE users IN ACCESS EXCLUSIVE MODE")
            await write_lock.commit()

            async def committed() -> bool:
                return bool((await import_row(db, import_id))["workflow_state"] == "succeeded")

            await wait_until(committed, within=60, what="the import to commit", alive=first.problem)
            first.process.terminate()
            assert await asyncio.to_thread(first.process.wait, 30) == 0
    finally:
        await stop_writes.close()
        await stop_status.close()
    second = start_worker(settings)
    status_path = f"/api/v1/{path}/outcome_imports/{import_id}"

    async def reported_succeeded() -> bool:
        status = await expect_json(await client.get(status_path, headers=admin_headers), 200)
        return bool(status["workflow_state"] == "succeeded" and status["ended_at"] is not None)

    await wait_until(reported_succeeded, within=30, what="the status view to say succeeded", alive=second.problem)
    row = await import_row(db, import_id)
    assert (row["workflow_state"], row["attempts"]) == ("succeeded", 1)
