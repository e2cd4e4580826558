"""Whatever districts export from spreadsheets: every import ends `succeeded` or `failed` with a catalogue
message; no 500, no worker crash, no import left unfinished.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from shared.settings import Settings
from tests.conformance.test_conformance import CONFORMANCE_DIR
from tests.support.canvas import attachment, expect_json, wait_for_final_state
from tests.support.catalogue import is_catalogue_message
from tests.support.workers import run_burst_worker

HEADER = b"vendor_guid,object_type,title,description,parent_guids\n"


def _conformance_inputs() -> list[bytes]:
    return [p.read_bytes() for p in sorted(CONFORMANCE_DIR.glob("*/*.csv"))]


def _mutations(seed: int, count: int) -> list[bytes]:
    """Truncations, byte flips, inserted quotes/separators/NULs/CRs and random bytes of the conformance inputs."""
    rng = random.Random(seed)
    inputs = [i for i in _conformance_inputs() if i]
    out = []
    for _ in range(count):
        data = bytearray(rng.choice(inputs))
        kind = rng.randrange(5)
        if kind == 0:
            data = data[: rng.randrange(len(data) + 1)]
        elif kind == 1:
            for _ in range(rng.randint(1, 5)):
                data[rng.randrange(len(data))] = rng.randrange(256)
        elif kind == 2:
            for _ in range(rng.randint(1, 3)):
                data.insert(rng.randrange(len(data) + 1), rng.choice(b'",;\r\n\x00\xff'))
        elif kind == 3:
            data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 200)))
        else:
            data = bytearray(rng.randbytes(rng.randint(1, 3000)))
        out.append(bytes(data))
    return out


async def _import(client: Any, headers: dict[str, str], run_worker: Any, data: bytes) -> dict[str, Any]:
    resp = await client.post("/api/v1/accounts/1/outcome_imports", data=attachment(data), headers=headers)
    created = await expect_json(resp, 200)
    final = await wait_for_final_state(client, headers, "accounts/1", created["id"], run_worker)
    assert final["workflow_state"] in ("succeeded", "failed"), final
    for row, message in final["processing_errors"]:
        assert isinstance(row, int) and row >= 1
        assert is_catalogue_message(message), message
    return final


async def test_mutated_conformance_inputs(
    client: Any, admin_headers: dict[str, str], run_worker: Any, db: asyncpg.Connection, request: pytest.FixtureRequest
) -> None:
    count = 400 if request.config.getoption("--large") else 40
    for data in _mutations(seed=20261127, count=count):
        await _import(client, admin_headers, run_worker, data)
    assert (
        await db.fetchval("SELECT count(*) FROM outcome_imports WHERE workflow_state IN ('created', 'importing')") == 0
    )


async def test_huge_field_is_a_row_error(client: Any, admin_headers: dict[str, str], run_worker: Any) -> None:
    data = HEADER + b'o1,outcome,Title,"' + b"x" * 100_000 + b'",\no2,outcome,Fine,,\n'
    final = await _import(client, admin_headers, run_worker, data)
    assert (final["workflow_state"], final["processing_errors"]) == (
        "succeeded",
        [[2, "Description is too long (maximum is 65535 characters)"]],
    )


async def test_ten_thousand_columns(client: Any, admin_headers: dict[str, str], run_worker: Any) -> None:
    wide_header = b"vendor_guid,object_type,title,ratings" + b"," * 10_000 + b"\n"
    final = await _import(client, admin_headers, run_worker, wide_header + b"o1,outcome,T,3,x\n")
    assert (final["workflow_state"], final["processing_errors"]) == (
        "failed",
        [[1, "Too many columns (maximum is 1000)"]],
    )
    wide_row = b"vendor_guid,object_type,title\n" + b"o1,outcome,T" + b",5,x" * 5_000 + b"\no2,outcome,T2\n"
    final = await _import(client, admin_headers, run_worker, wide_row)
    assert (final["workflow_state"], final["processing_errors"]) == (
        "succeeded",
        [[2, "Too many columns (maximum is 1000)"]],
    )


async def test_nul_bytes_skip_only_their_row(client: Any, admin_headers: dict[str, str], run_worker: Any) -> None:
    final = await _import(client, admin_headers, run_worker, HEADER + b"o1,outcome,Ti\x00tle,,\no2,outcome,Ok,,\n")
    assert (final["workflow_state"], final["processing_errors"]) == (
        "succeeded",
        [[2, "A cell contains a NUL character, which cannot be stored"]],
    )


async def test_invalid_utf8_everywhere(client: Any, admin_headers: dict[str, str], run_worker: Any) -> None:
    final = await _import(
        client,
        admin_headers,
        run_worker,
        b"vendor_guid,object_type,title\n\xff\xfe,outcome,\xc3\x28\no2,outcome,Fine\n",
    )
    assert final["processing_errors"] == [[2, 'Not a valid utf-8 string: "\\xFF\\xFE"']]


async def test_one_very_long_line(
    client: Any, admin_headers: dict[str, str], run_worker: Any, settings: Settings, request: pytest.FixtureRequest
) -> None:
    size = 50 * 1024**2 if request.config.getoption("--large") else 6 * 1024**2
    data = HEADER + b"o1,outcome,T," + b"y" * size + b",\n"
    final = await _import(client, admin_headers, run_worker, data)
    assert (final["workflow_state"], final["processing_errors"]) == (
        "failed",
        [[1, f"Record 2 is larger than the maximum of {settings.max_record_bytes} bytes"]],
    )


async def test_a_thousand_nested_groups(
    client: Any, admin_headers: dict[str, str], run_worker: Any, db: asyncpg.Connection
) -> None:
    lines = [b"vendor_guid,object_type,title,parent_guids,workflow_state"]
    lines += [f"g{i},group,Level {i},{f'g{i - 1}' if i > 1 else ''},".encode() for i in range(1, 1001)]
    lines.append(b"deep,outcome,Deepest outcome,g1000,")
    final = await _import(client, admin_headers, run_worker, b"\n".join(lines) + b"\n")
    assert (final["workflow_state"], final["processing_errors"]) == ("succeeded", [])
    depth = await db.fetchval(
        "WITH RECURSIVE up(id, parent_id, depth) AS ("
        " SELECT id, parent_id, 0 FROM learning_outcome_groups WHERE vendor_guid = 'g1000'"
        " UNION ALL SELECT g.id, g.parent_id, up.depth + 1"
        " FROM learning_outcome_groups g JOIN up ON g.id = up.parent_id)"
        " SELECT max(depth) FROM up"
    )
    assert depth == 1000  # 999 ancestors with guids, then the root
    # Deleting the top group deletes the whole chain and the outcome whose only link was at the bottom.
    final = await _import(
        client,
        admin_headers,
        run_worker,
        b"vendor_guid,object_type,title,parent_guids,workflow_state\ng1,group,Level 1,,deleted\n",
    )
    assert final["workflow_state"] == "succeeded"
    assert (
        await db.fetchval(
            "SELECT count(*) FROM learning_outcome_groups WHERE vendor_guid IS NOT NULL AND workflow_state = 'active'"
        )
        == 0
    )
    assert await db.fetchval("SELECT workflow_state FROM learning_outcomes WHERE vendor_guid = 'deep'") == "deleted"


def test_mutations_are_deterministic() -> None:
    assert _mutations(1, 5) == _mutations(1, 5)
    assert Path(CONFORMANCE_DIR).exists()


async def test_records_per_file_are_bounded(
    client: Any, admin_headers: dict[str, str], settings: Settings, db: asyncpg.Connection
) -> None:
    data = b"vendor_guid,object_type,title\n" + b"".join(f"o{i},outcome,T{i}\n".encode() for i in range(10))
    created = await expect_json(
        await client.post("/api/v1/accounts/1/outcome_imports", data=attachment(data), headers=admin_headers), 200
    )
    await run_burst_worker(settings.with_(max_records=5))
    final = await expect_json(
        await client.get(f"/api/v1/accounts/1/outcome_imports/{created['id']}", headers=admin_headers), 200
    )
    assert (final["workflow_state"], final["processing_errors"]) == ("failed", [[1, "Too many records (maximum is 5)"]])
    assert await db.fetchval("SELECT count(*) FROM learning_outcomes") == 0


async def test_errors_stored_per_import_are_bounded(
    client: Any, admin_headers: dict[str, str], settings: Settings, db: asyncpg.Connection
) -> None:
    data = b"vendor_guid,object_type,title\n" + b"".join(f"o{i},outcome,\n".encode() for i in range(6))
    created = await expect_json(
        await client.post("/api/v1/accounts/1/outcome_imports", data=attachment(data), headers=admin_headers), 200
    )
    await run_burst_worker(settings.with_(max_stored_errors=3))
    final = await expect_json(
        await client.get(f"/api/v1/accounts/1/outcome_imports/{created['id']}", headers=admin_headers), 200
    )
    assert final["workflow_state"] == "succeeded"
    assert final["processing_errors"] == [[row, 'The "title" field is required'] for row in (2, 3, 4)]
    assert await db.fetchval("SELECT count(*) FROM outcome_import_errors") == 3
