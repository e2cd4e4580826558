"""The outbox of emails about ended imports (migration 0018): the switch, claims and outcomes.

A trigger queues a row when an import ends (while the switch is on and its user has an address).
A worker claims one row at a time (`pending` -> `sending`, committed, FOR UPDATE SKIP LOCKED so
that two workers never claim the same row), then talks to SMTP, then records what happened:
`sent`, `pending` again with a later `next_attempt_at` (the server did not take it), or
`abandoned`. A row left `sending` by a worker that stopped is never claimed again (the email may
have gone out): it is abandoned by `abandon_stale_sending`, with a log line in the caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeAlias

import asyncpg

from shared.models import ContextType, ImportState

Db: TypeAlias = "asyncpg.Pool | asyncpg.Connection"

SWITCH_ON = """
INSERT INTO import_email_switch (singleton, enabled) VALUES (true, true)
ON CONFLICT (singleton) DO UPDATE SET enabled = true, changed_at = now() WHERE NOT import_email_switch.enabled
"""
# No row is off too: an installation that never sent email is left as it is.
SWITCH_OFF = "UPDATE import_email_switch SET enabled = false, changed_at = now() WHERE enabled"
CLAIM_DUE_EMAIL = """
UPDATE outcome_import_emails e
SET state = 'sending', attempts = e.attempts + 1, claimed_at = now(), claimed_by = $1
WHERE e.outcome_import_id = (
    SELECT outcome_import_id FROM outcome_import_emails
    WHERE state = 'pending' AND next_attempt_at <= now()
    ORDER BY next_attempt_at, outcome_import_id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
) AND e.state = 'pending'
RETURNING e.outcome_import_id, e.recipient, e.attempts
"""
UPDATE_SENT = """
UPDATE outcome_import_emails SET state = 'sent', sent_at = now(), last_error = NULL
WHERE outcome_import_id = $1 AND state = 'sending'
"""
UPDATE_RETRY_LATER = """
UPDATE outcome_import_emails
SET state = 'pending', next_attempt_at = now() + make_interval(secs => $2), last_error = $3
WHERE outcome_import_id = $1 AND state = 'sending'
"""
UPDATE_ABANDONED = """
UPDATE outcome_import_emails SET state = 'abandoned', last_error = $2
WHERE outcome_import_id = $1 AND state = 'sending'
"""
UPDATE_STALE_SENDING = """
UPDATE outcome_import_emails SET state = 'abandoned', last_error = $2
WHERE state = 'sending' AND claimed_at < now() - make_interval(secs => $1)
RETURNING outcome_import_id, claimed_by
"""
SELECT_NEXT_DUE_IN = """
SELECT extract(epoch FROM min(next_attempt_at) - now())::float8
FROM outcome_import_emails WHERE state = 'pending'
"""
SELECT_EMAIL_IMPORT = """
SELECT i.id, i.context_type, i.context_id, i.workflow_state, i.file_name, i.dry_run, i.summary,
       coalesce(i.errors_found, i.error_count) AS errors_found, i.created_at, i.ended_at,
       coalesce(a.name, c.name) AS context_name, u.name AS user_name
FROM outcome_imports i
LEFT JOIN users u ON u.id = i.user_id
LEFT JOIN accounts a ON i.context_type = 'Account' AND a.id = i.context_id
LEFT JOIN courses c ON i.context_type = 'Course' AND c.id = i.context_id
WHERE i.id = $1
"""
SELECT_FIRST_ERRORS = """
SELECT row, message FROM outcome_import_errors WHERE outcome_import_id = $1 ORDER BY row, id LIMIT $2
"""


@dataclass(frozen=True, slots=True)
class ClaimedEmail:
    import_id: int
    recipient: str
    attempt: int  # 1 for the first try


@dataclass(frozen=True, slots=True)
class EndedImport:
    """What the email about an import says (worker/import_email.py)."""

    id: int
    context_type: ContextType
    context_id: int
    context_name: str | None
    state: ImportState
    file_name: str
    dry_run: bool
    summary: dict[str, Any] | None
    errors_found: int
    errors: list[tuple[int, str]]  # the first ones by row
    user_name: str | None
    created_at: datetime
    ended_at: datetime | None


async def set_switch(db: Db, enabled: bool) -> None:
    """Turn queueing of import emails on or off for the whole installation (idempotent)."""
    await db.execute(SWITCH_ON if enabled else SWITCH_OFF)


async def claim_due_email(db: Db, worker_id: str) -> ClaimedEmail | None:
    """Take the email most overdue, committed as `sending` on return; None when none is due.
    Concurrent callers never get the same row, and a row is claimed once per try."""
    row = await db.fetchrow(CLAIM_DUE_EMAIL, worker_id)
    return None if row is None else ClaimedEmail(row["outcome_import_id"], row["recipient"], row["attempts"])


async def mark_sent(db: Db, import_id: int) -> None:
    await db.execute(UPDATE_SENT, import_id)


async def retry_later(db: Db, import_id: int, delay_seconds: float, error: str) -> None:
    """Back to `pending`, due in `delay_seconds`: the server did not take the message."""
    await db.execute(UPDATE_RETRY_LATER, import_id, float(delay_seconds), error)


async def abandon(db: Db, import_id: int, error: str) -> None:
    """Never tried again."""
    await db.execute(UPDATE_ABANDONED, import_id, error)


async def abandon_stale_sending(db: Db, older_than_seconds: float, error: str) -> list[tuple[int, str | None]]:
    """Emails claimed longer ago than any send can last: their worker stopped mid-send, and the
    message may have gone out, so they are never tried again. Returns (import id, worker id)."""
    rows = await db.fetch(UPDATE_STALE_SENDING, float(older_than_seconds), error)
    return [(r["outcome_import_id"], r["claimed_by"]) for r in rows]


async def seconds_until_next_due(db: Db) -> float | None:
    """How long until the next pending email is due (0: now); None when none is pending."""
    value: float | None = await db.fetchval(SELECT_NEXT_DUE_IN)
    return None if value is None else max(value, 0.0)


async def get_ended_import(db: Db, import_id: int, max_errors: int) -> EndedImport | None:
    """The import with its context's and user's names and its first `max_errors` errors by row."""
    row = await db.fetchrow(SELECT_EMAIL_IMPORT, import_id)
    if row is None:
        return None
    errors = [(r["row"], r["message"]) for r in await db.fetch(SELECT_FIRST_ERRORS, import_id, max_errors)]
    return EndedImport(
        id=row["id"],
        context_type=ContextType(row["context_type"]),
        context_id=row["context_id"],
        context_name=row["context_name"],
        state=ImportState(row["workflow_state"]),
        file_name=row["file_name"],
        dry_run=row["dry_run"],
        summary=row["summary"],
        errors_found=row["errors_found"],
        errors=errors,
        user_name=row["user_name"],
        created_at=row["created_at"],
        ended_at=row["ended_at"],
    )
