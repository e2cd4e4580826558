"""`GET /metrics` on the real app, real PostgreSQL and Redis, and a real worker: who may read it, that
it parses, and that each figure moves by exactly what happened; and a worker's `--metrics-port`."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis

from api import errors
from shared.settings import Settings
from tests.faults import post_import, small_file, wait_until
from tests.support.files import outcomes_file

Client = TestClient[Any, Any]
TOKEN = "test-metrics-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ROOT = "1"  # the Default Account, where post_import's "accounts/1" imports go

# Every family of the contract (the parser names counters without `_total`), and its type.
FLEET_FAMILIES = {
    "outcome_imports_imports": "gauge",
    "outcome_imports_waiting_imports": "gauge",
    "outcome_imports_oldest_wait_seconds": "gauge",
    "outcome_imports_running_imports": "gauge",
    "outcome_imports_queue_paused": "gauge",
    "outcome_imports_workers_live": "gauge",
    "outcome_imports_worker_slots": "gauge",
    "outcome_imports_worker_running_imports": "gauge",
    "outcome_imports_stalled_imports": "gauge",
    "outcome_imports_rows_processed": "counter",
    "outcome_imports_row_errors": "counter",
    "outcome_imports_finished": "counter",
    "outcome_imports_queue_wait_seconds": "histogram",
    "outcome_imports_run_seconds": "histogram",
    "outcome_imports_upload_bytes": "counter",
    "outcome_imports_uploads": "counter",
}
PROCESS_FAMILIES = {
    "outcome_imports_http_requests": "counter",
    "outcome_imports_http_request_duration_seconds": "histogram",
    "process_cpu_seconds": "counter",
    "process_resident_memory_bytes": "gauge",
    "python_info": "gauge",
    "python_gc_collections": "counter",
}


class Scrape:
    """One parsed page: families by name, and each sample's value by name and labels."""

    def __init__(self, text: str) -> None:
        self.text = text
        families = list(text_string_to_metric_families(text))
        self.types = {family.name: family.type for family in families}
        self.samples = {
            (sample.name, frozenset(sample.labels.items())): sample.value
            for family in families
            for sample in family.samples
        }

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; 0 when absent (a counter nobody has incremented yet)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def fleet(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        return {key: value for key, value in self.samples.items() if _family_of(key[0]) in FLEET_FAMILIES}


def _family_of(sample_name: str) -> str:
    for suffix in ("_total", "_bucket", "_count", "_sum"):
        if sample_name.removesuffix(suffix) in FLEET_FAMILIES:
            return sample_name.removesuffix(suffix)
    return sample_name


async def scrape(client: Client) -> Scrape:
    resp = await client.get("/metrics", headers=AUTH)
    text = await resp.text()
    assert resp.status == 200, text
    assert resp.content_type == "text/plain"
    return Scrape(text)


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.with_(metrics_token=TOKEN, metrics_cache_seconds=0)


@asynccontextmanager
async def api_client(settings: Settings) -> AsyncIterator[Client]:
    """Another API app on a socket of its own (the `client` fixture is one)."""
    from api.app import create_app

    test_client: Client = TestClient(TestServer(create_app(settings)))
    await test_client.start_server()
    try:
        yield test_client
    finally:
        await test_client.close()


# -- access ----------------------------------------------------------------------------------------------


async def test_metrics_do_not_exist_while_no_token_is_set(settings: Settings) -> None:
    async with api_client(settings.with_(metrics_token=None)) as client:
        for headers in ({}, AUTH):
            resp = await client.get("/metrics", headers=headers)
            assert (resp.status, await resp.json()) == (404, errors.resource_not_found().body)


async def test_metrics_need_the_token_as_a_bearer(client: Client) -> None:
    for headers in ({}, {"Authorization": f"Basic {TOKEN}"}, {"Authorization": "Bearer "}):
        resp = await client.get("/metrics", headers=headers)
        assert (resp.status, await resp.json()) == (401, errors.unauthenticated().body)
        assert resp.headers["WWW-Authenticate"] == 'Bearer realm="canvas-lms"'
    for token in ("wrong", TOKEN + "x", TOKEN[:-1]):
        resp = await client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert (resp.status, await resp.json()) == (401, errors.invalid_token().body)
    # Not as a parameter, which would put it in URLs and logs.
    resp = await client.get("/metrics", params={"access_token": TOKEN})
    assert resp.status == 401
    resp = await client.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"})
    assert resp.status == 200


async def test_every_metric_is_served_with_its_type(client: Client) -> None:
    page = await scrape(client)
    expected = {**FLEET_FAMILIES, **PROCESS_FAMILIES}
    assert {name: page.types.get(name) for name in expected} == expected
    # A fresh installation: one root account, nothing imported, nobody working.
    assert page.value("outcome_imports_workers_live") == 0
    assert page.value("outcome_imports_queue_wait_seconds_count") == 0
    assert page.value("outcome_imports_run_seconds_bucket", le="+Inf") == 0


# -- the fleet's figures ---------------------------------------------------------------------------------


async def test_an_import_moves_each_fleet_figure_by_what_happened(
    client: Client, admin_headers: dict[str, str], run_worker: Callable[[], Awaitable[None]]
) -> None:
    data, row_errors, _, _ = outcomes_file(2000)
    assert len(row_errors) == 2
    before = await scrape(client)

    await post_import(client, admin_headers, "accounts/1", data)
    waiting = await scrape(client)
    assert waiting.value("outcome_imports_uploads_total", root_account_id=ROOT) == (
        before.value("outcome_imports_uploads_total", root_account_id=ROOT) + 1
    )
    assert waiting.value("outcome_imports_upload_bytes_total", root_account_id=ROOT) == (
        before.value("outcome_imports_upload_bytes_total", root_account_id=ROOT) + len(data)
    )
    assert waiting.value("outcome_imports_imports", root_account_id=ROOT, state="created") == 1
    assert waiting.value("outcome_imports_waiting_imports", root_account_id=ROOT) == 1
    assert waiting.value("outcome_imports_running_imports", root_account_id=ROOT) == 0
    assert waiting.value("outcome_imports_oldest_wait_seconds", root_account_id=ROOT) > 0

    await run_worker()
    after = await scrape(client)

    def moved(name: str, **labels: str) -> float:
        return after.value(name, **labels) - waiting.value(name, **labels)

    assert moved("outcome_imports_rows_processed_total", root_account_id=ROOT) == 2000
    assert moved("outcome_imports_row_errors_total", root_account_id=ROOT) == 2
    assert moved("outcome_imports_finished_total", root_account_id=ROOT, state="succeeded") == 1
    assert moved("outcome_imports_finished_total", root_account_id=ROOT, state="failed") == 0
    assert moved("outcome_imports_queue_wait_seconds_count") == 1
    assert moved("outcome_imports_queue_wait_seconds_bucket", le="+Inf") == 1
    assert moved("outcome_imports_run_seconds_count") == 1
    assert moved("outcome_imports_run_seconds_sum") > 0
    assert moved("outcome_imports_uploads_total", root_account_id=ROOT) == 0
    assert after.value("outcome_imports_imports", root_account_id=ROOT, state="succeeded") == 1
    assert after.value("outcome_imports_imports", root_account_id=ROOT, state="created") == 0
    assert after.value("outcome_imports_waiting_imports", root_account_id=ROOT) == 0
    assert after.value("outcome_imports_oldest_wait_seconds", root_account_id=ROOT) == 0
    assert after.value("outcome_imports_stalled_imports") == 0


async def test_running_imports_and_live_workers_are_seen_while_a_worker_holds_an_import(
    client: Client, admin_headers: dict[str, str], settings: Settings, db: asyncpg.Connection
) -> None:
    from worker.settings import create_worker

    running_id = await post_import(client, admin_headers, "accounts/1", small_file("running", 20))
    await post_import(client, admin_headers, "accounts/1", small_file("waiting", 5))
    blocker = await asyncpg.connect(settings.database_url)
    worker = create_worker(settings, burst=True, poll_delay=0, max_jobs=3)
    work = asyncio.create_task(worker.main())
    try:
        async with blocker.transaction():
            # Every write of links waits for this lock: the first import stays `importing`.
            await blocker.execute("LOCK TABLE learning_outcome_links IN SHARE MODE")

            async def held() -> Scrape | None:
                page = await scrape(client)
                return page if page.value("outcome_imports_worker_running_imports") == 1 else None

            page = await wait_until(held, within=30, what="a live worker to hold the import")
            assert await db.fetchval("SELECT workflow_state FROM outcome_imports WHERE id = $1", running_id) == (
                "importing"
            )
            assert page.value("outcome_imports_running_imports", root_account_id=ROOT) == 1
            assert page.value("outcome_imports_imports", root_account_id=ROOT, state="importing") == 1
            # The second waits behind the first: one import at a time per root account.
            assert page.value("outcome_imports_waiting_imports", root_account_id=ROOT) == 1
            assert page.value("outcome_imports_oldest_wait_seconds", root_account_id=ROOT) > 0
            assert page.value("outcome_imports_workers_live") == 1
            assert page.value("outcome_imports_worker_slots") == 3
            assert page.value("outcome_imports_stalled_imports") == 0
        await asyncio.wait_for(work, 30)
    finally:
        await worker.close()
        await blocker.close()
    page = await scrape(client)
    assert page.value("outcome_imports_imports", root_account_id=ROOT, state="succeeded") == 2
    assert page.value("outcome_imports_running_imports", root_account_id=ROOT) == 0
    assert page.value("outcome_imports_worker_running_imports") == 0


async def test_gauges_of_workers_stalled_imports_and_paused_queues(
    client: Client, admin_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    # Waiting before running ones: never so in a worker's hands, and counted exactly all the same.
    await post_import(client, admin_headers, "accounts/1", small_file("waiting", 1))
    held = await post_import(client, admin_headers, "accounts/1", small_file("held", 1))
    stalled = await post_import(client, admin_headers, "accounts/1", small_file("stalled", 1))
    # Rows as workers would have left them: one beating, one silent past stale-after, one stopped.
    await db.execute(
        """
        INSERT INTO workers (id, host, pid, max_jobs, heartbeat_at, stopped_at) VALUES
            ('live', 'h', 1, 3, now(), NULL),
            ('silent', 'h', 2, 5, now() - interval '2 minutes', NULL),
            ('stopped', 'h', 3, 7, now(), now())
        """
    )
    await db.execute(
        """
        UPDATE outcome_imports SET workflow_state = 'importing', worker_id = 'live', started_at = now(),
            heartbeat_at = now() WHERE id = $1
        """,
        held,
    )
    # Started long ago, never beat: its start is what is old.
    await db.execute(
        """
        UPDATE outcome_imports SET workflow_state = 'importing', worker_id = 'silent',
            started_at = now() - interval '2 minutes', heartbeat_at = NULL WHERE id = $1
        """,
        stalled,
    )
    await db.execute("INSERT INTO paused_queues (root_account_id) VALUES (1)")

    page = await scrape(client)
    assert page.value("outcome_imports_workers_live") == 1
    assert page.value("outcome_imports_worker_slots") == 3
    assert page.value("outcome_imports_worker_running_imports") == 1
    assert page.value("outcome_imports_stalled_imports") == 1
    assert page.value("outcome_imports_running_imports", root_account_id=ROOT) == 2
    assert page.value("outcome_imports_waiting_imports", root_account_id=ROOT) == 1
    assert page.value("outcome_imports_queue_paused", root_account_id=ROOT) == 1
    assert [key for key in page.samples if key[0] == "outcome_imports_queue_paused"] == [
        ("outcome_imports_queue_paused", frozenset({("root_account_id", ROOT)}))
    ]


async def test_two_api_processes_report_the_same_fleet(
    client: Client, settings: Settings, admin_headers: dict[str, str], run_worker: Callable[[], Awaitable[None]]
) -> None:
    async with api_client(settings) as other:
        await post_import(client, admin_headers, "accounts/1", small_file("first", 3))
        await run_worker()
        await post_import(other, admin_headers, "accounts/1", small_file("second", 3))
        await other.get("/nowhere")  # this process's own traffic, which the other does not see
        mine, theirs = await scrape(client), await scrape(other)
    assert mine.value("outcome_imports_uploads_total", root_account_id=ROOT) == 2
    assert mine.value("outcome_imports_finished_total", root_account_id=ROOT, state="succeeded") == 1
    wait = "outcome_imports_oldest_wait_seconds"
    # The second import waits: its age grows between the two reads.
    assert mine.value(wait, root_account_id=ROOT) <= theirs.value(wait, root_account_id=ROOT)
    assert {k: v for k, v in mine.fleet().items() if k[0] != wait} == {
        k: v for k, v in theirs.fleet().items() if k[0] != wait
    }
    unmatched = {"route": "unmatched", "method": "GET", "status": "404"}
    assert (
        mine.value("outcome_imports_http_requests_total", **unmatched),
        theirs.value("outcome_imports_http_requests_total", **unmatched),
    ) == (0, 1)


async def _hgetall_calls(redis: Redis) -> int:
    stats = await redis.info("commandstats")
    return int(stats.get("cmdstat_hgetall", {}).get("calls", 0))


async def test_concurrent_scrapes_share_one_read_of_the_fleet(client: Client, redis_url: str) -> None:
    from api.deps import DEPS
    from api.metrics import METRICS

    app = client.server.app
    redis = Redis.from_url(redis_url)
    try:
        before = await _hgetall_calls(redis)
        # What each scrape awaits, called as twenty scrapes arriving together would.
        figures = await asyncio.gather(*(app[METRICS].fleet_figures(app[DEPS]) for _ in range(20)))
        # One snapshot reads the five counters and two histograms: seven HGETALLs, not 140.
        assert await _hgetall_calls(redis) - before == 7
        assert all(f is figures[0] for f in figures)
        # Settings of the test: 0 s of cache, so the next scrape reads again.
        assert await app[METRICS].fleet_figures(app[DEPS]) is not figures[0]
        assert await _hgetall_calls(redis) - before == 14
    finally:
        await redis.aclose()


async def test_figures_are_reused_for_the_cache_period(settings: Settings, admin_headers: dict[str, str]) -> None:
    async with api_client(settings.with_(metrics_cache_seconds=3600)) as client:
        first = await scrape(client)
        await post_import(client, admin_headers, "accounts/1", small_file("cached", 1))
        second = await scrape(client)
    assert first.fleet() == second.fleet()
    assert second.value("outcome_imports_uploads_total", root_account_id=ROOT) == 0


# -- this process's HTTP requests ------------------------------------------------------------------------


async def test_requests_are_counted_by_route_template_method_and_status(
    client: Client, admin_headers: dict[str, str]
) -> None:
    assert (await client.get("/api/v1/accounts/1", headers=admin_headers)).status == 200
    assert (await client.get("/api/v1/accounts/987654", headers=admin_headers)).status == 404
    assert (await client.get("/no/such/path/123")).status == 404
    assert (await client.request("PROPFIND", "/health")).status == 405
    assert (await client.get("/metrics")).status == 401

    page = await scrape(client)
    account = {"route": "/api/v1/accounts/{account_id}", "method": "GET"}
    requests = "outcome_imports_http_requests_total"
    assert page.value(requests, **account, status="200") == 1
    assert page.value(requests, **account, status="404") == 1
    assert page.value(requests, route="unmatched", method="GET", status="404") == 1
    assert page.value(requests, route="unmatched", method="other", status="405") == 1
    assert page.value(requests, route="/metrics", method="GET", status="401") == 1
    assert page.value("outcome_imports_http_request_duration_seconds_count", **account) == 2
    assert page.value("outcome_imports_http_request_duration_seconds_sum", **account) > 0
    # Labels name routes, never paths: an id or a probed path would make a new series per request.
    assert "987654" not in page.text and "/no/such" not in page.text


# -- a worker's own port ---------------------------------------------------------------------------------


async def test_a_worker_serves_its_own_metrics_and_running_jobs(
    client: Client, admin_headers: dict[str, str], settings: Settings
) -> None:
    from worker.metrics import serve_worker_metrics
    from worker.settings import create_worker

    await post_import(client, admin_headers, "accounts/1", small_file("counted", 20))
    worker = create_worker(settings, burst=True, poll_delay=0)
    server, thread = serve_worker_metrics(worker, 0, "127.0.0.1")
    url = f"http://127.0.0.1:{server.server_port}/metrics"
    blocker = await asyncpg.connect(settings.database_url)
    try:
        async with aiohttp.ClientSession() as session:

            async def worker_page() -> Scrape:
                async with session.get(url) as resp:
                    assert resp.status == 200
                    return Scrape(await resp.text())

            idle = await worker_page()
            assert idle.value("outcome_imports_worker_jobs_running") == 0
            assert idle.types["outcome_imports_worker_jobs_running"] == "gauge"
            assert {name: idle.types.get(name) for name in PROCESS_FAMILIES if not name.startswith("outcome")} == {
                name: kind for name, kind in PROCESS_FAMILIES.items() if not name.startswith("outcome")
            }
            assert {name for name in idle.types if name.startswith("outcome_imports_")} == {
                "outcome_imports_worker_jobs_running"
            }

            work = asyncio.create_task(worker.main())
            async with blocker.transaction():
                await blocker.execute("LOCK TABLE learning_outcome_links IN SHARE MODE")

                async def running() -> bool:
                    return (await worker_page()).value("outcome_imports_worker_jobs_running") == 1

                await wait_until(running, within=30, what="the worker's page to count its running job")
            await asyncio.wait_for(work, 30)
            assert (await worker_page()).value("outcome_imports_worker_jobs_running") == 0
    finally:
        await worker.close()
        await blocker.close()
        server.shutdown()
        server.server_close()
        thread.join()
