"""Queries for Idempotency-Key: what a key's first request created, remembered for a while."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

# The draft leaves the lifetime to the server; a day covers any client's retries.
KEY_TTL_SECONDS = 24 * 3600
# Same-key requests of one user are serialised, so the second sees what the first committed.
LOCK_KEY = "SELECT pg_advisory_xact_lock(hashtextextended('outcome-imports:idempotency:' || $1 || ':' || $2, 0))"
SELECT_KEY = """
SELECT fingerprint, outcome_import_id FROM idempotency_keys
WHERE user_id = $1 AND key = $2 AND created_at > now() - make_interval(secs => $3)
"""
UPSERT_KEY = """
INSERT INTO idempotency_keys (user_id, key, fingerprint, outcome_import_id) VALUES ($1, $2, $3, $4)
ON CONFLICT (user_id, key) DO UPDATE
SET fingerprint = EXCLUDED.fingerprint, outcome_import_id = EXCLUDED.outcome_import_id, created_at = now()
"""
DELETE_EXPIRED_KEYS = "DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)"


@dataclass(frozen=True, slots=True)
class RememberedRequest:
    fingerprint: str
    outcome_import_id: int


async def lock_key(conn: asyncpg.Connection, user_id: int, key: str) -> None:
    """Serialise requests with this key until the caller's transaction ends."""
    await conn.execute(LOCK_KEY, str(user_id), key)


async def remembered(conn: asyncpg.Connection, user_id: int, key: str, ttl_seconds: float) -> RememberedRequest | None:
    """What this user's key was first used for, within `ttl_seconds`."""
    row = await conn.fetchrow(SELECT_KEY, user_id, key, float(ttl_seconds))
    return None if row is None else RememberedRequest(row["fingerprint"], row["outcome_import_id"])


async def remember(conn: asyncpg.Connection, user_id: int, key: str, fingerprint: str, import_id: int) -> None:
    """Record the key's request (replacing an expired use of the same key)."""
    await conn.execute(UPSERT_KEY, user_id, key, fingerprint, import_id)


async def forget_expired(conn: asyncpg.Pool | asyncpg.Connection, ttl_seconds: float) -> None:
    await conn.execute(DELETE_EXPIRED_KEYS, float(ttl_seconds))
