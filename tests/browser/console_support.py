"""What the console's browser tests share: the console driven as a person would, and the people
who use it (a teacher of a course, an admin of an account, someone who may import nowhere)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient
from playwright.async_api import Download, Locator, expect

from tests.browser.support import ADMIN_HEADERS, ARTIFACTS, Dashboard
from tests.conftest import ADMIN_TOKEN
from tests.support.canvas import expect_json

OUTCOME_TABLES = (
    "learning_outcome_groups",
    "learning_outcomes",
    "learning_outcome_links",
    "outcome_friendly_descriptions",
)
# 1366 x 768, a laptop's screen, less the browser's own bars.
LAPTOP = {"width": 1366, "height": 680}


@dataclass
class Console(Dashboard):
    """The console in one browser tab (console errors are collected as for the dashboard)."""

    async def sign_in(self, token: str = ADMIN_TOKEN) -> None:
        await self.page.goto(self.url("/login"))
        await self.page.get_by_label("API token").fill(token)
        await self.page.get_by_role("button", name="Sign in").click()
        await expect(self.page).to_have_url(self.url("/"))
        await expect(self.page.locator("#who")).to_contain_text("Signed in as")

    async def choose_context(self, label: str) -> None:
        await self.page.get_by_label("Account or course").select_option(label=label)
        await expect(self.page.get_by_role("heading", name=f"Outcomes of {label}")).to_be_visible()

    async def pick_file(self, name: str, data: bytes) -> None:
        await self.page.get_by_label("Drop an Outcomes CSV file here").set_input_files(
            {"name": name, "mimeType": "text/csv", "buffer": data}
        )
        await expect(self.page.locator("#file-chosen")).to_contain_text(name)

    async def drop_file(self, name: str, data: bytes) -> None:
        """Drag a file onto the drop zone, as from a file manager."""
        transfer = await self.page.evaluate_handle(
            """([name, text]) => {
                const transfer = new DataTransfer();
                transfer.items.add(new File([text], name, { type: "text/csv" }));
                return transfer;
            }""",
            [name, data.decode()],
        )
        await self.page.dispatch_event("#drop-zone", "dragenter", {"dataTransfer": transfer})
        await self.page.dispatch_event("#drop-zone", "drop", {"dataTransfer": transfer})
        await expect(self.page.locator("#file-chosen")).to_contain_text(name)

    async def start(self, mode: str) -> None:
        """`mode` is "Check only" or "Import"."""
        radio = self.page.get_by_role("radio", name=mode, exact=mode == "Import")
        await radio.check()
        await self.page.locator("#start").click()

    @property
    def state(self) -> Locator:
        return self.page.locator("#state")

    def recent_row(self, import_id: int) -> Locator:
        return (
            self.page.locator("#recent-table")
            .get_by_role("row")
            .filter(has=self.page.get_by_role("button", name=f"Show import {import_id}", exact=True))
        )

    async def download(self, link_name: str) -> Download:
        async with self.page.expect_download() as download:
            await self.page.get_by_role("link", name=link_name).click()
        return await download.value

    async def screenshot(self, name: str) -> None:
        """The view as it is now (the whole page), for a person to look at."""
        ARTIFACTS.mkdir(exist_ok=True)
        await self.page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


# -- people and places, through the API -----------------------------------------------------------------


async def _post(client: TestClient[Any, Any], path: str, body: dict[str, Any]) -> Any:
    return await expect_json(await client.post(path, json=body, headers=ADMIN_HEADERS), 200)


async def create_account(client: TestClient[Any, Any], name: str, parent_id: int | None = None) -> int:
    path = "/api/v1/accounts" if parent_id is None else f"/api/v1/accounts/{parent_id}/sub_accounts"
    account_id: int = (await _post(client, path, {"account": {"name": name}}))["id"]
    return account_id


async def create_course(client: TestClient[Any, Any], account_id: int, name: str) -> int:
    course_id: int = (await _post(client, f"/api/v1/accounts/{account_id}/courses", {"course": {"name": name}}))["id"]
    return course_id


async def create_user(client: TestClient[Any, Any], account_id: int, name: str) -> tuple[int, str]:
    """A user of `account_id`'s root account with no rights; returns (id, API token)."""
    user = await _post(
        client,
        f"/api/v1/accounts/{account_id}/users",
        {"user": {"name": name}, "pseudonym": {"unique_id": name.lower().replace(" ", ".")}},
    )
    token = await _post(client, f"/api/v1/users/{user['id']}/tokens", {"token": {"purpose": "console"}})
    return user["id"], token["visible_token"]


async def create_teacher(client: TestClient[Any, Any], course_id: int, account_id: int, name: str) -> str:
    """A teacher of `course_id` (active enrollment); returns their API token."""
    user_id, token = await create_user(client, account_id, name)
    await _post(
        client,
        f"/api/v1/courses/{course_id}/enrollments",
        {"enrollment": {"user_id": user_id, "type": "TeacherEnrollment", "enrollment_state": "active"}},
    )
    return token


async def create_account_admin(client: TestClient[Any, Any], account_id: int, name: str) -> str:
    """An admin of `account_id`; returns their API token."""
    user_id, token = await create_user(client, account_id, name)
    await _post(client, f"/api/v1/accounts/{account_id}/admins", {"user_id": user_id})
    return token


async def outcome_tables(database_url: str) -> dict[str, list[Any]]:
    """Every row of the outcome tables (groups, outcomes, links), to compare before and after."""
    conn = await asyncpg.connect(database_url)
    try:
        return {
            table: [tuple(row) for row in await conn.fetch(f"SELECT * FROM {table} t ORDER BY t::text")]
            for table in OUTCOME_TABLES
        }
    finally:
        await conn.close()
