"""Queries for the retention of stored uploads."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

# Imports that ended before the cutoff and still have their upload, unless another import of the
# same stored file (a retry) has not ended, or ended after the cutoff: it may still need the file.
SELECT_EXPIRED_UPLOADS = """
SELECT i.id, i.object_key FROM outcome_imports i
WHERE i.upload_deleted_at IS NULL AND i.ended_at < now() - make_interval(days => $1)
  AND NOT EXISTS (
      SELECT 1 FROM outcome_imports o
      WHERE o.object_key = i.object_key AND o.id <> i.id
        AND (o.ended_at IS NULL OR o.ended_at >= now() - make_interval(days => $1))
  )
ORDER BY i.ended_at LIMIT $2
"""
UPDATE_UPLOADS_DELETED = """
UPDATE outcome_imports SET upload_deleted_at = now() WHERE object_key = ANY($1::text[]) AND upload_deleted_at IS NULL
"""
SELECT_UPLOAD_DELETED = "SELECT upload_deleted_at IS NOT NULL FROM outcome_imports WHERE id = $1"


@dataclass(frozen=True, slots=True)
class ExpiredUpload:
    import_id: int
    object_key: str


async def expired_uploads(
    conn: asyncpg.Pool | asyncpg.Connection, retention_days: int, limit: int
) -> list[ExpiredUpload]:
    """Uploads past retention that nothing unfinished or recent needs, oldest end first."""
    rows = await conn.fetch(SELECT_EXPIRED_UPLOADS, retention_days, limit)
    return [ExpiredUpload(r["id"], r["object_key"]) for r in rows]


async def mark_uploads_deleted(conn: asyncpg.Pool | asyncpg.Connection, object_keys: list[str]) -> None:
    """Record that these stored files are gone (for every import that used them)."""
    await conn.execute(UPDATE_UPLOADS_DELETED, object_keys)


async def upload_deleted(conn: asyncpg.Pool | asyncpg.Connection, import_id: int) -> bool:
    return bool(await conn.fetchval(SELECT_UPLOAD_DELETED, import_id))
