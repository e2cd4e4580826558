"""Slow and broken clients on loopback, against the server `python -m api` runs (api/serving.py).

A client that trickles its request head is cut off after OUTCOME_IMPORTS_HEADER_TIMEOUT_SECONDS, one
whose body stalls gets a 408 after OUTCOME_IMPORTS_BODY_TIMEOUT_SECONDS, connections beyond
OUTCOME_IMPORTS_MAX_CONNECTIONS get a 503; meanwhile other clients are served at once. Malformed HTTP
and a client that hangs up mid-upload are one WARNING line at most, never an ERROR or a traceback.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from aiohttp import web
from yarl import URL

from api.app import create_app
from api.serving import BoundedSite, server_options
from shared.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.support.raw_http import parse_response, request_bytes, send_raw

HOST = "127.0.0.1"
AUTH = f"Authorization: Bearer {ADMIN_TOKEN}\r\n".encode()
SHOW_ACCOUNT = request_bytes("GET", "/api/v1/accounts/1", {"Authorization": f"Bearer {ADMIN_TOKEN}"})


@dataclass(frozen=True)
class Server:
    port: int
    settings: Settings


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[Server]:
    settings = settings.with_(header_timeout_seconds=1, body_timeout_seconds=1, max_connections=12)
    runner = web.AppRunner(create_app(settings), handle_signals=False, **server_options(settings))
    await runner.setup()
    site = BoundedSite(runner, HOST, 0, settings.max_connections)
    await site.start()
    yield Server(site.port, settings)
    await runner.cleanup()


@pytest.fixture
def no_errors(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.INFO):
        yield caplog
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], [
        (r.name, r.getMessage()) for r in caplog.records if r.levelno >= logging.WARNING
    ]


async def _served_at_once(server: Server) -> None:
    """Another client gets its answer within half a second, whatever the slow ones do."""
    started = time.monotonic()
    resp = await send_raw(HOST, server.port, SHOW_ACCOUNT)
    assert resp.status == 200, resp
    assert time.monotonic() - started < 0.5


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bytes:
    async with asyncio.timeout(seconds):
        return await reader.read()


async def test_a_request_head_trickled_in_is_cut_off_while_others_are_served(
    server: Server, no_errors: pytest.LogCaptureFixture
) -> None:
    head = b"GET /api/v1/accounts/1 HTTP/1.1\r\nHost: x\r\n" + AUTH + b"\r\n"
    connections = [await asyncio.open_connection(HOST, server.port) for _ in range(10)]

    async def trickle(writer: asyncio.StreamWriter) -> None:
        for byte in head[:-2]:  # never the blank line that ends the head
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(0.05)

    started = time.monotonic()
    tricklers = [asyncio.create_task(trickle(w)) for _, w in connections]
    await _served_at_once(server)
    answers = await asyncio.gather(*(_closed_within(r, 3) for r, _ in connections))
    assert all(answer == b"" for answer in answers), answers  # closed without an answer
    assert 0.9 < time.monotonic() - started < 2.5
    for task in tricklers:
        task.cancel()
    await asyncio.gather(*tricklers, return_exceptions=True)
    for _, writer in connections:
        writer.close()
    await _served_at_once(server)


async def test_an_idle_connection_is_closed_after_the_header_timeout(server: Server) -> None:
    reader, writer = await asyncio.open_connection(HOST, server.port)
    started = time.monotonic()
    assert await _closed_within(reader, 3) == b""
    assert 0.9 < time.monotonic() - started < 2.5
    writer.close()


async def test_a_stalled_body_is_a_408_and_stores_nothing(
    server: Server, db: asyncpg.Connection, no_errors: pytest.LogCaptureFixture
) -> None:
    stalled = []
    for content_type, start in (
        (b"text/csv", b"vendor_guid,"),
        (
            b"multipart/form-data; boundary=b",
            b'--b\r\nContent-Disposition: form-data; name="attachment"; filename="a.csv"\r\n\r\nvendor_guid,',
        ),
    ):
        reader, writer = await asyncio.open_connection(HOST, server.port)
        writer.write(
            b"POST /api/v1/accounts/1/outcome_imports HTTP/1.1\r\nHost: x\r\n" + AUTH
            + b"Content-Type: " + content_type + b"\r\nContent-Length: 100000\r\n\r\n" + start
        )
        await writer.drain()
        stalled.append((reader, writer))
    started = time.monotonic()
    await _served_at_once(server)
    for reader, writer in stalled:
        async with asyncio.timeout(3):
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(next(v for k, v in parse_response(head).headers.items() if k == "content-length"))
            resp = parse_response(head + await reader.readexactly(length))
        assert (resp.status, resp.json()) == (
            408,
            {"errors": [{"message": "The request body was not received in time (nothing arrived for 1 s)"}]},
        )
        writer.close()
    assert time.monotonic() - started < 2.5
    assert await db.fetchval("SELECT count(*) FROM outcome_imports") == 0
    storage = Path(URL(server.settings.storage_url).path)
    assert not storage.exists() or not [p for p in storage.rglob("*") if p.is_file()]
    warnings = [r.getMessage() for r in no_errors.records if r.name == "api.errors"]
    assert len(warnings) == 2 and all(": 408 " in w for w in warnings), warnings


async def test_connections_beyond_the_limit_get_a_503(server: Server) -> None:
    held = [await asyncio.open_connection(HOST, server.port) for _ in range(server.settings.max_connections)]
    await asyncio.sleep(0)  # let the server register them
    resp = await send_raw(HOST, server.port, SHOW_ACCOUNT)
    assert (resp.status, resp.json(), resp.headers["retry-after"]) == (
        503,
        {"errors": [{"message": "The server is at its connection limit; try again later."}]},
        "5",
    )
    for _, writer in held:
        writer.close()
        await writer.wait_closed()
    async with asyncio.timeout(3):
        while True:  # the server sees the closes as they arrive
            resp = await send_raw(HOST, server.port, SHOW_ACCOUNT)
            if resp.status == 200:
                break
            await asyncio.sleep(0.01)


async def test_malformed_http_and_a_hang_up_mid_upload_are_no_errors_of_ours(
    server: Server, db: asyncpg.Connection, no_errors: pytest.LogCaptureFixture
) -> None:
    resp = await send_raw(
        HOST,
        server.port,
        b"POST /api/v1/accounts HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n",
    )
    assert resp.status == 400
    warnings = [r for r in no_errors.records if r.name == "aiohttp.server"]
    assert [r.levelno for r in warnings] == [logging.WARNING]
    assert "BadHttpMessage" in warnings[0].getMessage() and "Transfer-Encoding" in warnings[0].getMessage()

    _, writer = await asyncio.open_connection(HOST, server.port)
    writer.write(
        b"POST /api/v1/accounts/1/outcome_imports HTTP/1.1\r\nHost: x\r\n" + AUTH
        + b"Content-Type: text/csv\r\nContent-Length: 100000000\r\n\r\n"
    )
    for _ in range(20):
        writer.write(b"vendor_guid,object_type,title\r\n" * 1000)
        await writer.drain()
    writer.transport.abort()
    await _served_at_once(server)
    assert await db.fetchval("SELECT count(*) FROM outcome_imports") == 0
