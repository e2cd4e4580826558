"""The API's short-lived memory of tokens, contexts and permissions."""

from __future__ import annotations

from api.auth_cache import TtlCache


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire_after_the_ttl() -> None:
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(5, clock=clock)
    cache.put("a", 1)
    clock.now += 4.9
    assert cache.get("a") == 1
    clock.now += 0.2
    assert cache.get("a") is None


def test_the_oldest_entries_go_first_beyond_the_bound() -> None:
    cache: TtlCache[int, int] = TtlCache(60, max_entries=3)
    for i in range(5):
        cache.put(i, i)
    assert [cache.get(i) for i in range(5)] == [None, None, 2, 3, 4]


def test_a_zero_ttl_remembers_nothing() -> None:
    cache: TtlCache[str, int] = TtlCache(0)
    cache.put("a", 1)
    assert cache.get("a") is None
