"""Dashboard sign-ins: a session opened with an API token, named by a random id stored only as its digest.

A session lives until it expires, is deleted (sign-out), or its token is deleted or expires:
every lookup joins the token, so revoking a token ends the sessions opened with it at once.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import asyncpg

from shared.db.accounts import User
from shared.tokens import token_digest


@dataclass(frozen=True, slots=True)
class Session:
    user: User
    csrf_token: str


@dataclass(frozen=True, slots=True)
class NewSession:
    id: str  # goes into the cookie; never stored
    csrf_token: str


def _session_digest(session_id: str) -> bytes:
    # The id is 256 random bits, so an unsalted digest is enough to make a stolen table useless.
    return hashlib.sha256(session_id.encode("utf-8")).digest()


DELETE_EXPIRED_SESSIONS = "DELETE FROM dashboard_sessions WHERE expires_at <= now()"
# The session ends no later than the token it was opened with.
INSERT_SESSION = """
INSERT INTO dashboard_sessions (digest, user_id, access_token_id, csrf_token, expires_at)
SELECT $1, t.user_id, t.id, $2, least(now() + make_interval(secs => $4::integer), t.expires_at)
FROM access_tokens t
WHERE t.token_digest = $3 AND t.workflow_state = 'active' AND (t.expires_at IS NULL OR t.expires_at > now())
RETURNING user_id
"""
SELECT_SESSION = """
SELECT u.id, u.name, u.sortable_name, u.short_name, u.created_at, u.site_admin, s.csrf_token
FROM dashboard_sessions s
JOIN access_tokens t ON t.id = s.access_token_id
JOIN users u ON u.id = s.user_id
WHERE s.digest = $1 AND s.expires_at > now()
  AND t.workflow_state = 'active' AND (t.expires_at IS NULL OR t.expires_at > now())
"""
DELETE_SESSION = "DELETE FROM dashboard_sessions WHERE digest = $1"


async def open_session(conn: asyncpg.Pool | asyncpg.Connection, token: str, seconds: int) -> NewSession | None:
    """A new session for the owner of `token`, lasting `seconds` (or until the token expires).

    None when the token is unknown, deleted or expired. Expired sessions are deleted on the way,
    so the table holds only live ones and those of the last few sign-ins.
    """
    new = NewSession(secrets.token_urlsafe(32), secrets.token_urlsafe(32))
    await conn.execute(DELETE_EXPIRED_SESSIONS)
    user_id = await conn.fetchval(INSERT_SESSION, _session_digest(new.id), new.csrf_token, token_digest(token), seconds)
    return None if user_id is None else new


async def load_session(conn: asyncpg.Pool | asyncpg.Connection, session_id: str) -> Session | None:
    """The live session named `session_id` (unexpired, its token active and unexpired), or None."""
    row = await conn.fetchrow(SELECT_SESSION, _session_digest(session_id))
    if row is None:
        return None
    user = User(row["id"], row["name"], row["sortable_name"], row["short_name"], row["created_at"], row["site_admin"])
    return Session(user, row["csrf_token"])


async def close_session(conn: asyncpg.Pool | asyncpg.Connection, session_id: str) -> None:
    """Delete the session; a no-op when it does not exist (signing out twice is fine)."""
    await conn.execute(DELETE_SESSION, _session_digest(session_id))
