"""Handing the memory an import freed back to the operating system.

An import's batches hold its rows, cells of up to a record's size (4 MiB), and free them when the
batch is written. glibc keeps much of what is freed for later allocations instead of returning it:
after a file of 1 MiB cells a worker stayed 20-40 MiB larger than before it, at random
(tests/faults/test_hostile_cells_memory.py), which an orchestrator's memory limit counts as used.
`malloc_trim` returns it; elsewhere (macOS, musl) this does nothing.
"""

from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable


def _find_malloc_trim() -> Callable[[int], int] | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        trim: Callable[[int], int] = ctypes.CDLL(None).malloc_trim  # the process's own C library
    except (OSError, AttributeError):  # a C library without it
        return None
    return trim


_malloc_trim = _find_malloc_trim()


def return_freed_memory() -> None:
    """Return the heap's free pages to the operating system, where the C library can (glibc).

    Takes about a millisecond; safe at any time, in any thread (glibc locks each arena)."""
    if _malloc_trim is not None:
        _malloc_trim(0)
