"""The paginated lists of the Outcome Groups API, read a page at a time by keyset ("bookmark").

Each list is read from its sort key onwards: `after_*` is the sort key of the last item of the
page before (the list's start key for the first page: id 0, title ''), `limit` how many rows to
read and `offset` how many to skip first (0, except for an old client's numeric page). No list is
counted. A page is selected on its key alone (and only the links' outcomes joined for their
title and state), then only its rows are decorated with groups, parents and friendly
descriptions, so what a page costs does not depend on where it is in the list. Orders are
exactly those of Canvas's lists: groups by id, subgroups and a group's outcomes by title
(lower(title), title, id: Canvas sorts by a collation key; lower() is the portable
approximation), a context's links by id.
"""

from __future__ import annotations

from shared.db.accounts import Context
from shared.db.outcomes import (
    GROUP_COLUMNS,
    GROUP_FROM,
    LINK_SELECT,
    Connection,
    OutcomeGroup,
    OutcomeLink,
    group_from_row,
    link_from_row,
    viewer_args,
)

# Keys that sort before every item of a list: ids are positive, and '' sorts first in any collation.
START_ID = 0
START_TITLE = ""

# Each ORDER BY names the index's leading columns too (fixed by the WHERE, so the order is the
# same): only that index then yields rows in order, and the planner does not walk the primary key
# from the bookmark on, through every later row of other contexts, as it did for a last page.
# Served by learning_outcome_groups_context_active_idx (migration 0016).
SELECT_GROUPS_PAGE = f"""
SELECT {GROUP_COLUMNS} {GROUP_FROM}
WHERE g.context_type = $1 AND g.context_id = $2 AND g.workflow_state = 'active' AND g.id > $3
ORDER BY g.context_type, g.context_id, g.id LIMIT $4 OFFSET $5
"""
# Served by learning_outcome_groups_parent_title_idx (migration 0016).
SELECT_SUBGROUPS_PAGE = f"""
SELECT {GROUP_COLUMNS} {GROUP_FROM}
WHERE g.parent_id = $1 AND g.workflow_state = 'active'
  AND (lower(g.title), g.title, g.id) > (lower($2::text), $2::text, $3::bigint)
ORDER BY g.parent_id, lower(g.title), g.title, g.id LIMIT $4 OFFSET $5
"""
# Served by learning_outcome_links_group_title_idx (migration 0022): each link carries its
# outcome's title, so a page is read in index order and stops after it, whatever the size of the
# group; only the page's ids go on to be decorated. Deleting an outcome deletes its links, so the
# outcome's state (a primary-key probe per link read) only guards against stray rows.
SELECT_GROUP_LINKS_PAGE = f"""
WITH page AS MATERIALIZED (
    SELECT l.id, l.outcome_title AS title
    FROM learning_outcome_links l JOIN learning_outcomes o ON o.id = l.learning_outcome_id
    WHERE l.associated_group_id = $4 AND l.workflow_state = 'active' AND o.workflow_state = 'active'
      AND (lower(l.outcome_title), l.outcome_title, l.id) > (lower($5::text), $5::text, $6::bigint)
    ORDER BY l.associated_group_id, lower(l.outcome_title), l.outcome_title, l.id
    LIMIT $7 OFFSET $8
)
{LINK_SELECT}
JOIN page ON page.id = l.id
ORDER BY lower(page.title), page.title, page.id
"""
# Served by learning_outcome_links_context_idx (context_type, context_id, id).
SELECT_CONTEXT_LINKS_PAGE = f"""
WITH page AS MATERIALIZED (
    SELECT l.id
    FROM learning_outcome_links l JOIN learning_outcomes o ON o.id = l.learning_outcome_id
    WHERE l.context_type = $1 AND l.context_id = $2 AND l.id > $4
      AND l.workflow_state = 'active' AND o.workflow_state = 'active'
    ORDER BY l.context_type, l.context_id, l.id
    LIMIT $5 OFFSET $6
)
{LINK_SELECT}
JOIN page ON page.id = l.id
ORDER BY l.id
"""


async def list_groups_page(
    conn: Connection, context: Context, after_id: int, limit: int, offset: int = 0
) -> list[OutcomeGroup]:
    """Up to `limit` of the context's active groups with an id above `after_id`, by id."""
    rows = await conn.fetch(SELECT_GROUPS_PAGE, context.type.value, context.id, after_id, limit, offset)
    return [group_from_row(r) for r in rows]


async def list_subgroups_page(
    conn: Connection, group_id: int, after_title: str, after_id: int, limit: int, offset: int = 0
) -> list[OutcomeGroup]:
    """Up to `limit` of a group's active children after the key (after_title, after_id), by title."""
    rows = await conn.fetch(SELECT_SUBGROUPS_PAGE, group_id, after_title, after_id, limit, offset)
    return [group_from_row(r) for r in rows]


async def list_group_links_page(
    conn: Connection, context: Context, group_id: int, after_title: str, after_id: int, limit: int, offset: int = 0
) -> list[OutcomeLink]:
    """Up to `limit` of a group's active links after the key (outcome title, link id), by outcome title."""
    args = (*viewer_args(context), group_id, after_title, after_id, limit, offset)
    return [link_from_row(r) for r in await conn.fetch(SELECT_GROUP_LINKS_PAGE, *args)]


async def list_context_links_page(
    conn: Connection, context: Context, after_id: int, limit: int, offset: int = 0
) -> list[OutcomeLink]:
    """Up to `limit` of the context's active links with an id above `after_id`, by link id."""
    rows = await conn.fetch(SELECT_CONTEXT_LINKS_PAGE, *viewer_args(context), after_id, limit, offset)
    return [link_from_row(r) for r in rows]
