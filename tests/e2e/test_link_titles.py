"""A group's outcomes are listed by their titles, which each link carries (migration 0022): the
copy follows every change of an outcome's title, in every group and context that links it."""

from __future__ import annotations

from typing import Any

import asyncpg

from shared.db.integrity import check_integrity
from tests.support.canvas import attachment, expect_json, wait_for_final_state

HEADER = "vendor_guid,object_type,title,parent_guids\n"


async def _import(client: Any, headers: dict[str, str], run_worker: Any, path: str, csv: str) -> None:
    resp = await client.post(f"/api/v1/{path}/outcome_imports", data=attachment(csv.encode()), headers=headers)
    created = await expect_json(resp, 200)
    final = await wait_for_final_state(client, headers, path, created["id"], run_worker)
    assert (final["workflow_state"], final["processing_errors"]) == ("succeeded", []), final


async def _titles_in_group(client: Any, headers: dict[str, str], group_id: int) -> list[str]:
    url = f"/api/v1/accounts/1/outcome_groups/{group_id}/outcomes?per_page=2"
    titles: list[str] = []
    while url:
        resp = await client.get(url, headers=headers)
        titles += [link["outcome"]["title"] for link in await expect_json(resp, 200)]
        next_url = resp.links.get("next", {}).get("url")
        url = next_url.path_qs if next_url is not None else ""
    return titles


async def test_renaming_an_outcome_reorders_every_group_that_links_it(
    client: Any, admin_headers: dict[str, str], run_worker: Any, db: asyncpg.Connection
) -> None:
    await _import(
        client,
        admin_headers,
        run_worker,
        "accounts/1",
        HEADER
        + "g1,group,One,\ng2,group,Two,\n"
        + 'zeta,outcome,Zeta,"g1 g2"\nmid,outcome,Middle,g1\nfirst,outcome,alpha,"g1 g2"\n',
    )
    g1 = await db.fetchval("SELECT id FROM learning_outcome_groups WHERE vendor_guid = 'g1'")
    g2 = await db.fetchval("SELECT id FROM learning_outcome_groups WHERE vendor_guid = 'g2'")
    assert await _titles_in_group(client, admin_headers, g1) == ["alpha", "Middle", "Zeta"]

    # Renamed by a row naming g1 only: its link in g2 is removed, and still follows the title.
    await _import(client, admin_headers, run_worker, "accounts/1", HEADER + "g1,group,One,\nzeta,outcome,Aardvark,g1\n")

    assert await _titles_in_group(client, admin_headers, g1) == ["Aardvark", "alpha", "Middle"]
    assert await _titles_in_group(client, admin_headers, g2) == ["alpha"]
    titles = await db.fetch(
        "SELECT DISTINCT l.outcome_title FROM learning_outcome_links l JOIN learning_outcomes o"
        " ON o.id = l.learning_outcome_id WHERE o.vendor_guid = 'zeta'"
    )
    assert [r["outcome_title"] for r in titles] == ["Aardvark"]
    assert await check_integrity(db, stale_after_seconds=60) == []


async def test_a_link_inserted_without_a_title_gets_its_outcome_s(db: asyncpg.Connection) -> None:
    outcome = await db.fetchval(
        "INSERT INTO learning_outcomes (context_type, context_id, root_account_id, short_description)"
        " VALUES ('Account', 1, 1, 'Written elsewhere') RETURNING id"
    )
    group = await db.fetchval(
        "INSERT INTO learning_outcome_groups (context_type, context_id, root_account_id, title)"
        " VALUES ('Account', 1, 1, 'G') RETURNING id"
    )
    title = await db.fetchval(
        "INSERT INTO learning_outcome_links (learning_outcome_id, associated_group_id, context_type, context_id)"
        " VALUES ($1, $2, 'Account', 1) RETURNING outcome_title",
        outcome,
        group,
    )
    assert title == "Written elsewhere"
