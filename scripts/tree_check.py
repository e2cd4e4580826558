"""The proof an import of a generated file (scripts/generate_outcomes.py) did exactly its work: what an
Account context holds, in SQL and through the API, against what the file describes.

Used by bench.py (one district account, imported three times) and scale_test.py (one sub-account per
import). Each check is {"ok", "expected", "actual"}.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import asyncpg
from generate_outcomes import (
    CHANGED_TOP_TIER,
    REVISED_DESCRIPTION_SUFFIX,
    REVISED_TITLE_SUFFIX,
    GeneratedFile,
)
from harness import progress
from yarl import URL

ACCOUNT = "context_type = 'Account' AND context_id = $1"
COUNT_GROUPS = f"SELECT count(*) FROM learning_outcome_groups WHERE {ACCOUNT} AND workflow_state = 'active' AND parent_id IS NOT NULL"  # noqa: E501
COUNT_OUTCOMES = f"SELECT count(*) FROM learning_outcomes WHERE {ACCOUNT} AND workflow_state = 'active'"
COUNT_LINKS = f"SELECT count(*) FROM learning_outcome_links WHERE {ACCOUNT} AND workflow_state = 'active'"
# Links are read by context (an index) wherever a query joins them: the table holds every context's.
LINKS_PER_OUTCOME = """
SELECT n, count(*) FROM (
    SELECT count(l.id) AS n FROM learning_outcomes o
      LEFT JOIN learning_outcome_links l ON l.learning_outcome_id = o.id AND l.workflow_state = 'active'
       AND l.context_type = o.context_type AND l.context_id = o.context_id
     WHERE o.context_type = 'Account' AND o.context_id = $1 AND o.workflow_state = 'active'
     GROUP BY o.id) per_outcome
 GROUP BY n"""
TREE_BY_DEPTH = f"""
WITH RECURSIVE tree AS (
    SELECT id, 0 AS depth FROM learning_outcome_groups WHERE {ACCOUNT} AND parent_id IS NULL
    UNION ALL
    SELECT g.id, t.depth + 1 FROM learning_outcome_groups g JOIN tree t ON g.parent_id = t.id
     WHERE g.workflow_state = 'active'),
links AS (SELECT associated_group_id FROM learning_outcome_links WHERE {ACCOUNT} AND workflow_state = 'active')
SELECT t.depth, count(DISTINCT t.id) AS groups, count(l.associated_group_id) AS links
  FROM tree t
  LEFT JOIN links l ON l.associated_group_id = t.id
 GROUP BY t.depth"""
METHODS = f"""
SELECT calculation_method || coalesce('/' || calculation_int, '') AS method, count(*) FROM learning_outcomes
 WHERE {ACCOUNT} AND workflow_state = 'active' GROUP BY 1"""
CHANGED = f"""
SELECT count(*) FILTER (WHERE right(short_description, length($2)) = $2) AS titles,
       count(*) FILTER (WHERE right(description, length($3)) = $3) AS descriptions,
       count(*) FILTER (WHERE ratings -> 0 ->> 'description' = $4) AS ratings
  FROM learning_outcomes WHERE {ACCOUNT} AND workflow_state = 'active'"""
# MATERIALIZED: else PostgreSQL finds min() and max() by walking the whole (group, outcome) index.
SAMPLE_GROUPS = f"""
WITH links AS MATERIALIZED (
    SELECT associated_group_id FROM learning_outcome_links WHERE {ACCOUNT} AND workflow_state = 'active')
SELECT DISTINCT unnest(ARRAY[min(associated_group_id), max(associated_group_id)]) AS id FROM links"""
GROUP_OUTCOME_IDS = "SELECT learning_outcome_id FROM learning_outcome_links WHERE associated_group_id = $1 AND workflow_state = 'active'"  # noqa: E501


async def check_tree(
    conn: asyncpg.Connection,
    session: aiohttp.ClientSession,
    account_id: int,
    generated: GeneratedFile,
    final: dict[str, Any],
) -> dict[str, dict[str, Any]]:
    """What the account holds against what the file describes; each check {"ok", "expected", "actual"}."""
    checks: dict[str, dict[str, Any]] = {}

    def check(name: str, expected: Any, actual: Any, ok: bool | None = None) -> None:
        checks[name] = {
            "ok": expected == actual if ok is None else ok,
            "expected": expected,
            "actual": actual,
        }

    g = generated
    check("no_row_errors", [], final["processing_errors"])
    check("groups", g.groups, await conn.fetchval(COUNT_GROUPS, account_id))
    check("outcomes", g.outcomes, await conn.fetchval(COUNT_OUTCOMES, account_id))
    check("links", g.links, await conn.fetchval(COUNT_LINKS, account_id))
    expected_per_outcome = {"1": g.outcomes - g.multi_linked_outcomes, "2": g.multi_linked_outcomes}
    check(
        "links_per_outcome",
        {k: v for k, v in expected_per_outcome.items() if v},
        {str(r["n"]): r["count"] for r in sorted(await conn.fetch(LINKS_PER_OUTCOME, account_id))},
    )
    tree = {r["depth"]: r for r in await conn.fetch(TREE_BY_DEPTH, account_id)}
    check("groups_reachable_from_root", g.groups, sum(r["groups"] for d, r in tree.items() if d > 0))
    check("max_group_depth", g.max_group_depth, max(tree, default=0))
    check(
        "links_by_group_depth",
        {str(d): n for d, n in g.links_by_depth.items()},
        {str(d): r["links"] for d, r in sorted(tree.items()) if r["links"]},
    )
    check(
        "calculation_methods",
        g.methods,
        dict(sorted((r["method"], r["count"]) for r in await conn.fetch(METHODS, account_id))),
    )
    changed = await conn.fetchrow(
        CHANGED, account_id, REVISED_TITLE_SUFFIX, REVISED_DESCRIPTION_SUFFIX, CHANGED_TOP_TIER
    )
    check(
        "changed_rows",
        {"titles": g.changed_titles, "descriptions": g.changed_descriptions, "ratings": g.changed_ratings},
        dict(changed),
    )
    sample = [r["id"] for r in await conn.fetch(SAMPLE_GROUPS, account_id) if r["id"] is not None]
    for group_id in sample:  # none when there are no links: the counts above say so
        expected_ids = {r[0] for r in await conn.fetch(GROUP_OUTCOME_IDS, group_id)}
        got: set[int] = set()
        group_path = f"/api/v1/accounts/{account_id}/outcome_groups/{group_id}"
        next_url: str | None = f"{group_path}/outcomes?per_page=100"
        while next_url is not None:
            async with session.get(next_url) as resp:
                body = await resp.json()
                link = resp.links.get("next")
            if resp.status != 200:
                got, next_url = {-resp.status}, None  # shows as a wrong count; the body goes to stderr
                progress(f"GET {group_path}/outcomes answered {resp.status}: {body}")
                continue
            next_url = None if link is None else URL(link["url"]).path_qs
            got |= {item["outcome"]["id"] for item in body}
        check(f"api_group_{group_id}_outcomes", len(expected_ids), len(got), ok=expected_ids == got)
    return checks
