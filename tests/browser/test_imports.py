"""Watching imports in the dashboard: progress while one runs, cancelling one, retrying a failed one."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.support import Dashboard, create_district, held_import

CANCELLED = "The import was cancelled by an administrator"


async def progress_of(dashboard: Dashboard, import_id: int) -> int:
    bar = dashboard.page.get_by_label(f"Progress of import {import_id}")
    value: int = await bar.evaluate("bar => bar.value")
    return value


async def test_a_running_import_shows_its_progress_moving_then_finishes(dashboard: Dashboard) -> None:
    district = await create_district(dashboard.service.client, "District A")
    await dashboard.sign_in()
    page = dashboard.page
    async with held_import(dashboard.service, district) as (import_id, release):
        running = dashboard.import_row("Running imports", import_id)
        await expect(running).to_contain_text("District A")
        await expect(running).to_contain_text("revised.csv")
        # Batches before the locked row are done and published: part-way, and waiting there.
        await page.wait_for_function(
            f"() => document.querySelector('[aria-label=\"Progress of import {import_id}\"]')?.value >= 50"
        )
        assert 50 <= await progress_of(dashboard, import_id) < 100
        await expect(running).to_contain_text(" of 30 rows")
        await expect(page.locator("#tile-running")).to_have_text("1")
        await expect(dashboard.table("Workers")).to_contain_text(f"#{import_id}")
        await dashboard.screenshot("dashboard-running")

        await release()
        finished = dashboard.import_row("Recently finished", import_id)
        await expect(finished).to_contain_text("succeeded")
        await expect(finished).to_contain_text("30")
        await expect(running).to_have_count(0)
        await expect(page.locator("#tile-running")).to_have_text("0")
        await expect(page.locator("#throughput-summary")).to_contain_text("imports succeeded: 2, failed: 0")

        await page.get_by_role("button", name=f"Show import {import_id}").first.click()
        detail = page.locator("#detail")
        await expect(detail).to_contain_text(f"Import #{import_id}")
        await expect(detail).to_contain_text("30 of 30")
        await dashboard.screenshot("dashboard-finished")


async def test_an_operator_cancels_a_running_import_then_retries_it(dashboard: Dashboard) -> None:
    district = await create_district(dashboard.service.client, "District A")
    await dashboard.sign_in()
    page = dashboard.page
    async with held_import(dashboard.service, district) as (import_id, release):
        running = dashboard.import_row("Running imports", import_id)
        cancel = running.get_by_role("button", name=f"Cancel import {import_id}")

        # By keyboard: the dialog opens on Enter, starts on its harmless button, and Escape
        # closes it with nothing done and focus back on the row's button.
        await cancel.focus()
        await page.keyboard.press("Enter")
        dialog = page.get_by_role("dialog")
        await expect(dialog).to_contain_text(f"Cancel import #{import_id} (revised.csv) of District A?")
        await expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
        await dashboard.screenshot("dashboard-confirm-cancel")
        await page.keyboard.press("Escape")
        await expect(dialog).to_be_hidden()
        await expect(cancel).to_be_focused()
        await expect(running).to_be_visible()

        await cancel.click()
        await dashboard.confirm(f"Cancel import #{import_id}")
        failed = dashboard.import_row("Recently failed", import_id)
        # The worker stops even while it waits on the lock: it cancels its own statement.
        await expect(failed).to_contain_text(CANCELLED)
        await expect(running).to_have_count(0)
        await release()

    retry = failed.get_by_role("button", name=f"Retry import {import_id}")
    await retry.click()
    await dashboard.confirm(f"Retry import #{import_id} (revised.csv) of District A?")
    await expect(page.locator("#messages")).to_contain_text(f"as a retry of #{import_id}")
    retried = dashboard.table("Recently finished").get_by_role("row").filter(has_text=f"retry of #{import_id}")
    await expect(retried).to_contain_text("succeeded")
    audit = dashboard.table("Audit log")
    await expect(audit).to_contain_text("cancel")
    await expect(audit).to_contain_text("retry")
    await dashboard.screenshot("dashboard-after-retry")
