"""The console's outcomes tree over a district of 100,000 rows (`--large`): it opens with a
handful of requests and a handful of nodes, however large the tree, because groups load only
when they are expanded, a page at a time."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest
from playwright.async_api import Request, expect

from shared.settings import Settings
from tests.browser.console_support import Console, create_account
from tests.browser.support import ADMIN_HEADERS, import_state, wait_until
from tests.support.canvas import attachment, expect_json

ROWS = 100_000
SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Batches of the default size: the tree is what is measured here, not the import's progress.
    return settings.with_(batch_size=5000)


@pytest.mark.large
@pytest.mark.timeout(900)
async def test_a_tree_of_100000_rows_opens_with_a_few_requests(console: Console, tmp_path: Path) -> None:
    service = console.service
    district = await create_account(service.client, "District A")
    path = tmp_path / "district.csv"
    generator = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPTS / "generate_outcomes.py"),
        str(path),
        "--rows",
        str(ROWS),
        "--guid-prefix",
        "big",
        stdout=asyncio.subprocess.DEVNULL,
    )
    assert await generator.wait() == 0
    created = await expect_json(
        await service.client.post(
            f"/api/v1/accounts/{district}/outcome_imports", data=attachment(path.read_bytes()), headers=ADMIN_HEADERS
        ),
        200,
    )

    async def ended() -> str | None:
        state = await import_state(service.client, district, created["id"])
        return state if state in ("succeeded", "failed") else None

    assert await wait_until(ended, within=600, what="the import of 100,000 rows") == "succeeded"

    page = console.page
    await console.sign_in()
    requests: list[str] = []

    def record(request: Request) -> None:
        if "/outcome_groups" in request.url or "root_outcome_group" in request.url:
            requests.append(request.url)

    page.on("request", record)
    started = time.monotonic()
    await console.choose_context("District A")
    top = page.locator("#tree > ul > li > ul > li.group")
    await expect(top.first).to_be_visible()
    opened = time.monotonic() - started
    # The root, its subgroups' first page, its outcomes' first page (and the redirect's target).
    assert len(requests) <= 4, requests
    assert await page.locator("#tree li").count() <= 60

    # Down to a group with outcomes: each level costs one page of subgroups and one of outcomes.
    level = page.locator("#tree")
    for _ in range(6):
        toggle = level.locator("button.toggle[aria-expanded='false']").first
        children = page.locator(f"#{await toggle.get_attribute('aria-controls')}")
        await toggle.click()
        await expect(children.locator("xpath=./li[not(contains(@class, 'more'))]").first).to_be_visible()
        if await children.locator("xpath=./li[contains(@class, 'outcome')]").count():
            break
        level = children
    await expect(page.locator("#tree li.outcome").first).to_be_visible()
    assert await page.locator("#tree li").count() <= 400
    await console.screenshot("console-large-tree")
    assert len(requests) <= 4 + 2 * 6 + 2, requests
    print(f"tree opened in {opened:.2f} s with 4 requests or fewer; {len(requests)} after expanding to outcomes")
