"""What the importer promises beyond Canvas: exact errors at scale, never half-applied, idempotent retries."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import asyncpg
from redis.asyncio import Redis

from shared.db.accounts import ensure_bootstrap_admin
from shared.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.support.canvas import attachment, create_conformance_contexts, expect_json, wait_for_final_state
from tests.support.files import outcomes_file
from tests.support.snapshot import snapshot
from tests.support.workers import run_burst_worker

POLL_SECONDS = 0.05


async def _post(client: Any, headers: dict[str, str], path: str, data: bytes) -> int:
    created = await expect_json(
        await client.post(f"/api/v1/{path}/outcome_imports", data=attachment(data), headers=headers), 200
    )
    return int(created["id"])


async def test_50000_rows_with_errors_spread_through(
    client: Any, admin_headers: dict[str, str], settings: Settings, db: asyncpg.Connection
) -> None:
    data, errors, groups, outcomes = outcomes_file(50_000)
    import_id = await _post(client, admin_headers, "accounts/1", data)
    worker = asyncio.create_task(run_burst_worker(settings))
    progress_seen = []
    deadline = time.monotonic() + 240
    while not worker.done():
        body = await expect_json(
            await client.get(f"/api/v1/accounts/1/outcome_imports/{import_id}", headers=admin_headers), 200
        )
        progress_seen.append(body["progress"])
        assert time.monotonic() < deadline, "import did not finish in time"
        await asyncio.sleep(POLL_SECONDS)  # polling the status API while the worker runs
    await worker
    final = await expect_json(
        await client.get(f"/api/v1/accounts/1/outcome_imports/{import_id}", headers=admin_headers), 200
    )
    assert (final["workflow_state"], final["progress"]) == ("succeeded", 100)
    assert progress_seen == sorted(progress_seen), "progress went backwards"
    assert len(set(progress_seen)) > 2, f"no intermediate progress was published: {set(progress_seen)}"
    assert final["processing_errors"] == [[row, message] for row, message in errors[:25]]
    stored = await db.fetch(
        "SELECT row, message FROM outcome_import_errors WHERE outcome_import_id = $1 ORDER BY row, id", import_id
    )
    assert [(r["row"], r["message"]) for r in stored] == errors
    counts = await db.fetchrow(
        "SELECT (SELECT count(*) FROM learning_outcome_groups WHERE vendor_guid IS NOT NULL "
        "        AND workflow_state = 'active') AS groups,"
        "       (SELECT count(*) FROM learning_outcomes WHERE workflow_state = 'active') AS outcomes,"
        "       (SELECT count(*) FROM learning_outcome_links WHERE workflow_state = 'active') AS links"
    )
    assert (counts["groups"], counts["outcomes"], counts["links"]) == (groups, outcomes, outcomes)


BASE = b"""vendor_guid,object_type,title,parent_guids,workflow_state
geo,group,Geometry,,
shp,group,Shapes,geo,
tri,outcome,Identify triangles,shp,
ang,outcome,Measure angles,geo,
"""
# Renames, moves, deletes and creates across several batches of 5, then a malformed record.
FAILING = b"""vendor_guid,object_type,title,parent_guids,workflow_state
geo,group,Geometry renamed,,
shp,group,Shapes,,
tri,outcome,Triangles renamed,shp,
ang,outcome,Measure angles,geo,deleted
new1,group,New group,,
n1,outcome,New outcome 1,new1,
n2,outcome,New outcome 2,new1,
n3,outcome,New outcome 3,new1,
geo,group,Geometry again,,
n4,outcome,New outcome 4,,
n5,outcome,New outcome 5,,
n6,outcome,"Broken "quote",,
n7,outcome,Never reached,,
"""


async def test_a_failed_import_leaves_the_database_unchanged(
    client: Any, admin_headers: dict[str, str], settings: Settings, db: asyncpg.Connection, run_worker: Any
) -> None:
    first = await _post(client, admin_headers, "accounts/1", BASE)
    assert (await wait_for_final_state(client, admin_headers, "accounts/1", first, run_worker))[
        "workflow_state"
    ] == "succeeded"
    before = await snapshot(db)
    failing = await _post(client, admin_headers, "accounts/1", FAILING)
    await run_burst_worker(settings.with_(batch_size=5))  # the malformed record is in the third batch
    final = await wait_for_final_state(client, admin_headers, "accounts/1", failing, run_worker)
    assert (final["workflow_state"], final["processing_errors"]) == ("failed", [[1, "Invalid CSV File"]])
    assert await snapshot(db) == before
    assert (
        await expect_json(await client.get("/api/v1/accounts/1/outcome_imports/latest", headers=admin_headers), 200)
    )["id"] == failing


async def test_a_job_interrupted_mid_import_is_retried_to_the_result_of_a_clean_run(
    client: Any,
    admin_headers: dict[str, str],
    settings: Settings,
    db: asyncpg.Connection,
    test_database: tuple[str, str],
    redis_url: str,
) -> None:
    data, _, _, _ = outcomes_file(10_000)
    small_batches = settings.with_(batch_size=250)

    async def import_once(interrupt: bool) -> tuple[dict[str, Any], dict[str, Any]]:
        contexts = await create_conformance_contexts(client, admin_headers)
        path = contexts.path("A1")
        import_id = await _post(client, admin_headers, path, data)
        worker = asyncio.create_task(run_burst_worker(small_batches))
        if interrupt:
            await _kill_import_transaction_after_some_progress(db, import_id, worker)
        await asyncio.wait_for(worker, 240)
        final = await expect_json(
            await client.get(f"/api/v1/{path}/outcome_imports/{import_id}", headers=admin_headers), 200
        )
        return final, await snapshot(db)

    clean_final, clean = await import_once(interrupt=False)
    # Back to a fresh installation, with the same admin; ids start again, so arq's memory of
    # finished job ids must go too.
    await db.execute(test_database[1])
    await ensure_bootstrap_admin(db, ADMIN_TOKEN)
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    await redis.aclose()
    retried_final, retried = await import_once(interrupt=True)
    assert await db.fetchval("SELECT attempts FROM outcome_imports") == 2
    assert retried == clean
    for key in ("workflow_state", "progress", "processing_errors"):
        assert retried_final[key] == clean_final[key]


async def _kill_import_transaction_after_some_progress(
    db: asyncpg.Connection, import_id: int, worker: asyncio.Task[None]
) -> None:
    """A real fault: PostgreSQL terminates the worker's session in the middle of the import."""
    deadline = time.monotonic() + 120
    while (await db.fetchval("SELECT progress FROM outcome_imports WHERE id = $1", import_id)) < 20:
        assert not worker.done() and time.monotonic() < deadline, "the import never got going"
        await asyncio.sleep(POLL_SECONDS)  # polling the import's progress
    killed = await db.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
    )
    assert killed >= 1
