"""The CASE importer's reading of `extensions.outcomeImports` numbers (worker/case_file.py): JSON
numbers of our export become CSV cells the CSV rules read back to the same value."""

from __future__ import annotations

import pytest

from worker.case_file import _extension, _number_text


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (3, "3"),
        (3.0, "3"),
        (2.5, "2.5"),
        (0.1, "0.1"),
        (1e-07, "0.0000001"),
        (1e20, "100000000000000000000"),
        (-1.5, "-1.5"),
        (True, None),
        ("3", None),
        (None, None),
    ],
)
def test_a_number_becomes_digits_never_an_exponent(value: object, cell: str | None) -> None:
    assert _number_text(value) == cell
    if cell is not None:
        assert float(cell) == value


def test_only_an_object_under_outcome_imports_is_an_extension() -> None:
    assert _extension({"extensions": {"outcomeImports": {"title": "T"}}}) == {"title": "T"}
    assert _extension({"extensions": {"outcomeImports": "T"}}) is None
    assert _extension({"extensions": ["outcomeImports"]}) is None
    assert _extension({"extensions": {"other": {}}}) is None
    assert _extension({}) is None
