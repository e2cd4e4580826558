"""Header rules (spec §4.4) with Canvas's exact messages."""

from __future__ import annotations

import pytest

from shared.errors import ImportFailed
from tests.unit.rows_support import BASIC, cells_of, conformance_case, header_of
from worker.rows import NullHeaderCell, OutcomeRow, parse_header, parse_row

# --- header (§4.4) -------------------------------------------------------------------------


@pytest.mark.parametrize("case", ["05-missing-required-header", "06-unknown-column", "07-fields-after-ratings"])
def test_conformance_header_failures(case: str) -> None:
    records, expected = conformance_case(case)
    with pytest.raises(ImportFailed) as failure:
        parse_header(records[0][1])
    assert [[1, failure.value.message]] == expected["processing_errors"]


def test_header_layout() -> None:
    header = header_of("vendor_guid", "object_type", "title", "ratings", None, "")
    assert header.names == ("vendor_guid", "object_type", "title")
    assert header.columns == {"vendor_guid": 0, "object_type": 1, "title": 2}
    assert header.width == 3
    assert not header.has_course_id
    assert header_of("title", "vendor_guid", "object_type", "course_id").has_course_id


def test_header_without_ratings_uses_every_cell_as_a_name() -> None:
    assert header_of(*BASIC, "description").width == 4


def test_every_known_optional_field_is_accepted() -> None:
    optional = [
        "canvas_id",
        "course_id",
        "description",
        "friendly_description",
        "display_name",
        "parent_guids",
    ]
    optional += ["calculation_method", "calculation_int", "mastery_points", "workflow_state"]
    assert header_of(*BASIC, *optional).width == 13


def test_rightmost_duplicate_column_wins() -> None:
    header = header_of("title", "vendor_guid", "object_type", "title")
    assert header.columns["title"] == 3
    row = parse_row(header, 2, cells_of(["first", "g1", "outcome", "second"]))
    assert isinstance(row, OutcomeRow)
    assert row.title == "second"


def test_blank_cells_after_ratings_are_allowed() -> None:
    assert header_of(*BASIC, "ratings", None, "", "  ", "\u00a0").width == 3


def test_fields_after_ratings_fail_first_and_keep_order() -> None:
    with pytest.raises(ImportFailed) as failure:
        header_of("title", "ratings", "vendor_guid", None, "x\xff".encode("latin-1"), "ratings")
    assert failure.value.message == r'Invalid fields after ratings: ["vendor_guid", "x\xFF", "ratings"]'


def test_missing_required_fields_in_canvas_order() -> None:
    with pytest.raises(ImportFailed) as failure:
        header_of("object_type", "bogus")
    assert failure.value.message == 'Missing required fields: ["title", "vendor_guid"]'


def test_empty_header_record_misses_everything() -> None:
    with pytest.raises(ImportFailed) as failure:
        parse_header([])
    assert failure.value.message == 'Missing required fields: ["title", "vendor_guid", "object_type"]'


def test_missing_is_checked_before_invalid() -> None:
    with pytest.raises(ImportFailed) as failure:
        header_of("vendor_guid", "Title", "object_type")
    assert failure.value.message == 'Missing required fields: ["title"]'


def test_invalid_fields_are_exact_in_header_order_with_duplicates() -> None:
    with pytest.raises(ImportFailed) as failure:
        header_of(*BASIC, "x", " description", "Description", "x", "", "ti\xfftle".encode("latin-1"))
    expected = r'Invalid fields: ["x", " description", "Description", "x", "", "ti\xFFtle"]'
    assert failure.value.message == expected


def test_null_header_cell_before_ratings_is_its_own_failure() -> None:
    with pytest.raises(NullHeaderCell) as failure:
        header_of("title", None, "vendor_guid", "object_type")
    assert failure.value.position == 1
    assert isinstance(failure.value, ImportFailed)


def test_null_header_cell_comes_before_the_other_header_checks() -> None:
    # Canvas crashes converting names before it looks after `ratings` or for missing fields.
    with pytest.raises(NullHeaderCell):
        header_of("title", None, "ratings", "vendor_guid")
    with pytest.raises(NullHeaderCell):
        header_of(*BASIC, None)  # a trailing comma without a ratings column
