"""`make bench`: import a generated district file end to end, against a COPY baseline, and prove the work.

1. Writes a district Outcomes CSV (`scripts/generate_outcomes.py`) and a copy with 10% of the outcome
   rows changed.
2. Baselines, into an UNLOGGED table of 17 text columns with no index, in the same round as the imports:
   the server's own bulk-load speed (the one the targets refer to): the file's bytes streamed as they are
   to `COPY ... FROM STDIN (FORMAT csv)` (asyncpg `copy_to_table` with a byte source), so the client
   encodes nothing; and, as a second column, the same rows parsed in Python (`csv`) and sent with
   `copy_records_to_table`: what a Python client that encodes every value can push at best.
3. Starts the system as `outcome-imports run` does: one API process (`python -m api`) and one worker
   (`python -m worker`), on a fresh database `oi_bench_<pid>` (dropped afterwards) of the server in
   DATABASE_URL and an empty Redis database it claims on REDIS_URL's server (flushed afterwards);
   embedded PostgreSQL/Redis in the work dir when those are unset (`--private-redis`: always for Redis).
   Imports the file through the HTTP API (multipart, streamed from disk), the same file again, then
   the changed file; each polled to `succeeded` (a `failed` import, a timeout, a process exiting, or
   someone else flushing or writing our Redis database fails the run).
4. After each import, checks that PostgreSQL agrees the import succeeded, then that the account holds
   exactly the groups, outcomes, links, depths, methods and changes the file describes (in SQL, and
   through the API for two leaf groups).
5. Reads the district back (`scripts/bench_reads.py`): every link of the account through
   `GET .../outcome_group_links?per_page=100`, following the `Link` header's `next` URLs as canvasapi
   does (pages/s, first vs median vs last page latency), then the export `GET .../outcome_export` to its
   end (MB/s); checks every active link came once and the export holds every group and outcome.
6. The floor (`scripts/bench_floor.py`): the rows the fresh import stored (saved right after it with
   `COPY ... TO STDOUT (FORMAT binary)`) COPYed back into a freshly migrated database in one
   transaction, the API and worker stopped. An import's PostgreSQL work runs on one backend, so no
   import into this schema can beat it: its % of the server COPY is the ceiling of the imports' %,
   and each import's "% of floor" says how close it comes.

Import rows/s = data rows / (POST answered -> `succeeded` seen by polling every 50 ms, backing off to
0.5% of the time waited): queue pickup plus processing, upload excluded (it has its own MB/s). The
import row's created_at -> ended_at is also reported (ended_at is the moment the import committed).
CPU per row: user + system CPU time (/proc/<pid>/stat) of the worker process and of the bench
database's PostgreSQL backends during each import, over its data rows, in microseconds: on a shared
machine wall time is what the machine gives us, CPU time is what the code costs (the backends' only
when PostgreSQL runs on this machine). The baselines report the same for their COPY.
Peak RSS is the kernel's VmHWM, reset before each import (Linux only). `--status-load S` hammers
GET .../outcome_imports/:id from 64 loopback connections for S seconds during the first import (which
then shares the CPU with that load).

`--rounds N` repeats steps 2-6 N times, each round on a fresh database with freshly started processes,
and adds the median, min and max of each figure over the rounds: this machine's speed drifts by tens
of percent from minute to minute, so one round can mislead. The JSON report keeps the first round's
figures at the top level, every round under `rounds`, and the spread under `summary`.

Run: `make bench ARGS="--rows 100000 [--seed 1] [--json] [--status-load 10] [--rounds 5]"`. Exits 1
if a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack, ExitStack, suppress
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
from arq.constants import health_check_key_suffix
from bench_floor import FloorError, measure_floor, save_result
from bench_reads import ReadError, measure_reads, print_reads, summarize_reads
from generate_outcomes import WIDTH, GeneratedFile, generate  # scripts/ is on sys.path: this file's directory
from harness import (
    LOG_TAIL_LINES,
    REPO,
    backend_cpu_seconds,
    claim_redis,
    cpu_seconds,
    free_port,
    fresh_database,
    percentile,
    print_columns,
    progress,
    stop_with_parent,
)
from redis.asyncio import Redis
from tree_check import check_tree

from shared.db.migrate import migrate
from shared.queue import QUEUE_NAME
from shared.settings import Settings

CHANGED_FRACTION = 0.1
READY_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 15
POLL_SECONDS = 0.05
# Status polls back off to this fraction of the time waited so far: the import time stays within 0.5%,
# and the API does not spend a noticeable share of the CPU answering us during a long import.
POLL_BACKOFF = 0.005
STATUS_LOAD_CONCURRENCY = 64
MB = 1024 * 1024

DATABASE_BACKENDS = "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
ANALYZE_TREE = "ANALYZE learning_outcome_groups, learning_outcomes, learning_outcome_links"
IMPORT_ROW = "SELECT workflow_state, progress, created_at, ended_at FROM outcome_imports WHERE id = $1"


class BenchError(Exception):
    """The run could not measure what it should: an import failed, timed out, or a process died."""


# --- services -----------------------------------------------------------------------------------


@dataclass
class System:
    """The API and worker processes, as `outcome-imports run` starts them."""

    url: str
    token: str
    processes: dict[str, subprocess.Popen[bytes]]
    logs: dict[str, Path]
    redis: Redis  # the claimed database, to notice interference

    def assert_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise BenchError(f"the {name} process exited with {process.returncode}")

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for process in self.processes.values():
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def start_system(
    stack: AsyncExitStack, workdir: Path, database_url: str, redis: tuple[str, Redis], biggest_file: int
) -> System:
    token = secrets.token_urlsafe(32)
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        REDIS_URL=redis[0],
        STORAGE_URL=(workdir / "storage").as_uri(),
        OUTCOME_IMPORTS_BOOTSTRAP_TOKEN=token,
    )
    default_limit: int = next(f.default for f in fields(Settings) if f.name == "max_upload_bytes")  # type: ignore[assignment]
    if "OUTCOME_IMPORTS_MAX_UPLOAD_BYTES" not in env and biggest_file >= default_limit:
        env["OUTCOME_IMPORTS_MAX_UPLOAD_BYTES"] = str(biggest_file + MB)
    port = free_port()
    commands = {"api": ["-m", "api", "--host", "127.0.0.1", "--port", str(port)], "worker": ["-m", "worker"]}
    system = System(f"http://127.0.0.1:{port}", token, {}, {}, redis[1])
    stack.callback(system.stop)
    for name, args in commands.items():
        system.logs[name] = workdir / f"{name}.log"
        with system.logs[name].open("ab") as log:
            system.processes[name] = subprocess.Popen(
                [sys.executable, *args],
                env=env,
                cwd=REPO,
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=stop_with_parent,
            )
    return system


async def wait_ready(system: System, session: aiohttp.ClientSession) -> None:
    """The API answers /health with 200 and the worker has polled the queue once (arq's health key)."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    api_ready = worker_ready = False
    while not (api_ready and worker_ready):
        system.assert_alive()
        if time.monotonic() > deadline:
            raise BenchError(f"not ready within {READY_TIMEOUT_SECONDS} s (api {api_ready}, worker {worker_ready})")
        with suppress(aiohttp.ClientError):
            async with session.get("/health") as resp:
                api_ready = resp.status == 200
        worker_ready = bool(await system.redis.exists(QUEUE_NAME + health_check_key_suffix))
        await asyncio.sleep(POLL_SECONDS)  # processes starting; the deadline above bounds the wait


# --- measurements -------------------------------------------------------------------------------


BASELINE_COLUMNS = [f"c{i}" for i in range(WIDTH)]
COPY_CHUNK_BYTES = 1 << 20


async def server_copy_baseline(conn: asyncpg.Connection, path: Path, rows: int) -> dict[str, Any]:
    """The server's own bulk-load speed: the file's bytes, header skipped by COPY, streamed to
    `COPY ... FROM STDIN (FORMAT csv)` into an unlogged table with no index. The client only
    reads the file: the figure is PostgreSQL's parsing and storing of the rows."""

    async def chunks() -> AsyncIterator[bytes]:
        with path.open("rb") as file:
            while chunk := file.read(COPY_CHUNK_BYTES):
                yield chunk

    async def copy() -> str:
        result: str = await conn.copy_to_table(
            "bench_server_copy", source=chunks(), columns=BASELINE_COLUMNS, format="csv", header=True
        )
        return result

    return await _baseline(conn, "bench_server_copy", rows, copy)


async def copy_baseline(conn: asyncpg.Connection, path: Path, rows: int) -> dict[str, Any]:
    """The same rows parsed by Python's `csv` and sent with `copy_records_to_table`, which encodes
    every value in the client (the bench process's CPU is reported as the client's)."""

    async def records() -> AsyncIterator[tuple[str, ...]]:
        with path.open(encoding="utf-8", newline="") as file:
            reader = csv.reader(file)
            next(reader)
            for row in reader:
                yield tuple(row)

    async def copy() -> str:
        result: str = await conn.copy_records_to_table(
            "bench_copy_baseline", records=records(), columns=BASELINE_COLUMNS
        )
        return result

    return await _baseline(conn, "bench_copy_baseline", rows, copy)


async def _baseline(
    conn: asyncpg.Connection, table: str, rows: int, copy: Callable[[], Awaitable[str]]
) -> dict[str, Any]:
    await conn.execute(f"CREATE UNLOGGED TABLE {table} ({', '.join(c + ' text' for c in BASELINE_COLUMNS)})")
    backend = conn.get_server_pid()
    backend_before = backend_cpu_seconds(backend)
    client_before = time.process_time()
    started = time.perf_counter()
    result = await copy()
    seconds = time.perf_counter() - started
    client = time.process_time() - client_before
    backend_after = backend_cpu_seconds(backend)
    await conn.execute(f"DROP TABLE {table}")
    if result != f"COPY {rows}":
        raise BenchError(f"baseline COPY into {table} wrote {result!r}, expected {rows} rows")
    report: dict[str, Any] = {
        "seconds": round(seconds, 3),
        "rows_per_second": round(rows / seconds),
        "client_cpu_seconds": round(client, 2),
        "client_cpu_us_per_row": round(client / rows * 1e6, 2),
    }
    if backend_before is not None and backend_after is not None:
        report["postgres_cpu_seconds"] = round(backend_after - backend_before, 2)
        report["postgres_cpu_us_per_row"] = round((backend_after - backend_before) / rows * 1e6, 2)
    return report


def reset_peak_rss(pid: int) -> bool:
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # Linux >= 4.0: VmHWM := current RSS
    except OSError:
        return False
    return True


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise BenchError(f"no VmHWM in /proc/{pid}/status")


async def postgres_cpu(conn: asyncpg.Connection) -> dict[int, float] | None:
    """CPU seconds of each backend on the bench database; None when PostgreSQL runs elsewhere."""
    try:
        return {r["pid"]: cpu_seconds(r["pid"]) for r in await conn.fetch(DATABASE_BACKENDS)}
    except OSError:  # not our machine (no such /proc entry), or a backend that just exited
        return None


async def status_load(url: str, headers: dict[str, str], seconds: float) -> dict[str, Any]:
    assert urlsplit(url).hostname == "127.0.0.1", "status load goes to loopback only"
    latencies: list[float] = []
    errors = importing = 0
    deadline = time.monotonic() + seconds
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=STATUS_LOAD_CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector, headers=headers, timeout=timeout) as session:

        async def client() -> None:
            nonlocal errors, importing
            while time.monotonic() < deadline:
                started = time.perf_counter()
                try:
                    async with session.get(url) as resp:
                        body = await resp.read()
                        ok = resp.status == 200
                except (aiohttp.ClientError, TimeoutError):
                    ok, body = False, b""
                latencies.append(time.perf_counter() - started)
                errors += not ok
                importing += b'"importing"' in body

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(STATUS_LOAD_CONCURRENCY)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    return {
        "concurrency": STATUS_LOAD_CONCURRENCY,
        "seconds": round(elapsed, 2),
        "requests": len(latencies),
        "requests_per_second": round(len(latencies) / elapsed),
        "errors": errors,
        "answered_importing": importing,
        "p50_ms": round(percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
    }


async def wait_final(
    system: System, session: aiohttp.ClientSession, path: str, created: dict[str, Any], limit_seconds: float
) -> dict[str, Any]:
    started = time.monotonic()
    deadline = started + limit_seconds
    while True:
        system.assert_alive()
        async with session.get(path) as resp:
            body: dict[str, Any] = await resp.json()
        if resp.status != 200:
            raise BenchError(f"GET {path} answered {resp.status}: {body}")
        if (body["created_at"], body.get("user")) != (created["created_at"], created.get("user")):
            raise BenchError(f"GET {path} answered another import (another process writes to our Redis): {body}")
        if body["workflow_state"] == "succeeded":
            return body
        if body["workflow_state"] == "failed":
            raise BenchError(f"import {body['id']} failed: {body['processing_errors']}")
        if time.monotonic() > deadline:
            raise BenchError(
                f"import {body['id']} still {body['workflow_state']} ({body['progress']}%) after {limit_seconds:.0f} s"
            )
        # A client polling for the result; the deadline bounds it.
        await asyncio.sleep(max(POLL_SECONDS, (time.monotonic() - started) * POLL_BACKOFF))


# --- proof --------------------------------------------------------------------------------------


async def run_import(
    name: str,
    system: System,
    session: aiohttp.ClientSession,
    conn: asyncpg.Connection,
    account_id: int,
    generated: GeneratedFile,
    baselines: dict[str, float],
    args: argparse.Namespace,
    load_seconds: float,
) -> dict[str, Any]:
    path = Path(generated.path)
    pids = {n: p.pid for n, p in system.processes.items()}
    peak_scope = "import" if all([reset_peak_rss(pid) for pid in pids.values()]) else "process lifetime"
    cpu_before = {n: cpu_seconds(pid) for n, pid in pids.items()}
    pg_before = await postgres_cpu(conn)
    progress(f"import '{name}': uploading {generated.bytes / MB:.1f} MB")
    imports_path = f"/api/v1/accounts/{account_id}/outcome_imports"
    started = time.perf_counter()
    # aiohttp streams a file object in chunks (reading in a thread); nothing holds the whole file.
    with path.open("rb") as file:  # noqa: ASYNC230
        form = aiohttp.FormData()
        form.add_field("attachment", file, filename=path.name, content_type="text/csv")
        async with session.post(imports_path, data=form) as resp:
            created = await resp.json()
            if resp.status != 200:
                raise BenchError(f"POST {imports_path} answered {resp.status}: {created}")
    answered = time.perf_counter()
    upload_seconds = answered - started
    status_path = f"{imports_path}/{created['id']}"
    load = None
    if load_seconds:
        load = asyncio.create_task(status_load(system.url + status_path, dict(session.headers), load_seconds))
    final = await wait_final(system, session, status_path, created, args.timeout)
    seconds = time.perf_counter() - answered
    load_report = await load if load else None
    peaks = {n: peak_rss_mb(pid) for n, pid in pids.items()}
    cpu = {n: round(cpu_seconds(pid) - cpu_before[n], 2) for n, pid in pids.items()}
    pg_after = await postgres_cpu(conn)
    if pg_before is not None and pg_after is not None:
        cpu["postgres"] = round(sum(t - pg_before.get(pid, 0.0) for pid, t in pg_after.items()), 2)
    truth = await conn.fetchrow(IMPORT_ROW, created["id"])
    if truth["workflow_state"] != "succeeded" or truth["ended_at"] is None:
        raise BenchError(f"the API says succeeded, PostgreSQL says {dict(truth)}")
    rps = generated.rows / seconds
    progress(f"import '{name}': succeeded in {seconds:.2f} s ({rps:,.0f} rows/s); checking the tree")
    # On a busy machine autovacuum may not have analysed the tables yet; without statistics the
    # tree check's aggregates pick nested loops over every link per outcome (minutes at 100,000 rows).
    await conn.execute(ANALYZE_TREE)
    checks = await check_tree(conn, session, account_id, generated, final)
    return {
        "name": name,
        "import_id": created["id"],
        "rows": generated.rows,
        "rows_per_second": round(rps),
        "ratio_to_server_copy": round(rps / baselines["server_copy"], 4),
        "ratio_to_copy": round(rps / baselines["copy_baseline"], 4),
        "seconds": round(seconds, 3),
        "seconds_with_upload": round(seconds + upload_seconds, 3),
        "db_seconds_created_to_ended": round((truth["ended_at"] - truth["created_at"]).total_seconds(), 3),
        "upload_mb_per_second": round(generated.bytes / MB / upload_seconds, 1),
        "upload_seconds": round(upload_seconds, 3),
        "peak_rss_mb": peaks,
        "peak_rss_scope": peak_scope,
        "cpu_seconds": cpu,
        "cpu_us_per_row": {n: round(seconds * 1e6 / generated.rows, 2) for n, seconds in cpu.items()},
        "status_load": load_report,
        "checks_passed": all(c["ok"] for c in checks.values()),
        "checks": checks,
    }


async def bench(args: argparse.Namespace, workdir: Path, pg_server: str, redis_server: str) -> dict[str, Any]:
    report: dict[str, Any] = {"rows": args.rows, "seed": args.seed, "cpus": os.cpu_count()}
    progress(f"generating {args.rows:,} rows in {workdir}")
    base = generate(workdir / "district.csv", args.rows, args.seed)
    changed = generate(workdir / "district-changed.csv", args.rows, args.seed, CHANGED_FRACTION)
    report["file"] = base.as_json()
    rounds = []
    for number in range(1, args.rounds + 1):
        if args.rounds > 1:
            progress(f"round {number} of {args.rounds}")
        # The status load, if asked for, runs in the first round only: the others measure imports alone.
        status_load = args.status_load if number == 1 else 0
        rounds.append(await measure_round(args, workdir, pg_server, redis_server, base, changed, status_load))
    # The first round's figures stay where a single run puts them; `summary` reads all rounds.
    report.update(rounds[0])
    report["rounds"] = rounds
    report["summary"] = summarize(rounds)
    imports = [i for r in rounds for i in r["imports"]]
    report["peak_rss_mb"] = {n: max(i["peak_rss_mb"][n] for i in imports) for n in ("api", "worker")}
    report["ok"] = all(i["checks_passed"] for i in imports) and all(r["reads"]["checks_passed"] for r in rounds)
    return report


async def measure_round(
    args: argparse.Namespace,
    workdir: Path,
    pg_server: str,
    redis_server: str,
    base: GeneratedFile,
    changed: GeneratedFile,
    status_load: float,
) -> dict[str, Any]:
    """The COPY baseline, then the three imports, on a fresh database and freshly started processes."""
    result: dict[str, Any] = {}
    async with AsyncExitStack() as stack:
        database_url = await fresh_database(stack, pg_server, f"oi_bench_{os.getpid()}", args.keep_database)
        redis = claim_redis(stack, redis_server, f"bench:{os.getpid()}")
        await migrate(database_url)
        conn = await asyncpg.connect(database_url)
        stack.push_async_callback(conn.close)
        result["postgres"] = conn.get_server_version().major
        progress("COPY baselines")
        result["server_copy"] = await server_copy_baseline(conn, Path(base.path), args.rows)
        result["copy_baseline"] = await copy_baseline(conn, Path(base.path), args.rows)
        baselines = {name: result[name]["rows_per_second"] for name in ("server_copy", "copy_baseline")}
        progress(
            f"COPY baselines: server {baselines['server_copy']:,} rows/s, records "
            f"{baselines['copy_baseline']:,} rows/s; starting the API and one worker"
        )
        system = start_system(stack, workdir, database_url, redis, max(base.bytes, changed.bytes))
        session = await stack.enter_async_context(
            aiohttp.ClientSession(
                system.url,
                headers={"Authorization": f"Bearer {system.token}"},
                timeout=aiohttp.ClientTimeout(total=None),
            )
        )
        await wait_ready(system, session)
        async with session.post("/api/v1/accounts", json={"account": {"name": "Bench District"}}) as resp:
            account = await resp.json()
            if resp.status != 200:
                raise BenchError(f"POST /api/v1/accounts answered {resp.status}: {account}")
        runs = [("fresh", base, status_load), ("same file again", base, 0), ("10% changed", changed, 0)]
        result["imports"] = []
        for name, generated, load in runs:
            result["imports"].append(
                await run_import(name, system, session, conn, account["id"], generated, baselines, args, load)
            )
            if name == "fresh":
                result_dir = workdir / "fresh-result"
                result_dir.mkdir(exist_ok=True)
                saved = await save_result(conn, result_dir)
        # The read path on the district as the imports left it; links carry absolute URLs, so no base URL.
        reader = await stack.enter_async_context(
            aiohttp.ClientSession(headers=dict(session.headers), timeout=aiohttp.ClientTimeout(total=None))
        )
        result["reads"] = await measure_reads(reader, system.url, conn, account["id"])
        system.stop()  # idle by now; stopped so that nothing else runs beside the floor's COPY
        progress("floor: the fresh import's result COPYed into a fresh database")
        floor_database = f"oi_bench_floor_{os.getpid()}"
        floor = await measure_floor(pg_server, floor_database, result_dir, saved, args.rows)
    floor["ratio_to_server_copy"] = round(floor["rows_per_second"] / baselines["server_copy"], 4)
    result["floor"] = floor
    for measured in result["imports"]:
        measured["ratio_to_floor"] = round(measured["rows_per_second"] / floor["rows_per_second"], 4)
    return result


def summarize(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    """Median (the lower one for an even count: a figure some round measured), min and max over the
    rounds, of the baseline and of each import's rows/s and ratio to the baseline of its round."""

    def spread(values: list[float]) -> dict[str, float]:
        return {"median": statistics.median_low(values), "min": min(values), "max": max(values)}

    summary: dict[str, Any] = {
        "rounds": len(rounds),
        "server_copy_rows_per_second": spread([r["server_copy"]["rows_per_second"] for r in rounds]),
        "copy_rows_per_second": spread([r["copy_baseline"]["rows_per_second"] for r in rounds]),
        "floor_rows_per_second": spread([r["floor"]["rows_per_second"] for r in rounds]),
        "floor_ratio_to_server_copy": spread([r["floor"]["ratio_to_server_copy"] for r in rounds]),
    }
    if all("postgres_cpu_us_per_row" in r["floor"] for r in rounds):
        summary["floor_postgres_cpu_us_per_row"] = spread([r["floor"]["postgres_cpu_us_per_row"] for r in rounds])
    summary["imports"] = {}
    for index, first in enumerate(rounds[0]["imports"]):
        same = [r["imports"][index] for r in rounds]
        figures = {
            "rows_per_second": spread([i["rows_per_second"] for i in same]),
            "ratio_to_server_copy": spread([i["ratio_to_server_copy"] for i in same]),
            "ratio_to_copy": spread([i["ratio_to_copy"] for i in same]),
            "ratio_to_floor": spread([i["ratio_to_floor"] for i in same]),
        }
        for process in ("worker", "postgres"):
            if all(process in i["cpu_us_per_row"] for i in same):
                figures[f"{process}_cpu_us_per_row"] = spread([i["cpu_us_per_row"][process] for i in same])
        summary["imports"][first["name"]] = figures
    summary["reads"] = summarize_reads(rounds)
    return summary


def print_report(report: dict[str, Any]) -> None:
    file = report["file"]
    print(
        f"\nrows: {report['rows']:,} ({file['bytes'] / MB:.1f} MB, {file['groups']:,} groups, "
        f"{file['outcomes']:,} outcomes, {file['links']:,} links), {report['cpus']} CPUs, "
        f"PostgreSQL {report['postgres']}"
    )
    rounds = report["rounds"]
    for number, measured in enumerate(rounds, 1):
        print_round(measured, f"round {number} of {len(rounds)}: " if len(rounds) > 1 else "")
    print(
        "\nrows/s = data rows / (POST answered -> `succeeded` seen by polling every 50 ms or 0.5% of the wait):\n"
        "queue pickup and processing, not the upload; RSS = peak (VmHWM) during each import"
    )
    for number, measured in enumerate(rounds, 1):
        for i in measured["imports"]:
            cpu, per_row = i["cpu_seconds"], i["cpu_us_per_row"]
            on_pg = f", PostgreSQL backends {cpu['postgres']}" if "postgres" in cpu else ""
            on_pg_row = f", PostgreSQL {per_row['postgres']}" if "postgres" in per_row else ""
            where = f" (round {number})" if len(rounds) > 1 else ""
            print(
                f"CPU seconds during '{i['name']}'{where}: API {cpu['api']}, worker {cpu['worker']}{on_pg}"
                f" (µs per row: worker {per_row['worker']}{on_pg_row})"
            )
            for name, c in i["checks"].items():
                if not c["ok"]:
                    print(f"FAILED {i['name']}{where}: {name}: expected {c['expected']}, got {c['actual']}")
            if load := i["status_load"]:
                print(
                    f"status load during '{i['name']}': {load['requests_per_second']:,} req/s "
                    f"over {load['seconds']} s "
                    f"({load['concurrency']} connections), p50 {load['p50_ms']} ms, p99 {load['p99_ms']} ms, "
                    f"{load['errors']} errors, {load['answered_importing']} answers while importing"
                )
    if len(rounds) > 1:
        print_summary(report["summary"])


def print_round(measured: dict[str, Any], label: str) -> None:
    server, base = measured["server_copy"], measured["copy_baseline"]
    print(
        f"\n{label}COPY baselines into an UNLOGGED table: server (CSV bytes to COPY FROM STDIN) "
        f"{server['rows_per_second']:,} rows/s ({server['seconds']} s, {_baseline_cpu(server)}); "
        f"records (copy_records_to_table) {base['rows_per_second']:,} rows/s ({base['seconds']} s, "
        f"{_baseline_cpu(base)})"
    )
    floor = measured["floor"]
    floor_cpu = (
        f", PostgreSQL CPU µs per row {floor['postgres_cpu_us_per_row']}" if "postgres_cpu_us_per_row" in floor else ""
    )
    print(
        f"{label}floor (the fresh import's rows COPYed into the schema's tables, one transaction): "
        f"{floor['rows_per_second']:,} rows/s, {floor['ratio_to_server_copy'] * 100:.1f}% of server COPY "
        f"({floor['seconds']} s{floor_cpu})\n"
    )
    head = (
        "import",
        "rows/s",
        "% of server COPY",
        "% of records COPY",
        "% of floor",
        "worker µs/row",
        "PG µs/row",
        "seconds",
        "upload MB/s",
        "API RSS MB",
        "worker RSS MB",
        "checks",
    )
    rows = [head] + [
        (
            i["name"],
            f"{i['rows_per_second']:,}",
            f"{i['ratio_to_server_copy'] * 100:.1f}%",
            f"{i['ratio_to_copy'] * 100:.1f}%",
            f"{i['ratio_to_floor'] * 100:.1f}%",
            f"{i['cpu_us_per_row']['worker']:.1f}",
            f"{i['cpu_us_per_row']['postgres']:.1f}" if "postgres" in i["cpu_us_per_row"] else "-",
            f"{i['seconds']:.2f}",
            f"{i['upload_mb_per_second']:.1f}",
            f"{i['peak_rss_mb']['api']:.0f}",
            f"{i['peak_rss_mb']['worker']:.0f}",
            "pass" if i["checks_passed"] else "FAIL",
        )
        for i in measured["imports"]
    ]
    print_columns(rows)
    print()
    print_reads(measured["reads"], label)


def _baseline_cpu(baseline: dict[str, Any]) -> str:
    pg = f", PostgreSQL {baseline['postgres_cpu_us_per_row']}" if "postgres_cpu_us_per_row" in baseline else ""
    return f"CPU µs per row: client {baseline['client_cpu_us_per_row']}{pg}"


def print_summary(summary: dict[str, Any]) -> None:
    server, copy = summary["server_copy_rows_per_second"], summary["copy_rows_per_second"]
    print(
        f"\nmedian (min - max) of {summary['rounds']} rounds; COPY baselines: server "
        f"{server['median']:,} ({server['min']:,} - {server['max']:,}) rows/s, records "
        f"{copy['median']:,} ({copy['min']:,} - {copy['max']:,}) rows/s"
    )

    def percent(f: dict[str, float]) -> str:
        return f"{f['median'] * 100:.1f}% ({f['min'] * 100:.1f} - {f['max'] * 100:.1f}%)"

    def micros(f: dict[str, float] | None) -> str:
        return "-" if f is None else f"{f['median']:.1f} ({f['min']:.1f} - {f['max']:.1f})"

    floor, floor_ratio = summary["floor_rows_per_second"], summary["floor_ratio_to_server_copy"]
    floor_cpu = summary.get("floor_postgres_cpu_us_per_row")
    print(
        f"floor {floor['median']:,} ({floor['min']:,} - {floor['max']:,}) rows/s, "
        f"{floor_ratio['median'] * 100:.1f}% ({floor_ratio['min'] * 100:.1f} - {floor_ratio['max'] * 100:.1f}%) "
        f"of server COPY" + (f", PostgreSQL CPU µs per row {micros(floor_cpu)}" if floor_cpu else "") + "\n"
    )

    rows = [("import", "rows/s", "% of server COPY", "% of records COPY", "% of floor", "worker µs/row", "PG µs/row")]
    for name, figures in summary["imports"].items():
        rps = figures["rows_per_second"]
        rows.append(
            (
                name,
                f"{rps['median']:,} ({rps['min']:,} - {rps['max']:,})",
                percent(figures["ratio_to_server_copy"]),
                percent(figures["ratio_to_copy"]),
                percent(figures["ratio_to_floor"]),
                micros(figures.get("worker_cpu_us_per_row")),
                micros(figures.get("postgres_cpu_us_per_row")),
            )
        )
    print_columns(rows)
    reads = summary["reads"]
    print("reads: " + ", ".join(f"{name} {f['median']} ({f['min']} - {f['max']})" for name, f in reads.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000, help="data rows in the file (default 100000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of a table")
    parser.add_argument(
        "--status-load",
        type=float,
        default=0,
        metavar="SECONDS",
        help="hammer GET .../outcome_imports/:id during the first import",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="measure N times, each on a fresh database and fresh processes, and report the median and"
        " range (default 1): on a machine whose speed drifts, one round can mislead",
    )
    parser.add_argument("--timeout", type=float, help="seconds per import (default max(300, rows / 200))")
    parser.add_argument("--work-dir", type=Path, help="keep files and logs here (default: a temp dir, removed)")
    parser.add_argument(
        "--keep-database", action="store_true", help="do not drop oi_bench_<pid> at the end (the last round's)"
    )
    parser.add_argument(
        "--private-redis",
        action="store_true",
        help="run a Redis of our own even when REDIS_URL is set (on a server others flush databases of)",
    )
    args = parser.parse_args()
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    args.timeout = args.timeout or max(300.0, args.rows / 200)
    with ExitStack() as stack:
        workdir = args.work_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="oi-bench-")))
        workdir.mkdir(parents=True, exist_ok=True)
        pg_server = os.environ.get("DATABASE_URL")
        redis_server = None if args.private_redis else os.environ.get("REDIS_URL")
        try:
            if not (pg_server and redis_server):
                from shared.embedded import embedded_services

                progress(
                    "starting embedded "
                    + " and ".join(n for n, url in (("PostgreSQL", pg_server), ("Redis", redis_server)) if not url)
                )
                services = stack.enter_context(
                    embedded_services(workdir / "services", postgres=not pg_server, redis=not redis_server)
                )
                pg_server = pg_server or services.database_url
                redis_server = redis_server or services.redis_url
            assert pg_server and redis_server
            report = asyncio.run(bench(args, workdir, pg_server, redis_server))
        except (BenchError, ReadError, FloorError) as exc:
            for log in sorted(workdir.glob("*.log")):
                tail = log.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
                print(f"--- last lines of {log.name} ---", *tail, sep="\n", file=sys.stderr)
            print(f"bench FAILED: {exc}", file=sys.stderr)
            report = {"rows": args.rows, "ok": False, "error": str(exc)}
    if args.json:
        print(json.dumps(report, indent=2))
    elif report.get("imports"):
        print_report(report)
    sys.exit(0 if report["ok"] else 1)


if __name__ == "__main__":
    main()
