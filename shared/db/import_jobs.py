"""Queries the worker uses to move an import through its states (spec §3.2)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from shared.db.imports import _IMPORT_COLUMNS, _import_from_row
from shared.errors import ImportCancelled
from shared.models import ContextType, ImportState, OutcomeImport

# Advisory-lock namespace for "one import at a time per root account" (the second key is the account id).
ROOT_ACCOUNT_LOCK_NAMESPACE = 0x4F49  # "OI"


@dataclass(frozen=True, slots=True)
class ImportJobRecord:
    outcome_import: OutcomeImport
    object_key: str
    file_line_count: int
    attempts: int
    options: dict[str, Any] | None = None  # a CASE import's request parameters (api/case_packages.py)


SELECT_IMPORT_FOR_JOB = f"""
SELECT {_IMPORT_COLUMNS}, i.object_key, i.file_line_count, i.attempts, i.options
FROM outcome_imports i LEFT JOIN users u ON u.id = i.user_id WHERE i.id = $1
"""
TRY_LOCK_ROOT_ACCOUNT = "SELECT pg_try_advisory_lock($1, $2::int)"
UNLOCK_ROOT_ACCOUNT = "SELECT pg_advisory_unlock($1, $2::int)"
SELECT_OLDER_PENDING_IMPORT = """
SELECT id FROM outcome_imports
WHERE root_account_id = $1 AND id < $2 AND workflow_state IN ('created', 'importing')
ORDER BY id LIMIT 1
"""
# Not an import that ended meanwhile (an operator cancelled it while it waited). Returns how
# long it waited for its first attempt (NULL on later attempts).
UPDATE_START_IMPORT = """
UPDATE outcome_imports
SET workflow_state = 'importing', progress = 0, rows_processed = 0, worker_id = $2, started_at = now(),
    heartbeat_at = now(), updated_at = now(), attempts = attempts + 1
WHERE id = $1 AND workflow_state IN ('created', 'importing')
RETURNING CASE WHEN attempts = 1 THEN extract(epoch FROM now() - created_at)::float8 END AS waited
"""
SELECT_IS_PAUSED = "SELECT EXISTS (SELECT 1 FROM paused_queues WHERE root_account_id = $1)"
UPDATE_LATEST_POINTER = {
    ContextType.account: "UPDATE accounts SET latest_outcome_import_id = $2 WHERE id = $1",
    ContextType.course: "UPDATE courses SET latest_outcome_import_id = $2 WHERE id = $1",
}
UPDATE_PROGRESS = """
UPDATE outcome_imports SET progress = $2, rows_processed = $3, updated_at = now()
WHERE id = $1 AND workflow_state = 'importing' AND rows_processed < $3
"""
# clock_timestamp(), not now(): this runs at the end of the import's own long transaction, and
# now() is the time that transaction began.
UPDATE_FINISH_IMPORT = """
UPDATE outcome_imports
SET workflow_state = $2, progress = $3, error_count = error_count + $4, rows_processed = $5, errors_found = $6,
    summary = $7, ended_at = clock_timestamp(), updated_at = clock_timestamp()
WHERE id = $1
RETURNING cancel_requested_at IS NOT NULL
"""
DELETE_IMPORT_ERRORS = "DELETE FROM outcome_import_errors WHERE outcome_import_id = $1"
UPDATE_FAIL_IMPORT = """
UPDATE outcome_imports SET workflow_state = 'failed', error_count = 1, ended_at = now(), updated_at = now()
WHERE id = $1
"""


async def get_import_for_job(conn: asyncpg.Pool | asyncpg.Connection, import_id: int) -> ImportJobRecord | None:
    row = await conn.fetchrow(SELECT_IMPORT_FOR_JOB, import_id)
    if row is None:
        return None
    return ImportJobRecord(
        _import_from_row(row), row["object_key"], row["file_line_count"], row["attempts"], row["options"]
    )


async def try_lock_root_account(conn: asyncpg.Connection, root_account_id: int) -> bool:
    """Session-level lock: held until unlock_root_account or until the connection ends (a crash frees it)."""
    return bool(await conn.fetchval(TRY_LOCK_ROOT_ACCOUNT, ROOT_ACCOUNT_LOCK_NAMESPACE, root_account_id))


async def unlock_root_account(conn: asyncpg.Connection, root_account_id: int) -> None:
    await conn.fetchval(UNLOCK_ROOT_ACCOUNT, ROOT_ACCOUNT_LOCK_NAMESPACE, root_account_id)


async def older_pending_import(conn: asyncpg.Connection, outcome_import: OutcomeImport) -> int | None:
    """The id of an earlier import of the same root account that has not finished, if any."""
    value: int | None = await conn.fetchval(
        SELECT_OLDER_PENDING_IMPORT, outcome_import.root_account_id, outcome_import.id
    )
    return value


async def is_paused(conn: asyncpg.Pool | asyncpg.Connection, root_account_id: int) -> bool:
    """Whether an operator paused this root account's queue (its waiting imports stay `created`)."""
    return bool(await conn.fetchval(SELECT_IS_PAUSED, root_account_id))


@dataclass(frozen=True, slots=True)
class StartedImport:
    waited_seconds: float | None  # from creation to this start, on the first attempt only


async def start_import(conn: asyncpg.Connection, outcome_import: OutcomeImport, worker_id: str) -> StartedImport | None:
    """`importing` on `worker_id`, progress 0, and the context's latest pointer (spec §3.3);
    committed on return. None when the import has ended meanwhile (cancelled while it waited).

    A dry run is never its context's latest import (it changes nothing), and the errors an
    earlier attempt of it stored are dropped: a dry run stores them outside its transaction."""
    async with conn.transaction():
        row = await conn.fetchrow(UPDATE_START_IMPORT, outcome_import.id, worker_id)
        if row is None:
            return None
        if outcome_import.dry_run:
            await conn.execute(DELETE_IMPORT_ERRORS, outcome_import.id)
        else:
            await conn.execute(
                UPDATE_LATEST_POINTER[outcome_import.context_type], outcome_import.context_id, outcome_import.id
            )
    return StartedImport(row["waited"])


async def set_progress(pool: asyncpg.Pool, import_id: int, progress: int, rows_processed: int) -> None:
    """Record progress and the data rows processed at once (outside the import's transaction),
    without waiting for the disk: the import goes on only once this returns, and a progress lost
    in a crash is written again when the import runs again."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL synchronous_commit = off")
        await conn.execute(UPDATE_PROGRESS, import_id, progress, rows_processed)


async def insert_errors(conn: asyncpg.Connection, import_id: int, errors: Sequence[tuple[int, str]]) -> None:
    """Store row errors in bulk (COPY), in the caller's transaction."""
    if errors:
        await conn.copy_records_to_table(
            "outcome_import_errors",
            records=[(import_id, row, message) for row, message in errors],
            columns=("outcome_import_id", "row", "message"),
        )


async def finish_import(
    conn: asyncpg.Connection,
    import_id: int,
    state: ImportState,
    progress: int,
    new_errors: int,
    rows_processed: int,
    errors_found: int,
    summary: dict[str, Any],
) -> None:
    """Record the final state in the import's transaction (a dry run's after its rollback).
    Raises ImportCancelled when an operator asked to cancel the import before this point: the
    caller's transaction must then roll back. (A cancel asked later waits for this row, sees the
    import finished, and is refused.)"""
    finished = (import_id, state.value, progress, new_errors, rows_processed, errors_found, summary)
    if await conn.fetchval(UPDATE_FINISH_IMPORT, *finished):
        raise ImportCancelled()


async def fail_import(conn: asyncpg.Connection, import_id: int, message: str) -> None:
    """End the import `failed` with `[1, message]` as its only error; committed on return."""
    async with conn.transaction():
        await conn.execute(DELETE_IMPORT_ERRORS, import_id)
        await insert_errors(conn, import_id, [(1, message)])
        await conn.execute(UPDATE_FAIL_IMPORT, import_id)


# A start that a stopping worker handed back is not one of the import's tries.
UPDATE_HAND_BACK = """
UPDATE outcome_imports SET attempts = attempts - 1, updated_at = now()
WHERE id = $1 AND workflow_state = 'importing' AND attempts > 0
"""
UPDATE_HEARTBEAT = """
UPDATE outcome_imports SET heartbeat_at = now() WHERE id = $1 AND workflow_state = 'importing'
RETURNING cancel_requested_at IS NOT NULL
"""
SELECT_CANCEL_REQUESTED = "SELECT cancel_requested_at IS NOT NULL FROM outcome_imports WHERE id = $1"
SELECT_ABANDONED_IMPORTS = """
SELECT id FROM outcome_imports
WHERE workflow_state = 'importing' AND coalesce(heartbeat_at, started_at) < now() - make_interval(secs => $1)
ORDER BY id
"""
# Only the first in line of each root account has a job (shared/db/turns.py); not in a paused queue.
SELECT_QUEUED_IMPORTS = """
SELECT id FROM outcome_imports i
WHERE workflow_state = 'created'
  AND NOT EXISTS (SELECT 1 FROM paused_queues p WHERE p.root_account_id = i.root_account_id)
  AND NOT EXISTS (
      SELECT 1 FROM outcome_imports o
      WHERE o.root_account_id = i.root_account_id AND o.id < i.id AND o.workflow_state IN ('created', 'importing')
  )
ORDER BY id LIMIT $1
"""


async def beat(conn: asyncpg.Pool | asyncpg.Connection, import_id: int) -> bool:
    """Mark the import alive; return whether an operator asked to cancel it."""
    return bool(await conn.fetchval(UPDATE_HEARTBEAT, import_id))


async def cancel_requested(conn: asyncpg.Pool | asyncpg.Connection, import_id: int) -> bool:
    return bool(await conn.fetchval(SELECT_CANCEL_REQUESTED, import_id))


async def abandoned_imports(conn: asyncpg.Pool | asyncpg.Connection, stale_after_seconds: float) -> list[int]:
    """Imports in `importing` whose worker stopped beating `stale_after_seconds` ago."""
    return [r["id"] for r in await conn.fetch(SELECT_ABANDONED_IMPORTS, float(stale_after_seconds))]


async def queued_imports(conn: asyncpg.Pool | asyncpg.Connection, limit: int = 10_000) -> list[int]:
    """Imports whose turn it is (first waiting import of a root account that is not paused), oldest first."""
    return [r["id"] for r in await conn.fetch(SELECT_QUEUED_IMPORTS, limit)]


SELECT_CREATED_WITHIN = """
SELECT id FROM outcome_imports WHERE id = ANY($1::bigint[]) AND created_at > now() - make_interval(secs => $2)
"""


async def created_within(conn: asyncpg.Pool | asyncpg.Connection, import_ids: list[int], seconds: float) -> list[int]:
    """Those of `import_ids` created less than `seconds` ago."""
    return [r["id"] for r in await conn.fetch(SELECT_CREATED_WITHIN, import_ids, float(seconds))]


async def hand_back(conn: asyncpg.Pool | asyncpg.Connection, import_id: int) -> None:
    """Give back the try a stopping worker's start took (its run was rolled back and runs again)."""
    await conn.execute(UPDATE_HAND_BACK, import_id)
