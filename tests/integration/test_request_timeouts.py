"""Waits a request may meet end in a 503 with Retry-After, never a hang or a traceback: a statement
past OUTCOME_IMPORTS_DB_STATEMENT_TIMEOUT_SECONDS (held on a lock here), no free pool connection
within OUTCOME_IMPORTS_DB_ACQUIRE_TIMEOUT_SECONDS, a storage operation past
OUTCOME_IMPORTS_STORAGE_TIMEOUT_SECONDS; a Redis command past OUTCOME_IMPORTS_REDIS_TIMEOUT_SECONDS
fails (callers then treat Redis as away). The worker's connections have no statement timeout.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.exceptions import TimeoutError as RedisTimeoutError

from api.app import create_app
from api.deps import DEPS
from api.serving import server_options
from shared.db.pool import create_pool
from shared.errors import StorageUnavailable
from shared.queue import open_redis
from shared.settings import Settings
from shared.storage import LocalStorage

BUSY = {"errors": [{"message": "The database is busy; try again later."}]}


@pytest.fixture
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.INFO):
        yield caplog
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], [
        (r.name, r.getMessage()) for r in caplog.records if r.levelno >= logging.WARNING
    ]


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient[Any, Any]]:
    changed = settings.with_(db_statement_timeout_seconds=1, db_acquire_timeout_seconds=1)
    server = TestServer(create_app(changed))
    await server.start_server(**server_options(changed))
    test_client: TestClient[Any, Any] = TestClient(server)
    await test_client.start_server()
    yield test_client
    await test_client.close()


async def test_a_statement_held_on_a_lock_ends_in_a_503(
    client: TestClient[Any, Any], admin_headers: dict[str, str], db: asyncpg.Connection, no_tracebacks: Any
) -> None:
    assert (await client.get("/api/v1/accounts/1", headers=admin_headers)).status == 200
    async with db.transaction():
        await db.execute("LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE")
        async with asyncio.timeout(10):
            response = await client.get("/api/v1/accounts/1", headers=admin_headers)
        assert (response.status, response.headers["Retry-After"]) == (503, "5")
        assert await response.json() == BUSY
    assert (await client.get("/api/v1/accounts/1", headers=admin_headers)).status == 200


async def test_an_export_held_on_a_lock_ends_in_a_503(
    client: TestClient[Any, Any], admin_headers: dict[str, str], db: asyncpg.Connection, no_tracebacks: Any
) -> None:
    # The export's own connection has no statement timeout (its statement is as long as the
    # context is big), but waits for a lock no longer than the statement timeout.
    async with db.transaction():
        await db.execute("LOCK TABLE learning_outcomes IN ACCESS EXCLUSIVE MODE")
        async with asyncio.timeout(10):
            response = await client.get("/api/v1/accounts/1/outcome_export", headers=admin_headers)
        assert (response.status, response.headers["Retry-After"]) == (503, "5")
        assert await response.json() == BUSY
    assert (await client.get("/api/v1/accounts/1/outcome_export", headers=admin_headers)).status == 200


async def test_no_free_pool_connection_ends_in_a_503(
    client: TestClient[Any, Any], admin_headers: dict[str, str], no_tracebacks: Any
) -> None:
    assert client.server.app is not None
    pool = client.server.app[DEPS].pool
    async with AsyncExitStack() as held:
        for _ in range(pool.get_max_size()):
            await held.enter_async_context(pool.acquire())
        async with asyncio.timeout(10):
            response = await client.get("/api/v1/accounts/1", headers=admin_headers)
        assert (response.status, response.headers["Retry-After"]) == (503, "5")
        assert await response.json() == BUSY
    assert (await client.get("/api/v1/accounts/1", headers=admin_headers)).status == 200


async def test_only_the_api_pool_has_a_statement_timeout(database_url: str) -> None:
    async with create_pool(database_url, statement_timeout_seconds=1) as api_pool:
        with pytest.raises(asyncpg.QueryCanceledError):
            await api_pool.execute("SELECT pg_sleep(3)")
    async with create_pool(database_url) as worker_pool:
        assert await worker_pool.fetchval("SHOW statement_timeout") == "0"


async def test_a_redis_command_that_waits_past_the_socket_timeout_fails(redis_url: str) -> None:
    redis = await open_redis(redis_url, command_retries=1, socket_timeout=0.5)
    try:
        async with asyncio.timeout(10):
            with pytest.raises(RedisTimeoutError):
                # Redis holds a BLPOP on an empty list for 5 s: longer than the client waits.
                await redis.blpop(["outcome-imports:test:empty"], timeout=5)
        assert await redis.ping()
    finally:
        await redis.aclose()


async def test_a_storage_operation_that_hangs_is_unavailable(tmp_path: Path) -> None:
    # Opening a FIFO for reading waits until someone opens it for writing: a hung file system.
    os.mkfifo(tmp_path / "stuck.csv")
    storage = await LocalStorage.open(tmp_path, operation_timeout=0.5)
    stream = storage.open_stream("stuck.csv")
    try:
        async with asyncio.timeout(10):
            with pytest.raises(StorageUnavailable):
                await anext(stream)
    finally:
        # Let the thread still waiting in open() finish.
        fd = os.open(tmp_path / "stuck.csv", os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
