"""The Redis status view against a real Redis: what a read returns, and reads sharing one GET."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from shared.status import StatusStore, status_key


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


async def _get_calls(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_get", {}).get("calls", 0))


async def test_a_read_returns_the_json_of_its_context_only(redis: Redis) -> None:
    store = StatusStore(redis, 60)
    await store.put(7, "Account:2", {"id": 7, "workflow_state": "importing"})
    assert await store.get_raw(7, "Account:2") == b'{"id":7,"workflow_state":"importing"}'
    assert await store.get_raw(7, "Account:3") is None
    assert await store.get_raw(8, "Account:2") is None


async def test_concurrent_reads_of_one_import_share_one_get(redis: Redis) -> None:
    store = StatusStore(redis, 60)
    await store.put(7, "Account:2", {"id": 7})
    # The count is the whole server's: other clients' GETs (another test session, a worker's
    # status writes) can only add to it, so the fewest of a few tries is this one's own.
    counted = []
    for _ in range(5):
        before = await _get_calls(redis)
        results = await asyncio.gather(*(store.get_raw(7, "Account:2") for _ in range(50)))
        assert results == [b'{"id":7}'] * 50
        counted.append(await _get_calls(redis) - before)
    # The INFO call is not a GET; 50 separate reads would be 50 GETs.
    assert min(counted) == 1, counted


async def test_a_read_after_a_write_sees_it(redis: Redis) -> None:
    store = StatusStore(redis, 60)
    await store.put(7, "Account:2", {"progress": 10})
    assert await store.get_raw(7, "Account:2") == b'{"progress":10}'
    await store.put(7, "Account:2", {"progress": 20})
    assert await store.get_raw(7, "Account:2") == b'{"progress":20}'


async def test_a_caller_that_goes_away_does_not_cancel_the_shared_read(redis: Redis) -> None:
    store = StatusStore(redis, 60)
    await store.put(7, "Account:2", {"id": 7})
    first = asyncio.ensure_future(store.get_raw(7, "Account:2"))
    second = asyncio.ensure_future(store.get_raw(7, "Account:2"))
    await asyncio.sleep(0)  # both have joined the one read in flight
    first.cancel()
    assert await second == b'{"id":7}'
    with pytest.raises(asyncio.CancelledError):
        await first


async def test_a_view_of_an_import_s_end_is_never_replaced_by_one_of_before(redis: Redis) -> None:
    store = StatusStore(redis, 60)
    await store.put(7, "Account:2", {"id": 7, "workflow_state": "importing", "progress": 40})
    await store.put(7, "Account:2", {"id": 7, "workflow_state": "succeeded", "progress": 100})
    # A stopping worker's progress, written after another worker ended the import.
    await store.put(7, "Account:2", {"id": 7, "workflow_state": "importing", "progress": 60})
    assert await store.get_raw(7, "Account:2") == b'{"id":7,"workflow_state":"succeeded","progress":100}'
    # A view of the end may still be written again (the committed state, read back).
    await store.put(7, "Account:2", {"id": 7, "workflow_state": "failed", "progress": 100})
    assert await store.get_raw(7, "Account:2") == b'{"id":7,"workflow_state":"failed","progress":100}'


async def test_text_inside_a_value_does_not_count_as_an_end(redis: Redis) -> None:
    store = StatusStore(redis, 60)
    trap = '"workflow_state":"succeeded"'
    await store.put(7, "Account:2", {"id": 7, "workflow_state": "importing", "processing_errors": [[2, trap]]})
    await store.put(7, "Account:2", {"id": 7, "workflow_state": "importing", "progress": 50})
    assert await store.get_raw(7, "Account:2") == b'{"id":7,"workflow_state":"importing","progress":50}'
    assert 0 < await redis.ttl(status_key(7)) <= 60
