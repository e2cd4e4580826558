"""Outcome Groups / Outcomes read API (spec §11): shapes, order, pagination, permissions."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from yarl import URL

from api.pagination import encode_bookmark
from shared.tokens import token_digest
from tests.support.tree import (
    assert_tree_matches,
    fetch_tree,
    get_all_pages,
    insert_account,
    insert_course,
    insert_group,
    insert_link,
    insert_outcome,
)

Client = TestClient[Any, Any]
NOT_FOUND = {"errors": [{"message": "The specified resource does not exist."}]}


async def make_user(
    db: asyncpg.Connection, name: str, *, admin_of: tuple[int, ...] = (), teacher_of: tuple[int, ...] = ()
) -> dict[str, str]:
    """A user with a token (stored as its digest, as the service stores them); returns auth headers."""
    user_id = await db.fetchval(
        "INSERT INTO users (name, sortable_name, short_name) VALUES ($1, $1, $1) RETURNING id", name
    )
    token = f"token-{name}"
    await db.execute(
        "INSERT INTO access_tokens (user_id, token_digest, token_hint) VALUES ($1, $2, $3)",
        user_id,
        token_digest(token),
        token[-4:],
    )
    for account_id in admin_of:
        await db.execute("INSERT INTO account_users (account_id, user_id) VALUES ($1, $2)", account_id, user_id)
    for course_id in teacher_of:
        await db.execute(
            "INSERT INTO enrollments (course_id, user_id, type) VALUES ($1, $2, 'TeacherEnrollment')",
            course_id,
            user_id,
        )
    return {"Authorization": f"Bearer {token}"}


@dataclass
class World:
    a: int
    a1: int
    b: int
    c1: int
    root: int
    alg: int
    lin: int
    arith: int
    geo: int
    old: int
    b_group: int
    solve: int
    place: int
    gone: int


@pytest.fixture
async def world(db: asyncpg.Connection) -> World:
    a = await insert_account(db, "Account A")
    a1 = await insert_account(db, "Account A1", parent_id=a)
    b = await insert_account(db, "Account B")
    c1 = await insert_course(db, "Course C1", a)
    ctx = ("Account", a)
    root = await insert_group(db, ctx, "Account A")
    alg = await insert_group(db, ctx, "Algebra", parent_id=root, vendor_guid="alg", description="Algebra standards")
    lin = await insert_group(db, ctx, "Linear", parent_id=alg, vendor_guid="lin")
    arith = await insert_group(db, ctx, "arithmetic", parent_id=root, vendor_guid="arith")
    geo = await insert_group(db, ctx, "Geometry", parent_id=root, vendor_guid="geo", description="")
    old = await insert_group(db, ctx, "Old", parent_id=root, vendor_guid="old", workflow_state="deleted")
    b_root = await insert_group(db, ("Account", b), "Account B")
    b_group = await insert_group(db, ("Account", b), "B group", parent_id=b_root, vendor_guid="bg")
    solve = await insert_outcome(db, ctx, "Solve for x", vendor_guid="sx", description="<p>x</p>", display_name="ALG-1")
    place = await insert_outcome(
        db,
        ctx,
        "place value",
        vendor_guid="pv",
        calculation_method="highest",
        calculation_int=None,
        ratings=[{"points": 4, "description": "Great"}, {"points": 2.5, "description": "OK"}],
        mastery_points=2.5,
    )
    gone = await insert_outcome(db, ctx, "Gone", vendor_guid="gone", workflow_state="deleted")
    for outcome, group, state in [
        (solve, alg, "active"),
        (place, alg, "active"),
        (place, geo, "active"),
        (gone, alg, "deleted"),
        (solve, old, "deleted"),
    ]:
        await insert_link(db, outcome, group, state)
    return World(a, a1, b, c1, root, alg, lin, arith, geo, old, b_group, solve, place, gone)


def abbrev_group(
    context: str, group_id: int, title: str, vendor_guid: str | None, can_edit: bool = True
) -> dict[str, Any]:
    url = f"/api/v1/{context}/outcome_groups/{group_id}"
    return {
        "id": group_id,
        "title": title,
        "vendor_guid": vendor_guid,
        "url": url,
        "subgroups_url": f"{url}/subgroups",
        "outcomes_url": f"{url}/outcomes",
        "can_edit": can_edit,
    }


async def get(client: Client, path: str, headers: dict[str, str], status: int = 200) -> Any:
    response = await client.get(path, headers=headers)
    body = await response.json()
    assert response.status == status, (path, response.status, body)
    return body


async def test_root_outcome_group_creates_the_root_once_and_redirects(
    client: Client, admin_headers: dict[str, str], db: asyncpg.Connection, world: World
) -> None:
    for _ in range(2):
        response = await client.get(
            f"/api/v1/accounts/{world.a1}/root_outcome_group", headers=admin_headers, allow_redirects=False
        )
        assert response.status == 302
        location = URL(response.headers["Location"])
        root_id = await db.fetchval(
            "SELECT id FROM learning_outcome_groups WHERE context_type = 'Account' AND context_id = $1",
            world.a1,
        )
        assert location.is_absolute() and location.port == client.server.port
        assert location.path == f"/api/v1/accounts/{world.a1}/outcome_groups/{root_id}"
    row = await db.fetchrow(
        "SELECT title, vendor_guid, parent_id, workflow_state FROM learning_outcome_groups "
        "WHERE context_type = 'Account' AND context_id = $1",
        world.a1,
    )
    assert dict(row) == {
        "title": "Account A1",
        "vendor_guid": None,
        "parent_id": None,
        "workflow_state": "active",
    }

    response = await client.get(f"/api/v1/courses/{world.c1}/root_outcome_group", headers=admin_headers)
    assert response.status == 200  # followed the redirect
    assert (await response.json())["title"] == "Course C1"

    existing = await client.get(
        f"/api/v1/accounts/{world.a}/root_outcome_group", headers=admin_headers, allow_redirects=False
    )
    assert URL(existing.headers["Location"]).path == f"/api/v1/accounts/{world.a}/outcome_groups/{world.root}"


async def test_show_group_full_json(client: Client, admin_headers: dict[str, str], world: World) -> None:
    ctx = f"accounts/{world.a}"
    body = await get(client, f"/api/v1/{ctx}/outcome_groups/{world.alg}", admin_headers)
    assert body == {
        "id": world.alg,
        "title": "Algebra",
        "vendor_guid": "alg",
        "url": f"/api/v1/{ctx}/outcome_groups/{world.alg}",
        "subgroups_url": f"/api/v1/{ctx}/outcome_groups/{world.alg}/subgroups",
        "outcomes_url": f"/api/v1/{ctx}/outcome_groups/{world.alg}/outcomes",
        "can_edit": True,
        "import_url": f"/api/v1/{ctx}/outcome_groups/{world.alg}/import",
        "parent_outcome_group": abbrev_group(ctx, world.root, "Account A", None),
        "context_id": world.a,
        "context_type": "Account",
        "description": "Algebra standards",
    }
    root = await get(client, f"/api/v1/{ctx}/outcome_groups/{world.root}", admin_headers)
    assert "parent_outcome_group" not in root
    assert (root["vendor_guid"], root["description"], root["title"]) == (None, None, "Account A")


@pytest.mark.parametrize("which", ["deleted", "other_context", "unknown", "not_a_number"])
async def test_group_routes_404_for_groups_not_active_in_the_context(
    client: Client, admin_headers: dict[str, str], world: World, which: str
) -> None:
    group = {"deleted": world.old, "other_context": world.b_group, "unknown": 999999, "not_a_number": "abc"}[which]
    for suffix in ("", "/subgroups", "/outcomes"):
        assert (
            await get(client, f"/api/v1/accounts/{world.a}/outcome_groups/{group}{suffix}", admin_headers, 404)
            == NOT_FOUND
        )


def link_pages(response: Any) -> dict[str, URL]:
    """The Link header's URLs by rel, in the header's order."""
    return {
        rel.strip('"'): URL(url)
        for url, rel in (part.split(">; rel=") for part in response.headers["Link"].lstrip("<").split(",<"))
    }


async def test_outcome_groups_lists_active_groups_across_pages(
    client: Client, admin_headers: dict[str, str], world: World
) -> None:
    ctx = f"/api/v1/accounts/{world.a}"
    response = await client.get(f"{ctx}/outcome_groups?per_page=2&extra=kept&access_token=x", headers=admin_headers)
    assert response.status == 200
    assert [g["id"] for g in await response.json()] == [world.root, world.alg]
    links = link_pages(response)
    assert list(links) == ["current", "next", "first"]  # bookmarks: no prev, no last (no count)
    for link in links.values():
        assert link.is_absolute() and link.host == client.server.host and link.port == client.server.port
        assert link.path == f"{ctx}/outcome_groups"
        assert list(link.query) == ["extra", "page", "per_page"]
        assert link.query["extra"] == "kept" and link.query["per_page"] == "2"
    assert {rel: u.query["page"] for rel, u in links.items()} == {
        "current": "first",
        "next": encode_bookmark((world.alg,)),
        "first": "first",
    }
    # Canvas's form: "bookmark:" and the key as unpadded base64url JSON.
    key = base64.urlsafe_b64encode(f"[{world.alg}]".encode()).decode().rstrip("=")
    assert encode_bookmark((world.alg,)) == f"bookmark:{key}"

    second = await client.get(links["next"].raw_path_qs, headers=admin_headers)
    assert [g["id"] for g in await second.json()] == [world.lin, world.arith]
    assert {rel: u.query["page"] for rel, u in link_pages(second).items()} == {
        "current": encode_bookmark((world.alg,)),
        "next": encode_bookmark((world.arith,)),
        "first": "first",
    }
    last = await client.get(link_pages(second)["next"].raw_path_qs, headers=admin_headers)
    assert [g["id"] for g in await last.json()] == [world.geo]
    assert list(link_pages(last)) == ["current", "first"]

    everything = await get_all_pages(client, admin_headers, f"{ctx}/outcome_groups?per_page=2")
    assert [g["id"] for g in everything] == [world.root, world.alg, world.lin, world.arith, world.geo]
    assert everything[2]["parent_outcome_group"]["id"] == world.alg  # full JSON in the list

    first = await client.get(f"{ctx}/outcome_groups", headers=admin_headers)
    assert {rel: (u.query["page"], u.query["per_page"]) for rel, u in link_pages(first).items()} == {
        "current": ("first", "10"),
        "first": ("first", "10"),
    }


async def test_a_numeric_page_of_an_older_client_is_still_that_page(
    client: Client, admin_headers: dict[str, str], world: World
) -> None:
    ctx = f"/api/v1/accounts/{world.a}"
    response = await client.get(f"{ctx}/outcome_groups?per_page=2&page=2", headers=admin_headers)
    assert [g["id"] for g in await response.json()] == [world.lin, world.arith]
    assert {rel: u.query["page"] for rel, u in link_pages(response).items()} == {
        "current": "2",
        "next": encode_bookmark((world.arith,)),
        "first": "first",
    }
    beyond = await client.get(f"{ctx}/outcome_groups?per_page=2&page=4", headers=admin_headers)
    assert await beyond.json() == []
    assert {rel: u.query["page"] for rel, u in link_pages(beyond).items()} == {"current": "4", "first": "first"}


@pytest.mark.parametrize(
    ("query", "count"),
    [
        ("per_page=1000", 5),
        ("per_page=0", 5),
        ("per_page=100", 5),
        ("per_page=1", 1),
        ("page=0&per_page=1", 1),
        ("page=abc&per_page=-3", 5),
        ("page=99", 0),
        ("page=first&per_page=1", 1),
    ],
)
async def test_pagination_parameters_fall_back_like_canvas(
    client: Client, admin_headers: dict[str, str], world: World, query: str, count: int
) -> None:
    assert len(await get(client, f"/api/v1/accounts/{world.a}/outcome_groups?{query}", admin_headers)) == count


async def test_subgroups_are_active_abbreviated_and_ordered_by_title(
    client: Client, admin_headers: dict[str, str], world: World
) -> None:
    ctx = f"accounts/{world.a}"
    body = await get(client, f"/api/v1/{ctx}/outcome_groups/{world.root}/subgroups", admin_headers)
    assert body == [
        abbrev_group(ctx, world.alg, "Algebra", "alg"),
        abbrev_group(ctx, world.arith, "arithmetic", "arith"),
        abbrev_group(ctx, world.geo, "Geometry", "geo"),
    ]
    paged = await client.get(
        f"/api/v1/{ctx}/outcome_groups/{world.root}/subgroups?per_page=1&page=3", headers=admin_headers
    )
    assert [g["id"] for g in await paged.json()] == [world.geo]
    assert {rel: u.query["page"] for rel, u in link_pages(paged).items()} == {"current": "3", "first": "first"}
    first = await client.get(f"/api/v1/{ctx}/outcome_groups/{world.root}/subgroups?per_page=1", headers=admin_headers)
    assert {rel: u.query["page"] for rel, u in link_pages(first).items()} == {
        "current": "first",
        "next": encode_bookmark(("Algebra", world.alg)),
        "first": "first",
    }


def outcome_abbrev(world: World, outcome_id: int, guid: str, title: str, display_name: str | None) -> dict[str, Any]:
    return {
        "id": outcome_id,
        "context_type": "Account",
        "context_id": world.a,
        "vendor_guid": guid,
        "display_name": display_name,
        "title": title,
        "url": f"/api/v1/outcomes/{outcome_id}",
        "can_edit": True,
        "has_updateable_rubrics": False,
    }


async def test_group_outcomes_are_active_links_ordered_by_outcome_title(
    client: Client, admin_headers: dict[str, str], world: World
) -> None:
    ctx = f"accounts/{world.a}"
    body = await get(client, f"/api/v1/{ctx}/outcome_groups/{world.alg}/outcomes", admin_headers)
    alg = abbrev_group(ctx, world.alg, "Algebra", "alg")
    assert body == [
        {
            "context_type": "Account",
            "context_id": world.a,
            "url": f"/api/v1/{ctx}/outcome_groups/{world.alg}/outcomes/{world.place}",
            "outcome_group": alg,
            "outcome": outcome_abbrev(world, world.place, "pv", "place value", None),
            "can_unlink": True,
            "assessed": False,
        },
        {
            "context_type": "Account",
            "context_id": world.a,
            "url": f"/api/v1/{ctx}/outcome_groups/{world.alg}/outcomes/{world.solve}",
            "outcome_group": alg,
            "outcome": outcome_abbrev(world, world.solve, "sx", "Solve for x", "ALG-1"),
            "can_unlink": True,
            "assessed": False,
        },
    ]
    full = await get(client, f"/api/v1/{ctx}/outcome_groups/{world.alg}/outcomes?outcome_style=full", admin_headers)
    assert full[0]["outcome"] == {
        **outcome_abbrev(world, world.place, "pv", "place value", None),
        "description": None,
        "friendly_description": None,
        "calculation_method": "highest",
        "points_possible": 4.0,
        "mastery_points": 2.5,
        "ratings": [{"description": "Great", "points": 4.0}, {"description": "OK", "points": 2.5}],
        "assessed": False,
    }
    assert "calculation_int" not in full[0]["outcome"]
    assert full[1]["outcome"]["calculation_int"] == 65
    assert all(isinstance(r["points"], float) for r in full[1]["outcome"]["ratings"])


async def test_outcome_group_links_lists_the_context_by_link_id_with_styles(
    client: Client, admin_headers: dict[str, str], world: World
) -> None:
    ctx = f"/api/v1/accounts/{world.a}"
    body = await get(client, f"{ctx}/outcome_group_links", admin_headers)
    assert [(link["outcome_group"]["id"], link["outcome"]["id"]) for link in body] == [
        (world.alg, world.solve),
        (world.alg, world.place),
        (world.geo, world.place),
    ]
    assert "description" not in body[0]["outcome"] and "import_url" not in body[0]["outcome_group"]
    full = await get(
        client,
        f"{ctx}/outcome_group_links?outcome_style=full&outcome_group_style=full&per_page=1&page=3",
        admin_headers,
    )
    assert len(full) == 1 and full[0]["outcome"]["ratings"][1] == {"description": "OK", "points": 2.5}
    assert full[0]["outcome_group"]["parent_outcome_group"]["id"] == world.root
    assert await get(client, f"/api/v1/accounts/{world.b}/outcome_group_links", admin_headers) == []


async def test_show_outcome_full_json_and_deleted_is_404(
    client: Client, admin_headers: dict[str, str], db: asyncpg.Connection, world: World
) -> None:
    await db.execute(
        "INSERT INTO outcome_friendly_descriptions (learning_outcome_id, context_type, context_id, "
        "description) VALUES ($1, 'Account', $2, 'Find x')",
        world.solve,
        world.a,
    )
    assert await get(client, f"/api/v1/outcomes/{world.solve}", admin_headers) == {
        **outcome_abbrev(world, world.solve, "sx", "Solve for x", "ALG-1"),
        "description": "<p>x</p>",
        "friendly_description": "Find x",
        "calculation_method": "decaying_average",
        "calculation_int": 65,
        "points_possible": 5.0,
        "mastery_points": 3.0,
        "ratings": [
            {"description": "Exceeds Expectations", "points": 5.0},
            {"description": "Meets Expectations", "points": 3.0},
            {"description": "Does Not Meet Expectations", "points": 0.0},
        ],
        "assessed": False,
    }
    for missing in (world.gone, 999999, "x1"):
        assert await get(client, f"/api/v1/outcomes/{missing}", admin_headers, 404) == NOT_FOUND


async def test_deleted_objects_are_hidden_from_the_tree(
    client: Client, admin_headers: dict[str, str], world: World
) -> None:
    pv = {
        "kind": "outcome",
        "vendor_guid": "pv",
        "title": "place value",
        "calculation_method": "highest",
        "calculation_int": None,
        "mastery_points": 2.5,
        "ratings": [{"points": 4, "description": "Great"}, {"points": 2.5, "description": "OK"}],
    }
    sx = {
        "kind": "outcome",
        "vendor_guid": "sx",
        "title": "Solve for x",
        "description": "<p>x</p>",
        "display_name": "ALG-1",
        "calculation_method": "decaying_average",
        "calculation_int": 65,
        "mastery_points": 3,
        "ratings": [
            {"points": 5, "description": "Exceeds Expectations"},
            {"points": 3, "description": "Meets Expectations"},
            {"points": 0, "description": "Does Not Meet Expectations"},
        ],
    }
    expected = {
        "kind": "root",
        "children": [
            {
                "kind": "group",
                "vendor_guid": "geo",
                "title": "Geometry",
                "description": None,
                "children": [pv],
            },
            {"kind": "group", "vendor_guid": "arith", "title": "arithmetic", "children": []},
            {
                "kind": "group",
                "vendor_guid": "alg",
                "title": "Algebra",
                "description": "Algebra standards",
                "children": [
                    sx,
                    pv,
                    {"kind": "group", "vendor_guid": "lin", "title": "Linear", "children": []},
                ],
            },
        ],
    }
    assert_tree_matches(await fetch_tree(client, admin_headers, f"/api/v1/accounts/{world.a}"), expected)
    with pytest.raises(AssertionError, match="mastery_points"):
        assert_tree_matches(
            await fetch_tree(client, admin_headers, f"accounts/{world.a}"),
            {
                **expected,
                "children": [
                    *expected["children"][:2],
                    {**expected["children"][2], "children": [sx, {**pv, "mastery_points": 3}]},
                ],
            },
        )


async def test_fetch_tree_of_a_context_without_groups_creates_no_root(
    client: Client, admin_headers: dict[str, str], db: asyncpg.Connection, world: World
) -> None:
    assert await fetch_tree(client, admin_headers, f"/api/v1/accounts/{world.a1}") == {
        "kind": "root",
        "children": [],
    }
    assert await db.fetchval("SELECT count(*) FROM learning_outcome_groups WHERE context_id = $1", world.a1) == 0


def test_assert_tree_matches_rules() -> None:
    leaf = {
        "kind": "outcome",
        "vendor_guid": "o",
        "title": "T",
        "mastery_points": 3,
        "ratings": [{"points": 5}],
        "description": None,
        "display_name": "",
        "calculation_int": None,
    }
    tree = {
        "kind": "root",
        "title": "ignored",
        "children": [leaf, {"kind": "group", "vendor_guid": "o", "title": "G", "children": []}],
    }
    actual = {
        "kind": "root",
        "children": [
            {"kind": "group", "vendor_guid": "o", "title": "G", "description": "anything", "children": []},
            {
                **leaf,
                "mastery_points": 3.0,
                "ratings": [{"points": 5.0}],
                "description": "",
                "display_name": None,
            },
        ],
    }
    assert_tree_matches(actual, tree)
    assert_tree_matches({"kind": "root", "children": []}, {"kind": "root", "children": []})
    for broken, message in [
        ({**actual, "children": actual["children"][:1]}, "missing outcome"),
        (
            {
                **actual,
                "children": [*actual["children"], {"kind": "group", "vendor_guid": "x", "title": "X"}],
            },
            "unexpected",
        ),
        (
            {**actual, "children": [actual["children"][0], {**leaf, "ratings": [{"points": 4}]}]},
            r"ratings\[0\]",
        ),
        ({**actual, "children": [actual["children"][0], {**leaf, "description": "d"}]}, "description"),
    ]:
        with pytest.raises(AssertionError, match=message):
            assert_tree_matches(broken, tree)


# --- permissions -------------------------------------------------------------------------------


def _routes(world: World) -> list[str]:
    ctx = f"/api/v1/accounts/{world.a}"
    return [
        f"{ctx}/root_outcome_group",
        f"{ctx}/outcome_groups",
        f"{ctx}/outcome_groups/{world.alg}",
        f"{ctx}/outcome_groups/{world.alg}/subgroups",
        f"{ctx}/outcome_groups/{world.alg}/outcomes",
        f"{ctx}/outcome_group_links",
        f"/api/v1/outcomes/{world.solve}",
    ]


async def test_unauthenticated_and_bad_token_are_401(client: Client, world: World) -> None:
    for path in _routes(world):
        response = await client.get(path, allow_redirects=False)
        assert response.status == 401
        assert await response.json() == {
            "status": "unauthenticated",
            "errors": [{"message": "user authorization required"}],
        }
        assert response.headers["WWW-Authenticate"] == 'Bearer realm="canvas-lms"'
        bad = await client.get(path, headers={"Authorization": "Bearer nope"}, allow_redirects=False)
        assert (bad.status, await bad.json()) == (401, {"errors": [{"message": "Invalid access token."}]})


async def test_not_permitted_is_403_and_unknown_context_404(
    client: Client, db: asyncpg.Connection, world: World
) -> None:
    outsider = await make_user(db, "outsider", admin_of=(world.b,))
    for path in _routes(world):
        response = await client.get(path, headers=outsider, allow_redirects=False)
        assert response.status == 403, path
        assert await response.json() == {
            "status": "unauthorized",
            "errors": [{"message": "user not authorized to perform that action"}],
        }
    assert await get(client, "/api/v1/accounts/99999/outcome_groups", outsider, 404) == NOT_FOUND
    assert await get(client, "/api/v1/courses/99999/outcome_group_links", outsider, 404) == NOT_FOUND


async def test_rights_follow_the_account_chain(client: Client, db: asyncpg.Connection, world: World) -> None:
    sub_admin = await make_user(db, "sub-admin", admin_of=(world.a1,))
    teacher = await make_user(db, "teacher", teacher_of=(world.c1,))
    a_admin = await make_user(db, "a-admin", admin_of=(world.a,))
    await get(client, f"/api/v1/accounts/{world.a}/outcome_groups", sub_admin, 403)
    await get(client, f"/api/v1/outcomes/{world.solve}", sub_admin, 403)
    await get(client, f"/api/v1/accounts/{world.a}/outcome_groups", teacher, 403)
    assert (await get(client, f"/api/v1/outcomes/{world.solve}", a_admin))["can_edit"] is True
    for headers in (teacher, a_admin):
        await get(client, f"/api/v1/courses/{world.c1}/outcome_groups", headers)

    # An A outcome linked into A1: the A1 admin sees the link but may not edit the outcome.
    a1_root = await insert_group(db, ("Account", world.a1), "Account A1")
    await insert_link(db, world.solve, a1_root)
    links = await get(client, f"/api/v1/accounts/{world.a1}/outcome_groups/{a1_root}/outcomes", sub_admin)
    assert (
        links[0]["can_unlink"],
        links[0]["outcome_group"]["can_edit"],
        links[0]["outcome"]["can_edit"],
    ) == (True, True, False)
    links = await get(client, f"/api/v1/accounts/{world.a1}/outcome_group_links", a_admin)
    assert links[0]["outcome"]["can_edit"] is True


async def test_global_outcome_is_readable_by_anyone_editable_by_site_admins(
    client: Client, admin_headers: dict[str, str], db: asyncpg.Connection, world: World
) -> None:
    global_id = await insert_outcome(db, None, "Global", vendor_guid="glob")
    nobody = await make_user(db, "nobody")
    body = await get(client, f"/api/v1/outcomes/{global_id}", nobody)
    assert (body["context_type"], body["context_id"], body["can_edit"]) == (None, None, False)
    assert (await get(client, f"/api/v1/outcomes/{global_id}", admin_headers))["can_edit"] is True
