"""Model rules against a stored outcome (spec §5.2, §5.4, §5.5, §10)."""

from __future__ import annotations

import dataclasses

import pytest

from tests.unit.rows_support import applied, outcome_row, stored, tiers
from worker.outcome_rules import DEFAULT_RATINGS, OutcomeState, apply_outcome_row, new_outcome_state
from worker.rows import WorkflowState

METHODS_MESSAGE = (
    "Calculation method calculation_method must be one of the following: "
    '["decaying_average", "weighted_average", "standard_decaying_average", '
    '"n_mastery", "highest", "latest", "average"]'
)
NOT_USED = "Calculation int A calculation value is not used with this calculation method"


def out_of_range(value: int | str, low: int, high: int) -> str:
    return (
        f"Calculation int '{value}' is not a valid value for this calculation method. "
        f"The value must be between '{low}' and '{high}'"
    )


# --- new outcomes --------------------------------------------------------------------------


def test_new_outcome_state_is_canvas_default() -> None:
    state = new_outcome_state()
    assert (state.calculation_method, state.calculation_int) == ("decaying_average", 65)
    assert state.ratings == tiers(
        (5, "Exceeds Expectations"), (3, "Meets Expectations"), (0, "Does Not Meet Expectations")
    )
    assert (state.mastery_points, state.points_possible, state.workflow_state) == (3.0, 5.0, "active")
    assert (state.vendor_guid, state.description, state.display_name) == (None, None, None)


def test_new_outcome_takes_the_row() -> None:
    row = outcome_row(title=" Add ", raw_description="<p onclick='x'>D</p>", display_name="Disp")
    state = applied(row)
    assert (state.vendor_guid, state.short_description) == ("o1", " Add ")
    assert (state.description, state.display_name) == ("<p>D</p>", "Disp")
    assert state.ratings == DEFAULT_RATINGS


@pytest.mark.parametrize(
    ("method", "int_", "expected"),
    [
        (None, None, ("decaying_average", 65)),
        ("decaying_average", None, ("decaying_average", 65)),
        ("decaying_average", "1", ("decaying_average", 1)),
        ("decaying_average", "99", ("decaying_average", 99)),
        ("weighted_average", None, ("weighted_average", 65)),
        ("weighted_average", "70", ("weighted_average", 70)),
        ("standard_decaying_average", None, ("decaying_average", 65)),
        ("standard_decaying_average", "30", ("decaying_average", 30)),
        ("n_mastery", None, ("n_mastery", 5)),
        ("n_mastery", "10", ("n_mastery", 10)),
        ("n_mastery", "4.7", ("n_mastery", 4)),
        ("n_mastery", " 3", ("n_mastery", 3)),
        ("highest", None, ("highest", None)),
        ("latest", None, ("latest", None)),
        ("average", None, ("average", None)),
    ],
)
def test_calculation_method_and_int(method: str | None, int_: str | None, expected: tuple[str, int | None]) -> None:
    state = applied(outcome_row(calculation_method=method, calculation_int=int_))
    assert (state.calculation_method, state.calculation_int) == expected


@pytest.mark.parametrize(
    ("method", "int_", "message"),
    [
        ("decaying_average", "0", out_of_range(0, 1, 99)),
        ("decaying_average", "100", out_of_range(100, 1, 99)),
        ("decaying_average", "abc", out_of_range(0, 1, 99)),
        ("weighted_average", "100", out_of_range(100, 1, 99)),
        ("standard_decaying_average", "100", out_of_range(100, 1, 99)),
        ("n_mastery", "0", out_of_range(0, 1, 10)),
        ("n_mastery", "11", out_of_range(11, 1, 10)),
        ("n_mastery", "-1", out_of_range(-1, 1, 10)),
        ("highest", "2", NOT_USED),
        ("latest", "0", NOT_USED),
        ("average", "x", NOT_USED),
        ("median", None, METHODS_MESSAGE),
        ("HIGHEST", None, METHODS_MESSAGE),
        (" highest", None, METHODS_MESSAGE),
        ("median", "500", METHODS_MESSAGE),  # no int check for an unknown method
    ],
)
def test_calculation_errors(method: str, int_: str | None, message: str) -> None:
    assert apply_outcome_row(outcome_row(calculation_method=method, calculation_int=int_), None) == [message]


def test_every_failing_attribute_in_canvas_order() -> None:
    row = outcome_row(
        vendor_guid="v" * 256,
        title="t" * 256,
        raw_description="d" * 65536,
        display_name="n" * 256,
        calculation_method="median",
    )
    assert apply_outcome_row(row, None) == [
        "Description is too long (maximum is 65535 characters)",
        "Short description is too long (maximum is 255 characters)",
        "Vendor guid is too long (maximum is 255 characters)",
        "Display name is too long (maximum is 255 characters)",
        METHODS_MESSAGE,
    ]
    row = dataclasses.replace(row, calculation_method="n_mastery", calculation_int="11")
    assert apply_outcome_row(row, None)[-1] == out_of_range(11, 1, 10)  # type: ignore[index]


def test_length_limits_are_inclusive_and_in_characters() -> None:
    row = outcome_row(vendor_guid="v" * 255, title="é" * 255, raw_description="d" * 65535, display_name="ñ" * 255)
    assert isinstance(apply_outcome_row(row, None), OutcomeState)
    blank = outcome_row(raw_description=" " * 70000, display_name=" " * 300)
    assert isinstance(apply_outcome_row(blank, None), OutcomeState)


# --- updates: calculation settings (§5.4) ----------------------------------------------------


@pytest.mark.parametrize(
    ("before", "method", "int_", "expected"),
    [
        # omitting the columns resets to the default
        (("n_mastery", 3), None, None, ("decaying_average", 65)),
        (("decaying_average", 40), "decaying_average", None, ("decaying_average", 65)),
        # method changes, int kept as stored -> the new method's default, no error
        (("decaying_average", 65), "n_mastery", "65", ("n_mastery", 5)),
        (("n_mastery", 5), "decaying_average", "5", ("decaying_average", 65)),
        # changes to highest/latest drop the int silently
        (("decaying_average", 65), "highest", "3", ("highest", None)),
        (("n_mastery", 4), "latest", "9", ("latest", None)),
        (("decaying_average", 40), "average", None, ("average", None)),
        (("decaying_average", 40), "n_mastery", "7", ("n_mastery", 7)),
        (("decaying_average", 40), "standard_decaying_average", "40", ("decaying_average", 40)),
        (("highest", None), "highest", None, ("highest", None)),
    ],
)
def test_existing_outcome_calculation(
    before: tuple[str, int | None], method: str | None, int_: str | None, expected: tuple[str, int | None]
) -> None:
    previous = stored(calculation_method=before[0], calculation_int=before[1])
    state = applied(outcome_row(calculation_method=method, calculation_int=int_), previous)
    assert (state.calculation_method, state.calculation_int) == expected


@pytest.mark.parametrize(
    ("before", "method", "int_", "message"),
    [
        (("decaying_average", 40), "average", "3", NOT_USED),
        (("decaying_average", 40), "n_mastery", "11", out_of_range(11, 1, 10)),
        (("highest", None), "highest", "2", NOT_USED),  # unchanged method: no exception applies
    ],
)
def test_existing_outcome_calculation_errors(
    before: tuple[str, int | None], method: str, int_: str, message: str
) -> None:
    previous = stored(calculation_method=before[0], calculation_int=before[1])
    assert apply_outcome_row(outcome_row(calculation_method=method, calculation_int=int_), previous) == [message]


# --- updates: description, display_name, workflow_state (§5.5, §6.3 step 5) ----------------


@pytest.mark.parametrize(
    ("before", "given", "after"),
    [
        (None, None, None),
        (None, "", None),  # both blank: keep the stored value
        ("", None, ""),
        ("  ", "", "  "),
        ("<p>x</p>", None, None),  # otherwise the row wins: an absent column clears
        ("<p>x</p>", "", ""),
        ("<p>x</p>", " ", " "),
        ("<p>x</p>", "<p>y</p>", "<p>y</p>"),
        (None, "<p onclick='x'>y</p><script>z</script>", "<p>y</p>"),
    ],
)
def test_description_merge(before: str | None, given: str | None, after: str | None) -> None:
    assert applied(outcome_row(raw_description=given), stored(description=before)).description == after


@pytest.mark.parametrize(
    ("before", "given", "after"),
    [
        (None, "", None),
        ("", None, ""),
        ("Shown", None, None),
        ("Shown", "", ""),
        (None, "<b>kept as given</b>", "<b>kept as given</b>"),
    ],
)
def test_display_name_merge(before: str | None, given: str | None, after: str | None) -> None:
    assert applied(outcome_row(display_name=given), stored(display_name=before)).display_name == after


@pytest.mark.parametrize(
    ("before", "row_state", "after"),
    [
        ("deleted", WorkflowState.ACTIVE, "active"),
        ("archived", WorkflowState.ACTIVE, "active"),
        ("active", WorkflowState.DELETED, "active"),  # deletion happens through links (§7.1)
        ("deleted", WorkflowState.DELETED, "deleted"),
    ],
)
def test_workflow_state(before: str, row_state: WorkflowState, after: str) -> None:
    assert applied(outcome_row(workflow_state=row_state), stored(workflow_state=before)).workflow_state == after


def test_new_outcome_from_a_deleted_row_is_saved_active() -> None:
    assert applied(outcome_row(workflow_state=WorkflowState.DELETED)).workflow_state == "active"


# --- rubric (§5.2) -----------------------------------------------------------------------------

CUSTOM = tiers((4, "A"), (1, "B"))


def test_default_tiers_on_a_new_outcome_keep_mastery_3() -> None:
    state = applied(outcome_row(ratings=DEFAULT_RATINGS))
    assert (state.ratings, state.mastery_points, state.points_possible) == (DEFAULT_RATINGS, 3.0, 5.0)


def test_new_tiers_without_mastery_take_the_top_tier() -> None:
    state = applied(outcome_row(ratings=tiers((4, "Exceeds"), (3, "Meets"), (1, "Below"))))
    assert (state.mastery_points, state.points_possible) == (4.0, 4.0)


def test_new_tiers_with_mastery() -> None:
    state = applied(outcome_row(ratings=tiers((4, "E"), (1, "B")), mastery_points=10.0))
    assert (state.ratings, state.mastery_points, state.points_possible) == (
        tiers((4, "E"), (1, "B")),
        10.0,
        4.0,
    )


def test_mastery_alone_on_an_update_wipes_the_tiers() -> None:
    state = applied(outcome_row(mastery_points=4.0), stored())
    assert (state.ratings, state.mastery_points, state.points_possible) == ((), 4.0, None)


def test_mastery_alone_on_a_new_outcome_also_wipes_the_default_tiers() -> None:
    state = applied(outcome_row(mastery_points=2.5))
    assert (state.ratings, state.mastery_points, state.points_possible) == ((), 2.5, None)


def test_mastery_equal_to_the_stored_one_changes_nothing() -> None:
    state = applied(outcome_row(mastery_points=3.0), stored())
    assert (state.ratings, state.mastery_points, state.points_possible) == (DEFAULT_RATINGS, 3.0, 5.0)


def test_neither_tiers_nor_mastery_leaves_the_rubric() -> None:
    previous = stored(ratings=CUSTOM, mastery_points=2.0, points_possible=4.0)
    state = applied(outcome_row(), previous)
    assert (state.ratings, state.mastery_points, state.points_possible) == (CUSTOM, 2.0, 4.0)


def test_changed_tiers_without_mastery_reset_mastery_to_the_top() -> None:
    previous = stored(ratings=CUSTOM, mastery_points=2.0, points_possible=4.0)
    state = applied(outcome_row(ratings=tiers((6, "A"), (1, "B"))), previous)
    assert (state.mastery_points, state.points_possible) == (6.0, 6.0)


def test_unchanged_tiers_without_mastery_keep_the_stored_mastery() -> None:
    previous = stored(ratings=CUSTOM, mastery_points=2.0, points_possible=4.0)
    state = applied(outcome_row(ratings=tiers((4.0, "A"), (1.0, "B"))), previous)
    assert state.mastery_points == 2.0


def test_a_tier_without_description_cell_always_counts_as_changed() -> None:
    # Canvas compares nil with the stored "No Comment", so the rubric is rebuilt.
    previous = stored(ratings=tiers((4, "No Comment")), mastery_points=2.0, points_possible=4.0)
    state = applied(outcome_row(ratings=tiers((4, "No Comment")), tiers_complete=False), previous)
    assert state.mastery_points == 4.0


def test_tier_descriptions_differ_by_text() -> None:
    previous = stored(ratings=CUSTOM, mastery_points=2.0, points_possible=4.0)
    assert applied(outcome_row(ratings=tiers((4, "a"), (1, "B"))), previous).mastery_points == 4.0


def test_equal_points_come_out_in_reverse_file_order() -> None:
    # Ruby: sort_by (stable) then reverse.
    state = applied(outcome_row(ratings=tiers((3, "first"), (3, "second"), (1, "low"))))
    assert state.ratings == tiers((3, "second"), (3, "first"), (1, "low"))


# --- unchanged outcomes (what a re-import mostly meets) ----------------------------------------


def test_a_row_that_changes_nothing_gives_back_the_stored_state_itself() -> None:
    previous = applied(outcome_row(raw_description="<p>d</p>", description="<p>d</p>", ratings=CUSTOM))
    again = outcome_row(raw_description="<p>d</p>", description="<p>d</p>", ratings=CUSTOM)
    assert apply_outcome_row(again, previous) is previous  # the worker then writes nothing


@pytest.mark.parametrize(
    "change",
    [
        {"title": "Other"},
        {"raw_description": "<p>e</p>", "description": "<p>e</p>"},
        {"display_name": "Shown"},
        {"calculation_method": "highest"},
        {"mastery_points": 1.0},
        {"ratings": tiers((4.0, "A"), (2.0, "B"))},
        {"ratings": CUSTOM, "tiers_complete": False},  # a rebuilt rubric counts even when equal
    ],
)
def test_any_change_gives_a_new_state(change: dict[str, object]) -> None:
    previous = applied(outcome_row(raw_description="<p>d</p>", description="<p>d</p>", ratings=CUSTOM))
    row = dataclasses.replace(outcome_row(raw_description="<p>d</p>", description="<p>d</p>", ratings=CUSTOM), **change)
    result = apply_outcome_row(row, previous)
    assert isinstance(result, OutcomeState)
    assert result is not previous


def test_the_sanitised_description_of_the_row_is_the_one_saved() -> None:
    row = outcome_row(raw_description="<p onclick='x'>D</p>", description="<p>D</p>")
    assert applied(row).description == "<p>D</p>"
