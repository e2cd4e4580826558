"""A worker SIGKILLed in the middle of a 50,000-row import: another worker takes it over and finishes it."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest

from shared.settings import Settings
from tests.faults import (
    WorkerProcess,
    assert_context_holds,
    assert_succeeded_with,
    import_row,
    post_import,
    progress_while_importing,
    wait_until,
)
from tests.support.canvas import expect_json
from tests.support.files import outcomes_file

STALE_AFTER_SECONDS = 5
# Worker start-up, one reconciler period, arq's poll delay and the dead session's lock going away.
TAKEOVER_SLACK_SECONDS = 5


@pytest.mark.timeout(180)
async def test_an_import_whose_worker_was_killed_is_taken_over_and_ends_as_an_uninterrupted_run(
    client: Any,
    admin_headers: dict[str, str],
    settings: Settings,
    db: asyncpg.Connection,
    start_worker: Callable[[Settings], WorkerProcess],
) -> None:
    data, errors, groups, outcomes = outcomes_file(50_000)
    import_id = await post_import(client, admin_headers, "accounts/1", data)
    worker_a = start_worker(settings.with_(heartbeat_seconds=1))

    async def some_progress() -> bool:
        return await progress_while_importing(db, import_id) >= 20

    await wait_until(some_progress, within=90, what="progress >= 20 under worker A", alive=worker_a.problem)
    first = await import_row(db, import_id)
    assert (first["workflow_state"], first["attempts"]) == ("importing", 1)
    worker_a.kill()
    killed_at = time.monotonic()

    worker_b = start_worker(
        settings.with_(stale_after_seconds=STALE_AFTER_SECONDS, reconcile_every_seconds=1, heartbeat_seconds=1)
    )

    async def taken_over() -> asyncpg.Record | None:
        row = await import_row(db, import_id)
        return row if row["attempts"] == 2 else None

    second = await wait_until(taken_over, within=60, what="worker B to start the import again", alive=worker_b.problem)
    takeover_seconds = time.monotonic() - killed_at
    print(f"taken over {takeover_seconds:.1f} s after the kill")
    assert takeover_seconds <= STALE_AFTER_SECONDS + TAKEOVER_SLACK_SECONDS, takeover_seconds
    assert second["started_at"] > first["started_at"]

    async def finished() -> asyncpg.Record | None:
        row = await import_row(db, import_id)
        return row if row["workflow_state"] in ("succeeded", "failed") else None

    await wait_until(finished, within=120, what="the import to finish under worker B", alive=worker_b.problem)
    await assert_succeeded_with(db, import_id, errors)
    await assert_context_holds(db, ("Account", 1), groups=groups, outcomes=outcomes)
    assert (await import_row(db, import_id))["attempts"] == 2
    final = await expect_json(
        await client.get(f"/api/v1/accounts/1/outcome_imports/{import_id}", headers=admin_headers), 200
    )
    assert (final["workflow_state"], final["progress"]) == ("succeeded", 100)
    assert final["processing_errors"] == [[row, message] for row, message in errors[:25]]
