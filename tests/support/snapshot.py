"""The content of the outcome tables, independent of ids and timestamps, for before/after comparisons."""

from __future__ import annotations

from typing import Any

import asyncpg

SNAPSHOT_GROUPS = """
SELECT g.context_type, g.context_id, g.vendor_guid, g.title, g.description, g.workflow_state, p.vendor_guid AS parent
FROM learning_outcome_groups g LEFT JOIN learning_outcome_groups p ON p.id = g.parent_id
"""
SNAPSHOT_OUTCOMES = """
SELECT context_type, context_id, vendor_guid, short_description, description, display_name, calculation_method,
       calculation_int, ratings::text, mastery_points, points_possible, workflow_state
FROM learning_outcomes
"""
SNAPSHOT_LINKS = """
SELECT o.vendor_guid, g.vendor_guid AS group_guid, l.context_type, l.context_id, l.workflow_state
FROM learning_outcome_links l JOIN learning_outcomes o ON o.id = l.learning_outcome_id
JOIN learning_outcome_groups g ON g.id = l.associated_group_id
"""


async def snapshot(db: asyncpg.Connection) -> dict[str, Any]:
    """Sorted content rows of groups, outcomes and links."""
    result: dict[str, Any] = {}
    for name, sql in (("groups", SNAPSHOT_GROUPS), ("outcomes", SNAPSHOT_OUTCOMES), ("links", SNAPSHOT_LINKS)):
        result[name] = sorted((tuple(r.values()) for r in await db.fetch(sql)), key=repr)
    return result


# What an import itself is recorded in (its row, errors, the state counts, who ran it, and the
# audit log): everything else is what an import may change.
IMPORT_BOOKKEEPING = frozenset(
    {"outcome_imports", "outcome_import_errors", "outcome_import_state_counts", "workers", "audit_log"}
)
SELECT_TABLES = """
SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND NOT (tablename = ANY($1::text[])) ORDER BY tablename
"""


async def whole_database(db: asyncpg.Connection) -> dict[str, list[str]]:
    """Every row of every table but the import bookkeeping, ids and timestamps included, sorted."""
    tables = [r["tablename"] for r in await db.fetch(SELECT_TABLES, sorted(IMPORT_BOOKKEEPING))]
    return {
        table: sorted(r["row"] for r in await db.fetch(f'SELECT t::text AS row FROM "{table}" t')) for table in tables
    }
