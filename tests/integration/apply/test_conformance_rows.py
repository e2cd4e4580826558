"""The batch applier against a real PostgreSQL: the conformance cases, expressed as rows.

Imports run the way worker/jobs.py runs them (see tests/integration/apply/support.py).
"""

from __future__ import annotations

import pytest

from tests.integration.apply.support import Installation, assert_default_outcome, group, numbered, outcome, ratings

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
