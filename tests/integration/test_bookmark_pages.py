"""Bookmarked (keyset) pages: walking a list by its `next` links gives exactly the list, in the
order the earlier LIMIT/OFFSET pages gave (titles that tie case-insensitively or exactly, deleted
rows between pages, an outcome in two groups); a bad bookmark is the first page, never a 400 or
a 500; `per_page` is bounded."""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from yarl import URL

from api.pagination import encode_bookmark
from tests.faults import post_import
from tests.support.files import outcomes_file
from tests.support.tree import get_all_pages, insert_account, insert_group, insert_link, insert_outcome, next_link

Client = TestClient[Any, Any]
# Titles that tie under lower() and exactly, sort differently by case, are empty or not ASCII.
TITLES = ("apple", "Apple", "APPLE", "apple", "", "Éclair", "éclair", "zebra", "Zebra", "a b", "ab", "10", "9", "b")

# The orders of the LIMIT/OFFSET queries these pages replaced, over the whole list.
OLD_GROUPS = """
SELECT id FROM learning_outcome_groups
WHERE context_type = 'Account' AND context_id = $1 AND workflow_state = 'active' ORDER BY id
"""
OLD_SUBGROUPS = """
SELECT id FROM learning_outcome_groups WHERE parent_id = $1 AND workflow_state = 'active'
ORDER BY lower(title), title, id
"""
OLD_GROUP_LINKS = """
SELECT l.id FROM learning_outcome_links l JOIN learning_outcomes o ON o.id = l.learning_outcome_id
WHERE l.associated_group_id = $1 AND l.workflow_state = 'active' AND o.workflow_state = 'active'
ORDER BY lower(o.short_description), o.short_description, l.id
"""
OLD_CONTEXT_LINKS = """
SELECT l.id FROM learning_outcome_links l JOIN learning_outcomes o ON o.id = l.learning_outcome_id
WHERE l.context_type = 'Account' AND l.context_id = $1 AND l.workflow_state = 'active' AND o.workflow_state = 'active'
ORDER BY l.id
"""


def _bookmark(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return "bookmark:" + base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.fixture
async def district(db: asyncpg.Connection) -> dict[str, int]:
    """An account whose root holds groups titled TITLES, one of which holds outcomes titled TITLES
    (and a few deleted ones), the outcomes also linked into a second group."""
    account = await insert_account(db, "Bookmarks")
    ctx = ("Account", account)
    root = await insert_group(db, ctx, "Bookmarks")
    groups = [
        await insert_group(db, ctx, title, parent_id=root, workflow_state="deleted" if n % 5 == 3 else "active")
        for n, title in enumerate(TITLES)
    ]
    big, other = groups[0], groups[1]
    for n, title in enumerate(TITLES * 2):
        deleted = n % 7 == 4
        outcome = await insert_outcome(
            db, ctx, title, vendor_guid=f"bm-{n}", workflow_state="deleted" if deleted else "active"
        )
        await insert_link(db, outcome, big, "deleted" if n % 6 == 5 else "active")
        if n % 2:
            await insert_link(db, outcome, other)
    return {"account": account, "root": root, "big": big, "other": other}


async def _walk(client: Client, headers: dict[str, str], path: str) -> list[dict[str, Any]]:
    items = await get_all_pages(client, headers, path)
    assert items, path
    return items


@pytest.mark.parametrize("per_page", [1, 2, 3, 100])
async def test_walking_next_links_gives_every_item_in_the_earlier_order(
    client: Client, admin_headers: dict[str, str], db: asyncpg.Connection, district: dict[str, int], per_page: int
) -> None:
    ctx = f"/api/v1/accounts/{district['account']}"
    groups = await _walk(client, admin_headers, f"{ctx}/outcome_groups?per_page={per_page}")
    assert [g["id"] for g in groups] == [r["id"] for r in await db.fetch(OLD_GROUPS, district["account"])]

    subgroups = await _walk(
        client, admin_headers, f"{ctx}/outcome_groups/{district['root']}/subgroups?per_page={per_page}"
    )
    assert [g["id"] for g in subgroups] == [r["id"] for r in await db.fetch(OLD_SUBGROUPS, district["root"])]

    for group in (district["big"], district["other"]):
        links = await _walk(client, admin_headers, f"{ctx}/outcome_groups/{group}/outcomes?per_page={per_page}")
        expected = [r["id"] for r in await db.fetch(OLD_GROUP_LINKS, group)]
        link_ids = await db.fetch(
            "SELECT id, learning_outcome_id FROM learning_outcome_links WHERE associated_group_id = $1", group
        )
        by_outcome = {r["learning_outcome_id"]: r["id"] for r in link_ids}
        assert [by_outcome[link["outcome"]["id"]] for link in links] == expected

    context_links = await _walk(client, admin_headers, f"{ctx}/outcome_group_links?per_page={per_page}")
    expected_links = await db.fetch(
        f"SELECT l.associated_group_id, l.learning_outcome_id FROM ({OLD_CONTEXT_LINKS}) page "
        "JOIN learning_outcome_links l ON l.id = page.id ORDER BY l.id",
        district["account"],
    )
    assert [(link["outcome_group"]["id"], link["outcome"]["id"]) for link in context_links] == [
        (r["associated_group_id"], r["learning_outcome_id"]) for r in expected_links
    ]


async def test_a_page_resumes_after_its_bookmark_even_when_that_item_is_gone(
    client: Client, admin_headers: dict[str, str], db: asyncpg.Connection, district: dict[str, int]
) -> None:
    path = f"/api/v1/accounts/{district['account']}/outcome_groups/{district['big']}/outcomes?per_page=3"
    first = await client.get(path, headers=admin_headers)
    page = await first.json()
    following = next_link(first.headers["Link"])
    assert following is not None
    await db.execute("UPDATE learning_outcome_links SET workflow_state = 'deleted' WHERE learning_outcome_id = $1",
                     page[-1]["outcome"]["id"])  # fmt: skip
    rest = await get_all_pages(client, admin_headers, URL(following).raw_path_qs)
    expected = [r["id"] for r in await db.fetch(OLD_GROUP_LINKS, district["big"])]
    outcome_of = dict(await db.fetch("SELECT id, learning_outcome_id FROM learning_outcome_links"))
    assert [link["outcome"]["id"] for link in page[:-1] + rest] == [outcome_of[i] for i in expected]


BAD_PAGES = [
    "bookmark:",
    "bookmark:!!!!",
    "bookmark:W10",  # []
    _bookmark("[1"),
    _bookmark('"x"'),
    _bookmark("[1, 2]"),
    _bookmark("[true]"),
    _bookmark("[1.5]"),
    _bookmark("[NaN]"),
    _bookmark("[1e400]"),
    _bookmark("[" + "9" * 5000 + "]"),
    _bookmark("[9223372036854775808]"),
    _bookmark("[" * 2000),
    _bookmark(b"\xff\xfe"),
    _bookmark('["a\\u0000b", 1]'),
    _bookmark('["\\ud800", 1]'),
    "bookmark:" + "A" * 4000,
    "Ym9va21hcms6WzFd",
    "-1",
    "first ",
]


@pytest.mark.parametrize("bad", BAD_PAGES)
async def test_a_bad_bookmark_is_the_first_page(
    client: Client, admin_headers: dict[str, str], district: dict[str, int], bad: str
) -> None:
    ctx = f"/api/v1/accounts/{district['account']}"
    for path in (
        f"{ctx}/outcome_groups",
        f"{ctx}/outcome_groups/{district['root']}/subgroups",
        f"{ctx}/outcome_groups/{district['big']}/outcomes",
        f"{ctx}/outcome_group_links",
    ):
        first = await client.get(path, params={"per_page": "2"}, headers=admin_headers)
        response = await client.get(path, params={"per_page": "2", "page": bad}, headers=admin_headers)
        assert response.status == 200, (path, bad, await response.text())
        assert await response.json() == await first.json()
        assert response.headers["Link"] == first.headers["Link"]
        assert URL(next_link(response.headers["Link"]) or "").query["page"].startswith("bookmark:")


async def test_a_bookmark_past_the_end_is_an_empty_last_page(
    client: Client, admin_headers: dict[str, str], district: dict[str, int]
) -> None:
    ctx = f"/api/v1/accounts/{district['account']}"
    response = await client.get(
        f"{ctx}/outcome_groups", params={"page": encode_bookmark((2**63 - 1,))}, headers=admin_headers
    )
    assert (response.status, await response.json(), next_link(response.headers["Link"])) == (200, [], None)
    titled = await client.get(
        f"{ctx}/outcome_groups/{district['root']}/subgroups",
        params={"page": encode_bookmark(("\U0010ffff" * 3, 2**63 - 1))},
        headers=admin_headers,
    )
    assert (titled.status, await titled.json()) == (200, [])


async def test_per_page_is_bounded(
    client: Client, admin_headers: dict[str, str], db: asyncpg.Connection, district: dict[str, int]
) -> None:
    await db.execute(
        "INSERT INTO learning_outcome_groups (context_type, context_id, root_account_id, parent_id, title) "
        "SELECT 'Account', $1, $1, $2, 'g' || n FROM generate_series(1, 120) n",
        district["account"],
        district["root"],
    )
    ctx = f"/api/v1/accounts/{district['account']}"
    for per_page, size, echoed in [("1000", 100, "100"), ("101", 100, "100"), ("100", 100, "100"), ("7", 7, "7"),
                                   ("0", 10, "10"), ("-1", 10, "10"), ("x", 10, "10"), (None, 10, "10")]:  # fmt: skip
        params = {} if per_page is None else {"per_page": per_page}
        response = await client.get(f"{ctx}/outcome_groups", params=params, headers=admin_headers)
        assert len(await response.json()) == size, per_page
        assert URL(next_link(response.headers["Link"]) or "").query["per_page"] == echoed


async def test_the_error_report_walks_by_bookmark_in_row_order(
    client: Client,
    admin_headers: dict[str, str],
    db: asyncpg.Connection,
    run_worker: Callable[[], Awaitable[None]],
) -> None:
    data, errors, _, _ = outcomes_file(6000)
    import_id = await post_import(client, admin_headers, "accounts/1", data)
    await run_worker()
    # Two more errors on an early row, stored after the others: ties go by the order found (id).
    row = errors[0][0]
    await db.execute(
        "INSERT INTO outcome_import_errors (outcome_import_id, row, message) "
        "VALUES ($1, $2, 'tie 1'), ($1, $2, 'tie 2')",
        import_id,
        row,
    )
    expected = await db.fetch(
        "SELECT row, message FROM outcome_import_errors WHERE outcome_import_id = $1 ORDER BY row, id", import_id
    )
    assert len(expected) == len(errors) + 2 > 6
    url = f"/api/v1/accounts/1/outcome_imports/{import_id}/errors"
    walked = await get_all_pages(client, admin_headers, url + "?per_page=3")
    assert [(e["row"], e["message"]) for e in walked] == [(r["row"], r["message"]) for r in expected]
    for bad in (_bookmark("[2147483648, 1]"), _bookmark("[1]"), "bookmark:%%%"):
        response = await client.get(url, params={"page": bad, "per_page": "3"}, headers=admin_headers)
        assert response.status == 200
        assert [(e["row"], e["message"]) for e in await response.json()] == [
            (r["row"], r["message"]) for r in expected[:3]
        ]
