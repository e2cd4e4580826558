"""The batch applier against a real PostgreSQL: the rest of the row semantics.

Imports run the way worker/jobs.py runs them (see tests/integration/apply/support.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration.apply.support import BatchApplier, ImportRun, Installation, group, numbered, outcome

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
