"""An import whose every attempt dies is started at most OUTCOME_IMPORTS_JOB_MAX_TRIES times, then fails."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import asyncpg
import pytest

from shared.settings import Settings
from tests.faults import WorkerProcess, import_row, post_import, small_file, wait_until
from tests.support.canvas import expect_json
from worker.jobs import NEVER_FINISHED

MAX_TRIES = 2


@pytest.mark.timeout(120)
async def test_an_import_whose_holder_is_killed_at_every_attempt_ends_failed_after_the_last_try(
    client: Any,
    admin_headers: dict[str, str],
    settings: Settings,
    db: asyncpg.Connection,
    start_worker: Callable[[Settings], WorkerProcess],
) -> None:
    quick = settings.with_(
        job_max_tries=MAX_TRIES, heartbeat_seconds=1, stale_after_seconds=2, reconcile_every_seconds=1
    )
    import_id = await post_import(client, admin_headers, "accounts/1", small_file("p", 10))
    blocker = await asyncpg.connect(settings.database_url)
    try:
        async with blocker.transaction():
            # Every attempt waits here, at its first write of links, until its worker is killed.
            await blocker.execute("LOCK TABLE learning_outcome_links IN SHARE MODE")
            for attempt in range(1, MAX_TRIES + 1):
                worker = start_worker(quick)

                async def started(attempt: int = attempt) -> bool:
                    row = await import_row(db, import_id)
                    return bool(row["workflow_state"] == "importing" and row["attempts"] == attempt)

                await wait_until(started, within=60, what=f"attempt {attempt}", alive=worker.problem)
                worker.kill()
            survivor = start_worker(quick)

            async def ended() -> bool:
                return bool((await import_row(db, import_id))["workflow_state"] == "failed")

            await wait_until(ended, within=60, what="the import to be given up", alive=survivor.problem)
    finally:
        await blocker.close()
    assert (await import_row(db, import_id))["attempts"] == MAX_TRIES
    body = await expect_json(
        await client.get(f"/api/v1/accounts/1/outcome_imports/{import_id}", headers=admin_headers), 200
    )
    assert (body["workflow_state"], body["processing_errors"]) == (
        "failed",
        [[1, NEVER_FINISHED.format(attempts=MAX_TRIES)]],
    )
