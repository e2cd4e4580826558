"""Queries for the read-only Outcome Groups / Outcomes API (spec §11).

"Active" means workflow_state 'active'. The paginated lists are in shared/db/outcome_lists.py,
the CSV export in shared/db/export.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeAlias

import asyncpg

from shared.db.accounts import Context
from shared.models import ContextType

Connection: TypeAlias = "asyncpg.Pool | asyncpg.Connection"


@dataclass(frozen=True, slots=True)
class OutcomeGroup:
    id: int
    context_type: ContextType
    context_id: int
    title: str
    vendor_guid: str | None
    description: str | None
    parent: OutcomeGroup | None  # loaded abbreviated: the parent's own parent is not loaded


@dataclass(frozen=True, slots=True)
class Rating:
    points: float
    description: str | None


@dataclass(frozen=True, slots=True)
class Outcome:
    id: int
    context_type: ContextType | None  # None: a global outcome
    context_id: int | None
    vendor_guid: str | None
    title: str
    description: str | None
    display_name: str | None
    calculation_method: str
    calculation_int: int | None
    ratings: tuple[Rating, ...]
    mastery_points: float | None
    points_possible: float | None
    friendly_description: str | None  # resolved for the viewing context, else None


@dataclass(frozen=True, slots=True)
class OutcomeLink:
    id: int
    context_type: ContextType  # the group's context
    context_id: int
    group: OutcomeGroup
    outcome: Outcome


# --- root group -------------------------------------------------------------------------------

# The partial unique index learning_outcome_groups_root_key makes concurrent first calls create
# one root; the loser's ON CONFLICT returns nothing, and the second branch (same snapshot) may
# not see the winner's row yet, hence the retry in ensure_root_group.
INSERT_ROOT_GROUP = """
WITH inserted AS (
    INSERT INTO learning_outcome_groups (context_type, context_id, root_account_id, title)
    VALUES ($1, $2, $3, $4)
    ON CONFLICT (context_type, context_id) WHERE parent_id IS NULL DO NOTHING
    RETURNING id
)
SELECT id FROM inserted
UNION ALL
SELECT id FROM learning_outcome_groups WHERE context_type = $1 AND context_id = $2 AND parent_id IS NULL
LIMIT 1
"""


async def ensure_root_group(conn: Connection, context: Context) -> int:
    """The id of the context's root group, created (title = context name) if missing. Idempotent."""
    args = (context.type.value, context.id, context.root_account_id, context.name)
    root_id: int | None = await conn.fetchval(INSERT_ROOT_GROUP, *args)
    if root_id is None:
        # A concurrent request created it after this statement's snapshot; now it is visible.
        root_id = await conn.fetchval(INSERT_ROOT_GROUP, *args)
    assert root_id is not None
    return root_id


# --- groups -----------------------------------------------------------------------------------

GROUP_COLUMNS = """
g.id, g.context_type, g.context_id, g.title, g.vendor_guid, g.description,
p.id AS parent_id, p.title AS parent_title, p.vendor_guid AS parent_vendor_guid
"""
GROUP_FROM = """
FROM learning_outcome_groups g LEFT JOIN learning_outcome_groups p ON p.id = g.parent_id
"""
SELECT_ACTIVE_GROUP = f"""
SELECT {GROUP_COLUMNS} {GROUP_FROM}
WHERE g.context_type = $1 AND g.context_id = $2 AND g.id = $3 AND g.workflow_state = 'active'
"""


def group_from_row(row: asyncpg.Record) -> OutcomeGroup:
    """The group of a row selected with GROUP_COLUMNS (its parent abbreviated)."""
    context_type = ContextType(row["context_type"])
    parent = None
    if row["parent_id"] is not None:
        parent = OutcomeGroup(
            row["parent_id"],
            context_type,
            row["context_id"],
            row["parent_title"],
            row["parent_vendor_guid"],
            None,
            None,
        )
    return OutcomeGroup(
        row["id"],
        context_type,
        row["context_id"],
        row["title"],
        row["vendor_guid"],
        row["description"],
        parent,
    )


async def get_active_group(conn: Connection, context: Context, group_id: int) -> OutcomeGroup | None:
    """The active group with this id in this context, else None (unknown, deleted or elsewhere)."""
    row = await conn.fetchrow(SELECT_ACTIVE_GROUP, context.type.value, context.id, group_id)
    return None if row is None else group_from_row(row)


# --- outcomes and links -----------------------------------------------------------------------

# $1, $2, $3 are always the viewing context (type, id, account chain nearest first): a friendly
# description of the context itself wins, then the nearest account's (Canvas's resolver order).
_OUTCOME_COLUMNS = """
o.id AS o_id, o.context_type AS o_context_type, o.context_id AS o_context_id, o.vendor_guid AS o_vendor_guid,
o.short_description AS o_title, o.description AS o_description, o.display_name AS o_display_name,
o.calculation_method AS o_calculation_method, o.calculation_int AS o_calculation_int, o.ratings AS o_ratings,
o.mastery_points AS o_mastery_points, o.points_possible AS o_points_possible,
fd.description AS o_friendly_description
"""
_FRIENDLY_DESCRIPTION_JOIN = """
LEFT JOIN LATERAL (
    SELECT f.description FROM outcome_friendly_descriptions f
    WHERE f.learning_outcome_id = o.id AND f.workflow_state = 'active'
      AND ((f.context_type = $1 AND f.context_id = $2)
           OR (f.context_type = 'Account' AND f.context_id = ANY($3::bigint[])))
    ORDER BY (f.context_type = $1 AND f.context_id = $2) DESC, array_position($3::bigint[], f.context_id)
    LIMIT 1
) fd ON true
"""
LINK_SELECT = f"""
SELECT l.id AS link_id, l.context_type AS link_context_type, l.context_id AS link_context_id,
       {GROUP_COLUMNS}, {_OUTCOME_COLUMNS}
FROM learning_outcome_links l
JOIN learning_outcome_groups g ON g.id = l.associated_group_id
LEFT JOIN learning_outcome_groups p ON p.id = g.parent_id
JOIN learning_outcomes o ON o.id = l.learning_outcome_id
{_FRIENDLY_DESCRIPTION_JOIN}
"""
SELECT_ACTIVE_OUTCOME_OWNER = """
SELECT context_type, context_id FROM learning_outcomes WHERE id = $1 AND workflow_state = 'active'
"""
SELECT_ACTIVE_OUTCOME = f"""
SELECT {_OUTCOME_COLUMNS} FROM learning_outcomes o {_FRIENDLY_DESCRIPTION_JOIN}
WHERE o.id = $4 AND o.workflow_state = 'active'
"""


def _ratings(value: Any) -> tuple[Rating, ...]:
    # json holds whatever number the writer used (5 or 5.0); the API promises floats.
    return tuple(Rating(float(r["points"]), r.get("description")) for r in value or ())


def _outcome_from_row(row: asyncpg.Record) -> Outcome:
    context_type = row["o_context_type"]
    return Outcome(
        id=row["o_id"],
        context_type=None if context_type is None else ContextType(context_type),
        context_id=row["o_context_id"],
        vendor_guid=row["o_vendor_guid"],
        title=row["o_title"],
        description=row["o_description"],
        display_name=row["o_display_name"],
        calculation_method=row["o_calculation_method"],
        calculation_int=row["o_calculation_int"],
        ratings=_ratings(row["o_ratings"]),
        mastery_points=row["o_mastery_points"],
        points_possible=row["o_points_possible"],
        friendly_description=row["o_friendly_description"],
    )


def link_from_row(row: asyncpg.Record) -> OutcomeLink:
    """The link of a row selected with LINK_SELECT."""
    return OutcomeLink(
        row["link_id"],
        ContextType(row["link_context_type"]),
        row["link_context_id"],
        group_from_row(row),
        _outcome_from_row(row),
    )


def viewer_args(context: Context | None) -> tuple[str | None, int | None, list[int]]:
    """LINK_SELECT's $1, $2, $3 for a viewing context (None: no friendly descriptions)."""
    if context is None:
        return None, None, []
    return context.type.value, context.id, list(context.account_chain)


async def get_active_outcome_owner(conn: Connection, outcome_id: int) -> tuple[ContextType | None, int | None] | None:
    """(owning context type, id) of an active outcome, (None, None) if global; None if no such outcome."""
    row = await conn.fetchrow(SELECT_ACTIVE_OUTCOME_OWNER, outcome_id)
    if row is None:
        return None
    context_type = row["context_type"]
    return (None if context_type is None else ContextType(context_type)), row["context_id"]


async def get_active_outcome(conn: Connection, outcome_id: int, viewer: Context | None) -> Outcome | None:
    """The active outcome, its friendly description resolved for `viewer`; None if unknown or deleted."""
    row = await conn.fetchrow(SELECT_ACTIVE_OUTCOME, *viewer_args(viewer), outcome_id)
    return None if row is None else _outcome_from_row(row)
