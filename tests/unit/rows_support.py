"""Shared helpers of the row-rule tests: cell builders, the conformance inputs, row factories."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from worker.outcome_rules import OutcomeState, apply_outcome_row, new_outcome_state
from worker.rows import GroupRow, Header, OutcomeRow, Rating, RowError, WorkflowState, parse_header, parse_row

CONFORMANCE = Path(__file__).resolve().parents[3] / "shared" / "conformance"

Cell = str | bytes | None


def cells_of(values: Sequence[Cell]) -> list[bytes | None]:
    return [value.encode() if isinstance(value, str) else value for value in values]


def header_of(*names: Cell) -> Header:
    return parse_header(cells_of(names))


BASIC = ("vendor_guid", "object_type", "title")


def parse(values: Sequence[Cell], header: Sequence[Cell] = BASIC, number: int = 2) -> Any:
    return parse_row(header_of(*header), number, cells_of(values))


def error_of(values: Sequence[Cell], header: Sequence[Cell] = BASIC) -> str:
    result = parse(values, header)
    assert isinstance(result, RowError), result
    assert len(result.messages) == 1
    return result.messages[0]


def split_csv(data: bytes) -> list[tuple[int, list[bytes | None]]]:
    """Just enough CSV for the conformance inputs: LF lines, no separators inside quotes."""
    data = data.removeprefix(b"\xef\xbb\xbf")
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    records = []
    for number, line in enumerate(lines, start=1):
        cells: list[bytes | None] = []
        if line:
            for field in line.split(b","):
                if field == b"":
                    cells.append(None)
                elif len(field) >= 2 and field[:1] == field[-1:] == b'"':
                    cells.append(field[1:-1].replace(b'""', b'"'))
                else:
                    cells.append(field)
        records.append((number, cells))
    return records


def conformance_case(name: str) -> tuple[list[tuple[int, list[bytes | None]]], dict[str, Any]]:
    directory = CONFORMANCE / name
    if not directory.is_dir():
        pytest.fail(f"conformance case {name} not found in {CONFORMANCE} (../shared must be beside the repo)")
    expected = json.loads((directory / "expected.json").read_text())
    return split_csv((directory / expected["input"]).read_bytes()), expected


def outcome_row(**changes: Any) -> OutcomeRow:
    row = OutcomeRow(
        row=2,
        vendor_guid="o1",
        title="Title",
        description=None,
        raw_description=None,
        display_name=None,
        calculation_method=None,
        calculation_int=None,
        ratings=(),
        tiers_complete=True,
        mastery_points=None,
        friendly_description=None,
        workflow_state=WorkflowState.ACTIVE,
        parent_guids=(),
        canvas_id=None,
    )
    return dataclasses.replace(row, **changes)


def stored(**changes: Any) -> OutcomeState:
    values: dict[str, Any] = {"vendor_guid": "o1", "short_description": "Title", **changes}
    return dataclasses.replace(new_outcome_state(), **values)


def applied(row: OutcomeRow, before: OutcomeState | None = None) -> OutcomeState:
    result = apply_outcome_row(row, before)
    assert isinstance(result, OutcomeState), result
    return result


def tiers(*pairs: tuple[float, str]) -> tuple[Rating, ...]:
    return tuple(Rating(points, description) for points, description in pairs)


def group_row(**changes: Any) -> GroupRow:
    row = GroupRow(
        row=3,
        vendor_guid="g1",
        title="Group",
        description="",
        raw_description="",
        workflow_state=WorkflowState.ACTIVE,
        parent_guids=(),
        course_id=None,
        canvas_id=None,
    )
    return dataclasses.replace(row, **changes)
