"""The export as it was written before PostgreSQL built its records (commit 7531002): the query of
rows and the Python that turned each into a CSV record. Tests hold today's export byte for byte
against it (tests/integration/test_export_lines.py).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import asyncpg

COLUMNS = (
    "vendor_guid",
    "object_type",
    "title",
    "description",
    "display_name",
    "calculation_method",
    "calculation_int",
    "mastery_points",
    "parent_guids",
    "workflow_state",
)
_NEEDS_QUOTES = frozenset(',"\r\n')

_VISIBLE_TREE = """
WITH RECURSIVE tree (id, guid, parent_guid, path) AS (
    SELECT g.id, NULL::text COLLATE "C", NULL::text COLLATE "C", ARRAY[g.id]
    FROM learning_outcome_groups g
    WHERE g.context_type = $1 AND g.context_id = $2 AND g.parent_id IS NULL
  UNION ALL
    SELECT g.id, coalesce(nullif(g.vendor_guid, ''), 'canvas_outcome_group:' || g.id), t.guid, t.path || g.id
    FROM learning_outcome_groups g JOIN tree t ON g.parent_id = t.id
    WHERE g.context_type = $1 AND g.context_id = $2 AND g.workflow_state = 'active'
), placed AS (
    SELECT l.learning_outcome_id AS id,
           max(t.path) || 0::bigint AS sort_key,
           string_agg(t.guid, ' ' ORDER BY t.path) AS parent_guids
    FROM learning_outcome_links l JOIN tree t ON t.id = l.associated_group_id
    WHERE l.workflow_state = 'active'
    GROUP BY l.learning_outcome_id
)
"""
SELECT_EXPORT_ROWS = f"""
{_VISIBLE_TREE}
SELECT 'group' AS object_type, t.path AS sort_key, t.guid AS vendor_guid, g.title, g.description,
       NULL::text AS display_name, NULL::text AS calculation_method, NULL::integer AS calculation_int,
       NULL::double precision AS mastery_points, t.parent_guid AS parent_guids, NULL::text AS ratings
FROM tree t JOIN learning_outcome_groups g ON g.id = t.id
WHERE t.guid IS NOT NULL
UNION ALL
SELECT 'outcome', placed.sort_key, coalesce(nullif(o.vendor_guid, ''), 'canvas_outcome:' || o.id),
       o.short_description, o.description, o.display_name, o.calculation_method, o.calculation_int,
       o.mastery_points, placed.parent_guids, o.ratings::text
FROM placed JOIN learning_outcomes o ON o.id = placed.id
WHERE o.workflow_state = 'active'
ORDER BY sort_key, title, vendor_guid
"""


def format_number(value: float) -> str:
    if float(value).is_integer():
        return str(int(value))
    return format(Decimal(repr(float(value))), "f")


def csv_field(value: str) -> str:
    if value and (not _NEEDS_QUOTES.isdisjoint(value) or value != value.strip()):
        return '"' + value.replace('"', '""') + '"'
    return value


def _line(cells: list[str]) -> str:
    return ",".join(csv_field(c) for c in cells) + "\r\n"


def _row_cells(row: asyncpg.Record, width: int) -> list[str]:
    cells = [
        row["vendor_guid"],
        row["object_type"],
        row["title"],
        row["description"] or "",
        row["display_name"] or "",
        row["calculation_method"] or "",
        "" if row["calculation_int"] is None else str(row["calculation_int"]),
        "" if row["mastery_points"] is None else format_number(row["mastery_points"]),
        row["parent_guids"] or "",
        "active",
    ]
    ratings: list[dict[str, Any]] = json.loads(row["ratings"]) if row["ratings"] else []
    for rating in ratings:
        cells += [format_number(float(rating["points"])), rating.get("description") or ""]
    return cells + [""] * (width - len(cells))


async def reference_export(conn: asyncpg.Connection, context_type: str, context_id: int) -> bytes:
    """The whole file the old export wrote for the context (held in memory: for tests)."""
    rows = await conn.fetch(SELECT_EXPORT_ROWS, context_type, context_id)
    max_tiers = max((len(json.loads(r["ratings"])) for r in rows if r["ratings"]), default=0)
    width = len(COLUMNS) + max(1, 2 * max_tiers)
    header = [*COLUMNS, "ratings", *([""] * (width - len(COLUMNS) - 1))]
    return "".join([_line(header), *(_line(_row_cells(r, width)) for r in rows)]).encode("utf-8")
