"""Queries for the operations views: queues, imports, workers, audit log. Every one is bounded
(a LIMIT or a small table) and served by an index, so it stays fast with millions of imports.

A `roots` argument scopes a query to those root accounts; None means every root account (a
site admin). Each scoped query has its own statement so each keeps an index-friendly plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import Enum

import asyncpg

SELECT_ADMINISTERED_ROOT_ACCOUNTS = """
SELECT a.id FROM account_users au JOIN accounts a ON a.id = au.account_id
WHERE au.user_id = $1 AND au.workflow_state = 'active' AND a.parent_account_id IS NULL
  AND a.workflow_state <> 'deleted'
ORDER BY a.id
"""
SELECT_ROOT_ACCOUNT = """
SELECT id FROM accounts WHERE id = $1 AND parent_account_id IS NULL AND workflow_state <> 'deleted'
"""

# Root accounts with waiting or running imports, paused ones, and those the caller must always see.
_QUEUES = """
WITH pending AS (
    SELECT root_account_id,
           count(*) FILTER (WHERE workflow_state = 'created') AS waiting,
           count(*) FILTER (WHERE workflow_state = 'importing') AS running,
           min(created_at) FILTER (WHERE workflow_state = 'created') AS oldest
    FROM outcome_imports WHERE workflow_state IN ('created', 'importing') {pending_scope}
    GROUP BY root_account_id
), roots AS (
    SELECT root_account_id FROM pending
    UNION SELECT root_account_id FROM paused_queues {paused_scope}
    UNION SELECT unnest($1::bigint[])
)
SELECT r.root_account_id, a.name, coalesce(p.waiting, 0) AS waiting, coalesce(p.running, 0) AS running,
       q.paused_at, extract(epoch FROM now() - p.oldest)::float8 AS oldest_wait_seconds
FROM roots r JOIN accounts a ON a.id = r.root_account_id
LEFT JOIN pending p ON p.root_account_id = r.root_account_id
LEFT JOIN paused_queues q ON q.root_account_id = r.root_account_id
ORDER BY r.root_account_id
"""
SELECT_QUEUES_ALL = _QUEUES.format(pending_scope="", paused_scope="")
SELECT_QUEUES_OF_ROOTS = _QUEUES.format(
    pending_scope="AND root_account_id = ANY($1::bigint[])", paused_scope="WHERE root_account_id = ANY($1::bigint[])"
)

_IMPORT_COLUMNS = """
SELECT i.id, i.root_account_id, ra.name AS root_account_name, i.context_type, i.context_id,
       coalesce(ca.name, co.name) AS context_name, i.workflow_state, i.progress, i.file_name, i.file_size,
       i.file_line_count, i.rows_processed, i.worker_id, i.attempts, i.created_at, i.started_at, i.ended_at,
       i.error_count, i.cancel_requested_at IS NOT NULL AS cancel_requested, i.retry_of_id,
       u.id AS user_id, u.name AS user_name, pq.root_account_id IS NOT NULL AS paused, now() AS now
FROM outcome_imports i
JOIN accounts ra ON ra.id = i.root_account_id
LEFT JOIN accounts ca ON i.context_type = 'Account' AND ca.id = i.context_id
LEFT JOIN courses co ON i.context_type = 'Course' AND co.id = i.context_id
LEFT JOIN users u ON u.id = i.user_id
LEFT JOIN paused_queues pq ON pq.root_account_id = i.root_account_id
"""


class ImportList(str, Enum):
    waiting = "waiting"
    running = "running"
    finished = "finished"
    failed = "failed"


# Each list's filter and order match a partial index (migrations 0001, 0008 and 0010), so a page
# is read in index order and stops at its LIMIT, whatever the size of the table.
_LISTS = {
    ImportList.waiting: ("{t}.workflow_state = 'created'", "{t}.id"),
    ImportList.running: ("{t}.workflow_state = 'importing'", "{t}.started_at, {t}.id"),
    ImportList.finished: ("{t}.ended_at IS NOT NULL", "{t}.ended_at DESC, {t}.id DESC"),
    ImportList.failed: ("{t}.workflow_state = 'failed'", "{t}.ended_at DESC, {t}.id DESC"),
}
SELECT_IMPORTS_ALL = {
    kind: f"{_IMPORT_COLUMNS} WHERE {where.format(t='i')} ORDER BY {order.format(t='i')} LIMIT $1"
    for kind, (where, order) in _LISTS.items()
}
# Per root account first (each one an index range in order, a page at most), then merged: with
# `root_account_id = ANY(...)` PostgreSQL read every row of those root accounts and sorted them.
SELECT_IMPORTS_OF_ROOTS = {
    kind: f"""{_IMPORT_COLUMNS}
WHERE i.id IN (
    SELECT page.id FROM unnest($2::bigint[]) AS r(root_account_id)
    CROSS JOIN LATERAL (
        SELECT o.id FROM outcome_imports o
        WHERE o.root_account_id = r.root_account_id AND {where.format(t='o')}
        ORDER BY {order.format(t='o')} LIMIT $1
    ) page
)
ORDER BY {order.format(t='i')} LIMIT $1"""
    for kind, (where, order) in _LISTS.items()
}
SELECT_IMPORT = f"{_IMPORT_COLUMNS} WHERE i.id = $1"
SELECT_FIRST_ERRORS_OF_IMPORTS = """
SELECT i.id, e.row, e.message
FROM unnest($1::bigint[]) AS i(id)
CROSS JOIN LATERAL (
    SELECT row, message, id FROM outcome_import_errors WHERE outcome_import_id = i.id ORDER BY row, id LIMIT $2
) e
ORDER BY i.id, e.row, e.id
"""

_WORKERS = """
SELECT w.id, w.host, w.pid, w.max_jobs, w.started_at, w.heartbeat_at, w.stopped_at, w.rows_processed,
       w.stopped_at IS NULL AND w.heartbeat_at > now() - make_interval(secs => $1) AS alive,
       coalesce(array_agg(r.id ORDER BY r.id) FILTER (WHERE r.id IS NOT NULL), '{{}}') AS running_import_ids
FROM workers w
LEFT JOIN (
    SELECT id, worker_id FROM outcome_imports WHERE workflow_state = 'importing' {scope}
) r ON r.worker_id = w.id
WHERE w.heartbeat_at > now() - make_interval(secs => $2)
GROUP BY w.id
ORDER BY w.started_at, w.id
"""
SELECT_WORKERS_ALL = _WORKERS.format(scope="")
SELECT_WORKERS_OF_ROOTS = _WORKERS.format(scope="AND root_account_id = ANY($3::bigint[])")

_AUDIT = """
SELECT l.id, l.action, l.root_account_id, l.outcome_import_id, l.detail, l.created_at,
       u.id AS user_id, u.name AS user_name
FROM audit_log l LEFT JOIN users u ON u.id = l.user_id
{scope}
ORDER BY l.id DESC LIMIT $1
"""
SELECT_AUDIT_ALL = _AUDIT.format(scope="")
SELECT_AUDIT_OF_ROOTS = _AUDIT.format(scope="WHERE l.root_account_id = ANY($2::bigint[])")
INSERT_AUDIT = """
INSERT INTO audit_log (user_id, action, root_account_id, outcome_import_id, detail) VALUES ($1, $2, $3, $4, $5)
"""

# Controls. A waiting import is ended at once; a running one is asked to stop (worker/watch.py).
UPDATE_CANCEL_WAITING = """
UPDATE outcome_imports
SET workflow_state = 'failed', cancel_requested_at = now(), error_count = 1, ended_at = now(), updated_at = now()
WHERE id = $1 AND workflow_state = 'created'
RETURNING id
"""
INSERT_CANCEL_ERROR = "INSERT INTO outcome_import_errors (outcome_import_id, row, message) VALUES ($1, 1, $2)"
UPDATE_CANCEL_RUNNING = """
UPDATE outcome_imports SET cancel_requested_at = coalesce(cancel_requested_at, now()), updated_at = now()
WHERE id = $1 AND workflow_state = 'importing'
RETURNING id
"""
INSERT_RETRY = """
INSERT INTO outcome_imports (context_type, context_id, root_account_id, user_id, learning_outcome_group_id,
                             import_type, object_key, file_name, content_type, file_size, file_sha256,
                             file_line_count, retry_of_id, dry_run, options)
SELECT context_type, context_id, root_account_id, user_id, learning_outcome_group_id, import_type, object_key,
       file_name, content_type, file_size, file_sha256, file_line_count, id, dry_run, options
FROM outcome_imports WHERE id = $1 AND workflow_state = 'failed'
RETURNING id
"""
INSERT_PAUSE = """
INSERT INTO paused_queues (root_account_id, paused_by) VALUES ($1, $2) ON CONFLICT (root_account_id) DO NOTHING
"""
DELETE_PAUSE = "DELETE FROM paused_queues WHERE root_account_id = $1"

Roots = Sequence[int] | None


@dataclass(frozen=True, slots=True)
class Queue:
    root_account_id: int
    name: str
    waiting: int
    running: int
    paused_at: datetime | None
    oldest_wait_seconds: float | None


@dataclass(frozen=True, slots=True)
class OpsImport:
    """An import as operators see it: where it is, how far it got, who holds it."""

    id: int
    root_account_id: int
    root_account_name: str
    context_type: str
    context_id: int
    context_name: str | None
    workflow_state: str
    progress: int
    file_name: str
    file_size: int
    file_line_count: int
    rows_processed: int
    worker_id: str | None
    attempts: int
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    error_count: int
    cancel_requested: bool
    retry_of_id: int | None
    user_id: int | None
    user_name: str | None
    paused: bool
    now: datetime
    errors: tuple[tuple[int, str], ...] = ()


@dataclass(frozen=True, slots=True)
class WorkerView:
    id: str
    host: str
    pid: int
    max_jobs: int
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None
    rows_processed: int
    alive: bool
    running_import_ids: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    action: str
    root_account_id: int | None
    outcome_import_id: int | None
    detail: str | None
    created_at: datetime
    user_id: int | None
    user_name: str | None


async def administered_root_accounts(conn: asyncpg.Pool | asyncpg.Connection, user_id: int) -> list[int]:
    """The root accounts this user is an active admin of."""
    return [r["id"] for r in await conn.fetch(SELECT_ADMINISTERED_ROOT_ACCOUNTS, user_id)]


async def is_root_account(conn: asyncpg.Pool | asyncpg.Connection, account_id: int) -> bool:
    return await conn.fetchval(SELECT_ROOT_ACCOUNT, account_id) is not None


async def list_queues(conn: asyncpg.Pool | asyncpg.Connection, roots: Roots) -> list[Queue]:
    """Per root account: waiting and running imports, oldest wait, pause. With `roots`, exactly those."""
    if roots is None:
        rows = await conn.fetch(SELECT_QUEUES_ALL, [])
    else:
        rows = await conn.fetch(SELECT_QUEUES_OF_ROOTS, list(roots))
    return [Queue(**dict(r)) for r in rows]


async def list_imports(
    conn: asyncpg.Pool | asyncpg.Connection, kind: ImportList, roots: Roots, limit: int, errors_each: int
) -> list[OpsImport]:
    """One list of imports (see ImportList), at most `limit`, each with its first `errors_each` errors."""
    if roots is None:
        rows = await conn.fetch(SELECT_IMPORTS_ALL[kind], limit)
    else:
        rows = await conn.fetch(SELECT_IMPORTS_OF_ROOTS[kind], limit, list(roots))
    return await _with_errors(conn, rows, errors_each)


async def get_import(conn: asyncpg.Pool | asyncpg.Connection, import_id: int, errors: int) -> OpsImport | None:
    row = await conn.fetchrow(SELECT_IMPORT, import_id)
    if row is None:
        return None
    return (await _with_errors(conn, [row], errors))[0]


async def _with_errors(
    conn: asyncpg.Pool | asyncpg.Connection, rows: Sequence[asyncpg.Record], errors_each: int
) -> list[OpsImport]:
    found: dict[int, list[tuple[int, str]]] = {}
    ids = [r["id"] for r in rows if r["error_count"]]
    if ids and errors_each:
        for e in await conn.fetch(SELECT_FIRST_ERRORS_OF_IMPORTS, ids, errors_each):
            found.setdefault(e["id"], []).append((e["row"], e["message"]))
    return [OpsImport(**dict(r), errors=tuple(found.get(r["id"], ()))) for r in rows]


async def list_workers(
    conn: asyncpg.Pool | asyncpg.Connection, roots: Roots, alive_within_seconds: float, shown_for_seconds: float
) -> list[WorkerView]:
    """Workers that beat within `shown_for_seconds`; running imports only of `roots`."""
    args: list[object] = [float(alive_within_seconds), float(shown_for_seconds)]
    if roots is None:
        rows = await conn.fetch(SELECT_WORKERS_ALL, *args)
    else:
        rows = await conn.fetch(SELECT_WORKERS_OF_ROOTS, *args, list(roots))
    return [
        WorkerView(
            r["id"], r["host"], r["pid"], r["max_jobs"], r["started_at"], r["heartbeat_at"], r["stopped_at"],
            r["rows_processed"], r["alive"], tuple(r["running_import_ids"]),
        )
        for r in rows
    ]


async def list_audit(conn: asyncpg.Pool | asyncpg.Connection, roots: Roots, limit: int) -> list[AuditEntry]:
    if roots is None:
        rows = await conn.fetch(SELECT_AUDIT_ALL, limit)
    else:
        rows = await conn.fetch(SELECT_AUDIT_OF_ROOTS, limit, list(roots))
    return [AuditEntry(**dict(r)) for r in rows]


async def record_audit(
    conn: asyncpg.Connection,
    user_id: int,
    action: str,
    *,
    root_account_id: int | None,
    outcome_import_id: int | None = None,
    detail: str | None = None,
) -> None:
    await conn.execute(INSERT_AUDIT, user_id, action, root_account_id, outcome_import_id, detail)


async def cancel_waiting_import(conn: asyncpg.Connection, import_id: int, message: str) -> bool:
    """End a waiting import `failed` with [1, message], in the caller's transaction; False when
    it is not waiting (it started, or ended, meanwhile)."""
    if await conn.fetchval(UPDATE_CANCEL_WAITING, import_id) is None:
        return False
    await conn.execute(INSERT_CANCEL_ERROR, import_id, message)
    return True


async def request_cancel(conn: asyncpg.Connection, import_id: int) -> bool:
    """Ask the worker running the import to roll it back; False when it is not running."""
    return await conn.fetchval(UPDATE_CANCEL_RUNNING, import_id) is not None


async def insert_retry(conn: asyncpg.Connection, import_id: int) -> int | None:
    """A new waiting import of a failed import's stored file; its id, or None when not failed."""
    value: int | None = await conn.fetchval(INSERT_RETRY, import_id)
    return value


async def pause_queue(conn: asyncpg.Connection, root_account_id: int, user_id: int) -> None:
    """Idempotent: pausing a paused queue keeps its first pause."""
    await conn.execute(INSERT_PAUSE, root_account_id, user_id)


async def resume_queue(conn: asyncpg.Connection, root_account_id: int) -> None:
    """Lift the pause (idempotent); the caller hands the turn on (shared/queue.hand_on_turn)."""
    await conn.execute(DELETE_PAUSE, root_account_id)
