"""Object storage (S3 on a real SeaweedFS) goes away: uploads get a 503 and leave nothing behind; an import whose
file cannot be read is retried, then fails with a clear message, never stuck in `importing`."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from api.app import create_app
from shared.settings import Settings
from tests.faults import import_row, post_import, small_file
from tests.support.canvas import attachment, expect_json
from tests.support.seaweedfs import run_seaweedfs
from worker.settings import create_worker

STORAGE_UNAVAILABLE = "File storage is temporarily unavailable; try again later."
UNEXPECTED_ERROR = "An unexpected error has occurred: see error report "


@dataclass
class S3Storage:
    settings: Settings  # the test's settings, storing uploads in the SeaweedFS bucket
    _stack: ExitStack

    async def stop(self) -> None:
        """Stop SeaweedFS for good (its data goes with it)."""
        await asyncio.to_thread(self._stack.close)


@pytest.fixture
async def s3_storage(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[S3Storage]:
    with ExitStack() as stack:
        server = stack.enter_context(run_seaweedfs())
        for name, value in server.client_env().items():
            monkeypatch.setenv(name, value)  # botocore reads credentials from the environment, as in production
        yield S3Storage(
            settings.with_(
                storage_url=f"s3://{server.bucket}/uploads",
                s3_endpoint_url=server.endpoint_url,
                s3_region=server.region,
            ),
            stack.pop_all(),
        )
        await asyncio.to_thread(stack.close)


async def test_an_upload_while_storage_is_down_is_a_503_and_leaves_no_import_behind(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    admin_headers: dict[str, str],
    s3_storage: S3Storage,
    db: asyncpg.Connection,
) -> None:
    client = await aiohttp_client(create_app(s3_storage.settings))
    await post_import(client, admin_headers, "accounts/1", small_file("up", 3))
    await s3_storage.stop()

    resp = await client.post(
        "/api/v1/accounts/1/outcome_imports", data=attachment(small_file("down", 3)), headers=admin_headers
    )
    assert await expect_json(resp, 503) == {"errors": [{"message": STORAGE_UNAVAILABLE}]}
    assert await db.fetchval("SELECT count(*) FROM outcome_imports") == 1


@pytest.mark.timeout(90)
async def test_an_import_whose_file_cannot_be_read_is_retried_then_fails_with_a_clear_message(
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
    admin_headers: dict[str, str],
    s3_storage: S3Storage,
    db: asyncpg.Connection,
) -> None:
    client = await aiohttp_client(create_app(s3_storage.settings))
    import_id = await post_import(client, admin_headers, "accounts/1", small_file("lost", 3))
    await s3_storage.stop()

    worker = create_worker(s3_storage.settings.with_(job_max_tries=3), burst=True, poll_delay=0)
    started = time.monotonic()
    try:
        await asyncio.wait_for(worker.main(), 60)  # burst: returns once the import's job is done
    finally:
        await worker.close()
    print(f"failed after {time.monotonic() - started:.1f} s")

    row = await import_row(db, import_id)
    assert (row["workflow_state"], row["attempts"]) == ("failed", 3)
    assert row["ended_at"] is not None
    body = await expect_json(
        await client.get(f"/api/v1/accounts/1/outcome_imports/{import_id}", headers=admin_headers), 200
    )
    assert body["workflow_state"] == "failed"
    [[error_row, message]] = body["processing_errors"]
    assert error_row == 1
    assert message.startswith(UNEXPECTED_ERROR) and message.endswith(" (file storage unavailable)"), message
    assert await db.fetchval("SELECT count(*) FROM learning_outcomes") == 0
