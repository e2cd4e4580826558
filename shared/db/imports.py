"""Queries for outcome imports: the API's create/show and the worker's state transitions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg

from shared.db.accounts import Context
from shared.models import EXPOSED_ERRORS, ContextType, ImportState, OutcomeImport, UserSummary
from shared.storage import StoredObject

_IMPORT_COLUMNS = """
i.id, i.context_type, i.context_id, i.root_account_id, i.workflow_state, i.progress, i.import_type,
i.created_at, i.updated_at, i.ended_at, i.learning_outcome_group_id, i.dry_run, i.summary,
coalesce(i.errors_found, i.error_count) AS errors_found,
u.id AS user_id, u.name AS user_name, u.sortable_name, u.short_name, u.created_at AS user_created_at
"""

INSERT_IMPORT = f"""
WITH i AS (
    INSERT INTO outcome_imports (context_type, context_id, root_account_id, user_id, learning_outcome_group_id,
                                 import_type, object_key, file_name, content_type, file_size, file_sha256,
                                 file_line_count, dry_run, options)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
    RETURNING *
)
SELECT {_IMPORT_COLUMNS} FROM i LEFT JOIN users u ON u.id = i.user_id
"""
SELECT_IMPORT = f"""
SELECT {_IMPORT_COLUMNS} FROM outcome_imports i LEFT JOIN users u ON u.id = i.user_id
WHERE i.id = $1 AND i.context_type = $2 AND i.context_id = $3
"""
SELECT_LATEST_IMPORT_ID = {
    ContextType.account: "SELECT latest_outcome_import_id FROM accounts WHERE id = $1",
    ContextType.course: "SELECT latest_outcome_import_id FROM courses WHERE id = $1",
}
SELECT_FIRST_ERRORS = """
SELECT row, message FROM outcome_import_errors WHERE outcome_import_id = $1 ORDER BY row, id LIMIT $2
"""
SELECT_ERROR_COUNTS = "SELECT error_count, coalesce(errors_found, error_count) FROM outcome_imports WHERE id = $1"
SELECT_ALL_ERRORS = "SELECT row, message FROM outcome_import_errors WHERE outcome_import_id = $1 ORDER BY row, id"
SELECT_CREATED_GROUP_IDS = """
SELECT id FROM learning_outcome_groups WHERE last_import_id = $1 ORDER BY id
"""
SELECT_ACTIVE_GROUP_IN_CONTEXT = """
SELECT id FROM learning_outcome_groups
WHERE id = $1 AND context_type = $2 AND context_id = $3 AND workflow_state = 'active'
"""


def _import_from_row(row: asyncpg.Record) -> OutcomeImport:
    user = None
    if row["user_id"] is not None:
        user = UserSummary(
            row["user_id"], row["user_name"], row["sortable_name"], row["short_name"], row["user_created_at"]
        )
    return OutcomeImport(
        id=row["id"],
        context_type=ContextType(row["context_type"]),
        context_id=row["context_id"],
        root_account_id=row["root_account_id"],
        workflow_state=ImportState(row["workflow_state"]),
        progress=row["progress"],
        import_type=row["import_type"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        ended_at=row["ended_at"],
        user=user,
        target_group_id=row["learning_outcome_group_id"],
        dry_run=row["dry_run"],
        errors_found=row["errors_found"],
        summary=row["summary"],
    )


async def insert_import(
    conn: asyncpg.Pool | asyncpg.Connection,
    context: Context,
    user_id: int,
    stored: StoredObject,
    *,
    file_name: str,
    content_type: str,
    target_group_id: int | None,
    import_type: str = "instructure_csv",
    dry_run: bool = False,
    options: dict[str, Any] | None = None,
) -> OutcomeImport:
    """Record a stored upload as a new import in state `created` (committed when this returns).
    `options`: a CASE import's request parameters (stored as JSON; None for none)."""
    row = await conn.fetchrow(
        INSERT_IMPORT,
        context.type.value,
        context.id,
        context.root_account_id,
        user_id,
        target_group_id,
        import_type,
        stored.key,
        file_name,
        content_type,
        stored.size,
        stored.sha256,
        stored.line_count,
        dry_run,
        options,
    )
    assert row is not None
    return _import_from_row(row)


async def get_import(conn: asyncpg.Pool | asyncpg.Connection, context: Context, import_id: int) -> OutcomeImport | None:
    """The import with this id if it belongs to this context."""
    row = await conn.fetchrow(SELECT_IMPORT, import_id, context.type.value, context.id)
    return None if row is None else _import_from_row(row)


async def get_latest_import_id(conn: asyncpg.Pool | asyncpg.Connection, context: Context) -> int | None:
    """The context's "latest" pointer (set when processing starts, spec §3.3)."""
    value: int | None = await conn.fetchval(SELECT_LATEST_IMPORT_ID[context.type], context.id)
    return value


async def get_exposed_errors(conn: asyncpg.Pool | asyncpg.Connection, import_id: int) -> list[tuple[int, str]]:
    """The first 25 errors by row (ties in the order they were found)."""
    rows = await conn.fetch(SELECT_FIRST_ERRORS, import_id, EXPOSED_ERRORS)
    return [(r["row"], r["message"]) for r in rows]


async def get_created_group_ids(conn: asyncpg.Pool | asyncpg.Connection, import_id: int) -> list[int]:
    return [r["id"] for r in await conn.fetch(SELECT_CREATED_GROUP_IDS, import_id)]


async def is_active_group_of(conn: asyncpg.Pool | asyncpg.Connection, group_id: int, context: Context) -> bool:
    return await conn.fetchval(SELECT_ACTIVE_GROUP_IN_CONTEXT, group_id, context.type.value, context.id) is not None


def ids_as_strings(ids: Sequence[int]) -> list[str]:
    return [str(i) for i in ids]


async def get_error_counts(conn: asyncpg.Pool | asyncpg.Connection, import_id: int) -> tuple[int, int]:
    """(errors stored, errors found): an import stores at most Settings.max_stored_errors."""
    row = await conn.fetchrow(SELECT_ERROR_COUNTS, import_id)
    return (0, 0) if row is None else (row[0], row[1])


async def iterate_errors(conn: asyncpg.Connection, import_id: int) -> AsyncIterator[tuple[int, str]]:
    """Every stored error by row, read with a cursor (call inside a transaction)."""
    async for r in conn.cursor(SELECT_ALL_ERRORS, import_id, prefetch=1000):
        yield r["row"], r["message"]
