"""The batch applier against a real PostgreSQL: hand-built rows in, stored tree and errors out.

Imports run the way worker/jobs.py runs them: one BatchApplier per import, batches in order,
all inside one transaction. Batches are tiny (2-3 rows) so that rows reference rows of earlier
batches as well as earlier rows of their own batch.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
import pytest

from shared.db.accounts import Context, load_context
from shared.models import ContextType
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
            for start in range(0, len(rows), batch):
                errors += await applier.apply(rows[start : start + batch])
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


@pytest.fixture
async def inst(db: asyncpg.Connection) -> Installation:
    async def account(name: str, parent: int | None = None) -> int:
        value: int = await db.fetchval(
            "INSERT INTO accounts (name, parent_account_id, root_account_id) VALUES ($1, $2, $3) RETURNING id",
            name,
            parent,
            parent,
        )
        return value

    async def course(name: str, account_id: int, root_id: int) -> int:
        value: int = await db.fetchval(
            "INSERT INTO courses (name, account_id, root_account_id) VALUES ($1, $2, $3) RETURNING id",
            name,
            account_id,
            root_id,
        )
        return value

    a = await account("Account A")
    a1 = await account("Account A1", a)
    b = await account("Account B")
    c1 = await course("Course C1", a, a)
    c_a1 = await course("Course in A1", a1, a)
    c_b = await course("Course in B", b, b)

    async def ctx(type_: ContextType, id_: int) -> Context:
        loaded = await load_context(db, type_, id_)
        assert loaded is not None
        return loaded

    return Installation(
        db,
        await ctx(ContextType.account, a),
        await ctx(ContextType.account, a1),
        await ctx(ContextType.account, b),
        await ctx(ContextType.course, c1),
        await ctx(ContextType.course, c_a1),
        await ctx(ContextType.course, c_b),
    )


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


# --- the conformance cases, as rows -------------------------------------------------------------


@pytest.mark.parametrize("batch", [1, 2, 3, 100])
async def test_03_outcome_with_several_parents(inst: Installation, batch: int) -> None:
    rows = numbered(
        group("ns", "Number sense"),
        group("ops", "Operations"),
        outcome("pv", "Place value", "ns ops"),
        outcome("cnt", "Counting", "  ns  "),
        outcome("rep", "Repeated parent", "ns ns"),
    )
    assert await inst.run(inst.a, rows, batch=batch) == []
    assert await inst.tree(inst.a) == {
        "g:ns": {"o:pv": "Place value", "o:cnt": "Counting", "o:rep": "Repeated parent"},
        "g:ops": {"o:pv": "Place value"},
    }
    for guid in ("pv", "cnt", "rep"):
        await assert_default_outcome(inst, guid)


@pytest.mark.parametrize("batch", [2, 3])
async def test_04_group_with_several_parents(inst: Installation, batch: int) -> None:
    rows = numbered(
        group("p1", "Parent one"),
        group("p2", "Parent two"),
        group("kid", "Child group", "p1 p2"),
        outcome("orph", "Orphaned outcome", "kid"),
        outcome("ok", "Outcome under p2", "p2"),
    )
    assert await inst.run(inst.a, rows, batch=batch) == [
        (4, "An outcome group can only have one parent"),
        (5, 'Parent references not found prior to this row: ["kid"]'),
    ]
    assert await inst.tree(inst.a) == {"g:p1": {}, "g:p2": {"o:ok": "Outcome under p2"}}


async def test_13_deleted_outcome(inst: Installation) -> None:
    step1 = numbered(group("read", "Reading"), outcome("mi", "Main idea", "read"), outcome("inf", "Inference", "read"))
    assert await inst.run(inst.a, step1, batch=2) == []
    both = {"g:read": {"o:mi": "Main idea", "o:inf": "Inference"}}
    assert await inst.tree(inst.a) == both
    inference_id = (await inst.outcome("inf"))["id"]

    step2 = numbered(
        group("read", "Reading"),
        outcome("mi", "Main idea", "read"),
        outcome("inf", "Inference", "read", state="deleted"),
        outcome("ghost", "Never active", "read", state="deleted"),
    )
    assert await inst.run(inst.a, step2, batch=2) == []
    assert await inst.tree(inst.a) == {"g:read": {"o:mi": "Main idea"}}
    assert (await inst.outcome("inf"))["workflow_state"] == "deleted"
    assert (await inst.outcome("ghost"))["workflow_state"] == "deleted"

    step3 = numbered(group("read", "Reading"), outcome("mi", "Main idea", "read"), outcome("inf", "Inference", "read"))
    assert await inst.run(inst.a, step3, batch=2) == []
    assert await inst.tree(inst.a) == both
    resurrected = await inst.outcome("inf")
    assert (resurrected["id"], resurrected["workflow_state"]) == (inference_id, "active")
    # The old link came back: still one link row per (group, outcome).
    assert (
        await inst.db.fetchval(
            "SELECT count(*) FROM learning_outcome_links WHERE learning_outcome_id = $1", inference_id
        )
        == 1
    )


async def test_14_unknown_parent_guid(inst: Installation) -> None:
    assert await inst.run(inst.a, numbered(group("old", "Existing group"))) == []
    step2 = numbered(
        outcome("o1", "Needs missing parent", "nope"),
        outcome("o2", "Forward reference", "later"),
        group("later", "Defined later"),
        outcome("o3", "Partly missing", "later nope2"),
        outcome("o4", "Parent from earlier import", "old"),
        outcome("o5", "Valid child", "later"),
    )
    assert await inst.run(inst.a, step2, batch=2) == [
        (2, 'Parent references not found prior to this row: ["nope"]'),
        (3, 'Parent references not found prior to this row: ["later"]'),
        (5, 'Parent references not found prior to this row: ["nope2"]'),
        (6, 'Parent references not found prior to this row: ["old"]'),
    ]
    assert await inst.tree(inst.a) == {"g:old": {}, "g:later": {"o:o5": "Valid child"}}


@pytest.mark.parametrize("batch", [2, 3])
async def test_15_duplicate_vendor_guid(inst: Installation, batch: int) -> None:
    rows = numbered(
        group("shared", "Shared group"),
        outcome("dup", "First copy"),
        outcome("dup", "Second copy"),
        group("gdup", "Group first"),
        group("gdup", "Group second"),
        outcome("shared", "Outcome sharing a group guid", "shared"),
    )
    assert await inst.run(inst.a, rows, batch=batch) == [
        (4, 'Outcome "dup" has already appeared in this import'),
        (6, 'Group "gdup" has already appeared in this import'),
    ]
    assert await inst.tree(inst.a) == {
        "g:shared": {"o:shared": "Outcome sharing a group guid"},
        "o:dup": "First copy",
        "g:gdup": {},
    }
    assert await inst.db.fetchval("SELECT title FROM learning_outcome_groups WHERE vendor_guid = 'gdup'") == (
        "Group first"
    )


async def test_22_target_group(inst: Installation) -> None:
    assert await inst.run(inst.a, numbered(group("tgt", "Target group"), group("other", "Other group"))) == []
    step2 = numbered(
        outcome("o1", "Lands in target"),
        group("sub", "Sub group"),
        outcome("o2", "Lands in sub group", "sub"),
    )
    assert await inst.run(inst.a, step2, batch=2, target="tgt") == []
    in_target = {"o:o1": "Lands in target", "g:sub": {"o:o2": "Lands in sub group"}}
    assert await inst.tree(inst.a) == {"g:tgt": in_target, "g:other": {}}

    step3 = numbered(group("tgt", "Target group"), outcome("o3", "Also lands in sub group"))
    assert await inst.run(inst.a, step3, batch=2, target="sub") == [
        (2, "Cyclic reference detected when importing: tgt")
    ]
    in_target["g:sub"] = {"o:o2": "Lands in sub group", "o:o3": "Also lands in sub group"}
    assert await inst.tree(inst.a) == {"g:tgt": in_target, "g:other": {}}


async def test_22_the_target_itself_is_cyclic_even_with_parents(inst: Installation) -> None:
    assert await inst.run(inst.a, numbered(group("p"), group("tgt", parents="p"))) == []
    rows = numbered(group("x"), group("tgt", parents="x"), group("p"))
    assert await inst.run(inst.a, rows, target="tgt") == [
        (3, "Cyclic reference detected when importing: tgt"),
        (4, "Cyclic reference detected when importing: p"),
    ]
    assert await inst.tree(inst.a) == {"g:p": {"g:tgt": {"g:x": {}}}}


async def test_24_update_by_vendor_guid(inst: Installation) -> None:
    step1 = numbered(
        group("alg", "Algebra", description="Algebra standards"),
        outcome(
            "eq",
            "Solve linear equations",
            "alg",
            description="Solve for x",
            display_name="ALG-1",
            method="n_mastery",
            calculation_int="3",
            mastery=2.0,
            ratings=[(3, "Exceeds"), (2, "Meets"), (1, "Below")],
        ),
    )
    assert await inst.run(inst.a, step1, batch=2) == []
    first = await inst.outcome("eq")
    assert (first["calculation_method"], first["calculation_int"], first["mastery_points"]) == (
        "n_mastery",
        3,
        2.0,
    )
    assert ratings(first) == [(3.0, "Exceeds"), (2.0, "Meets"), (1.0, "Below")]

    step2 = numbered(
        group("alg", "Algebra I", description="Updated description"),
        outcome(
            "eq",
            "Solve linear equations in one variable",
            "alg",
            description="Solve for x",
            display_name="ALG-1",
            method="decaying_average",
            calculation_int="40",
            ratings=[(4, "Advanced"), (3, "Proficient"), (2, "Basic"), (1, "Novice")],
        ),
    )
    assert await inst.run(inst.a, step2, batch=2) == []
    assert await inst.tree(inst.a) == {"g:alg": {"o:eq": "Solve linear equations in one variable"}}
    second = await inst.outcome("eq")
    assert second["id"] == first["id"]
    assert (second["calculation_method"], second["calculation_int"], second["mastery_points"]) == (
        "decaying_average",
        40,
        4.0,
    )
    assert (second["description"], second["display_name"], second["points_possible"]) == (
        "Solve for x",
        "ALG-1",
        4.0,
    )
    assert ratings(second) == [(4.0, "Advanced"), (3.0, "Proficient"), (2.0, "Basic"), (1.0, "Novice")]
    group_row = await inst.db.fetchrow(
        "SELECT title, description FROM learning_outcome_groups WHERE vendor_guid = 'alg'"
    )
    assert tuple(group_row) == ("Algebra I", "Updated description")
    assert await inst.db.fetchval("SELECT count(*) FROM learning_outcome_groups WHERE vendor_guid = 'alg'") == 1


@pytest.mark.parametrize("batch", [2, 3, 100])
async def test_25_reparent(inst: Installation, batch: int) -> None:
    step1 = numbered(
        group("a"),
        group("b"),
        group("c", parents="a"),
        outcome("o", parents="a"),
        outcome("p", parents="a b"),
    )
    assert await inst.run(inst.a, step1, batch=batch) == []
    assert await inst.tree(inst.a) == {
        "g:a": {"g:c": {}, "o:o": "Outcome o", "o:p": "Outcome p"},
        "g:b": {"o:p": "Outcome p"},
    }
    step2 = numbered(group("a"), group("b"), group("c", parents="b"), outcome("o", parents="b"), outcome("p"))
    assert await inst.run(inst.a, step2, batch=batch) == []
    assert await inst.tree(inst.a) == {"g:a": {}, "g:b": {"g:c": {}, "o:o": "Outcome o"}, "o:p": "Outcome p"}


@pytest.mark.parametrize("batch", [1, 3])
async def test_26_delete_group(inst: Installation, batch: int) -> None:
    step1 = numbered(
        group("geo", "Geometry"),
        group("shp", "Shapes", "geo"),
        outcome("tri", "Identify triangles", "shp"),
        group("keep", "Keep"),
        outcome("rsn", "Reasoning", "shp keep"),
        outcome("ang", "Measure angles"),
    )
    assert await inst.run(inst.a, step1, batch=batch) == []
    assert await inst.tree(inst.a) == {
        "g:geo": {"g:shp": {"o:tri": "Identify triangles", "o:rsn": "Reasoning"}},
        "g:keep": {"o:rsn": "Reasoning"},
        "o:ang": "Measure angles",
    }
    assert await inst.run(inst.a, numbered(group("geo", "Geometry", state="deleted")), batch=batch) == []
    assert await inst.tree(inst.a) == {"g:keep": {"o:rsn": "Reasoning"}, "o:ang": "Measure angles"}
    states = dict(await inst.db.fetch("SELECT vendor_guid, workflow_state FROM learning_outcomes"))
    assert states == {"tri": "deleted", "rsn": "active", "ang": "active"}
    groups = dict(await inst.db.fetch("SELECT vendor_guid, workflow_state FROM learning_outcome_groups"))
    assert groups == {None: "active", "geo": "deleted", "shp": "deleted", "keep": "active"}


# --- batches, transactions, statements ----------------------------------------------------------


SETUP = numbered(
    group("old"),
    group("oldsub", parents="old"),
    outcome("lone", parents="oldsub"),
    group("other"),
    outcome("both", parents="oldsub other"),
)


def sample_file() -> list[Row]:
    """Rows that reference rows before them at every distance, with errors and a group deletion
    (of `old`, from SETUP) in the middle."""
    return numbered(
        group("g1", "One"),
        group("g2", "Two", "g1"),
        outcome("o1", "First", "g1 g2", friendly="friendly"),
        RowError(0, ('The "title" field is required',)),
        group("g3", "Three", "g2"),
        outcome("o2", "Second", "g3 missing"),
        outcome("o2", "Second", "g3"),
        group("g2", "Again", "g1"),
        group("old", state="deleted"),
        outcome("o3", "Under a deleted group", "old"),
        outcome("o4", "x" * 256, method="n_mastery", calculation_int="20"),
        outcome("o1", "First again"),
        group("oldsub", parents="g1"),
        outcome("lone", parents="oldsub"),
        outcome("o5", "After the deletion", "g1"),
    )


SAMPLE_ERRORS = [
    (5, 'The "title" field is required'),
    (7, 'Parent references not found prior to this row: ["missing"]'),
    (9, 'Group "g2" has already appeared in this import'),
    (12, "Short description is too long (maximum is 255 characters)"),
    (
        12,
        "Calculation int '20' is not a valid value for this calculation method. The value must be between '1' and '10'",
    ),
    (13, 'Outcome "o1" has already appeared in this import'),
]
SAMPLE_TREE = {
    "g:g1": {
        "g:g2": {"o:o1": "First", "g:g3": {"o:o2": "Second"}},
        "o:o1": "First",
        "g:oldsub": {"o:lone": "Outcome lone"},
        "o:o5": "After the deletion",
    },
    "g:other": {"o:both": "Outcome both"},
}


@pytest.mark.parametrize("batch", [1, 2, 3, 5, 1000])
async def test_batch_size_does_not_change_the_result(inst: Installation, batch: int) -> None:
    assert await inst.run(inst.a, SETUP) == []
    assert await inst.run(inst.a, sample_file(), batch=batch) == SAMPLE_ERRORS
    assert await inst.tree(inst.a) == SAMPLE_TREE
    states = dict(await inst.db.fetch("SELECT vendor_guid, workflow_state FROM learning_outcomes"))
    # o3 is active, linked into a group deleted earlier in the file (so invisible).
    assert set(states.values()) == {"active"}
    assert set(states) == {"lone", "both", "o1", "o2", "o3", "o5"}
    assert (
        await inst.db.fetchval(
            "SELECT count(*) FROM learning_outcome_links l"
            " JOIN learning_outcomes o ON o.id = l.learning_outcome_id WHERE o.vendor_guid = 'lone'"
        )
        == 1
    )  # the old link came back


async def test_rerun_after_rollback_gives_the_same_state(inst: Installation) -> None:
    assert await inst.run(inst.a, SETUP) == []
    before = await inst.snapshot()
    import_id = await inst.db.fetchval("SELECT nextval('outcome_imports_id_seq')")

    class Abort(Exception):
        pass

    first_errors: list[tuple[int, str]] = []
    with pytest.raises(Abort):
        async with inst.db.transaction():
            applier = BatchApplier(inst.db, ImportRun(import_id, inst.a, None, False))
            rows = sample_file()
            for start in range(0, len(rows), 2):
                first_errors += await applier.apply(rows[start : start + 2])
            first_state = await inst.snapshot()
            raise Abort
    assert first_errors == SAMPLE_ERRORS
    assert await inst.snapshot() == before

    assert await inst.run(inst.a, sample_file(), batch=2, import_id=import_id) == SAMPLE_ERRORS
    assert await inst.snapshot() == first_state
    assert await inst.tree(inst.a) == SAMPLE_TREE


async def test_statements_per_batch_do_not_grow_with_its_size(inst: Installation) -> None:
    def file(size: int, prefix: str) -> list[Row]:
        rows: list[Row] = [group(f"{prefix}top")]
        for n in range(size - 1):
            if n % 3 == 0:
                rows.append(group(f"{prefix}g{n}", parents=f"{prefix}top"))
            else:
                rows.append(
                    outcome(f"{prefix}o{n}", parents=f"{prefix}top", friendly="f", ratings=[(2, "a"), (1, "b")])
                )
        return numbered(*rows)

    async def count(rows: list[Row]) -> int:
        queries: list[str] = []

        def log(query: asyncpg.connection.LoggedQuery) -> None:
            queries.append(query.query)

        import_id = await inst.db.fetchval("SELECT nextval('outcome_imports_id_seq')")
        inst.db.add_query_logger(log)
        try:
            async with inst.db.transaction():
                await BatchApplier(inst.db, ImportRun(import_id, inst.a, None, False)).apply(rows)
            await asyncio.sleep(0)  # loggers are called soon, not synchronously
        finally:
            inst.db.remove_query_logger(log)
        return len(queries)

    await count(file(3, "warm-up"))  # asyncpg introspects the types it meets once per connection
    small, large = await count(file(10, "s")), await count(file(200, "l"))
    # Both as a first import of these guids, and again as an update of every object.
    small_again, large_again = await count(file(10, "s")), await count(file(200, "l"))
    assert small == large and small_again == large_again
    # BEGIN, stage tables, 2-4 reads, ids, 3-4 upserts, COMMIT (COPYs are not logged).
    assert large <= 12


# --- identity across contexts (spec §5.1, §7.2) -------------------------------------------------


async def test_an_ancestor_accounts_outcome_is_linked_not_changed(inst: Installation) -> None:
    assert await inst.run(inst.a, numbered(group("ga"), outcome("anc", "Ancestor", "ga"))) == []
    stored = await inst.outcome("anc")

    # Same attributes: linked into the sub-account, the outcome itself untouched; never marked,
    # so it may appear twice in one file.
    rows = numbered(group("s1"), outcome("anc", "Ancestor", "s1"), group("s2"), outcome("anc", "Ancestor", "s1 s2"))
    assert await inst.run(inst.a1, rows, batch=2) == []
    assert await inst.tree(inst.a1) == {"g:s1": {"o:anc": "Ancestor"}, "g:s2": {"o:anc": "Ancestor"}}
    assert dict(await inst.outcome("anc")) == dict(stored)

    changed = numbered(group("s1"), outcome("anc", "Changed", "s1", method="highest", description="new"))
    assert await inst.run(inst.a1, changed) == [
        (
            3,
            'Cannot modify outcome from another context: ["short_description", "description",'
            ' "calculation_method", "calculation_int"]; outcome must be modified in "Account A"',
        )
    ]
    # Re-placing it in the sub-account removes only the sub-account's own links (§7.2).
    assert await inst.run(inst.a1, numbered(outcome("anc", "Ancestor"))) == []
    assert await inst.tree(inst.a1) == {"g:s1": {}, "g:s2": {}, "o:anc": "Ancestor"}
    assert await inst.tree(inst.a) == {"g:ga": {"o:anc": "Ancestor"}}
    # A course of the account (its chain includes A) may link it too.
    assert await inst.run(inst.c1, numbered(outcome("anc", "Ancestor"))) == []
    assert await inst.tree(inst.c1) == {"o:anc": "Ancestor"}
    assert dict(await inst.outcome("anc")) == dict(stored)

    # A `deleted` row in the sub-account drops its links there; still linked in A, it survives.
    assert await inst.run(inst.a1, numbered(outcome("anc", "Ancestor", state="deleted"))) == []
    assert await inst.tree(inst.a1) == {"g:s1": {}, "g:s2": {}}
    assert (await inst.outcome("anc"))["workflow_state"] == "active"


async def test_a_global_outcome_names_the_global_context(inst: Installation) -> None:
    await inst.db.execute(
        "INSERT INTO learning_outcomes (vendor_guid, short_description, calculation_int, ratings,"
        " mastery_points, points_possible) VALUES ('glob', 'Global', 65, $1::jsonb, 3, 5)",
        '[{"points": 5.0, "description": "Exceeds Expectations"}, {"points": 3.0, "description": "Meets '
        'Expectations"}, {"points": 0.0, "description": "Does Not Meet Expectations"}]',
    )
    assert await inst.run(inst.a, numbered(outcome("glob", "Global"))) == []
    assert await inst.tree(inst.a) == {"o:glob": "Global"}
    assert await inst.run(inst.a, numbered(outcome("glob", "Global", mastery=4.0))) == [
        (
            2,
            'Cannot modify outcome from another context: ["data"]; outcome must be modified in the global context',
        )
    ]


async def test_an_outcome_of_an_unrelated_context_is_an_error(inst: Installation) -> None:
    assert await inst.run(inst.a, numbered(outcome("anc"))) == []
    assert await inst.run(inst.a1, numbered(outcome("sub1"))) == []
    assert await inst.run(inst.c1, numbered(outcome("c1o"))) == []
    unrelated = "already exists in another unrelated course or account"
    assert await inst.run(inst.b, numbered(outcome("anc"))) == [(2, f"Outcome with ID anc {unrelated} (Account A)")]
    assert await inst.run(inst.c_b, numbered(outcome("anc"))) == [(2, f"Outcome with ID anc {unrelated} (Account A)")]
    rows = numbered(outcome("sub1"), outcome("c1o"), outcome("anc"))
    assert await inst.run(inst.a, rows) == [
        (2, f"Outcome with ID sub1 {unrelated} (Account A1)"),
        (3, f"Outcome with ID c1o {unrelated} (Course C1)"),
    ]
    assert await inst.run(inst.c_a1, numbered(outcome("sub1"), outcome("c1o"))) == [
        (3, f"Outcome with ID c1o {unrelated} (Course C1)")
    ]
    assert await inst.tree(inst.b) == {}


# --- course_id (spec §5.6) ----------------------------------------------------------------------


async def test_course_id_places_groups_in_courses_of_the_account(inst: Installation) -> None:
    c1, c_a1, c_b = str(inst.c1.id), str(inst.c_a1.id), str(inst.c_b.id)
    rows = numbered(
        group("cg", "Course group", course_id=c1),
        group("cg", "Same guid in the account"),
        group("cg2", course_id=c_a1),
        group("bad", course_id="999999"),
        group("badb", course_id=c_b),
        group("sub", parents="cg", course_id=c1),
        outcome("co", "In courses", "cg sub cg2"),
        outcome("ao", "In the account"),
        group("x", parents="cg2", course_id=c1),
    )
    assert await inst.run(inst.a, rows, batch=2, course_column=True) == [
        (5, "Course with canvas id 999999 not found"),
        (6, f"Target course {c_b} is not a child of current account (Account A)"),
        (10, 'Parent references not found prior to this row: ["cg2"]'),
    ]
    assert await inst.tree(inst.c1) == {"g:cg": {"g:sub": {"o:co": "In courses"}, "o:co": "In courses"}}
    assert await inst.tree(inst.c_a1) == {"g:cg2": {"o:co": "In courses"}}
    # "cg" names both groups this import wrote with that guid: the course's and the account's.
    assert await inst.tree(inst.a) == {"g:cg": {"o:co": "In courses"}, "o:ao": "In the account"}
    co = await inst.outcome("co")
    assert (co["context_type"], co["context_id"]) == ("Account", inst.a.id)
    root = await inst.db.fetchrow(
        "SELECT title, vendor_guid FROM learning_outcome_groups"
        " WHERE context_type = 'Course' AND context_id = $1 AND parent_id IS NULL",
        inst.c1.id,
    )
    assert tuple(root) == ("Course C1", None)

    # With a course_id column, re-placing the outcome removes its links in the account's courses;
    # without one, only those in the account itself.
    assert (
        await inst.run(
            inst.a, numbered(group("cg", course_id=c1), outcome("co", "In courses", "cg")), course_column=True
        )
        == []
    )
    assert await inst.tree(inst.c1) == {"g:cg": {"g:sub": {}, "o:co": "In courses"}}
    assert await inst.tree(inst.c_a1) == {"g:cg2": {}}
    assert await inst.tree(inst.a) == {"g:cg": {}, "o:ao": "In the account"}
    assert await inst.run(inst.a, numbered(outcome("co", "In courses"))) == []
    assert await inst.tree(inst.c1) == {"g:cg": {"g:sub": {}, "o:co": "In courses"}}
    assert await inst.tree(inst.a) == {"g:cg": {}, "o:ao": "In the account", "o:co": "In courses"}


async def test_course_id_in_a_course_import_is_rejected(inst: Installation) -> None:
    rows = numbered(group("cg", course_id=str(inst.c1.id)), group("ok"))
    assert await inst.run(inst.c1, rows, course_column=True) == [(2, "Cannot import to other courses")]
    assert await inst.tree(inst.c1) == {"g:ok": {}}


# --- magic guids (spec §5.1) --------------------------------------------------------------------


async def test_canvas_outcome_guids_find_outcomes_by_id(inst: Installation) -> None:
    assert await inst.run(inst.a, numbered(group("g"), outcome("m1", "Magic", "g"))) == []
    outcome_id = (await inst.outcome("m1"))["id"]
    magic = f"canvas_outcome:{outcome_id}"
    rows = numbered(
        group("g"),
        outcome(magic, "Renamed", "g"),
        outcome("canvas_outcome:999999"),
        outcome("x-canvas_outcome:999998-y", canvas_id="77"),
        outcome("m1", "A new outcome takes the freed guid", "g"),
    )
    assert await inst.run(inst.a, rows, batch=5) == [
        (4, 'Outcome with canvas id "" not found'),
        (5, 'Outcome with canvas id "77" not found'),
    ]
    renamed = await inst.outcome(magic)
    assert (renamed["id"], renamed["short_description"]) == (outcome_id, "Renamed")
    assert (await inst.outcome("m1"))["id"] != outcome_id
    assert await inst.tree(inst.a) == {"g:g": {f"o:{magic}": "Renamed", "o:m1": "A new outcome takes the freed guid"}}


async def test_canvas_outcome_group_guids_find_groups_by_id_in_the_context(inst: Installation) -> None:
    assert await inst.run(inst.a, numbered(group("mg", "Magic group"))) == []
    group_id = await inst.group_id(inst.a, "mg")
    magic = f"canvas_outcome_group:{group_id}"
    rows = numbered(group(magic, "Renamed group"), group("canvas_outcome_group:99999999"), outcome("o", parents=magic))
    assert await inst.run(inst.a, rows) == [(3, "Outcome group with canvas id  not found")]
    assert await inst.tree(inst.a) == {f"g:{magic}": {"o:o": "Outcome o"}}
    assert await inst.group_id(inst.a, magic) == group_id
    # The same id seen from another context is a new group there.
    assert await inst.run(inst.b, numbered(group(magic, "Elsewhere"))) == []
    assert await inst.tree(inst.b) == {f"g:{magic}": {}}
    assert await inst.group_id(inst.b, magic) != group_id


# --- the rest of the row semantics --------------------------------------------------------------


async def test_friendly_descriptions_per_outcome_and_owning_context(inst: Installation) -> None:
    async def friendly() -> list[tuple[Any, ...]]:
        rows = await inst.db.fetch(
            "SELECT context_type, context_id, description, workflow_state FROM outcome_friendly_descriptions"
        )
        return [tuple(r) for r in rows]

    assert await inst.run(inst.a, numbered(outcome("fd", friendly="Kid words"))) == []
    assert await friendly() == [("Account", inst.a.id, "Kid words", "active")]
    assert await inst.run(inst.a, numbered(outcome("fd"))) == []
    assert await friendly() == [("Account", inst.a.id, "Kid words", "deleted")]
    # Linked from a sub-account, it is still the owning context's description that changes.
    assert await inst.run(inst.a1, numbered(outcome("fd", friendly="New words"))) == []
    assert await friendly() == [("Account", inst.a.id, "New words", "active")]
    assert await inst.run(inst.a1, numbered(outcome("nofd"))) == []
    assert await friendly() == [("Account", inst.a.id, "New words", "active")]


async def test_model_validation_reports_every_message_and_saves_nothing(inst: Installation) -> None:
    rows = numbered(
        group("g" * 256, "t" * 256, description="d" * 65536),
        outcome("o", "t" * 256, display_name="n" * 256, method="bogus", description="d" * 65536),
        outcome("o2", method="highest", calculation_int="3"),
        outcome("o3"),
    )
    assert await inst.run(inst.a, rows) == [
        (2, "Vendor guid is too long (maximum is 255 characters)"),
        (2, "Description is too long (maximum is 65535 characters)"),
        (2, "Title is too long (maximum is 255 characters)"),
        (3, "Description is too long (maximum is 65535 characters)"),
        (3, "Short description is too long (maximum is 255 characters)"),
        (3, "Display name is too long (maximum is 255 characters)"),
        (
            3,
            'Calculation method calculation_method must be one of the following: ["decaying_average",'
            ' "weighted_average", "standard_decaying_average", "n_mastery", "highest", "latest", "average"]',
        ),
        (4, "Calculation int A calculation value is not used with this calculation method"),
    ]
    assert await inst.tree(inst.a) == {"o:o3": "Outcome o3"}
    assert await inst.db.fetchval("SELECT count(*) FROM learning_outcomes") == 1


async def test_a_resurrected_group_comes_back_empty(inst: Installation) -> None:
    setup = numbered(group("res"), group("kid", parents="res"), outcome("o", parents="res"), outcome("p"))
    assert await inst.run(inst.a, setup) == []
    assert await inst.run(inst.a, numbered(group("res", state="deleted"))) == []
    assert await inst.tree(inst.a) == {"o:p": "Outcome p"}
    assert await inst.run(inst.a, numbered(group("res"))) == []
    assert await inst.tree(inst.a) == {"g:res": {}, "o:p": "Outcome p"}
    assert (
        await inst.run(inst.a, numbered(group("res"), group("kid", parents="res"), outcome("o", parents="res"))) == []
    )
    assert await inst.tree(inst.a) == {"g:res": {"g:kid": {}, "o:o": "Outcome o"}, "o:p": "Outcome p"}
    assert await inst.db.fetchval("SELECT count(*) FROM learning_outcome_groups") == 3  # root, res, kid


async def test_deleting_an_outcome_deletes_its_links_everywhere(inst: Installation) -> None:
    setup = numbered(group("gx"), outcome("casc", parents="gx"), outcome("stay", parents="gx"))
    assert await inst.run(inst.a, setup) == []
    linked = numbered(group("s1"), outcome("casc", "Outcome casc", "s1"), outcome("stay", "Outcome stay", "s1"))
    assert await inst.run(inst.a1, linked) == []
    # `stay` by its own deleted row: it loses its links in A but is still linked in A1.
    assert await inst.run(inst.a, numbered(outcome("stay", state="deleted"))) == []
    assert (await inst.outcome("stay"))["workflow_state"] == "active"
    # `casc` loses its last link in A with its group: deleted, with its link in A1.
    assert await inst.run(inst.a, numbered(group("gx", state="deleted"))) == []
    assert (await inst.outcome("casc"))["workflow_state"] == "deleted"
    assert await inst.tree(inst.a1) == {"g:s1": {"o:stay": "Outcome stay"}}
    assert await inst.tree(inst.a) == {}


async def test_the_import_marker_is_on_every_group_a_row_saved(inst: Installation) -> None:
    assert await inst.run(inst.a, numbered(group("g1"), group("g3"), group("g3sub", parents="g3"))) == []
    import_id = await inst.db.fetchval("SELECT nextval('outcome_imports_id_seq')")
    rows = numbered(group("g1", "Updated"), group("g2"), group("g3", state="deleted"), group("gone", state="deleted"))
    assert await inst.run(inst.a, rows, import_id=import_id) == []
    marked = await inst.db.fetch(
        "SELECT vendor_guid FROM learning_outcome_groups WHERE last_import_id = $1 ORDER BY 1", import_id
    )
    assert [r[0] for r in marked] == ["g1", "g2", "g3", "gone"]


async def test_a_missing_target_group_fails_the_import(inst: Installation) -> None:
    from worker.parents import TargetGroupMissing

    async with inst.db.transaction():
        applier = BatchApplier(inst.db, ImportRun(1, inst.a, 987654, False))
        with pytest.raises(TargetGroupMissing):
            await applier.apply(numbered(outcome("o")))
