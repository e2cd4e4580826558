"""The console's retry of a failed import (POST .../outcome_imports/:id/retry), followed like a
fresh upload, and refused with the server's reason (409); and a CASE package uploaded through the
console (`import_type=case_json`), ending with its outcomes in the tree."""

from __future__ import annotations

import json

import asyncpg
from playwright.async_api import expect

from tests.browser.console_support import Console, create_account
from tests.browser.support import ADMIN_HEADERS, Service, outcomes_csv, upload
from tests.e2e.test_case_imports import package
from tests.support.canvas import expect_json

CANCELLED = "The import was cancelled by an administrator"
RECORD_FORM_FIELDS = """
window.formFields = [];
const append = FormData.prototype.append;
FormData.prototype.append = function (name, value, ...rest) {
  window.formFields.push([name, typeof value === "string" ? value : value.name]);
  return append.call(this, name, value, ...rest);
};
"""


async def cancelled_import(service: Service, district: int) -> int:
    """An import that failed for a reason a retry fixes: cancelled while it waited (its queue paused)."""
    client = service.client
    queue = f"/api/v1/operations/queues/{district}"
    await expect_json(await client.post(f"{queue}/pause", headers=ADMIN_HEADERS), 200)
    import_id = await upload(client, district, outcomes_csv(12), "standards.csv")
    cancel = f"/api/v1/accounts/{district}/outcome_imports/{import_id}/cancel"
    cancelled = await expect_json(await client.post(cancel, headers=ADMIN_HEADERS), 200)
    assert cancelled["workflow_state"] == "failed", cancelled
    await expect_json(await client.post(f"{queue}/resume", headers=ADMIN_HEADERS), 200)
    return import_id


def result_id(title: str | None) -> int:
    return int((title or "").split("#")[-1].rstrip(")"))


async def test_a_failed_import_is_retried_from_the_console_and_followed(console: Console) -> None:
    service = console.service
    district = await create_account(service.client, "District A")
    failed_id = await cancelled_import(service, district)
    page = console.page
    await console.sign_in()
    await console.choose_context("District A")
    await expect(page.locator("#tree")).to_contain_text("This group is empty.")

    await console.recent_row(failed_id).get_by_role("button", name=f"Show import {failed_id}").click()
    await expect(console.state).to_contain_text(f"Import #{failed_id} failed")
    await expect(console.state).to_contain_text(CANCELLED)
    retry = page.get_by_role("button", name="Retry this import")
    await expect(retry).to_be_visible()

    # By keyboard: Escape closes the question with nothing done, focus back on the button.
    await retry.focus()
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    await expect(dialog.get_by_role("heading")).to_have_text("Retry this import?")
    await expect(dialog).to_contain_text(f"import #{failed_id} stays as it is")
    await expect(dialog.get_by_role("button", name="Not now")).to_be_focused()
    await console.screenshot("console-retry-question")
    await page.keyboard.press("Escape")
    await expect(dialog).to_be_hidden()
    await expect(retry).to_be_focused()
    await expect(page.locator("#recent-table tbody tr")).to_have_count(1)

    # Confirmed by keyboard: a new import of the same file, followed to its end.
    await page.keyboard.press("Enter")
    await dialog.get_by_role("button", name="Retry the import").focus()
    await page.keyboard.press("Enter")
    await expect(page.locator("#result-title")).to_contain_text(f"Retry of import #{failed_id}")
    await expect(console.state).to_contain_text("succeeded", timeout=20_000)
    new_id = result_id(await page.locator("#result-title").text_content())
    assert new_id != failed_id
    await expect(retry).to_be_hidden()
    assert await page.locator("#processing-progress").evaluate("bar => bar.value") == 100
    outcomes = page.locator("#summary-table tbody tr").filter(has_text="Outcomes")
    await expect(outcomes.locator("td")).to_have_text(["11", "0", "0", "0", "0"])
    await expect(page.locator("#summary-case")).to_be_hidden()
    await expect(console.recent_row(new_id)).to_contain_text("Succeeded")
    await expect(console.recent_row(failed_id)).to_contain_text("Failed")
    await page.get_by_role("button", name="Standards", exact=True).click()
    await expect(page.locator("#tree")).to_contain_text("Outcome 11")
    await console.screenshot("console-retried")

    retried = await expect_json(
        await service.client.get(f"/api/v1/accounts/{district}/outcome_imports/{new_id}", headers=ADMIN_HEADERS), 200
    )
    assert retried["workflow_state"] == "succeeded"


async def test_a_retry_the_server_refuses_shows_its_reason(console: Console) -> None:
    service = console.service
    district = await create_account(service.client, "District A")
    failed_id = await cancelled_import(service, district)
    page = console.page
    await console.sign_in()
    await console.choose_context("District A")
    await console.recent_row(failed_id).get_by_role("button", name=f"Show import {failed_id}").click()
    await expect(console.state).to_contain_text(f"Import #{failed_id} failed")

    # Its file was deleted meanwhile, as the retention sweep does: the retry answers 409.
    conn = await asyncpg.connect(service.database_url)
    try:
        await conn.execute("UPDATE outcome_imports SET upload_deleted_at = now() WHERE id = $1", failed_id)
    finally:
        await conn.close()
    path = f"/api/v1/accounts/{district}/outcome_imports/{failed_id}/retry"
    console.expect_failure(path)
    retry = page.get_by_role("button", name="Retry this import")
    await retry.click()
    async with page.expect_response(console.url(path)) as answer:
        await page.get_by_role("dialog").get_by_role("button", name="Retry the import").click()
    assert (await answer.value).status == 409
    refused = f"Could not retry import #{failed_id}: The import's file is no longer stored"
    await expect(console.state).to_contain_text(refused)
    await expect(retry).to_be_focused()
    await expect(page.locator("#result-title")).to_have_text(f"Import #{failed_id}")
    await page.get_by_role("button", name="Refresh").click()
    await expect(page.locator("#recent-table tbody tr")).to_have_count(1)
    await console.screenshot("console-retry-refused")


async def test_a_case_package_is_imported_through_the_console(console: Console) -> None:
    service = console.service
    district = await create_account(service.client, "District A")
    page = console.page
    # Chromium does not show a test an upload's body: the page's form is watched as it is built.
    await page.add_init_script(RECORD_FORM_FIELDS)
    await console.sign_in()
    await console.choose_context("District A")

    data = json.dumps(package()).encode()
    await page.get_by_label("Drop an Outcomes CSV file here").set_input_files(
        {"name": "framework.json", "mimeType": "application/json", "buffer": data}
    )
    await expect(page.locator("#file-chosen")).to_have_text(f"CASE package: framework.json ({len(data):,} bytes)")
    await console.start("Import")
    await expect(page.locator("#result-title")).to_contain_text("Importing CASE package framework.json")
    await expect(console.state).to_contain_text("succeeded", timeout=20_000)
    import_id = result_id(await page.locator("#result-title").text_content())
    # As the CLI sends it: the import type as a field before the file.
    assert await page.evaluate("window.formFields") == [["import_type", "case_json"], ["attachment", "framework.json"]]
    created = await expect_json(
        await service.client.get(f"/api/v1/accounts/{district}/outcome_imports/{import_id}", headers=ADMIN_HEADERS), 200
    )
    assert created["data"] == {"import_type": "case_json"}

    groups = page.locator("#summary-table tbody tr").filter(has_text="Groups")
    await expect(groups.locator("td")).to_have_text(["4", "0", "0", "0", "0"])
    await expect(page.locator("#summary-case")).to_have_text("CASE associations skipped (not part of the tree): 1.")
    await expect(console.recent_row(import_id)).to_contain_text("Import (CASE)")
    await expect(console.recent_row(import_id)).to_contain_text("Succeeded")

    document = page.get_by_role("button", name="Example State Mathematics Standards", exact=True)
    await document.click()
    domain = page.get_by_role("button", name="K.CC Counting", exact=True)
    await domain.click()
    await page.get_by_role("button", name="K.CC.A Know number names and the count sequence.", exact=True).click()
    await expect(page.locator("#tree")).to_contain_text("K.CC.A.1 Count to 100 by ones and by tens.")
    await console.screenshot("console-case-imported")

    # A CSV chosen next is an Outcomes CSV again.
    await console.pick_file("more.csv", outcomes_csv(3))
    await expect(page.locator("#file-chosen")).to_contain_text("Outcomes CSV: more.csv")
