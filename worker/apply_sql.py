"""The SQL of the batch applier: a fixed number of set-based statements per batch.

Reads fetch, in one statement each, everything a batch's rows can reference (spec §5.1, §5.3,
§5.6, §8); writes stage the batch's final states with COPY into temporary tables and apply them
with one upsert per table. Nothing here runs once per row. Every function takes the import's
connection, inside the import's transaction.

The temporary tables live until the transaction ends (ON COMMIT DROP); each write statement
empties its table as it reads it (`DELETE ... RETURNING` in a CTE), so they hold one batch at most.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import asyncpg

# --- reads ---------------------------------------------------------------------------------

# Courses named by course_id cells, and whether each is in the importing account's subtree
# (its account or one of that account's ancestors is the importing account, spec §5.6).
SELECT_COURSES = """
WITH RECURSIVE chain(course_id, account_id) AS (
    SELECT c.id, c.account_id FROM courses c
    WHERE c.id = ANY($1::bigint[]) AND c.workflow_state <> 'deleted'
    UNION
    SELECT ch.course_id, a.parent_account_id FROM chain ch JOIN accounts a ON a.id = ch.account_id
    WHERE a.parent_account_id IS NOT NULL
)
SELECT c.id, c.name, c.root_account_id,
       EXISTS (SELECT 1 FROM chain ch WHERE ch.course_id = c.id AND ch.account_id = $2) AS in_account
FROM courses c
WHERE c.id = ANY($1::bigint[]) AND c.workflow_state <> 'deleted'
"""

# Every group a batch can reference: by guid in the batch's contexts ($1, $2), the roots of those
# contexts, the parents this import already wrote ($4, $5), magic ids ($6), and the target group
# with its ancestors ($7). One branch per index, so each is an index scan.
SELECT_GROUPS = """
WITH RECURSIVE contexts(context_type, context_id) AS (
    SELECT * FROM unnest($1::text[], $2::bigint[])
),
target_chain(id, parent_id) AS (
    SELECT id, parent_id FROM learning_outcome_groups WHERE id = $7::bigint
    UNION
    SELECT g.id, g.parent_id FROM learning_outcome_groups g JOIN target_chain t ON g.id = t.parent_id
),
wanted(id) AS (
    SELECT g.id FROM learning_outcome_groups g JOIN contexts c USING (context_type, context_id)
    WHERE g.vendor_guid = ANY($3::text[])
    UNION
    SELECT g.id FROM learning_outcome_groups g JOIN contexts c USING (context_type, context_id)
    WHERE g.parent_id IS NULL
    UNION
    SELECT g.id FROM learning_outcome_groups g
    WHERE g.last_import_id = $4 AND g.vendor_guid = ANY($5::text[])
    UNION
    SELECT g.id FROM learning_outcome_groups g WHERE g.id = ANY($6::bigint[])
    UNION
    SELECT id FROM target_chain
)
SELECT g.id, g.context_type, g.context_id, g.root_account_id, g.parent_id, g.vendor_guid, g.title,
       g.description, g.workflow_state, g.last_import_id,
       g.id IN (SELECT id FROM target_chain) AS in_target_chain
FROM learning_outcome_groups g JOIN wanted w ON w.id = g.id
ORDER BY g.id
"""

# Outcomes by guid across the installation ($1) or by magic id ($2), with the owner's name.
# ratings are read as text so the codec configured on the connection does not matter.
SELECT_OUTCOMES = """
SELECT o.id, o.context_type, o.context_id, o.root_account_id, coalesce(a.name, c.name) AS owner_name,
       o.vendor_guid, o.short_description, o.description, o.display_name, o.calculation_method,
       o.calculation_int, o.ratings::text AS ratings, o.mastery_points, o.points_possible,
       o.workflow_state, o.last_import_id
FROM learning_outcomes o
LEFT JOIN accounts a ON o.context_type = 'Account' AND a.id = o.context_id
LEFT JOIN courses c ON o.context_type = 'Course' AND c.id = o.context_id
WHERE o.vendor_guid = ANY($1::text[]) OR o.id = ANY($2::bigint[])
ORDER BY o.id
"""

# Every link of the given outcomes, in any context and state. in_import_subtree says whether
# the link's context is the importing account ($2), one of its sub-accounts, or a course of
# those: the scope of link removal for account imports with a course_id column (spec §7.1).
# $3 false skips that walk.
SELECT_LINKS = """
WITH RECURSIVE subtree(id) AS (
    SELECT $2::bigint WHERE $3::boolean
    UNION
    SELECT a.id FROM accounts a JOIN subtree s ON a.parent_account_id = s.id
)
SELECT l.learning_outcome_id, l.associated_group_id, l.context_type, l.context_id, l.workflow_state,
       $3::boolean AND (
           (l.context_type = 'Account' AND l.context_id IN (SELECT id FROM subtree))
           OR (l.context_type = 'Course' AND EXISTS (
               SELECT 1 FROM courses c
               WHERE c.id = l.context_id AND c.account_id IN (SELECT id FROM subtree)))
       ) AS in_import_subtree
FROM learning_outcome_links l
WHERE l.learning_outcome_id = ANY($1::bigint[])
ORDER BY l.id
"""

# Ids for the groups and outcomes a batch may create, reserved up front so later rows of the
# batch can point at them. Unused ones are simply never inserted.
RESERVE_IDS = """
SELECT ARRAY(SELECT nextval(pg_get_serial_sequence('learning_outcome_groups', 'id'))
             FROM generate_series(1, $1::int)) AS group_ids,
       ARRAY(SELECT nextval(pg_get_serial_sequence('learning_outcomes', 'id'))
             FROM generate_series(1, $2::int)) AS outcome_ids
"""

# --- writes --------------------------------------------------------------------------------

CREATE_STAGE_TABLES = """
CREATE TEMP TABLE IF NOT EXISTS stage_outcome_groups (
    id bigint, context_type text, context_id bigint, root_account_id bigint, parent_id bigint,
    vendor_guid text, title text, description text, workflow_state text, last_import_id bigint
) ON COMMIT DROP;
CREATE TEMP TABLE IF NOT EXISTS stage_outcomes (
    id bigint, context_type text, context_id bigint, root_account_id bigint, vendor_guid text,
    short_description text, description text, display_name text, calculation_method text,
    calculation_int integer, ratings text, mastery_points double precision,
    points_possible double precision, workflow_state text, last_import_id bigint
) ON COMMIT DROP;
CREATE TEMP TABLE IF NOT EXISTS stage_outcome_links (
    learning_outcome_id bigint, associated_group_id bigint, context_type text, context_id bigint,
    workflow_state text
) ON COMMIT DROP;
CREATE TEMP TABLE IF NOT EXISTS stage_friendly_descriptions (
    learning_outcome_id bigint, context_type text, context_id bigint, description text, active boolean
) ON COMMIT DROP;
"""

GROUP_COLUMNS = (
    "id",
    "context_type",
    "context_id",
    "root_account_id",
    "parent_id",
    "vendor_guid",
    "title",
    "description",
    "workflow_state",
    "last_import_id",
)
# One statement for new and changed groups; parent_id may name a group inserted by the same
# statement, which is fine because foreign keys are checked at the end of the statement.
UPSERT_GROUPS = """
WITH staged AS (DELETE FROM stage_outcome_groups RETURNING *)
INSERT INTO learning_outcome_groups AS g (
    id, context_type, context_id, root_account_id, parent_id, vendor_guid, title, description,
    workflow_state, last_import_id)
SELECT id, context_type, context_id, root_account_id, parent_id, vendor_guid, title, description,
       workflow_state, last_import_id
FROM staged ORDER BY id
ON CONFLICT (id) DO UPDATE SET
    parent_id = EXCLUDED.parent_id, vendor_guid = EXCLUDED.vendor_guid, title = EXCLUDED.title,
    description = EXCLUDED.description, workflow_state = EXCLUDED.workflow_state,
    last_import_id = EXCLUDED.last_import_id, updated_at = now()
"""

OUTCOME_COLUMNS = (
    "id",
    "context_type",
    "context_id",
    "root_account_id",
    "vendor_guid",
    "short_description",
    "description",
    "display_name",
    "calculation_method",
    "calculation_int",
    "ratings",
    "mastery_points",
    "points_possible",
    "workflow_state",
    "last_import_id",
)
# Ordered by id so an existing outcome that gives up its guid (a magic-guid row stores the magic
# string) is updated before a new outcome takes that guid: the unique index is checked per row.
UPSERT_OUTCOMES = """
WITH staged AS (DELETE FROM stage_outcomes RETURNING *)
INSERT INTO learning_outcomes AS o (
    id, context_type, context_id, root_account_id, vendor_guid, short_description, description,
    display_name, calculation_method, calculation_int, ratings, mastery_points, points_possible,
    workflow_state, last_import_id)
SELECT id, context_type, context_id, root_account_id, vendor_guid, short_description, description,
       display_name, calculation_method, calculation_int, ratings::jsonb, mastery_points,
       points_possible, workflow_state, last_import_id
FROM staged ORDER BY id
ON CONFLICT (id) DO UPDATE SET
    vendor_guid = EXCLUDED.vendor_guid, short_description = EXCLUDED.short_description,
    description = EXCLUDED.description, display_name = EXCLUDED.display_name,
    calculation_method = EXCLUDED.calculation_method, calculation_int = EXCLUDED.calculation_int,
    ratings = EXCLUDED.ratings, mastery_points = EXCLUDED.mastery_points,
    points_possible = EXCLUDED.points_possible, workflow_state = EXCLUDED.workflow_state,
    last_import_id = EXCLUDED.last_import_id, updated_at = now()
"""

LINK_COLUMNS = ("learning_outcome_id", "associated_group_id", "context_type", "context_id", "workflow_state")
UPSERT_LINKS = """
WITH staged AS (DELETE FROM stage_outcome_links RETURNING *)
INSERT INTO learning_outcome_links (
    learning_outcome_id, associated_group_id, context_type, context_id, workflow_state)
SELECT learning_outcome_id, associated_group_id, context_type, context_id, workflow_state FROM staged
ON CONFLICT (associated_group_id, learning_outcome_id) DO UPDATE SET
    workflow_state = EXCLUDED.workflow_state, updated_at = now()
"""

FRIENDLY_COLUMNS = ("learning_outcome_id", "context_type", "context_id", "description", "active")
# A staged row with a description sets it (active, or deleted when a later row of the batch
# cleared it); one without only deactivates a stored description.
UPSERT_FRIENDLY_DESCRIPTIONS = """
WITH staged AS (DELETE FROM stage_friendly_descriptions RETURNING *),
upserted AS (
    INSERT INTO outcome_friendly_descriptions (
        learning_outcome_id, context_type, context_id, description, workflow_state)
    SELECT learning_outcome_id, context_type, context_id, description,
           CASE WHEN active THEN 'active' ELSE 'deleted' END
    FROM staged WHERE description IS NOT NULL
    ON CONFLICT (learning_outcome_id, context_type, context_id) DO UPDATE SET
        description = EXCLUDED.description, workflow_state = EXCLUDED.workflow_state, updated_at = now()
)
UPDATE outcome_friendly_descriptions f SET workflow_state = 'deleted', updated_at = now()
FROM staged s
WHERE s.description IS NULL AND f.learning_outcome_id = s.learning_outcome_id
  AND f.context_type = s.context_type AND f.context_id = s.context_id AND f.workflow_state <> 'deleted'
"""

# Spec §7.3 for group $1 (already saved as deleted): its active subgroups, recursively, are
# deleted, and so is every active link in the subtree. An outcome loses its last active link in
# its owning context that way is deleted too, with all its links everywhere. Deleting the links
# one by one, as Canvas does, ends in the same state: each outcome is judged once all of the
# subtree's links are gone. Subgroups do not get the import marker (no row saved them).
DELETE_GROUP_SUBTREE = """
WITH RECURSIVE subtree(id) AS (
    SELECT $1::bigint
    UNION
    SELECT g.id FROM learning_outcome_groups g JOIN subtree s ON g.parent_id = s.id
    WHERE g.workflow_state = 'active'
),
dead_links AS (
    SELECT l.id, l.learning_outcome_id, l.context_type, l.context_id FROM learning_outcome_links l
    WHERE l.associated_group_id IN (SELECT id FROM subtree) AND l.workflow_state = 'active'
),
dead_outcomes AS (
    SELECT DISTINCT o.id FROM dead_links d JOIN learning_outcomes o ON o.id = d.learning_outcome_id
    WHERE o.context_type = d.context_type AND o.context_id = d.context_id
      AND NOT EXISTS (
          SELECT 1 FROM learning_outcome_links l
          WHERE l.learning_outcome_id = o.id AND l.workflow_state = 'active'
            AND l.context_type = o.context_type AND l.context_id = o.context_id
            AND l.associated_group_id NOT IN (SELECT id FROM subtree))
),
deleted_groups AS (
    UPDATE learning_outcome_groups SET workflow_state = 'deleted', updated_at = now()
    WHERE id IN (SELECT id FROM subtree) AND workflow_state = 'active'
    RETURNING id
),
deleted_links AS (
    UPDATE learning_outcome_links SET workflow_state = 'deleted', updated_at = now()
    WHERE workflow_state = 'active'
      AND (id IN (SELECT id FROM dead_links) OR learning_outcome_id IN (SELECT id FROM dead_outcomes))
    RETURNING id
),
deleted_outcomes AS (
    UPDATE learning_outcomes SET workflow_state = 'deleted', updated_at = now()
    WHERE id IN (SELECT id FROM dead_outcomes) AND workflow_state <> 'deleted'
    RETURNING id
)
SELECT (SELECT count(*) FROM deleted_groups) AS groups, (SELECT count(*) FROM deleted_links) AS links,
       (SELECT count(*) FROM deleted_outcomes) AS outcomes
"""


async def fetch_courses(conn: asyncpg.Connection, course_ids: Sequence[int], account_id: int) -> list[asyncpg.Record]:
    """Courses with these ids (not deleted), each with `in_account`: in the subtree of `account_id`."""
    return list(await conn.fetch(SELECT_COURSES, list(course_ids), account_id))


async def fetch_groups(
    conn: asyncpg.Connection,
    contexts: Sequence[tuple[str, int]],
    guids: Iterable[str],
    import_id: int,
    parent_guids: Iterable[str],
    magic_ids: Iterable[int],
    target_group_id: int | None,
) -> list[asyncpg.Record]:
    """The groups a batch can reference (see SELECT_GROUPS), each with `in_target_chain`."""
    return list(
        await conn.fetch(
            SELECT_GROUPS,
            [c[0] for c in contexts],
            [c[1] for c in contexts],
            list(guids),
            import_id,
            list(parent_guids),
            list(magic_ids),
            target_group_id,
        )
    )


async def fetch_outcomes(
    conn: asyncpg.Connection, guids: Iterable[str], magic_ids: Iterable[int]
) -> list[asyncpg.Record]:
    """Outcomes with these vendor_guids or ids, in any context and state, with their owner's name."""
    return list(await conn.fetch(SELECT_OUTCOMES, list(guids), list(magic_ids)))


async def fetch_links(
    conn: asyncpg.Connection, outcome_ids: Sequence[int], account_id: int, scope_to_subtree: bool
) -> list[asyncpg.Record]:
    """All links of these outcomes; `in_import_subtree` is computed only when `scope_to_subtree`."""
    if not outcome_ids:
        return []
    return list(await conn.fetch(SELECT_LINKS, list(outcome_ids), account_id, scope_to_subtree))


async def reserve_ids(conn: asyncpg.Connection, groups: int, outcomes: int) -> tuple[list[int], list[int]]:
    """`groups` new group ids and `outcomes` new outcome ids from the tables' sequences."""
    if groups == 0 and outcomes == 0:
        return [], []
    row = await conn.fetchrow(RESERVE_IDS, groups, outcomes)
    assert row is not None
    return list(row["group_ids"]), list(row["outcome_ids"])


async def create_stage_tables(conn: asyncpg.Connection) -> None:
    """The temporary staging tables, if this transaction does not have them yet."""
    await conn.execute(CREATE_STAGE_TABLES)


async def write_groups(conn: asyncpg.Connection, records: Sequence[tuple[Any, ...]]) -> None:
    """Insert or update these groups (tuples in GROUP_COLUMNS order)."""
    if records:
        await conn.copy_records_to_table("stage_outcome_groups", records=records, columns=GROUP_COLUMNS)
        await conn.execute(UPSERT_GROUPS)


async def write_outcomes(conn: asyncpg.Connection, records: Sequence[tuple[Any, ...]]) -> None:
    """Insert or update these outcomes (tuples in OUTCOME_COLUMNS order, ratings as JSON text)."""
    if records:
        await conn.copy_records_to_table("stage_outcomes", records=records, columns=OUTCOME_COLUMNS)
        await conn.execute(UPSERT_OUTCOMES)


async def write_links(conn: asyncpg.Connection, records: Sequence[tuple[Any, ...]]) -> None:
    """Insert or update these links (tuples in LINK_COLUMNS order), one per (group, outcome)."""
    if records:
        await conn.copy_records_to_table("stage_outcome_links", records=records, columns=LINK_COLUMNS)
        await conn.execute(UPSERT_LINKS)


async def write_friendly_descriptions(conn: asyncpg.Connection, records: Sequence[tuple[Any, ...]]) -> None:
    """Set or deactivate friendly descriptions (tuples in FRIENDLY_COLUMNS order)."""
    if records:
        await conn.copy_records_to_table("stage_friendly_descriptions", records=records, columns=FRIENDLY_COLUMNS)
        await conn.execute(UPSERT_FRIENDLY_DESCRIPTIONS)


async def delete_group_subtree(conn: asyncpg.Connection, group_id: int) -> None:
    """Spec §7.3 for a group already stored as deleted (see DELETE_GROUP_SUBTREE)."""
    await conn.execute(DELETE_GROUP_SUBTREE, group_id)
