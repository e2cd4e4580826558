"""The batch applier against a real PostgreSQL: batches, transactions and statements per batch.

Imports run the way worker/jobs.py runs them (see tests/integration/apply/support.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg
import pytest

from tests.integration.apply.support import (
    BatchApplier,
    ImportRun,
    Installation,
    Row,
    RowError,
    group,
    numbered,
    outcome,
)
from worker import apply_sql

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


async def test_outcomes_a_re_import_leaves_unchanged_are_not_written_but_count_as_seen(inst: Installation) -> None:
    """An unchanged outcome is not written again (nor its friendly description); later batches of
    the import must still know that a row met it (spec: "has already appeared in this import")."""
    first = numbered(group("g"), outcome("o", parents="g", friendly="words"), outcome("p", parents="g"))
    assert await inst.run(inst.a, first) == []
    stamps = (
        "SELECT o.updated_at, f.updated_at FROM learning_outcomes o"
        " JOIN outcome_friendly_descriptions f ON f.learning_outcome_id = o.id"
    )
    before = tuple(await inst.db.fetchrow(stamps))
    magic = f"canvas_outcome:{(await inst.outcome('p'))['id']}"
    again = numbered(
        group("g"),
        outcome("o", parents="g", friendly="words"),
        outcome("p", parents="g"),
        outcome("o", "Changed", parents="g"),
        outcome(magic, canvas_id="x"),
    )
    for batch in (1, 2, 5):
        assert await inst.run(inst.a, again, batch=batch) == [
            (5, 'Outcome "o" has already appeared in this import'),
            (6, f'Outcome "{magic}" has already appeared in this import'),
        ]
    assert tuple(await inst.db.fetchrow(stamps)) == before
    assert (await inst.outcome("o"))["short_description"] == "Outcome o"


async def test_an_empty_batch_leaves_the_batch_before_it_to_be_written(inst: Installation) -> None:
    import_id = await inst.db.fetchval("SELECT nextval('outcome_imports_id_seq')")
    async with inst.db.transaction():
        applier = BatchApplier(inst.db, ImportRun(import_id, inst.a, None, False))
        assert await applier.apply_leaving_write(numbered(group("g1"), outcome("o1", parents="g1"))) == []
        assert await applier.apply_leaving_write([]) == []
        await applier.write_pending()
    assert await inst.tree(inst.a) == {"g:g1": {"o:o1": "Outcome o1"}}


@asynccontextmanager
async def outcome_guid_lookups(db: asyncpg.Connection) -> AsyncIterator[list[list[str]]]:
    """The guids of each outcome lookup (SELECT_OUTCOMES) run on `db` in the block, in order."""
    lookups: list[list[str]] = []

    def log(query: asyncpg.connection.LoggedQuery) -> None:
        if query.query == apply_sql.SELECT_OUTCOMES:
            lookups.append(list(query.args[0]))

    db.add_query_logger(log)
    try:
        yield lookups
        await asyncio.sleep(0)  # loggers are called soon, not synchronously
    finally:
        db.remove_query_logger(log)


async def test_the_batch_offered_next_is_read_while_the_one_before_is_applied(inst: Installation) -> None:
    """read_ahead: the next batch's lookups run once the batch before has been read, and the
    batch then uses what they found (it reads nothing more itself)."""
    rows = numbered(group("g1"), outcome("o1", parents="g1"), outcome("o2", parents="g1"), group("g2"))
    first, second = rows[:2], rows[2:]
    import_id = await inst.db.fetchval("SELECT nextval('outcome_imports_id_seq')")
    async with outcome_guid_lookups(inst.db) as lookups, inst.db.transaction():
        applier = BatchApplier(inst.db, ImportRun(import_id, inst.a, None, False))
        applier.read_ahead(second, after=first)
        assert await applier.apply_leaving_write(first) == []
        await applier.wait_for_write()
        await asyncio.sleep(0)  # loggers are called soon, not synchronously
        assert lookups == [["o1"], ["o2"]]
        assert await applier.apply_leaving_write(second) == []
        await applier.write_pending()
    assert lookups == [["o1"], ["o2"]]
    assert await inst.tree(inst.a) == {"g:g1": {"o:o1": "Outcome o1", "o:o2": "Outcome o2"}, "g:g2": {}}


async def test_a_batch_is_not_read_ahead_before_the_batch_it_follows_is_read(inst: Installation) -> None:
    """Offered while the batch before the one it follows is applied, a batch waits: read then,
    before the batch it follows, its reads would be wasted (and read again in its turn)."""
    rows = numbered(group("g1"), outcome("o1", parents="g1"), outcome("o2", parents="g1"), outcome("o3", parents="g1"))
    first, second, third = rows[:2], rows[2:3], rows[3:]
    import_id = await inst.db.fetchval("SELECT nextval('outcome_imports_id_seq')")
    async with outcome_guid_lookups(inst.db) as lookups, inst.db.transaction():
        applier = BatchApplier(inst.db, ImportRun(import_id, inst.a, None, False))
        assert await applier.apply_leaving_write(first) == []
        applier.read_ahead(third, after=second)
        assert await applier.apply_leaving_write(second) == []
        assert await applier.apply_leaving_write(third) == []
        await applier.write_pending()
    assert lookups == [["o1"], ["o2"], ["o3"]]
    assert await inst.tree(inst.a) == {"g:g1": {"o:o1": "Outcome o1", "o:o2": "Outcome o2", "o:o3": "Outcome o3"}}
