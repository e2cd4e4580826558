"""Whose turn it is in a root account's queue, so that only the first in line has a job.

Imports of one root account run one at a time, in creation order. Only the first waiting import
of each root account has an arq job: the others wait in PostgreSQL and cost nothing (no job, no
pickups, no deferrals). Whoever ends an import, or creates one, hands the turn on:

- the API, when it creates an import: a job for it if no earlier import of its root account is
  waiting or running;
- the worker, when an import ends (and an operator, when cancelling a waiting one): a job for the
  next waiting import of that root account.

Both decide under one transaction-level advisory lock per root account, so a creation and an end
cannot miss each other (the one that comes second sees what the first did). A job that is lost
anyway (a crash between a commit and its enqueue, Redis losing its data) is enqueued again by the
workers' reconciler, which looks for first-in-line imports without a job. A paused root account
hands no turns on until it is resumed.
"""

from __future__ import annotations

import asyncpg

# Advisory-lock namespace for turn decisions (the second key is the root account id); the import
# lock of shared/db/import_jobs.py is another namespace, held for a whole import.
TURN_LOCK_NAMESPACE = 0x4F54  # "OT"

LOCK_TURNS = "SELECT pg_advisory_xact_lock($1, $2::int)"
SELECT_IS_FIRST_IN_LINE = """
SELECT NOT EXISTS (
    SELECT 1 FROM outcome_imports
    WHERE root_account_id = $1 AND id < $2 AND workflow_state IN ('created', 'importing')
) AND NOT EXISTS (SELECT 1 FROM paused_queues WHERE root_account_id = $1)
"""
# The oldest unfinished import of the root account, if it is waiting (not running) and the
# queue is not paused.
SELECT_NEXT_IN_LINE = """
SELECT id FROM (
    SELECT id, workflow_state FROM outcome_imports
    WHERE root_account_id = $1 AND workflow_state IN ('created', 'importing')
    ORDER BY id LIMIT 1
) first
WHERE workflow_state = 'created' AND NOT EXISTS (SELECT 1 FROM paused_queues WHERE root_account_id = $1)
"""


async def lock_turns(conn: asyncpg.Connection, root_account_id: int) -> None:
    """Serialise turn decisions of this root account until the caller's transaction ends."""
    await conn.execute(LOCK_TURNS, TURN_LOCK_NAMESPACE, root_account_id)


async def is_first_in_line(conn: asyncpg.Connection, root_account_id: int, import_id: int) -> bool:
    """Whether the import may run now: nothing earlier of its root account unfinished, not paused.
    Call it under lock_turns, in the transaction that created the import."""
    return bool(await conn.fetchval(SELECT_IS_FIRST_IN_LINE, root_account_id, import_id))


async def next_in_line(conn: asyncpg.Pool | asyncpg.Connection, root_account_id: int) -> int | None:
    """The import whose turn it is now, if it is waiting for a job (None if one runs, or none
    waits, or the queue is paused). Call it under lock_turns, after the end was committed."""
    value: int | None = await conn.fetchval(SELECT_NEXT_IN_LINE, root_account_id)
    return value
