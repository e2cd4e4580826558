"""Two imports of one root account, posted at once to two API processes and run by two workers, run one after
the other in creation order and leave exactly the tree of a sequential run."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from api.app import create_app
from shared.db.accounts import ensure_bootstrap_admin
from shared.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.faults import assert_succeeded_with, import_row, post_import
from tests.support.canvas import create_conformance_contexts
from tests.support.files import outcomes_file
from tests.support.snapshot import snapshot
from worker.settings import create_worker

ROWS = 4_000
# The same guids with different titles: the final tree depends on which import ran last.
FIRST = outcomes_file(ROWS, title_prefix="First")
SECOND = outcomes_file(ROWS, title_prefix="Second")


async def _burst_worker(settings: Settings) -> None:
    # One job at a time, so that each worker takes one of the two imports.
    worker = create_worker(settings, burst=True, poll_delay=0, max_jobs=1)
    try:
        await asyncio.wait_for(worker.main(), 60)
    finally:
        await worker.close()


async def _stored_errors(db: asyncpg.Connection) -> list[tuple[Any, ...]]:
    rows = await db.fetch("SELECT outcome_import_id, row, message FROM outcome_import_errors ORDER BY 1, 2, id")
    return [tuple(r.values()) for r in rows]


async def test_two_imports_of_one_root_account_posted_at_once_run_in_creation_order(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    admin_headers: dict[str, str],
    settings: Settings,
    db: asyncpg.Connection,
    test_database: tuple[str, str],
    redis_url: str,
) -> None:
    api_1 = await aiohttp_client(create_app(settings))
    api_2 = await aiohttp_client(create_app(settings))
    contexts = await create_conformance_contexts(api_1, admin_headers)
    a, a1 = contexts.path("A"), contexts.path("A1")
    ids = await asyncio.gather(
        post_import(api_1, admin_headers, a, FIRST[0]), post_import(api_2, admin_headers, a1, SECOND[0])
    )
    await asyncio.gather(_burst_worker(settings), _burst_worker(settings))

    rows = {import_id: await import_row(db, import_id) for import_id in ids}
    assert [row["workflow_state"] for row in rows.values()] == ["succeeded", "succeeded"]
    earlier, later = sorted(ids)  # creation order
    assert rows[later]["started_at"] >= rows[earlier]["ended_at"], rows
    # The earlier one met an empty tree; the later one may be refused changes to the earlier one's outcomes.
    await assert_succeeded_with(db, earlier, (FIRST if earlier == ids[0] else SECOND)[1])
    concurrent = (await snapshot(db), await _stored_errors(db))

    # The same two files, one after the other in the same order, on a fresh installation.
    await db.execute(test_database[1])
    await ensure_bootstrap_admin(db, ADMIN_TOKEN)
    redis = Redis.from_url(redis_url)
    await redis.flushdb()  # import ids start again: arq must forget the finished job ids
    await redis.aclose()
    assert await create_conformance_contexts(api_1, admin_headers) == contexts
    files = {ids[0]: (a, FIRST[0]), ids[1]: (a1, SECOND[0])}
    for import_id in (earlier, later):
        path, data = files[import_id]
        assert await post_import(api_1, admin_headers, path, data) == import_id
        await _burst_worker(settings)
        assert (await import_row(db, import_id))["workflow_state"] == "succeeded"
    assert (await snapshot(db), await _stored_errors(db)) == concurrent
