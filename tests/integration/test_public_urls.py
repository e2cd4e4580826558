"""Absolute URLs (the root group's 302 Location, every Link header) never come from the Host header.

They are built on OUTCOME_IMPORTS_PUBLIC_URL when it is set, else on the address the client's
connection reached; a `Host: evil.example.com` (or X-Forwarded-Host) changes nothing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from shared.errors import ConfigurationError
from shared.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.support.raw_http import RawResponse, request_bytes, send_raw

Client = TestClient[Any, Any]
EVIL = {"Host": "evil.example.com", "X-Forwarded-Host": "evil.example.com", "X-Forwarded-Proto": "https"}
# Every route that answers with an absolute URL: the redirect and each paginated list.
PATHS = (
    "/api/v1/accounts/1/root_outcome_group",
    "/api/v1/courses/{course}/root_outcome_group",
    "/api/v1/accounts/1/outcome_groups",
    "/api/v1/accounts/1/outcome_groups/{root}/subgroups",
    "/api/v1/accounts/1/outcome_groups/{root}/outcomes",
    "/api/v1/accounts/1/outcome_group_links",
    "/api/v1/accounts/1/sub_accounts",
)


async def _client(settings: Settings) -> AsyncIterator[Client]:
    from api.app import create_app

    client: Client = TestClient(TestServer(create_app(settings)))
    await client.start_server()
    yield client
    await client.close()


@pytest.fixture
async def public_client(settings: Settings) -> AsyncIterator[Client]:
    async for client in _client(settings.with_(public_url="https://imports.example.edu/outcomes")):
        yield client


async def _urls_sent(client: Client) -> list[tuple[str, RawResponse]]:
    """Every Location and Link URL of the routes above, requested with a hostile Host header."""
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    resp = await client.post("/api/v1/accounts/1/courses", json={"course": {"name": "C"}}, headers=headers)
    course = await resp.json()
    root = URL((await client.get(PATHS[0], headers=headers, allow_redirects=False)).headers["Location"]).name
    sent = []
    for template in PATHS:
        path = template.format(course=course["id"], root=root) + "?per_page=1&access_token=" + ADMIN_TOKEN
        resp = await send_raw(client.server.host, client.server.port, request_bytes("GET", path, EVIL))
        assert resp.status in (200, 302), (path, resp.status, resp.body)
        if resp.status == 302:
            sent.append((resp.headers["location"], resp))
        else:
            sent += [(part.split(">")[0].lstrip(" <"), resp) for part in resp.headers["link"].split(",")]
    return sent


async def test_without_a_public_url_links_name_the_address_the_client_reached(client: Client) -> None:
    sent = await _urls_sent(client)
    # Two redirects; current and first of the four bookmarked lists (one page each); current,
    # first and last of the numbered one (sub-accounts).
    assert len(sent) == 2 + 4 * 2 + 3
    for url, resp in sent:
        assert "evil" not in str(resp.headers) and "evil" not in url
        parsed = URL(url)
        assert (parsed.scheme, parsed.host, parsed.port) == ("http", client.server.host, client.server.port), url
        assert "access_token" not in parsed.query


async def test_with_a_public_url_links_name_it(public_client: Client) -> None:
    sent = await _urls_sent(public_client)
    assert sent
    for url, resp in sent:
        assert "evil" not in str(resp.headers)
        assert url.startswith("https://imports.example.edu/outcomes/api/v1/"), url


def test_public_url_setting() -> None:
    env = {"DATABASE_URL": "postgresql://x/y", "REDIS_URL": "redis://x", "STORAGE_URL": "file:///tmp/x"}
    assert Settings.from_env(env).public_url is None
    assert Settings.from_env(env | {"OUTCOME_IMPORTS_PUBLIC_URL": "https://a.example/"}).public_url == "https://a.example"
    for bad in ("a.example", "ftp://a.example", "https://a.example/?x=1"):
        with pytest.raises(ConfigurationError, match="OUTCOME_IMPORTS_PUBLIC_URL must be an http"):
            Settings.from_env(env | {"OUTCOME_IMPORTS_PUBLIC_URL": bad})
