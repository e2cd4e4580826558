"""Outcome trees for tests: build them with direct INSERTs, read them back through the API, compare.

`fetch_tree` rebuilds the conformance `tree` (../shared/conformance/README.md) the way a client
would: `root_outcome_group`, then `subgroups` / `outcomes` recursively, following the `Link`
header. `assert_tree_matches` applies the README's comparison rules.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient
from yarl import URL

Node = dict[str, Any]

DEFAULT_RATINGS = (
    {"points": 5.0, "description": "Exceeds Expectations"},
    {"points": 3.0, "description": "Meets Expectations"},
    {"points": 0.0, "description": "Does Not Meet Expectations"},
)
_LINK = re.compile(r'<([^>]*)>\s*;\s*rel="([^"]*)"')


# --- reading through the API ------------------------------------------------------------------


def next_link(link_header: str | None) -> str | None:
    """The `rel="next"` URL of a Link header, if any."""
    for match in _LINK.finditer(link_header or ""):
        if match.group(2) == "next":
            return match.group(1)
    return None


async def get_all_pages(client: TestClient[Any, Any], headers: Mapping[str, str], path: str) -> list[dict[str, Any]]:
    """Every item of a paginated list, following `rel="next"` until there is none."""
    items: list[dict[str, Any]] = []
    url: str | None = path
    while url is not None:
        response = await client.get(url, headers=headers)
        assert response.status == 200, f"GET {url}: {response.status} {await response.text()}"
        items += await response.json()
        following = next_link(response.headers.get("Link"))
        # Links are absolute; the test client wants a path on its own server.
        url = None if following is None else URL(following).raw_path_qs
    return items


def _outcome_node(outcome: dict[str, Any]) -> Node:
    return {
        "kind": "outcome",
        "vendor_guid": outcome["vendor_guid"],
        "title": outcome["title"],
        "description": outcome["description"],
        "display_name": outcome["display_name"],
        "calculation_method": outcome["calculation_method"],
        "calculation_int": outcome.get("calculation_int"),  # absent for methods without one
        "mastery_points": outcome["mastery_points"],
        "ratings": [{"points": r["points"], "description": r["description"]} for r in outcome["ratings"]],
    }


async def _children(
    client: TestClient[Any, Any],
    headers: Mapping[str, str],
    group_url: str,
    groups: dict[int, dict[str, Any]],
) -> list[Node]:
    children: list[Node] = []
    for sub in await get_all_pages(client, headers, f"{group_url}/subgroups?per_page=100"):
        full = groups[sub["id"]]
        children.append(
            {
                "kind": "group",
                "vendor_guid": full["vendor_guid"],
                "title": full["title"],
                "description": full["description"],
                "children": await _children(client, headers, sub["url"], groups),
            }
        )
    for link in await get_all_pages(client, headers, f"{group_url}/outcomes?outcome_style=full&per_page=100"):
        children.append(_outcome_node(link["outcome"]))
    return children


async def fetch_tree(client: TestClient[Any, Any], headers: Mapping[str, str], context_path: str) -> Node:
    """The active tree under the root group of `context_path` (`/api/v1/accounts/2` or `accounts/2`).

    A context without any active group (so without a root) gives an empty root and is left
    without one: `root_outcome_group` would create it, so it is only called when groups exist.
    """
    if not context_path.startswith("/"):
        context_path = f"/api/v1/{context_path}"
    groups = {g["id"]: g for g in await get_all_pages(client, headers, f"{context_path}/outcome_groups?per_page=100")}
    if not groups:
        return {"kind": "root", "children": []}
    response = await client.get(f"{context_path}/root_outcome_group", headers=headers, allow_redirects=False)
    assert response.status == 302, f"root_outcome_group: {response.status} {await response.text()}"
    root_url = URL(response.headers["Location"]).path
    return {"kind": "root", "children": await _children(client, headers, root_url, groups)}


# --- comparing ----------------------------------------------------------------------------------

_NULL_IS_EMPTY = frozenset({"description", "display_name"})


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _same_value(key: str, actual: Any, expected: Any) -> bool:
    if key in _NULL_IS_EMPTY:
        return (actual or "") == (expected or "")
    if _is_number(actual) and _is_number(expected):
        return float(actual) == float(expected)
    return bool(actual == expected)


def _label(node: Mapping[str, Any]) -> str:
    return node["kind"] if node["kind"] == "root" else f"{node['kind']} {node.get('vendor_guid')!r}"


def _compare_ratings(actual: Any, expected: list[Any], where: str) -> None:
    assert isinstance(actual, list) and len(actual) == len(expected), (
        f"{where}: ratings {json.dumps(actual)} != {json.dumps(expected)}"
    )
    for i, (got, want) in enumerate(zip(actual, expected, strict=True)):
        for key, value in want.items():
            assert _same_value(key, got.get(key), value), f"{where}: ratings[{i}].{key} {got.get(key)!r} != {value!r}"


def _compare_node(actual: Mapping[str, Any], expected: Mapping[str, Any], where: str) -> None:
    assert actual.get("kind") == expected["kind"], f"{where}: kind {actual.get('kind')!r} != {expected['kind']!r}"
    for key, value in expected.items():
        if key in ("kind", "children"):
            continue
        if key == "ratings":
            _compare_ratings(actual.get("ratings"), value, where)
            continue
        got = actual.get(key)
        assert _same_value(key, got, value), f"{where}: {key} {got!r} != {value!r}"
    if "children" in expected or "children" in actual:
        _compare_children(actual.get("children") or [], expected.get("children") or [], where)


def _compare_children(actual: list[Node], expected: list[Node], where: str) -> None:
    remaining = list(actual)
    for want in expected:
        key = (want["kind"], want.get("vendor_guid"))
        match = next((i for i, got in enumerate(remaining) if (got["kind"], got.get("vendor_guid")) == key), None)
        assert match is not None, f"{where}: missing {_label(want)} (have {[_label(c) for c in remaining]})"
        _compare_node(remaining.pop(match), want, f"{where} > {_label(want)}")
    assert not remaining, f"{where}: unexpected {[_label(c) for c in remaining]}"


def assert_tree_matches(actual: Mapping[str, Any], expected: Mapping[str, Any]) -> None:
    """The conformance comparison: children unordered but exhaustive, matched by kind + vendor_guid;
    ratings ordered; numbers numerically (5 == 5.0); `description` / `display_name` only where the
    expected node has them, null == ""; the root's title is never checked. Raises AssertionError
    naming the path to the first difference."""
    assert expected.get("kind") == "root" and actual.get("kind") == "root", "both trees must start at a root"
    _compare_children(list(actual.get("children") or []), list(expected.get("children") or []), "root")


# --- building with direct INSERTs -------------------------------------------------------------


async def insert_account(db: asyncpg.Connection, name: str, parent_id: int | None = None) -> int:
    root_id = (
        None
        if parent_id is None
        else await db.fetchval("SELECT coalesce(root_account_id, id) FROM accounts WHERE id = $1", parent_id)
    )
    account_id: int = await db.fetchval(
        "INSERT INTO accounts (name, parent_account_id, root_account_id) VALUES ($1, $2, $3) RETURNING id",
        name,
        parent_id,
        root_id,
    )
    return account_id


async def insert_course(db: asyncpg.Connection, name: str, account_id: int) -> int:
    course_id: int = await db.fetchval(
        """INSERT INTO courses (name, account_id, root_account_id)
           SELECT $1, id, coalesce(root_account_id, id) FROM accounts WHERE id = $2 RETURNING id""",
        name,
        account_id,
    )
    return course_id


_SELECT_ROOT_ACCOUNT_ID = {
    "Account": "SELECT coalesce(root_account_id, id) FROM accounts WHERE id = $1",
    "Course": "SELECT root_account_id FROM courses WHERE id = $1",
}


async def _root_account_id(db: asyncpg.Connection, context_type: str, context_id: int) -> int:
    root_id: int = await db.fetchval(_SELECT_ROOT_ACCOUNT_ID[context_type], context_id)
    return root_id


async def insert_group(
    db: asyncpg.Connection,
    context: tuple[str, int],
    title: str,
    *,
    parent_id: int | None = None,
    vendor_guid: str | None = None,
    description: str | None = None,
    workflow_state: str = "active",
) -> int:
    """A group of `context` (("Account", 2)); without parent_id it is the context's root group."""
    group_id: int = await db.fetchval(
        """
        INSERT INTO learning_outcome_groups
          (context_type, context_id, root_account_id, parent_id, vendor_guid, title, description,
           workflow_state)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id""",
        context[0],
        context[1],
        await _root_account_id(db, *context),
        parent_id,
        vendor_guid,
        title,
        description,
        workflow_state,
    )
    return group_id


async def insert_outcome(
    db: asyncpg.Connection,
    context: tuple[str, int] | None,
    title: str,
    *,
    vendor_guid: str | None = None,
    description: str | None = None,
    display_name: str | None = None,
    calculation_method: str = "decaying_average",
    calculation_int: int | None = 65,
    ratings: list[dict[str, Any]] | tuple[dict[str, Any], ...] = DEFAULT_RATINGS,
    mastery_points: float | None = 3.0,
    workflow_state: str = "active",
) -> int:
    """An outcome owned by `context` (None: global); points_possible is the top tier's points."""
    points_possible = ratings[0]["points"] if ratings else None
    outcome_id: int = await db.fetchval(
        """
        INSERT INTO learning_outcomes
          (context_type, context_id, root_account_id, vendor_guid, short_description, description,
           display_name, calculation_method, calculation_int, ratings, mastery_points, points_possible,
           workflow_state)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::text::json, $11, $12, $13) RETURNING id""",
        None if context is None else context[0],
        None if context is None else context[1],
        None if context is None else await _root_account_id(db, *context),
        vendor_guid,
        title,
        description,
        display_name,
        calculation_method,
        calculation_int,
        json.dumps(list(ratings)),
        mastery_points,
        points_possible,
        workflow_state,
    )
    return outcome_id


async def insert_link(db: asyncpg.Connection, outcome_id: int, group_id: int, workflow_state: str = "active") -> int:
    """Link the outcome into the group, in the group's context."""
    link_id: int = await db.fetchval(
        """
        INSERT INTO learning_outcome_links
            (learning_outcome_id, associated_group_id, context_type, context_id, workflow_state)
        SELECT $1, id, context_type, context_id, $3 FROM learning_outcome_groups WHERE id = $2 RETURNING id
        """,
        outcome_id,
        group_id,
        workflow_state,
    )
    return link_id
