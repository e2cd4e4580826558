"""The Outcome Imports API end to end: HTTP in, a real worker, PostgreSQL and Redis out."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import pytest
from redis.asyncio import Redis

from shared.settings import Settings
from shared.status import status_key
from tests.support.canvas import OUTCOME_IMPORT_KEYS, create_conformance_contexts, wait_for_final_state
from tests.support.workers import run_burst_worker

CSV = b"vendor_guid,object_type,title,parent_guids\ng1,group,Group one,\no1,outcome,Outcome one,g1\n"


def _form(data: bytes, name: str = "outcomes.csv") -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("attachment", data, filename=name, content_type="text/csv")
    return form


async def test_create_answers_canvas_json_in_state_created(client: Any, admin_headers: dict[str, str]) -> None:
    resp = await client.post("/api/v1/accounts/1/outcome_imports", data=_form(CSV), headers=admin_headers)
    assert resp.status == 200
    body = await resp.json()
    assert set(body) == OUTCOME_IMPORT_KEYS
    assert (body["workflow_state"], body["progress"], body["processing_errors"], body["ended_at"]) == (
        "created",
        0,
        [],
        None,
    )
    assert body["data"] == {"import_type": "instructure_csv"}
    assert body["user"]["name"] == "Site Admin"


async def test_import_runs_to_succeeded(client: Any, admin_headers: dict[str, str], run_worker: Any) -> None:
    resp = await client.post("/api/v1/accounts/1/outcome_imports", data=_form(CSV), headers=admin_headers)
    import_id = (await resp.json())["id"]
    await run_worker()
    resp = await client.get(f"/api/v1/accounts/1/outcome_imports/{import_id}", headers=admin_headers)
    body = await resp.json()
    assert (body["workflow_state"], body["progress"], body["processing_errors"]) == ("succeeded", 100, [])
    assert body["ended_at"] is not None


async def _file_count(root: Path) -> int:
    return sum(1 for p in root.rglob("*") if p.is_file()) if root.exists() else 0


@pytest.fixture
async def small_limit_client(aiohttp_client: Any, settings: Settings) -> Any:
    from api.app import create_app

    return await aiohttp_client(create_app(settings.with_(max_upload_bytes=100)))


async def test_upload_over_the_limit_is_413_and_leaves_nothing(
    small_limit_client: Any, admin_headers: dict[str, str], settings: Settings, db: Any
) -> None:
    storage_root = Path(urlsplit(settings.storage_url).path)
    big = b"vendor_guid,object_type,title\n" + b"x1,outcome,A title that makes the file long\n" * 10

    async def chunked() -> AsyncIterator[bytes]:  # no Content-Length: the limit is enforced while streaming
        for i in range(0, len(big), 16):
            yield big[i : i + 16]

    for data in (_form(big), big, chunked()):
        resp = await small_limit_client.post("/api/v1/accounts/1/outcome_imports", data=data, headers=admin_headers)
        assert resp.status == 413
        assert await resp.json() == {"errors": [{"message": "The upload exceeds the maximum size of 100 bytes"}]}
    assert await db.fetchval("SELECT count(*) FROM outcome_imports") == 0
    assert await _file_count(storage_root) == 0


async def test_raw_body_with_extension_skips_the_charset_check(
    client: Any, admin_headers: dict[str, str], run_worker: Any
) -> None:
    resp = await client.post(
        "/api/v1/accounts/1/outcome_imports?extension=txt",
        data=CSV,
        headers={**admin_headers, "Content-Type": "text/plain; charset=latin1"},
    )
    assert resp.status == 200
    import_id = (await resp.json())["id"]
    final = await wait_for_final_state(client, admin_headers, "accounts/1", import_id, run_worker)
    assert (final["workflow_state"], final["processing_errors"]) == ("succeeded", [])


@pytest.mark.parametrize(
    "content_type",
    ["text/csv; charset=utf-8", "text/csv; charset=UTF-8", "text/csv", "application/octet-stream", ""],
)
async def test_raw_body_charsets_accepted(client: Any, admin_headers: dict[str, str], content_type: str) -> None:
    headers = {**admin_headers, "Content-Type": content_type} if content_type else admin_headers
    resp = await client.post("/api/v1/accounts/1/outcome_imports", data=CSV, headers=headers)
    assert resp.status == 200, await resp.text()


async def test_bad_import_type_is_400_and_creates_nothing(client: Any, admin_headers: dict[str, str], db: Any) -> None:
    resp = await client.post(
        "/api/v1/accounts/1/outcome_imports?import_type=qti", data=_form(CSV), headers=admin_headers
    )
    assert resp.status == 400
    assert await resp.json() == {
        "errors": [{"message": "Invalid import_type: qti", "error_code": "invalid_import_type"}]
    }
    assert await db.fetchval("SELECT count(*) FROM outcome_imports") == 0


async def test_target_group_must_be_an_active_group_of_the_context(
    client: Any, admin_headers: dict[str, str], db: Any
) -> None:
    for group_id in ("999999", "abc"):
        resp = await client.post(
            f"/api/v1/accounts/1/outcome_imports/group/{group_id}", data=_form(CSV), headers=admin_headers
        )
        assert resp.status == 404
        assert await resp.json() == {"message": f"Couldn't find LearningOutcomeGroup with 'id'={group_id}"}
    assert await db.fetchval("SELECT count(*) FROM outcome_imports") == 0


async def test_unknown_context_and_import(client: Any, admin_headers: dict[str, str]) -> None:
    resp = await client.post("/api/v1/accounts/424242/outcome_imports", data=_form(CSV), headers=admin_headers)
    assert (resp.status, await resp.json()) == (
        404,
        {"errors": [{"message": "The specified resource does not exist."}]},
    )
    for import_id in ("424242", "nope"):
        resp = await client.get(f"/api/v1/accounts/1/outcome_imports/{import_id}", headers=admin_headers)
        assert resp.status == 404
        assert await resp.json() == {"message": f"Couldn't find OutcomeImport with 'id'={import_id}"}


async def test_unauthenticated_and_bad_token(client: Any) -> None:
    resp = await client.post("/api/v1/accounts/1/outcome_imports", data=_form(CSV))
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"] == 'Bearer realm="canvas-lms"'
    assert await resp.json() == {
        "status": "unauthenticated",
        "errors": [{"message": "user authorization required"}],
    }
    resp = await client.get("/api/v1/accounts/1/outcome_imports/latest", headers={"Authorization": "Bearer nope"})
    assert (resp.status, await resp.json()) == (401, {"errors": [{"message": "Invalid access token."}]})


async def test_status_falls_back_to_postgres_when_redis_has_no_view(
    client: Any, admin_headers: dict[str, str], run_worker: Any, redis_url: str
) -> None:
    resp = await client.post("/api/v1/accounts/1/outcome_imports", data=_form(CSV), headers=admin_headers)
    import_id = (await resp.json())["id"]
    final = await wait_for_final_state(client, admin_headers, "accounts/1", import_id, run_worker)
    redis = Redis.from_url(redis_url)
    assert await redis.delete(status_key(import_id)) == 1
    await redis.aclose()
    resp = await client.get(f"/api/v1/accounts/1/outcome_imports/{import_id}", headers=admin_headers)
    assert await resp.json() == final


async def test_imports_of_one_root_account_run_in_creation_order(
    client: Any, admin_headers: dict[str, str], run_worker: Any, db: Any
) -> None:
    contexts = await create_conformance_contexts(client, admin_headers)
    a, a1, b = contexts.path("A"), contexts.path("A1"), contexts.path("B")
    files = [
        (a, b"vendor_guid,object_type,title\ng,group,First title\n"),
        (a1, b"vendor_guid,object_type,title\nh,group,Sub-account group\n"),
        (b, b"vendor_guid,object_type,title\ng,group,Other root\n"),
        (a, b"vendor_guid,object_type,title\ng,group,Second title\n"),
        (a, b"vendor_guid,object_type,title\ng,group,Third title\n"),
    ]
    ids = []
    for path, data in files:
        resp = await client.post(f"/api/v1/{path}/outcome_imports", data=_form(data), headers=admin_headers)
        ids.append((await resp.json())["id"])
    await run_worker(max_jobs=5)
    rows = await db.fetch(
        "SELECT id, root_account_id, workflow_state, started_at, ended_at FROM outcome_imports ORDER BY id"
    )
    assert [r["workflow_state"] for r in rows] == ["succeeded"] * 5
    by_root: dict[int, list[Any]] = {}
    for r in rows:
        by_root.setdefault(r["root_account_id"], []).append(r)
    for imports in by_root.values():
        for earlier, later in itertools.pairwise(imports):
            assert later["started_at"] >= earlier["ended_at"], (earlier, later)
    title = await db.fetchval(
        "SELECT title FROM learning_outcome_groups g JOIN accounts a ON a.id = g.context_id "
        "WHERE g.vendor_guid = 'g' AND a.name = 'Account A'"
    )
    assert title == "Third title"


async def test_health_reports_every_dependency(client: Any) -> None:
    resp = await client.get("/health")
    assert (resp.status, await resp.json()) == (
        200,
        {"status": "ok", "checks": {"database": "ok", "redis": "ok", "storage": "ok"}},
    )


async def test_health_is_503_when_redis_goes_away(aiohttp_client: Any, settings: Settings, tmp_path: Path) -> None:
    from api.app import create_app
    from shared.embedded import embedded_services

    with embedded_services(tmp_path / "redis-only", postgres=False) as services:
        assert services.redis_url is not None
        client = await aiohttp_client(create_app(settings.with_(redis_url=services.redis_url)))
        assert (await client.get("/health")).status == 200
    # The server is stopped now: the probe must say so, not hang or answer 500.
    resp = await client.get("/health")
    assert resp.status == 503
    assert (await resp.json())["checks"] == {"database": "ok", "redis": "unavailable", "storage": "ok"}


async def test_a_worker_running_as_many_imports_as_it_may_does_not_starve_them_of_connections(
    client: Any, admin_headers: dict[str, str], settings: Settings
) -> None:
    # Four root accounts, four imports at once in one worker, many batches each: every import holds a
    # connection for its transaction and needs more for progress and heartbeats meanwhile.
    ids = []
    for n in range(4):
        account = await (
            await client.post("/api/v1/accounts", json={"account": {"name": f"R{n}"}}, headers=admin_headers)
        ).json()
        data = b"vendor_guid,object_type,title\n" + b"".join(f"r{n}o{i},outcome,T{i}\n".encode() for i in range(40))
        resp = await client.post(
            f"/api/v1/accounts/{account['id']}/outcome_imports", data=_form(data), headers=admin_headers
        )
        ids.append((account["id"], (await resp.json())["id"]))
    await asyncio.wait_for(run_burst_worker(settings.with_(batch_size=2, heartbeat_seconds=1)), 60)
    for account_id, import_id in ids:
        body = await (
            await client.get(f"/api/v1/accounts/{account_id}/outcome_imports/{import_id}", headers=admin_headers)
        ).json()
        assert (body["workflow_state"], body["processing_errors"]) == ("succeeded", [])
