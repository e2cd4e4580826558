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
from shared.db.export import _VISIBLE_TREE, SET_EXPORT_OPTIONS, _number

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

# Each object is written here as its finished JSON text (a CFItem's as UTF-8 bytes), compact,
# members in the package's order, strings escaped by to_json as Python's json.dumps(ensure_ascii=
# False) escapes them, so the API only concatenates text: building the objects in Python took
# about half of an export's time. The identifiers derived by UUID v5 (associations, rubrics) need
# SHA-1, which PostgreSQL lacks without pgcrypto: the API writes those members around the text of
# the others. tests/integration/test_case_export_json.py holds the objects against the Python
# builder they replace (tests/support/case_export_reference.py).


def _str(expression: str) -> str:
    """SQL for a text value as a JSON string (null for NULL)."""
    return f"coalesce(to_json({expression})::text, 'null')"


def _uri(kind: str, expression: str) -> str:
    """SQL for `urn:outcome-imports:<kind>:<identifier>` as a JSON string, the identifier
    percent-encoded as Python's urllib.parse.quote(identifier, safe='') does (UTF-8 bytes, upper
    case hex; letters, digits and `_.-~` kept)."""
    x = expression
    return f"""('"urn:outcome-imports:{kind}:' || CASE WHEN {x} ~ '^[A-Za-z0-9_.~-]*$' THEN {x} ELSE (
        SELECT coalesce(string_agg(CASE WHEN c BETWEEN 48 AND 57 OR c BETWEEN 65 AND 90 OR c BETWEEN 97 AND 122
                                        OR c IN (45, 46, 95, 126) THEN chr(c)
                                   ELSE '%' || upper(lpad(to_hex(c), 2, '0')) END, '' ORDER BY i), '')
        FROM (SELECT convert_to({x}, 'UTF8') AS b) s CROSS JOIN LATERAL generate_series(0, length(s.b) - 1) i
             CROSS JOIN LATERAL (SELECT get_byte(s.b, i) AS c) q
    ) END || '"')"""


def _time(expression: str) -> str:
    """SQL for a timestamptz as a JSON string in UTC to the second, as Python's
    isoformat(timespec='seconds'): `2026-01-02T03:04:05+00:00`."""
    return f"""('"' || to_char({expression} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"') || '"')"""


def _node(guid: str, title: str) -> str:
    """SQL for an item's node: {"title": ..., "identifier": guid, "uri": ...}."""
    identifier, uri = _str(guid), _uri("CFItems", guid)
    return f"""'{{"title":' || {title} || ',"identifier":' || {identifier} || ',"uri":' || {uri} || '}}'"""


_EMPTY = "'" + '""' + "'"  # SQL for the JSON text of "" (an association's node titles)

# A rating tier's member as stored (ratings is json: its text as written, the last of duplicate
# keys), null when missing: the same value, once parsed, as Python's json.loads then json.dumps.
_MEMBER = "coalesce(r.value -> '{key}', 'null'::json)::text"
# The outcome's rating tiers: the objects of its ratings array (nothing when it is no array).
_TIERS = """json_array_elements(CASE WHEN json_typeof(o.ratings) = 'array' THEN o.ratings ELSE '[]' END)
        WITH ORDINALITY AS r(value, n)"""

# CFItems, first pass: the groups, parents first.
SELECT_GROUP_ITEMS = f"""
{_VISIBLE_TREE}
SELECT convert_to('{{"identifier":' || {_str("t.guid")} || ',"uri":' || {_uri("CFItems", "t.guid")}
       || ',"fullStatement":' || {_str("g.title")} || ',"CFItemType":"Outcome Group","lastChangeDateTime":'
       || {_time("g.updated_at")} || ',"extensions":{{"outcomeImports":{{"object_type":"group","title":'
       || {_str("g.title")} || ',"description":' || {_str("g.description")} || '}}}}}}', 'UTF8')
FROM tree t JOIN learning_outcome_groups g ON g.id = t.id
WHERE t.guid IS NOT NULL AND t.id <> $3
ORDER BY t.path
"""

# CFItems, second pass: the outcomes, in the CSV export's order. mastery_points as the CSV
# export writes it (digits the importer reads back to the same float, never an exponent).
SELECT_OUTCOME_ITEMS = f"""
{_VISIBLE_TREE}
SELECT convert_to('{{"identifier":' || {_str("v.guid")} || ',"uri":' || {_uri("CFItems", "v.guid")}
       || ',"fullStatement":' || {_str("o.short_description")}
       || CASE WHEN o.display_name <> '' THEN ',"humanCodingScheme":' || {_str("o.display_name")} ELSE '' END
       || ',"CFItemType":"Outcome","lastChangeDateTime":' || {_time("o.updated_at")}
       || ',"extensions":{{"outcomeImports":{{"object_type":"outcome","title":' || {_str("o.short_description")}
       || ',"description":' || {_str("o.description")} || ',"display_name":' || {_str("o.display_name")}
       || ',"calculation_method":' || {_str("o.calculation_method")}
       || ',"calculation_int":' || coalesce(o.calculation_int::text, 'null')
       || ',"mastery_points":' || coalesce({_number("o.mastery_points")}, 'null')
       || ',"ratings":[' || (
           SELECT coalesce(string_agg('{{"points":' || {_MEMBER.format(key="points")} || ',"description":'
                                      || {_MEMBER.format(key="description")} || '}}', ',' ORDER BY r.n), '')
           FROM {_TIERS} WHERE json_typeof(r.value) = 'object'
       ) || ']}}}}}}', 'UTF8')
FROM placed JOIN learning_outcomes o ON o.id = placed.id {_OUTCOME_GUID}
WHERE o.workflow_state = 'active'
ORDER BY placed.sort_key, o.short_description, v.guid
"""

# CFAssociations: each group's parent (NULL: the root, the CFDocument `$4`), then each outcome's
# groups. An outcome linked both in the root and in groups is written with its groups only (the
# importer cannot name the root beside other parents, as in the CSV export). `rest` is the JSON
# object's text after its identifier and uri, which the API derives from child and parent.
SELECT_ASSOCIATIONS = f"""
{_VISIBLE_TREE}
SELECT child, parent,
       ',"associationType":"isChildOf","originNodeURI":' || {_node("child", _EMPTY)}
       || ',"destinationNodeURI":' || {_node("parent", _EMPTY)}
       || ',"lastChangeDateTime":' || {_time("updated_at")} || '}}' AS rest
FROM (
    SELECT kind, path, child, coalesce(parent, $4) AS parent, updated_at FROM (
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
    ) u
) a
ORDER BY kind, CASE WHEN kind = 0 THEN path END, child, path
"""

# CFRubrics: one per outcome that has rating tiers (ratings that are no array have none: the CASE
# keeps json_array_length from meeting them). The API writes the identifiers around these
# texts: `title` and `changed` (JSON values), `node` (the criterion's CFItemURI) and `levels`, per
# tier object the members of its CFRubricCriterionLevel from description to score (a tier's
# description, or "" when it is null, false, 0, "" or empty, as Python's `or ""`; jsonb compares
# numbers by value: 0.0 is 0).
SELECT_RUBRICS = f"""
{_VISIBLE_TREE}
SELECT v.guid, {_str("o.short_description")} AS title, {_time("o.updated_at")} AS changed,
       {_node("v.guid", _str("o.short_description"))} AS node,
       ARRAY(
           SELECT '"description":' || d.text || ',"quality":' || d.text || ',"score":' || {_MEMBER.format(key="points")}
           FROM {_TIERS}
           CROSS JOIN LATERAL (
               SELECT CASE WHEN r.value -> 'description' IS NULL
                             OR (r.value -> 'description')::jsonb IN ('null', 'false', '0', '""', '[]', '{{}}')
                           THEN '""' ELSE (r.value -> 'description')::text END AS text
           ) d
           WHERE json_typeof(r.value) = 'object'
           ORDER BY r.n
       ) AS levels
FROM placed JOIN learning_outcomes o ON o.id = placed.id {_OUTCOME_GUID}
WHERE o.workflow_state = 'active'
  AND CASE WHEN json_typeof(o.ratings) = 'array' THEN json_array_length(o.ratings) > 0 ELSE false END
ORDER BY v.guid
"""

_EXPORT_WORK_MEM = "64MB"
# The CSV export's options, and no JIT: the planner prices the uri's percent-encoding subquery
# (never run for a guid of unreserved characters) per row, which put a 20,000-outcome pass above
# jit_above_cost and spent 0.9 s compiling it, several times the pass itself.
_SET_OPTIONS = SET_EXPORT_OPTIONS + ", set_config('jit', 'off', true)"


async def prepare(conn: asyncpg.Connection, context: Context) -> asyncpg.Record | None:
    """Set the export's options; the context's root group (SELECT_ROOT), None when it has none."""
    await conn.execute(_SET_OPTIONS, _EXPORT_WORK_MEM)
    row: asyncpg.Record | None = await conn.fetchrow(SELECT_ROOT, context.type.value, context.id)
    return row


async def group(conn: asyncpg.Connection, group_id: int) -> asyncpg.Record:
    row: asyncpg.Record = await conn.fetchrow(SELECT_GROUP, group_id)
    return row


async def rows(conn: asyncpg.Connection, query: str, *args: Any, prefetch: int = 1000) -> AsyncIterator[asyncpg.Record]:
    """The rows of one pass (a server-side cursor: `prefetch` rows in memory at a time); args are
    the context's type and id, then (SELECT_GROUP_ITEMS, SELECT_ASSOCIATIONS) the document's group
    and (SELECT_ASSOCIATIONS) the document's identifier."""
    async for row in conn.cursor(query, *args, prefetch=prefetch):
        yield row
