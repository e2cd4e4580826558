"""Slow readers of `GET .../outcome_export` against the real API on a socket: ten clients reading an
export at a few KB/s take no connection from the API's pool, so status reads and uploads are
answered while they read; beyond OUTCOME_IMPORTS_MAX_CONCURRENT_EXPORTS an export is a 503 with
Retry-After; a client that stops reading is cut off after OUTCOME_IMPORTS_EXPORT_WRITE_TIMEOUT_SECONDS.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestServer

from api.app import create_app
from api.serving import server_options
from shared.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.support.tree import insert_account, insert_group

HOST = "127.0.0.1"
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# A few KB/s: 1 KiB every quarter of a second.
SLOW_READ_BYTES = 1024
SLOW_READ_PAUSE_SECONDS = 0.25
DEADLINE_SECONDS = 15


@dataclass
class SlowReader:
    """A raw connection reading an export at a few KB/s (a tiny receive buffer, so the server's
    writes wait for it as soon as the kernel's buffers are full)."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    head: bytes
    received: int = 0
    ended: bool = False
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    async def trickle(self, pause: float) -> None:
        while chunk := await self.reader.read(SLOW_READ_BYTES):
            self.received += len(chunk)
            if pause:
                await asyncio.sleep(pause)  # the client's pace, not a synchronisation
        self.ended = True

    async def close(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with suppress(asyncio.CancelledError):
                await self.task
        self.writer.close()
        with suppress(ConnectionError):
            await self.writer.wait_closed()


async def open_export(port: int, account: int, pause: float | None = SLOW_READ_PAUSE_SECONDS) -> SlowReader:
    """Request the export and read its head; then read at `pause` per KiB (None: not at all)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    await asyncio.get_running_loop().sock_connect(sock, (HOST, port))
    reader, writer = await asyncio.open_connection(sock=sock, limit=4096)
    writer.write(
        f"GET /api/v1/accounts/{account}/outcome_export HTTP/1.1\r\nHost: {HOST}\r\n"
        f"Authorization: Bearer {ADMIN_TOKEN}\r\n\r\n".encode()
    )
    async with asyncio.timeout(DEADLINE_SECONDS):
        head = await reader.readuntil(b"\r\n\r\n")
    slow = SlowReader(reader, writer, head)
    if pause is not None:
        slow.task = asyncio.create_task(slow.trickle(pause))
    return slow


@pytest.fixture
def serve(settings: Settings) -> Callable[..., Awaitable[int]]:
    """Start the API with some settings changed; returns its port. Stopped after the test."""
    stack = AsyncExitStack()

    async def start(**changes: Any) -> int:
        changed = settings.with_(**changes)
        server = TestServer(create_app(changed), host=HOST)
        await server.start_server(**server_options(changed))
        stack.push_async_callback(server.close)
        assert server.port is not None
        return server.port

    start.stack = stack  # type: ignore[attr-defined]
    return start


@pytest.fixture
async def stopping(serve: Callable[..., Awaitable[int]]) -> AsyncIterator[None]:
    yield
    await serve.stack.aclose()  # type: ignore[attr-defined]


async def big_account(db: asyncpg.Connection, outcomes: int = 20_000) -> int:
    """An account whose export (about 13 MB) is far larger than every socket buffer on the way."""
    account = await insert_account(db, "Big")
    root = await insert_group(db, ("Account", account), "Big")
    group = await insert_group(db, ("Account", account), "All", parent_id=root, vendor_guid="all")
    await db.execute(
        """
        INSERT INTO learning_outcomes (context_type, context_id, root_account_id, vendor_guid, short_description,
                                       description, ratings, mastery_points, points_possible)
        SELECT 'Account', $1::bigint, 1, 'big-' || n, 'Outcome ' || n, repeat('x', 600),
               '[{"points": 5, "description": "Exceeds"}, {"points": 0, "description": "Not yet"}]', 3, 5
        FROM generate_series(1, $2) n
        """,
        account,
        outcomes,
    )
    await db.execute(
        """
        INSERT INTO learning_outcome_links (learning_outcome_id, associated_group_id, context_type, context_id)
        SELECT id, $2, 'Account', $1 FROM learning_outcomes WHERE context_id = $1
        """,
        account,
        group,
    )
    return account


async def upload_and_read_status(session: aiohttp.ClientSession, base: str) -> None:
    """An upload (PostgreSQL, storage, Redis) and a status read of it, each answered 200."""
    csv = b"vendor_guid,object_type,title,parent_guids\nmath,group,Math,\n"
    async with session.post(
        f"{base}/api/v1/accounts/1/outcome_imports", data=csv, headers={**AUTH, "Content-Type": "text/csv"}
    ) as created:
        assert created.status == 200, await created.text()
        import_id = (await created.json())["id"]
    async with session.get(f"{base}/api/v1/accounts/1/outcome_imports/{import_id}", headers=AUTH) as status:
        assert status.status == 200, await status.text()
        assert (await status.json())["id"] == import_id


async def test_ten_slow_export_readers_leave_status_reads_and_uploads_served(
    serve: Callable[..., Awaitable[int]], stopping: None, db: asyncpg.Connection
) -> None:
    account = await big_account(db)
    # More exports than the pool has connections (10), each on a connection of its own.
    port = await serve(max_concurrent_exports=12, db_acquire_timeout_seconds=2)
    readers = [await open_export(port, account) for _ in range(10)]
    try:
        assert all(r.head.startswith(b"HTTP/1.1 200") for r in readers)
        async with aiohttp.ClientSession() as session, asyncio.timeout(DEADLINE_SECONDS):
            for _ in range(3):
                await upload_and_read_status(session, f"http://{HOST}:{port}")
        # The ten exports were open all along: none has ended, and PostgreSQL serves each.
        assert not any(r.ended for r in readers)
        sessions = await db.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND pid <> pg_backend_pid() AND query LIKE '%WITH RECURSIVE tree%'"
        )
        assert sessions == 10
    finally:
        for reader in readers:
            await reader.close()


async def test_exports_beyond_the_bound_get_a_503_with_retry_after(
    serve: Callable[..., Awaitable[int]], stopping: None, db: asyncpg.Connection
) -> None:
    account = await big_account(db)
    port = await serve(max_concurrent_exports=2)
    readers = [await open_export(port, account) for _ in range(2)]
    async with aiohttp.ClientSession() as session:
        url = f"http://{HOST}:{port}/api/v1/accounts/{account}/outcome_export"
        async with session.get(url, headers=AUTH) as refused:
            assert refused.status == 503
            assert refused.headers["Retry-After"] == "5"
            assert await refused.json() == {"errors": [{"message": "Too many exports are running; try again later."}]}
        await readers[0].close()
        # The slot comes free once the server notices the client is gone.
        async with asyncio.timeout(DEADLINE_SECONDS):
            while True:
                async with session.get(url, headers=AUTH) as again:
                    if again.status == 200:
                        assert len(await again.read()) > 10_000_000
                        break
                    assert again.status == 503
    await readers[1].close()


async def test_a_client_that_stops_reading_is_cut_off(
    serve: Callable[..., Awaitable[int]], stopping: None, db: asyncpg.Connection
) -> None:
    account = await big_account(db)
    port = await serve(max_concurrent_exports=1, export_write_timeout_seconds=1)
    stalled = await open_export(port, account, pause=None)
    async with aiohttp.ClientSession() as session, asyncio.timeout(DEADLINE_SECONDS):
        url = f"http://{HOST}:{port}/api/v1/accounts/{account}/outcome_export"
        # The only slot is the stalled export's until the server gives up on it.
        while True:
            async with session.get(url, headers=AUTH) as response:
                if response.status == 200:
                    whole = await response.read()
                    break
                assert response.status == 503
        # What the stalled client gets is what the kernel buffered, then the server's close.
        await stalled.trickle(pause=0)
    assert stalled.ended and 0 < stalled.received < len(whole)
    await stalled.close()
