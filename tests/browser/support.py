"""What the browser tests share: the page driven as a person would, districts, files, and a row lock
that holds an import part-way for as long as a test needs."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from aiohttp.test_utils import TestClient
from arq import create_pool
from arq.jobs import Job, JobStatus
from playwright.async_api import ConsoleMessage, Locator, Page, expect

from shared.queue import QUEUE_NAME, import_job_id, redis_settings
from tests.conftest import ADMIN_TOKEN
from tests.support.canvas import attachment, expect_json

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ADMIN_HEADERS = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
POLL_SECONDS = 0.05
T = TypeVar("T")


@dataclass(frozen=True)
class Service:
    base_url: str
    client: TestClient[Any, Any]
    database_url: str
    redis_url: str


@dataclass
class Dashboard:
    """The dashboard in one browser tab, with every console error it logged."""

    page: Page
    service: Service
    console_errors: list[str] = field(default_factory=list)
    # Chromium logs every 4xx answer as a failed load; a test names those it asks for.
    expected_failures: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.console_errors.append(f"uncaught: {error}"))

    def _console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        if message.text.startswith("Failed to load resource") and message.location["url"] in self.expected_failures:
            return
        self.console_errors.append(f"{message.text} ({message.location['url']})")

    def expect_failure(self, path: str) -> None:
        """`path` is going to answer 4xx, as the test wants: not a console error."""
        self.expected_failures.add(self.url(path))

    def url(self, path: str) -> str:
        return self.service.base_url + path

    async def sign_in(self, token: str = ADMIN_TOKEN) -> None:
        await self.page.goto(self.url("/dashboard/login"))
        await self.page.get_by_label("API token").fill(token)
        await self.page.get_by_role("button", name="Sign in").click()
        await expect(self.page).to_have_url(self.url("/dashboard"))
        await expect(self.page.locator("#live-status")).to_contain_text("Live: updated")

    def table(self, name: str) -> Locator:
        """A table of the page by its section heading, e.g. "Running imports"."""
        return self.page.get_by_role("region", name=name).get_by_role("table")

    def import_row(self, table: str, import_id: int) -> Locator:
        return (
            self.table(table)
            .get_by_role("row")
            .filter(has=self.page.get_by_role("button", name=f"Show import {import_id}", exact=True))
        )

    async def confirm(self, expected_question: str) -> None:
        dialog = self.page.get_by_role("dialog")
        await expect(dialog).to_contain_text(expected_question)
        await dialog.get_by_role("button", name="Confirm").click()
        await expect(dialog).to_be_hidden()

    async def screenshot(self, name: str) -> None:
        """The view as it is now, for a person to look at (test-artifacts/ is not committed)."""
        ARTIFACTS.mkdir(exist_ok=True)
        await self.page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


# -- districts and imports, through the API -----------------------------------------------------------


async def create_district(client: TestClient[Any, Any], name: str) -> int:
    body = await expect_json(
        await client.post("/api/v1/accounts", json={"account": {"name": name}}, headers=ADMIN_HEADERS), 200
    )
    district_id: int = body["id"]
    return district_id


async def create_district_admin(client: TestClient[Any, Any], district_id: int, name: str) -> str:
    """A user who administers `district_id`; returns their API token."""
    user = await expect_json(
        await client.post(
            f"/api/v1/accounts/{district_id}/users",
            json={"user": {"name": name}, "pseudonym": {"unique_id": name.lower().replace(" ", ".")}},
            headers=ADMIN_HEADERS,
        ),
        200,
    )
    await expect_json(
        await client.post(
            f"/api/v1/accounts/{district_id}/admins", json={"user_id": user["id"]}, headers=ADMIN_HEADERS
        ),
        200,
    )
    token = await expect_json(
        await client.post(
            f"/api/v1/users/{user['id']}/tokens", json={"token": {"purpose": "dashboard"}}, headers=ADMIN_HEADERS
        ),
        200,
    )
    visible: str = token["visible_token"]
    return visible


def outcomes_csv(rows: int = 30, *, changed: str | None = None) -> bytes:
    """A group and `rows - 1` outcomes o1, o2, ... under it; the outcome named `changed` gets a new title."""
    lines = ["vendor_guid,object_type,title,parent_guids", "g,group,Standards,"]
    for n in range(1, rows):
        title = f"Outcome {n}" + (" (revised)" if f"o{n}" == changed else "")
        lines.append(f"o{n},outcome,{title},g")
    return ("\n".join(lines) + "\n").encode()


async def upload(client: TestClient[Any, Any], district_id: int, data: bytes, file_name: str = "outcomes.csv") -> int:
    body = await expect_json(
        await client.post(
            f"/api/v1/accounts/{district_id}/outcome_imports",
            data=attachment(data, filename=file_name),
            headers=ADMIN_HEADERS,
        ),
        200,
    )
    import_id: int = body["id"]
    return import_id


async def wait_until(condition: Callable[[], Awaitable[T]], *, within: float, what: str) -> T:
    """Poll `condition` until it returns something truthy; fail loudly after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = await condition()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out after {within} s waiting for {what}"
        await asyncio.sleep(POLL_SECONDS)  # polling with a deadline


async def import_state(client: TestClient[Any, Any], district_id: int, import_id: int) -> str:
    body = await expect_json(
        await client.get(f"/api/v1/accounts/{district_id}/outcome_imports/{import_id}", headers=ADMIN_HEADERS), 200
    )
    state: str = body["workflow_state"]
    return state


async def import_and_wait(client: TestClient[Any, Any], district_id: int, data: bytes) -> int:
    """Upload `data` and wait until the background worker has imported it."""
    import_id = await upload(client, district_id, data)

    async def finished() -> str | None:
        state = await import_state(client, district_id, import_id)
        return state if state in ("succeeded", "failed") else None

    assert await wait_until(finished, within=15, what=f"import {import_id}") == "succeeded"
    return import_id


async def job_status(service: Service, import_id: int) -> JobStatus:
    """The state of the arq job for `import_id` (`not_found` when it has none)."""
    redis = await create_pool(redis_settings(service.redis_url, command_retries=1))
    try:
        return await Job(import_job_id(import_id), redis, _queue_name=QUEUE_NAME).status()
    finally:
        await redis.aclose()


@asynccontextmanager
async def outcome_row_locked(database_url: str, vendor_guid: str) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """Hold a lock on one outcome's row, so an import that must update it waits there, part-way.

    Yields `release` (commit the holding transaction); the lock also goes when the block ends.
    """
    conn = await asyncpg.connect(database_url)
    holding = conn.transaction()
    await holding.start()
    released = False

    async def release() -> None:
        nonlocal released
        if not released:
            released = True
            await holding.commit()

    try:
        found = await conn.fetchval("SELECT id FROM learning_outcomes WHERE vendor_guid = $1 FOR UPDATE", vendor_guid)
        assert found is not None, f"no outcome {vendor_guid} to lock"
        yield release
    finally:
        if not released:
            await holding.rollback()
        await conn.close()


@asynccontextmanager
async def held_import(service: Service, district_id: int) -> AsyncIterator[tuple[int, Callable[[], Awaitable[None]]]]:
    """A re-import of `district_id` that runs part-way, then waits on a locked row until released.

    Imports a 30-row file (6 batches of 5), locks outcome o25 (batch 6), uploads the file again
    with o25's title changed; yields (import id, release).
    """
    await import_and_wait(service.client, district_id, outcomes_csv())
    async with outcome_row_locked(service.database_url, "o25") as release:
        import_id = await upload(service.client, district_id, outcomes_csv(changed="o25"), "revised.csv")
        yield import_id, release
