"""Browser tests of the dashboard: Debian's Chromium driven by Playwright, against the real service.

The API listens on a real socket (as the `client` fixture serves it), a worker runs continuously
in the background (not burst), and PostgreSQL and Redis are the suite's. Each test gets a fresh
browser context at 1280 x 900; a failing test leaves a screenshot in test-artifacts/.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Generator
from contextlib import suppress
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from playwright.async_api import Browser, async_playwright, expect

from shared.settings import Settings
from tests.browser.console_support import LAPTOP, Console
from tests.browser.support import ARTIFACTS, Dashboard, Service
from worker.settings import create_worker

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# services.md §5: without the networking flags Chromium keeps trying to reach the internet.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Long enough for a worker poll, an import of a few batches and the page's 2-second refresh.
EXPECT_TIMEOUT_MS = 15_000
_PHASE_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Keep each phase's report on the test, so the page fixture knows whether the test failed."""
    report: pytest.TestReport = yield
    item.stash.setdefault(_PHASE_REPORTS, {})[report.when] = report
    return report


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # Small batches so a 30-row import has several progress steps; a frequent heartbeat so the
    # workers table is fresh.
    return settings.with_(batch_size=5, heartbeat_seconds=1)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium); .ci/run installs it")
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def service(client: TestClient[Any, Any], settings: Settings) -> AsyncIterator[Service]:
    """The API on its socket and a worker polling the queue in the background until the test ends."""
    worker = create_worker(settings, poll_delay=0.05, handle_signals=False)
    running = asyncio.create_task(worker.async_run())
    yield Service(str(client.make_url("")).rstrip("/"), client, settings.database_url, settings.redis_url)
    await worker.close()  # cancels the polling loop, waits for its jobs, runs its shutdown
    with suppress(asyncio.CancelledError):  # the cancellation close() asked for
        await running


@pytest.fixture
async def dashboard(browser: Browser, service: Service, request: pytest.FixtureRequest) -> AsyncIterator[Dashboard]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    board = Dashboard(page, service)
    yield board
    reports = request.node.stash.get(_PHASE_REPORTS, {})
    if "call" in reports and reports["call"].failed:
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=ARTIFACTS / f"failed-{request.node.name}.png", full_page=True)
    await context.close()
    assert not board.console_errors, f"errors in the browser console: {board.console_errors}"


@pytest.fixture
async def console(browser: Browser, service: Service, request: pytest.FixtureRequest) -> AsyncIterator[Console]:
    """The import console in a fresh browser context the size of a laptop's screen."""
    context = await browser.new_context(viewport=LAPTOP, accept_downloads=True)
    page = await context.new_page()
    tab = Console(page, service)
    yield tab
    reports = request.node.stash.get(_PHASE_REPORTS, {})
    if "call" in reports and reports["call"].failed:
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=ARTIFACTS / f"failed-{request.node.name}.png", full_page=True)
    await context.close()
    assert not tab.console_errors, f"errors in the browser console: {tab.console_errors}"
