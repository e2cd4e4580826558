"""A 100 MB CASE package imports with a worker's memory as flat as an Outcomes CSV of the same size
(issue 18): the package is streamed, once for its shape (kept as integers) and again for its
items' text, never loaded whole. Large variant: `--large`."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from arq.constants import result_key_prefix
from redis.asyncio import Redis

from shared.queue import import_job_id
from shared.settings import Settings
from tests.faults import REPO_ROOT, WorkerProcess, import_row, wait_until
from tests.support.canvas import expect_json

MIB = 1024 * 1024
PACKAGE_ITEMS = 75_000  # about 100 MB with scripts/generate_case_package.py
CSV_ROWS = 235_000  # about 100 MB with scripts/generate_outcomes.py
# What the CASE import's peak may exceed the CSV import's by: its shape is ~30 bytes an item.
MARGIN = 32 * MIB


def _peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


def _reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # Linux: VmHWM := the current RSS


async def _generate(script: str, path: Path, *args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable, str(REPO_ROOT / "scripts" / script), str(path), *args, stdout=asyncio.subprocess.DEVNULL
    )
    assert await process.wait() == 0


async def _import_peak(
    client: Any, headers: dict[str, str], redis: Redis, worker: WorkerProcess, path: Path, import_type: str
) -> tuple[int, int]:
    """(the worker's peak RSS growth over the import, the import's id)."""
    _reset_peak(worker.pid)
    before = worker.rss_bytes()
    with path.open("rb") as body:
        resp = await client.post(
            "/api/v1/accounts/1/outcome_imports",
            params={"import_type": import_type},
            data=body,
            headers={**headers, "Content-Type": "application/json" if import_type == "case_json" else "text/csv"},
        )
    import_id = int((await expect_json(resp, 200))["id"])

    async def ended() -> bool:
        return bool(await redis.exists(result_key_prefix + import_job_id(import_id)))

    await wait_until(ended, within=600, what=f"the {import_type} import", alive=worker.problem)
    return _peak_rss(worker.pid) - before, import_id


@pytest.mark.large
@pytest.mark.timeout(1200)
async def test_a_100_mb_package_imports_as_flat_as_a_csv_of_the_same_size(
    client: Any,
    admin_headers: dict[str, str],
    settings: Settings,
    db: asyncpg.Connection,
    start_worker: Callable[[Settings], WorkerProcess],
    tmp_path: Path,
) -> None:
    package, csv = tmp_path / "package.json", tmp_path / "district.csv"
    await _generate("generate_case_package.py", package, "--items", str(PACKAGE_ITEMS))
    await _generate("generate_outcomes.py", csv, "--rows", str(CSV_ROWS), "--guid-prefix", "big")
    small = tmp_path / "small.json"
    await _generate("generate_case_package.py", small, "--items", "200", "--seed", "2")
    redis = Redis.from_url(settings.redis_url)
    peaks: dict[str, tuple[int, int]] = {}
    try:
        # Each in a worker of its own, warmed up by a small import (modules, connections, pools),
        # so that neither import starts with memory the other left to its allocator.
        for path, import_type in ((package, "case_json"), (csv, "instructure_csv")):
            worker = start_worker(settings)
            await _import_peak(client, admin_headers, redis, worker, small, "case_json")
            peaks[import_type] = await _import_peak(client, admin_headers, redis, worker, path, import_type)
            worker.stop()
    finally:
        await redis.aclose()
    (case_growth, case_id), (csv_growth, csv_id) = peaks["case_json"], peaks["instructure_csv"]
    print(
        f"worker peak RSS growth: CASE package {package.stat().st_size / MIB:.0f} MiB: {case_growth / MIB:.0f} MiB;"
        f" CSV {csv.stat().st_size / MIB:.0f} MiB: {csv_growth / MIB:.0f} MiB"
    )
    assert (await import_row(db, case_id))["workflow_state"] == "succeeded"
    assert (await import_row(db, csv_id))["workflow_state"] == "succeeded"
    outcomes = await db.fetchval("SELECT count(*) FROM learning_outcomes WHERE vendor_guid NOT LIKE 'big-%'")
    assert outcomes >= PACKAGE_ITEMS - 200
    assert case_growth <= csv_growth + MARGIN, (case_growth, csv_growth)
