"""Whoever may import into a context may cancel its imports and retry its failed ones, through
the Outcome Imports routes; the same actions as the operations controls, in the same audit log."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from tests.faults import post_import, small_file
from tests.support.canvas import OUTCOME_IMPORT_KEYS, expect_json
from tests.support.operators import ADMIN_A, ADMIN_B, SITE, OpsWorld, create_ops_world

Client = TestClient[Any, Any]
CANCELLED = "The import was cancelled by an administrator"
UNAUTHORIZED = {"status": "unauthorized", "errors": [{"message": "user not authorized to perform that action"}]}


@pytest.fixture
async def world(client: Client, admin_headers: dict[str, str]) -> OpsWorld:
    return await create_ops_world(client, admin_headers)


async def test_a_district_admin_cancels_and_retries_an_import_of_a_course_in_the_district(
    client: Client, world: OpsWorld, db: asyncpg.Connection, run_worker: Callable[[], Awaitable[None]]
) -> None:
    course = world.path("C1")
    import_id = await post_import(client, world.headers[ADMIN_A], course, small_file("c", 3))
    cancelled = await expect_json(
        await client.post(f"/api/v1/{course}/outcome_imports/{import_id}/cancel", headers=world.headers[ADMIN_A]),
        200,
    )
    assert (cancelled["id"], cancelled["workflow_state"], cancelled["processing_errors"]) == (
        import_id, "failed", [[1, CANCELLED]],
    )  # fmt: skip
    retried = await expect_json(
        await client.post(f"/api/v1/{course}/outcome_imports/{import_id}/retry", headers=world.headers[ADMIN_A]),
        201,
    )
    assert retried["id"] != import_id and retried["workflow_state"] == "created"
    assert set(retried) == OUTCOME_IMPORT_KEYS  # Canvas's OutcomeImport, and our extensions
    await run_worker()
    done = await expect_json(
        await client.get(f"/api/v1/{course}/outcome_imports/{retried['id']}", headers=world.headers[ADMIN_A]), 200
    )
    assert (done["workflow_state"], done["processing_errors"]) == ("succeeded", [])
    assert await db.fetchval("SELECT count(*) FROM learning_outcomes WHERE context_type = 'Course'") == 3
    audit = await db.fetch("SELECT user_id, action, outcome_import_id FROM audit_log ORDER BY id")
    assert [tuple(r) for r in audit] == [
        (world.users[ADMIN_A], "cancel_waiting_import", import_id),
        (world.users[ADMIN_A], "retry_import", import_id),
    ]


async def test_only_whoever_may_import_into_the_context_may_cancel_or_retry_and_only_its_imports(
    client: Client, world: OpsWorld
) -> None:
    a, b = world.path("A"), world.path("B")
    in_a = await post_import(client, world.headers[SITE], a, small_file("a", 3))
    for action in ("cancel", "retry"):
        resp = await client.post(f"/api/v1/{a}/outcome_imports/{in_a}/{action}", headers=world.headers[ADMIN_B])
        assert await expect_json(resp, 403) == UNAUTHORIZED
        # Through another context it is not found, whoever asks.
        resp = await client.post(f"/api/v1/{b}/outcome_imports/{in_a}/{action}", headers=world.headers[SITE])
        assert await expect_json(resp, 404) == {"message": f"Couldn't find OutcomeImport with 'id'={in_a}"}
    resp = await client.post(f"/api/v1/{a}/outcome_imports/{in_a}/retry", headers=world.headers[ADMIN_A])
    assert await expect_json(resp, 409) == {"errors": [{"message": "Only a failed import can be retried"}]}
    cancel = f"/api/v1/{a}/outcome_imports/{in_a}/cancel"
    await expect_json(await client.post(cancel, headers=world.headers[ADMIN_A]), 200)
    assert await expect_json(await client.post(cancel, headers=world.headers[ADMIN_A]), 409) == {
        "errors": [{"message": "Only a waiting or running import can be cancelled"}]
    }
