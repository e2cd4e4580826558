"""The operations views' world: two districts and the people who may or may not look at them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.support.canvas import expect_json

SITE, ADMIN_A, ADMIN_A1, ADMIN_B, USER = "site_admin", "admin_A", "admin_A1", "admin_B", "plain_user"


@dataclass(frozen=True)
class OpsWorld:
    """Root accounts A (with sub-account A1 and course C1 in A1) and B, and a token for each caller:
    the site admin, an admin of A, of A1 (a sub-account) and of B, and a user who administers nothing."""

    accounts: dict[str, int]
    courses: dict[str, int]
    users: dict[str, int]
    headers: dict[str, dict[str, str]]

    def path(self, name: str) -> str:
        if name in self.courses:
            return f"courses/{self.courses[name]}"
        return f"accounts/{self.accounts[name]}"


async def _post(client: Any, headers: dict[str, str], path: str, body: dict[str, Any]) -> Any:
    return await expect_json(await client.post(path, json=body, headers=headers), 200)


async def create_ops_world(client: Any, site_headers: dict[str, str]) -> OpsWorld:
    site = site_headers
    a = (await _post(client, site, "/api/v1/accounts", {"account": {"name": "District A"}}))["id"]
    b = (await _post(client, site, "/api/v1/accounts", {"account": {"name": "District B"}}))["id"]
    a1 = (await _post(client, site, f"/api/v1/accounts/{a}/sub_accounts", {"account": {"name": "School A1"}}))["id"]
    c1 = (await _post(client, site, f"/api/v1/accounts/{a1}/courses", {"course": {"name": "Course C1"}}))["id"]
    users = {}
    headers = {SITE: site}
    for name, account in ((ADMIN_A, a), (ADMIN_A1, a1), (ADMIN_B, b), (USER, a1)):
        body = {"user": {"name": name}, "pseudonym": {"unique_id": name}}
        users[name] = (await _post(client, site, f"/api/v1/accounts/{account}/users", body))["id"]
        if name != USER:
            await _post(client, site, f"/api/v1/accounts/{account}/admins", {"user_id": users[name]})
        token = await _post(client, site, f"/api/v1/users/{users[name]}/tokens", {"token": {"purpose": "ops"}})
        headers[name] = {"Authorization": f"Bearer {token['visible_token']}"}
    return OpsWorld({"A": a, "A1": a1, "B": b}, {"C1": c1}, users, headers)
