"""With the auth cache on, a revocation takes at most `auth_cache_seconds` in each API process."""

from __future__ import annotations

from typing import Any

from api.app import create_app
from shared.settings import Settings
from tests.support.canvas import expect_json


async def test_with_the_auth_cache_on_a_revoked_token_works_until_the_cache_forgets_it(
    aiohttp_client: Any, settings: Settings, admin_headers: dict[str, str], db: Any
) -> None:
    client = await aiohttp_client(create_app(settings.with_(auth_cache_seconds=3600)))
    made = await expect_json(
        await client.post("/api/v1/users/self/tokens", json={"token": {"purpose": "x"}}, headers=admin_headers), 200
    )
    headers = {"Authorization": f"Bearer {made['visible_token']}"}
    assert (await client.get("/api/v1/accounts/1/outcome_imports/latest", headers=headers)).status == 404
    await db.execute("UPDATE access_tokens SET workflow_state = 'deleted' WHERE id = $1", made["id"])
    # Remembered (the documented bound on how long a revocation takes)...
    assert (await client.get("/api/v1/accounts/1/outcome_imports/latest", headers=headers)).status == 404
    # ...while a process that has not seen the token refuses it at once.
    fresh = await aiohttp_client(create_app(settings.with_(auth_cache_seconds=3600)))
    assert (await fresh.get("/api/v1/accounts/1/outcome_imports/latest", headers=headers)).status == 401
