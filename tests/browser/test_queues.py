"""Pausing and resuming a district's queue from the dashboard."""

from __future__ import annotations

from arq.jobs import JobStatus
from playwright.async_api import expect

from tests.browser.support import Dashboard, create_district, held_import, job_status, outcomes_csv, upload


async def test_an_import_uploaded_while_its_district_is_paused_waits_until_resumed(dashboard: Dashboard) -> None:
    client = dashboard.service.client
    district = await create_district(client, "District B")
    await dashboard.sign_in()
    page = dashboard.page
    # A running import puts the district in the queues table (it lists districts with work).
    async with held_import(dashboard.service, district) as (running_id, release):
        queue = dashboard.table("Queues by district").get_by_role("row").filter(has_text="District B")
        await queue.get_by_role("button", name="Pause District B").click()
        await dashboard.confirm("Pause the queue of District B?")
        await expect(queue).to_contain_text("Paused since")
        await expect(page.locator("#messages")).to_have_text("The queue of District B is paused.")

        waiting_id = await upload(client, district, outcomes_csv(10), "while-paused.csv")
        await release()
        await expect(dashboard.import_row("Recently finished", running_id)).to_contain_text("succeeded")
    # The import before it has ended and handed no turn on: the paused import has no job at all.
    assert await job_status(dashboard.service, waiting_id) is JobStatus.not_found
    waiting = dashboard.import_row("Waiting imports", waiting_id)
    await expect(waiting).to_contain_text("while-paused.csv")
    await expect(waiting).to_contain_text("Paused")
    await expect(page.locator("#tile-waiting")).to_have_text("1")
    await dashboard.screenshot("dashboard-paused")

    await queue.get_by_role("button", name="Resume District B").click()
    await dashboard.confirm("Resume the queue of District B?")
    await expect(dashboard.import_row("Recently finished", waiting_id)).to_contain_text("succeeded")
    await expect(waiting).to_have_count(0)
    await expect(queue).to_have_count(0)
    audit = dashboard.table("Audit log")
    await expect(audit).to_contain_text("pause")
    await expect(audit).to_contain_text("resume")
