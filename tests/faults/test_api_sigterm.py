"""SIGTERM to an API process (a rolling deploy, a scale-down): it stops accepting connections,
finishes the requests in flight (an upload included) and exits cleanly."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from shared.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.faults import REPO_ROOT, wait_until, worker_environment
from tests.support.seaweedfs import free_ports

FIRST = b"vendor_guid,object_type,title,parent_guids\n" + b"".join(f"g{n},group,G {n},\n".encode() for n in range(2000))
REST = b"".join(f"h{n},group,H {n},\n".encode() for n in range(2000))


@pytest.fixture
def api_process(settings: Settings, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    (port,) = free_ports(1)
    log = tmp_path / "api.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "api", "--port", str(port)],
            cwd=REPO_ROOT,
            env=worker_environment(settings),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process, f"http://127.0.0.1:{port}", log
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        print(f"--- api log ---\n{log.read_text(errors='replace')[-4000:]}")  # shown when the test fails


@pytest.mark.timeout(60)
async def test_an_upload_in_flight_at_sigterm_completes_and_the_process_exits(
    api_process: tuple[subprocess.Popen[bytes], str, Path], db: asyncpg.Connection, settings: Settings
) -> None:
    process, url, _ = api_process
    storage = Path(settings.storage_url.removeprefix("file://"))
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}", "Content-Type": "text/csv"}
    async with aiohttp.ClientSession() as session:

        async def healthy() -> bool:
            try:
                async with session.get(url + "/health") as resp:
                    return resp.status == 200
            except aiohttp.ClientConnectionError:
                return False

        await wait_until(healthy, within=30, what="the API to start")
        first_chunk_sent, rest_may_go = asyncio.Event(), asyncio.Event()

        async def body() -> AsyncIterator[bytes]:
            yield FIRST
            first_chunk_sent.set()
            await rest_may_go.wait()
            yield REST

        upload = asyncio.create_task(
            session.post(url + "/api/v1/accounts/1/outcome_imports", data=body(), headers=headers)
        )
        await first_chunk_sent.wait()

        async def upload_being_stored() -> bool:
            return any(path.is_file() for path in storage.rglob("*"))

        await wait_until(upload_being_stored, within=10, what="the API to be storing the upload")
        process.send_signal(signal.SIGTERM)

        async def refusing() -> bool:
            # A probe that reached the listener just as it closed may never be answered: it is
            # given up after a moment and asked again, until connections are refused.
            probe = aiohttp.ClientTimeout(total=2)
            try:
                async with aiohttp.ClientSession(timeout=probe) as fresh, fresh.get(url + "/health") as resp:
                    await resp.read()
                return False
            except aiohttp.ClientConnectionError:
                return True
            except TimeoutError:
                return False

        await wait_until(refusing, within=10, what="the API to stop accepting new connections")
        assert process.poll() is None, "the process must wait for the upload in flight"
        rest_may_go.set()
        resp = await upload
        created = await resp.json()
        assert resp.status == 200, created
    assert created["workflow_state"] == "created"
    assert await asyncio.to_thread(process.wait, 30) == 0
    stored = await db.fetchrow("SELECT file_size, file_line_count FROM outcome_imports WHERE id = $1", created["id"])
    assert (stored["file_size"], stored["file_line_count"]) == (len(FIRST) + len(REST), 4001)
