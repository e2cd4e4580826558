"""The row parsers' memo caches: bounded in bytes, and emptied after every job.

Parsing a cell is a pure function of its text, and a file repeats the same few rating scales,
parents and calculation methods on every row, so the parsers remember their answers. But a cell
may be as long as a record (OUTCOME_IMPORTS_MAX_RECORD_BYTES, 4 MiB): counted in entries, one
hostile file of distinct long cells could pin gigabytes in a worker for as long as it lives. So
each entry is weighed (`text_bytes` of the texts it holds, key and value), an entry heavier than
MAX_ENTRY_BYTES is never kept (a long cell is parsed every time), and a cache that would pass
its byte budget or its entry limit starts again empty. Whatever the files, the caches hold at
most MAX_BYTES of text each, plus a container's overhead per entry; `clear_parse_caches`, called
when each job ends (worker/settings.py), gives even that back between imports.

Lookups read `ParseCache.entries`, a plain dict (bound once by the module that owns the cache),
so a hit costs what it cost before; only a miss pays for the weighing.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any, Final, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

MAX_BYTES: Final = 4 * 1024 * 1024
"""Bytes of text one cache may hold (sys.getsizeof of its texts)."""
MAX_ENTRY_BYTES: Final = 64 * 1024
"""Heavier entries are not kept: a rating scale with 64 KiB of descriptions is not a repeated one."""

_caches: list[ParseCache[Any, Any]] = []  # every cache made, for clear_parse_caches


class ParseCache(Generic[K, V]):
    """A memo dict (`entries`) with an entry limit and a byte budget; registered for clearing."""

    __slots__ = ("_held_bytes", "_max_entries", "entries")

    def __init__(self, max_entries: int) -> None:
        self.entries: Final[dict[K, V]] = {}
        self._max_entries = max_entries
        self._held_bytes = 0
        _caches.append(self)

    def remember(self, key: K, value: V, size: int) -> None:
        """Keep `key -> value`, weighing `size` bytes (`text_bytes` of key and value), unless that
        is more than MAX_ENTRY_BYTES. A cache that would pass MAX_BYTES or its entry limit is
        emptied first, so it never holds more; entries are only ever dropped all at once."""
        if size > MAX_ENTRY_BYTES:
            return
        if len(self.entries) >= self._max_entries or self._held_bytes + size > MAX_BYTES:
            self.clear()
        self.entries[key] = value
        self._held_bytes += size

    def clear(self) -> None:
        self.entries.clear()
        self._held_bytes = 0

    @property
    def held_bytes(self) -> int:
        """Bytes weighed into the cache since it was last emptied (an upper bound on its texts)."""
        return self._held_bytes


def text_bytes(texts: Iterable[str | bytes | None]) -> int:
    """Memory of the `str`/`bytes` objects among `texts` (None weighs nothing: a singleton)."""
    return sum(sys.getsizeof(text) for text in texts if text is not None)


def clear_parse_caches() -> None:
    """Empty every ParseCache. Idempotent; safe while other imports run in the process (a cache is
    only ever a shortcut to what parsing again gives), which then merely parse again."""
    for cache in _caches:
        cache.clear()


def held_parse_cache_bytes() -> int:
    """Bytes weighed into all the caches now (see ParseCache.held_bytes)."""
    return sum(cache.held_bytes for cache in _caches)
