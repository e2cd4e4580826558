"""Idempotency-Key on the upload routes: a retried upload never makes a second import."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from shared.settings import Settings
from tests.faults import small_file
from tests.support.canvas import attachment, expect_json

Client = TestClient[Any, Any]
URL = "/api/v1/accounts/1/outcome_imports"
REUSED = {"errors": [{"message": "This Idempotency-Key was used for a different upload in the last 24 hours"}]}


async def _upload(client: Client, headers: dict[str, str], data: bytes, key: str | None, status: int = 200) -> Any:
    extra = {} if key is None else {"Idempotency-Key": key}
    return await expect_json(await client.post(URL, data=attachment(data), headers=headers | extra), status)


def _stored_files(settings: Settings) -> int:
    root = Path(settings.storage_url.removeprefix("file://"))
    return sum(1 for path in root.rglob("*") if path.is_file())


async def test_the_same_upload_with_the_same_key_answers_the_first_import(
    client: Client, admin_headers: dict[str, str], db: asyncpg.Connection, settings: Settings
) -> None:
    data = small_file("a", 3)
    first = await _upload(client, admin_headers, data, "upload-1")
    resp = await client.post(URL, data=attachment(data), headers=admin_headers | {"Idempotency-Key": '"upload-1"'})
    again = await expect_json(resp, 200)
    assert resp.headers["Idempotent-Replayed"] == "true"
    assert again["id"] == first["id"]
    assert await db.fetchval("SELECT count(*) FROM outcome_imports") == 1
    assert _stored_files(settings) == 1  # the repeated upload's bytes were not kept
    # The same key with another file is another request: 422, and nothing is created.
    assert await _upload(client, admin_headers, small_file("b", 3), "upload-1", 422) == REUSED
    assert await db.fetchval("SELECT count(*) FROM outcome_imports") == 1
    assert _stored_files(settings) == 1
    # Without a key, or with another, an upload is a new import as always.
    assert (await _upload(client, admin_headers, data, None))["id"] != first["id"]
    assert (await _upload(client, admin_headers, data, "upload-2"))["id"] != first["id"]


async def test_concurrent_retries_with_one_key_make_one_import(
    client: Client, admin_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    data = small_file("c", 50)
    answers = await asyncio.gather(*(_upload(client, admin_headers, data, "same") for _ in range(5)))
    assert len({a["id"] for a in answers}) == 1
    assert await db.fetchval("SELECT count(*) FROM outcome_imports") == 1


async def test_a_key_is_remembered_for_a_day(
    client: Client, admin_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    data = small_file("d", 3)
    first = await _upload(client, admin_headers, data, "daily")
    await db.execute("UPDATE idempotency_keys SET created_at = now() - interval '25 hours'")
    later = await _upload(client, admin_headers, data, "daily")
    assert later["id"] != first["id"]
    assert await db.fetchval("SELECT outcome_import_id FROM idempotency_keys WHERE key = 'daily'") == later["id"]


async def test_a_malformed_key_is_a_400_before_anything_is_stored(
    client: Client, admin_headers: dict[str, str], db: asyncpg.Connection, settings: Settings
) -> None:
    message = "Idempotency-Key must be 1 to 255 printable ASCII characters"
    for bad in ("", '""', "x" * 256, "tab\there"):
        body = await _upload(client, admin_headers, small_file("e", 3), bad, 400)
        assert body == {"errors": [{"message": message}]}, bad
    assert await db.fetchval("SELECT count(*) FROM outcome_imports") == 0
    assert _stored_files(settings) == 0
