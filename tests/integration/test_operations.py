"""The operations JSON API's read side: who sees what, and what it says about queues, imports,
workers and throughput, against real imports run by a real worker."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.faults import post_import, small_file
from tests.support.canvas import expect_json
from tests.support.files import outcomes_file
from tests.support.operators import ADMIN_A, ADMIN_A1, ADMIN_B, SITE, USER, OpsWorld, create_ops_world

Client = TestClient[Any, Any]
OPS = "/api/v1/operations"
UNAUTHENTICATED = {"status": "unauthenticated", "errors": [{"message": "user authorization required"}]}
INVALID_TOKEN = {"errors": [{"message": "Invalid access token."}]}
UNAUTHORIZED = {"status": "unauthorized", "errors": [{"message": "user not authorized to perform that action"}]}
NOT_FOUND = {"errors": [{"message": "The specified resource does not exist."}]}
OPS_IMPORT_KEYS = {
    "id", "root_account_id", "root_account_name", "context_type", "context_id", "context_name", "workflow_state",
    "progress", "file_name", "file_size", "rows_total", "rows_processed", "rows_per_second", "eta_seconds",
    "worker_id", "attempts", "created_at", "started_at", "ended_at", "wait_seconds", "run_seconds", "error_count",
    "errors", "cancel_requested", "retry_of_id", "user", "paused",
}  # fmt: skip


@pytest.fixture
async def world(client: Client, admin_headers: dict[str, str]) -> OpsWorld:
    return await create_ops_world(client, admin_headers)


async def _get(client: Client, path: str, headers: dict[str, str], status: int = 200) -> Any:
    return await expect_json(await client.get(OPS + path, headers=headers), status)


async def test_every_route_answers_each_kind_of_caller_as_canvas_would(client: Client, world: OpsWorld) -> None:
    in_a = await post_import(client, world.headers[SITE], world.path("A1"), small_file("a", 3))
    in_b = await post_import(client, world.headers[SITE], world.path("B"), small_file("b", 3))
    reads = ["/me", "/queues", "/imports?state=waiting", f"/imports/{in_a}", "/workers", "/throughput", "/audit_log"]
    controls = [f"/imports/{in_a}/cancel", f"/imports/{in_a}/retry", f"/queues/{world.accounts['A']}/pause"]
    refused = {
        "no token": ({}, 401, UNAUTHENTICATED),
        "unknown token": ({"Authorization": "Bearer 1~nope"}, 401, INVALID_TOKEN),
        USER: (world.headers[USER], 403, UNAUTHORIZED),
        ADMIN_A1: (world.headers[ADMIN_A1], 403, UNAUTHORIZED),  # a sub-account's admin: not a district's
    }
    for who, (headers, status, body) in refused.items():
        for path in reads:
            assert (who, path, await _get(client, path, headers, status)) == (who, path, body)
        for path in controls:
            resp = await client.post(OPS + path, headers=headers)
            assert (who, path, await expect_json(resp, status)) == (who, path, body)
    # A district's admin reads its own district, nothing of another, and may not use the controls.
    for path in reads:
        await _get(client, path, world.headers[ADMIN_A])
    assert await _get(client, f"/imports/{in_b}", world.headers[ADMIN_A], 403) == UNAUTHORIZED
    assert await _get(client, f"/imports?state=waiting&root_account_id={world.accounts['B']}",
                      world.headers[ADMIN_A], 403) == UNAUTHORIZED  # fmt: skip
    assert await _get(client, f"/imports/{in_a}", world.headers[ADMIN_B], 403) == UNAUTHORIZED
    for path in controls:
        assert await expect_json(await client.post(OPS + path, headers=world.headers[ADMIN_A]), 403) == UNAUTHORIZED
    # Unknown things are Canvas's 404; bad parameters a 400 that says what is wrong.
    assert await _get(client, "/imports/999999", world.headers[SITE], 404) == NOT_FOUND
    assert await _get(client, "/imports/x", world.headers[SITE], 404) == NOT_FOUND
    resp = await client.post(f"{OPS}/queues/{world.accounts['A1']}/pause", headers=world.headers[SITE])
    assert await expect_json(resp, 404) == NOT_FOUND  # a sub-account has no queue of its own
    assert await _get(client, "/imports?state=everything", world.headers[SITE], 400) == {
        "errors": [{"message": "state must be one of waiting, running, finished, failed"}]
    }
    assert await _get(client, "/imports?state=waiting&per_page=101", world.headers[SITE], 400) == {
        "errors": [{"message": "per_page must be an integer from 1 to 100"}]
    }


async def test_me_says_what_the_caller_may_see(client: Client, world: OpsWorld) -> None:
    site = await _get(client, "/me", world.headers[SITE])
    assert (site["site_admin"], site["root_account_ids"]) == (True, None)
    admin = await _get(client, "/me", world.headers[ADMIN_A])
    assert admin == {
        "user": {"id": world.users[ADMIN_A], "name": ADMIN_A},
        "site_admin": False,
        "root_account_ids": [world.accounts["A"]],
    }


async def test_queues_count_waiting_imports_per_district_oldest_first(
    client: Client, world: OpsWorld, db: asyncpg.Connection
) -> None:
    first = await post_import(client, world.headers[SITE], world.path("A1"), small_file("a1", 3))
    second = await post_import(client, world.headers[SITE], world.path("C1"), small_file("c1", 3))
    await post_import(client, world.headers[SITE], world.path("B"), small_file("b", 3))
    await db.execute("UPDATE outcome_imports SET created_at = now() - interval '90 seconds' WHERE id = $1", first)
    queues = (await _get(client, "/queues", world.headers[SITE]))["queues"]
    assert [(q["root_account_id"], q["name"], q["waiting"], q["running"], q["paused"]) for q in queues] == [
        (world.accounts["A"], "District A", 2, 0, False),
        (world.accounts["B"], "District B", 1, 0, False),
    ]
    assert 90 <= queues[0]["oldest_wait_seconds"] < 120
    # A district's admin sees only its own queue, even when it is empty.
    assert [q["root_account_id"] for q in (await _get(client, "/queues", world.headers[ADMIN_B]))["queues"]] == [
        world.accounts["B"]
    ]
    waiting = (await _get(client, "/imports?state=waiting", world.headers[ADMIN_A]))["imports"]
    assert [i["id"] for i in waiting] == [first, second]
    assert set(waiting[0]) == OPS_IMPORT_KEYS
    shown = ("context_type", "context_name", "workflow_state", "rows_total", "worker_id")
    assert {k: waiting[1][k] for k in shown} == {
        "context_type": "Course",
        "context_name": "Course C1",
        "workflow_state": "created",
        "rows_total": 4,  # a group and three outcomes
        "worker_id": None,
    }
    assert (await _get(client, "/imports?state=waiting&per_page=1", world.headers[SITE]))["imports"][0]["id"] == first


async def test_finished_imports_workers_and_throughput_after_a_real_run(
    client: Client, world: OpsWorld, run_worker: Callable[[], Awaitable[None]]
) -> None:
    data, errors, _, _ = outcomes_file(2000)
    import_id = await post_import(client, world.headers[SITE], world.path("A"), data)
    await run_worker()
    finished = (await _get(client, "/imports?state=finished", world.headers[ADMIN_A]))["imports"]
    assert [i["id"] for i in finished] == [import_id]
    done = finished[0]
    assert (done["workflow_state"], done["progress"], done["rows_total"], done["rows_processed"]) == (
        "succeeded", 100, 2000, 2000,
    )  # fmt: skip
    assert (done["error_count"], done["errors"], done["attempts"], done["eta_seconds"]) == (
        len(errors), [list(e) for e in errors[:3]], 1, None,
    )  # fmt: skip
    assert done["rows_per_second"] > 0 and done["run_seconds"] > 0
    detail = await _get(client, f"/imports/{import_id}", world.headers[SITE])
    assert detail["errors"] == [list(e) for e in errors[:25]]
    assert (await _get(client, "/imports?state=failed", world.headers[SITE]))["imports"] == []
    # The burst worker registered, ran the import and signed off.
    (worker,) = (await _get(client, "/workers", world.headers[SITE]))["workers"]
    assert (worker["id"], worker["alive"], worker["rows_processed"]) == (done["worker_id"], False, 2000)
    assert worker["stopped_at"] is not None and worker["running_import_ids"] == []
    minutes = (await _get(client, "/throughput", world.headers[ADMIN_A]))["minutes"]
    assert len(minutes) == 60
    assert (sum(m["rows"] for m in minutes), sum(m["succeeded"] for m in minutes)) == (2000, 1)
    # District B saw none of it.
    other = (await _get(client, "/throughput", world.headers[ADMIN_B]))["minutes"]
    assert sum(m["rows"] for m in other) == 0
    assert (await _get(client, "/imports?state=finished", world.headers[ADMIN_B]))["imports"] == []


async def test_every_view_answers_what_the_openapi_document_says(
    client: Client, world: OpsWorld, run_worker: Callable[[], Awaitable[None]]
) -> None:
    from api.docs import load_openapi
    from tests.integration.test_openapi import assert_matches, schema_errors

    document = load_openapi()
    done = await post_import(client, world.headers[SITE], world.path("C1"), small_file("c", 3))
    await run_worker()
    waiting = await post_import(client, world.headers[SITE], world.path("A"), small_file("a", 3))
    await expect_json(await client.post(f"{OPS}/queues/{world.accounts['A']}/pause", headers=world.headers[SITE]), 200)
    assert_matches(document, "OpsMe", await _get(client, "/me", world.headers[ADMIN_A]))
    for state in ("waiting", "finished"):
        (found,) = (await _get(client, f"/imports?state={state}", world.headers[SITE]))["imports"]
        assert found["id"] == (waiting if state == "waiting" else done)
        assert_matches(document, "OpsImport", found)
    assert_matches(document, "OpsImport", await _get(client, f"/imports/{done}", world.headers[SITE]))
    for queue in (await _get(client, "/queues", world.headers[SITE]))["queues"]:
        assert_matches(document, "OpsQueue", queue)
    (worker,) = (await _get(client, "/workers", world.headers[SITE]))["workers"]
    assert_matches(document, "OpsWorker", worker)
    assert_matches(document, "OpsThroughput", await _get(client, "/throughput", world.headers[SITE]))
    (entry,) = (await _get(client, "/audit_log", world.headers[SITE]))["entries"]
    assert_matches(document, "OpsAuditEntry", entry)
    # The checks can fail: a key too many is refused.
    assert schema_errors(document, {"$ref": "#/components/schemas/OpsQueue"}, {**queue, "extra": 1})
