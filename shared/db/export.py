"""Queries of the CSV export (`GET .../outcome_export`): the context's tree as finished CSV lines.

PostgreSQL writes every record, quoted and formatted exactly as the importer needs it (RFC 4180,
`\\r\\n`), so the API only concatenates bytes: building the cells in Python cost several times
what reading the rows did (README, "Outcome Groups (read-only) and export").
`tests/integration/test_export_lines.py` holds these records byte for byte against the Python
rules they replace (`tests/support/export_reference.py`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import NamedTuple

import asyncpg

from shared.db.accounts import Context


class ExportLine(NamedTuple):
    line: bytes  # one CSV record, UTF-8, ending in CRLF
    max_tiers: int  # the most rating tiers of any outcome exported (the same on every line)


# The visible tree: groups reachable from the root through active groups (a group under a
# deleted parent is invisible, so it is not exported either). `path` is the id path from the
# root; ordering by it lists parents before children. The recursive step looks each group's
# children up by parent_id (a lateral subquery, kept whole by OFFSET 0, whose context conditions
# no index can serve): right after a large import, before autovacuum has analysed the tables,
# PostgreSQL otherwise read the context's index and compared every group of the context with
# every group of the previous level, which made a 100,000-row export take 5 s more.
_VISIBLE_TREE = """
WITH RECURSIVE tree (id, guid, parent_guid, path) AS (
    SELECT g.id, NULL::text COLLATE "C", NULL::text COLLATE "C", ARRAY[g.id]  -- as vendor_guid
    FROM learning_outcome_groups g
    WHERE g.context_type = $1 AND g.context_id = $2 AND g.parent_id IS NULL
  UNION ALL
    SELECT g.id, coalesce(nullif(g.vendor_guid, ''), 'canvas_outcome_group:' || g.id), t.guid, t.path || g.id
    FROM tree t CROSS JOIN LATERAL (
        SELECT c.id, c.vendor_guid FROM learning_outcome_groups c
        WHERE c.parent_id = t.id AND c.context_type || '' = $1 AND c.context_id + 0 = $2 AND c.workflow_state = 'active'
        OFFSET 0
    ) g
), placed AS (
    SELECT l.learning_outcome_id AS id,
           max(t.path) || 0::bigint AS sort_key,
           string_agg(t.guid, ' ' ORDER BY t.path) AS parent_guids
    FROM learning_outcome_links l JOIN tree t ON t.id = l.associated_group_id
    WHERE l.workflow_state = 'active'
    GROUP BY l.learning_outcome_id
)
"""

# Characters Python's str.strip() removes: a cell that starts or ends with one is quoted, so that
# the importer keeps it verbatim.
_STRIPPED = "\t\n\v\f\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
# A cell is quoted when it holds a separator, a quote or a line break, or has leading or trailing
# whitespace (the regular expression is the query's third parameter).
NEEDS_QUOTES_PATTERN = f'[,"\r\n]|^[{_STRIPPED}]|[{_STRIPPED}]$'


def _cell(expression: str) -> str:
    """SQL for one text cell: RFC 4180 quoting when needed; NULL stays NULL."""
    x = expression
    return f"""(CASE WHEN {x} ~ $3 THEN '"' || replace({x}, '"', '""') || '"' ELSE {x} END)"""


def _number(expression: str) -> str:
    """SQL for a float8 as digits the importer reads back to the same float, never an exponent:
    3.0 -> `3`, 2.5 -> `2.5`, 1e-07 -> `0.0000001`, 1e+20 -> `100000000000000000000`.

    A fraction is the shortest text that round-trips (extra_float_digits >= 1), as Python's repr,
    written out by numeric. An integer is its exact value: bigint holds it below 2^63; above,
    it is an integer below 2^62 times a power of two (dividing by one is exact), multiplied out
    in numeric.
    """
    x = expression
    exponent = f"(floor(ln(abs({x})) / ln(2))::integer - 60)"
    return f"""(CASE WHEN {x} <> trunc({x}) THEN {x}::text::numeric::text
        WHEN abs({x}) < 9.2e18 THEN {x}::bigint::text
        ELSE trunc(({x} / power(2::float8, {exponent}))::bigint::numeric * power(2::numeric, {exponent}))::text
        END)"""


# One record per row, parents before children: an outcome sorts right after the last of its
# groups (path || 0 precedes any subgroup's path), so every row comes after the rows of all its
# parents; string_agg skips the root's NULL guid. Every record has as many cells as the widest
# (Excel-style padding): 10 named cells, then max(1, 2 x the most rating tiers) rating cells,
# the count the window reads from all rows (the sort holds them all anyway); each row carries it,
# for the header.
SELECT_EXPORT_LINES = f"""
{_VISIBLE_TREE}
SELECT convert_to(u.line || repeat(',', greatest(1, max(u.count) OVER ()) - u.count) || E'\\r\\n', 'UTF8'),
       max(u.count) OVER () / 2
FROM (
    SELECT t.path AS sort_key, t.guid AS vendor_guid, g.title, 0 AS count,
           {_cell("t.guid")} || ',group,' || {_cell("g.title")} || ','
           || coalesce({_cell("g.description")}, '') || ',,,,,'
           || coalesce({_cell("t.parent_guid")}, '') || ',active' AS line
    FROM tree t JOIN learning_outcome_groups g ON g.id = t.id
    WHERE t.guid IS NOT NULL
  UNION ALL
    SELECT placed.sort_key, v.guid, o.short_description, r.count,
           {_cell("v.guid")} || ',outcome,' || {_cell("o.short_description")} || ','
           || coalesce({_cell("o.description")}, '') || ','
           || coalesce({_cell("o.display_name")}, '') || ','
           || coalesce({_cell("o.calculation_method")}, '') || ','
           || coalesce(o.calculation_int::text, '') || ','
           || coalesce({_number("o.mastery_points")}, '') || ','
           || coalesce({_cell("placed.parent_guids")}, '') || ',active' || r.cells
    FROM placed JOIN learning_outcomes o ON o.id = placed.id
    CROSS JOIN LATERAL (SELECT coalesce(nullif(o.vendor_guid, ''), 'canvas_outcome:' || o.id) AS guid) v
    CROSS JOIN LATERAL (
        SELECT coalesce(string_agg(',' || {_number("p.points")} || ',' || coalesce({_cell("p.description")}, ''),
                                   '' ORDER BY p.n), '') AS cells,
               2 * count(*)::integer AS count
        FROM ROWS FROM (json_to_recordset(o.ratings) AS (points float8, description text))
             WITH ORDINALITY AS p(points, description, n)
    ) r
    WHERE o.workflow_state = 'active'
) u
ORDER BY u.sort_key, u.title, u.vendor_guid
"""

# Sorting a district's 100,000 records in the default 4 MB spilled to disk; this much keeps it in
# memory, for the few exports an API process runs at once (OUTCOME_IMPORTS_MAX_CONCURRENT_EXPORTS).
_EXPORT_WORK_MEM = "64MB"
SET_EXPORT_OPTIONS = "SELECT set_config('extra_float_digits', '1', true), set_config('work_mem', $1, true)"


async def export_lines(conn: asyncpg.Connection, context: Context, prefetch: int = 1000) -> AsyncIterator[ExportLine]:
    """The context's visible groups and outcomes as UTF-8 CSV records (each ending `\\r\\n`), parents
    before children, each outcome once, every record `10 + max(1, 2 * max_tiers)` cells wide.

    Must run inside a transaction (a server-side cursor needs one; REPEATABLE READ is not needed:
    it is one statement); `prefetch` records are held in memory at a time. Groups and outcomes
    without a vendor_guid get Canvas's export forms `canvas_outcome_group:<id>` /
    `canvas_outcome:<id>`, which the importer resolves back to them. Nothing is yielded for a
    context without groups or outcomes.
    """
    await conn.execute(SET_EXPORT_OPTIONS, _EXPORT_WORK_MEM)
    cursor = conn.cursor(SELECT_EXPORT_LINES, context.type.value, context.id, NEEDS_QUOTES_PATTERN, prefetch=prefetch)
    async for line, max_tiers in cursor:
        yield ExportLine(line, max_tiers)
