"""The fleet's gauges in PostgreSQL, read at every metrics scrape: each query is bounded by the number
of root accounts, workers and running imports, never by the size of outcome_imports.

Imports by state come from outcome_import_state_counts (kept exact by a trigger, migration 0008).
Rows of outcome_imports are reached only through the partial index outcome_imports_pending_idx
(root_account_id, id) of waiting and running imports, one root account at a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import asyncpg

SELECT_IMPORT_STATE_COUNTS = """
SELECT root_account_id, workflow_state, imports FROM outcome_import_state_counts ORDER BY 1, 2
"""
# The oldest waiting import of each root account is its lowest id in state `created`: a few index
# entries in (only that root account's running imports can come before it).
SELECT_OLDEST_WAITS = """
SELECT c.root_account_id, extract(epoch FROM now() - oldest.created_at)::float8 AS seconds
FROM outcome_import_state_counts c
CROSS JOIN LATERAL (
    SELECT i.created_at FROM outcome_imports i
    WHERE i.root_account_id = c.root_account_id AND i.workflow_state = 'created'
    ORDER BY i.id LIMIT 1
) oldest
WHERE c.workflow_state = 'created' AND c.imports > 0
"""
# A root account's imports run one at a time and in id order, so its running import is its oldest
# pending one. So the running imports are found by walking each root account's pending entries
# from the oldest, one index entry a step, until as many have been met as the count (read in the
# same snapshot) says there are: one step per running import, more only if that order was broken,
# and exact either way. Filtering on `importing` instead lets the planner read every pending row.
SELECT_RUNNING_IMPORTS = """
WITH RECURSIVE walk AS (
    SELECT c.root_account_id, c.imports AS running_left, first.*
    FROM outcome_import_state_counts c
    CROSS JOIN LATERAL (
        SELECT i.id, i.workflow_state, i.worker_id, i.heartbeat_at, i.started_at FROM outcome_imports i
        WHERE i.root_account_id = c.root_account_id AND i.workflow_state IN ('created', 'importing')
        ORDER BY i.id LIMIT 1
    ) first
    WHERE c.workflow_state = 'importing' AND c.imports > 0
    UNION ALL
    SELECT w.root_account_id, w.running_left - (w.workflow_state = 'importing')::int, next.*
    FROM walk w
    CROSS JOIN LATERAL (
        SELECT i.id, i.workflow_state, i.worker_id, i.heartbeat_at, i.started_at FROM outcome_imports i
        WHERE i.root_account_id = w.root_account_id AND i.workflow_state IN ('created', 'importing')
          AND i.id > w.id
        ORDER BY i.id LIMIT 1
    ) next
    WHERE w.running_left - (w.workflow_state = 'importing')::int > 0
)
SELECT count(w.id) AS held_by_live_workers,
       count(*) FILTER (WHERE coalesce(r.heartbeat_at, r.started_at) < now() - make_interval(secs => $1)) AS stalled
FROM walk r
LEFT JOIN workers w
    ON w.id = r.worker_id AND w.stopped_at IS NULL AND w.heartbeat_at > now() - make_interval(secs => $1)
WHERE r.workflow_state = 'importing'
"""
SELECT_LIVE_WORKERS = """
SELECT count(*) AS live, coalesce(sum(max_jobs), 0)::bigint AS slots FROM workers
WHERE stopped_at IS NULL AND heartbeat_at > now() - make_interval(secs => $1)
"""
SELECT_PAUSED_ROOT_ACCOUNTS = "SELECT root_account_id FROM paused_queues ORDER BY 1"


@dataclass(frozen=True, slots=True)
class RunningImports:
    held_by_live_workers: int
    stalled: int  # heartbeat (or start, before the first beat) older than stale-after


@dataclass(frozen=True, slots=True)
class LiveWorkers:
    live: int
    slots: int  # the sum of their max_jobs


@dataclass(frozen=True, slots=True)
class FleetGauges:
    """The fleet's state in PostgreSQL, as of one read."""

    imports: Mapping[tuple[int, str], int]  # by (root account id, workflow state)
    oldest_wait_seconds: Mapping[int, float]  # root accounts with a waiting import only
    paused_root_account_ids: Sequence[int]
    workers: LiveWorkers
    running: RunningImports


async def import_state_counts(conn: asyncpg.Pool | asyncpg.Connection) -> dict[tuple[int, str], int]:
    """Imports by (root account id, workflow state), for every pair that ever had one (0 included)."""
    rows = await conn.fetch(SELECT_IMPORT_STATE_COUNTS)
    return {(r["root_account_id"], r["workflow_state"]): r["imports"] for r in rows}


async def oldest_waits(conn: asyncpg.Pool | asyncpg.Connection) -> dict[int, float]:
    """Seconds since the oldest waiting (`created`) import of each root account that has one was created."""
    return {r["root_account_id"]: r["seconds"] for r in await conn.fetch(SELECT_OLDEST_WAITS)}


async def running_imports(conn: asyncpg.Pool | asyncpg.Connection, stale_after_seconds: float) -> RunningImports:
    """Imports in `importing`: how many a live worker holds, how many have not beaten for
    `stale_after_seconds` (the reaper re-runs those)."""
    row = await conn.fetchrow(SELECT_RUNNING_IMPORTS, float(stale_after_seconds))
    assert row is not None  # an aggregate without GROUP BY always returns one row
    return RunningImports(row["held_by_live_workers"], row["stalled"])


async def live_workers(conn: asyncpg.Pool | asyncpg.Connection, stale_after_seconds: float) -> LiveWorkers:
    """Workers not stopped whose heartbeat is younger than `stale_after_seconds`, and their job slots."""
    row = await conn.fetchrow(SELECT_LIVE_WORKERS, float(stale_after_seconds))
    assert row is not None  # an aggregate without GROUP BY always returns one row
    return LiveWorkers(row["live"], row["slots"])


async def paused_root_accounts(conn: asyncpg.Pool | asyncpg.Connection) -> list[int]:
    """Root accounts whose queue an operator paused."""
    return [r["root_account_id"] for r in await conn.fetch(SELECT_PAUSED_ROOT_ACCOUNTS)]


async def fleet_gauges(pool: asyncpg.Pool, stale_after_seconds: float) -> FleetGauges:
    """Every gauge, on one connection (five short statements). Raises asyncpg's errors; the caller
    translates those meaning "PostgreSQL is away" (shared.db.errors)."""
    async with pool.acquire() as conn:
        return FleetGauges(
            imports=await import_state_counts(conn),
            oldest_wait_seconds=await oldest_waits(conn),
            paused_root_account_ids=await paused_root_accounts(conn),
            workers=await live_workers(conn, stale_after_seconds),
            running=await running_imports(conn, stale_after_seconds),
        )
