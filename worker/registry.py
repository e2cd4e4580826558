"""This worker process as operators see it: a row in `workers`, beating while the process lives."""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
from dataclasses import dataclass, field

import asyncpg

from shared.db import workers as queries
from shared.db.errors import translate_db_errors
from shared.errors import DatabaseUnavailable

logger = logging.getLogger(__name__)


def new_worker_id() -> str:
    """host:pid:random, unique per process start (a pid is reused after a restart)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


@dataclass(slots=True)
class WorkerRegistry:
    """Identity and running totals of this process; the imports it starts carry its id."""

    max_jobs: int
    id: str = field(default_factory=new_worker_id)
    host: str = field(default_factory=socket.gethostname)
    pid: int = field(default_factory=os.getpid)
    rows_processed: int = 0
    # Set when the process is told to stop: the imports it hands back then do not spend a try.
    stopping: bool = False

    def add_rows(self, rows: int) -> None:
        self.rows_processed += rows

    async def register(self, pool: asyncpg.Pool) -> None:
        await queries.register_worker(pool, self.id, self.host, self.pid, self.max_jobs)

    async def beat_forever(self, pool: asyncpg.Pool, period_seconds: float) -> None:
        """Beat every `period_seconds` until cancelled; an outage of PostgreSQL is waited out."""
        while True:
            await asyncio.sleep(period_seconds)  # the heartbeat period
            try:
                with translate_db_errors():
                    await queries.beat_worker(pool, self.id, self.host, self.pid, self.max_jobs, self.rows_processed)
            except DatabaseUnavailable:
                logger.warning("worker %s: heartbeat failed; database unavailable", self.id)

    async def stop(self, pool: asyncpg.Pool) -> None:
        try:
            with translate_db_errors():
                await queries.stop_worker(pool, self.id, self.rows_processed)
        except DatabaseUnavailable:
            logger.warning("worker %s: could not record its stop; database unavailable", self.id)
