"""The stored errors of an import, a page at a time by keyset ("bookmark") for the error report.

Errors are listed by row, ties in the order they were found (id). A page starts right after the
(row, id) of the last error of the page before, read from outcome_import_errors_import_idx
(outcome_import_id, row, id): the same cost at the end of a report of 10,000 errors as at its
start, and nothing counted (the import row holds the counts).
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

# Sorts before every stored error: rows are record numbers, from 1.
START_ROW = -(2**31)
START_ID = 0

SELECT_ERRORS_AFTER = """
SELECT id, row, message FROM outcome_import_errors
WHERE outcome_import_id = $1 AND (row, id) > ($2, $3)
ORDER BY outcome_import_id, row, id LIMIT $4 OFFSET $5
"""


@dataclass(frozen=True, slots=True)
class StoredError:
    id: int
    row: int
    message: str


async def list_errors_page(
    conn: asyncpg.Pool | asyncpg.Connection, import_id: int, after_row: int, after_id: int, limit: int, offset: int = 0
) -> list[StoredError]:
    """Up to `limit` stored errors of the import after the key (after_row, after_id), by row then id."""
    rows = await conn.fetch(SELECT_ERRORS_AFTER, import_id, after_row, after_id, limit, offset)
    return [StoredError(r["id"], r["row"], r["message"]) for r in rows]
