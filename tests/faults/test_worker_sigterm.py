"""SIGTERM to a worker running imports (a rolling deploy, a scale-down): it hands them back at once,
even while they wait inside a statement, and another worker finishes them as clean runs. "At once" is
an outcome, not a duration: the worker is gone, and the imports handed back, while the statement they
wait in is still held."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import asyncpg
import pytest

from shared.settings import Settings
from tests.faults import (
    WorkerProcess,
    assert_context_holds,
    assert_succeeded_with,
    context_of,
    import_row,
    post_import,
    small_file,
    wait_until,
)
from tests.support.canvas import create_conformance_contexts

# A deadline, not a measure: a worker that waited for its imports' statements would never exit
# while the lock is held.
EXIT_DEADLINE_SECONDS = 60


@pytest.mark.timeout(120)
async def test_a_worker_stopped_with_imports_running_hands_them_back_at_once(
    client: Any,
    admin_headers: dict[str, str],
    settings: Settings,
    db: asyncpg.Connection,
    start_worker: Callable[[Settings], WorkerProcess],
) -> None:
    contexts = await create_conformance_contexts(client, admin_headers)
    # Guids of their own: two root accounts importing one new outcome guid at once would conflict.
    files = {contexts.path(name): small_file(name, 3_000) for name in ("A", "B")}
    imports = {path: await post_import(client, admin_headers, path, data) for path, data in files.items()}
    blocker = await asyncpg.connect(settings.database_url)
    try:
        async with blocker.transaction():
            # Both imports wait inside their first write of links: only cancelling that statement stops them.
            await blocker.execute("LOCK TABLE learning_outcome_links IN SHARE MODE")
            first = start_worker(settings)

            async def both_running() -> bool:
                rows = [await import_row(db, i) for i in imports.values()]
                return all(r["workflow_state"] == "importing" for r in rows)

            await wait_until(both_running, within=60, what="both imports to start", alive=first.problem)
            first.process.terminate()
            code = await asyncio.to_thread(first.process.wait, EXIT_DEADLINE_SECONDS)
            assert code == 0
            # Handed back before the lock went: neither start spent one of the import's tries.
            for import_id in imports.values():
                row = await import_row(db, import_id)
                assert (row["workflow_state"], row["attempts"]) == ("importing", 0), dict(row)
    finally:
        await blocker.close()
    second = start_worker(settings)

    async def both_finished() -> bool:
        rows = [await import_row(db, i) for i in imports.values()]
        return all(r["workflow_state"] in ("succeeded", "failed") for r in rows)

    await wait_until(both_finished, within=60, what="the second worker to finish both", alive=second.problem)
    for path in files:
        await assert_succeeded_with(db, imports[path], [])
        await assert_context_holds(db, context_of(path), groups=1, outcomes=3_000)
        # The start the stopped worker made was handed back: it did not spend one of the import's tries.
        assert (await import_row(db, imports[path]))["attempts"] == 1
