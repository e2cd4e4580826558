"""The database's invariants (shared/db/integrity.py, what `outcome-imports check` reports), asserted
after a test's imports: the foreign keys migrations 0005 and 0006 dropped, and more."""

from __future__ import annotations

import asyncpg

from shared.db.integrity import check_integrity, default_stale_after_seconds, describe


async def assert_integrity(conn: asyncpg.Connection) -> None:
    # An import a test leaves `importing` (its worker killed) is not stuck before the reaper's
    # default limit has passed.
    violations = await check_integrity(conn, stale_after_seconds=default_stale_after_seconds())
    assert not violations, "broken invariants:\n" + "\n".join(describe(v) for v in violations)


async def assert_database_intact(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await assert_integrity(conn)
    finally:
        await conn.close()
