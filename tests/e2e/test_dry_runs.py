"""Dry runs and summaries (issue 14): a dry run changes nothing, and reports what the same
upload then does for real, count for count and error for error."""

from __future__ import annotations

from typing import Any

import asyncpg

from tests.support.canvas import attachment, expect_json, wait_for_final_state
from tests.support.snapshot import whole_database

IMPORTS = "/api/v1/accounts/1/outcome_imports"
HEADER = "vendor_guid,object_type,title,parent_guids,workflow_state\n"
SETUP = HEADER + (
    "geo,group,Geometry,,\n"
    "shp,group,Shapes,geo,\n"
    "tri,outcome,Identify triangles,shp,\n"
    "keep,group,Keep,,\n"
    "rsn,outcome,Reasoning,shp keep,\n"
    "ang,outcome,Measure angles,,\n"
    "gone,outcome,Gone,keep,\n"
)
DELETE_GONE = HEADER + "keep,group,Keep,,\ngone,outcome,Gone,keep,deleted\n"
# Every kind of change, and two rejected rows (8 and 9).
CHANGES = HEADER + (
    "geo,group,Geometry,,deleted\n"  # deletes geo, and shp under it: tri loses its only link
    "keep,group,Keep (renamed),,\n"
    "new,group,New group,,\n"
    "ang,outcome,Measure angles,,\n"
    "n1,outcome,New outcome,new,\n"
    "gone,outcome,Gone,keep,\n"
    "bad,outcome,,new,\n"
    "bad2,outcome,Bad parent,nope,\n"
)
CHANGES_SUMMARY = {
    "groups": {"created": 1, "updated": 1, "deleted": 2, "restored": 0, "unchanged": 0},
    "outcomes": {"created": 1, "updated": 0, "deleted": 1, "restored": 1, "unchanged": 1},
    "links": {"added": 2, "removed": 2},
    "rows_rejected": 2,
}


async def _import(client: Any, headers: dict[str, str], run_worker: Any, csv: str, **params: str) -> dict[str, Any]:
    resp = await client.post(
        "/api/v1/accounts/1/outcome_imports", params=params, data=attachment(csv.encode()), headers=headers
    )
    created = await expect_json(resp, 200)
    return await wait_for_final_state(client, headers, "accounts/1", created["id"], run_worker)


async def _errors(client: Any, headers: dict[str, str], final: dict[str, Any]) -> list[Any]:
    report = await expect_json(await client.get(final["errors_url"], headers=headers), 200)
    return [(e["row"], e["message"]) for e in report]


async def test_a_dry_run_changes_nothing_and_reports_what_the_import_then_does(
    client: Any, admin_headers: dict[str, str], run_worker: Any, db: asyncpg.Connection
) -> None:
    setup = await _import(client, admin_headers, run_worker, SETUP)
    deleted = await _import(client, admin_headers, run_worker, DELETE_GONE)
    assert deleted["summary"] == {
        "groups": {"created": 0, "updated": 0, "deleted": 0, "restored": 0, "unchanged": 1},
        "outcomes": {"created": 0, "updated": 0, "deleted": 1, "restored": 0, "unchanged": 0},
        "links": {"added": 0, "removed": 1},
        "rows_rejected": 0,
    }
    latest = await expect_json(await client.get(f"{IMPORTS}/latest", headers=admin_headers), 200)
    before = await whole_database(db)

    dry = await _import(client, admin_headers, run_worker, CHANGES, dry_run="true")

    assert await whole_database(db) == before
    assert (dry["workflow_state"], dry["dry_run"], dry["summary"], dry["error_count"]) == (
        "succeeded",
        True,
        CHANGES_SUMMARY,
        2,
    )
    dry_errors = await _errors(client, admin_headers, dry)
    assert [row for row, _ in dry_errors] == [8, 9]
    assert dry["processing_errors"] == [list(e) for e in dry_errors]
    # Never the context's latest import, and it created no group that lasted.
    after = await expect_json(await client.get(f"{IMPORTS}/latest", headers=admin_headers), 200)
    assert after["id"] == latest["id"] != dry["id"]
    created = await client.get(f"{IMPORTS}/{dry['id']}/created_group_ids", headers=admin_headers)
    assert await expect_json(created, 200) == []

    real = await _import(client, admin_headers, run_worker, CHANGES)

    assert (real["dry_run"], real["summary"], real["error_count"]) == (False, CHANGES_SUMMARY, 2)
    assert await _errors(client, admin_headers, real) == dry_errors
    assert await whole_database(db) != before
    assert setup["summary"] == {
        "groups": {"created": 3, "updated": 0, "deleted": 0, "restored": 0, "unchanged": 0},
        "outcomes": {"created": 4, "updated": 0, "deleted": 0, "restored": 0, "unchanged": 0},
        "links": {"added": 5, "removed": 0},
        "rows_rejected": 0,
    }


async def test_a_reimport_reports_everything_unchanged(
    client: Any, admin_headers: dict[str, str], run_worker: Any
) -> None:
    await _import(client, admin_headers, run_worker, SETUP)
    again = await _import(client, admin_headers, run_worker, SETUP)
    # Group rows are always written (Canvas saves them), but nothing they hold changed.
    assert again["summary"] == {
        "groups": {"created": 0, "updated": 0, "deleted": 0, "restored": 0, "unchanged": 3},
        "outcomes": {"created": 0, "updated": 0, "deleted": 0, "restored": 0, "unchanged": 4},
        "links": {"added": 0, "removed": 0},
        "rows_rejected": 0,
    }


async def test_a_dry_run_that_fails_keeps_only_its_one_error(
    client: Any, admin_headers: dict[str, str], run_worker: Any, db: asyncpg.Connection
) -> None:
    before = await whole_database(db)
    final = await _import(client, admin_headers, run_worker, HEADER, dry_run="1")
    assert (final["workflow_state"], final["dry_run"], final["summary"], final["error_count"]) == (
        "failed",
        True,
        None,
        1,
    )
    assert final["processing_errors"] == [[1, "File has no outcomes data"]]
    assert await whole_database(db) == before


async def test_a_dry_run_stores_every_error_beyond_the_first_25(
    client: Any, admin_headers: dict[str, str], run_worker: Any
) -> None:
    rows = "".join(f"o{n},outcome,,,\n" for n in range(40))
    final = await _import(client, admin_headers, run_worker, HEADER + rows, dry_run="yes")
    assert (final["workflow_state"], final["error_count"], len(final["processing_errors"])) == ("succeeded", 40, 25)
    assert final["summary"]["rows_rejected"] == 40
    report = await client.get(final["errors_url"] + "?per_page=100", headers=admin_headers)
    assert [e["row"] for e in await expect_json(report, 200)] == list(range(2, 42))


async def test_an_invalid_dry_run_value_is_a_400(client: Any, admin_headers: dict[str, str]) -> None:
    resp = await client.post(
        "/api/v1/accounts/1/outcome_imports?dry_run=maybe", data=attachment(SETUP.encode()), headers=admin_headers
    )
    assert await expect_json(resp, 400) == {
        "errors": [{"message": "Invalid dry_run: maybe", "error_code": "invalid_dry_run"}]
    }


async def test_a_new_import_reports_no_summary_until_it_ends(client: Any, admin_headers: dict[str, str]) -> None:
    resp = await client.post(IMPORTS, data=attachment(SETUP.encode()), headers=admin_headers)
    created = await expect_json(resp, 200)
    assert {k: created[k] for k in ("dry_run", "error_count", "errors_url", "summary")} == {
        "dry_run": False,
        "error_count": 0,
        "errors_url": f"/api/v1/accounts/1/outcome_imports/{created['id']}/errors",
        "summary": None,
    }
