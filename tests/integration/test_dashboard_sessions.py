"""Dashboard sign-in over HTTP: the cookie's flags, CSRF, sign-out, session ends with its token, page headers."""

from __future__ import annotations

import hashlib
import logging
import re
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from api.dashboard.routes import STATIC_FILES
from api.docs import load_openapi
from api.pages import CONTENT_SECURITY_POLICY
from api.sessions import COOKIE_NAME
from tests.conftest import ADMIN_TOKEN
from tests.integration.test_openapi import assert_matches

Client = TestClient[Any, Any]


async def sign_in(client: Client, token: str = ADMIN_TOKEN) -> str:
    """Sign in through the form; the session id of the cookie set."""
    resp = await client.post("/dashboard/login", data={"token": token}, allow_redirects=False)
    assert resp.status == 303, await resp.text()
    assert resp.headers["Location"] == "/dashboard"
    return resp.cookies[COOKIE_NAME].value


async def csrf_token(client: Client) -> str:
    resp = await client.get("/dashboard/session")
    assert resp.status == 200
    token: str = (await resp.json())["csrf_token"]
    return token


def assert_page_headers(resp: Any) -> None:
    assert resp.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "no-referrer"


async def test_the_dashboard_sends_a_visitor_without_a_session_to_the_sign_in_form(client: Client) -> None:
    resp = await client.get("/dashboard", allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (303, "/dashboard/login")
    assert_page_headers(resp)

    resp = await client.get("/dashboard/login")
    page = await resp.text()
    assert resp.status == 200 and resp.content_type == "text/html"
    assert_page_headers(resp)
    assert resp.headers["Cache-Control"] == "no-store"
    assert re.search(r'<label for="token">[^<]+</label>\s*<input id="token" name="token" type="password"', page)
    assert '<form method="post" action="/dashboard/login">' in page
    assert not re.search(r"<script|<style|\sstyle=|\son[a-z]+=", page), "no inline script or style"


async def test_signing_in_sets_a_strict_http_only_cookie_naming_a_session_stored_as_its_digest(
    client: Client, db: asyncpg.Connection
) -> None:
    resp = await client.post("/dashboard/login", data={"token": ADMIN_TOKEN}, allow_redirects=False)
    assert resp.status == 303
    cookie = resp.cookies[COOKIE_NAME]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/"
    assert not cookie["secure"], "plain HTTP here; Secure is set when the request came over TLS"
    assert int(cookie["max-age"]) == 8 * 3600

    stored = await db.fetchrow("SELECT digest, csrf_token, expires_at - created_at AS lasts FROM dashboard_sessions")
    assert bytes(stored["digest"]) == hashlib.sha256(cookie.value.encode()).digest()
    assert stored["lasts"].total_seconds() == pytest.approx(8 * 3600, abs=5)

    resp = await client.get("/dashboard/session")
    assert resp.status == 200
    assert resp.headers["Cache-Control"] == "no-store"
    body = await resp.json()
    assert body["csrf_token"] == stored["csrf_token"]
    assert body["user"]["name"] == "Site Admin"
    assert_matches(load_openapi(), "DashboardSession", body)

    resp = await client.get("/dashboard")
    assert resp.status == 200 and resp.content_type == "text/html"
    assert_page_headers(resp)
    assert resp.headers["Cache-Control"] == "no-store"
    page = await resp.text()
    assert not re.search(r"<script>|<script [^>]*>[^<]|<style|\sstyle=|\son[a-z]+=", page)


async def test_a_wrong_or_missing_token_gets_the_form_again_with_a_message_and_no_cookie(client: Client) -> None:
    resp = await client.post("/dashboard/login", data={"token": "not-a-token"}, allow_redirects=False)
    assert resp.status == 401
    assert COOKIE_NAME not in resp.cookies
    page = await resp.text()
    assert 'role="alert"' in page and "was not accepted" in page
    assert 'aria-describedby="login-error"' in page

    resp = await client.post("/dashboard/login", data={"token": "  "}, allow_redirects=False)
    assert resp.status == 400
    assert "Paste an API token." in await resp.text()


async def test_the_token_is_never_logged(client: Client, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        await sign_in(client)
        await client.post("/dashboard/login", data={"token": "wrong-secret-token"}, allow_redirects=False)
    assert "POST /dashboard/login" in caplog.text
    assert ADMIN_TOKEN not in caplog.text and "wrong-secret-token" not in caplog.text


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site", "Origin": "null"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "https://evil.example"},
        {"Origin": "null"},
    ],
)
async def test_a_form_posted_from_another_site_is_refused(client: Client, headers: dict[str, str]) -> None:
    resp = await client.post("/dashboard/login", data={"token": ADMIN_TOKEN}, headers=headers, allow_redirects=False)
    assert resp.status == 403
    assert COOKIE_NAME not in resp.cookies


@pytest.mark.parametrize(
    "headers",
    [
        # What Chromium sends from our own form: Origin is "null" under Referrer-Policy: no-referrer.
        {"Sec-Fetch-Site": "same-origin", "Origin": "null"},
        {"Origin": "{own}"},
        {},
    ],
)
async def test_a_form_posted_from_the_sign_in_page_is_accepted(client: Client, headers: dict[str, str]) -> None:
    own = str(client.make_url("")).rstrip("/")
    headers = {name: value.format(own=own) for name, value in headers.items()}
    resp = await client.post("/dashboard/login", data={"token": ADMIN_TOKEN}, headers=headers, allow_redirects=False)
    assert resp.status == 303


async def test_the_cookie_is_secure_when_a_proxy_ended_tls(client: Client) -> None:
    resp = await client.post(
        "/dashboard/login", data={"token": ADMIN_TOKEN}, headers={"X-Forwarded-Proto": "https"}, allow_redirects=False
    )
    assert resp.status == 303
    assert resp.cookies[COOKIE_NAME]["secure"] is True


async def test_signing_out_needs_the_csrf_token_and_ends_the_session(client: Client, db: asyncpg.Connection) -> None:
    await sign_in(client)
    csrf = await csrf_token(client)

    resp = await client.post("/dashboard/logout")
    assert resp.status == 403
    assert await resp.json() == {
        "status": "unauthorized",
        "errors": [{"message": "user not authorized to perform that action"}],
    }
    resp = await client.post("/dashboard/logout", headers={"X-CSRF-Token": "wrong"})
    assert resp.status == 403
    assert await db.fetchval("SELECT count(*) FROM dashboard_sessions") == 1

    resp = await client.post("/dashboard/logout", headers={"X-CSRF-Token": csrf})
    assert resp.status == 204
    assert resp.cookies[COOKIE_NAME].value == ""
    assert await db.fetchval("SELECT count(*) FROM dashboard_sessions") == 0
    resp = await client.get("/dashboard/session")
    assert resp.status == 401
    assert (await resp.json())["status"] == "unauthenticated"


@pytest.mark.parametrize(
    "ending",
    [
        "UPDATE access_tokens SET workflow_state = 'deleted'",
        "UPDATE access_tokens SET expires_at = now() - interval '1 second'",
        "UPDATE dashboard_sessions SET expires_at = now() - interval '1 second'",
    ],
    ids=["token deleted", "token expired", "session expired"],
)
async def test_a_session_ends_with_its_token_or_its_time(client: Client, db: asyncpg.Connection, ending: str) -> None:
    await sign_in(client)
    assert (await client.get("/dashboard/session")).status == 200
    await db.execute(ending)
    assert (await client.get("/dashboard/session")).status == 401
    resp = await client.get("/dashboard", allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (303, "/dashboard/login")


async def test_a_session_lasts_no_longer_than_its_token(client: Client, db: asyncpg.Connection) -> None:
    await db.execute("UPDATE access_tokens SET expires_at = now() + interval '1 minute'")
    await sign_in(client)
    lasts = await db.fetchval(
        "SELECT s.expires_at - t.expires_at FROM dashboard_sessions s JOIN access_tokens t ON t.id = s.access_token_id"
    )
    assert lasts.total_seconds() == 0


async def test_the_operations_api_accepts_the_session_and_wants_the_csrf_token_for_controls(client: Client) -> None:
    await sign_in(client)
    resp = await client.get("/api/v1/operations/me")
    assert resp.status == 200
    assert (await resp.json())["site_admin"] is True

    resp = await client.post("/api/v1/operations/queues/1/pause")
    assert resp.status == 403
    resp = await client.post("/api/v1/operations/queues/1/pause", headers={"X-CSRF-Token": await csrf_token(client)})
    assert resp.status == 200
    assert (await resp.json())["paused"] is True


async def test_static_files_are_served_by_name_only(client: Client) -> None:
    assert {"dashboard.js", "dashboard.css", "vendor/uPlot-1.6.32.iife.min.js"} <= set(STATIC_FILES)
    resp = await client.get("/dashboard/static/dashboard.js")
    assert resp.status == 200 and resp.content_type == "text/javascript"
    assert_page_headers(resp)
    assert resp.headers["Cache-Control"] == "no-cache"
    for missing in (
        "/dashboard/static/nope.js",
        "/dashboard/static/%2e%2e/pages/index.html",
        "/dashboard/static/..%2Froutes.py",
    ):
        resp = await client.get(missing)
        assert resp.status == 404, missing


def test_every_static_file_and_page_is_packaged() -> None:
    """pyproject's package-data must name what the routes serve, or an installed package 404s."""
    import tomllib

    import api

    root = Path(api.__file__).parent
    patterns = tomllib.loads(Path("pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["api"]
    # setuptools expands the patterns as globs relative to the package, as pathlib does.
    packaged = {path for pattern in patterns for path in root.glob(pattern)}
    shipped = {p for p in (root / "dashboard").rglob("*") if p.is_file() and p.suffix not in (".py", ".pyc")}
    assert shipped and not shipped - packaged, sorted(str(p) for p in shipped - packaged)


def test_no_script_inserts_html() -> None:
    from api.dashboard.routes import STATIC_DIR

    for path in STATIC_DIR.glob("*.js"):
        text = path.read_text()
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write", text), path.name
