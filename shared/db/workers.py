"""Queries for the workers table: each worker process registers, beats and signs off."""

from __future__ import annotations

import asyncpg

INSERT_WORKER = """
INSERT INTO workers (id, host, pid, max_jobs) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), stopped_at = NULL
"""
# Upserted: a worker whose row was deleted while it was away (a long outage) comes back.
UPDATE_WORKER_HEARTBEAT = """
INSERT INTO workers (id, host, pid, max_jobs, rows_processed) VALUES ($1, $2, $3, $4, $5)
ON CONFLICT (id) DO UPDATE SET heartbeat_at = now(), rows_processed = $5
"""
UPDATE_WORKER_STOPPED = "UPDATE workers SET stopped_at = now(), heartbeat_at = now(), rows_processed = $2 WHERE id = $1"
DELETE_GONE_WORKERS = "DELETE FROM workers WHERE heartbeat_at < now() - make_interval(secs => $1)"


async def register_worker(
    conn: asyncpg.Pool | asyncpg.Connection, worker_id: str, host: str, pid: int, max_jobs: int
) -> None:
    """Record a starting worker process (idempotent)."""
    await conn.execute(INSERT_WORKER, worker_id, host, pid, max_jobs)


async def beat_worker(
    conn: asyncpg.Pool | asyncpg.Connection, worker_id: str, host: str, pid: int, max_jobs: int, rows_processed: int
) -> None:
    """Mark the worker alive now, with the data rows it has processed since it started."""
    await conn.execute(UPDATE_WORKER_HEARTBEAT, worker_id, host, pid, max_jobs, rows_processed)


async def stop_worker(conn: asyncpg.Pool | asyncpg.Connection, worker_id: str, rows_processed: int) -> None:
    """Record a clean shutdown: the worker is no longer counted as alive."""
    await conn.execute(UPDATE_WORKER_STOPPED, worker_id, rows_processed)


async def delete_gone_workers(conn: asyncpg.Pool | asyncpg.Connection, older_than_seconds: float) -> int:
    """Forget workers silent for `older_than_seconds`; returns how many."""
    result: str = await conn.execute(DELETE_GONE_WORKERS, float(older_than_seconds))
    return int(result.split()[-1])
