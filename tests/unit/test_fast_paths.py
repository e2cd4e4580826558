"""The hot-path shortcuts give exactly what the general code they bypass gives.

Each shortcut (worker/rows.py, worker/outcome_rules.py, worker/csv_records.py,
worker/sanitize.py) is compared with the slower path that defines the rule.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from worker import rows as rows_module
from worker.batch_state import ratings_from_json
from worker.csv_records import _null_empty_cells, _RecordSplitter, _simple_quoted
from worker.outcome_rules import (
    _VALID_CALCULATION_INTS,
    _VALID_CALCULATIONS,
    CALCULATION_METHODS,
    OutcomeState,
    _validate_outcome,
    build_outcome_state,
)
from worker.parse_caches import clear_parse_caches
from worker.rows import (
    GroupRow,
    OutcomeRow,
    Rating,
    WorkflowState,
    build_group_row,
    build_outcome_row,
    parse_header,
    parse_row,
)
from worker.sanitize import _MAY_CHANGE

# --- builders of frozen dataclasses ----------------------------------------------------------

_OUTCOME_ROW_VALUES = (
    2,
    "o1",
    "Title",
    "d",
    "d",
    None,
    "n_mastery",
    "3",
    (Rating(3.0, "a"),),
    False,
    2.5,
    None,
    WorkflowState.DELETED,
    ("g1", "g2"),
    "7",
)
_GROUP_ROW_VALUES = (3, "g1", "Group", "", "", WorkflowState.ACTIVE, (), "5", None)
_STATE_VALUES = ("o1", "Title", None, "dn", "highest", None, (Rating(1.0, "x"),), 1.0, 1.0, "active")


@pytest.mark.parametrize(
    ("build", "cls", "values"),
    [
        (build_outcome_row, OutcomeRow, _OUTCOME_ROW_VALUES),
        (build_group_row, GroupRow, _GROUP_ROW_VALUES),
        (build_outcome_state, OutcomeState, _STATE_VALUES),
    ],
)
def test_builders_make_ordinary_frozen_instances(build: Any, cls: Any, values: tuple[object, ...]) -> None:
    built = build(*values)
    plain = cls(*values)
    assert type(built) is cls
    assert built == plain and plain == built
    assert hash(built) == hash(plain)
    assert repr(built) == repr(plain)
    assert tuple(getattr(built, f.name) for f in dataclasses.fields(cls)) == values
    first, second = (field.name for field in dataclasses.fields(cls)[:2])
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(built, first, 9)
    assert dataclasses.replace(built, **{second: "other"}) == dataclasses.replace(plain, **{second: "other"})


# --- rows: rating cells already seen ----------------------------------------------------------

_CELL_VALUES = [None, b"", b" ", b"\xc2\xa0", b"x", b"g1", b"outcome", b"group", b"3", b"1", b"abc", b"\xff", b"\xc3"]
_HEADERS = [
    ("vendor_guid", "object_type", "title", "ratings"),
    ("vendor_guid", "object_type", "title", "description", "mastery_points", "ratings"),
    ("title", "vendor_guid", "object_type"),
]


@settings(max_examples=300, deadline=None)
@given(
    header_names=st.sampled_from(_HEADERS),
    named=st.lists(st.sampled_from(_CELL_VALUES), max_size=6),
    rating_cells=st.lists(st.sampled_from(_CELL_VALUES), max_size=5),
)
def test_rows_with_known_rating_cells_parse_as_unknown_ones(
    header_names: tuple[str, ...], named: list[bytes | None], rating_cells: list[bytes | None]
) -> None:
    header = parse_header([name.encode() for name in header_names])
    cells = named[: header.width] + ([None] * (header.width - len(named)) if rating_cells else []) + rating_cells
    rows_module._rated_cells.clear()
    first = parse_row(header, 2, cells)  # the general path (and it remembers the rating cells)
    again = parse_row(header, 2, cells)  # the shortcut, when they decoded
    assert again == first


# --- outcome_rules: the validation shortcut ---------------------------------------------------


@pytest.mark.parametrize("method", [*CALCULATION_METHODS, "bogus", ""])
def test_valid_calculations_are_what_validation_accepts(method: str) -> None:
    assert set(_VALID_CALCULATION_INTS) == set(CALCULATION_METHODS)
    for value in [None, -1, *range(0, 120), 2**70]:
        accepted = not _validate_outcome("o1", "Title", None, None, method, value)
        assert ((method, value) in _VALID_CALCULATIONS) == accepted, (method, value)


# --- csv_records: lines with simple quoted fields ---------------------------------------------


@settings(max_examples=2000, deadline=None)
@given(
    line=st.lists(st.sampled_from([b"a", b"bc", b",", b";", b'"', b'""', b" ", b"\xc3\xa9", b",,"]), max_size=14).map(
        b"".join
    ),
    separator=st.sampled_from([b",", b";"]),
)
def test_simple_quoted_lines_split_as_the_general_parser_splits_them(line: bytes, separator: bytes) -> None:
    assume(b'"' in line)  # what the caller passes it
    fast = _simple_quoted(line, separator)
    if fast is not None:
        assert fast == _RecordSplitter(separator, b"\n")._quoted_cells(line)


@given(st.lists(st.sampled_from([b"", b"a", b"bc"]), max_size=12))
def test_null_empty_cells(cells: list[bytes]) -> None:
    expected = [cell or None for cell in cells]
    changed: list[bytes | None] = list(cells)
    _null_empty_cells(changed)
    assert changed == expected


# --- sanitize: the ASCII shortcut -------------------------------------------------------------


@given(st.text(alphabet=st.characters(max_codepoint=127)))
def test_ascii_texts_may_change_exactly_when_the_regex_says(text: str) -> None:
    shortcut = any(char in text for char in "<>&\r\x00")
    assert shortcut == (_MAY_CHANGE.search(text) is not None)
    assert re.fullmatch("[\x00-\x7f]*", text)


# --- vendor_guid whitespace ------------------------------------------------------------------


@given(st.text())
def test_guid_whitespace_shortcut_answers_as_the_regex(text: str) -> None:
    # parse_row runs the regex only for a guid with a space or a character that is not printable.
    search = rows_module._search_ascii_whitespace
    assert bool((" " in text or not text.isprintable()) and search(text)) == bool(search(text))


# --- shared rating scales --------------------------------------------------------------------


def test_a_scale_read_back_is_the_tuple_its_rows_carry() -> None:
    clear_parse_caches()  # as after a job: nothing remembered from an earlier import
    header = parse_header([b"vendor_guid", b"object_type", b"title", b"ratings"])
    row = parse_row(header, 2, [b"o1", b"outcome", b"T", b"3", b"Meets", b"1", b"Not yet"])
    assert isinstance(row, OutcomeRow)
    stored = '[{"points": 3.0, "description": "Meets"}, {"points": 1.0, "description": "Not yet"}]'
    read_back = ratings_from_json(stored)
    assert read_back is row.ratings
