"""CASE packages (issue 18): `import_type=case_json` through the real API and a real worker, into
the same tree an Outcomes CSV makes; packages built here from the CASE data model (written for
these tests, shaped like a published mathematics framework)."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from scripts.generate_case_package import generate
from shared.settings import Settings
from tests.support.canvas import expect_json, wait_for_final_state
from tests.support.snapshot import whole_database

IMPORTS = "/api/v1/accounts/1/outcome_imports"
DATA = Path(__file__).parent.parent / "data" / "case"
OUTCOME_TABLES = ("learning_outcome_groups", "learning_outcomes", "learning_outcome_links", "accounts", "courses")
DOC = "c6f5b0a2-1d0e-4e8e-9a51-000000000001"
DOMAIN = "c6f5b0a2-1d0e-4e8e-9a51-0000000000d1"
CLUSTER_A = "c6f5b0a2-1d0e-4e8e-9a51-0000000000ca"
CLUSTER_B = "c6f5b0a2-1d0e-4e8e-9a51-0000000000cb"
COUNT = "c6f5b0a2-1d0e-4e8e-9a51-0000000000a1"
TELL = "c6f5b0a2-1d0e-4e8e-9a51-0000000000a2"
COMPARE = "c6f5b0a2-1d0e-4e8e-9a51-0000000000b1"
LOOSE = "c6f5b0a2-1d0e-4e8e-9a51-0000000000ee"


def _node(identifier: str) -> dict[str, str]:
    return {"title": "", "identifier": identifier, "uri": f"https://case.example.org/uri/{identifier}"}


def _association(n: int, kind: str, origin: str, destination: str) -> dict[str, Any]:
    return {
        "identifier": f"a0000000-0000-4000-8000-{n:012d}",
        "uri": f"https://case.example.org/uri/a{n}",
        "associationType": kind,
        "originNodeURI": _node(origin),
        "destinationNodeURI": _node(destination),
        "lastChangeDateTime": "2026-01-15T10:00:00+00:00",
    }


def _item(identifier: str, code: str, statement: str, **more: Any) -> dict[str, Any]:
    return {
        "identifier": identifier,
        "uri": f"https://case.example.org/uri/{identifier}",
        "fullStatement": statement,
        "humanCodingScheme": code,
        "lastChangeDateTime": "2026-01-15T10:00:00+00:00",
        **more,
    }


def package(version: str = "1.1") -> dict[str, Any]:
    """A kindergarten counting framework: a domain, two clusters, three standards (one in both
    clusters, listed before its second cluster), one standard with no isChildOf at all, a rubric,
    and an exactMatchOf (not an outcome)."""
    document = {
        "identifier": DOC,
        "uri": f"https://case.example.org/uri/{DOC}",
        "creator": "Example State",
        "title": "Example State Mathematics Standards",
        "description": "Kindergarten & grade 1.",
        "lastChangeDateTime": "2026-01-15T10:00:00+00:00",
    }
    if version == "1.1":
        document["caseVersion"] = "1.1"
        document["frameworkType"] = "Standards"
    return {
        "CFDocument": document,
        "CFItems": [
            _item(DOMAIN, "K.CC", "Counting and Cardinality", abbreviatedStatement="Counting"),
            _item(CLUSTER_A, "K.CC.A", "Know number names and the count sequence."),
            _item(COUNT, "K.CC.A.1", "Count to 100 by ones and by tens.", notes="Oral counting."),
            _item(TELL, "K.CC.A.2", "Count forward beginning from a given number (instead of having to begin at 1)."),
            _item(CLUSTER_B, "K.CC.B", "Count to tell the number of objects."),
            _item(COMPARE, "K.CC.C.6", "Identify whether the number of objects is greater than < less than."),
            _item(LOOSE, "", "Use mathematical reasoning."),
        ],
        "CFAssociations": [
            _association(1, "isChildOf", DOMAIN, DOC),
            _association(2, "isChildOf", CLUSTER_A, DOMAIN),
            _association(3, "isChildOf", COUNT, CLUSTER_A),
            _association(4, "isChildOf", TELL, CLUSTER_A),
            _association(5, "isChildOf", TELL, CLUSTER_B),
            _association(6, "isChildOf", CLUSTER_B, DOMAIN),
            _association(7, "isChildOf", COMPARE, CLUSTER_B),
            _association(8, "exactMatchOf", COUNT, "d0000000-0000-4000-8000-000000000099"),
        ],
        "CFDefinitions": {"CFItemTypes": []},
        "CFRubrics": [
            {
                "identifier": "r0000000-0000-4000-8000-000000000001",
                "title": "Counting rubric",
                "CFRubricCriteria": [
                    {
                        "identifier": "r0000000-0000-4000-8000-000000000002",
                        "CFItemURI": _node(COUNT),
                        "CFRubricCriterionLevels": [
                            {"identifier": "l1", "quality": "Beginning", "score": 1},
                            {"identifier": "l3", "quality": "Mastered", "score": 3},
                            {"identifier": "l2", "quality": "Developing", "score": 2.5},
                        ],
                    }
                ],
            }
        ],
    }


async def _import(
    client: Any,
    headers: dict[str, str],
    run_worker: Any,
    body: bytes | None,
    path: str = IMPORTS,
    context: str = "accounts/1",
    **params: str,
) -> dict[str, Any]:
    resp = await client.post(
        path,
        params={"import_type": "case_json", **params},
        data=body,
        headers={**headers, "Content-Type": "application/json"},
    )
    created = await expect_json(resp, 200)
    assert created["data"] == {"import_type": "case_json"}
    return await wait_for_final_state(client, headers, context, created["id"], run_worker)


async def _errors(client: Any, headers: dict[str, str], final: dict[str, Any]) -> list[tuple[int, str]]:
    report = await expect_json(await client.get(final["errors_url"], headers=headers), 200)
    return [(e["row"], e["message"]) for e in report]


async def _tree(db: asyncpg.Connection, context_type: str = "Account", context_id: int = 1) -> dict[str, Any]:
    """vendor_guid -> (title, parent vendor_guids) of active groups and outcomes of a context."""
    groups = await db.fetch(
        """SELECT g.vendor_guid, g.title, g.description, p.vendor_guid AS parent, p.parent_id IS NULL AS under_root
           FROM learning_outcome_groups g LEFT JOIN learning_outcome_groups p ON p.id = g.parent_id
           WHERE g.context_type = $1 AND g.context_id = $2 AND g.vendor_guid IS NOT NULL
             AND g.workflow_state = 'active'""",
        context_type,
        context_id,
    )
    outcomes = await db.fetch(
        """SELECT o.vendor_guid, o.short_description, o.display_name, o.description, o.ratings, o.mastery_points,
                  o.calculation_method, array_agg(g.vendor_guid ORDER BY g.vendor_guid) AS parents
           FROM learning_outcomes o JOIN learning_outcome_links l ON l.learning_outcome_id = o.id
           JOIN learning_outcome_groups g ON g.id = l.associated_group_id
           WHERE l.context_type = $1 AND l.context_id = $2 AND l.workflow_state = 'active'
           GROUP BY o.id""",
        context_type,
        context_id,
    )
    tree: dict[str, Any] = {g["vendor_guid"]: dict(g) for g in groups}
    tree.update({o["vendor_guid"]: dict(o) for o in outcomes})
    return tree


async def test_a_framework_imports_as_groups_and_outcomes(
    client: Any, admin_headers: dict[str, str], run_worker: Any, db: asyncpg.Connection
) -> None:
    final = await _import(client, admin_headers, run_worker, json.dumps(package()).encode())

    assert (final["workflow_state"], final["processing_errors"]) == ("succeeded", [])
    assert final["summary"] == {
        "groups": {"created": 4, "updated": 0, "deleted": 0, "restored": 0, "unchanged": 0},
        "outcomes": {"created": 4, "updated": 0, "deleted": 0, "restored": 0, "unchanged": 0},
        "links": {"added": 5, "removed": 0},
        "rows_rejected": 0,
        "case_associations_skipped": 1,
    }
    tree = await _tree(db)
    assert tree[DOC]["title"] == "Example State Mathematics Standards"
    assert tree[DOC]["under_root"] and tree[DOC]["description"] == "<p>Kindergarten &amp; grade 1.</p>"
    assert (tree[DOMAIN]["title"], tree[DOMAIN]["parent"]) == ("K.CC Counting", DOC)
    assert tree[CLUSTER_B]["title"] == "K.CC.B Count to tell the number of objects."
    assert tree[CLUSTER_B]["parent"] == DOMAIN
    count = tree[COUNT]
    assert count["short_description"] == "K.CC.A.1 Count to 100 by ones and by tens."
    assert count["display_name"] == "K.CC.A.1"
    assert count["description"] == "<p>Count to 100 by ones and by tens.</p><p>Oral counting.</p>"
    assert [(r["points"], r["description"]) for r in json.loads(count["ratings"])] == [
        (3.0, "Mastered"),
        (2.5, "Developing"),
        (1.0, "Beginning"),
    ]
    assert tree[TELL]["parents"] == sorted([CLUSTER_A, CLUSTER_B])  # listed before its second parent
    assert tree[COMPARE]["description"] == (
        "<p>Identify whether the number of objects is greater than &lt; less than.</p>"
    )
    assert (tree[LOOSE]["parents"], tree[LOOSE]["display_name"]) == ([DOC], None)
    # No rubric and no parameters: the CSV importer's defaults.
    assert json.loads(tree[COMPARE]["ratings"])[0] == {"points": 5.0, "description": "Exceeds Expectations"}


async def test_a_package_exported_by_a_case_provider(
    client: Any, admin_headers: dict[str, str], run_worker: Any, db: asyncpg.Connection
) -> None:
    """OpenSALT's own export of a small framework (tests/data/case/README.md), unchanged."""
    body = (DATA / "opensalt-smartlevel-framework.json").read_bytes()
    final = await _import(client, admin_headers, run_worker, body)
    assert (final["workflow_state"], final["processing_errors"]) == ("succeeded", [])
    assert final["summary"] == {
        "groups": {"created": 3, "updated": 0, "deleted": 0, "restored": 0, "unchanged": 0},
        "outcomes": {"created": 12, "updated": 0, "deleted": 0, "restored": 0, "unchanged": 0},
        "links": {"added": 12, "removed": 0},
        "rows_rejected": 0,
        "case_associations_skipped": 0,
    }
    tree = await _tree(db)
    titles = {row["title"] if "title" in row else row["short_description"] for row in tree.values()}
    assert {"SmartLevel Test", "Item 1", "Item 2", "Item 1.10", "Item 2.2"} <= titles
    item_1 = next(guid for guid, row in tree.items() if row.get("title") == "Item 1")
    assert sum(1 for row in tree.values() if row.get("parents") == [item_1]) == 10


async def test_a_newer_version_updates_in_place_and_the_same_one_changes_nothing(
    client: Any, admin_headers: dict[str, str], run_worker: Any, db: asyncpg.Connection
) -> None:
    first = package()
    await _import(client, admin_headers, run_worker, json.dumps(first).encode())
    ids_before = {r["vendor_guid"]: r["id"] for r in await db.fetch("SELECT id, vendor_guid FROM learning_outcomes")}
    again = await _import(client, admin_headers, run_worker, json.dumps(first).encode())
    assert again["summary"]["outcomes"] == {"created": 0, "updated": 0, "deleted": 0, "restored": 0, "unchanged": 4}

    newer = copy.deepcopy(first)
    newer["CFItems"][2]["fullStatement"] = "Count to 100 by ones, fives and tens."
    dropped = _association(5, "isChildOf", TELL, CLUSTER_B)["identifier"]  # TELL leaves CLUSTER_B
    newer["CFAssociations"] = [a for a in newer["CFAssociations"] if a["identifier"] != dropped]
    final = await _import(client, admin_headers, run_worker, json.dumps(newer).encode())

    assert final["workflow_state"] == "succeeded"
    assert final["summary"]["outcomes"]["updated"] == 1
    ids_after = {r["vendor_guid"]: r["id"] for r in await db.fetch("SELECT id, vendor_guid FROM learning_outcomes")}
    assert ids_after == ids_before
    tree = await _tree(db)
    assert tree[COUNT]["short_description"] == "K.CC.A.1 Count to 100 by ones, fives and tens."
    assert (tree[TELL]["parents"], final["summary"]["links"]) == ([CLUSTER_A], {"added": 0, "removed": 1})


async def test_case_1_0_wrapped_into_a_course_target_group_with_rating_parameters(
    client: Any, admin_headers: dict[str, str], run_worker: Any, db: asyncpg.Connection
) -> None:
    course = await expect_json(
        await client.post("/api/v1/accounts/1/courses", json={"course": {"name": "Math K"}}, headers=admin_headers), 200
    )
    root = await db.fetchval(
        """INSERT INTO learning_outcome_groups (context_type, context_id, root_account_id, title)
           VALUES ('Course', $1, 1, 'Math K') RETURNING id""",
        course["id"],
    )
    target = await db.fetchval(
        """INSERT INTO learning_outcome_groups (context_type, context_id, root_account_id, parent_id, title)
           VALUES ('Course', $1, 1, $2, 'Standards') RETURNING id""",
        course["id"],
        root,
    )
    body = json.dumps({"CFPackage": package("1.0")}).encode()
    final = await _import(
        client,
        admin_headers,
        run_worker,
        body,
        path=f"/api/v1/courses/{course['id']}/outcome_imports/group/{target}",
        context=f"courses/{course['id']}",
        ratings='4,Exceeds,3,"Meets, fully",1,Below',
        mastery_points="3",
        calculation_method="highest",
    )

    assert (final["workflow_state"], final["processing_errors"]) == ("succeeded", [])
    doc_parent = await db.fetchval("SELECT parent_id FROM learning_outcome_groups WHERE vendor_guid = $1", DOC)
    assert doc_parent == target
    tree = await _tree(db, "Course", course["id"])
    compare = tree[COMPARE]
    assert [(r["points"], r["description"]) for r in json.loads(compare["ratings"])] == [
        (4.0, "Exceeds"),
        (3.0, "Meets, fully"),
        (1.0, "Below"),
    ]
    assert (compare["mastery_points"], compare["calculation_method"]) == (3.0, "highest")
    # The rubric wins over the parameters for the item it points at.
    assert [r["points"] for r in json.loads(tree[COUNT]["ratings"])] == [3.0, 2.5, 1.0]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'{"CFDocument": {"identifier": "x"}, "CFItems": [', "The file is not valid JSON"),
        (b"[1, 2]", "Not a CASE package: the file is not a JSON object"),
        (b'{"CFItems": [], "CFAssociations": []}', "Not a CASE package: it has no CFDocument"),
        (b'{"CFDocument": {"title": "T"}, "CFItems": []}', "Not a CASE package: its CFDocument has no identifier"),
    ],
)
async def test_a_file_that_is_not_a_case_package_fails_with_one_message(
    client: Any, admin_headers: dict[str, str], run_worker: Any, body: bytes, message: str
) -> None:
    final = await _import(client, admin_headers, run_worker, body)
    assert final["workflow_state"] == "failed"
    [[row, text]] = final["processing_errors"]
    assert row == 1 and text.startswith(message), text


async def test_an_ischildof_cycle_fails_naming_an_item_on_it(
    client: Any, admin_headers: dict[str, str], run_worker: Any, db: asyncpg.Connection
) -> None:
    broken = package()
    broken["CFAssociations"].append(_association(9, "isChildOf", DOMAIN, COUNT))  # COUNT is under DOMAIN
    before = await whole_database(db)
    final = await _import(client, admin_headers, run_worker, json.dumps(broken).encode())
    assert final["workflow_state"] == "failed"
    [[_, text]] = final["processing_errors"]
    assert "cycle" in text and any(f'"{item}"' in text for item in (DOMAIN, CLUSTER_A, COUNT)), text
    after = await whole_database(db)
    tables = OUTCOME_TABLES[:3]  # a failed import becomes its context's latest: accounts change
    assert {table: after[table] for table in tables} == {table: before[table] for table in tables}


async def test_unknown_parents_and_bad_items_are_row_errors_naming_the_item(
    client: Any, admin_headers: dict[str, str], run_worker: Any
) -> None:
    broken = package()
    # CLUSTER_B's parent is not in the package: it, and COMPARE under it only, cannot be placed.
    broken["CFAssociations"][5] = _association(6, "isChildOf", CLUSTER_B, "d0000000-0000-4000-8000-00000000dead")
    broken["CFItems"].append(_item(COUNT, "K.X", "A second item with COUNT's identifier."))
    broken["CFItems"].append({"fullStatement": "No identifier."})
    broken["CFItems"].append(_item("bad guid", "K.Y", "Spaces in the identifier."))
    broken["CFItems"].append(7)
    broken["CFAssociations"].append(_association(10, "isChildOf", "not-in-the-package", DOMAIN))  # orphans nothing
    final = await _import(client, admin_headers, run_worker, json.dumps(broken).encode())

    assert final["workflow_state"] == "succeeded"
    errors = await _errors(client, admin_headers, final)
    assert errors == [
        # TELL is in CLUSTER_A and CLUSTER_B: as for a CSV row, a parent not made is a row error,
        # naming its item as every error of a CASE import does.
        (5, f'CFItem "{TELL}": Parent references not found prior to this row: ["{CLUSTER_B}"]'),
        (6, f'CFItem "{CLUSTER_B}": its parent in CFAssociations[5] (isChildOf) is not in the package'),
        (7, f'CFItem "{COMPARE}": Parent references not found prior to this row: ["{CLUSTER_B}"]'),
        (9, f'CFItem "{COUNT}": an earlier CFItem or the CFDocument has the same identifier'),
        (10, "CFItems[8] has no identifier"),
        (11, 'CFItem "bad guid": The "vendor_guid" field must have no spaces'),
        (12, "CFItems[10] is not an object"),
    ]
    assert (final["summary"]["rows_rejected"], final["summary"]["case_associations_skipped"]) == (7, 2)
    report = await expect_json(await client.get(final["errors_url"], headers=admin_headers), 200)
    assert [(e["code"], e["column"]) for e in report] == [
        ("parent_not_found", "parent_guids"),
        ("case_parent_unknown", "parent_guids"),
        ("parent_not_found", "parent_guids"),
        ("case_identifier_repeated", "vendor_guid"),
        ("case_identifier_missing", "vendor_guid"),
        ("vendor_guid_spaces", "vendor_guid"),
        ("case_item_not_object", None),
    ]


async def test_a_group_with_two_parents_goes_under_the_first(
    client: Any, admin_headers: dict[str, str], run_worker: Any, db: asyncpg.Connection
) -> None:
    shared = package()
    shared["CFAssociations"].append(_association(11, "isChildOf", CLUSTER_A, DOC))  # a second parent
    final = await _import(client, admin_headers, run_worker, json.dumps(shared).encode())
    assert (final["workflow_state"], final["processing_errors"]) == ("succeeded", [])
    assert final["summary"]["case_associations_skipped"] == 2
    assert (await _tree(db))[CLUSTER_A]["parent"] == DOMAIN


async def test_a_dry_run_changes_nothing(
    client: Any, admin_headers: dict[str, str], run_worker: Any, db: asyncpg.Connection
) -> None:
    before = await whole_database(db)
    dry = await _import(client, admin_headers, run_worker, json.dumps(package()).encode(), dry_run="true")
    assert (dry["workflow_state"], dry["dry_run"], dry["summary"]["outcomes"]["created"]) == ("succeeded", True, 4)
    after = await whole_database(db)
    assert {table: after[table] for table in OUTCOME_TABLES} == {table: before[table] for table in OUTCOME_TABLES}


async def test_a_multipart_upload_and_bad_parameters(
    client: Any, admin_headers: dict[str, str], run_worker: Any, db: asyncpg.Connection
) -> None:
    # Fields after the file count as those before it do (Rails reads the whole form first).
    form = aiohttp.FormData()
    form.add_field("attachment", json.dumps(package()).encode(), filename="k.json", content_type="application/json")
    form.add_field("import_type", "case_json")
    form.add_field("mastery_points", "2")
    created = await expect_json(await client.post(IMPORTS, data=form, headers=admin_headers), 200)
    final = await wait_for_final_state(client, admin_headers, "accounts/1", created["id"], run_worker)
    assert (final["workflow_state"], final["data"]) == ("succeeded", {"import_type": "case_json"})
    assert await db.fetchval("SELECT mastery_points FROM learning_outcomes WHERE vendor_guid = $1", COMPARE) == 2.0

    bad = await _import(client, admin_headers, run_worker, json.dumps(package()).encode(), ratings="1,Low,3,High")
    assert bad["workflow_state"] == "failed"
    assert "Points for tier 2 must be less than points for prior tier" in bad["processing_errors"][0][1]

    method = await _import(client, admin_headers, run_worker, json.dumps(package()).encode(), calculation_method="x")
    assert method["workflow_state"] == "failed"
    assert method["processing_errors"][0][1].startswith(
        "Invalid request parameters for the CASE import: Calculation method calculation_method must be one of"
    )
    # A retry is the same import again: its parameters too (without them it would succeed).
    retried = await expect_json(await client.post(f"{IMPORTS}/{method['id']}/retry", headers=admin_headers), 201)
    again = await wait_for_final_state(client, admin_headers, "accounts/1", retried["id"], run_worker)
    assert (again["workflow_state"], again["processing_errors"]) == ("failed", method["processing_errors"])

    latin = await client.post(
        IMPORTS,
        params={"import_type": "case_json"},
        data=json.dumps(package()).encode(),
        headers={**admin_headers, "Content-Type": "application/json; charset=utf-8"},
    )
    assert latin.status == 200


# case_package_url: a CASE provider in the test process, over plain http on loopback.


@pytest.fixture
async def provider() -> AsyncIterator[str]:
    app = web.Application()

    async def serve(request: web.Request) -> web.StreamResponse:
        return web.json_response(package())

    async def redirect(request: web.Request) -> web.StreamResponse:
        raise web.HTTPFound(request.query["to"])

    released = asyncio.Event()

    async def never(request: web.Request) -> web.StreamResponse:
        await released.wait()  # answers only once the test is over: the fetch's time limit ends it
        return web.Response(status=204)

    app.router.add_get("/ims/case/v1p0/CFPackages/{id}", serve)
    app.router.add_get("/redirect", redirect)
    app.router.add_get("/never", never)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}"
    released.set()
    await runner.cleanup()


@pytest.fixture
def case_fetch() -> dict[str, Any]:
    """The fetch settings of this module's tests (a test may parametrize its own): the local provider allowed."""
    return {"case_fetch_hosts": "127.0.0.1,localhost", "case_fetch_allow_private": True}


@pytest.fixture
def settings(settings: Settings, case_fetch: dict[str, Any]) -> Settings:
    return settings.with_(**case_fetch)


async def test_case_package_url_fetches_from_a_provider(
    client: Any, admin_headers: dict[str, str], run_worker: Any, provider: str, db: asyncpg.Connection
) -> None:
    url = f"{provider}/ims/case/v1p0/CFPackages/{DOC}"
    final = await _import(client, admin_headers, run_worker, None, case_package_url=url)
    assert (final["workflow_state"], final["summary"]["outcomes"]["created"]) == ("succeeded", 4)
    assert await db.fetchval("SELECT file_name FROM outcome_imports WHERE id = $1", final["id"]) == "case_package.json"

    missing = await client.post(
        IMPORTS,
        params={"import_type": "case_json", "case_package_url": f"{provider}/nothing"},
        headers=admin_headers,
    )
    assert (await expect_json(missing, 502))["errors"][0]["message"] == (
        "The CASE provider answered 404 for case_package_url"
    )
    form = aiohttp.FormData(default_to_multipart=True)  # a url-encoded body would be the file itself
    form.add_field("case_package_url", url)
    form.add_field("import_type", "case_json")
    form.add_field("dry_run", "true")
    created = await expect_json(await client.post(IMPORTS, data=form, headers=admin_headers), 200)
    dry = await wait_for_final_state(client, admin_headers, "accounts/1", created["id"], run_worker)
    assert (dry["workflow_state"], dry["dry_run"], dry["summary"]["outcomes"]["unchanged"]) == ("succeeded", True, 4)
    both = aiohttp.FormData()
    both.add_field("attachment", b"{}", filename="k.json")
    both.add_field("case_package_url", url)
    refused = await client.post(IMPORTS, params={"import_type": "case_json"}, data=both, headers=admin_headers)
    message = (await expect_json(refused, 400))["errors"][0]["message"]
    assert message == "Give either a file or case_package_url, not both"
    csv = await client.post(IMPORTS, params={"case_package_url": url}, headers=admin_headers)
    assert (await expect_json(csv, 400))["errors"][0]["message"] == "case_package_url is for import_type=case_json"


STRICT = {"case_fetch_hosts": "*", "case_fetch_allow_private": False}


@pytest.mark.parametrize("case_fetch", [STRICT])
async def test_case_package_url_refuses_private_addresses_without_the_setting(
    client: Any, admin_headers: dict[str, str], provider: str, settings: Settings, db: asyncpg.Connection
) -> None:
    port = provider.rsplit(":", 1)[1]
    for url, why in [
        (f"{provider}/ims/case/v1p0/CFPackages/{DOC}", "case_package_url must be an https:// URL"),
        (f"https://127.0.0.1:{port}/x", "case_package_url's host 127.0.0.1 is a private address"),
        ("https://10.1.2.3/x", "case_package_url's host 10.1.2.3 is a private address"),
        ("https://[::ffff:169.254.169.254]/x", "case_package_url's host ::ffff:a9fe:a9fe is a private address"),
        ("https://user:pw@case.example.org/x", "case_package_url must not carry credentials"),
        # A name is checked by the connection's own lookup: no second lookup to rebind.
        (f"https://localhost:{port}/x", "case_package_url's host localhost resolves to a private address"),
    ]:
        resp = await client.post(
            IMPORTS, params={"import_type": "case_json", "case_package_url": url}, headers=admin_headers
        )
        body = await expect_json(resp, 400)
        assert body["errors"][0] == {"message": why, "error_code": "case_package_url_refused"}, url
    assert await db.fetchval("SELECT count(*) FROM outcome_imports") == 0


@pytest.mark.parametrize("case_fetch", [{"case_fetch_hosts": "127.0.0.1", "case_fetch_allow_private": True}])
async def test_case_package_url_follows_no_redirect_elsewhere(
    client: Any, admin_headers: dict[str, str], provider: str
) -> None:
    url = f"{provider}/redirect?to=http://localhost:1/x"
    params = {"import_type": "case_json", "case_package_url": url}
    resp = await client.post(IMPORTS, params=params, headers=admin_headers)
    assert (await expect_json(resp, 400))["errors"][0]["message"] == (
        "case_package_url's host localhost is not one this server fetches from"
    )


@pytest.mark.parametrize("case_fetch", [{}])
async def test_case_package_url_is_off_unless_hosts_are_set(
    client: Any, admin_headers: dict[str, str], provider: str
) -> None:
    url = f"{provider}/ims/case/v1p0/CFPackages/{DOC}"
    params = {"import_type": "case_json", "case_package_url": url}
    resp = await client.post(IMPORTS, params=params, headers=admin_headers)
    assert (await expect_json(resp, 400))["errors"][0]["message"] == (
        "case_package_url is not enabled on this server (OUTCOME_IMPORTS_CASE_FETCH_HOSTS)"
    )


async def test_a_package_listing_children_before_parents_imports_in_several_reads(
    client: Any, admin_headers: dict[str, str], run_worker: Any, tmp_path: Path, db: asyncpg.Connection
) -> None:
    path = tmp_path / "reversed.json"
    figures = generate(path, items=400, seed=3, wrapped=True, reverse=True)
    final = await _import(client, admin_headers, run_worker, path.read_bytes(), ratings="3,Yes,0,No")
    assert (final["workflow_state"], final["processing_errors"]) == ("succeeded", [])
    assert final["summary"]["groups"]["created"] == figures["groups"]
    assert final["summary"]["outcomes"]["created"] == figures["outcomes"]
    assert final["summary"]["case_associations_skipped"] == figures["associations_skipped"]
    links = await db.fetchval("SELECT count(*) FROM learning_outcome_links WHERE workflow_state = 'active'")
    # One link per isChildOf of an outcome (the groups' own isChildOf make the tree).
    assert links == figures["associations_is_child_of"] - (figures["groups"] - 1)


@pytest.mark.parametrize(
    "case_fetch",
    [{"case_fetch_hosts": "127.0.0.1", "case_fetch_allow_private": True, "case_fetch_timeout_seconds": 1}],
)
async def test_case_package_url_is_bounded_in_time_and_size(
    client: Any, admin_headers: dict[str, str], provider: str, settings: Settings, db: asyncpg.Connection
) -> None:
    params = {"import_type": "case_json", "case_package_url": f"{provider}/never"}
    slow = await client.post(IMPORTS, params=params, headers=admin_headers)
    assert (await expect_json(slow, 504))["errors"][0]["message"] == "case_package_url took too long to fetch"

    params["case_package_url"] = f"{provider}/ims/case/v1p0/CFPackages/{DOC}"
    small = settings.with_(max_upload_bytes=1000)
    from api.case_packages import fetch_package
    from shared.errors import UploadTooLarge

    with pytest.raises(UploadTooLarge):
        async with fetch_package(params["case_package_url"], small) as fetched:
            async for _ in fetched.chunks:
                pass
    assert await db.fetchval("SELECT count(*) FROM outcome_imports") == 0
