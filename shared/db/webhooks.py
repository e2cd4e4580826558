"""Queries for outcome import webhooks: endpoints (the API), and the outbox of deliveries (the worker).

Deliveries are added by a trigger in the transaction that ends an import (migration 0019). A worker
claims due ones with FOR UPDATE SKIP LOCKED in a short transaction that counts the attempt and moves
`next_attempt_at` past it (a lease); the HTTP request happens after that commit; its result is
written only if the delivery is still at that attempt (a worker whose lease ran out and whose
delivery was claimed again writes nothing but its attempt's log entry).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

# Greater than every delivery id: where the first page of a delivery log starts.
NEWEST = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Webhook:
    id: int
    root_account_id: int
    url: str
    secret: str
    events: tuple[str, ...]
    active: bool
    disabled_reason: str | None
    created_by: int | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Attempt:
    attempt: int
    started_at: datetime
    ended_at: datetime | None
    status: int | None
    latency_ms: int | None
    error: str | None


@dataclass(frozen=True, slots=True)
class Delivery:
    id: int
    webhook_id: int
    outcome_import_id: int
    message_id: str
    event_type: str
    event_at: datetime
    state: str
    attempts: int
    next_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    last_latency_ms: int | None
    delivered_at: datetime | None
    created_at: datetime
    log: tuple[Attempt, ...] = ()


@dataclass(frozen=True, slots=True)
class ClaimedDelivery:
    """A delivery a worker holds for one attempt."""

    id: int
    attempt: int  # this attempt's number, from 1: the claim's fencing token
    message_id: str
    event_type: str
    event_at: datetime
    outcome_import_id: int
    payload: bytes | None  # None before the first attempt: the worker builds and stores it
    url: str
    secret: str


_WEBHOOK_COLUMNS = (
    "id, root_account_id, url, secret, events, active, disabled_reason, created_by, created_at, updated_at"
)
INSERT_WEBHOOK = f"""
INSERT INTO outcome_import_webhooks (root_account_id, url, secret, events, created_by)
VALUES ($1, $2, $3, $4, $5) RETURNING {_WEBHOOK_COLUMNS}
"""
SELECT_WEBHOOKS = f"""
SELECT {_WEBHOOK_COLUMNS} FROM outcome_import_webhooks WHERE root_account_id = $1 ORDER BY id LIMIT $2 OFFSET $3
"""
COUNT_WEBHOOKS = "SELECT count(*) FROM outcome_import_webhooks WHERE root_account_id = $1"
SELECT_WEBHOOK = f"SELECT {_WEBHOOK_COLUMNS} FROM outcome_import_webhooks WHERE id = $1 AND root_account_id = $2"
# NULL parameters keep the current value. Turning an endpoint on clears why it was turned off.
UPDATE_WEBHOOK = f"""
UPDATE outcome_import_webhooks
SET url = coalesce($3, url), secret = coalesce($4, secret), events = coalesce($5, events),
    active = coalesce($6, active),
    disabled_reason = CASE WHEN coalesce($6, active) THEN NULL ELSE disabled_reason END,
    updated_at = now()
WHERE id = $1 AND root_account_id = $2
RETURNING {_WEBHOOK_COLUMNS}
"""
DELETE_WEBHOOK = f"""
DELETE FROM outcome_import_webhooks WHERE id = $1 AND root_account_id = $2 RETURNING {_WEBHOOK_COLUMNS}
"""

_DELIVERY_COLUMNS = """
id, webhook_id, outcome_import_id, message_id, event_type, event_at, state, attempts, next_attempt_at,
last_attempt_at, last_status, last_error, last_latency_ms, delivered_at, created_at
"""
SELECT_DELIVERIES_BEFORE = f"""
SELECT {_DELIVERY_COLUMNS} FROM outcome_import_webhook_deliveries
WHERE webhook_id = $1 AND id < $2 ORDER BY webhook_id DESC, id DESC LIMIT $3 OFFSET $4
"""
SELECT_DELIVERY = f"SELECT {_DELIVERY_COLUMNS} FROM outcome_import_webhook_deliveries WHERE id = $1 AND webhook_id = $2"
SELECT_ATTEMPTS = """
SELECT delivery_id, attempt, started_at, ended_at, status, latency_ms, error
FROM outcome_import_webhook_attempts WHERE delivery_id = ANY($1::bigint[]) ORDER BY delivery_id, attempt
"""
# A failed delivery is tried again from now, with a fresh schedule; a pending one is due now.
UPDATE_REDELIVER = f"""
UPDATE outcome_import_webhook_deliveries
SET state = 'pending', next_attempt_at = now(),
    attempts = CASE WHEN state = 'failed' THEN 0 ELSE attempts END
WHERE id = $1 AND webhook_id = $2 AND state <> 'delivered'
RETURNING {_DELIVERY_COLUMNS}
"""

# Due deliveries of active endpoints, oldest due first; each claimed for one attempt.
CLAIM_DUE_DELIVERIES = """
WITH due AS (
    SELECT d.id FROM outcome_import_webhook_deliveries d
    JOIN outcome_import_webhooks w ON w.id = d.webhook_id
    WHERE d.state = 'pending' AND d.next_attempt_at <= now() AND w.active
    ORDER BY d.next_attempt_at, d.id
    LIMIT $1
    FOR UPDATE OF d SKIP LOCKED
)
UPDATE outcome_import_webhook_deliveries d
SET attempts = d.attempts + 1, last_attempt_at = now(), next_attempt_at = now() + make_interval(secs => $2)
FROM due, outcome_import_webhooks w
WHERE d.id = due.id AND w.id = d.webhook_id
RETURNING d.id, d.attempts, d.message_id, d.event_type, d.event_at, d.outcome_import_id, d.payload, w.url, w.secret
"""
# Attempts whose worker stopped before it recorded their end (it died, or lost its lease).
UPDATE_ABANDONED_ATTEMPTS = """
UPDATE outcome_import_webhook_attempts
SET ended_at = now(), error = 'no result recorded: the worker stopped during this attempt'
WHERE delivery_id = ANY($1::bigint[]) AND ended_at IS NULL
"""
INSERT_ATTEMPTS = """
INSERT INTO outcome_import_webhook_attempts (delivery_id, attempt, worker_id)
SELECT * FROM unnest($1::bigint[], $2::int[], $3::text[])
ON CONFLICT (delivery_id, attempt) DO NOTHING
"""
UPDATE_PAYLOAD = "UPDATE outcome_import_webhook_deliveries SET payload = $2 WHERE id = $1 AND payload IS NULL"
SELECT_PAYLOAD = "SELECT payload FROM outcome_import_webhook_deliveries WHERE id = $1"
UPDATE_ATTEMPT_RESULT = """
UPDATE outcome_import_webhook_attempts
SET ended_at = now(), status = $3, latency_ms = $4, error = $5, response_body = $6
WHERE delivery_id = $1 AND attempt = $2
"""
# $3: the delivery's new state; $4: seconds until the next attempt (pending only).
UPDATE_DELIVERY_RESULT = """
UPDATE outcome_import_webhook_deliveries
SET state = $3, last_status = $5, last_latency_ms = $6, last_error = $7,
    next_attempt_at = CASE WHEN $3 = 'pending' THEN now() + make_interval(secs => $4) END,
    delivered_at = CASE WHEN $3 = 'delivered' THEN now() END
WHERE id = $1 AND attempts = $2 AND state = 'pending'
RETURNING webhook_id
"""
UPDATE_DISABLE_WEBHOOK = """
UPDATE outcome_import_webhooks SET active = false, disabled_reason = $2, updated_at = now() WHERE id = $1
"""
DELETE_OLD_DELIVERIES = """
DELETE FROM outcome_import_webhook_deliveries
WHERE id IN (
    SELECT id FROM outcome_import_webhook_deliveries
    WHERE state <> 'pending' AND created_at < now() - make_interval(days => $1) LIMIT $2
)
"""


def _webhook(row: asyncpg.Record) -> Webhook:
    return Webhook(**{**dict(row), "events": tuple(row["events"])})


def _delivery(row: asyncpg.Record, log: Sequence[Attempt] = ()) -> Delivery:
    return Delivery(**dict(row), log=tuple(log))


async def insert_webhook(
    conn: asyncpg.Pool | asyncpg.Connection,
    root_account_id: int,
    url: str,
    secret: str,
    events: Sequence[str],
    created_by: int,
) -> Webhook:
    """Register an endpoint (active)."""
    row = await conn.fetchrow(INSERT_WEBHOOK, root_account_id, url, secret, list(events), created_by)
    assert row is not None
    return _webhook(row)


async def list_webhooks(
    conn: asyncpg.Pool | asyncpg.Connection, root_account_id: int, limit: int, offset: int
) -> tuple[list[Webhook], int]:
    """A page of the root account's endpoints in the order they were registered, and how many it has."""
    rows = await conn.fetch(SELECT_WEBHOOKS, root_account_id, limit, offset)
    total: int = await conn.fetchval(COUNT_WEBHOOKS, root_account_id)
    return [_webhook(row) for row in rows], total


async def get_webhook(conn: asyncpg.Pool | asyncpg.Connection, webhook_id: int, root_account_id: int) -> Webhook | None:
    row = await conn.fetchrow(SELECT_WEBHOOK, webhook_id, root_account_id)
    return None if row is None else _webhook(row)


async def update_webhook(
    conn: asyncpg.Pool | asyncpg.Connection,
    webhook_id: int,
    root_account_id: int,
    *,
    url: str | None,
    secret: str | None,
    events: Sequence[str] | None,
    active: bool | None,
) -> Webhook | None:
    """Change what is given (None keeps a value); None if there is no such endpoint."""
    row = await conn.fetchrow(
        UPDATE_WEBHOOK, webhook_id, root_account_id, url, secret, None if events is None else list(events), active
    )
    return None if row is None else _webhook(row)


async def delete_webhook(
    conn: asyncpg.Pool | asyncpg.Connection, webhook_id: int, root_account_id: int
) -> Webhook | None:
    """Remove an endpoint with its deliveries and their log; None if there is no such endpoint."""
    row = await conn.fetchrow(DELETE_WEBHOOK, webhook_id, root_account_id)
    return None if row is None else _webhook(row)


async def _attempts_of(conn: asyncpg.Pool | asyncpg.Connection, ids: Sequence[int]) -> dict[int, list[Attempt]]:
    found: dict[int, list[Attempt]] = {id_: [] for id_ in ids}
    for row in await conn.fetch(SELECT_ATTEMPTS, list(ids)):
        values = dict(row)
        found[values.pop("delivery_id")].append(Attempt(**values))
    return found


async def list_deliveries(
    conn: asyncpg.Pool | asyncpg.Connection, webhook_id: int, before_id: int, limit: int, offset: int = 0
) -> list[Delivery]:
    """Up to `limit` of the endpoint's deliveries older than `before_id`, newest first, each with its attempts."""
    rows = await conn.fetch(SELECT_DELIVERIES_BEFORE, webhook_id, before_id, limit, offset)
    log = await _attempts_of(conn, [row["id"] for row in rows])
    return [_delivery(row, log[row["id"]]) for row in rows]


async def get_delivery(conn: asyncpg.Pool | asyncpg.Connection, delivery_id: int, webhook_id: int) -> Delivery | None:
    row = await conn.fetchrow(SELECT_DELIVERY, delivery_id, webhook_id)
    if row is None:
        return None
    return _delivery(row, (await _attempts_of(conn, [delivery_id]))[delivery_id])


async def redeliver(conn: asyncpg.Pool | asyncpg.Connection, delivery_id: int, webhook_id: int) -> Delivery | None:
    """Make a pending or failed delivery due now (a failed one with a fresh retry schedule), with
    its message id; None if there is no such delivery or it was delivered."""
    row = await conn.fetchrow(UPDATE_REDELIVER, delivery_id, webhook_id)
    return None if row is None else _delivery(row)


async def claim_due_deliveries(
    conn: asyncpg.Connection, worker_id: str, limit: int, lease_seconds: float
) -> list[ClaimedDelivery]:
    """Claim up to `limit` due deliveries for one attempt each, and log the attempts as started.
    Call inside a transaction and commit before sending: the claim (the attempt counted, the
    delivery not due again for `lease_seconds`) must outlive a worker that dies while sending."""
    rows = await conn.fetch(CLAIM_DUE_DELIVERIES, limit, lease_seconds)
    claimed = [
        ClaimedDelivery(
            id=row["id"],
            attempt=row["attempts"],
            message_id=row["message_id"],
            event_type=row["event_type"],
            event_at=row["event_at"],
            outcome_import_id=row["outcome_import_id"],
            payload=row["payload"],
            url=row["url"],
            secret=row["secret"],
        )
        for row in rows
    ]
    if claimed:
        ids = [c.id for c in claimed]
        await conn.execute(UPDATE_ABANDONED_ATTEMPTS, ids)
        await conn.execute(INSERT_ATTEMPTS, ids, [c.attempt for c in claimed], [worker_id] * len(ids))
    return claimed


async def freeze_payload(conn: asyncpg.Pool | asyncpg.Connection, delivery_id: int, body: bytes) -> bytes:
    """Store the delivery's body unless one is stored already; returns the stored one, which every
    attempt sends."""
    await conn.execute(UPDATE_PAYLOAD, delivery_id, body)
    stored: bytes = await conn.fetchval(SELECT_PAYLOAD, delivery_id)
    return stored


@dataclass(frozen=True, slots=True)
class AttemptResult:
    status: int | None  # the HTTP status, None when there was no answer
    latency_ms: int
    error: str | None
    response_body: str | None


async def record_attempt(
    conn: asyncpg.Connection,
    claimed: ClaimedDelivery,
    result: AttemptResult,
    *,
    state: str,
    retry_in_seconds: float | None,
    disable_reason: str | None = None,
) -> bool:
    """Record an attempt's end and the delivery's new state (`pending` again after `retry_in_seconds`,
    `delivered` or `failed`); with `disable_reason`, turn the endpoint off. Call inside a
    transaction. False when the delivery was claimed again meanwhile (only the log entry is written)."""
    await conn.execute(
        UPDATE_ATTEMPT_RESULT,
        claimed.id,
        claimed.attempt,
        result.status,
        result.latency_ms,
        result.error,
        result.response_body,
    )
    webhook_id = await conn.fetchval(
        UPDATE_DELIVERY_RESULT,
        claimed.id,
        claimed.attempt,
        state,
        retry_in_seconds,
        result.status,
        result.latency_ms,
        result.error,
    )
    if webhook_id is None:
        return False
    if disable_reason is not None:
        await conn.execute(UPDATE_DISABLE_WEBHOOK, webhook_id, disable_reason)
    return True


async def delete_old_deliveries(conn: asyncpg.Pool | asyncpg.Connection, days: int, limit: int) -> int:
    """Forget up to `limit` deliveries that ended (delivered or failed) more than `days` ago, with their log."""
    status: str = await conn.execute(DELETE_OLD_DELIVERIES, days, limit)
    return int(status.split()[-1])
