"""canvasapi (the Canvas client most Python scripts use) reads whole lists from this service.

Its PaginatedList follows the `Link` header's `next` URL, stripping its own base URL off it, so
this proves the bookmarked pages from a real third-party client: every item, in the order of the
lists' one-page answers, over several pages.
"""

from __future__ import annotations

import asyncio
import warnings
from typing import Any

import asyncpg
import canvasapi
from aiohttp.test_utils import TestClient

from tests.conftest import ADMIN_TOKEN
from tests.support.tree import get_all_pages, insert_account, insert_group, insert_link, insert_outcome

Client = TestClient[Any, Any]
TITLES = ("apple", "Apple", "APPLE", "", "Éclair", "éclair", "zebra", "Zebra", "10", "9")


def _read_with_canvasapi(base_url: str, account_id: int, group_id: int, root_id: int) -> dict[str, list[Any]]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # canvasapi warns about a plain-HTTP base URL
        canvas = canvasapi.Canvas(base_url, ADMIN_TOKEN)
    account = canvas.get_account(account_id)
    group = account.get_outcome_group(group_id)
    root = account.get_outcome_group(root_id)
    return {
        "links": [
            (link.outcome_group["id"], link.outcome["id"])
            for link in account.get_all_outcome_links_in_context(per_page=7)
        ],
        "groups": [g.id for g in account.get_outcome_groups_in_context(per_page=2)],
        "subgroups": [g.id for g in root.get_subgroups(per_page=2)],
        "outcomes": [link.outcome["id"] for link in group.get_linked_outcomes(per_page=3)],
    }


async def test_canvasapi_reads_every_list_across_bookmarked_pages(
    client: Client, admin_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    account = await insert_account(db, "canvasapi")
    ctx = ("Account", account)
    root = await insert_group(db, ctx, "canvasapi")
    groups = [await insert_group(db, ctx, title, parent_id=root) for title in TITLES]
    for n, title in enumerate(TITLES * 3):
        outcome = await insert_outcome(db, ctx, title, vendor_guid=f"capi-{n}")
        await insert_link(db, outcome, groups[n % 2])

    base_url = f"http://{client.server.host}:{client.server.port}"
    read = await asyncio.to_thread(_read_with_canvasapi, base_url, account, groups[0], root)

    path = f"/api/v1/accounts/{account}"
    one_page = {
        "links": [(link["outcome_group"]["id"], link["outcome"]["id"])
                  for link in await get_all_pages(client, admin_headers, f"{path}/outcome_group_links?per_page=100")],
        "groups": [g["id"] for g in await get_all_pages(client, admin_headers, f"{path}/outcome_groups?per_page=100")],
        "subgroups": [g["id"] for g in await get_all_pages(
            client, admin_headers, f"{path}/outcome_groups/{root}/subgroups?per_page=100")],
        "outcomes": [link["outcome"]["id"] for link in await get_all_pages(
            client, admin_headers, f"{path}/outcome_groups/{groups[0]}/outcomes?per_page=100")],
    }  # fmt: skip
    assert [len(items) for items in one_page.values()] == [30, 11, 10, 15]
    assert read == one_page
