"""The Redis status view against a real Redis: what a read returns, and reads sharing one GET."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from shared.status import StatusStore


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
    before = await _get_calls(redis)
    results = await asyncio.gather(*(store.get_raw(7, "Account:2") for _ in range(50)))
    assert results == [b'{"id":7}'] * 50
    # The INFO call is not a GET; 50 separate reads would be 50 GETs.
    assert await _get_calls(redis) - before == 1


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
