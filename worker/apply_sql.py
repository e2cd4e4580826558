"""The SQL of the batch applier: a fixed number of set-based statements per batch.

Reads fetch, in one statement each, everything a batch's rows can reference (spec §5.1, §5.3,
§5.6, §8); writes copy new outcomes and links straight into their tables, and stage the other
final states with COPY into temporary tables to apply them with one upsert per table. Nothing
here runs once per row. Every function takes the import's
connection, inside the import's transaction.

Lookups by guid or id go through `unnest(...)` and a LATERAL subquery that the planner cannot
flatten (LIMIT/OFFSET): one index probe per value, whatever the statistics say. Those are
stale inside an import (its rows are not committed, and nothing re-plans a cached statement as
the tables grow), and a sequential scan per batch would make an import quadratic in its size.

The temporary tables are created once per import and live until its transaction ends (ON
COMMIT DROP). A staging table is emptied after each upsert, by DELETE, and every
TRUNCATE_AFTER_ROWS rows by TRUNCATE: the rows DELETE leaves dead are scanned again by every
later upsert (nothing vacuums inside a transaction), but TRUNCATE costs about as much as a
batch's upsert. One more table holds the outcomes this import has seen but left unchanged, so
did not write.

Rows go by COPY, whose binary encoding costs the worker a fraction of what array
parameters (`unnest($1::text[], ...)`) do; the few friendly-description writes use arrays.
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

# Every group a batch can reference: by guid in the batch's contexts ($1, $2, $3), the roots of
# those contexts, the parents this import already wrote ($4, $5: looked for in the contexts it
# has written groups in, $8, $9), magic ids ($6), and the target group with its ancestors ($7).
# One index probe per value (see the module docstring): by last_import_id instead, each batch
# would read every group the import has written so far.
SELECT_GROUPS = """
WITH RECURSIVE contexts(context_type, context_id) AS (
    SELECT * FROM unnest($1::text[], $2::bigint[])
),
target_chain(id, parent_id) AS (
    SELECT id, parent_id FROM learning_outcome_groups WHERE id = $7::bigint
    UNION
    SELECT g.id, g.parent_id FROM target_chain t
    CROSS JOIN LATERAL (
        SELECT g.id, g.parent_id FROM learning_outcome_groups g WHERE g.id = t.parent_id LIMIT 1
    ) g
),
wanted(id) AS (
    SELECT g.id FROM contexts c CROSS JOIN unnest($3::text[]) AS v(guid)
    CROSS JOIN LATERAL (
        SELECT g.id FROM learning_outcome_groups g
        WHERE g.context_type = c.context_type AND g.context_id = c.context_id AND g.vendor_guid = v.guid
        OFFSET 0
    ) g
    UNION
    SELECT g.id FROM contexts c
    CROSS JOIN LATERAL (
        SELECT g.id FROM learning_outcome_groups g
        WHERE g.context_type = c.context_type AND g.context_id = c.context_id AND g.parent_id IS NULL
        OFFSET 0
    ) g
    UNION
    SELECT g.id FROM unnest($8::text[], $9::bigint[]) AS c(context_type, context_id)
    CROSS JOIN unnest($5::text[]) AS p(guid)
    CROSS JOIN LATERAL (
        SELECT g.id FROM learning_outcome_groups g
        WHERE g.context_type = c.context_type AND g.context_id = c.context_id AND g.vendor_guid = p.guid
          AND g.last_import_id = $4
        OFFSET 0
    ) g
    UNION
    SELECT id FROM unnest($6::bigint[]) AS id
    UNION
    SELECT id FROM target_chain
)
SELECT g.id, g.context_type, g.context_id, g.root_account_id, g.parent_id, g.vendor_guid, g.title,
       g.description, g.workflow_state, g.last_import_id,
       g.id IN (SELECT id FROM target_chain) AS in_target_chain
FROM wanted w
CROSS JOIN LATERAL (SELECT * FROM learning_outcome_groups g WHERE g.id = w.id LIMIT 1) g
ORDER BY g.id
"""

# Outcomes by guid across the installation ($1) or by magic id ($2; found twice, kept once), with
# the owner's name (looked up once per owner), whether this import has seen it ($3 as
# last_import_id, from import_seen_outcomes when that was not written), and the friendly
# description stored for it in its owner. ratings are read as text so the codec configured on
# the connection does not matter.
SELECT_OUTCOMES = """
WITH found AS MATERIALIZED (
    SELECT o.* FROM unnest($1::text[]) AS v(guid)
    CROSS JOIN LATERAL (SELECT * FROM learning_outcomes o WHERE o.vendor_guid = v.guid LIMIT 1) o
    UNION ALL
    SELECT o.* FROM unnest($2::bigint[]) AS m(id)
    CROSS JOIN LATERAL (SELECT * FROM learning_outcomes o WHERE o.id = m.id LIMIT 1) o
),
owners AS (
    SELECT ow.context_type, ow.context_id,
           CASE ow.context_type
               WHEN 'Account' THEN (SELECT a.name FROM accounts a WHERE a.id = ow.context_id)
               WHEN 'Course' THEN (SELECT c.name FROM courses c WHERE c.id = ow.context_id)
           END AS name
    FROM (SELECT DISTINCT context_type, context_id FROM found WHERE context_type IS NOT NULL) ow
)
SELECT DISTINCT ON (o.id)
       o.id, o.context_type, o.context_id, o.root_account_id, ow.name AS owner_name,
       o.vendor_guid, o.short_description, o.description, o.display_name, o.calculation_method,
       o.calculation_int, o.ratings::text AS ratings, o.mastery_points, o.points_possible,
       o.workflow_state,
       CASE WHEN (SELECT true FROM import_seen_outcomes s WHERE s.id = o.id LIMIT 1) THEN $3::bigint
            ELSE o.last_import_id END AS last_import_id,
       f.description AS friendly_description, f.workflow_state AS friendly_state
FROM found o
LEFT JOIN owners ow ON ow.context_type = o.context_type AND ow.context_id = o.context_id
LEFT JOIN LATERAL (
    SELECT fd.description, fd.workflow_state FROM outcome_friendly_descriptions fd
    WHERE fd.learning_outcome_id = o.id AND fd.context_type = o.context_type AND fd.context_id = o.context_id
    LIMIT 1
) f ON true
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
FROM unnest($1::bigint[]) AS u(id)
CROSS JOIN LATERAL (SELECT * FROM learning_outcome_links l WHERE l.learning_outcome_id = u.id OFFSET 0) l
ORDER BY l.id
"""

# Ids for the groups and outcomes a batch may create, reserved up front so later rows of the
# batch can point at them. Unused ones are simply never inserted.
RESERVE_IDS = """
WITH sequences AS MATERIALIZED (
    SELECT pg_get_serial_sequence('learning_outcome_groups', 'id')::regclass AS groups,
           pg_get_serial_sequence('learning_outcomes', 'id')::regclass AS outcomes
)
SELECT ARRAY(SELECT nextval(s.groups) FROM sequences s, generate_series(1, $1::int)) AS group_ids,
       ARRAY(SELECT nextval(s.outcomes) FROM sequences s, generate_series(1, $2::int)) AS outcome_ids
"""

# --- writes --------------------------------------------------------------------------------

# Once per import transaction. Outcomes that a row of this import left unchanged are not written,
# so their last_import_id stays as it was: import_seen_outcomes remembers them instead, for "has
# already appeared in this import" in later batches (SELECT_OUTCOMES).
# JIT is off for the transaction: statistics are stale inside an import, and the inflated cost
# estimates of the lookups had PostgreSQL spend ~150 ms compiling one that runs in ~10 ms.
# work_mem: a batch's outcome lookup holds up to 5000 whole stored outcomes (about 4 MB), which
# spilled to temporary files at the default 4 MB.
PREPARE_TRANSACTION = """
SET LOCAL jit = off;
SET LOCAL work_mem = '64MB';
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
    workflow_state text, outcome_title text
) ON COMMIT DROP;
CREATE TEMP TABLE IF NOT EXISTS import_seen_outcomes (id bigint PRIMARY KEY) ON COMMIT DROP;
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
# Stored groups, after the batch's new ones (see write_groups): parent_id may name a new group.
UPSERT_GROUPS = """
INSERT INTO learning_outcome_groups AS g (
    id, context_type, context_id, root_account_id, parent_id, vendor_guid, title, description,
    workflow_state, last_import_id)
SELECT id, context_type, context_id, root_account_id, parent_id, vendor_guid, title, description,
       workflow_state, last_import_id
FROM stage_outcome_groups ORDER BY id
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
# Stored outcomes, ordered by id. They are written before the batch's new outcomes, so one that
# gives up its guid (a magic-guid row stores the magic string) has done so before a new outcome
# takes that guid: the unique index is checked per row.
UPSERT_OUTCOMES = """
INSERT INTO learning_outcomes AS o (
    id, context_type, context_id, root_account_id, vendor_guid, short_description, description,
    display_name, calculation_method, calculation_int, ratings, mastery_points, points_possible,
    workflow_state, last_import_id)
SELECT id, context_type, context_id, root_account_id, vendor_guid, short_description, description,
       display_name, calculation_method, calculation_int, ratings::json, mastery_points,
       points_possible, workflow_state, last_import_id
FROM stage_outcomes ORDER BY id
ON CONFLICT (id) DO UPDATE SET
    vendor_guid = EXCLUDED.vendor_guid, short_description = EXCLUDED.short_description,
    description = EXCLUDED.description, display_name = EXCLUDED.display_name,
    calculation_method = EXCLUDED.calculation_method, calculation_int = EXCLUDED.calculation_int,
    ratings = EXCLUDED.ratings, mastery_points = EXCLUDED.mastery_points,
    points_possible = EXCLUDED.points_possible, workflow_state = EXCLUDED.workflow_state,
    last_import_id = EXCLUDED.last_import_id, updated_at = now()
"""

# outcome_title: the outcome's title, by which a group's links are listed (migration 0022).
LINK_COLUMNS = (
    "learning_outcome_id",
    "associated_group_id",
    "context_type",
    "context_id",
    "workflow_state",
    "outcome_title",
)
# Link ids come from the sequence in row order, and ON CONFLICT takes one even for a row that
# updates: so a batch with stored links to update keeps one statement for all its links, and only
# a batch of new links alone (every batch of a first import) is copied straight into the table.
UPSERT_LINKS = """
INSERT INTO learning_outcome_links (
    learning_outcome_id, associated_group_id, context_type, context_id, workflow_state, outcome_title)
SELECT learning_outcome_id, associated_group_id, context_type, context_id, workflow_state, outcome_title
FROM stage_outcome_links
ON CONFLICT (associated_group_id, learning_outcome_id) DO UPDATE SET
    workflow_state = EXCLUDED.workflow_state, outcome_title = EXCLUDED.outcome_title, updated_at = now()
"""

FRIENDLY_COLUMNS = ("learning_outcome_id", "context_type", "context_id", "description", "active")
# A row with a description sets it (active, or deleted when a later row of the batch cleared
# it); one without only deactivates a stored description.
UPSERT_FRIENDLY_DESCRIPTIONS = """
WITH staged AS MATERIALIZED (
    SELECT * FROM unnest($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::boolean[])
        AS s(learning_outcome_id, context_type, context_id, description, active)
),
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
    written_contexts: Iterable[tuple[str, int]],
) -> list[asyncpg.Record]:
    """The groups a batch can reference (see SELECT_GROUPS), each with `in_target_chain`.

    `written_contexts` must hold every context in which the import has written a group."""
    written = list(written_contexts)
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
            [c[0] for c in written],
            [c[1] for c in written],
        )
    )


async def fetch_outcomes(
    conn: asyncpg.Connection, guids: Iterable[str], magic_ids: Iterable[int], import_id: int
) -> list[asyncpg.Record]:
    """Outcomes with these vendor_guids or ids, in any context and state, with their owner's name,
    `last_import_id` = `import_id` for those the import has seen, and the stored friendly description."""
    return list(await conn.fetch(SELECT_OUTCOMES, list(guids), list(magic_ids), import_id))


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


# See the module docstring: dead rows a scan may meet, against the cost of one TRUNCATE.
TRUNCATE_AFTER_ROWS = 10_000


class StagingTables:
    """The temporary tables of one import transaction (see PREPARE_TRANSACTION), created on first
    use, and the dead rows each staging table holds."""

    def __init__(self) -> None:
        self._created = False
        self._dead_rows: dict[str, int] = {}

    async def prepare(self, conn: asyncpg.Connection) -> None:
        if not self._created:
            await conn.execute(PREPARE_TRANSACTION)
            self._created = True

    async def upsert(
        self,
        conn: asyncpg.Connection,
        table: str,
        columns: Sequence[str],
        records: Sequence[tuple[Any, ...]],
        upsert: str,
    ) -> None:
        """COPY `records` into the staging `table`, apply them with `upsert`, empty the table."""
        await conn.copy_records_to_table(table, records=records, columns=columns)
        dead = self._dead_rows.get(table, 0) + len(records)
        empty = "DELETE FROM" if dead < TRUNCATE_AFTER_ROWS else "TRUNCATE"
        await conn.execute(f"{upsert};\n{empty} {table}")  # one round trip
        self._dead_rows[table] = dead if dead < TRUNCATE_AFTER_ROWS else 0


def _columns(records: Sequence[tuple[Any, ...]]) -> list[list[Any]]:
    """Records (tuples, at least one) as one list per column, for unnest($1::type[], ...)."""
    return [list(column) for column in zip(*records, strict=True)]


async def _copy_new(
    conn: asyncpg.Connection, table: str, columns: Sequence[str], records: Sequence[tuple[Any, ...]]
) -> None:
    """COPY new rows straight into their table: no staging and no ON CONFLICT."""
    await conn.copy_records_to_table(table, records=records, columns=columns)


async def write_groups(
    conn: asyncpg.Connection,
    stage: StagingTables,
    new: Sequence[tuple[Any, ...]],
    stored: Sequence[tuple[Any, ...]],
) -> None:
    """Insert the `new` groups and update the `stored` ones (tuples in GROUP_COLUMNS order).

    New ones are copied first: a stored group may have moved under one of them. A new one may
    name another as its parent, later in the same COPY: foreign keys are checked at the end of
    the statement.
    """
    if new:
        await _copy_new(conn, "learning_outcome_groups", GROUP_COLUMNS, new)
    if stored:
        await stage.upsert(conn, "stage_outcome_groups", GROUP_COLUMNS, stored, UPSERT_GROUPS)


async def write_outcomes(
    conn: asyncpg.Connection,
    stage: StagingTables,
    new: Sequence[tuple[Any, ...]],
    stored: Sequence[tuple[Any, ...]],
) -> None:
    """Insert the `new` outcomes and update the `stored` ones (tuples in OUTCOME_COLUMNS order,
    ratings as JsonText).

    New ones are copied after the stored ones are updated (see UPSERT_OUTCOMES).
    """
    if stored:
        await stage.upsert(conn, "stage_outcomes", OUTCOME_COLUMNS, stored, UPSERT_OUTCOMES)
    if new:
        await _copy_new(conn, "learning_outcomes", OUTCOME_COLUMNS, new)


async def mark_seen_outcomes(conn: asyncpg.Connection, outcome_ids: Sequence[int]) -> None:
    """Remember outcomes this import has seen without writing them (see PREPARE_TRANSACTION)."""
    # Each id comes once per import: a row marks an outcome only if no earlier row did (else it
    # is "already appeared"). The primary key is what tells the planner a probe finds one row.
    if outcome_ids:
        await conn.copy_records_to_table("import_seen_outcomes", records=[(i,) for i in outcome_ids], columns=("id",))


async def write_links(
    conn: asyncpg.Connection, stage: StagingTables, records: Sequence[tuple[Any, ...]], all_new: bool
) -> None:
    """Insert or update these links (tuples in LINK_COLUMNS order), one per (group, outcome);
    `all_new`: none of them is stored yet."""
    if not records:
        return
    if all_new:
        await _copy_new(conn, "learning_outcome_links", LINK_COLUMNS, records)
    else:
        await stage.upsert(conn, "stage_outcome_links", LINK_COLUMNS, records, UPSERT_LINKS)


async def write_friendly_descriptions(conn: asyncpg.Connection, records: Sequence[tuple[Any, ...]]) -> None:
    """Set or deactivate friendly descriptions (tuples in FRIENDLY_COLUMNS order)."""
    if records:
        await conn.execute(UPSERT_FRIENDLY_DESCRIPTIONS, *_columns(records))


async def delete_group_subtree(conn: asyncpg.Connection, group_id: int) -> tuple[int, int, int]:
    """Spec §7.3 for a group already stored as deleted (see DELETE_GROUP_SUBTREE); how many
    groups (under it), outcomes and links it deleted."""
    row = await conn.fetchrow(DELETE_GROUP_SUBTREE, group_id)
    assert row is not None
    return row["groups"], row["outcomes"], row["links"]
