"""A context's imports, newest first (the `GET .../outcome_imports` extension), each with its
first errors as Canvas shows them.

A page starts right before the id of the last import of the page before (a bookmark), read
backwards from outcome_imports_context_recent_idx (context_type, context_id, id): the same cost
at the end of years of imports as at the start, and nothing counted. Then at most 25 errors of
each import of the page, through the errors' (import, row, id) index.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

from shared.db.accounts import Context
from shared.db.imports import _IMPORT_COLUMNS, _import_from_row
from shared.models import EXPOSED_ERRORS, OutcomeImport

# Greater than every import id: where the first page starts.
NEWEST = 2**63 - 1
# The ORDER BY names the index's leading columns, so the planner reads it backwards from the
# bookmark instead of walking the primary key through other contexts' imports.
SELECT_CONTEXT_IMPORTS_BEFORE = f"""
SELECT {_IMPORT_COLUMNS} FROM outcome_imports i LEFT JOIN users u ON u.id = i.user_id
WHERE i.context_type = $1 AND i.context_id = $2 AND i.id < $3
ORDER BY i.context_type DESC, i.context_id DESC, i.id DESC LIMIT $4 OFFSET $5
"""
SELECT_FIRST_ERRORS_OF_IMPORTS = """
SELECT i.id AS import_id, e.row, e.message
FROM unnest($1::bigint[]) AS i(id)
CROSS JOIN LATERAL (
    SELECT id, row, message FROM outcome_import_errors WHERE outcome_import_id = i.id ORDER BY row, id LIMIT $2
) e
ORDER BY i.id, e.row, e.id
"""


async def list_context_imports(
    conn: asyncpg.Pool | asyncpg.Connection, context: Context, before_id: int, limit: int, offset: int = 0
) -> list[OutcomeImport]:
    """Up to `limit` of the context's imports older than `before_id` (skipping `offset`), newest first."""
    rows = await conn.fetch(SELECT_CONTEXT_IMPORTS_BEFORE, context.type.value, context.id, before_id, limit, offset)
    return [_import_from_row(row) for row in rows]


async def first_errors_of(
    conn: asyncpg.Pool | asyncpg.Connection, import_ids: Sequence[int]
) -> dict[int, list[tuple[int, str]]]:
    """The first 25 errors by row of each import (ties in the order they were found)."""
    found: dict[int, list[tuple[int, str]]] = {import_id: [] for import_id in import_ids}
    for row in await conn.fetch(SELECT_FIRST_ERRORS_OF_IMPORTS, list(import_ids), EXPOSED_ERRORS):
        found[row["import_id"]].append((row["row"], row["message"]))
    return found
