"""A user's email address, as Canvas's Users API takes it (communication_channel), form and JSON."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

USERS = "/api/v1/accounts/1/users"


def invalid(name: str, detail: str) -> dict[str, Any]:
    return {"errors": [{"message": f"invalid value for parameter {name}: {detail}"}]}


@pytest.fixture(params=["form", "json"])
def post_user(request: pytest.FixtureRequest, client: TestClient[Any, Any], admin_headers: dict[str, str]) -> Any:
    async def post(login: str, channel: dict[str, str] | None) -> tuple[int, Any]:
        if request.param == "json":
            body: dict[str, Any] = {"pseudonym": {"unique_id": login}}
            if channel is not None:
                body["communication_channel"] = channel
            resp = await client.post(USERS, json=body, headers=admin_headers)
        else:
            fields = {"pseudonym[unique_id]": login}
            fields |= {f"communication_channel[{k}]": v for k, v in (channel or {}).items()}
            resp = await client.post(USERS, data=fields, headers=admin_headers)
        return resp.status, await resp.json()

    return post


async def email_of(db: asyncpg.Connection, user: dict[str, Any]) -> str | None:
    value: str | None = await db.fetchval("SELECT email FROM users WHERE id = $1", user["id"])
    return value


async def test_the_channel_address_is_stored(post_user: Any, db: asyncpg.Connection) -> None:
    status, user = await post_user("jane", {"type": "email", "address": " jane@example.edu "})
    assert status == 200, user
    assert "email" not in user  # Canvas's answer is unchanged
    assert await email_of(db, user) == "jane@example.edu"
    # As in Canvas, the type defaults to email, and an address defaults to the login id.
    status, user = await post_user("kim", {"address": "kim@example.edu"})
    assert (status, await email_of(db, user)) == (200, "kim@example.edu")
    status, user = await post_user("lee@example.edu", {"type": "email"})
    assert (status, await email_of(db, user)) == (200, "lee@example.edu")
    status, user = await post_user("max", None)
    assert (status, await email_of(db, user)) == (200, None)


async def test_a_channel_that_is_not_an_email_address_is_refused(post_user: Any, db: asyncpg.Connection) -> None:
    address_error = invalid("communication_channel[address]", "must be an email address such as name@example.edu")
    for channel in (
        {"type": "email", "address": "not an address"},
        {"type": "email", "address": "a@b.edu\r\nBcc: c@d.edu"},
        {"type": "email"},  # and the login id is no address either
    ):
        assert await post_user("nina", channel) == (400, address_error)
    assert await post_user("nina", {"type": "sms", "address": "5551234"}) == (
        400,
        invalid("communication_channel[type]", "only email is supported"),
    )
    assert await db.fetchval("SELECT count(*) FROM users WHERE login_id = 'nina'") == 0
