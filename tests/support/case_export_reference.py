"""The CASE export's objects as api/case_export.py built them in Python before PostgreSQL wrote
their JSON (shared/db/case_export.py), with the queries it read: a reference for
tests/integration/test_case_export_json.py only, which holds the new package equal to this one's
once parsed. The CFDocument was not rewritten: it comes from api/case_export.py itself."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

import asyncpg

from api.case_export import case_document
from shared.db import case_export
from shared.db.accounts import Context
from shared.db.export import _VISIBLE_TREE

EXTENSION: Final = "outcomeImports"
_NAMESPACE: Final = uuid.UUID("5e0f6a2c-8d47-4c1e-9a3b-0c2f1d7e6b58")

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
WHERE o.workflow_state = 'active'
  AND CASE WHEN json_typeof(o.ratings) = 'array' THEN json_array_length(o.ratings) > 0 ELSE false END
ORDER BY v.guid
"""


def _derived(kind: str, *parts: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, "\n".join((kind, *parts))))


def _uri(kind: str, identifier: str) -> str:
    return f"urn:outcome-imports:{kind}:{quote(identifier, safe='')}"


def _time(value: datetime | None) -> str:
    return (value or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _node(identifier: str, title: str) -> dict[str, str]:
    return {"title": title, "identifier": identifier, "uri": _uri("CFItems", identifier)}


def _group_item(row: asyncpg.Record) -> dict[str, Any]:
    return {
        "identifier": row["guid"],
        "uri": _uri("CFItems", row["guid"]),
        "fullStatement": row["title"],
        "CFItemType": "Outcome Group",
        "lastChangeDateTime": _time(row["updated_at"]),
        "extensions": {
            EXTENSION: {"object_type": "group", "title": row["title"], "description": row["description"]}
        },
    }


def _ratings(text: str | None) -> list[dict[str, Any]]:
    value = json.loads(text) if text else []
    return [
        {"points": rating.get("points"), "description": rating.get("description")}
        for rating in (value if isinstance(value, list) else [])
        if isinstance(rating, dict)
    ]


def _outcome_item(row: asyncpg.Record) -> dict[str, Any]:
    item: dict[str, Any] = {
        "identifier": row["guid"],
        "uri": _uri("CFItems", row["guid"]),
        "fullStatement": row["title"],
    }
    if row["display_name"]:
        item["humanCodingScheme"] = row["display_name"]
    item["CFItemType"] = "Outcome"
    item["lastChangeDateTime"] = _time(row["updated_at"])
    item["extensions"] = {
        EXTENSION: {
            "object_type": "outcome",
            "title": row["title"],
            "description": row["description"],
            "display_name": row["display_name"],
            "calculation_method": row["calculation_method"],
            "calculation_int": row["calculation_int"],
            "mastery_points": row["mastery_points"],
            "ratings": _ratings(row["ratings"]),
        }
    }
    return item


def _association(child: str, parent: str, updated_at: datetime | None) -> dict[str, Any]:
    identifier = _derived("isChildOf", child, parent)
    return {
        "identifier": identifier,
        "uri": _uri("CFAssociations", identifier),
        "associationType": "isChildOf",
        "originNodeURI": _node(child, ""),
        "destinationNodeURI": _node(parent, ""),
        "lastChangeDateTime": _time(updated_at),
    }


def _rubric(row: asyncpg.Record) -> dict[str, Any]:
    guid, title, changed = row["guid"], row["title"], _time(row["updated_at"])
    rubric_id = _derived("CFRubric", guid)
    criterion_id = _derived("CFRubricCriterion", guid)
    levels = []
    for position, rating in enumerate(_ratings(row["ratings"]), start=1):
        level_id = _derived("CFRubricCriterionLevel", guid, str(position))
        levels.append(
            {
                "identifier": level_id,
                "uri": _uri("CFRubricCriterionLevels", level_id),
                "description": rating["description"] or "",
                "quality": rating["description"] or "",
                "score": rating["points"],
                "position": position,
                "rubricCriterionId": criterion_id,
                "lastChangeDateTime": changed,
            }
        )
    criterion = {
        "identifier": criterion_id,
        "uri": _uri("CFRubricCriteria", criterion_id),
        "description": title,
        "CFItemURI": _node(guid, title),
        "position": 1,
        "rubricId": rubric_id,
        "lastChangeDateTime": changed,
        "CFRubricCriterionLevels": levels,
    }
    return {
        "identifier": rubric_id,
        "uri": _uri("CFRubrics", rubric_id),
        "title": title,
        "lastChangeDateTime": changed,
        "CFRubricCriteria": [criterion],
    }


async def case_pieces(conn: asyncpg.Connection, context: Context) -> AsyncIterator[bytes]:
    """The package, piece by piece. Inside a REPEATABLE READ transaction (several statements
    must see one snapshot)."""
    document, group_id = await case_document(conn, context)
    document_guid = document["identifier"]
    yield b'{"CFDocument":' + _json(document) + b',\n"CFItems":['
    separator = b"\n"
    scope = (context.type.value, context.id)
    async for row in case_export.rows(conn, SELECT_GROUP_ITEMS, *scope, group_id):
        yield separator + _json(_group_item(row))
        separator = b",\n"
    async for row in case_export.rows(conn, SELECT_OUTCOME_ITEMS, *scope):
        yield separator + _json(_outcome_item(row))
        separator = b",\n"
    yield b'],\n"CFAssociations":['
    separator = b"\n"
    async for row in case_export.rows(conn, SELECT_ASSOCIATIONS, *scope, group_id):
        yield separator + _json(_association(row["child"], row["parent"] or document_guid, row["updated_at"]))
        separator = b",\n"
    yield b'],\n"CFRubrics":['
    separator = b"\n"
    async for row in case_export.rows(conn, SELECT_RUBRICS, *scope):
        yield separator + _json(_rubric(row))
        separator = b",\n"
    yield b"]}\n"
