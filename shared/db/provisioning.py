"""Queries behind the Canvas provisioning API: accounts, courses, users, admins, enrollments, tokens.

Every function takes a pool or a connection and runs one statement, so each is atomic on its own.
Rows come back as frozen dataclasses whose `as_canvas_json()` is the object Canvas's API answers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

from shared.db.accounts import INSERT_TOKEN, SELECT_IS_ADMIN_OF_ANY, User
from shared.models import canvas_time
from shared.tokens import token_digest, token_hint

Db: TypeAlias = "asyncpg.Pool | asyncpg.Connection"

# Canvas's API shows a course that is not yet published ('created' or 'claimed') as "unpublished".
_COURSE_API_STATES = {"created": "unpublished", "claimed": "unpublished"}


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    name: str
    parent_account_id: int | None
    root_account_id: int | None  # None for a root account, as Canvas shows it
    workflow_state: str

    def as_canvas_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "parent_account_id": self.parent_account_id,
            "root_account_id": self.root_account_id,
            "workflow_state": self.workflow_state,
        }


@dataclass(frozen=True, slots=True)
class Course:
    id: int
    name: str
    course_code: str | None
    account_id: int
    root_account_id: int
    workflow_state: str
    created_at: datetime

    def as_canvas_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "course_code": self.course_code,
            "account_id": self.account_id,
            "root_account_id": self.root_account_id,
            "workflow_state": _COURSE_API_STATES.get(self.workflow_state, self.workflow_state),
            "created_at": canvas_time(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class UserRecord:
    """A user as the provisioning API shows it (with the login id, unlike shared.models.UserSummary)."""

    id: int
    name: str
    sortable_name: str
    short_name: str
    login_id: str | None
    created_at: datetime

    def as_canvas_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "created_at": canvas_time(self.created_at),
            "sortable_name": self.sortable_name,
            "short_name": self.short_name,
            "login_id": self.login_id,
        }


@dataclass(frozen=True, slots=True)
class Admin:
    id: int
    account_id: int
    role: str
    workflow_state: str
    user: UserRecord

    def as_canvas_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "role": self.role,
            "user": self.user.as_canvas_json(),
            "workflow_state": self.workflow_state,
        }


@dataclass(frozen=True, slots=True)
class Enrollment:
    id: int
    course_id: int
    root_account_id: int
    type: str
    workflow_state: str
    created_at: datetime
    user: UserRecord

    def as_canvas_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "course_id": self.course_id,
            "user_id": self.user.id,
            "root_account_id": self.root_account_id,
            "type": self.type,
            # Only base roles exist here, and Canvas names a base role after its enrollment type.
            "role": self.type,
            "enrollment_state": self.workflow_state,
            "created_at": canvas_time(self.created_at),
            "user": self.user.as_canvas_json(),
        }


@dataclass(frozen=True, slots=True)
class Token:
    id: int
    user_id: int
    purpose: str
    expires_at: datetime | None
    created_at: datetime
    plain: str  # only ever held between creation and the one response that shows it

    def as_canvas_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_id": self.user_id,
            "purpose": self.purpose,
            "created_at": canvas_time(self.created_at),
            "expires_at": canvas_time(self.expires_at),
            "workflow_state": "active",
            "visible_token": self.plain,
        }


def account_from_row(row: asyncpg.Record) -> Account:
    return Account(row["id"], row["name"], row["parent_account_id"], row["root_account_id"], row["workflow_state"])


def course_from_row(row: asyncpg.Record) -> Course:
    return Course(
        row["id"],
        row["name"],
        row["course_code"],
        row["account_id"],
        row["root_account_id"],
        row["workflow_state"],
        row["created_at"],
    )


def _user(row: asyncpg.Record) -> UserRecord:
    return UserRecord(
        row["id"], row["name"], row["sortable_name"], row["short_name"], row["login_id"], row["created_at"]
    )


async def administers(db: Db, user: User, account_chain: tuple[int, ...]) -> bool:
    """True if the user is a site admin or an active admin of any account in `account_chain`."""
    if user.site_admin:
        return True
    return bool(await db.fetchval(SELECT_IS_ADMIN_OF_ANY, user.id, list(account_chain)))


INSERT_ROOT_ACCOUNT = """
INSERT INTO accounts (name) VALUES ($1)
RETURNING id, name, parent_account_id, root_account_id, workflow_state
"""


async def insert_root_account(db: Db, name: str) -> Account:
    """Create a root account (no parent, no root)."""
    return account_from_row(await db.fetchrow(INSERT_ROOT_ACCOUNT, name))


INSERT_SUB_ACCOUNT = """
INSERT INTO accounts (name, parent_account_id, root_account_id) VALUES ($1, $2, $3)
RETURNING id, name, parent_account_id, root_account_id, workflow_state
"""


async def insert_sub_account(db: Db, name: str, parent_id: int, root_account_id: int) -> Account:
    """Create a sub-account of `parent_id`; `root_account_id` must be the parent's root (or the parent)."""
    return account_from_row(await db.fetchrow(INSERT_SUB_ACCOUNT, name, parent_id, root_account_id))


SELECT_ACCOUNT = """
SELECT id, name, parent_account_id, root_account_id, workflow_state FROM accounts
WHERE id = $1 AND workflow_state <> 'deleted'
"""


async def get_account(db: Db, account_id: int) -> Account | None:
    """The undeleted account with this id, or None."""
    row = await db.fetchrow(SELECT_ACCOUNT, account_id)
    return None if row is None else account_from_row(row)


SELECT_SUB_ACCOUNTS = """
SELECT id, name, parent_account_id, root_account_id, workflow_state, count(*) OVER () AS total FROM accounts
WHERE parent_account_id = $1 AND workflow_state <> 'deleted'
ORDER BY id LIMIT $2 OFFSET $3
"""
# A deleted account hides its whole subtree, so the walk stops at deleted accounts.
SELECT_SUB_ACCOUNTS_RECURSIVE = """
WITH RECURSIVE tree(id) AS (
    SELECT id FROM accounts WHERE parent_account_id = $1 AND workflow_state <> 'deleted'
    UNION ALL
    SELECT a.id FROM accounts a JOIN tree t ON a.parent_account_id = t.id WHERE a.workflow_state <> 'deleted'
)
SELECT a.id, a.name, a.parent_account_id, a.root_account_id, a.workflow_state, count(*) OVER () AS total
FROM accounts a JOIN tree USING (id)
ORDER BY a.id LIMIT $2 OFFSET $3
"""


async def list_sub_accounts(
    db: Db, parent_id: int, *, recursive: bool, limit: int, offset: int
) -> tuple[list[Account], int]:
    """Undeleted children of `parent_id` (all descendants if `recursive`), by id: one page, and the total."""
    query = SELECT_SUB_ACCOUNTS_RECURSIVE if recursive else SELECT_SUB_ACCOUNTS
    rows = await db.fetch(query, parent_id, limit, offset)
    return [account_from_row(row) for row in rows], (rows[0]["total"] if rows else 0)


INSERT_COURSE = """
INSERT INTO courses (name, course_code, account_id, root_account_id) VALUES ($1, $2, $3, $4)
RETURNING id, name, course_code, account_id, root_account_id, workflow_state, created_at
"""


async def insert_course(db: Db, name: str, course_code: str | None, account_id: int, root_account_id: int) -> Course:
    """Create an unpublished course in `account_id`."""
    return course_from_row(await db.fetchrow(INSERT_COURSE, name, course_code, account_id, root_account_id))


SELECT_COURSE = """
SELECT id, name, course_code, account_id, root_account_id, workflow_state, created_at FROM courses
WHERE id = $1 AND workflow_state <> 'deleted'
"""


async def get_course(db: Db, course_id: int) -> Course | None:
    """The undeleted course with this id, or None."""
    row = await db.fetchrow(SELECT_COURSE, course_id)
    return None if row is None else course_from_row(row)


# Canvas matches login ids case-insensitively; the unique index (exact match) backs this up under races.
INSERT_USER = """
INSERT INTO users (name, sortable_name, short_name, login_id, account_id, email)
SELECT $1::text, $2::text, $3::text, $4::text, $5::bigint, $6::text
WHERE NOT EXISTS (SELECT 1 FROM users WHERE lower(login_id) = lower($4::text))
RETURNING id, name, sortable_name, short_name, login_id, created_at
"""


async def insert_user(
    db: Db, name: str, sortable_name: str, short_name: str, login_id: str, account_id: int, email: str | None = None
) -> UserRecord | None:
    """Create a user of `account_id` with this login id and email address (where import emails go);
    None if the login id is already taken (ignoring case)."""
    try:
        row = await db.fetchrow(INSERT_USER, name, sortable_name, short_name, login_id, account_id, email)
    except asyncpg.UniqueViolationError:
        return None
    return None if row is None else _user(row)


SELECT_USER = "SELECT id, name, sortable_name, short_name, login_id, created_at FROM users WHERE id = $1"
SELECT_USER_ACCOUNT = "SELECT account_id FROM users WHERE id = $1"


async def get_user_account_id(db: Db, user_id: int) -> int | None:
    """The account the user was created in (None for users made at bootstrap)."""
    value: int | None = await db.fetchval(SELECT_USER_ACCOUNT, user_id)
    return value


async def get_user(db: Db, user_id: int) -> UserRecord | None:
    """The user with this id, or None."""
    row = await db.fetchrow(SELECT_USER, user_id)
    return None if row is None else _user(row)


# A user belongs to the root account of the account they were created in (users made at bootstrap
# belong to none).
SELECT_USER_OF_ROOT_ACCOUNT = """
SELECT u.id, u.name, u.sortable_name, u.short_name, u.login_id, u.created_at
FROM users u JOIN accounts a ON a.id = u.account_id
WHERE u.id = $1 AND coalesce(a.root_account_id, a.id) = $2
"""


async def get_user_of_root_account(db: Db, user_id: int, root_account_id: int) -> UserRecord | None:
    """The user with this id if they belong to `root_account_id`, else None (as if there were none)."""
    row = await db.fetchrow(SELECT_USER_OF_ROOT_ACCOUNT, user_id, root_account_id)
    return None if row is None else _user(row)


# Canvas answers an existing admin rather than failing, and reactivates a removed one.
UPSERT_ACCOUNT_USER = """
INSERT INTO account_users (account_id, user_id, role) VALUES ($1, $2, $3)
ON CONFLICT (account_id, user_id) DO UPDATE SET role = EXCLUDED.role, workflow_state = 'active'
RETURNING id, account_id, role, workflow_state
"""


async def upsert_admin(db: Db, account_id: int, user: UserRecord, role: str) -> Admin:
    """Make `user` an active admin of `account_id` with `role`. Idempotent."""
    row = await db.fetchrow(UPSERT_ACCOUNT_USER, account_id, user.id, role)
    return Admin(row["id"], row["account_id"], row["role"], row["workflow_state"], user)


# Enrolling again with the same type updates the state of the existing enrollment, as Canvas does.
UPSERT_ENROLLMENT = """
INSERT INTO enrollments (course_id, user_id, type, workflow_state) VALUES ($1, $2, $3, $4)
ON CONFLICT (course_id, user_id, type) DO UPDATE SET workflow_state = EXCLUDED.workflow_state
RETURNING id, course_id, type, workflow_state, created_at
"""


async def upsert_enrollment(db: Db, course: Course, user: UserRecord, type_: str, state: str) -> Enrollment:
    """Enroll `user` in `course` as `type_` in `state`. Idempotent per (course, user, type)."""
    row = await db.fetchrow(UPSERT_ENROLLMENT, course.id, user.id, type_, state)
    return Enrollment(
        row["id"],
        row["course_id"],
        course.root_account_id,
        row["type"],
        row["workflow_state"],
        row["created_at"],
        user,
    )


async def insert_token(db: Db, user_id: int, plain: str, purpose: str, expires_at: datetime | None) -> Token:
    """Store a token for `user_id` as digest and hint; the plain value is returned once, never stored."""
    row = await db.fetchrow(INSERT_TOKEN, user_id, token_digest(plain), token_hint(plain), purpose, expires_at)
    return Token(row["id"], user_id, purpose, expires_at, row["created_at"], plain)
