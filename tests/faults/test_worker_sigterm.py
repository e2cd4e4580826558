"""SIGTERM to a worker running imports (a rolling deploy, a scale-down): it hands them back at once,
even while they wait inside a statement, and another worker finishes them as clean runs."""

from __future__ import annotations

import asyncio
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
    context_of,
    import_row,
    post_import,
    small_file,
    wait_until,
)
from tests.support.canvas import create_conformance_contexts

# arq cancels the jobs at once; what remains is rolling back and closing connections.
HAND_BACK_SECONDS = 5


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
            stopped_at = time.monotonic()
            first.process.terminate()
            code = await asyncio.to_thread(first.process.wait, 30)
            hand_back = time.monotonic() - stopped_at
    finally:
        await blocker.close()
    print(f"worker exited {hand_back:.1f} s after SIGTERM")
    assert code == 0 and hand_back <= HAND_BACK_SECONDS, (code, hand_back)
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
