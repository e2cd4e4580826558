"""The batch applier against a real PostgreSQL: identity across contexts, course_id and magic guids.

Imports run the way worker/jobs.py runs them (see tests/integration/apply/support.py).
"""

from __future__ import annotations

from tests.integration.apply.support import Installation, group, numbered, outcome

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
        " mastery_points, points_possible) VALUES ('glob', 'Global', 65, $1::json, 3, 5)",
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
