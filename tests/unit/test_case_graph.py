"""worker/case_graph.py: the first pass over a CASE package (its shape as integers, the reads of
CFItems that put parents first), on packages given as chunks of bytes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from shared.errors import ImportFailed
from worker.case_graph import DOCUMENT, MAX_READS, CycleFound, read_shape


async def _chunks(data: bytes, size: int = 7) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _package(items: list[str], child_of: list[tuple[str, str]], **more: Any) -> dict[str, Any]:
    return {
        "CFDocument": {"identifier": "doc", "title": "Doc"},
        "CFItems": [{"identifier": identifier, "fullStatement": f"Statement {identifier}"} for identifier in items],
        "CFAssociations": [
            {
                "associationType": "isChildOf",
                "originNodeURI": {"identifier": child},
                "destinationNodeURI": {"identifier": parent},
            }
            for child, parent in child_of
        ],
        **more,
    }


async def _shape(package: Any, chunk: int = 7) -> Any:
    return await read_shape(_chunks(json.dumps(package).encode(), chunk))


async def test_a_package_listing_parents_first_is_one_read() -> None:
    shape = await _shape(_package(["a", "b", "c"], [("a", "doc"), ("b", "a"), ("c", "b"), ("c", "a")]))
    assert (shape.reads, list(shape.read_of)) == (1, [0, 0, 0])
    assert [list(shape.parents_of(p)) for p in range(3)] == [[DOCUMENT], [0], [1, 0]]
    assert list(shape.has_children) == [1, 1, 0]


async def test_a_group_goes_under_its_first_parent_only() -> None:
    # b has a child (so is a group) and two parents; c is an outcome in two groups.
    links = [("a", "doc"), ("b", "a"), ("b", "d"), ("c", "b"), ("c", "a")]
    shape = await _shape(_package(["a", "b", "c", "d"], links))
    assert [list(shape.parents_of(p)) for p in range(4)] == [[DOCUMENT], [0], [1, 0], []]  # d: no isChildOf
    assert (shape.associations_skipped, list(shape.has_children)) == (1, [1, 1, 0, 1])


async def test_children_before_parents_take_one_more_read_per_level() -> None:
    shape = await _shape(_package(["c", "b", "a"], [("a", "doc"), ("b", "a"), ("c", "b")]))
    assert (shape.reads, list(shape.read_of)) == (3, [2, 1, 0])


async def test_an_order_needing_too_many_reads_fails() -> None:
    names = [f"i{n}" for n in range(MAX_READS + 1)]
    chain = [(names[n], names[n - 1]) for n in range(1, len(names))]
    with pytest.raises(ImportFailed, match="list parents before their children"):
        await _shape(_package(list(reversed(names)), chain), chunk=4096)


async def test_a_wrapped_package_with_a_bom() -> None:
    data = b"\xef\xbb\xbf" + json.dumps({"CFPackage": _package(["a"], [("a", "doc")])}).encode()
    shape = await read_shape(_chunks(data))
    assert (shape.prefix, shape.document_identifier, shape.item_count) == ("CFPackage.", "doc", 1)


async def test_a_cycle_is_found_through_an_item_on_it() -> None:
    package = _package(["a", "b", "c", "d"], [("a", "doc"), ("b", "c"), ("c", "b"), ("d", "c")])
    with pytest.raises(CycleFound) as found:
        await _shape(package)
    assert found.value.position in (1, 2)  # b or c, never d (under the cycle, not on it)


async def test_unknown_references_duplicates_and_other_associations() -> None:
    package = _package(["a", "b", "a", "doc"], [("a", "doc"), ("b", "gone"), ("nobody", "a")])
    package["CFAssociations"].append(
        {"associationType": "exactMatchOf", "originNodeURI": {"identifier": "a"}, "destinationNodeURI": {}}
    )
    shape = await _shape(package)
    assert shape.unknown_parent == {1: 1}  # b: CFAssociations[1] names a parent not in the package
    assert shape.duplicates == {2, 3}  # a second "a", and an item with the document's identifier
    assert shape.associations_skipped == 2  # the exactMatchOf, and the isChildOf of an unknown item


async def test_entries_that_are_not_objects_keep_their_positions() -> None:
    package = _package(["a"], [("b", "a")])
    package["CFItems"] += [7, ["x", {"identifier": "inner"}], None, {"identifier": True}, {"identifier": "b"}]
    shape = await _shape(package)
    assert shape.item_count == 6
    assert [h == 0 for h in shape.item_hashes] == [False, True, True, True, True, False]
    assert list(shape.parents_of(5)) == [0]


async def test_rubric_levels_by_score_highest_first() -> None:
    rubric = {
        "CFRubricCriteria": [
            {
                "CFItemURI": {"identifier": "a"},
                "CFRubricCriterionLevels": [
                    {"quality": "Low", "score": 1},
                    {"description": "High", "score": 3.5},
                    {"quality": "No score"},
                ],
            }
        ]
    }
    shape = await _shape(_package(["a"], [("a", "doc")], CFRubrics=[rubric]))
    assert shape.rubrics[0].levels == [(3.5, "High"), (1.0, "Low")]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'{"CFDocument": {"identifier": "d"}} trailing', "The file is not valid JSON: parse error: trailing garbage"),
        (b'{"CFDocument": {"identifier": "d"}', "The file is not valid JSON: parse error: premature EOF"),
        (b'"text"', "Not a CASE package: the file is not a JSON object"),
        (b"", "The file is not valid JSON: parse error: premature EOF"),
        (b'{"CFDocument": {"identifier": " "}}', "Not a CASE package: its CFDocument has no identifier"),
    ],
)
async def test_files_that_are_not_case_packages(data: bytes, message: str) -> None:
    with pytest.raises(ImportFailed) as failed:
        await read_shape(_chunks(data))
    assert failed.value.message == message
