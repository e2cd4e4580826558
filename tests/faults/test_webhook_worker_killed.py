"""A worker process SIGKILLed while its webhook request is in flight: another worker sends the same
delivery again, with the same `webhook-id` and body, once the dead worker's lease has run out.

The receiver holds the first request, so the kill lands mid-delivery however fast the machine is;
the lease running out is driven by setting `next_attempt_at`, not by waiting for it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg
import pytest

from shared.settings import Settings
from tests.faults import WorkerProcess, post_import, wait_until
from tests.support.canvas import expect_json
from tests.support.webhooks import HANG, Receiver, serving_receiver, verified

CSV = b"vendor_guid,object_type,title,parent_guids\nmath,group,Math,\no1,outcome,Add,math\n"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(webhook_allow_private=True, webhook_poll_seconds=1)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with serving_receiver() as found:
        yield found


@pytest.mark.timeout(120)
async def test_a_killed_workers_delivery_is_sent_again_with_the_same_id(
    client: Any,
    admin_headers: dict[str, str],
    settings: Settings,
    db: asyncpg.Connection,
    receiver: Receiver,
    start_worker: Callable[[Settings], WorkerProcess],
) -> None:
    hook = await expect_json(
        await client.post(
            "/api/v1/accounts/1/outcome_import_webhooks", json={"webhook": {"url": receiver.url}}, headers=admin_headers
        ),
        200,
    )
    receiver.answers = [HANG]
    worker_a = start_worker(settings)
    import_id = await post_import(client, admin_headers, "accounts/1", CSV)

    async def request_arrived() -> bool:
        return len(receiver.received) >= 1

    await wait_until(request_arrived, within=60, what="worker A's delivery", alive=worker_a.problem)
    worker_a.kill()

    row = await db.fetchrow(
        "SELECT state, attempts, next_attempt_at > now() AS leased FROM outcome_import_webhook_deliveries"
    )
    assert (row["state"], row["attempts"], row["leased"]) == ("pending", 1, True)
    await db.execute("UPDATE outcome_import_webhook_deliveries SET next_attempt_at = now()")  # the lease ran out
    worker_b = start_worker(settings)

    async def delivered() -> bool:
        state = await db.fetchval("SELECT state FROM outcome_import_webhook_deliveries")
        return bool(state == "delivered")

    await wait_until(delivered, within=60, what="worker B's delivery", alive=worker_b.problem)
    first, second = receiver.received
    assert first.id == second.id and first.body == second.body
    payload = verified(hook["secret"], second)
    assert (payload["type"], payload["data"]["id"]) == ("outcome_import.succeeded", import_id)
    assert json.loads(first.body) == payload
    attempts = await db.fetch("SELECT attempt, status, error FROM outcome_import_webhook_attempts ORDER BY attempt")
    assert [(a["attempt"], a["status"]) for a in attempts] == [(1, None), (2, 200)]
    assert attempts[0]["error"].startswith("no result recorded")
