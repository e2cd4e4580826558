"""Database time of the first and the last page of each bookmarked list, on a database you name.

For the lists of the Outcome Groups API and the error report (shared/db/outcome_lists.py,
shared/db/import_errors.py): EXPLAIN ANALYZE of the page statement exactly as the API runs it
(one row more than a page), planning plus execution time, median of --runs, for the first page
and for the last (its bookmark read from the list itself). A bookmarked list should cost the same
at both ends; README "Reads at scale" has the figures of a 1,000,000-row district.

    .venv/bin/python scripts/page_costs.py --database-url postgresql://.../oi_bench_123 --account 2 \\
        [--group ID ...] [--import ID ...] [--per-page 100] [--runs 7]

`--account` measures the account's links and groups, and its root group's subgroups; each
`--group` a group's outcomes (as seen from the account), each `--import` an import's errors. It
only reads. Fill a database with `make bench ARGS="--rows 1000000 --keep-database"`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
from typing import Any

import asyncpg

from shared.db import import_errors, outcome_lists

ROOT_GROUP = (
    "SELECT id FROM learning_outcome_groups WHERE context_type = 'Account' AND context_id = $1 AND parent_id IS NULL"
)
LINK_KEYS = """
SELECT l.id FROM learning_outcome_links l JOIN learning_outcomes o ON o.id = l.learning_outcome_id
WHERE l.context_type = 'Account' AND l.context_id = $1 AND l.workflow_state = 'active' AND o.workflow_state = 'active'
ORDER BY l.id
"""
GROUP_KEYS = """
SELECT id FROM learning_outcome_groups
WHERE context_type = 'Account' AND context_id = $1 AND workflow_state = 'active' ORDER BY id
"""
SUBGROUP_KEYS = """
SELECT title, id FROM learning_outcome_groups WHERE parent_id = $1 AND workflow_state = 'active'
ORDER BY lower(title), title, id
"""
GROUP_LINK_KEYS = """
SELECT o.short_description AS title, l.id FROM learning_outcome_links l
JOIN learning_outcomes o ON o.id = l.learning_outcome_id
WHERE l.associated_group_id = $1 AND l.workflow_state = 'active' AND o.workflow_state = 'active'
ORDER BY lower(o.short_description), o.short_description, l.id
"""
ERROR_KEYS = "SELECT row, id FROM outcome_import_errors WHERE outcome_import_id = $1 ORDER BY row, id"


async def _ms(conn: asyncpg.Connection, runs: int, sql: str, *args: Any) -> float:
    times = []
    for _ in range(runs):
        plan = json.loads(await conn.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + sql, *args))[0]
        times.append(plan["Planning Time"] + plan["Execution Time"])
    return round(statistics.median(times), 2)


def _last_start(keys: list[asyncpg.Record], per_page: int) -> tuple[Any, ...] | None:
    """The key the last page starts after (None: the list has one page)."""
    if len(keys) <= per_page:
        return None
    return tuple(keys[(len(keys) - 1) // per_page * per_page - 1])


async def measure(args: argparse.Namespace) -> list[tuple[str, int, float, float]]:
    conn = await asyncpg.connect(args.database_url)
    limit, runs = args.per_page + 1, args.runs
    viewer = ("Account", args.account, [args.account])
    found: list[tuple[str, int, float, float]] = []

    async def both(
        name: str, keys: list[asyncpg.Record], sql: str, head: tuple[Any, ...], start: tuple[Any, ...]
    ) -> None:
        last = _last_start(keys, args.per_page) or start
        first_ms = await _ms(conn, runs, sql, *head, *start, limit, 0)
        last_ms = await _ms(conn, runs, sql, *head, *last, limit, 0)
        found.append((name, len(keys), first_ms, last_ms))

    try:
        start_id = (outcome_lists.START_ID,)
        start_title = (outcome_lists.START_TITLE, outcome_lists.START_ID)
        links = await conn.fetch(LINK_KEYS, args.account)
        await both("a context's links", links, outcome_lists.SELECT_CONTEXT_LINKS_PAGE, viewer, start_id)
        groups = await conn.fetch(GROUP_KEYS, args.account)
        await both("a context's groups", groups, outcome_lists.SELECT_GROUPS_PAGE, viewer[:2], start_id)
        root = await conn.fetchval(ROOT_GROUP, args.account)
        subgroups = await conn.fetch(SUBGROUP_KEYS, root)
        await both("the root group's subgroups", subgroups, outcome_lists.SELECT_SUBGROUPS_PAGE, (root,), start_title)
        for group in args.group:
            keys = await conn.fetch(GROUP_LINK_KEYS, group)
            sql = outcome_lists.SELECT_GROUP_LINKS_PAGE
            await both(f"group {group}'s outcomes", keys, sql, (*viewer, group), start_title)
        for import_id in args.import_id:
            keys = await conn.fetch(ERROR_KEYS, import_id)
            start = (import_errors.START_ROW, import_errors.START_ID)
            await both(f"import {import_id}'s errors", keys, import_errors.SELECT_ERRORS_AFTER, (import_id,), start)
    finally:
        await conn.close()
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--account", type=int, required=True, help="an account id (its links, groups, subgroups)")
    parser.add_argument("--group", type=int, action="append", default=[], help="a group of that account")
    parser.add_argument("--import", dest="import_id", type=int, action="append", default=[], help="an import id")
    parser.add_argument("--per-page", type=int, default=100)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    rows = asyncio.run(measure(args))
    width = max(len(name) for name, *_ in rows)
    print(f"{'list':{width}}  {'items':>9}  {'first page ms':>13}  {'last page ms':>12}")
    for name, items, first_ms, last_ms in rows:
        print(f"{name:{width}}  {items:>9,}  {first_ms:>13}  {last_ms:>12}")


if __name__ == "__main__":
    main()
