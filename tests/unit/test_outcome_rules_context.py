"""Outcome rules in context: the conformance rows end to end, ancestor outcomes, groups."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from shared.errors import ImportFailed
from tests.unit.rows_support import conformance_case, group_row, outcome_row, stored, tiers
from worker.outcome_rules import (
    DEFAULT_RATINGS,
    OutcomeState,
    apply_outcome_row,
    cannot_modify_message,
    changed_fields,
    foreign_outcome_changes,
    validate_group,
)
from worker.rows import GroupRow, OutcomeRow, RowError, WorkflowState, parse_header, parse_row

# --- conformance: every listed case's rows through rows + outcome_rules --------------------


def simulate(name: str) -> tuple[list[list[Any]], dict[str, OutcomeState], dict[str, Any]]:
    """Errors and saved outcomes of a single-step case whose outcomes are all new."""
    records, expected = conformance_case(name)
    try:
        header = parse_header(records[0][1])
    except ImportFailed as failure:
        return [[1, failure.message]], {}, expected
    errors: list[list[Any]] = []
    outcomes: dict[str, OutcomeState] = {}
    for number, cells in records[1:]:
        row = parse_row(header, number, cells)
        if isinstance(row, RowError):
            errors += [[row.row, message] for message in row.messages]
        elif isinstance(row, GroupRow):
            errors += [[row.row, message] for message in validate_group(row)]
        elif isinstance(row, OutcomeRow):
            result = apply_outcome_row(row, None)
            if isinstance(result, list):
                errors += [[row.row, message] for message in result]
            else:
                outcomes[row.vendor_guid] = result
    return errors, outcomes, expected


def matches(actual: list[Any], wanted: list[Any]) -> bool:
    if len(actual) != len(wanted):
        return False
    for (row, message), (want_row, want) in zip(actual, wanted, strict=True):
        if row != want_row:
            return False
        if isinstance(want, dict) and want["contains"] not in message:
            return False
        if isinstance(want, str) and want != message:
            return False
    return True


@pytest.mark.parametrize(
    "case",
    [
        "05-missing-required-header",
        "06-unknown-column",
        "07-fields-after-ratings",
        "08-invalid-calculation-method",
        "09-calculation-int-ranges",
        "10-ratings-odd-count",
        "11-ratings-errors",
        "12-mastery-points",
        "16-blank-lines",
        "18-non-utf8-bytes",
        "19-long-title",
        "23-row-validation-basic",
    ],
)
def test_conformance_rows(case: str) -> None:
    errors, outcomes, expected = simulate(case)
    assert matches(errors, expected["processing_errors"]), errors
    nodes = {node["vendor_guid"]: node for node in expected["tree"]["children"] if node["kind"] == "outcome"}
    assert set(outcomes) == set(nodes)
    for guid, node in nodes.items():
        state = outcomes[guid]
        assert state.short_description == node["title"]
        assert (state.calculation_method, state.calculation_int) == (
            node["calculation_method"],
            node["calculation_int"],
        )
        assert state.mastery_points == node["mastery_points"]
        assert [{"points": r.points, "description": r.description} for r in state.ratings] == node["ratings"]


def test_conformance_header_only_has_no_rows() -> None:
    records, expected = conformance_case("21-header-only")
    parse_header(records[0][1])
    assert records[1:] == []
    assert expected["processing_errors"] == [[1, "File has no outcomes data"]]


def test_conformance_long_outcome_title_names_short_description() -> None:
    errors, _, _ = simulate("19-long-title")
    assert errors[0] == [3, "Short description is too long (maximum is 255 characters)"]


# --- outcomes of an ancestor context (§5.1) --------------------------------------------------


def test_foreign_outcome_without_changes_only_links() -> None:
    assert foreign_outcome_changes(outcome_row(), stored()) == []
    assert foreign_outcome_changes(outcome_row(raw_description=" "), stored()) == []
    assert foreign_outcome_changes(outcome_row(ratings=DEFAULT_RATINGS, mastery_points=3.0), stored()) == []
    assert foreign_outcome_changes(outcome_row(workflow_state=WorkflowState.DELETED), stored()) == []


def test_foreign_outcome_changes_in_column_order() -> None:
    row = outcome_row(
        title="New",
        raw_description="<p>d</p>",
        display_name="D",
        calculation_method="n_mastery",
        ratings=tiers((2, "x")),
    )
    previous = stored(workflow_state="deleted")
    assert foreign_outcome_changes(row, previous) == [
        "short_description",
        "description",
        "data",
        "workflow_state",
        "display_name",
        "calculation_method",
        "calculation_int",
    ]


def test_foreign_outcome_sees_values_before_callbacks() -> None:
    # no standard_decaying_average -> decaying_average, no int reset, no sanitising
    assert foreign_outcome_changes(outcome_row(calculation_method="standard_decaying_average"), stored()) == [
        "calculation_method"
    ]
    assert foreign_outcome_changes(outcome_row(calculation_method="n_mastery", calculation_int="65"), stored()) == [
        "calculation_method"
    ]
    previous = stored(description="<p>x</p>")
    assert foreign_outcome_changes(outcome_row(raw_description="<p onclick='y'>x</p>"), previous) == ["description"]
    assert foreign_outcome_changes(outcome_row(raw_description="<p>x</p>"), previous) == []


def test_foreign_outcome_vendor_guid_change_alone_is_not_reported() -> None:
    previous = stored(vendor_guid="canvas-export-guid")
    assert foreign_outcome_changes(outcome_row(vendor_guid="canvas_outcome:7"), previous) == []
    row = outcome_row(vendor_guid="canvas_outcome:7", title="Other")
    assert foreign_outcome_changes(row, previous) == ["short_description", "vendor_guid"]


def test_foreign_outcome_mastery_only() -> None:
    assert foreign_outcome_changes(outcome_row(mastery_points=2.0), stored()) == ["data"]


def test_cannot_modify_message() -> None:
    assert cannot_modify_message(["short_description", "data"], "Account A") == (
        'Cannot modify outcome from another context: ["short_description", "data"]; '
        'outcome must be modified in "Account A"'
    )
    assert cannot_modify_message(["description"], None) == (
        'Cannot modify outcome from another context: ["description"]; outcome must be modified in the global context'
    )


def test_changed_fields() -> None:
    before = stored()
    after = dataclasses.replace(before, calculation_int=5, short_description="x", mastery_points=1.0)
    assert changed_fields(before, after) == ["short_description", "data", "calculation_int"]
    assert changed_fields(before, before) == []


# --- groups (§10) --------------------------------------------------------------------------------


# --- groups (§10) --------------------------------------------------------------------------------


def test_group_validation_in_canvas_order() -> None:
    assert validate_group(group_row()) == []
    assert validate_group(group_row(vendor_guid="v" * 255, title="t" * 255, raw_description="d" * 65535)) == []
    assert validate_group(group_row(vendor_guid="v" * 256, title="t" * 256, raw_description="d" * 65536)) == [
        "Vendor guid is too long (maximum is 255 characters)",
        "Description is too long (maximum is 65535 characters)",
        "Title is too long (maximum is 255 characters)",
    ]
    assert validate_group(group_row(raw_description=" " * 65536)) == []
