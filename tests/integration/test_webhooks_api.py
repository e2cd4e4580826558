"""Who may manage a root account's webhooks, in Canvas's order: 401, then 404 (no such account, or
not a root account), then 403; and the changes recorded in the audit log."""

from __future__ import annotations

from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from tests.support.canvas import expect_json
from tests.support.operators import ADMIN_A, ADMIN_A1, ADMIN_B, SITE, USER, OpsWorld, create_ops_world

Client = TestClient[Any, Any]
UNAUTHORIZED = {"status": "unauthorized", "errors": [{"message": "user not authorized to perform that action"}]}
NOT_FOUND = {"errors": [{"message": "The specified resource does not exist."}]}
TEACHER = "teacher_C1"


async def _world(client: Client, admin_headers: dict[str, str]) -> OpsWorld:
    world = await create_ops_world(client, admin_headers)
    body = {"user": {"name": TEACHER}, "pseudonym": {"unique_id": TEACHER}}
    users_path = f"/api/v1/accounts/{world.accounts['A1']}/users"
    user = await expect_json(await client.post(users_path, json=body, headers=admin_headers), 200)
    enrollment = {"enrollment": {"user_id": user["id"], "type": "TeacherEnrollment", "enrollment_state": "active"}}
    await expect_json(
        await client.post(f"/api/v1/courses/{world.courses['C1']}/enrollments", json=enrollment, headers=admin_headers),
        200,
    )
    purpose = {"token": {"purpose": "teaching"}}
    token = await expect_json(
        await client.post(f"/api/v1/users/{user['id']}/tokens", json=purpose, headers=admin_headers), 200
    )
    world.headers[TEACHER] = {"Authorization": f"Bearer {token['visible_token']}"}
    return world


def _hooks(account_id: int | str) -> str:
    return f"/api/v1/accounts/{account_id}/outcome_import_webhooks"


async def test_who_may_manage_a_root_accounts_webhooks(
    client: Client, admin_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    world = await _world(client, admin_headers)
    a, a1 = world.accounts["A"], world.accounts["A1"]
    new = {"webhook": {"url": "https://example.com/hook"}}

    got = {}
    for caller in (SITE, ADMIN_A, ADMIN_A1, ADMIN_B, USER, TEACHER):
        resp = await client.post(_hooks(a), json=new, headers=world.headers[caller])
        got[caller] = (resp.status, await resp.json())
    assert {caller: status for caller, (status, _) in got.items()} == {
        SITE: 200,
        ADMIN_A: 200,
        ADMIN_A1: 403,
        ADMIN_B: 403,
        USER: 403,
        TEACHER: 403,
    }
    assert all(body == UNAUTHORIZED for status, body in got.values() if status == 403)
    hook_id = got[ADMIN_A][1]["id"]

    # Every route answers the same: read, change, delete, the log.
    paths = [
        ("GET", _hooks(a)),
        ("GET", f"{_hooks(a)}/{hook_id}"),
        ("PUT", f"{_hooks(a)}/{hook_id}"),
        ("GET", f"{_hooks(a)}/{hook_id}/deliveries"),
        ("DELETE", f"{_hooks(a)}/{hook_id}"),
    ]
    for method, path in paths:
        for caller in (ADMIN_A1, ADMIN_B, TEACHER):
            resp = await client.request(method, path, json={}, headers=world.headers[caller])
            assert (resp.status, await resp.json()) == (403, UNAUTHORIZED), (method, path, caller)
        resp = await client.request(method, path, json={})
        assert resp.status == 401, (method, path)
        assert (await resp.json())["status"] == "unauthenticated"
        resp = await client.request(method, path, json={}, headers={"Authorization": "Bearer nope"})
        assert resp.status == 401, (method, path)

    # A sub-account has no webhooks of its own; unknown accounts and endpoints are 404s.
    for path in (_hooks(a1), _hooks(999999), _hooks("x"), f"{_hooks(a)}/999999", f"{_hooks(a)}/abc"):
        resp = await client.get(path, headers=admin_headers)
        assert (resp.status, await resp.json()) == (404, NOT_FOUND), path
    # An endpoint of another root account is not found through this one.
    b_hook = await expect_json(await client.post(_hooks(world.accounts["B"]), json=new, headers=admin_headers), 200)
    resp = await client.get(f"{_hooks(a)}/{b_hook['id']}", headers=admin_headers)
    assert resp.status == 404

    listed = await expect_json(await client.get(_hooks(a), headers=world.headers[ADMIN_A]), 200)
    assert [h["id"] for h in listed] == [got[SITE][1]["id"], hook_id]
    assert all("secret" not in h for h in listed)
    await expect_json(await client.delete(f"{_hooks(a)}/{hook_id}", headers=world.headers[ADMIN_A]), 200)
    audit = await db.fetch("SELECT action FROM audit_log WHERE root_account_id = $1 ORDER BY id", a)
    actions = [r["action"] for r in audit]
    assert actions == ["create_webhook", "create_webhook", "delete_webhook"]
