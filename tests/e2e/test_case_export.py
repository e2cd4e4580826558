"""`GET .../outcome_export?format=case_json`: a context's tree as a CASE package that imports back
(`import_type=case_json`) with no change, through the real API and a real worker."""

from __future__ import annotations

import copy
import gc
import json
import tracemalloc
from typing import Any

import asyncpg

from tests.e2e.test_case_imports import (
    CLUSTER_A,
    CLUSTER_B,
    COUNT,
    DOC,
    DOMAIN,
    LOOSE,
    TELL,
    _association,
    _import,
    _item,
    package,
)
from tests.integration.test_export import _insert_many
from tests.support.canvas import attachment, expect_json, wait_for_final_state
from tests.support.snapshot import snapshot
from tests.support.tree import insert_account, insert_group, insert_link, insert_outcome

SUB_CLUSTER = "c6f5b0a2-1d0e-4e8e-9a51-0000000000c1"
DEEP = "c6f5b0a2-1d0e-4e8e-9a51-0000000000f1"
UNCHANGED_LINKS = {"added": 0, "removed": 0}


def deep_package() -> dict[str, Any]:
    """The test framework of tests/e2e/test_case_imports.py (an item in two clusters, an item with
    no isChildOf, a rubric) one level deeper: DOC > DOMAIN > CLUSTER_A > SUB_CLUSTER > DEEP."""
    framework = copy.deepcopy(package())
    framework["CFItems"].append(_item(SUB_CLUSTER, "K.CC.A.x", "A sub-cluster & more."))
    framework["CFItems"].append(_item(DEEP, "K.CC.A.x.1", "Count <deeply>.", notes="Line one\nline two."))
    framework["CFAssociations"].append(_association(20, "isChildOf", SUB_CLUSTER, CLUSTER_A))
    framework["CFAssociations"].append(_association(21, "isChildOf", DEEP, SUB_CLUSTER))
    return framework


async def export_case(client: Any, headers: dict[str, str], context: str) -> dict[str, Any]:
    """The CASE export of `context` (`accounts/1`), checked to be a JSON attachment in the CFPackage shape."""
    response = await client.get(f"/api/v1/{context}/outcome_export", params={"format": "case_json"}, headers=headers)
    body = await response.read()
    assert response.status == 200, body
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    assert response.headers["Content-Disposition"].endswith('.json"')
    exported: dict[str, Any] = json.loads(body)
    assert list(exported) == ["CFDocument", "CFItems", "CFAssociations", "CFRubrics"]
    document = exported["CFDocument"]
    for name in ("identifier", "uri", "creator", "title", "lastChangeDateTime"):
        assert isinstance(document[name], str) and document[name], name
    for item in exported["CFItems"]:
        for name in ("identifier", "uri", "fullStatement", "lastChangeDateTime"):
            assert isinstance(item[name], str), (name, item)
    for association in exported["CFAssociations"]:
        assert association["associationType"] == "isChildOf"
        for end in ("originNodeURI", "destinationNodeURI"):
            assert set(association[end]) == {"title", "identifier", "uri"}
    for rubric in exported["CFRubrics"]:
        (criterion,) = rubric["CFRubricCriteria"]
        assert criterion["CFItemURI"]["identifier"] in {item["identifier"] for item in exported["CFItems"]}
        assert all(isinstance(level["score"], int | float) for level in criterion["CFRubricCriterionLevels"])
    return exported


async def reimport(
    client: Any, headers: dict[str, str], run_worker: Any, exported: dict[str, Any], context: str
) -> Any:
    final = await _import(
        client,
        headers,
        run_worker,
        json.dumps(exported).encode(),
        path=f"/api/v1/{context}/outcome_imports",
        context=context,
    )
    assert (final["workflow_state"], final["processing_errors"]) == ("succeeded", [])
    return final["summary"]


def without_times(value: Any) -> Any:
    """The package but its lastChangeDateTime values (an import rewrites updated_at of what it sees)."""
    if isinstance(value, dict):
        return {key: without_times(item) for key, item in value.items() if key != "lastChangeDateTime"}
    if isinstance(value, list):
        return [without_times(item) for item in value]
    return value


def assert_nothing_changed(summary: dict[str, Any], groups: int, outcomes: int) -> None:
    assert summary["groups"] == {"created": 0, "updated": 0, "deleted": 0, "restored": 0, "unchanged": groups}
    assert summary["outcomes"] == {"created": 0, "updated": 0, "deleted": 0, "restored": 0, "unchanged": outcomes}
    assert (summary["links"], summary["rows_rejected"], summary["case_associations_skipped"]) == (UNCHANGED_LINKS, 0, 0)


async def ids_and_content(db: asyncpg.Connection) -> tuple[Any, ...]:
    groups = await db.fetch(
        "SELECT id, parent_id, vendor_guid, title, description, workflow_state FROM learning_outcome_groups ORDER BY id"
    )
    outcomes = await db.fetch(
        """SELECT id, vendor_guid, short_description, description, display_name, calculation_method, calculation_int,
                  mastery_points, ratings::text, workflow_state FROM learning_outcomes ORDER BY id"""
    )
    links = await db.fetch(
        "SELECT id, learning_outcome_id, associated_group_id, workflow_state FROM learning_outcome_links ORDER BY id"
    )
    return [tuple(r) for r in groups], [tuple(r) for r in outcomes], [tuple(r) for r in links], await snapshot(db)


async def test_a_tree_imported_from_case_exports_as_itself_and_imports_back_unchanged(
    client: Any, admin_headers: dict[str, str], run_worker: Any, db: asyncpg.Connection
) -> None:
    first = await _import(client, admin_headers, run_worker, json.dumps(deep_package()).encode())
    assert (first["workflow_state"], first["processing_errors"]) == ("succeeded", [])
    before = await ids_and_content(db)

    exported = await export_case(client, admin_headers, "accounts/1")

    # The framework's document is the root's one group: the package is the framework again.
    assert exported["CFDocument"]["identifier"] == DOC
    assert exported["CFDocument"]["title"] == "Example State Mathematics Standards"
    items = {item["identifier"]: item for item in exported["CFItems"]}
    assert set(items) == {DOMAIN, CLUSTER_A, CLUSTER_B, SUB_CLUSTER, COUNT, TELL, DEEP, LOOSE} | {
        "c6f5b0a2-1d0e-4e8e-9a51-0000000000b1"
    }
    positions = [item["identifier"] for item in exported["CFItems"]]
    assert positions.index(DOMAIN) < positions.index(CLUSTER_A) < positions.index(SUB_CLUSTER) < positions.index(DEEP)
    parents: dict[str, list[str]] = {}
    for association in exported["CFAssociations"]:
        child = association["originNodeURI"]["identifier"]
        parents.setdefault(child, []).append(association["destinationNodeURI"]["identifier"])
    assert sorted(parents[TELL]) == sorted([CLUSTER_A, CLUSTER_B])
    assert (parents[DOMAIN], parents[LOOSE], parents[DEEP]) == ([DOC], [DOC], [SUB_CLUSTER])
    assert items[COUNT]["humanCodingScheme"] == "K.CC.A.1"
    (rubric,) = [r for r in exported["CFRubrics"] if r["CFRubricCriteria"][0]["CFItemURI"]["identifier"] == COUNT]
    levels = rubric["CFRubricCriteria"][0]["CFRubricCriterionLevels"]
    assert [(level["score"], level["quality"]) for level in levels] == [
        (3.0, "Mastered"),
        (2.5, "Developing"),
        (1.0, "Beginning"),
    ]

    summary = await reimport(client, admin_headers, run_worker, exported, "accounts/1")
    assert_nothing_changed(summary, groups=5, outcomes=5)
    assert await ids_and_content(db) == before
    # And it exports the same package again.
    assert without_times(await export_case(client, admin_headers, "accounts/1")) == without_times(exported)


ROUND_TRIP_CSV = (
    "vendor_guid,object_type,title,description,display_name,calculation_method,calculation_int,mastery_points,"
    "parent_guids,ratings\n"
    'g1,group,"Top, level","Says ""hi""",,,,,,\n'
    'g2,group," Middle  spaces ",,,,,,g1\n'
    'g3,group,Deep,"<p>line1<br>line2</p>",,,,,g2\n'
    "empty,group,An empty group,,,,,,g1\n"
    "g4,group,Second top,,,,,,\n"
    "o1,outcome,Deep outcome,<p>deep &amp; <b>bold</b></p>,D-1,n_mastery,4,2.5,g3,"
    '10,Top,7.5,"Comma, here",2.5,,0,"Quote ""q"" & <b>"\n'
    "o2,outcome,Multi,,,highest,,,g1 g3\n"
    "o3,outcome,At root,,,weighted_average,70,0.125,,1.5,Half,0.125,Eighth\n"
    "o4,outcome,Défaut,,,,,,g4\n"
    "o5,outcome,No display,Plain text,,decaying_average,65,3,g2 g4\n"
).encode()


async def _import_csv(client: Any, headers: dict[str, str], run_worker: Any, data: bytes) -> None:
    created = await expect_json(
        await client.post("/api/v1/accounts/1/outcome_imports", data=attachment(data), headers=headers), 200
    )
    final = await wait_for_final_state(client, headers, "accounts/1", created["id"], run_worker)
    assert (final["workflow_state"], final["processing_errors"]) == ("succeeded", [])


async def test_a_tree_imported_from_csv_exports_with_the_root_as_document_and_imports_back_unchanged(
    client: Any, admin_headers: dict[str, str], run_worker: Any, db: asyncpg.Connection
) -> None:
    await _import_csv(client, admin_headers, run_worker, ROUND_TRIP_CSV)
    before = await ids_and_content(db)

    exported = await export_case(client, admin_headers, "accounts/1")

    # Two top-level groups and an outcome in the root: the document is the context's root.
    document = exported["CFDocument"]
    assert document["extensions"]["outcomeImports"]["context_root"] is True
    items = {item["identifier"]: item for item in exported["CFItems"]}
    assert items["empty"]["extensions"]["outcomeImports"]["object_type"] == "group"
    assert items["o1"]["extensions"]["outcomeImports"]["ratings"][-1] == {
        "points": 0,
        "description": 'Quote "q" &amp; <b></b>',  # as stored (sanitised): verbatim
    }
    roots = {a["originNodeURI"]["identifier"] for a in exported["CFAssociations"]
             if a["destinationNodeURI"]["identifier"] == document["identifier"]}
    assert roots == {"g1", "g4", "o3"}

    summary = await reimport(client, admin_headers, run_worker, exported, "accounts/1")
    assert_nothing_changed(summary, groups=5, outcomes=5)
    assert await ids_and_content(db) == before
    assert without_times(await export_case(client, admin_headers, "accounts/1")) == without_times(exported)


async def test_a_course_round_trip(
    client: Any, admin_headers: dict[str, str], run_worker: Any, db: asyncpg.Connection
) -> None:
    course = await expect_json(
        await client.post("/api/v1/accounts/1/courses", json={"course": {"name": "Math K"}}, headers=admin_headers), 200
    )
    context = f"courses/{course['id']}"
    first = await _import(
        client,
        admin_headers,
        run_worker,
        json.dumps(deep_package()).encode(),
        path=f"/api/v1/{context}/outcome_imports",
        context=context,
        mastery_points="2",
        calculation_method="latest",
    )
    assert (first["workflow_state"], first["processing_errors"]) == ("succeeded", [])
    before = await ids_and_content(db)

    exported = await export_case(client, admin_headers, context)
    assert exported["CFDocument"]["identifier"] == DOC
    deep = next(item for item in exported["CFItems"] if item["identifier"] == DEEP)
    assert deep["extensions"]["outcomeImports"]["calculation_method"] == "latest"
    assert deep["extensions"]["outcomeImports"]["mastery_points"] == 2

    summary = await reimport(client, admin_headers, run_worker, exported, context)
    assert_nothing_changed(summary, groups=5, outcomes=5)
    assert await ids_and_content(db) == before


async def test_objects_without_a_vendor_guid_take_the_canvas_form_once_then_round_trip_unchanged(
    client: Any, admin_headers: dict[str, str], run_worker: Any, db: asyncpg.Connection
) -> None:
    """Made in Canvas's UI (no vendor_guid), with an outcome linked both in the root and in a group."""
    context = ("Account", 1)
    root = await insert_group(db, context, "Site")
    group = await insert_group(db, context, "Made by hand", parent_id=root)
    other = await insert_group(db, context, "Another", parent_id=root, vendor_guid="another")
    outcome = await insert_outcome(db, context, "Hand outcome", description="<p>typed</p>")
    both = await insert_outcome(db, context, "In root and group", vendor_guid="both")
    for outcome_id, group_id in ((outcome, group), (both, root), (both, other)):
        await insert_link(db, outcome_id, group_id)

    exported = await export_case(client, admin_headers, "accounts/1")
    identifiers = {item["identifier"] for item in exported["CFItems"]}
    assert identifiers == {f"canvas_outcome_group:{group}", "another", f"canvas_outcome:{outcome}", "both"}
    parents = {
        (a["originNodeURI"]["identifier"], a["destinationNodeURI"]["identifier"]) for a in exported["CFAssociations"]
    }
    assert ("both", "another") in parents and ("both", exported["CFDocument"]["identifier"]) not in parents

    first = await reimport(client, admin_headers, run_worker, exported, "accounts/1")
    # As for the CSV export: the guid-less objects take the guid they were named by (Canvas's
    # rule), a group's NULL description becomes the importer's "" (both updates); the root link of
    # "both" goes, as the package names its group only.
    assert (first["groups"]["updated"], first["outcomes"]["updated"]) == (2, 1)
    assert first["links"] == {"added": 0, "removed": 1}
    stored = await db.fetchrow("SELECT vendor_guid, description FROM learning_outcome_groups WHERE id = $1", group)
    assert tuple(stored) == (f"canvas_outcome_group:{group}", "")
    stored = await db.fetchrow("SELECT vendor_guid FROM learning_outcomes WHERE id = $1", outcome)
    assert tuple(stored) == (f"canvas_outcome:{outcome}",)
    before = await ids_and_content(db)
    again = await export_case(client, admin_headers, "accounts/1")
    summary = await reimport(client, admin_headers, run_worker, again, "accounts/1")
    assert_nothing_changed(summary, groups=2, outcomes=2)
    assert await ids_and_content(db) == before


async def test_an_empty_context_exports_a_document_alone(client: Any, admin_headers: dict[str, str]) -> None:
    exported = await export_case(client, admin_headers, "accounts/1")
    assert (exported["CFItems"], exported["CFAssociations"], exported["CFRubrics"]) == ([], [], [])
    assert exported["CFDocument"]["extensions"]["outcomeImports"]["context_root"] is True


async def test_an_unknown_format_is_a_400(client: Any, admin_headers: dict[str, str]) -> None:
    response = await client.get("/api/v1/accounts/1/outcome_export", params={"format": "xml"}, headers=admin_headers)
    body = await expect_json(response, 400)
    assert body == {"errors": [{"message": "Unknown format 'xml': use one of csv, case_json"}]}
    csv = await client.get("/api/v1/accounts/1/outcome_export", params={"format": "csv"}, headers=admin_headers)
    assert (csv.status, csv.headers["Content-Type"]) == (200, "text/csv; charset=utf-8")


async def _peak_while_exporting(client: Any, headers: dict[str, str], account: int) -> tuple[int, int]:
    """(peak traced bytes, body bytes) for one CASE export read and discarded chunk by chunk."""
    gc.collect()
    tracemalloc.start()
    try:
        response = await client.get(
            f"/api/v1/accounts/{account}/outcome_export", params={"format": "case_json"}, headers=headers
        )
        assert response.status == 200
        size = 0
        async for chunk in response.content.iter_chunked(64 * 1024):
            size += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return peak, size


async def test_the_package_streams_in_flat_memory(
    client: Any, admin_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    small, big = await insert_account(db, "Small"), await insert_account(db, "Big")
    # Both above the cursor's 1,000 rows fetched at a time.
    await _insert_many(db, small, 1_000)
    await _insert_many(db, big, 6_000)
    small_peak, small_size = await _peak_while_exporting(client, admin_headers, small)
    big_peak, big_size = await _peak_while_exporting(client, admin_headers, big)
    assert big_size > 5 * small_size and big_size > 10_000_000
    # Six times the rows, about the same peak: nothing holds the whole package or a pass's rows.
    assert big_peak < small_peak + 1_000_000, (small_peak, big_peak)
    assert big_peak < big_size
