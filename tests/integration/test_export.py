"""`GET .../outcome_export`: the CSV, line by line, for a tree built with direct INSERTs.

Round-trip tests (export -> import -> same tree) are at the end of this module.
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aiohttp import ClientPayloadError
from aiohttp.test_utils import TestClient

from shared.tokens import token_digest
from tests.support.canvas import attachment, expect_json, wait_for_final_state
from tests.support.tree import (
    assert_tree_matches,
    fetch_tree,
    insert_account,
    insert_group,
    insert_link,
    insert_outcome,
)
from worker.csv_records import read_records

Client = TestClient[Any, Any]
HEADER = (
    "vendor_guid,object_type,title,description,display_name,calculation_method,calculation_int,mastery_points,"
    "parent_guids,workflow_state,ratings"
)


async def export_csv(client: Client, headers: dict[str, str], context_path: str) -> bytes:
    """The export of `context_path` (`/api/v1/accounts/2`), checked to be a CSV attachment."""
    response = await client.get(f"{context_path}/outcome_export", headers={**headers, "Accept": "text/csv"})
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert response.headers["Content-Disposition"].startswith("attachment; filename=")
    return await response.read()


async def _chunks(data: bytes, size: int = 7) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def strict_records(data: bytes) -> list[list[str | None]]:
    """The records as the importer's strict reader sees them (raises on anything malformed)."""
    return [[None if c is None else c.decode() for c in cells] async for _, cells in read_records(_chunks(data))]


@dataclass
class Tree:
    context: str
    g3: int
    deep: int


@pytest.fixture
async def tree(db: asyncpg.Connection) -> Tree:
    """Account A1 (under A): three nested levels, a multi-parent outcome, a foreign outcome,
    guid-less objects, values that need quoting, and deleted things that must not appear."""
    a = await insert_account(db, "Account A")
    a1 = await insert_account(db, "Account A1", parent_id=a)
    ctx = ("Account", a1)
    root = await insert_group(db, ctx, "Account A1")
    g1 = await insert_group(db, ctx, "Top, level", parent_id=root, vendor_guid="g1", description='Says "hi"')
    g2 = await insert_group(db, ctx, " Middle", parent_id=g1, vendor_guid="g2")
    g3 = await insert_group(db, ctx, "Deep", parent_id=g2)
    geo = await insert_group(db, ctx, "Équations", parent_id=root, vendor_guid="geo", description="line1\nline2")
    gone = await insert_group(db, ctx, "Gone", parent_id=root, vendor_guid="gone", workflow_state="deleted")
    hidden = await insert_group(db, ctx, "Hidden", parent_id=gone, vendor_guid="hidden")

    deep = await insert_outcome(
        db,
        ctx,
        "Deep outcome",
        mastery_points=2.5,
        ratings=[
            {"points": 10, "description": "Top"},
            {"points": 7.5, "description": "Comma, here"},
            {"points": 2.5, "description": ""},
            {"points": 0, "description": 'Quote "q"'},
        ],
    )
    await insert_link(db, deep, g3)
    multi = await insert_outcome(
        db,
        ctx,
        "Multi",
        vendor_guid="multi",
        display_name=" padded ",
        calculation_method="n_mastery",
        calculation_int=4,
    )
    for group in (g3, geo):
        await insert_link(db, multi, group)
    at_root = await insert_outcome(
        db,
        ctx,
        "At root",
        vendor_guid="at_root",
        calculation_method="highest",
        calculation_int=None,
        description="<p>a</p>",
        mastery_points=None,
        ratings=[{"points": 1e-7, "description": "tiny"}],
    )
    await insert_link(db, at_root, root)
    in_g1 = await insert_outcome(db, ctx, "In g1", vendor_guid="in_g1", mastery_points=1234567.0)
    await insert_link(db, in_g1, g1)
    foreign = await insert_outcome(db, ("Account", a), "From A", vendor_guid="foreign")
    await insert_link(db, foreign, geo)

    deleted = await insert_outcome(db, ctx, "Deleted", vendor_guid="deleted", workflow_state="deleted")
    await insert_link(db, deleted, g1, "deleted")
    unlinked = await insert_outcome(db, ctx, "Unlinked", vendor_guid="unlinked")
    await insert_link(db, unlinked, g2, "deleted")
    invisible = await insert_outcome(db, ctx, "Invisible", vendor_guid="invisible")
    await insert_link(db, invisible, hidden)
    return Tree(f"/api/v1/accounts/{a1}", g3, deep)


async def test_export_writes_parents_first_each_outcome_once(
    client: Client, admin_headers: dict[str, str], tree: Tree
) -> None:
    data = await export_csv(client, admin_headers, tree.context)
    default = "5,Exceeds Expectations,3,Meets Expectations,0,Does Not Meet Expectations"
    g3 = f"canvas_outcome_group:{tree.g3}"
    expected = [
        HEADER + "," * 7,  # four tiers at most: 8 rating cells, the first under `ratings`
        "at_root,outcome,At root,<p>a</p>,,highest,,,,active,0.0000001,tiny" + "," * 6,
        'g1,group,"Top, level","Says ""hi""",,,,,,active' + "," * 8,
        f"in_g1,outcome,In g1,,,decaying_average,65,1234567,g1,active,{default}" + "," * 2,
        'g2,group," Middle",,,,,,g1,active' + "," * 8,
        f"{g3},group,Deep,,,,,,g2,active" + "," * 8,
        f"canvas_outcome:{tree.deep},outcome,Deep outcome,,,decaying_average,65,2.5,{g3},active,"
        '10,Top,7.5,"Comma, here",2.5,,0,"Quote ""q"""',
        'geo,group,Équations,"line1\nline2",,,,,,active' + "," * 8,
        f"foreign,outcome,From A,,,decaying_average,65,3,geo,active,{default}" + "," * 2,
        f'multi,outcome,Multi,," padded ",n_mastery,4,3,{g3} geo,active,{default}' + "," * 2,
        "",
    ]
    assert data.decode("utf-8").split("\r\n") == expected


async def test_export_is_what_the_strict_importer_reads(
    client: Client, admin_headers: dict[str, str], tree: Tree
) -> None:
    records = await strict_records(await export_csv(client, admin_headers, tree.context))
    assert len({len(r) for r in records}) == 1  # rectangular: every row as wide as the header
    header = records[0]
    assert header[:11] == HEADER.split(",") and all(cell is None for cell in header[11:])
    multi = next(r for r in records if r[0] == "multi")
    assert multi[2:5] == ["Multi", None, " padded "]
    geo = next(r for r in records if r[0] == "geo")
    assert geo[3] == "line1\nline2"
    deep = next(r for r in records if r[0] == f"canvas_outcome:{tree.deep}")
    assert deep[10:] == ["10", "Top", "7.5", "Comma, here", "2.5", None, "0", 'Quote "q"']
    assert not {"deleted", "unlinked", "invisible", "hidden", "gone"} & {r[0] for r in records}


async def test_export_of_an_empty_context_is_the_header(
    client: Client, admin_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    account = await insert_account(db, "Empty")
    assert await export_csv(client, admin_headers, f"/api/v1/accounts/{account}") == (HEADER + "\r\n").encode()
    assert await db.fetchval("SELECT count(*) FROM learning_outcome_groups") == 0


async def test_export_permissions(client: Client, db: asyncpg.Connection, tree: Tree) -> None:
    response = await client.get(f"{tree.context}/outcome_export")
    assert response.status == 401
    user_id = await db.fetchval(
        "INSERT INTO users (name, sortable_name, short_name) VALUES ('u', 'u', 'u') RETURNING id"
    )
    await db.execute(
        "INSERT INTO access_tokens (user_id, token_digest, token_hint) VALUES ($1, $2, 'nope')",
        user_id,
        token_digest("plain-user"),
    )
    headers = {"Authorization": "Bearer plain-user"}
    assert (await client.get(f"{tree.context}/outcome_export", headers=headers)).status == 403
    missing = await client.get("/api/v1/accounts/424242/outcome_export", headers=headers)
    assert (missing.status, await missing.json()) == (
        404,
        {"errors": [{"message": "The specified resource does not exist."}]},
    )


async def _insert_many(db: asyncpg.Connection, account: int, count: int) -> None:
    root = await insert_group(db, ("Account", account), "Big")
    group = await insert_group(db, ("Account", account), "All", parent_id=root, vendor_guid="all")
    await db.execute(
        """
        INSERT INTO learning_outcomes
          (context_type, context_id, root_account_id, vendor_guid, short_description, description, ratings,
           mastery_points, points_possible, calculation_int)
        SELECT 'Account', $1::bigint, 1, 'big-' || $1::bigint || '-' || n, 'Outcome ' || n, repeat('x', 600),
               '[{"points": 5, "description": "Exceeds"}, {"points": 0, "description": "Not yet"}]', 3, 5, 65
        FROM generate_series(1, $2) n
        """,
        account,
        count,
    )
    await db.execute(
        """
        INSERT INTO learning_outcome_links
          (learning_outcome_id, associated_group_id, context_type, context_id)
        SELECT id, $2, 'Account', $1 FROM learning_outcomes WHERE context_id = $1
        """,
        account,
        group,
    )


async def _peak_while_exporting(client: Client, headers: dict[str, str], account: int) -> tuple[int, int]:
    """(peak traced bytes, body bytes) for one export read and discarded chunk by chunk."""
    gc.collect()
    tracemalloc.start()
    try:
        response = await client.get(f"/api/v1/accounts/{account}/outcome_export", headers=headers)
        size = 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, size


async def test_export_streams_in_flat_memory(
    client: Client, admin_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    small, big = await insert_account(db, "Small"), await insert_account(db, "Big")
    await _insert_many(db, small, 1_000)
    await _insert_many(db, big, 8_000)
    small_peak, small_size = await _peak_while_exporting(client, admin_headers, small)
    big_peak, big_size = await _peak_while_exporting(client, admin_headers, big)
    assert big_size > 7 * small_size and big_size > 5_000_000
    # Eight times the rows, about the same peak: nothing holds the whole file or result set.
    assert big_peak < small_peak + 1_000_000, (small_peak, big_peak)
    assert big_peak < big_size


async def test_a_failure_mid_stream_breaks_the_connection_instead_of_ending_the_file(
    client: Client, admin_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    account = await insert_account(db, "Big")
    await _insert_many(db, account, 20_000)
    response = await client.get(f"/api/v1/accounts/{account}/outcome_export", headers=admin_headers)
    assert response.status == 200
    await response.content.readany()
    # The export's cursor is far from done (the unread body fills the socket buffers): end its session.
    terminated = await db.fetchval(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND query LIKE '%WITH RECURSIVE tree%'"
    )
    assert terminated == 1
    with pytest.raises(ClientPayloadError):
        while await response.content.readany():
            pass


# --- round trips through the importer -------------------------------------------------------------

ROUND_TRIP_CSV = (
    "vendor_guid,object_type,title,description,display_name,calculation_method,calculation_int,mastery_points,"
    "parent_guids,ratings\n"
    'g1,group,"Top, level","Says ""hi""",,,,,,\n'
    'g2,group," Middle",,,,,,g1\n'
    'g3,group,Deep,"line1\nline2",,,,,g2\n'
    "o1,outcome,Deep outcome,<p>deep</p>,D-1,n_mastery,4,2.5,g3,"
    '10,Top,7.5,"Comma, here",2.5,,0,"Quote ""q"""\n'
    "o2,outcome,Multi,,,highest,,,g1 g3\n"
    "o3,outcome,At root,,,weighted_average,70,0.25,,1.5,Half,0.125,Eighth\n"
    "o4,outcome,Défaut,,,,,,g2\n"
).encode()


async def _import(client: Client, headers: dict[str, str], context_path: str, data: bytes, run_worker: Any) -> None:
    created = await expect_json(
        await client.post(f"/api/v1/{context_path}/outcome_imports", data=attachment(data), headers=headers),
        200,
    )
    final = await wait_for_final_state(client, headers, context_path, created["id"], run_worker)
    assert (final["workflow_state"], final["processing_errors"]) == ("succeeded", [])


async def test_export_reimports_to_the_same_tree(
    client: Client, admin_headers: dict[str, str], db: asyncpg.Connection, run_worker: Any
) -> None:
    a = await insert_account(db, "Account A")
    a1 = await insert_account(db, "Account A1", parent_id=a)
    await _import(client, admin_headers, f"accounts/{a}", ROUND_TRIP_CSV, run_worker)
    original = await fetch_tree(client, admin_headers, f"accounts/{a}")
    assert sorted(child["vendor_guid"] for child in original["children"]) == ["g1", "o3"]
    exported = await export_csv(client, admin_headers, f"/api/v1/accounts/{a}")

    # Into the same account: every row matches what is stored, so nothing changes.
    await _import(client, admin_headers, f"accounts/{a}", exported, run_worker)
    assert_tree_matches(await fetch_tree(client, admin_headers, f"accounts/{a}"), original)
    assert await export_csv(client, admin_headers, f"/api/v1/accounts/{a}") == exported

    # Into a sub-account: A's outcomes may only be linked there, and any attribute the export got
    # wrong would fail its row with "Cannot modify outcome from another context".
    await _import(client, admin_headers, f"accounts/{a1}", exported, run_worker)
    assert_tree_matches(await fetch_tree(client, admin_headers, f"accounts/{a1}"), original)
