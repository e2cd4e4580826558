"""The export's records, built by PostgreSQL (shared/db/export.py), are byte for byte what the
Python export wrote before (tests/support/export_reference.py): numbers of every magnitude, text
with every character Python's strip() removes, quotes, separators and line breaks."""

from __future__ import annotations

import math
import random
import struct
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from shared.db.export import NEEDS_QUOTES_PATTERN, SELECT_EXPORT_LINES
from tests.support.export_reference import csv_field, format_number, reference_export
from tests.support.tree import insert_account, insert_group, insert_link, insert_outcome
from worker.csv_records import read_records

Client = TestClient[Any, Any]

# Every character str.strip() removes, and those CSV quoting turns on.
_WHITESPACE = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
_ALPHABET = _WHITESPACE + ',"\r\n' + "abcxyz ÉéÑ€😀'=+-@;\\|"


def _text(rng: random.Random, max_length: int = 8) -> str:
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, max_length)))


def _number(rng: random.Random) -> float:
    """Any finite double: random bits, or integral values around every power of ten."""
    if rng.random() < 0.5:
        while True:
            value: float = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0]
            if math.isfinite(value):
                return value
    return float(rng.randint(-(10 ** rng.randint(0, 30)), 10 ** rng.randint(0, 30)))


async def _export(client: Client, headers: dict[str, str], account: int) -> bytes:
    response = await client.get(f"/api/v1/accounts/{account}/outcome_export", headers=headers)
    assert response.status == 200, await response.text()
    return await response.read()


async def test_records_are_byte_for_byte_the_python_export(
    client: Client, admin_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    rng = random.Random(19)
    account = await insert_account(db, "District")
    ctx = ("Account", account)
    root = await insert_group(db, ctx, "District")
    groups = [root]
    for n in range(40):
        groups.append(
            await insert_group(
                db,
                ctx,
                _text(rng) or "g",
                parent_id=rng.choice(groups),
                vendor_guid=None if n % 7 == 0 else f"g{n}{_text(rng, 3)}",
                description=rng.choice([None, "", _text(rng, 20)]),
            )
        )
    for n in range(400):
        outcome = await insert_outcome(
            db,
            ctx,
            _text(rng) or "o",
            vendor_guid=None if n % 11 == 0 else f"o{n}{_text(rng, 3)}",
            description=rng.choice([None, "", _text(rng, 30)]),
            display_name=rng.choice([None, "", _text(rng)]),
            calculation_int=rng.choice([None, 0, -5, 65, 2**31 - 1]),
            mastery_points=rng.choice([None, _number(rng)]),
            ratings=[
                {"points": _number(rng), "description": rng.choice([None, "", _text(rng)])}
                for _ in range(rng.randint(0, 5))
            ],
        )
        for group in rng.sample(groups, rng.randint(1, 2)):
            await insert_link(db, outcome, group)
    exported = await _export(client, admin_headers, account)
    expected = await reference_export(db, "Account", account)
    assert exported.count(b"\r\n") == expected.count(b"\r\n") > 400
    assert exported == expected


NUMBERS = [
    (3.0, "3"),
    (2.5, "2.5"),
    (0.0, "0"),
    (-0.0, "0"),
    (-1.5, "-1.5"),
    (1e-7, "0.0000001"),
    (1.5e-7, "0.00000015"),
    (1e20, "100000000000000000000"),
    (0.1, "0.1"),
    (0.1 + 0.2, "0.30000000000000004"),
    (1234567890123456.5, "1234567890123456.5"),
    (2.0**63, "9223372036854775808"),
    (1.2345678901234567e30, str(int(1.2345678901234567e30))),
    (-1.7976931348623157e308, str(int(-1.7976931348623157e308))),
    (5e-324, format_number(5e-324)),
]
TEXTS = [
    ("plain", "plain"),
    ("a,b", '"a,b"'),
    ('a"b', '"a""b"'),
    ("a\rb", '"a\rb"'),
    (" a", '" a"'),
    ("a\t", '"a\t"'),
    ("a\u3000", '"a\u3000"'),
    ("\x85a", '"\x85a"'),
    ("a b", "a b"),
    ("a\u200bb", "a\u200bb"),  # a zero-width space is no whitespace to Python
]


async def test_numbers_and_quoting(client: Client, admin_headers: dict[str, str], db: asyncpg.Connection) -> None:
    account = await insert_account(db, "Numbers")
    root = await insert_group(db, ("Account", account), "Numbers")
    for n, (value, _) in enumerate(NUMBERS):
        outcome = await insert_outcome(
            db,
            ("Account", account),
            f"n{n:02}",
            vendor_guid=f"n{n:02}",
            mastery_points=value,
            ratings=[{"points": value, "description": "x"}],
        )
        await insert_link(db, outcome, root)
    for n, (value, _) in enumerate(TEXTS):
        outcome = await insert_outcome(db, ("Account", account), f"t{n:02}", vendor_guid=f"t{n:02}", description=value)
        await insert_link(db, outcome, root)
    exported = await _export(client, admin_headers, account)
    records = {cells[0]: cells async for _, cells in read_records(_once(exported))}
    raw = exported.decode()
    for n, (value, text) in enumerate(NUMBERS):
        assert format_number(value) == text and float(text) == value
        assert records[f"n{n:02}".encode()][7] == records[f"n{n:02}".encode()][10] == text.encode(), value
    for n, (value, text) in enumerate(TEXTS):
        assert csv_field(value) == text
        assert f"\r\nt{n:02},outcome,t{n:02},{text},," in raw, value


async def _once(data: bytes) -> Any:
    yield data


@pytest.mark.parametrize("analysed", [False, True])
async def test_a_fresh_district_is_read_without_comparing_every_group_with_every_group(
    db: asyncpg.Connection, analysed: bool
) -> None:
    """Before autovacuum analyses new rows, PostgreSQL knows nothing of their number: the tree is
    still walked through the parent index, not by comparing every pair of groups."""
    account = await insert_account(db, "Fresh")
    root = await insert_group(db, ("Account", account), "Fresh")
    await db.execute(
        """
        INSERT INTO learning_outcome_groups (context_type, context_id, root_account_id, parent_id, title)
        SELECT 'Account', $1::bigint, 1, $2::bigint, 'g' || n FROM generate_series(1, 3000) n
        """,
        account,
        root,
    )
    if analysed:
        await db.execute("ANALYZE learning_outcome_groups")
    plan = "\n".join(
        r[0]
        for r in await db.fetch(
            "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + SELECT_EXPORT_LINES, "Account", account, NEEDS_QUOTES_PATTERN
        )
    )
    assert "Rows Removed by Join Filter" not in plan, plan
