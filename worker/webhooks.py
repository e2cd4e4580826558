"""Webhook deliveries: the background loop every worker runs next to its jobs (README, "Webhooks").

A pass claims due deliveries in one short transaction (shared/db/webhooks.py: FOR UPDATE SKIP
LOCKED, so workers never claim the same one; the attempt is counted and the delivery leased for
the attempt's time limit plus a margin), freezes each body before its first attempt, commits,
then sends them concurrently, outside any transaction, and records each result in a transaction
of its own. A worker that dies mid-attempt records nothing: the lease runs out, another worker
claims the delivery and sends the same body with the same `webhook-id`. Delivery is therefore at
least once; receivers deduplicate by `webhook-id`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from contextlib import AsyncExitStack, suppress
from dataclasses import dataclass

import aiohttp
import asyncpg

from shared.db import webhooks as queries
from shared.db.errors import translate_db_errors
from shared.db.import_jobs import get_import_for_job
from shared.db.imports import get_exposed_errors
from shared.errors import DatabaseUnavailable
from shared.settings import Settings
from shared.webhooks import payload, retry_delays, secret_key, sign
from worker.webhook_client import PostResult, open_webhook_session, post

logger = logging.getLogger(__name__)

# Deliveries one pass claims and sends at once.
BATCH = 10
# A claim outlives its attempt's time limit by this much before another worker may take it over.
LEASE_MARGIN_SECONDS = 30
# Up to 10% more than the schedule says, so that endpoints that failed together are not retried together.
JITTER = 0.1
# A Retry-After is honoured up to a day.
MAX_RETRY_AFTER_SECONDS = 24 * 3600
# How often a worker forgets ended deliveries past retention, and how many at most at a time.
CLEANUP_EVERY_SECONDS = 3600
CLEANUP_BATCH = 1000


@dataclass(frozen=True, slots=True)
class NextStep:
    state: str  # delivered, pending (tried again), failed
    retry_in_seconds: float | None = None
    disable_reason: str | None = None


def next_step(attempt: int, result: PostResult, schedule: tuple[int, ...]) -> NextStep:
    """What follows attempt number `attempt` (from 1) of a delivery."""
    status = result.attempt.status
    if status is not None and 200 <= status < 300:
        return NextStep("delivered")
    if status == 410:
        # Standard Webhooks: the receiver wants no more of these.
        return NextStep("failed", disable_reason="the endpoint answered 410 Gone")
    if attempt > len(schedule):
        return NextStep("failed")
    delay = schedule[attempt - 1] * random.uniform(1.0, 1.0 + JITTER)
    if result.retry_after_seconds is not None:
        delay = max(delay, min(result.retry_after_seconds, MAX_RETRY_AFTER_SECONDS))
    return NextStep("pending", retry_in_seconds=delay)


class WebhookDeliverer:
    """Delivers this process's share of due webhooks (one pass at a time: `deliver_due`)."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool, session: aiohttp.ClientSession, worker_id: str) -> None:
        self._settings = settings
        self._pool = pool
        self._session = session
        self._worker_id = worker_id
        self._schedule = retry_delays(settings.webhook_retry_schedule)

    async def deliver_due(self) -> int:
        """Claim up to BATCH due deliveries, send each once and record the results; returns how
        many were claimed. Raises DatabaseUnavailable when PostgreSQL is away."""
        lease = self._settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS
        with translate_db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                claimed = await queries.claim_due_deliveries(conn, self._worker_id, BATCH, lease)
                bodies = {c.id: c.payload or await self._freeze_payload(conn, c) for c in claimed}
        results = await asyncio.gather(*(self._send(c, bodies[c.id]) for c in claimed), return_exceptions=True)
        for c, result in zip(claimed, results, strict=True):
            if isinstance(result, DatabaseUnavailable):
                # Its result is lost; the lease runs out and the delivery is tried again, same id.
                logger.warning("webhook delivery_id=%s: result not recorded, database unavailable", c.id)
            elif isinstance(result, BaseException):
                raise result
        return len(claimed)

    async def _freeze_payload(self, conn: asyncpg.Connection, claimed: queries.ClaimedDelivery) -> bytes:
        record = await get_import_for_job(conn, claimed.outcome_import_id)
        assert record is not None  # deleting an import deletes its deliveries
        errors = await get_exposed_errors(conn, claimed.outcome_import_id)
        body = payload(claimed.event_type, claimed.event_at, record.outcome_import, errors)
        return await queries.freeze_payload(conn, claimed.id, body)

    async def _send(self, claimed: queries.ClaimedDelivery, body: bytes) -> None:
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            "webhook-id": claimed.message_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": sign(secret_key(claimed.secret), claimed.message_id, timestamp, body),
        }
        result = await post(self._session, claimed.url, body, headers, settings=self._settings)
        step = next_step(claimed.attempt, result, self._schedule)
        with translate_db_errors():
            async with self._pool.acquire() as conn, conn.transaction():
                recorded = await queries.record_attempt(
                    conn,
                    claimed,
                    result.attempt,
                    state=step.state,
                    retry_in_seconds=step.retry_in_seconds,
                    disable_reason=step.disable_reason,
                )
        ids = f"delivery_id={claimed.id} message_id={claimed.message_id} import_id={claimed.outcome_import_id}"
        if not recorded:
            logger.warning("webhook %s attempt %s: claimed again meanwhile; result not kept", ids, claimed.attempt)
        elif step.state == "delivered":
            logger.info("webhook %s delivered (attempt %s)", ids, claimed.attempt)
        elif step.state == "pending":
            logger.info(
                "webhook %s attempt %s failed (%s); next in %.0f s",
                ids,
                claimed.attempt,
                result.attempt.error,
                step.retry_in_seconds,
            )
        else:
            logger.warning(
                "webhook %s gave up after attempt %s (%s)%s",
                ids,
                claimed.attempt,
                result.attempt.error,
                f"; endpoint turned off: {step.disable_reason}" if step.disable_reason else "",
            )

    async def forget_old_deliveries(self) -> int:
        """Delete ended deliveries past `webhook_log_retention_days` (a bounded batch)."""
        with translate_db_errors():
            return await queries.delete_old_deliveries(
                self._pool, self._settings.webhook_log_retention_days, CLEANUP_BATCH
            )


async def run_webhook_deliveries(deliverer: WebhookDeliverer, poll_seconds: float) -> None:
    """Forever: wait `poll_seconds`, then deliver what is due, again at once while full batches come.
    PostgreSQL outages are waited out."""
    cleaned_at = 0.0
    claimed = 0
    while True:
        if claimed < BATCH:
            await asyncio.sleep(poll_seconds)  # the period of a background loop
        claimed = 0
        try:
            claimed = await deliverer.deliver_due()
            if time.monotonic() - cleaned_at > CLEANUP_EVERY_SECONDS:
                cleaned_at = time.monotonic()
                await deliverer.forget_old_deliveries()
        except DatabaseUnavailable:
            logger.warning("webhooks: database unavailable; trying again later", exc_info=True)
        except Exception:
            # A bug must not stop every later delivery of this worker; the claimed ones are retried
            # when their lease runs out.
            logger.exception("webhooks: a delivery pass failed")


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with suppress(asyncio.CancelledError):  # the cancellation we just asked for
        await task


async def start_webhook_deliveries(
    stack: AsyncExitStack, settings: Settings, pool: asyncpg.Pool, worker_id: str
) -> None:
    """Run the delivery loop until `stack` closes (a worker's on_startup)."""
    session = await stack.enter_async_context(open_webhook_session(settings))
    deliverer = WebhookDeliverer(settings, pool, session, worker_id)
    task = asyncio.create_task(run_webhook_deliveries(deliverer, settings.webhook_poll_seconds))
    stack.push_async_callback(_cancel, task)
