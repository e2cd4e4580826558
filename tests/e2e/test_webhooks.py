"""Webhooks end to end: real imports end, the outbox trigger adds deliveries, a real delivery pass
(or a real worker's loop) POSTs them to a real HTTP receiver in this process, which verifies every
signature with the Standard Webhooks package (the specification's own reference implementation).

Time-based retries are driven by setting `next_attempt_at` in the database, never by waiting.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer

from api.app import create_app
from api.docs import load_openapi
from shared.db.pool import create_pool
from shared.settings import Settings
from tests.integration.test_openapi import assert_matches
from tests.support.canvas import attachment, expect_json
from tests.support.webhooks import HANG, Receiver, serving_receiver, verified
from worker.settings import create_worker
from worker.webhook_client import open_webhook_session
from worker.webhooks import WebhookDeliverer

Client = TestClient[Any, Any]
CSV = b"vendor_guid,object_type,title,parent_guids\nmath,group,Math,\no1,outcome,Add,math\n"
BAD_ROW_CSV = CSV + b"o2,outcome,,math\n"
HOOKS = "/api/v1/accounts/1/outcome_import_webhooks"
SECONDS_TO_NEXT_ATTEMPT = "SELECT extract(epoch FROM next_attempt_at - now()) FROM outcome_import_webhook_deliveries"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Loopback is where the receiver listens. The workers' own delivery loop waits an hour before its
    # first pass, so that only the passes a test runs deliver (one test runs a real loop).
    return settings.with_(webhook_allow_private=True, webhook_poll_seconds=3600)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with serving_receiver() as found:
        yield found


@pytest.fixture
async def pool(settings: Settings) -> AsyncIterator[asyncpg.Pool]:
    async with create_pool(settings.database_url) as opened:
        yield opened


Deliver = Callable[..., Awaitable[int]]


@pytest.fixture
async def deliver(settings: Settings, pool: asyncpg.Pool) -> AsyncIterator[Deliver]:
    """One delivery pass of a worker (its own HTTP session), with the test's settings unless given."""
    async with AsyncExitStack() as stack:

        async def run(worker_id: str = "test-worker", with_settings: Settings | None = None) -> int:
            chosen = with_settings or settings
            session = await stack.enter_async_context(open_webhook_session(chosen))
            return await WebhookDeliverer(chosen, pool, session, worker_id).deliver_due()

        yield run


async def register(client: Client, headers: dict[str, str], url: str, **extra: Any) -> dict[str, Any]:
    body = await expect_json(await client.post(HOOKS, json={"webhook": {"url": url, **extra}}, headers=headers), 200)
    assert body["secret"].startswith("whsec_")
    return dict(body)


async def finish_import(client: Client, headers: dict[str, str], run_worker: Any, csv: bytes = CSV) -> dict[str, Any]:
    created = await expect_json(
        await client.post("/api/v1/accounts/1/outcome_imports", data=attachment(csv), headers=headers), 200
    )
    await run_worker()
    path = f"/api/v1/accounts/1/outcome_imports/{created['id']}"
    shown = await expect_json(await client.get(path, headers=headers), 200)
    assert shown["workflow_state"] in ("succeeded", "failed")
    return dict(shown)


async def make_due(db: asyncpg.Connection) -> None:
    """As if every wait (retry delay, or lease) had run out."""
    await db.execute("UPDATE outcome_import_webhook_deliveries SET next_attempt_at = now() WHERE state = 'pending'")


async def test_a_delivery_is_the_imports_json_signed_as_standard_webhooks_says(
    client: Client, admin_headers: dict[str, str], run_worker: Any, receiver: Receiver, deliver: Deliver
) -> None:
    hook = await register(client, admin_headers, receiver.url)
    shown = await finish_import(client, admin_headers, run_worker, BAD_ROW_CSV)
    assert await deliver() == 1
    (got,) = receiver.received
    payload = verified(hook["secret"], got)
    assert payload["type"] == "outcome_import.succeeded"
    assert payload["data"] == shown  # the very JSON GET .../outcome_imports/:id answers, errors included
    assert payload["data"]["processing_errors"] and payload["context_type"] == "Account"
    assert (payload["context_id"], payload["root_account_id"]) == (1, 1)
    assert datetime.fromisoformat(payload["timestamp"].replace("Z", "+00:00")).tzinfo == UTC
    assert got.id.startswith("msg_") and got.headers["Content-Type"] == "application/json"
    assert abs(int(got.headers["webhook-timestamp"]) - time.time()) < 60
    # Any other secret fails verification: the signature is really over this body.
    other = await register(client, admin_headers, receiver.url + "?other")
    with pytest.raises(Exception, match="No matching signature"):
        verified(other["secret"], got)

    log = await expect_json(await client.get(f"{HOOKS}/{hook['id']}/deliveries", headers=admin_headers), 200)
    (entry,) = log
    # What the API answers and what is sent are what the OpenAPI document says.
    document = load_openapi()
    assert_matches(document, "OutcomeImportWebhookPayload", payload)
    assert_matches(document, "OutcomeImportWebhook", hook)
    assert_matches(document, "OutcomeImportWebhookDelivery", entry)
    assert (entry["state"], entry["attempts"], entry["message_id"], entry["last_status"]) == (
        "delivered",
        1,
        got.id,
        200,
    )
    assert entry["outcome_import_id"] == shown["id"] and entry["next_attempt_at"] is None
    assert entry["attempt_log"][0]["status"] == 200 and entry["attempt_log"][0]["latency_ms"] >= 0
    assert await deliver() == 0  # delivered once


async def test_events_filter_and_every_way_an_import_ends(
    client: Client, admin_headers: dict[str, str], run_worker: Any, receiver: Receiver, deliver: Deliver
) -> None:
    failed_only = await register(client, admin_headers, receiver.url + "?failed", events=["outcome_import.failed"])
    both = await register(client, admin_headers, receiver.url + "?both")
    assert both["events"] == ["outcome_import.succeeded", "outcome_import.failed"]
    await finish_import(client, admin_headers, run_worker)  # succeeded
    await finish_import(client, admin_headers, run_worker, b"")  # an empty file: failed
    # A waiting import cancelled through the API ends `failed` without any worker.
    waiting = await expect_json(
        await client.post("/api/v1/accounts/1/outcome_imports", data=attachment(CSV), headers=admin_headers), 200
    )
    await expect_json(
        await client.post(f"/api/v1/accounts/1/outcome_imports/{waiting['id']}/cancel", headers=admin_headers), 200
    )
    while await deliver():
        pass
    secrets = {"/hook?failed": failed_only["secret"], "/hook?both": both["secret"]}
    events = sorted((got.path, verified(secrets[got.path], got)["type"]) for got in receiver.received)
    assert events == [
        ("/hook?both", "outcome_import.failed"),
        ("/hook?both", "outcome_import.failed"),
        ("/hook?both", "outcome_import.succeeded"),
        ("/hook?failed", "outcome_import.failed"),
        ("/hook?failed", "outcome_import.failed"),
    ]
    datas = [json.loads(got.body)["data"] for got in receiver.received]
    cancelled = [data for data in datas if data["id"] == waiting["id"]]
    assert len(cancelled) == 2 and cancelled[0]["workflow_state"] == "failed"
    assert cancelled[0]["processing_errors"] == [[1, "The import was cancelled by an administrator"]]
    assert len({got.id for got in receiver.received}) == 5
    log = await expect_json(await client.get(f"{HOOKS}/{failed_only['id']}/deliveries", headers=admin_headers), 200)
    assert [entry["event_type"] for entry in log] == ["outcome_import.failed"] * 2


async def test_retries_after_500s_and_timeouts_with_the_same_id(
    client: Client,
    admin_headers: dict[str, str],
    run_worker: Any,
    receiver: Receiver,
    deliver: Deliver,
    settings: Settings,
    db: asyncpg.Connection,
) -> None:
    hook = await register(client, admin_headers, receiver.url)
    await finish_import(client, admin_headers, run_worker)
    receiver.answers = [500, HANG, 503]
    quick = settings.with_(webhook_timeout_seconds=1)

    assert await deliver(with_settings=quick) == 1
    wait = await db.fetchval(SECONDS_TO_NEXT_ATTEMPT)
    assert 4 < wait <= 5 * 1.1  # the first retry after 5 s (plus up to 10% jitter)
    assert await deliver(with_settings=quick) == 0  # not due yet
    await make_due(db)
    assert await deliver(with_settings=quick) == 1  # the receiver holds it: timed out after 1 s
    wait = await db.fetchval(SECONDS_TO_NEXT_ATTEMPT)
    assert 290 < wait <= 300 * 1.1
    await make_due(db)
    assert await deliver(with_settings=quick) == 1  # 503
    await make_due(db)
    assert await deliver(with_settings=quick) == 1  # 200
    assert len(receiver.received) == 4
    assert len({got.id for got in receiver.received}) == 1
    assert len({got.body for got in receiver.received}) == 1
    assert len({got.headers["webhook-signature"] for got in receiver.received}) >= 2  # each attempt signs its time
    for got in receiver.received:
        verified(hook["secret"], got)
    (entry,) = await expect_json(await client.get(f"{HOOKS}/{hook['id']}/deliveries", headers=admin_headers), 200)
    assert (entry["state"], entry["attempts"]) == ("delivered", 4)
    assert [(a["attempt"], a["status"]) for a in entry["attempt_log"]] == [(1, 500), (2, None), (3, 503), (4, 200)]
    assert entry["attempt_log"][1]["error"] == "timed out (limit 1 s)"
    assert entry["attempt_log"][0]["error"] == "HTTP 500"


async def test_a_worker_killed_mid_delivery_leads_to_a_retry_with_the_same_id(
    client: Client,
    admin_headers: dict[str, str],
    run_worker: Any,
    receiver: Receiver,
    deliver: Deliver,
    db: asyncpg.Connection,
) -> None:
    hook = await register(client, admin_headers, receiver.url)
    await finish_import(client, admin_headers, run_worker)
    receiver.answers = [HANG]
    first = asyncio.create_task(deliver("worker-1"))
    await receiver.wait_for(1)
    first.cancel()  # the worker dies with the request in flight: nothing of the attempt is recorded
    with pytest.raises(asyncio.CancelledError):
        await first
    row = await db.fetchrow(
        "SELECT state, attempts, next_attempt_at > now() AS leased FROM outcome_import_webhook_deliveries"
    )
    assert (row["state"], row["attempts"], row["leased"]) == ("pending", 1, True)
    assert await deliver("worker-2") == 0  # the claim holds until its lease runs out
    await make_due(db)  # the lease ran out
    assert await deliver("worker-2") == 1
    first_id, second_id = (got.id for got in receiver.received)
    assert first_id == second_id
    assert receiver.received[0].body == receiver.received[1].body
    verified(hook["secret"], receiver.received[1])
    (entry,) = await expect_json(await client.get(f"{HOOKS}/{hook['id']}/deliveries", headers=admin_headers), 200)
    assert (entry["state"], entry["attempts"]) == ("delivered", 2)
    assert entry["attempt_log"][0]["status"] is None
    assert entry["attempt_log"][0]["error"].startswith("no result recorded")
    assert entry["attempt_log"][1]["status"] == 200
    workers = await db.fetch("SELECT worker_id FROM outcome_import_webhook_attempts ORDER BY attempt")
    assert [w["worker_id"] for w in workers] == ["worker-1", "worker-2"]


async def test_concurrent_passes_never_claim_the_same_delivery(
    client: Client, admin_headers: dict[str, str], run_worker: Any, receiver: Receiver, deliver: Deliver
) -> None:
    await register(client, admin_headers, receiver.url)
    for _ in range(3):
        await finish_import(client, admin_headers, run_worker)
    receiver.answers = [HANG] * 3
    passes = [asyncio.create_task(deliver(f"worker-{n}")) for n in range(4)]
    await receiver.wait_for(3)
    receiver.release.set()
    assert sum(await asyncio.gather(*passes)) == 3
    assert len({got.id for got in receiver.received}) == 3 == len(receiver.received)


async def test_giving_up_after_the_schedule_a_410_and_a_manual_redelivery(
    client: Client,
    admin_headers: dict[str, str],
    run_worker: Any,
    receiver: Receiver,
    deliver: Deliver,
    settings: Settings,
    db: asyncpg.Connection,
) -> None:
    hook = await register(client, admin_headers, receiver.url)
    await finish_import(client, admin_headers, run_worker)
    short = settings.with_(webhook_retry_schedule="5")
    receiver.answers = [500, 500]
    assert await deliver(with_settings=short) == 1
    await make_due(db)
    assert await deliver(with_settings=short) == 1
    (entry,) = await expect_json(await client.get(f"{HOOKS}/{hook['id']}/deliveries", headers=admin_headers), 200)
    assert (entry["state"], entry["attempts"], entry["next_attempt_at"]) == ("failed", 2, None)
    await make_due(db)
    assert await deliver(with_settings=short) == 0  # failed stays failed
    redelivered = await expect_json(
        await client.post(f"{HOOKS}/{hook['id']}/deliveries/{entry['id']}/redeliver", headers=admin_headers), 200
    )
    assert (redelivered["state"], redelivered["attempts"]) == ("pending", 0)
    assert await deliver(with_settings=short) == 1
    assert {got.id for got in receiver.received} == {entry["message_id"]}
    resp = await client.post(f"{HOOKS}/{hook['id']}/deliveries/{entry['id']}/redeliver", headers=admin_headers)
    assert resp.status == 409

    # 410 Gone: the receiver wants no more; the endpoint is turned off.
    receiver.answers = [410]
    await finish_import(client, admin_headers, run_worker)
    assert await deliver() == 1
    shown = await expect_json(await client.get(f"{HOOKS}/{hook['id']}", headers=admin_headers), 200)
    assert (shown["active"], shown["disabled_reason"]) == (False, "the endpoint answered 410 Gone")
    await finish_import(client, admin_headers, run_worker)
    assert await deliver() == 0  # nothing for an inactive endpoint
    turned_on = await expect_json(
        await client.put(f"{HOOKS}/{hook['id']}", json={"webhook": {"active": True}}, headers=admin_headers), 200
    )
    assert (turned_on["active"], turned_on["disabled_reason"]) == (True, None)
    assert "secret" not in turned_on


async def test_private_addresses_are_refused_unless_allowed(
    client: Client,
    admin_headers: dict[str, str],
    run_worker: Any,
    receiver: Receiver,
    deliver: Deliver,
    settings: Settings,
    db: asyncpg.Connection,
) -> None:
    # Registered while allowed (this API's settings), delivered by workers where it is not.
    by_name = await register(client, admin_headers, receiver.url.replace("127.0.0.1", "localhost"))
    by_address = await register(client, admin_headers, receiver.url)
    await finish_import(client, admin_headers, run_worker)
    strict = settings.with_(webhook_allow_private=False)
    assert await deliver(with_settings=strict) == 2
    assert receiver.received == []
    for hook in (by_name, by_address):
        (entry,) = await expect_json(await client.get(f"{HOOKS}/{hook['id']}/deliveries", headers=admin_headers), 200)
        assert entry["state"] == "pending" and entry["last_status"] is None
        assert "private, loopback, link-local" in entry["last_error"], entry["last_error"]
    await make_due(db)
    assert await deliver() == 2  # allowed again: both arrive
    assert len(receiver.received) == 2


async def test_registration_checks_urls_and_secrets(
    client: Client, admin_headers: dict[str, str], settings: Settings
) -> None:
    strict_client: Client = TestClient(TestServer(create_app(settings.with_(webhook_allow_private=False))))
    await strict_client.start_server()
    try:
        headers = admin_headers
        refused = {
            "ftp://example.com/hook": "must be an http:// or https:// URL",
            "http://127.0.0.1/hook": "private, loopback, link-local",
            "http://localhost:8080/hook": "private, loopback, link-local",
            "http://10.1.2.3/hook": "private, loopback, link-local",
            "http://169.254.169.254/latest/meta-data": "private, loopback, link-local",
            "http://[::1]/hook": "private, loopback, link-local",
            "http://[::ffff:127.0.0.1]/hook": "private, loopback, link-local",
            "http://100.64.0.1/hook": "private, loopback, link-local",
            "http://user:pw@example.com/hook": "credentials",
            "/relative": "must be an http:// or https:// URL",
        }
        for url, reason in refused.items():
            resp = await strict_client.post(HOOKS, json={"webhook": {"url": url}}, headers=headers)
            body = await resp.json()
            assert resp.status == 400, (url, body)
            assert body["errors"][0]["message"].startswith("invalid value for parameter webhook[url]: "), body
            assert reason in body["errors"][0]["message"], (url, body)
        public = {"webhook": {"url": "https://93.184.215.14/hook"}}
        accepted = await expect_json(await strict_client.post(HOOKS, json=public, headers=headers), 200)
        assert accepted["url"] == "https://93.184.215.14/hook"
    finally:
        await strict_client.close()

    missing = await client.post(HOOKS, json={"webhook": {}}, headers=admin_headers)
    assert missing.status == 400
    assert (await missing.json())["errors"][0]["message"] == "param is missing or the value is empty: webhook[url]"
    unknown_event = {"webhook": {"url": "https://example.com", "events": ["outcome_import.started"]}}
    bad_events = await client.post(HOOKS, json=unknown_event, headers=admin_headers)
    assert bad_events.status == 400
    for secret in ("not-whsec", "whsec_" + "A" * 8, "whsec_!!!"):
        resp = await client.post(
            HOOKS, json={"webhook": {"url": "https://example.com", "secret": secret}}, headers=admin_headers
        )
        assert resp.status == 400, secret
    given = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # 24 bytes
    created = await register(client, admin_headers, "https://example.com/a", secret=given)
    assert created["secret"] == given
    shown = await expect_json(await client.get(f"{HOOKS}/{created['id']}", headers=admin_headers), 200)
    assert "secret" not in shown and shown["secret_hint"] == given[:10] + "…"
    rotated = await expect_json(
        await client.put(f"{HOOKS}/{created['id']}", json={"rotate_secret": True}, headers=admin_headers), 200
    )
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != given
    listed = await expect_json(await client.get(HOOKS, headers=admin_headers), 200)
    assert [h["id"] for h in listed] == [accepted["id"], created["id"]] and "secret" not in listed[0]
    deleted = await expect_json(await client.delete(f"{HOOKS}/{created['id']}", headers=admin_headers), 200)
    assert deleted["id"] == created["id"]
    assert (await client.get(f"{HOOKS}/{created['id']}", headers=admin_headers)).status == 404


async def test_the_workers_own_loop_delivers(
    client: Client, admin_headers: dict[str, str], receiver: Receiver, settings: Settings
) -> None:
    hook = await register(client, admin_headers, receiver.url)
    await expect_json(
        await client.post("/api/v1/accounts/1/outcome_imports", data=attachment(CSV), headers=admin_headers), 200
    )
    worker = create_worker(settings.with_(webhook_poll_seconds=1), poll_delay=0)
    running = asyncio.create_task(worker.main())
    try:
        await receiver.wait_for(1, deadline_seconds=30)
    finally:
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        await worker.close()
    assert verified(hook["secret"], receiver.received[0])["type"] == "outcome_import.succeeded"
