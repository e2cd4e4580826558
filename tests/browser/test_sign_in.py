"""Signing in to the dashboard with an API token, a wrong token, and signing out."""

from __future__ import annotations

from playwright.async_api import expect

from tests.browser.support import Dashboard
from tests.conftest import ADMIN_TOKEN


async def test_a_wrong_token_gets_the_form_again_with_a_message(dashboard: Dashboard) -> None:
    page = dashboard.page
    await page.goto(dashboard.url("/dashboard"))
    await expect(page).to_have_url(dashboard.url("/dashboard/login"))
    await dashboard.screenshot("sign-in")

    dashboard.expect_failure("/dashboard/login")
    await page.get_by_label("API token").fill("not-a-token")
    async with page.expect_response(dashboard.url("/dashboard/login")) as answer:
        await page.get_by_role("button", name="Sign in").click()
    assert (await answer.value).status == 401
    await expect(page.get_by_role("alert")).to_contain_text("That token was not accepted")
    await expect(page.get_by_label("API token")).to_be_focused()
    await expect(page.get_by_label("API token")).to_have_value("")
    assert "not-a-token" not in page.url
    await dashboard.screenshot("sign-in-wrong-token")


# Headless Chromium keeps every tab visible; the test flips what the page sees (Playwright's init
# scripts are exempt from the page's CSP).
FAKE_VISIBILITY = """
let hidden = false;
Object.defineProperty(Document.prototype, "hidden", { configurable: true, get: () => hidden });
Object.defineProperty(Document.prototype, "visibilityState", {
  configurable: true, get: () => (hidden ? "hidden" : "visible"),
});
window.setTabHidden = (value) => { hidden = value; document.dispatchEvent(new Event("visibilitychange")); };
"""


async def test_a_site_admin_signs_in_sees_the_live_page_and_signs_out(dashboard: Dashboard) -> None:
    page = dashboard.page
    await page.add_init_script(FAKE_VISIBILITY)
    await dashboard.sign_in(ADMIN_TOKEN)
    assert ADMIN_TOKEN not in page.url
    await expect(page.locator("#who")).to_have_text("Signed in as Site Admin (site admin)")
    for heading in (
        "Queues by district",
        "Throughput, last hour",
        "Running imports",
        "Waiting imports",
        "Recently failed",
        "Recently finished",
        "Workers",
        "Find an import",
        "Audit log",
    ):
        await expect(page.get_by_role("heading", name=heading)).to_be_visible()
    # The background worker registers itself and beats.
    await expect(dashboard.table("Workers")).to_contain_text("alive")
    await expect(page.locator("#tile-workers")).to_have_text("1")
    await dashboard.screenshot("dashboard-idle")

    # Hidden, the page stops polling and says so; shown again, it refreshes at once.
    await page.evaluate("window.setTabHidden(true)")
    await expect(page.locator("#live-status")).to_have_text("Paused while this tab is hidden")
    async with page.expect_request("**/api/v1/operations/queues"):
        await page.evaluate("window.setTabHidden(false)")
    await expect(page.locator("#live-status")).to_contain_text("Live: updated")

    await page.get_by_role("button", name="Sign out").click()
    await expect(page).to_have_url(dashboard.url("/dashboard/login"))
    await page.goto(dashboard.url("/dashboard"))
    await expect(page).to_have_url(dashboard.url("/dashboard/login"))
