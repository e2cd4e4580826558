"""Security guarantees end to end: sanitised descriptions, hashed tokens, nothing secret in the logs."""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
import pytest

from tests.conftest import ADMIN_TOKEN
from tests.support.canvas import attachment, expect_json, wait_for_final_state

HOSTILE = (
    b"vendor_guid,object_type,title,description,ratings,\n"
    b'g1,group,Group,"<p onclick=""steal()"">Hi<script>alert(1)</script></p>",,\n'
    b'o1,outcome,<b>Title</b>,"<a href=""javascript:alert(1)"">x</a><img src=x onerror=alert(1)>'
    b'<strong>kept</strong>",3,"<i>ok</i><script>bad()</script>"\n'
)


async def test_descriptions_are_sanitised_and_titles_stored_verbatim(
    client: Any, admin_headers: dict[str, str], run_worker: Any
) -> None:
    created = await expect_json(
        await client.post("/api/v1/accounts/1/outcome_imports", data=attachment(HOSTILE), headers=admin_headers), 200
    )
    final = await wait_for_final_state(client, admin_headers, "accounts/1", created["id"], run_worker)
    assert (final["workflow_state"], final["processing_errors"]) == ("succeeded", [])
    groups = await expect_json(await client.get("/api/v1/accounts/1/outcome_groups", headers=admin_headers), 200)
    group = next(g for g in groups if g["vendor_guid"] == "g1")
    assert "script" not in group["description"] and "onclick" not in group["description"]
    assert "Hi" in group["description"]
    links = await expect_json(
        await client.get("/api/v1/accounts/1/outcome_group_links?outcome_style=full", headers=admin_headers), 200
    )
    outcome = links[0]["outcome"]
    assert outcome["title"] == "<b>Title</b>"  # titles are stored as given (Canvas does too)
    description = outcome["description"]
    for hostile in ("javascript:", "onerror", "<script", "alert"):
        assert hostile not in description, description
    assert "<strong>kept</strong>" in description
    rating = outcome["ratings"][0]["description"]
    assert "<script" not in rating and "bad()" not in rating


async def test_tokens_are_stored_only_as_digests_and_never_logged(
    client: Any, admin_headers: dict[str, str], db: asyncpg.Connection, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    made = await expect_json(
        await client.post("/api/v1/users/self/tokens", json={"token": {"purpose": "ci"}}, headers=admin_headers), 200
    )
    token = made["visible_token"]
    headers = {"Authorization": f"Bearer {token}"}
    assert (await client.get("/api/v1/accounts/1", headers=headers)).status == 200
    assert (await client.get("/api/v1/accounts/1?access_token=" + token)).status == 200
    assert (await client.get("/api/v1/accounts/1", headers={"Authorization": "Bearer wrong-token"})).status == 401
    stored = await db.fetch("SELECT * FROM access_tokens")
    for row in stored:
        for value in row.values():
            assert token not in str(value) and ADMIN_TOKEN not in str(value)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert token not in logged and ADMIN_TOKEN not in logged and "wrong-token" not in logged
