"""Queries for contexts, users, tokens and permissions."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from shared.models import ContextType, UserSummary
from shared.tokens import token_digest, token_hint


@dataclass(frozen=True, slots=True)
class User:
    id: int
    name: str
    sortable_name: str
    short_name: str
    created_at: datetime
    site_admin: bool

    def summary(self) -> UserSummary:
        return UserSummary(self.id, self.name, self.sortable_name, self.short_name, self.created_at)


@dataclass(frozen=True, slots=True)
class Context:
    """An account or a course, with what permission checks and imports need to know of it."""

    type: ContextType
    id: int
    name: str
    root_account_id: int
    account_id: int  # the account itself, or the course's account
    account_chain: tuple[int, ...]  # account_id and its ancestors, nearest first

    @property
    def key(self) -> str:
        return f"{self.type.value}:{self.id}"

    @property
    def path_segment(self) -> str:
        return f"{'accounts' if self.type is ContextType.account else 'courses'}/{self.id}"


SELECT_USER_BY_TOKEN = """
SELECT u.id, u.name, u.sortable_name, u.short_name, u.created_at, u.site_admin, t.token_digest
FROM access_tokens t JOIN users u ON u.id = t.user_id
WHERE t.token_digest = $1 AND t.workflow_state = 'active' AND (t.expires_at IS NULL OR t.expires_at > now())
"""


async def user_for_token(conn: asyncpg.Pool | asyncpg.Connection, token: str) -> User | None:
    """The active user owning this unexpired, undeleted token, or None."""
    digest = token_digest(token)
    row = await conn.fetchrow(SELECT_USER_BY_TOKEN, digest)
    # The lookup is by digest; comparing again in constant time keeps the check timing-safe end to end.
    if row is None or not hmac.compare_digest(bytes(row["token_digest"]), digest):
        return None
    return User(row["id"], row["name"], row["sortable_name"], row["short_name"], row["created_at"], row["site_admin"])


SELECT_ACCOUNT_CHAIN = """
WITH RECURSIVE chain(id, parent_account_id, depth) AS (
    SELECT id, parent_account_id, 0 FROM accounts WHERE id = $1 AND workflow_state <> 'deleted'
    UNION ALL
    SELECT a.id, a.parent_account_id, c.depth + 1 FROM accounts a JOIN chain c ON a.id = c.parent_account_id
)
SELECT id FROM chain ORDER BY depth
"""
SELECT_ACCOUNT = """
SELECT id, name, coalesce(root_account_id, id) AS root_account_id FROM accounts
WHERE id = $1 AND workflow_state <> 'deleted'
"""
SELECT_COURSE = """
SELECT id, name, account_id, root_account_id FROM courses WHERE id = $1 AND workflow_state <> 'deleted'
"""


async def load_context(conn: asyncpg.Pool | asyncpg.Connection, type_: ContextType, id_: int) -> Context | None:
    """The account or course with this id, or None."""
    if type_ is ContextType.account:
        row = await conn.fetchrow(SELECT_ACCOUNT, id_)
        if row is None:
            return None
        account_id = row["id"]
    else:
        row = await conn.fetchrow(SELECT_COURSE, id_)
        if row is None:
            return None
        account_id = row["account_id"]
    chain = tuple(r["id"] for r in await conn.fetch(SELECT_ACCOUNT_CHAIN, account_id))
    return Context(type_, row["id"], row["name"], row["root_account_id"], account_id, chain)


SELECT_IS_ADMIN_OF_ANY = """
SELECT EXISTS (
    SELECT 1 FROM account_users
    WHERE user_id = $1 AND account_id = ANY($2::bigint[]) AND workflow_state = 'active'
)"""
SELECT_IS_TEACHER = """
SELECT EXISTS (
    SELECT 1 FROM enrollments
    WHERE user_id = $1 AND course_id = $2 AND type = 'TeacherEnrollment' AND workflow_state = 'active'
)"""


async def can_manage_outcomes(conn: asyncpg.Pool | asyncpg.Connection, user: User, context: Context) -> bool:
    """Canvas's import_outcomes / manage_outcomes / read_outcomes, as granted in this service.

    A site admin may do everything; an admin of the context's account or of any ancestor account
    may act on it (and on its courses); a teacher of a course may act on that course.
    """
    if user.site_admin:
        return True
    if await conn.fetchval(SELECT_IS_ADMIN_OF_ANY, user.id, list(context.account_chain)):
        return True
    if context.type is ContextType.course:
        return bool(await conn.fetchval(SELECT_IS_TEACHER, user.id, context.id))
    return False


SELECT_BOOTSTRAP_TOKEN_USER = "SELECT user_id FROM access_tokens WHERE token_digest = $1"
INSERT_SITE_ADMIN = """
INSERT INTO users (name, sortable_name, short_name, site_admin)
VALUES ('Site Admin', 'Admin, Site', 'Site Admin', true) RETURNING id
"""
INSERT_TOKEN = """
INSERT INTO access_tokens (user_id, token_digest, token_hint, purpose, expires_at)
VALUES ($1, $2, $3, $4, $5) RETURNING id, created_at
"""
UPDATE_MAKE_SITE_ADMIN = "UPDATE users SET site_admin = true WHERE id = $1"
UPDATE_REACTIVATE_TOKEN = """
UPDATE access_tokens SET workflow_state = 'active', expires_at = NULL WHERE token_digest = $1
"""


async def ensure_bootstrap_admin(conn: asyncpg.Connection, token: str) -> int:
    """Make sure a site-admin user exists whose API token is exactly `token`; return its id. Idempotent."""
    digest = token_digest(token)
    async with conn.transaction():
        # Serialise concurrent start-ups (API and workers) so the admin is created once.
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('outcome-imports:bootstrap'))")
        user_id: int | None = await conn.fetchval(SELECT_BOOTSTRAP_TOKEN_USER, digest)
        if user_id is None:
            user_id = await conn.fetchval(INSERT_SITE_ADMIN)
            await conn.execute(INSERT_TOKEN, user_id, digest, token_hint(token), "bootstrap", None)
        else:
            await conn.execute(UPDATE_MAKE_SITE_ADMIN, user_id)
            await conn.execute(UPDATE_REACTIVATE_TOKEN, digest)
        assert user_id is not None
        return user_id
