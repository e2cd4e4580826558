"""A district's admin sees only their district, read-only."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.support import Dashboard, create_district, create_district_admin, import_and_wait, outcomes_csv


async def test_a_district_admin_sees_only_their_district_and_no_controls(dashboard: Dashboard) -> None:
    client = dashboard.service.client
    district_a = await create_district(client, "District A")
    district_b = await create_district(client, "District B")
    token = await create_district_admin(client, district_a, "Ada Admin")
    own = await import_and_wait(client, district_a, outcomes_csv(5))
    other = await import_and_wait(client, district_b, outcomes_csv(5))

    await dashboard.sign_in(token)
    page = dashboard.page
    await expect(page.locator("#who")).to_have_text("Signed in as Ada Admin (district admin, read-only)")
    await expect(dashboard.import_row("Recently finished", own)).to_contain_text("District A")
    await expect(dashboard.import_row("Recently finished", other)).to_have_count(0)
    await expect(dashboard.table("Queues by district")).to_contain_text("District A")
    await expect(dashboard.table("Queues by district")).not_to_contain_text("District B")
    # The only buttons are the page's own: no pause, cancel or retry, and no column for them.
    buttons = await page.get_by_role("button").all_inner_texts()
    assert sorted(b for b in buttons if not b.startswith("#")) == ["Show", "Sign out"], buttons
    await expect(page.get_by_role("columnheader", name="Control")).to_have_count(0)
    await dashboard.screenshot("dashboard-district-admin")

    dashboard.expect_failure(f"/api/v1/operations/imports/{other}")
    await page.get_by_label("Import id").fill(str(other))
    await page.get_by_role("button", name="Show", exact=True).click()
    await expect(page.get_by_role("alert")).to_have_text(f"Import {other}: user not authorized to perform that action")
    await page.get_by_label("Import id").fill(str(own))
    await page.get_by_label("Import id").press("Enter")
    await expect(page.locator("#detail")).to_contain_text(f"Import #{own}")
