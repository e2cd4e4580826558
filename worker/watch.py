"""While an import runs: beat on it (so the reaper leaves it be) and obey an operator's cancel.

A cancel request is a timestamp on the import's row (set by the operations API). The watch reads
it every second, on a connection of its own. When it appears, the watch marks the run cancelled
and cancels the statement the import's connection is running (a long COPY, or a wait on a lock),
so a stuck import stops too; an import busy in Python stops at its next batch (worker/jobs.py
checks `cancelled`). Either way its transaction rolls back: a cancelled import changes nothing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass

import asyncpg

from shared.db import import_jobs as queries
from shared.db.errors import translate_db_errors
from shared.errors import DatabaseUnavailable
from shared.settings import Settings

logger = logging.getLogger(__name__)

# How soon a cancel request is obeyed; each check is one primary-key read.
CANCEL_CHECK_SECONDS = 1.0
CANCEL_BACKEND = "SELECT pg_cancel_backend($1)"


@dataclass(slots=True)
class ImportWatch:
    cancelled: bool = False


@asynccontextmanager
async def watch_import(
    settings: Settings, pool: asyncpg.Pool, conn: asyncpg.Connection, import_id: int, watch: ImportWatch
) -> AsyncIterator[None]:
    """Watch the import that `conn` is running while the block runs; `watch.cancelled` tells.

    Use it inside the import's transaction (`async with conn.transaction(), watch_import(...)`):
    it stops, and so sends no cancel, before that transaction ends.
    """
    backend_pid = conn.get_server_pid()

    async def run() -> None:
        next_beat = time.monotonic() + settings.heartbeat_seconds
        while True:
            try:
                with translate_db_errors():
                    if time.monotonic() >= next_beat:
                        next_beat = time.monotonic() + settings.heartbeat_seconds
                        requested = await queries.beat(pool, import_id)
                    else:
                        requested = await queries.cancel_requested(pool, import_id)
                    if requested and not watch.cancelled:
                        watch.cancelled = True
                        logger.info("import_id=%s: cancel requested; rolling it back", import_id)
                        await pool.execute(CANCEL_BACKEND, backend_pid)
            except DatabaseUnavailable:
                logger.warning("import_id=%s: heartbeat failed; database unavailable", import_id)
            await asyncio.sleep(min(CANCEL_CHECK_SECONDS, settings.heartbeat_seconds))  # the watch's period

    task = asyncio.create_task(run())
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):  # the cancellation we just asked for
            await task
