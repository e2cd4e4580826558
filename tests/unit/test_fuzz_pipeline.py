"""Hypothesis against what the job reads a file with (worker/outcomes_file.py: reader, bounds,
header, rows): whatever the bytes, the only outcomes are records, catalogue row errors and
file-level `ImportFailed` with a catalogue message.

The same property through the real API and worker is tests/e2e/test_hostile_inputs.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.errors import ImportFailed
from tests.conformance.test_conformance import CONFORMANCE_DIR
from tests.support.catalogue import is_catalogue_message
from worker.outcomes_file import FileLimits, OutcomesFile
from worker.rows import RowError

SEEDS = [p.read_bytes() for p in sorted(CONFORMANCE_DIR.glob("*/*.csv"))]
ALPHABET = b'abc,;"\r\n \t\x00\xff\xc3\xa9019.-_'
# Small enough that fuzzed files meet every bound; batches of 3 cross batch ends often.
LIMITS = FileLimits(max_columns=12, max_records=40, max_record_bytes=64 * 1024, batch_size=3)


async def _chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


async def _run(data: bytes, chunk: int) -> list[str]:
    """Every message reading `data` gave (file-level ones included), as the job reads it."""
    messages: list[str] = []
    file = OutcomesFile(_chunks(data, chunk), LIMITS, import_id=1)
    try:
        if await file.read_header() is None:
            return messages
        async for batch, _ in file.batches():
            for row in batch:
                if isinstance(row, RowError):
                    messages += row.messages
    except ImportFailed as failure:
        messages.append(failure.message)
    return messages


def _mutated(seed: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    data = bytearray(seed)
    for position, delete, insert in edits:
        at = position % (len(data) + 1)
        data[at : at + delete] = insert
    return bytes(data)


edit = st.tuples(
    st.integers(0, 10_000),
    st.integers(0, 3),
    st.binary(max_size=4)
    | st.sampled_from([b'"', b",", b";", b"\r", b"\n", b"\r\n", b"\x00", b"\xff", b'""', b",,,,"]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.sampled_from(SEEDS), edits=st.lists(edit, max_size=6), chunk=st.integers(1, 64))
def test_mutated_conformance_inputs_give_only_catalogue_messages(
    seed: bytes, edits: list[tuple[int, int, bytes]], chunk: int
) -> None:
    for message in asyncio.run(_run(_mutated(seed, edits), chunk)):
        assert is_catalogue_message(message), message


@settings(max_examples=300, deadline=None)
@given(data=st.lists(st.sampled_from(list(ALPHABET)), max_size=400).map(bytes), chunk=st.integers(1, 64))
def test_random_bytes_give_only_catalogue_messages(data: bytes, chunk: int) -> None:
    for message in asyncio.run(_run(data, chunk)):
        assert is_catalogue_message(message), message
