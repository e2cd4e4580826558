"""The import console, as the people who import use it: a teacher's whole path from sign-in to the
outcomes tree, an admin's file with errors, a check that changes nothing, a cancelled import, and
someone who may not import."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from playwright.async_api import Locator, Route, expect

from api.docs import load_openapi
from tests.browser.console_support import (
    Console,
    create_account,
    create_account_admin,
    create_course,
    create_teacher,
    create_user,
    outcome_tables,
)
from tests.browser.support import held_import, import_and_wait, outcomes_csv
from tests.browser.test_sign_in import FAKE_VISIBILITY

CANCELLED = "The import was cancelled by an administrator"
ERRORS_CSV = b"""vendor_guid,object_type,title,parent_guids
g,group,Standards,
o1,outcome,Reads closely,g
o2,outcome,,g
o3,outcome,Orphan,nope
o4,outcome,Writes clearly,g
o5,banana,Weird,g
"""


async def test_a_teacher_imports_a_file_and_browses_the_outcomes(console: Console) -> None:
    client = console.service.client
    district = await create_account(client, "District A")
    course = await create_course(client, district, "Biology 101")
    token = await create_teacher(client, course, district, "Tess Teacher")
    page = console.page

    await page.goto(console.url("/"))
    await expect(page).to_have_url(console.url("/login"))
    await console.sign_in(token)
    assert token not in page.url
    await expect(page.locator("#who")).to_have_text("Signed in as Tess Teacher")
    # Their only course is chosen for them; a course has no "find" box, and nothing was imported yet.
    await expect(page.get_by_label("Account or course")).to_have_value(f"courses/{course}")
    await expect(page.get_by_role("heading", name="Outcomes of Biology 101")).to_be_visible()
    await expect(page.locator("#find")).to_be_hidden()
    await expect(page.locator("#tree")).to_contain_text("This group is empty.")
    await expect(page.locator("#recent")).to_contain_text("No import yet.")
    await console.screenshot("console-empty")

    # Dragged in, imported: both bars full, the summary, the recent list and the tree updated.
    await console.drop_file("biology.csv", outcomes_csv(60))
    await console.start("Import")
    await expect(console.state).to_contain_text("succeeded", timeout=20_000)
    import_id = int((await page.locator("#result-title").text_content() or "").split("#")[-1].rstrip(")"))
    assert await page.locator("#upload-progress").evaluate("bar => bar.value") == 100
    assert await page.locator("#processing-progress").evaluate("bar => bar.value") == 100
    await expect(page.locator("#cancel")).to_be_hidden()
    await expect(page.locator("#errors")).to_be_hidden()
    await expect(console.recent_row(import_id)).to_contain_text("Succeeded")
    await expect(console.recent_row(import_id)).to_contain_text("Tess Teacher")

    # The tree: groups open by keyboard, 50 outcomes at a time.
    group = page.get_by_role("button", name="Standards", exact=True)
    await group.focus()
    await page.keyboard.press("Enter")
    await expect(group).to_have_attribute("aria-expanded", "true")
    outcomes = page.locator("#tree li.outcome")
    await expect(outcomes).to_have_count(50)
    await page.get_by_role("button", name="Show more outcomes").click()
    await expect(outcomes).to_have_count(59)
    await expect(page.get_by_role("button", name="Show more outcomes")).to_have_count(0)
    await console.screenshot("console-imported")

    exported = await console.download("Export as CSV")
    text = (await exported.path()).read_text()
    assert "Outcome 59" in text and text.startswith("vendor_guid,")

    # Into a group chosen in the tree: the new outcome lands under it.
    await page.get_by_role("button", name='Import here: group "Standards"').click()
    await expect(page.locator("#target-group")).to_contain_text("“Standards”")
    await expect(page.get_by_label("Drop an Outcomes CSV file here")).to_be_focused()
    await console.pick_file("more.csv", b"vendor_guid,object_type,title,parent_guids\nx1,outcome,Extra outcome,\n")
    await console.start("Import")
    await expect(console.state).to_contain_text("succeeded", timeout=20_000)
    group = page.get_by_role("button", name="Standards", exact=True)
    await group.click()
    await page.get_by_role("button", name="Show more outcomes").click()
    await expect(page.locator("#tree")).to_contain_text("Extra outcome")


async def test_an_account_admin_finds_a_course_and_sees_every_error(console: Console) -> None:
    client = console.service.client
    district = await create_account(client, "District A")
    north = await create_account(client, "North", district)
    await create_course(client, north, "Chemistry")
    await create_course(client, district, "Physics")
    token = await create_account_admin(client, district, "Ada Admin")
    page = console.page
    await console.sign_in(token)

    await console.choose_context("District A")
    # The API description (a quarter of a megabyte) is revalidated on the next load (a 304, which
    # Playwright reports as the cached 200), not sent again.
    async with page.expect_response("**/api/v1/openapi.json") as described:
        await page.reload()
    sizes = await (await described.value).request.sizes()
    assert sizes["responseBodySize"] == 0, sizes
    await expect(page.get_by_role("heading", name="Outcomes of District A")).to_be_visible()
    await page.get_by_label("Or find a course of District A").fill("chem")
    await page.get_by_role("button", name="Find").click()
    await expect(page.locator("#found-list")).to_contain_text("Course: Chemistry")
    await expect(page.locator("#found-list")).not_to_contain_text("Physics")
    await page.get_by_role("button", name="Course: Chemistry").click()
    await expect(page.get_by_role("heading", name="Outcomes of Chemistry")).to_be_visible()

    await console.pick_file("chemistry.csv", ERRORS_CSV)
    await console.start("Import")
    await expect(console.state).to_contain_text("succeeded; 3 rows were rejected", timeout=20_000)
    table = page.locator("#errors-table")
    await expect(page.locator("#errors-status")).to_have_text("3 row errors.")
    await expect(table.locator("tbody tr")).to_have_count(3)
    await expect(table.locator("tbody tr").first).to_contain_text("title_required")
    await console.screenshot("console-errors")

    # Sorted by row, then the other way; by code.
    await page.get_by_role("button", name="Row").click()
    await expect(table.locator("th").first).to_have_attribute("aria-sort", "descending")
    await expect(table.locator("tbody tr").first.locator("td").first).to_have_text("7")
    await page.get_by_role("button", name="Code").click()
    await expect(table.locator("tbody tr").first).to_contain_text("object_type_invalid")

    # Filtered by text and by code.
    await page.get_by_label("Filter").fill("nope")
    await expect(table.locator("tbody tr")).to_have_count(1)
    await expect(table.locator("tbody tr")).to_contain_text("parent_not_found")
    await expect(page.locator("#errors-shown")).to_have_text("Showing 1 of 1 matching (of 3).")
    await page.get_by_label("Filter").fill("")
    await page.get_by_label("Code", exact=True).select_option("title_required")
    await expect(table.locator("tbody tr")).to_have_count(1)
    await page.get_by_label("Code", exact=True).select_option("")
    await expect(table.locator("tbody tr")).to_have_count(3)

    report = await console.download("Download all errors (CSV)")
    rows = list(csv.reader(io.StringIO((await report.path()).read_text())))
    assert rows[0] == ["row", "column", "code", "message", "value"]
    assert [(r[0], r[2]) for r in rows[1:]] == [
        ("4", "title_required"),
        ("5", "parent_not_found"),
        ("7", "object_type_invalid"),
    ]


async def test_a_check_reports_what_it_would_do_and_changes_nothing(console: Console) -> None:
    service = console.service
    district = await create_account(service.client, "District A")
    await import_and_wait(service.client, district, outcomes_csv(30))
    before = await outcome_tables(service.database_url)
    page = console.page
    await console.sign_in()
    await console.choose_context("District A")

    await console.pick_file("revised.csv", outcomes_csv(30, changed="o5") + b"o99,outcome,Brand new,g\n")
    await expect(page.get_by_role("radio", name="Check only", exact=False)).to_be_checked()
    await expect(page.locator("#start")).to_have_text("Check file")
    await console.start("Check only")
    await expect(console.state).to_contain_text("Check finished: nothing was changed", timeout=20_000)
    await expect(page.locator("#summary h3")).to_have_text("What importing it would do")
    outcomes = page.locator("#summary-table tbody tr").filter(has_text="Outcomes")
    # Created, updated, deleted, restored, unchanged.
    await expect(outcomes.locator("td")).to_have_text(["1", "1", "0", "0", "28"])
    await console.screenshot("console-check")

    assert await outcome_tables(service.database_url) == before
    check_id = int((await page.locator("#result-title").text_content() or "").split("#")[-1].rstrip(")"))
    await expect(console.recent_row(check_id)).to_contain_text("Check only")
    await expect(console.recent_row(check_id)).to_contain_text("Checked")
    await page.get_by_role("button", name="Standards", exact=True).click()
    await expect(page.locator("#tree")).to_contain_text("Outcome 5")
    await expect(page.locator("#tree")).not_to_contain_text("(revised)")
    await expect(page.locator("#tree")).not_to_contain_text("Brand new")


async def test_a_running_import_is_cancelled_from_the_console(console: Console) -> None:
    service = console.service
    district = await create_account(service.client, "District A")
    page = console.page
    await console.sign_in()
    async with held_import(service, district) as (import_id, release):
        await console.choose_context("District A")
        row = console.recent_row(import_id)
        await expect(row).to_contain_text("Running")
        await row.get_by_role("button", name=f"Show import {import_id}").click()
        await expect(console.state).to_contain_text("of the rows processed")
        cancel = page.get_by_role("button", name="Cancel this import")
        await console.screenshot("console-running")

        # By keyboard: Escape closes the question with nothing done, focus back on the button.
        await cancel.focus()
        await page.keyboard.press("Enter")
        dialog = page.get_by_role("dialog")
        await expect(dialog).to_contain_text(f"Import #{import_id} will stop")
        await expect(dialog.get_by_role("button", name="Keep it")).to_be_focused()
        await page.keyboard.press("Escape")
        await expect(dialog).to_be_hidden()
        await expect(cancel).to_be_focused()

        await cancel.click()
        await dialog.get_by_role("button", name="Cancel the import").click()
        await expect(console.state).to_contain_text(f"Import #{import_id} failed", timeout=20_000)
        await expect(console.state).to_contain_text(CANCELLED)
        await expect(cancel).to_be_hidden()
        await expect(row).to_contain_text("Failed")
        await console.screenshot("console-cancelled")
        await release()


async def test_someone_who_may_not_import_is_told_so(console: Console) -> None:
    client = console.service.client
    district = await create_account(client, "District A")
    _, token = await create_user(client, district, "Sam Student")
    page = console.page

    await page.goto(console.url("/login"))
    console.expect_failure("/login")
    await page.get_by_label("API token").fill(token)
    async with page.expect_response(console.url("/login")) as answer:
        await page.get_by_role("button", name="Sign in").click()
    assert (await answer.value).status == 403
    await expect(page.get_by_role("alert")).to_contain_text("may not import outcomes anywhere")
    await expect(page.get_by_label("API token")).to_be_focused()
    assert token not in page.url
    assert not await page.context.cookies()
    await console.screenshot("console-sign-in-refused")

    await page.get_by_label("API token").fill("not-a-token")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("That token was not accepted")

    # Signed in elsewhere (the dashboard takes any valid token), the console says it plainly.
    await page.goto(console.url("/dashboard/login"))
    await page.get_by_label("API token").fill(token)
    console.expect_failure("/api/v1/operations/me")
    await page.get_by_role("button", name="Sign in").click()
    await page.goto(console.url("/"))
    await expect(page.get_by_role("alert")).to_contain_text("You may not import outcomes anywhere")
    await expect(page.get_by_label("Account or course")).to_be_hidden()
    await expect(page.locator("#workspace")).to_be_hidden()
    await console.screenshot("console-no-rights")


async def test_a_slow_upload_shows_its_progress_and_can_be_stopped(console: Console) -> None:
    client = console.service.client
    await create_account(client, "District A")
    page = console.page
    await console.sign_in()
    await console.choose_context("District A")
    # About a megabyte through a 256 kB/s line: a few seconds of upload progress.
    network = await page.context.new_cdp_session(page)
    await network.send("Network.enable")
    await network.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 256 * 1024},
    )
    description = "x" * 8_000
    lines = ["vendor_guid,object_type,title,description,parent_guids", "g,group,Standards,,"]
    lines += [f"o{n},outcome,Outcome {n},{description},g" for n in range(1, 121)]
    await console.pick_file("large.csv", "\n".join(lines).encode())
    await console.start("Import")
    bar = page.locator("#upload-progress")
    await page.wait_for_function("() => (v => v > 5 && v < 90)(document.querySelector('#upload-progress').value)")
    await expect(console.state).to_contain_text("Uploading large.csv: ")
    await console.screenshot("console-uploading")

    # Stopped half-way: nothing is stored, nothing imported.
    await page.get_by_role("button", name="Stop the upload").click()
    await expect(console.state).to_have_text("The upload was stopped: nothing was imported.")
    await expect(page.get_by_role("button", name="Stop the upload")).to_be_hidden()
    await expect(page.locator("#recent")).to_contain_text("No import yet.")

    await network.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )
    await page.locator("#start").click()
    await expect(console.state).to_contain_text("succeeded")
    assert await bar.evaluate("bar => bar.value") == 100


async def test_without_dry_runs_on_the_server_the_console_offers_only_imports(console: Console) -> None:
    client = console.service.client
    await create_account(client, "District A")
    page = console.page

    def strip(node: Any) -> Any:
        """The document without any mention of dry_run (parameters, form fields, response fields)."""
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "dry_run"}
        if isinstance(node, list):
            return [strip(v) for v in node if "dry_run" not in json.dumps(v)]
        return node

    async def without_dry_run(route: Route) -> None:
        await route.fulfill(json=strip(load_openapi()))

    await page.route("**/api/v1/openapi.json", without_dry_run)
    await console.sign_in()
    await console.choose_context("District A")
    await expect(page.get_by_role("radio", name="Check only", exact=False)).to_be_disabled()
    await expect(page.get_by_role("radio", name="Import", exact=True)).to_be_checked()
    await expect(page.locator("#check-unavailable")).to_be_visible()
    await expect(page.locator("#start")).to_have_text("Import file")


async def test_the_console_works_from_the_keyboard_alone(console: Console) -> None:
    client = console.service.client
    district = await create_account(client, "District A")
    course = await create_course(client, district, "Biology 101")
    await create_course(client, district, "Chemistry")
    token = await create_account_admin(client, district, "Ada Admin")
    await create_teacher(client, course, district, "Tess Teacher")
    page = console.page
    # Playwright intercepts file choosers once a listener exists: one from the start, so that
    # interception is on well before the key press that opens one.
    page.on("filechooser", lambda _: None)
    await console.sign_in(token)
    keyboard = page.keyboard

    async def tab_to(locator: Locator, most: int = 30) -> None:
        for _ in range(most):
            await keyboard.press("Tab")
            if await locator.evaluate("element => element === document.activeElement"):
                return
        raise AssertionError(f"Tab never reached {locator}")

    # The skip link comes first and lands on the console.
    await keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to the console")).to_be_focused()
    await tab_to(page.get_by_label("Account or course"))
    await keyboard.press("ArrowDown")  # the first account, as a select does with the keyboard
    await expect(page.get_by_role("heading", name="Outcomes of District A")).to_be_visible()
    await tab_to(page.get_by_label("Or find a course of District A"))
    await keyboard.type("bio")
    await keyboard.press("Enter")
    course_button = page.get_by_role("button", name="Course: Biology 101")
    await tab_to(course_button)
    await keyboard.press("Enter")
    await expect(page.get_by_role("heading", name="Outcomes of Biology 101")).to_be_visible()

    # The file control opens the system's chooser on Enter; then the mode and the button.
    await tab_to(page.get_by_label("Drop an Outcomes CSV file here"))
    await expect(page.locator("#drop-zone")).to_have_css("outline-style", "solid")
    async with page.expect_file_chooser() as chooser:
        await keyboard.press("Enter")
    await (await chooser.value).set_files({"name": "keys.csv", "mimeType": "text/csv", "buffer": outcomes_csv(5)})
    await expect(page.locator("#file-chosen")).to_contain_text("keys.csv")
    await tab_to(page.get_by_role("radio", name="Check only", exact=False))
    await keyboard.press("ArrowDown")
    await expect(page.get_by_role("radio", name="Import", exact=True)).to_be_checked()
    await tab_to(page.get_by_role("button", name="Import file"))
    await console.screenshot("console-keyboard")
    await keyboard.press("Enter")
    await expect(console.state).to_contain_text("succeeded")


async def test_hundreds_of_errors_are_loaded_page_by_page_and_shown_two_hundred_at_a_time(console: Console) -> None:
    client = console.service.client
    await create_account(client, "District A")
    page = console.page
    await console.sign_in()
    await console.choose_context("District A")
    lines = ["vendor_guid,object_type,title,parent_guids", "g,group,Standards,"]
    lines += [f"o{n},outcome,,g" if n % 2 else f"o{n},outcome,Fine {n},g" for n in range(1, 501)]
    await console.pick_file("many.csv", ("\n".join(lines) + "\n").encode())
    await console.start("Import")
    await expect(console.state).to_contain_text("250 rows were rejected")
    await expect(page.locator("#errors-status")).to_have_text("250 row errors.")
    rows = page.locator("#errors-table tbody tr")
    await expect(rows).to_have_count(200)
    await expect(page.locator("#errors-shown")).to_have_text("Showing 200 of 250.")
    await page.get_by_role("button", name="Show more errors").click()
    await expect(rows).to_have_count(250)
    await expect(page.get_by_role("button", name="Show more errors")).to_be_hidden()
    await page.get_by_label("Filter").fill("row that does not exist")
    await expect(page.locator("#errors-shown")).to_have_text("No error matches the filter.")


async def test_a_hidden_tab_stops_asking_for_progress_until_it_is_shown(console: Console) -> None:
    service = console.service
    district = await create_account(service.client, "District A")
    page = console.page
    await page.add_init_script(FAKE_VISIBILITY)
    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url) if "/outcome_imports/" in request.url else None)
    await console.sign_in()
    async with held_import(service, district) as (import_id, release):
        await console.choose_context("District A")
        # The page's timers run on a clock the test moves: no waiting on real time.
        await page.clock.install()
        await console.recent_row(import_id).get_by_role("button", name=f"Show import {import_id}").click()
        await expect(console.state).to_contain_text("of the rows processed")
        status = f"**/outcome_imports/{import_id}"
        async with page.expect_response(status):
            await page.clock.run_for(1500)

        # Hidden: twenty seconds of the page's time (each step a round trip, so the page has
        # handled the answer it was waiting for) and not one request.
        await page.evaluate("window.setTabHidden(true)")
        asked = len(polls)
        for _ in range(20):
            await page.clock.run_for(1000)
            await page.evaluate("0")
        assert len(polls) == asked, polls[asked:]

        # Shown again, it asks at once, with no more time passing: it was waiting for the tab.
        async with page.expect_request(status):
            await page.evaluate("window.setTabHidden(false)")
        await release()
