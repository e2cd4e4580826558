"""A worker SIGKILLed in the middle of a 50,000-row import: another worker takes it over and finishes it.

The import is held at a known point (a lock on a group its fifth batch renames), so the kill lands
mid-import however fast or slow the machine is; the test asserts what happened, not how long it took."""

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
    held_at_a_lock,
    held_group_file,
    holding_group_row,
    import_row,
    post_import,
    wait_until,
)
from tests.support.canvas import expect_json
from tests.support.files import outcomes_file

STALE_AFTER_SECONDS = 5
# A group of outcomes_file(50_000) 40% into the file (one every 50 rows, g1, g51, ...): with
# batches of 5,000 rows, four batches are done when its batch waits for the group's row.
HELD_GROUP = "g20001"


@pytest.mark.timeout(180)
async def test_an_import_whose_worker_was_killed_is_taken_over_and_ends_as_an_uninterrupted_run(
    client: Any,
    admin_headers: dict[str, str],
    settings: Settings,
    db: asyncpg.Connection,
    start_worker: Callable[[Settings], WorkerProcess],
) -> None:
    data, errors, groups, outcomes = outcomes_file(50_000)
    worker_a = start_worker(settings.with_(heartbeat_seconds=1))
    seed_id = await post_import(client, admin_headers, "accounts/1", held_group_file(HELD_GROUP))

    async def seeded() -> bool:
        return bool((await import_row(db, seed_id))["workflow_state"] == "succeeded")

    await wait_until(seeded, within=60, what="the held group to be imported", alive=worker_a.problem)
    async with holding_group_row(settings.database_url, HELD_GROUP):
        import_id = await post_import(client, admin_headers, "accounts/1", data)

        await wait_until(
            lambda: held_at_a_lock(db, import_id, progress=20),
            within=90,
            what="worker A to wait at the held group, progress >= 20",
            alive=worker_a.problem,
        )
        first = await import_row(db, import_id)
        assert (first["workflow_state"], first["attempts"]) == ("importing", 1)
        worker_a.kill()  # while its import waits for the held group
    killed_at = time.monotonic()

    worker_b = start_worker(
        settings.with_(stale_after_seconds=STALE_AFTER_SECONDS, reconcile_every_seconds=1, heartbeat_seconds=1)
    )

    async def taken_over() -> asyncpg.Record | None:
        row = await import_row(db, import_id)
        return row if row["attempts"] == 2 else None

    second = await wait_until(taken_over, within=60, what="worker B to start the import again", alive=worker_b.problem)
    print(f"taken over {time.monotonic() - killed_at:.1f} s after the kill")  # for the log; load decides it
    assert second["started_at"] > first["started_at"]

    async def finished() -> asyncpg.Record | None:
        row = await import_row(db, import_id)
        return row if row["workflow_state"] in ("succeeded", "failed") else None

    await wait_until(finished, within=120, what="the import to finish under worker B", alive=worker_b.problem)
    await assert_succeeded_with(db, import_id, errors)
    # The held group is one of the file's: renamed, not counted twice.
    await assert_context_holds(db, ("Account", 1), groups=groups, outcomes=outcomes)
    assert (await import_row(db, import_id))["attempts"] == 2
    final = await expect_json(
        await client.get(f"/api/v1/accounts/1/outcome_imports/{import_id}", headers=admin_headers), 200
    )
    assert (final["workflow_state"], final["progress"]) == ("succeeded", 100)
    assert final["processing_errors"] == [[row, message] for row, message in errors[:25]]
