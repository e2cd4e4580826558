"""What the console reads and how it signs in, over HTTP: the lists of where a caller may import
(accounts, courses, an account's courses), a context's imports newest first, the session cookie
on the API's own routes, and the console's pages."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from api.app import create_app
from api.console.routes import STATIC_DIR, STATIC_FILES
from api.docs import load_openapi
from api.pages import CONTENT_SECURITY_POLICY
from api.sessions import COOKIE_NAME
from shared.settings import Settings
from tests.browser.console_support import (
    create_account,
    create_account_admin,
    create_course,
    create_teacher,
    create_user,
)
from tests.conftest import ADMIN_TOKEN
from tests.integration.test_openapi import assert_matches
from tests.support.canvas import attachment, expect_json

Client = TestClient[Any, Any]
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
CSV = b"vendor_guid,object_type,title,parent_guids\ng,group,Standards,\no1,outcome,One,g\n"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def ids(body: list[dict[str, Any]]) -> list[int]:
    return [item["id"] for item in body]


async def test_accounts_lists_what_the_caller_administers(client: Client) -> None:
    district = await create_account(client, "District A")
    north = await create_account(client, "North", district)
    other = await create_account(client, "District B")
    admin = await create_account_admin(client, north, "Nora North")
    course = await create_course(client, north, "Chemistry")
    teacher = await create_teacher(client, course, district, "Tess Teacher")

    # A site admin: every root account (their sub-accounts are a click away).
    body = await expect_json(await client.get("/api/v1/accounts", headers=ADMIN), 200)
    assert {district, other} <= set(ids(body)) and north not in ids(body)
    assert ids(body) == sorted(ids(body))
    for account in body:
        assert_matches(load_openapi(), "Account", account)
    assert ids(await expect_json(await client.get("/api/v1/accounts", headers=bearer(admin)), 200)) == [north]
    assert await expect_json(await client.get("/api/v1/accounts", headers=bearer(teacher)), 200) == []
    resp = await client.get("/api/v1/accounts")
    assert resp.status == 401


async def test_courses_lists_the_callers_courses_by_enrollment_type(client: Client) -> None:
    district = await create_account(client, "District A")
    taught = await create_course(client, district, "Biology")
    await create_course(client, district, "Physics")
    teacher = await create_teacher(client, taught, district, "Tess Teacher")

    body = await expect_json(await client.get("/api/v1/courses?enrollment_type=teacher", headers=bearer(teacher)), 200)
    assert ids(body) == [taught]
    assert_matches(load_openapi(), "Course", body[0])
    assert ids(await expect_json(await client.get("/api/v1/courses", headers=bearer(teacher)), 200)) == [taught]
    students = await client.get("/api/v1/courses?enrollment_type=student", headers=bearer(teacher))
    assert await expect_json(students, 200) == []
    resp = await client.get("/api/v1/courses?enrollment_type=janitor", headers=bearer(teacher))
    assert resp.status == 400
    assert "enrollment_type" in (await resp.json())["errors"][0]["message"]


async def test_an_accounts_courses_include_its_sub_accounts_and_can_be_searched(client: Client) -> None:
    district = await create_account(client, "District A")
    north = await create_account(client, "North", district)
    chemistry = await create_course(client, north, "Chemistry 100%")
    physics = await create_course(client, district, "Physics")
    elsewhere = await create_account(client, "District B")
    await create_course(client, elsewhere, "Chemistry elsewhere")
    admin = await create_account_admin(client, district, "Ada Admin")

    path = f"/api/v1/accounts/{district}/courses"
    assert ids(await expect_json(await client.get(path, headers=bearer(admin)), 200)) == [chemistry, physics]
    assert ids(await expect_json(await client.get(f"{path}?search_term=CHEM", headers=bearer(admin)), 200)) == [
        chemistry
    ]
    # LIKE's wildcards are matched as themselves.
    assert ids(await expect_json(await client.get(f"{path}?search_term=100%25", headers=bearer(admin)), 200)) == [
        chemistry
    ]
    assert await expect_json(await client.get(f"{path}?search_term=_", headers=bearer(admin)), 200) == []
    assert ids(await expect_json(await client.get(f"{path}?search_term={physics}", headers=bearer(admin)), 200)) == [
        physics
    ]
    resp = await client.get(f"{path}?per_page=1", headers=bearer(admin))
    assert 'rel="next"' in resp.headers["Link"]

    north_admin = await create_account_admin(client, north, "Nora North")
    assert (await client.get(path, headers=bearer(north_admin))).status == 403
    assert (await client.get("/api/v1/accounts/999999/courses", headers=ADMIN)).status == 404


async def test_a_contexts_imports_are_listed_newest_first_for_whoever_may_import_there(client: Client) -> None:
    district = await create_account(client, "District A")
    course = await create_course(client, district, "Biology")
    teacher = await create_teacher(client, course, district, "Tess Teacher")
    created = []
    for _ in range(3):
        path = f"/api/v1/courses/{course}/outcome_imports"
        body = await expect_json(await client.post(path, data=attachment(CSV), headers=bearer(teacher)), 200)
        created.append(body["id"])
    await expect_json(
        await client.post(f"/api/v1/accounts/{district}/outcome_imports", data=attachment(CSV), headers=ADMIN), 200
    )

    resp = await client.get(f"/api/v1/courses/{course}/outcome_imports?per_page=2", headers=bearer(teacher))
    body = await expect_json(resp, 200)
    assert ids(body) == created[::-1][:2]
    assert 'rel="next"' in resp.headers["Link"]
    for item in body:
        assert_matches(load_openapi(), "OutcomeImport", item)
        assert item["user"]["name"] == "Tess Teacher"
    nxt = re.search(r'<[^>]*(/api/v1/[^>]*)>; rel="next"', resp.headers["Link"])
    assert nxt is not None
    assert ids(await expect_json(await client.get(nxt[1], headers=bearer(teacher)), 200)) == created[:1]

    # Another context's teacher, or no one: Canvas's answers.
    other = await create_course(client, district, "Physics")
    other_teacher = await create_teacher(client, other, district, "Otto Other")
    assert (await client.get(f"/api/v1/courses/{course}/outcome_imports", headers=bearer(other_teacher))).status == 403
    assert (await client.get(f"/api/v1/courses/{course}/outcome_imports")).status == 401
    assert (await client.get("/api/v1/courses/999999/outcome_imports", headers=ADMIN)).status == 404


async def test_a_signed_in_browser_uses_the_api_with_its_cookie_and_changes_need_the_csrf_token(
    client: Client,
) -> None:
    district = await create_account(client, "District A")
    course = await create_course(client, district, "Biology")
    teacher = await create_teacher(client, course, district, "Tess Teacher")
    resp = await client.post("/login", data={"token": teacher}, allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (303, "/")

    assert ids(await expect_json(await client.get("/api/v1/courses?enrollment_type=teacher"), 200)) == [course]
    upload = f"/api/v1/courses/{course}/outcome_imports"
    resp = await client.post(upload, data=attachment(CSV))
    assert resp.status == 403, "a change without the session's CSRF token"
    csrf = (await expect_json(await client.get("/dashboard/session"), 200))["csrf_token"]
    body = await expect_json(await client.post(upload, data=attachment(CSV), headers={"X-CSRF-Token": csrf}), 200)
    assert body["user"]["name"] == "Tess Teacher"
    # The session is the teacher's, with the teacher's rights only.
    assert (await client.get(f"/api/v1/accounts/{district}/outcome_imports")).status == 403


async def test_the_console_signs_in_only_people_who_may_import(client: Client) -> None:
    resp = await client.get("/", allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (303, "/login")
    assert resp.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY

    resp = await client.get("/login")
    page = await resp.text()
    assert resp.status == 200 and resp.content_type == "text/html"
    assert resp.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Cache-Control"] == "no-store"
    assert '<form method="post" action="/login">' in page
    assert not re.search(r"<script|<style|\sstyle=|\son[a-z]+=", page), "no inline script or style"

    district = await create_account(client, "District A")
    _, nobody = await create_user(client, district, "Sam Student")
    resp = await client.post("/login", data={"token": nobody}, allow_redirects=False)
    assert resp.status == 403
    assert COOKIE_NAME not in resp.cookies
    assert "may not import outcomes anywhere" in await resp.text()
    assert (await client.post("/login", data={"token": "nope"}, allow_redirects=False)).status == 401
    assert (await client.post("/login", data={"token": " "}, allow_redirects=False)).status == 400
    cross_site = {"Sec-Fetch-Site": "cross-site"}
    assert (await client.post("/login", data={"token": ADMIN_TOKEN}, headers=cross_site)).status == 403

    resp = await client.post("/login", data={"token": ADMIN_TOKEN}, allow_redirects=False)
    assert resp.status == 303
    resp = await client.get("/")
    assert resp.status == 200 and resp.content_type == "text/html"
    assert resp.headers["Cache-Control"] == "no-store"
    page = await resp.text()
    assert not re.search(r"<script>|<script [^>]*>[^<]|<style|\sstyle=|\son[a-z]+=", page)
    assert (await client.get("/login", allow_redirects=False)).headers["Location"] == "/"


async def test_the_consoles_files_are_served_by_name_only(client: Client) -> None:
    assert {"console.js", "console.css", "api.js"} <= set(STATIC_FILES)
    resp = await client.get("/console/static/console.js")
    assert resp.status == 200 and resp.content_type == "text/javascript"
    assert resp.headers["Cache-Control"] == "no-cache"
    assert resp.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    for missing in ("/console/static/nope.js", "/console/static/%2e%2e/pages/index.html"):
        assert (await client.get(missing)).status == 404, missing
    # The API's own answers carry no page headers.
    assert "Content-Security-Policy" not in (await client.get("/api/v1/accounts", headers=ADMIN)).headers


def test_every_console_file_is_packaged() -> None:
    """pyproject's package-data must name what the routes serve, or an installed package 404s."""
    import tomllib

    import api

    root = Path(api.__file__).parent
    patterns = tomllib.loads(Path("pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["api"]
    packaged = {path for pattern in patterns for path in root.glob(pattern)}
    shipped = {p for p in (root / "console").rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")}
    assert shipped and not shipped - packaged, sorted(str(p) for p in shipped - packaged)


@pytest.mark.parametrize("path", sorted(STATIC_DIR.glob("*.js")), ids=lambda p: p.name)
def test_no_console_script_inserts_html(path: Path) -> None:
    assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", path.read_text())


async def test_calls_with_a_session_cookie_are_throttled_like_a_tokens(aiohttp_client: Any, settings: Settings) -> None:
    # Room for two requests' up-front cost, leaking so slowly that nothing drains during the test.
    throttled = settings.with_(
        rate_limit_high_water_mark=100, rate_limit_up_front_cost=45, rate_limit_outflow_per_second=1
    )
    client = await aiohttp_client(create_app(throttled))
    assert (await client.post("/login", data={"token": ADMIN_TOKEN}, allow_redirects=False)).status == 303
    # The pages are not charged.
    for _ in range(4):
        assert (await client.get("/console/static/console.js")).status == 200
    responses = await asyncio.gather(*(client.get("/api/v1/accounts") for _ in range(6)))
    assert {r.status for r in responses} == {200, 403}, [r.status for r in responses]
    assert all("X-Rate-Limit-Remaining" in r.headers for r in responses)
