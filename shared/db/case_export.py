"""Queries of the CASE export (`GET .../outcome_export?format=case_json`): the context's visible
tree, read in several passes of one REPEATABLE READ transaction (api/case_export.py writes them).

The tree is the CSV export's (shared/db/export.py): groups reachable from the root through
active groups, outcomes with an active link in one of them, guids `canvas_outcome_group:<id>` /
`canvas_outcome:<id>` for objects without a vendor_guid. `$3`, in the queries of groups, is the
group the package's CFDocument is when it is not the root (0 otherwise): it is no CFItem, and no
association has it as origin.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from shared.db.accounts import Context
from shared.db.export import _VISIBLE_TREE, SET_EXPORT_OPTIONS

# The root group, whether more than one active group is directly under it, and whether an active
# outcome is linked in it: with exactly one such group and no such outcome, that group is the
# CFDocument (a framework imported from CASE exports as itself).
SELECT_ROOT = """
SELECT g.id, g.title, g.description, g.updated_at,
       ARRAY(SELECT c.id FROM learning_outcome_groups c
             WHERE c.parent_id = g.id AND c.context_type = $1 AND c.context_id = $2 AND c.workflow_state = 'active'
             ORDER BY c.id LIMIT 2) AS top_groups,
       EXISTS (SELECT FROM learning_outcome_links l JOIN learning_outcomes o ON o.id = l.learning_outcome_id
               WHERE l.associated_group_id = g.id AND l.workflow_state = 'active'
                 AND o.workflow_state = 'active') AS has_root_links
FROM learning_outcome_groups g
WHERE g.context_type = $1 AND g.context_id = $2 AND g.parent_id IS NULL
ORDER BY g.id LIMIT 1
"""

SELECT_GROUP = """
SELECT coalesce(nullif(g.vendor_guid, ''), 'canvas_outcome_group:' || g.id) AS guid, g.title, g.description,
       g.updated_at
FROM learning_outcome_groups g WHERE g.id = $1
"""

_OUTCOME_GUID = "CROSS JOIN LATERAL (SELECT coalesce(nullif(o.vendor_guid, ''), 'canvas_outcome:' || o.id) AS guid) v"

# CFItems, first pass: the groups, parents first.
SELECT_GROUP_ITEMS = f"""
{_VISIBLE_TREE}
SELECT t.guid, g.title, g.description, g.updated_at
FROM tree t JOIN learning_outcome_groups g ON g.id = t.id
WHERE t.guid IS NOT NULL AND t.id <> $3
ORDER BY t.path
"""

# CFItems, second pass: the outcomes, in the CSV export's order.
SELECT_OUTCOME_ITEMS = f"""
{_VISIBLE_TREE}
SELECT v.guid, o.short_description AS title, o.description, o.display_name, o.calculation_method,
       o.calculation_int, o.mastery_points, o.ratings::text AS ratings, o.updated_at
FROM placed JOIN learning_outcomes o ON o.id = placed.id {_OUTCOME_GUID}
WHERE o.workflow_state = 'active'
ORDER BY placed.sort_key, o.short_description, v.guid
"""

# CFAssociations: each group's parent (NULL: the root), then each outcome's groups. An outcome
# linked both in the root and in groups is written with its groups only (the importer cannot name
# the root beside other parents, as in the CSV export).
SELECT_ASSOCIATIONS = f"""
{_VISIBLE_TREE}
SELECT child, parent, updated_at FROM (
    SELECT 0 AS kind, t.path, t.guid AS child, t.parent_guid AS parent, g.updated_at
    FROM tree t JOIN learning_outcome_groups g ON g.id = t.id
    WHERE t.guid IS NOT NULL AND t.id <> $3
  UNION ALL
    SELECT DISTINCT ON (v.guid, t.path) 1, t.path, v.guid, t.guid, l.updated_at
    FROM learning_outcome_links l JOIN tree t ON t.id = l.associated_group_id
    JOIN placed ON placed.id = l.learning_outcome_id
    JOIN learning_outcomes o ON o.id = l.learning_outcome_id {_OUTCOME_GUID}
    WHERE l.workflow_state = 'active' AND o.workflow_state = 'active'
      AND (t.guid IS NOT NULL OR placed.parent_guids IS NULL)
) a
ORDER BY kind, CASE WHEN kind = 0 THEN path END, child, path
"""

# CFRubrics: one per outcome that has rating tiers.
SELECT_RUBRICS = f"""
{_VISIBLE_TREE}
SELECT v.guid, o.short_description AS title, o.ratings::text AS ratings, o.updated_at
FROM placed JOIN learning_outcomes o ON o.id = placed.id {_OUTCOME_GUID}
WHERE o.workflow_state = 'active' AND json_typeof(o.ratings) = 'array' AND json_array_length(o.ratings) > 0
ORDER BY v.guid
"""

_EXPORT_WORK_MEM = "64MB"


async def prepare(conn: asyncpg.Connection, context: Context) -> asyncpg.Record | None:
    """Set the export's options; the context's root group (SELECT_ROOT), None when it has none."""
    await conn.execute(SET_EXPORT_OPTIONS, _EXPORT_WORK_MEM)
    row: asyncpg.Record | None = await conn.fetchrow(SELECT_ROOT, context.type.value, context.id)
    return row


async def group(conn: asyncpg.Connection, group_id: int) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(SELECT_GROUP, group_id)
    return row


async def rows(conn: asyncpg.Connection, query: str, *args: Any, prefetch: int = 1000) -> AsyncIterator[asyncpg.Record]:
    """The rows of one pass (a server-side cursor: `prefetch` rows in memory at a time); args are
    the context's type and id, then (SELECT_GROUP_ITEMS, SELECT_ASSOCIATIONS) the document's group."""
    async for row in conn.cursor(query, *args, prefetch=prefetch):
        yield row
