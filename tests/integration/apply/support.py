"""Helpers for the batch-applier tests: hand-built rows, a small installation, the stored tree.

Imports run the way worker/jobs.py runs them: one BatchApplier per import, batches in order,
all inside one transaction. Batches are tiny (2-3 rows) so that rows reference rows of earlier
batches as well as earlier rows of their own batch.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import asyncpg

from shared.db.accounts import Context
from worker.apply import BatchApplier, ImportRun
from worker.rows import GroupRow, OutcomeRow, Rating, RowError, WorkflowState

Row = GroupRow | OutcomeRow | RowError
Tree = dict[str, Any]
DEFAULT_RATINGS = [
    (5.0, "Exceeds Expectations"),
    (3.0, "Meets Expectations"),
    (0.0, "Does Not Meet Expectations"),
]


# --- building rows ------------------------------------------------------------------------------

_row_numbers = itertools.count(2)


def group(
    guid: str,
    title: str | None = None,
    parents: str = "",
    *,
    state: str = "active",
    description: str = "",
    course_id: str | None = None,
    canvas_id: str | None = None,
    row: int | None = None,
) -> GroupRow:
    return GroupRow(
        row=row if row is not None else next(_row_numbers),
        vendor_guid=guid,
        title=title if title is not None else f"Group {guid}",
        description=description,
        raw_description=description,
        workflow_state=WorkflowState(state),
        parent_guids=tuple(dict.fromkeys(parents.split())),
        course_id=course_id,
        canvas_id=canvas_id,
    )


def outcome(
    guid: str,
    title: str | None = None,
    parents: str = "",
    *,
    state: str = "active",
    description: str | None = None,
    display_name: str | None = None,
    method: str | None = None,
    calculation_int: str | None = None,
    ratings: Sequence[tuple[float, str]] = (),
    mastery: float | None = None,
    friendly: str | None = None,
    canvas_id: str | None = None,
    row: int | None = None,
) -> OutcomeRow:
    return OutcomeRow(
        row=row if row is not None else next(_row_numbers),
        vendor_guid=guid,
        title=title if title is not None else f"Outcome {guid}",
        description=description,
        raw_description=description,
        display_name=display_name,
        calculation_method=method,
        calculation_int=calculation_int,
        ratings=tuple(Rating(float(p), d) for p, d in ratings),
        tiers_complete=True,
        mastery_points=mastery,
        friendly_description=friendly,
        workflow_state=WorkflowState(state),
        parent_guids=tuple(dict.fromkeys(parents.split())),
        canvas_id=canvas_id,
    )


def numbered(*rows: Row) -> list[Row]:
    """Rows renumbered 2, 3, ... as the records of one file (the header is record 1)."""
    return [replace(row, row=number) for number, row in enumerate(rows, start=2)]


# --- contexts, imports and the stored tree ------------------------------------------------------


@dataclass
class Installation:
    """The conformance README's contexts: A, its sub-account A1, another root B, course C1 in A."""

    db: asyncpg.Connection
    a: Context
    a1: Context
    b: Context
    c1: Context
    c_a1: Context  # a course in A1
    c_b: Context  # a course in B

    async def run(
        self,
        context: Context,
        rows: Sequence[Row],
        *,
        batch: int = 3,
        target: str | None = None,
        course_column: bool = False,
        import_id: int | None = None,
    ) -> list[tuple[int, str]]:
        """One import, committed; returns its errors."""
        if import_id is None:
            import_id = await self.db.fetchval("SELECT nextval('outcome_imports_id_seq')")
        target_id = None if target is None else await self.group_id(context, target)
        async with self.db.transaction():
            applier = BatchApplier(self.db, ImportRun(import_id, context, target_id, course_column))
            errors: list[tuple[int, str]] = []
            # As the worker does: each batch is written while the next one is applied, and the
            # reads for the one after that are made meanwhile.
            batches = [rows[start : start + batch] for start in range(0, len(rows), batch)]
            for current, following in zip(batches, [*batches[1:], None], strict=True):
                if following is not None:
                    applier.read_ahead(following, after=current)
                errors += await applier.apply_leaving_write(current)
            await applier.write_pending()
        return errors

    async def group_id(self, context: Context, guid: str) -> int:
        value: int = await self.db.fetchval(
            "SELECT id FROM learning_outcome_groups WHERE context_type = $1 AND context_id = $2"
            " AND vendor_guid = $3 ORDER BY workflow_state <> 'active', id LIMIT 1",
            context.type.value,
            context.id,
            guid,
        )
        return value

    async def tree(self, context: Context) -> Tree:
        """Active content under the context's root: {"g:guid": {...}, "o:guid": title}.

        An outcome that is itself deleted while its link is active would show as "title [deleted]".
        """
        key = (context.type.value, context.id)
        groups = await self.db.fetch(
            "SELECT id, parent_id, vendor_guid, workflow_state FROM learning_outcome_groups"
            " WHERE context_type = $1 AND context_id = $2",
            *key,
        )
        links = await self.db.fetch(
            "SELECT l.associated_group_id, o.vendor_guid, o.short_description, o.workflow_state"
            " FROM learning_outcome_links l JOIN learning_outcomes o ON o.id = l.learning_outcome_id"
            " WHERE l.context_type = $1 AND l.context_id = $2 AND l.workflow_state = 'active'",
            *key,
        )
        roots = [g for g in groups if g["parent_id"] is None]
        assert len(roots) <= 1
        if not roots:
            return {}

        def build(group_id: int) -> Tree:
            node: Tree = {}
            for g in groups:
                if g["parent_id"] == group_id and g["workflow_state"] == "active":
                    node[f"g:{g['vendor_guid']}"] = build(g["id"])
            for link in links:
                if link["associated_group_id"] == group_id:
                    suffix = "" if link["workflow_state"] == "active" else " [deleted]"
                    node[f"o:{link['vendor_guid']}"] = link["short_description"] + suffix
            return node

        return build(roots[0]["id"])

    async def outcome(self, guid: str) -> asyncpg.Record:
        row = await self.db.fetchrow(
            "SELECT o.*, o.ratings::text AS ratings_text FROM learning_outcomes o WHERE vendor_guid = $1",
            guid,
        )
        assert row is not None, guid
        return row

    async def snapshot(self) -> list[tuple[Any, ...]]:
        """Everything the importer writes, without ids or timestamps."""
        groups = await self.db.fetch(
            "SELECT g.context_type, g.context_id, g.vendor_guid, g.title, g.description, g.workflow_state,"
            " p.vendor_guid AS parent FROM learning_outcome_groups g"
            " LEFT JOIN learning_outcome_groups p ON p.id = g.parent_id ORDER BY 1, 2, 3, 4, 6"
        )
        outcomes = await self.db.fetch(
            "SELECT context_type, context_id, vendor_guid, short_description, description, display_name,"
            " calculation_method, calculation_int, ratings::text, mastery_points, points_possible,"
            " workflow_state FROM learning_outcomes ORDER BY vendor_guid"
        )
        links = await self.db.fetch(
            "SELECT o.vendor_guid, g.vendor_guid, g.title, l.context_type, l.context_id, l.workflow_state"
            " FROM learning_outcome_links l JOIN learning_outcomes o ON o.id = l.learning_outcome_id"
            " JOIN learning_outcome_groups g ON g.id = l.associated_group_id ORDER BY 1, 2, 3"
        )
        return [tuple(r) for r in (*groups, *outcomes, *links)]


async def assert_default_outcome(inst: Installation, guid: str) -> None:
    o = await inst.outcome(guid)
    assert (o["calculation_method"], o["calculation_int"], o["mastery_points"], o["points_possible"]) == (
        "decaying_average",
        65,
        3.0,
        5.0,
    )
    assert ratings(o) == DEFAULT_RATINGS


def ratings(record: asyncpg.Record) -> list[tuple[float, str]]:
    import json

    return [(r["points"], r["description"]) for r in json.loads(record["ratings_text"])]
