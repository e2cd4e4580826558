"""Scale test: several API processes behind HAProxy and several workers, under a mixed load of many
districts, while every process is restarted one by one; every import proved.

Starts, on this machine: SeaweedFS as S3 (STORAGE_URL=s3://...), `--apis` API processes
(`python -m api --port N`) behind HAProxy (Debian's `haproxy`), and workers (`python -m worker`),
on a fresh database `oi_scale_<pid>` of DATABASE_URL's server and a claimed empty Redis database of
REDIS_URL's (embedded PostgreSQL/Redis when those are unset). Every request goes through HAProxy on
127.0.0.1, with the bootstrap admin token. Then, in phases:

1. throughput, with 1, 2 and 4 workers (`--throughput-workers`): each district's queue paused, one
   file of `--throughput-rows` rows uploaded per district, the queues resumed; rows/s = the phase's rows
   / (first start -> last end, from PostgreSQL). The same files each time (fresh guids).
2. "no backlog", with `--workers` workers: each of `--districts` districts runs one client that uploads
   an import, polls it until final, then the next (`--imports-per-district`, sizes from `--sizes`);
3. "backlog": the backlog district queues `--backlog` imports (sizes `--backlog-sizes`, a poller on
   each), then the districts run as in 2; the queue wait of the small districts is compared with 2;
4. "restarts": the backlog district queues `--backlog` imports again, and the districts run as in 2
   (and on, until the restarts are over) while every worker is restarted one by one (a replacement
   started and registered, then SIGTERM to the old one once it holds an import; its imports must be
   taken over by others) and then every API process (SIGTERM, exit after draining its requests,
   started again on the same port, up again in HAProxy).

Each import goes into a sub-account of its own, so each tree is checked exactly (bench's check_tree).
Invariants (exit status 1 when one fails): every accepted import finished and succeeded with its exact
tree; none lost, stuck, or in the database without a client having been told of it; within each root
account imports started in id order, each after the one before had ended; no client error, apart from
the retryable answers of scale_client.py (counted apart); every restarted process exited 0 in time; and
at the end `outcome-imports check` finds every invariant of the database holding (no dangling
reference, no tree across contexts, no import stuck, state counts exact).

    .venv/bin/python scripts/scale_test.py [--json] [--keep] [--work-dir DIR]
    .venv/bin/python scripts/scale_test.py --apis 2 --workers 2 --districts 3 --backlog 10 --sizes 100,200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Coroutine
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from harness import LOG_TAIL_LINES, claim_redis, fresh_database, log_tail, progress, stop_with_parent
from scale_client import Client, ClientFailure, Traffic
from scale_load import District, Load, Templates
from scale_report import (
    BACKLOG_DISTRICT,
    IMPORTS,
    Phase,
    analyse,
    backlog_waiting,
    check_trees,
    print_report,
)
from scale_system import ScaleError, System

from shared.db.migrate import migrate
from tests.support.seaweedfs import run_seaweedfs

DEFAULTS = {
    "apis": 3,
    "workers": 4,
    "throughput_workers": "1,2,4",
    "throughput_rows": 50_000,
    "districts": 8,
    "imports_per_district": 4,
    "sizes": "100,1000,10000,100000",
    "backlog": 200,
    "backlog_sizes": "100,1000",
    "poll_interval": 1.0,
    "time_limit": 900.0,
}
REPO_ROOT = Path(__file__).resolve().parents[1]
# The script's own connections: tree checks (scale_report.TREE_CHECKS_AT_ONCE) and watching workers.
TREE_POOL_SIZE = 5


def rotated(sizes: list[int], by: int) -> list[int]:
    """Each district starts at another size, so that small and large imports overlap."""
    by %= len(sizes)
    return sizes[by:] + sizes[:by]


async def throughput_phase(system: System, load: Load, districts: list[District], workers: int, rows: int) -> Phase:
    await system.scale_workers(workers)
    name = f"{workers} worker{'s' if workers > 1 else ''}"
    progress(f"throughput with {name}: pausing {len(districts)} districts, uploading {len(districts)} x {rows:,} rows")
    for d in districts:
        await load.client.call("operations", "POST", f"/api/v1/operations/queues/{d.id}/pause")
    items = await asyncio.gather(*(load.submit(name, d, rows) for d in districts))
    phase = Phase(name, "throughput", workers, time.monotonic())
    for d in districts:
        await load.client.call("operations", "POST", f"/api/v1/operations/queues/{d.id}/resume")
    await asyncio.gather(*(load.follow(i) for i in items))
    phase.ended = time.monotonic()
    return phase


async def districts_phase(name: str, load: Load, districts: list[District], args: argparse.Namespace) -> Phase:
    progress(f"phase '{name}': {len(districts)} district clients, {args.imports_per_district} imports each")
    phase = Phase(name, "districts", args.workers, time.monotonic())
    await asyncio.gather(
        *(
            load.run_district(name, d, rotated(args.sizes, n), args.imports_per_district)
            for n, d in enumerate(districts)
        )
    )
    phase.ended = time.monotonic()
    return phase


async def backlog_phase(
    system: System, load: Load, backlog: District, districts: list[District], args: argparse.Namespace
) -> Phase:
    await load.queue_backlog("backlog", backlog, args.backlog_sizes, args.backlog)
    waiting = await backlog_waiting(system.pool, backlog.id)
    phase = await districts_phase("backlog", load, districts, args)
    phase.notes["backlog waiting (start -> end)"] = f"{waiting} -> {await backlog_waiting(system.pool, backlog.id)}"
    return phase


async def restart_phase(
    system: System, load: Load, backlog: District, districts: list[District], args: argparse.Namespace
) -> tuple[Phase, dict[str, Any]]:
    await load.queue_backlog("restarts", backlog, args.backlog_sizes, args.backlog)
    waiting = await backlog_waiting(system.pool, backlog.id)
    progress(f"phase 'restarts': {len(districts)} district clients while every process restarts one by one")
    phase = Phase("restarts", "districts", args.workers, time.monotonic())
    restarts: dict[str, Any] = {"workers": [], "apis": []}
    over = asyncio.Event()

    async def choreography() -> None:
        try:
            restarts["began"] = time.monotonic()
            for worker in list(system.workers):
                restarts["workers"].append(await system.restart_worker(worker))
            for api in list(system.apis):
                restarts["apis"].append(await system.restart_api(api))
            restarts["ended"] = time.monotonic()
        finally:
            over.set()

    clients = [
        load.run_district("restarts", d, rotated(args.sizes, n), args.imports_per_district, lambda: not over.is_set())
        for n, d in enumerate(districts)
    ]
    await asyncio.gather(choreography(), *clients)
    phase.ended = time.monotonic()
    phase.notes["backlog waiting (start -> end)"] = f"{waiting} -> {await backlog_waiting(system.pool, backlog.id)}"
    return phase, restarts


async def scale(args: argparse.Namespace, workdir: Path, pg_server: str, redis_server: str) -> dict[str, Any]:
    # This machine's 1-minute load average: other work on it slows every figure.
    machine_load = {"start": round(os.getloadavg()[0], 1)}
    config = {k: getattr(args, k) for k in DEFAULTS} | {"cpus": os.cpu_count(), "load_average": machine_load}
    deadline = time.monotonic() + args.time_limit
    templates = Templates(workdir, args.seed)
    sizes = {*args.sizes, *args.backlog_sizes, args.throughput_rows}
    progress(f"generating files of {', '.join(f'{s:,}' for s in sorted(sizes))} rows")
    templates.prepare(sizes)
    async with AsyncExitStack() as stack:
        s3 = stack.enter_context(run_seaweedfs("outcome-imports-scale", preexec_fn=stop_with_parent))
        database_url = await fresh_database(stack, pg_server, f"oi_scale_{os.getpid()}", args.keep)
        redis_url, _ = claim_redis(stack, redis_server, f"scale_test:{os.getpid()}")
        await migrate(database_url)
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=TREE_POOL_SIZE)
        stack.push_async_callback(pool.close)
        token = secrets.token_urlsafe(32)
        env = dict(
            os.environ,
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            STORAGE_URL=f"s3://{s3.bucket}/scale",
            OUTCOME_IMPORTS_S3_ENDPOINT_URL=s3.endpoint_url,
            OUTCOME_IMPORTS_BOOTSTRAP_TOKEN=token,
            **s3.client_env(),
        )
        probes = await stack.enter_async_context(aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)))
        system = System(workdir, env, pool, probes)
        stack.callback(system.stop_all)
        progress(f"starting {args.apis} API processes and HAProxy")
        system.apis.extend(system.start_api() for _ in range(args.apis))
        system.start_haproxy()
        await system.wait_apis_and_lb()
        session = await stack.enter_async_context(
            aiohttp.ClientSession(
                system.lb_url,
                headers={"Authorization": f"Bearer {token}"},
                timeout=aiohttp.ClientTimeout(total=300),
                connector=aiohttp.TCPConnector(limit=512),
            )
        )
        traffic = Traffic()
        load = Load(Client(session, traffic), templates, args.poll_interval, deadline)
        districts = [await load.create_district(f"District {n}") for n in range(1, args.districts + 1)]
        backlog = await load.create_district(BACKLOG_DISTRICT)
        phases = []
        for workers in args.throughput_workers:
            phases.append(await throughput_phase(system, load, districts, workers, args.throughput_rows))
        await system.scale_workers(args.workers)
        phases.append(await districts_phase("no backlog", load, districts, args))
        phases.append(await backlog_phase(system, load, backlog, districts, args))
        phase, restarts = await restart_phase(system, load, backlog, districts, args)
        phases.append(phase)
        progress("waiting for the backlog's last imports")
        await load.finish()
        system.assert_alive()
        lb = (await system.lb_servers()).get("BACKEND", {})
        progress("checking every import's tree")
        trees = await check_trees(pool, session, load, templates)
        progress("checking the database's invariants (outcome-imports check)")
        integrity = await check_database(database_url)
        rows = await pool.fetch(IMPORTS)
        report = analyse(rows, load, phases, trees, traffic, restarts, lb)
        report["integrity"] = integrity
        report["failures"] += [f"broken invariant: {problem}" for problem in integrity["problems"]]
        report["ok"] = not report["failures"]
        async with pool.acquire() as conn:
            config["postgres"] = conn.get_server_version().major
        machine_load["end"] = round(os.getloadavg()[0], 1)
        report["config"] = config
    return report


async def check_database(database_url: str) -> dict[str, Any]:
    """`outcome-imports check --json` on the run's database: its report, plus `problems`, one line each."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", "check", "--database-url", database_url, "--json",
        cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await process.communicate()
    if process.returncode not in (0, 1):
        return {"ok": False, "problems": [f"outcome-imports check could not check: {stderr.decode().strip()}"]}
    report: dict[str, Any] = json.loads(stdout)
    report["problems"] = [
        f"{v['name']}: {v['found']} {v['description']}: {', '.join(v['sample'])}" for v in report["violations"]
    ]
    return report


async def until_stopped(run: Coroutine[Any, Any, dict[str, Any]], seconds: float) -> dict[str, Any]:
    """`run`, cancelled by SIGTERM or SIGINT, or after `seconds`: either way its clean-up stops every process
    and drops the database."""
    task = asyncio.current_task()
    assert task is not None
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, task.cancel)
    return await asyncio.wait_for(run, seconds)


def parse_sizes(text: str) -> list[int]:
    return [int(s) for s in text.split(",") if s]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    d = DEFAULTS
    parser.add_argument("--apis", type=int, default=d["apis"], help="API processes behind HAProxy (%(default)s)")
    parser.add_argument(
        "--workers", type=int, default=d["workers"], help="workers in the district phases (%(default)s)"
    )
    parser.add_argument(
        "--throughput-workers",
        type=parse_sizes,
        default=d["throughput_workers"],
        help="worker counts of the throughput phases (%(default)s)",
    )
    parser.add_argument(
        "--throughput-rows",
        type=int,
        default=d["throughput_rows"],
        help="rows of each district's file in a throughput phase (%(default)s)",
    )
    parser.add_argument("--districts", type=int, default=d["districts"], help="small districts (%(default)s)")
    parser.add_argument(
        "--imports-per-district",
        type=int,
        default=d["imports_per_district"],
        help="imports of each district client per phase (%(default)s)",
    )
    parser.add_argument(
        "--sizes", type=parse_sizes, default=d["sizes"], help="rows of the districts' files, in turn (%(default)s)"
    )
    parser.add_argument(
        "--backlog", type=int, default=d["backlog"], help="imports queued at once in the backlog district (%(default)s)"
    )
    parser.add_argument(
        "--backlog-sizes",
        type=parse_sizes,
        default=d["backlog_sizes"],
        help="rows of the backlog's files, in turn (%(default)s)",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=d["poll_interval"],
        help="seconds between status reads of one import (%(default)s)",
    )
    parser.add_argument(
        "--time-limit",
        type=float,
        default=d["time_limit"],
        help="seconds for the whole run before it gives up (%(default)s)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print the report as JSON instead of tables")
    parser.add_argument("--keep", action="store_true", help="do not drop oi_scale_<pid> at the end")
    parser.add_argument("--work-dir", type=Path, help="keep files and logs here (default: a temp dir, removed)")
    args = parser.parse_args()  # fmt: skip
    if min(args.throughput_workers, default=1) < 1 or args.workers < 1 or args.apis < 1 or args.districts < 1:
        parser.error("process and district counts must be at least 1")
    if min(*args.sizes, *args.backlog_sizes, args.throughput_rows) < 20:
        parser.error("files have at least 20 rows (scripts/generate_outcomes.py)")
    with ExitStack() as stack:
        workdir = args.work_dir or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="oi-scale-")))
        workdir.mkdir(parents=True, exist_ok=True)
        pg_server = os.environ.get("DATABASE_URL")
        redis_server = os.environ.get("REDIS_URL")
        try:
            if not (pg_server and redis_server):
                from shared.embedded import embedded_services

                services = stack.enter_context(
                    embedded_services(workdir / "services", postgres=not pg_server, redis=not redis_server)
                )
                pg_server = pg_server or services.database_url
                redis_server = redis_server or services.redis_url
            assert pg_server and redis_server
            report = asyncio.run(until_stopped(scale(args, workdir, pg_server, redis_server), args.time_limit + 60))
        except (ScaleError, ClientFailure, TimeoutError, asyncio.CancelledError) as exc:
            for log in sorted(workdir.glob("*.log")):
                print(f"--- last lines of {log.name} ---", log_tail(log, LOG_TAIL_LINES), sep="\n", file=sys.stderr)
            stopped = "stopped by a signal" if isinstance(exc, asyncio.CancelledError) else None
            message = str(exc) or stopped or f"time limit of {args.time_limit} s reached"
            print(f"scale test FAILED: {message}", file=sys.stderr)
            report = {"ok": False, "failures": [message]}
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    elif "imports" in report:
        print_report(report)
    sys.exit(0 if report["ok"] else 1)


if __name__ == "__main__":
    main()
