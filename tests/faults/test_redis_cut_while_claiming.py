"""A Redis connection that dies while the worker claims a job costs one poll, not the worker.

arq claims a job inside a WATCH on its in-progress key; redis-py turns a connection lost while
watching into a WatchError, which arq 0.28 let escape (the worker stopped, see ImportWorker). A
proxy in front of the real Redis cuts the worker's connection at that moment, as a Redis restart
can.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import suppress

import pytest
from arq.connections import create_pool
from arq.constants import in_progress_key_prefix
from redis.asyncio.connection import parse_url

from shared.queue import QUEUE_NAME, enqueue_import, import_job_id, redis_settings
from shared.settings import Settings
from worker.settings import REDIS_COMMAND_RETRIES, create_worker


class CutAfterWatch:
    """A TCP proxy to a real Redis that, once armed, closes the client's connection at the first
    EXISTS sent after a WATCH on it, before Redis answers."""

    def __init__(self, redis_url: str) -> None:
        self._target = parse_url(redis_url)
        self.armed = False
        self.cuts = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/{self._target.get('db', 0)}"

    async def __aexit__(self, *_: object) -> None:
        assert self._server is not None
        self._server.close()

    async def _serve(self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter) -> None:
        if "path" in self._target:
            redis_in, redis_out = await asyncio.open_unix_connection(self._target["path"])
        else:
            redis_in, redis_out = await asyncio.open_connection(self._target["host"], self._target["port"])
        answers = asyncio.create_task(self._pipe(redis_in, client_out))
        watching = False
        try:
            while data := await client_in.read(65536):
                watching = watching or b"WATCH" in data
                if self.armed and watching and b"EXISTS" in data:
                    self.armed = False
                    self.cuts += 1
                    return
                redis_out.write(data)
                await redis_out.drain()
        finally:
            answers.cancel()
            with suppress(asyncio.CancelledError):
                await answers
            client_out.close()
            redis_out.close()

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()


@pytest.fixture
async def queued_job(settings: Settings) -> AsyncIterator[str]:
    redis = await create_pool(redis_settings(settings.redis_url, command_retries=0))
    await enqueue_import(redis, 4242)
    yield import_job_id(4242)
    await redis.aclose()


async def test_a_connection_cut_while_claiming_a_job_leaves_the_job_queued_and_the_worker_whole(
    settings: Settings, queued_job: str
) -> None:
    cut = CutAfterWatch(settings.redis_url)
    async with cut as proxied_url:
        pool = await create_pool(redis_settings(proxied_url, command_retries=REDIS_COMMAND_RETRIES))
        worker = create_worker(settings.with_(redis_url=proxied_url), reconcile=False, redis_pool=pool)
        try:
            cut.armed = True
            await worker.start_jobs([queued_job.encode()])  # raised WatchError before ImportWorker

            assert cut.cuts == 1
            assert worker.job_counter == 0
            # Every job slot is free again: taking them all does not wait.
            for _ in range(worker.max_jobs):
                await asyncio.wait_for(worker.sem.acquire(), timeout=5)
            # Unclaimed, still queued: the next poll (or another worker) takes it.
            assert await pool.zscore(QUEUE_NAME, queued_job) is not None
            assert not await pool.exists(in_progress_key_prefix + queued_job)
        finally:
            await pool.aclose()
