"""The row parsers' caches stay within their byte budgets whatever the cells, and give what
parsing again gives (worker/parse_caches.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from worker import batch_state
from worker.outcome_rules import apply_outcome_row
from worker.parse_caches import (
    MAX_BYTES,
    MAX_ENTRY_BYTES,
    ParseCache,
    clear_parse_caches,
    held_parse_cache_bytes,
    text_bytes,
)
from worker.rows import OutcomeRow, Rating, RowError, parse_header, parse_row

HEADER = parse_header(
    [b"vendor_guid", b"object_type", b"title", b"parent_guids", b"calculation_method", b"mastery_points", b"ratings"]
)


@pytest.fixture(autouse=True)
def empty_caches() -> Iterator[None]:
    clear_parse_caches()
    yield
    clear_parse_caches()


def test_an_entry_heavier_than_the_limit_is_not_kept() -> None:
    cache = ParseCache[str, int](10)
    cache.remember("small", 1, 100)
    cache.remember("large", 2, MAX_ENTRY_BYTES + 1)
    assert cache.entries == {"small": 1}
    assert cache.held_bytes == 100


def test_a_cache_about_to_pass_its_entry_limit_or_byte_budget_starts_again_empty() -> None:
    by_count = ParseCache[int, int](3)
    for n in range(4):
        by_count.remember(n, n, 1)
    assert by_count.entries == {3: 3}
    by_bytes = ParseCache[int, int](1_000_000)
    for n in range(MAX_BYTES // MAX_ENTRY_BYTES + 1):
        by_bytes.remember(n, n, MAX_ENTRY_BYTES)
        assert by_bytes.held_bytes <= MAX_BYTES
    assert len(by_bytes.entries) == 1


def test_clearing_empties_every_cache() -> None:
    cache = ParseCache[str, int](10)
    cache.remember("a", 1, 10)
    clear_parse_caches()
    assert (cache.entries, cache.held_bytes) == ({}, 0)


def test_text_bytes_weighs_the_objects_and_not_none() -> None:
    assert text_bytes(["a" * 1000, None, b"b" * 1000]) >= 2000
    assert text_bytes([None]) == 0


def _hostile_record(n: int, size: int) -> list[bytes | None]:
    """Distinct long cells in every cached column: parent_guids (one guid after spaces),
    calculation_method, mastery_points (3 after spaces), a rating tier's description."""
    pad = size + n
    return [
        f"o{n}".encode(),
        b"outcome",
        b"Title",
        b" " * pad + b"g",
        b"m" * pad,
        b" " * pad + b"3",
        b"2",
        b"d" * pad,
    ]


def test_long_distinct_cells_leave_the_caches_within_their_budgets() -> None:
    before = held_parse_cache_bytes()
    for n in range(40):
        row = parse_row(HEADER, n + 2, _hostile_record(n, 256 * 1024))
        assert isinstance(row, OutcomeRow)
        assert isinstance(apply_outcome_row(row, None), list)  # the calculation method is invalid
    # Each cell is heavier than an entry may be: none was kept.
    assert held_parse_cache_bytes() == before


@pytest.mark.parametrize("size", [10, 1000, 40_000])
def test_rows_parse_the_same_whether_their_cells_were_cached_or_not(size: int) -> None:
    records = [_hostile_record(n % 3, size) for n in range(9)]  # three records, each three times
    cached = [parse_row(HEADER, 2, record) for record in records]
    uncached = []
    for record in records:
        clear_parse_caches()
        uncached.append(parse_row(HEADER, 2, record))
    assert cached == uncached
    assert not any(isinstance(row, RowError) for row in cached)


def test_the_ratings_json_caches_keep_no_long_scale_and_empty_after_a_job() -> None:
    clear_parse_caches()
    usual = (Rating(3.0, "Meets"), Rating(0.0, "Not yet"))
    long = (Rating(3.0, "x" * 100_000),)
    assert batch_state.ratings_from_json(batch_state.ratings_json(usual)) == usual
    assert batch_state.ratings_from_json(batch_state.ratings_json(long)) == long
    assert [r for r, _ in batch_state._json_by_ratings.values()] == [usual]
    assert list(batch_state._ratings_by_json.values()) == [usual]
    clear_parse_caches()
    assert not batch_state._json_by_ratings and not batch_state._ratings_by_json
