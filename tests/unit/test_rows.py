"""Row rules (spec §4.5, §5, §6.1) with Canvas's exact messages."""

from __future__ import annotations

import pytest

from tests.unit.rows_support import BASIC, Cell, conformance_case, error_of, parse
from worker.rows import (
    NO_COMMENT,
    GroupRow,
    OutcomeRow,
    Rating,
    RowError,
    WorkflowState,
    parse_header,
    parse_row,
)

# --- UTF-8 and blank records (§6.1 steps 1-2) ----------------------------------------------


def test_conformance_non_utf8_bytes() -> None:
    records, expected = conformance_case("18-non-utf8-bytes")
    header = parse_header(records[0][1])
    bad = parse_row(header, 2, records[1][1])
    assert isinstance(bad, RowError)
    assert [[bad.row, bad.messages[0]]] == expected["processing_errors"]
    assert isinstance(parse_row(header, 3, records[2][1]), OutcomeRow)


def test_first_invalid_cell_left_to_right_including_rating_cells() -> None:
    header = (*BASIC, "ratings")
    assert error_of(["g", "outcome", "T", "3", b"\xff\xfe", b"\xc3"], header) == r'Not a valid utf-8 string: "\xFF\xFE"'
    assert error_of([b'a"\\\xe9', "outcome", b"\xff"]) == r'Not a valid utf-8 string: "a\"\\\xE9"'


def test_utf8_is_checked_before_blank_rows_are_skipped() -> None:
    assert error_of([None, b"\xa0", None]) == r'Not a valid utf-8 string: "\xA0"'


@pytest.mark.parametrize("values", [[], [None], [None, None, None], ["", " ", None], ["\u00a0", "\t", "\u3000"]])
def test_blank_records_are_skipped(values: list[Cell]) -> None:
    assert parse(values) is None


def test_conformance_blank_lines() -> None:
    records, expected = conformance_case("16-blank-lines")
    header = parse_header(records[0][1])
    results = [parse_row(header, number, cells) for number, cells in records[1:]]
    errors = [[r.row, r.messages[0]] for r in results if isinstance(r, RowError)]
    assert errors == expected["processing_errors"]
    assert [r.vendor_guid for r in results if isinstance(r, OutcomeRow)] == ["o1", "o3"]
    assert sum(r is None for r in results) == 3


def test_short_records_read_as_null() -> None:
    assert error_of(["g1", "outcome"]) == 'The "title" field is required'


# --- ratings and mastery_points (§5.2) -----------------------------------------------------

RATED = (*BASIC, "mastery_points", "ratings")


def test_conformance_rating_errors() -> None:
    records, expected = conformance_case("11-ratings-errors")
    header = parse_header(records[0][1])
    results = [parse_row(header, number, cells) for number, cells in records[1:]]
    errors = [[r.row, r.messages[0]] for r in results if isinstance(r, RowError)]
    assert errors == expected["processing_errors"]
    valid = results[-1]
    assert isinstance(valid, OutcomeRow)
    assert valid.ratings == (Rating(3.0, "Great"), Rating(1.0, "Okay"))


def test_conformance_odd_rating_count() -> None:
    records, _ = conformance_case("10-ratings-odd-count")
    header = parse_header(records[0][1])
    three = parse_row(header, 2, records[1][1])
    single = parse_row(header, 3, records[2][1])
    assert isinstance(three, OutcomeRow)
    assert isinstance(single, OutcomeRow)
    assert three.ratings == (Rating(3.0, "Great"), Rating(2.0, "Okay"), Rating(1.0, NO_COMMENT))
    assert single.ratings == (Rating(4.0, NO_COMMENT),)
    assert not three.tiers_complete


def test_conformance_mastery_points() -> None:
    records, _ = conformance_case("12-mastery-points")
    header = parse_header(records[0][1])
    rows = [parse_row(header, number, cells) for number, cells in records[1:]]
    assert [r.mastery_points for r in rows if isinstance(r, OutcomeRow)] == [3.0, None, 2.5, 10.0]


def test_trailing_null_rating_cells_are_dropped_but_quoted_empty_ones_are_tiers() -> None:
    row = parse(["g", "outcome", "T", None, "3", "A", None, None], RATED)
    assert row.ratings == (Rating(3.0, "A"),)
    assert row.tiers_complete
    assert error_of(["g", "outcome", "T", None, "3", "A", ""], RATED) == "Points for rating tier 2 not present"


def test_rating_cells_beyond_the_names_need_no_ratings_column() -> None:
    assert parse(["g", "outcome", "T", "3", "Great"]).ratings == (Rating(3.0, "Great"),)


def test_rating_descriptions() -> None:
    row = parse(["g", "outcome", "T", None, "3", None, "2", "", "1", "<b onclick='x'>Low</b>"], RATED)
    assert row.ratings == (Rating(3.0, NO_COMMENT), Rating(2.0, ""), Rating(1.0, "<b>Low</b>"))
    assert not row.tiers_complete


def test_rating_points_are_english_numbers_and_may_repeat() -> None:
    row = parse(["g", "outcome", "T", None, "1,000", "a", " 7.5 ", "b", "7.5", "c", "-1e1", "d"], RATED)
    assert [r.points for r in row.ratings] == [1000.0, 7.5, 7.5, -10.0]


@pytest.mark.parametrize(
    ("cells", "message"),
    [
        (["", "A"], "Points for rating tier 1 not present"),
        ([" ", "A"], "Points for rating tier 1 not present"),
        (["3", "A", None, "B"], "Points for rating tier 2 not present"),
        (["3", "A", "abc", "B"], 'Invalid value for rating tier 2 threshold: "abc"'),
        (["3", "A", " 5. ", "B"], 'Invalid value for rating tier 2 threshold: " 5. "'),
        (
            ["1", "Low", "2", "High"],
            "Points for tier 2 must be less than points for prior tier (2.0 is greater than 1.0)",
        ),
        (
            ["2", "a", "7.5", "b"],
            "Points for tier 2 must be less than points for prior tier (7.5 is greater than 2.0)",
        ),
        (
            ["5", "a", "4", "b", "1e16", "c"],
            "Points for tier 3 must be less than points for prior tier (1.0e+16 is greater than 4.0)",
        ),
        (["3", "A", "x", "B", "9", "C"], 'Invalid value for rating tier 2 threshold: "x"'),
    ],
)
def test_rating_errors(cells: list[Cell], message: str) -> None:
    assert error_of(["g", "outcome", "T", None, *cells], RATED) == message


def test_ratings_are_checked_before_mastery_points_and_everything_else() -> None:
    assert error_of([None, "bogus", None, "lots", "1", "a", "2", "b"], RATED) == (
        "Points for tier 2 must be less than points for prior tier (2.0 is greater than 1.0)"
    )


@pytest.mark.parametrize(("raw", "value"), [("3", 3.0), (" 2.5 ", 2.5), ("1,5", 15.0), ("-1", -1.0), ("", None)])
def test_mastery_points(raw: str, value: float | None) -> None:
    assert parse(["g", "outcome", "T", raw], (*BASIC, "mastery_points")).mastery_points == value


def test_invalid_mastery_points_come_before_the_basic_checks() -> None:
    assert (
        error_of([None, "outcome", "T", "lots"], (*BASIC, "mastery_points"))
        == 'Invalid value for mastery points: "lots"'
    )


# --- friendly_description, basic checks, object_type (§6.1 steps 6-8) ----------------------

FRIENDLY = (*BASIC, "friendly_description")


def test_friendly_description_length() -> None:
    assert parse(["g", "outcome", "T", "é" * 255], FRIENDLY).friendly_description == "é" * 255
    long = "x" * 256
    assert (
        error_of([None, "group", None, long], FRIENDLY)
        == "Friendly description is too long (maximum is 255 characters)"
    )
    assert parse(["g", "outcome", "T", " " * 300], FRIENDLY).friendly_description is None


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([None, "outcome", None], 'The "vendor_guid" field is required'),
        ([" \t", "outcome", "T"], 'The "vendor_guid" field is required'),
        (["\u00a0", "outcome", "T"], 'The "vendor_guid" field is required'),
        (["g", "outcome", None], 'The "title" field is required'),
        (["a b", "outcome", "   "], 'The "title" field is required'),
        (["a b", "bogus", "T"], 'The "vendor_guid" field must have no spaces'),
        (["a\tb", "outcome", "T"], 'The "vendor_guid" field must have no spaces'),
        ([" g", "outcome", "T"], 'The "vendor_guid" field must have no spaces'),
        (["g\r", "outcome", "T"], 'The "vendor_guid" field must have no spaces'),
        (["g", "standard", "T"], 'Invalid object_type: "standard"'),
        (["g", "Outcome", "T"], 'Invalid object_type: "Outcome"'),
        (["g", None, "T"], 'Invalid object_type: ""'),
        (["g", "  ", "T"], 'Invalid object_type: "  "'),
        (["g", 'a"b', "T"], 'Invalid object_type: "a"b"'),
    ],
)
def test_basic_checks_in_order(values: list[Cell], message: str) -> None:
    assert error_of(values) == message


@pytest.mark.parametrize("state", ["archived", "Active", "DELETED", " ", "active "])
def test_workflow_state_must_be_blank_active_or_deleted(state: str) -> None:
    message = '"workflow_state" must be either "active" or "deleted"'
    assert error_of(["g", "bogus", "T", state], (*BASIC, "workflow_state")) == message


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (None, WorkflowState.ACTIVE),
        ("", WorkflowState.ACTIVE),
        ("active", WorkflowState.ACTIVE),
        ("deleted", WorkflowState.DELETED),
    ],
)
def test_workflow_state_values(state: Cell, expected: WorkflowState) -> None:
    assert parse(["g", "group", "T", state], (*BASIC, "workflow_state")).workflow_state is expected
    assert parse(["g", "outcome", "T", state], (*BASIC, "workflow_state")).workflow_state is expected


def test_vendor_guid_with_nbsp_inside_is_accepted() -> None:
    assert parse(["a\u00a0b", "outcome", "T"]).vendor_guid == "a\u00a0b"


def test_conformance_row_validation_basic() -> None:
    records, expected = conformance_case("23-row-validation-basic")
    header = parse_header(records[0][1])
    results = [parse_row(header, number, cells) for number, cells in records[1:]]
    errors = [[r.row, r.messages[0]] for r in results if isinstance(r, RowError)]
    assert errors == expected["processing_errors"]


# --- group rows (§6.2 step 1) ----------------------------------------------------------------

GROUP_HEADER = (*BASIC, "calculation_int", "mastery_points", "calculation_method", "display_name", "ratings")


@pytest.mark.parametrize(
    ("method", "int_", "ratings", "listed"),
    [
        ("highest", None, [], ["calculation_method"]),
        (None, "5", [], ["calculation_int"]),
        ("highest", "5", [], ["calculation_int", "calculation_method"]),
        ("highest", "5", ["3", "A"], ["calculation_int", "calculation_method", "ratings"]),
        (None, None, ["3"], ["ratings"]),
    ],
)
def test_outcome_only_fields_on_a_group(method: Cell, int_: Cell, ratings: list[Cell], listed: list[str]) -> None:
    message = error_of(["g", "group", "T", int_, None, method, None, *ratings], GROUP_HEADER)
    assert message == "Invalid fields for a group: [" + ", ".join(f'"{name}"' for name in listed) + "]"


def test_blank_outcome_only_fields_and_ignored_fields_are_fine_on_a_group() -> None:
    row = parse(["g", "group", "T", " ", "lots?", "\t", "Shown", None, None], GROUP_HEADER)
    assert row == RowError(2, ('Invalid value for mastery points: "lots?"',))
    row = parse(["g", "group", "T", " ", "4", "\t", "Shown", None, None], GROUP_HEADER)
    assert isinstance(row, GroupRow)


def test_group_rating_cells_are_parsed_before_the_group_check() -> None:
    assert error_of(["g", "group", "T", None, None, None, None, "x", "A"], GROUP_HEADER) == (
        'Invalid value for rating tier 1 threshold: "x"'
    )


def test_group_field_list_follows_first_occurrence_of_duplicate_columns() -> None:
    header = (*BASIC, "calculation_method", "calculation_int", "calculation_method")
    assert error_of(["g", "group", "T", None, "5", "highest"], header) == (
        'Invalid fields for a group: ["calculation_method", "calculation_int"]'
    )


FULL = (*BASIC, "description", "parent_guids", "course_id", "canvas_id", "display_name", "workflow_state")


def test_group_row_fields() -> None:
    row = parse(
        ["g1", "group", " Algebra ", "<p onclick='x'>Hi</p>", " a  b\ta ", " 7 ", "", None, "deleted"],
        FULL,
        9,
    )
    assert row == GroupRow(
        row=9,
        vendor_guid="g1",
        title=" Algebra ",
        description="<p>Hi</p>",
        raw_description="<p onclick='x'>Hi</p>",
        workflow_state=WorkflowState.DELETED,
        parent_guids=("a", "b"),
        course_id=" 7 ",
        canvas_id="",
    )


def test_group_blank_fields() -> None:
    row = parse(["g1", "group", "T", None, "  ", " ", None, None, None], FULL)
    assert (row.description, row.raw_description, row.parent_guids, row.course_id) == ("", "", (), None)
    assert parse(["g1", "group", "T"]).description == ""


# --- outcome rows (§6.3 step 1) --------------------------------------------------------------


def test_course_id_on_an_outcome() -> None:
    assert error_of(["o", "outcome", "T", None, None, "12"], FULL) == 'Invalid fields for an outcome: ["course_id"]'
    assert isinstance(parse(["o", "outcome", "T", None, None, " "], FULL), OutcomeRow)


def test_outcome_row_fields() -> None:
    header = (
        *FULL,
        "calculation_method",
        "calculation_int",
        "friendly_description",
        "mastery_points",
        "ratings",
    )
    values = ["o1", "outcome", "Add", "<script>x</script><em>a</em>", "p1 p2 p1", None, "c9", " Disp ", None]
    values += [" n_mastery ", "4.5", "Kid words", "2", "3", "Great"]
    row = parse(values, header)
    assert row == OutcomeRow(
        row=2,
        vendor_guid="o1",
        title="Add",
        description="<em>a</em>",
        raw_description="<script>x</script><em>a</em>",
        display_name=" Disp ",
        calculation_method=" n_mastery ",
        calculation_int="4.5",
        ratings=(Rating(3.0, "Great"),),
        tiers_complete=True,
        mastery_points=2.0,
        friendly_description="Kid words",
        workflow_state=WorkflowState.ACTIVE,
        parent_guids=("p1", "p2"),
        canvas_id="c9",
    )


def test_outcome_blank_fields() -> None:
    header = (*FULL, "calculation_method", "calculation_int", "friendly_description")
    row = parse(["o1", "outcome", "T", " ", "", None, None, "", None, " ", "\t", ""], header)
    assert row.description is None
    assert row.raw_description == " "
    assert row.display_name == ""
    assert (row.calculation_method, row.calculation_int, row.friendly_description) == (None, None, None)
    assert (row.ratings, row.mastery_points, row.parent_guids, row.canvas_id) == ((), None, (), None)
    bare = parse(["o1", "outcome", "T"])
    assert (bare.raw_description, bare.display_name) == (None, None)
