"""Where a user may import: the accounts they administer and the courses they are enrolled in.

Canvas's list routes (`GET /api/v1/accounts`, `/api/v1/courses`, `/api/v1/accounts/:id/courses`)
read these; each function runs one statement and answers one page and the total.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeAlias

import asyncpg

from shared.db.accounts import User
from shared.db.provisioning import Account, Course, account_from_row, course_from_row

Db: TypeAlias = "asyncpg.Pool | asyncpg.Connection"

# Canvas's rights here (shared/db/accounts.py can_manage_outcomes): a site admin, an admin of some
# account, or a teacher of some course may import somewhere.
SELECT_MAY_IMPORT_SOMEWHERE = """
SELECT EXISTS (
    SELECT 1 FROM account_users au JOIN accounts a ON a.id = au.account_id
    WHERE au.user_id = $1 AND au.workflow_state = 'active' AND a.workflow_state <> 'deleted'
) OR EXISTS (
    SELECT 1 FROM enrollments e JOIN courses c ON c.id = e.course_id
    WHERE e.user_id = $1 AND e.type = 'TeacherEnrollment' AND e.workflow_state = 'active'
      AND c.workflow_state <> 'deleted'
)"""
_ACCOUNT_COLUMNS = "a.id, a.name, a.parent_account_id, a.root_account_id, a.workflow_state, count(*) OVER () AS total"
SELECT_ADMINISTERED_ACCOUNTS = f"""
SELECT {_ACCOUNT_COLUMNS}
FROM account_users au JOIN accounts a ON a.id = au.account_id
WHERE au.user_id = $1 AND au.workflow_state = 'active' AND a.workflow_state <> 'deleted'
ORDER BY a.id LIMIT $2 OFFSET $3
"""
SELECT_ROOT_ACCOUNTS = f"""
SELECT {_ACCOUNT_COLUMNS} FROM accounts a
WHERE a.parent_account_id IS NULL AND a.workflow_state <> 'deleted'
ORDER BY a.id LIMIT $1 OFFSET $2
"""
_COURSE_COLUMNS = """
c.id, c.name, c.course_code, c.account_id, c.root_account_id, c.workflow_state, c.created_at, count(*) OVER () AS total
"""
SELECT_ENROLLED_COURSES = f"""
SELECT {_COURSE_COLUMNS} FROM courses c
WHERE c.id IN (
    SELECT course_id FROM enrollments WHERE user_id = $1 AND type = ANY($2::text[]) AND workflow_state = 'active'
) AND c.workflow_state <> 'deleted'
ORDER BY c.id LIMIT $3 OFFSET $4
"""
# As Canvas lists them: the account's courses and those of its sub-accounts (a deleted account
# hides its subtree), by name. The search matches the name or course code in part, or the id.
SELECT_ACCOUNT_COURSES = f"""
WITH RECURSIVE tree(id) AS (
    SELECT $1::bigint
    UNION ALL
    SELECT a.id FROM accounts a JOIN tree t ON a.parent_account_id = t.id WHERE a.workflow_state <> 'deleted'
)
SELECT {_COURSE_COLUMNS} FROM courses c JOIN tree t ON c.account_id = t.id
WHERE c.workflow_state <> 'deleted'
  AND ($2::text IS NULL OR c.name ILIKE $2 ESCAPE '\\' OR c.course_code ILIKE $2 ESCAPE '\\' OR c.id::text = $3)
ORDER BY c.name, c.id LIMIT $4 OFFSET $5
"""


def _total(rows: Sequence[asyncpg.Record]) -> int:
    return int(rows[0]["total"]) if rows else 0


async def may_import_somewhere(db: Db, user: User) -> bool:
    """True if the user may import into at least one account or course."""
    return user.site_admin or bool(await db.fetchval(SELECT_MAY_IMPORT_SOMEWHERE, user.id))


async def list_accounts(db: Db, user: User, *, limit: int, offset: int) -> tuple[list[Account], int]:
    """The undeleted accounts the user is an active admin of, by id; for a site admin, every root
    account (the rest are their sub-accounts). One page, and the total."""
    if user.site_admin:
        rows = await db.fetch(SELECT_ROOT_ACCOUNTS, limit, offset)
    else:
        rows = await db.fetch(SELECT_ADMINISTERED_ACCOUNTS, user.id, limit, offset)
    return [account_from_row(row) for row in rows], _total(rows)


async def list_enrolled_courses(
    db: Db, user_id: int, enrollment_types: Sequence[str], *, limit: int, offset: int
) -> tuple[list[Course], int]:
    """The undeleted courses in which the user has an active enrollment of one of these types, by id."""
    rows = await db.fetch(SELECT_ENROLLED_COURSES, user_id, list(enrollment_types), limit, offset)
    return [course_from_row(row) for row in rows], _total(rows)


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_account_courses(
    db: Db, account_id: int, search_term: str | None, *, limit: int, offset: int
) -> tuple[list[Course], int]:
    """The undeleted courses of the account and of its undeleted sub-accounts, by name; with a
    search term, those whose name or course code contains it (any case) or whose id it is."""
    pattern = None if search_term is None else _like_pattern(search_term)
    rows = await db.fetch(SELECT_ACCOUNT_COURSES, account_id, pattern, search_term, limit, offset)
    return [course_from_row(row) for row in rows], _total(rows)
