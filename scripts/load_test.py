"""Load test: concurrent uploads across root accounts while many clients poll status.

Starts `outcome-imports run --workers N` (embedded PostgreSQL/Redis unless DATABASE_URL / REDIS_URL
are set; with DATABASE_URL a fresh database is created on that server and dropped afterwards),
then, through the HTTP API only:
  1. creates `--accounts` root accounts;
  2. uploads `--uploads` files (spread over the accounts, all at once), each of `--rows` rows;
  3. meanwhile `--pollers` clients poll `GET .../outcome_imports/:id` of random imports;
  4. waits until every import is final, then checks each one: `succeeded`, no row errors, and the
     account's active groups/outcomes counted through the Outcome Groups API equal what was sent.
Prints throughput and latency percentiles (and JSON with --json); exits 1 on any error.
Every request goes to 127.0.0.1 and every loop is bounded in count and time.

    .venv/bin/python scripts/load_test.py                       # 50 uploads, 10 accounts, 200 pollers
    .venv/bin/python scripts/load_test.py --uploads 10 --accounts 5 --pollers 20 --rows 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import asyncpg
from harness import REPO as ROOT
from harness import free_port, stop_with_parent  # scripts/ is on sys.path: this file's directory

from cli.run import wait_until_healthy
from tests.support.redis_claims import claim_redis_db, release_redis_db, with_redis_db

FINAL = ("succeeded", "failed")


def _csv(prefix: str, rows: int) -> tuple[bytes, int, int]:
    """A file of groups (every 20th row) with outcomes under them; guids unique to `prefix`."""
    lines = ["vendor_guid,object_type,title,description,parent_guids,calculation_method,ratings,,,"]
    groups = outcomes = 0
    parent = ""
    for n in range(rows):
        if n % 20 == 0:
            parent = f"{prefix}-g{n}"
            lines.append(f"{parent},group,Group {n},,,,,,,")
            groups += 1
        else:
            lines.append(f'{prefix}-o{n},outcome,Outcome {n},"Describe {n}, briefly",{parent},highest,3,Yes,0,No')
            outcomes += 1
    return ("\n".join(lines) + "\n").encode(), groups, outcomes


def _percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {"p50": 0.0, "p95": 0.0, "p99": 0.0, "max": 0.0}
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000, 2)

    return {"p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": round(ordered[-1] * 1000, 2)}


class Failures:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, message: str) -> None:
        if len(self.items) < 50:
            self.items.append(message)


async def _count_active(session: aiohttp.ClientSession, base: str, account: int) -> tuple[int, int]:
    """Active groups (without the root) and outcome links of an account, through the read API."""
    groups = links = 0
    for path, counter in (("outcome_groups", "groups"), ("outcome_group_links", "links")):
        url: str | None = f"{base}/api/v1/accounts/{account}/{path}?per_page=100"
        while url:
            async with session.get(url) as resp:
                items = await resp.json()
                nxt = resp.links.get("next")
                url = str(nxt["url"]) if nxt else None
            if counter == "groups":
                groups += sum(1 for g in items if g["vendor_guid"] is not None)
            else:
                links += len(items)
    return groups, links


async def load(args: argparse.Namespace, base: str, token: str) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"}
    failures = Failures()
    connector = aiohttp.TCPConnector(limit=args.pollers + args.uploads + 10)
    async with aiohttp.ClientSession(headers=headers, connector=connector) as session:
        accounts = []
        for i in range(args.accounts):
            async with session.post(f"{base}/api/v1/accounts", json={"account": {"name": f"District {i}"}}) as r:
                accounts.append((await r.json())["id"])
        files = []
        for u in range(args.uploads):
            account = accounts[u % len(accounts)]
            data, groups, outcomes = _csv(f"a{account}u{u}", args.rows)
            files.append((account, data, groups, outcomes))
        imports: list[tuple[int, int]] = []  # (account, import id)
        upload_latency: list[float] = []
        poll_latency: list[float] = []
        started = time.perf_counter()

        async def upload(account: int, data: bytes) -> None:
            form = aiohttp.FormData()
            form.add_field("attachment", data, filename="outcomes.csv", content_type="text/csv")
            t = time.perf_counter()
            async with session.post(f"{base}/api/v1/accounts/{account}/outcome_imports", data=form) as resp:
                body = await resp.json()
                upload_latency.append(time.perf_counter() - t)
                if resp.status != 200:
                    failures.add(f"upload to {account}: {resp.status} {body}")
                    return
            imports.append((account, body["id"]))

        states: dict[int, str] = {}
        deadline = time.monotonic() + args.time_limit
        uploads_done = asyncio.Event()

        async def poll(rng: random.Random) -> None:
            while time.monotonic() < deadline:
                if uploads_done.is_set() and imports and all(states.get(i) in FINAL for _, i in imports):
                    return
                if not imports:
                    await asyncio.sleep(0.01)  # nothing to poll yet
                    continue
                account, import_id = rng.choice(imports)
                t = time.perf_counter()
                try:
                    async with session.get(f"{base}/api/v1/accounts/{account}/outcome_imports/{import_id}") as resp:
                        body = await resp.json()
                        poll_latency.append(time.perf_counter() - t)
                        if resp.status != 200:
                            failures.add(f"poll {import_id}: {resp.status} {body}")
                            continue
                        states[import_id] = body["workflow_state"]
                except aiohttp.ClientError as exc:
                    failures.add(f"poll {import_id}: {exc!r}")

        pollers = [asyncio.create_task(poll(random.Random(p))) for p in range(args.pollers)]
        await asyncio.gather(*(upload(account, data) for account, data, _, _ in files))
        uploads_done.set()
        await asyncio.gather(*pollers)
        elapsed = time.perf_counter() - started
        if time.monotonic() >= deadline:
            failures.add(f"not every import finished within {args.time_limit} s")

        finals = []
        for account, import_id in imports:
            async with session.get(f"{base}/api/v1/accounts/{account}/outcome_imports/{import_id}") as resp:
                body = await resp.json()
            finals.append(body)
            if (body["workflow_state"], body["processing_errors"]) != ("succeeded", []):
                failures.add(f"import {import_id}: {body['workflow_state']} {body['processing_errors'][:3]}")
        for account in accounts:
            want_groups = sum(g for a, _, g, _ in files if a == account)
            want_outcomes = sum(o for a, _, _, o in files if a == account)
            got = await _count_active(session, base, account)
            if got != (want_groups, want_outcomes):
                failures.add(f"account {account}: groups/links {got}, expected {(want_groups, want_outcomes)}")

    rows = args.rows * len(imports)
    return {
        "uploads": args.uploads,
        "accounts": args.accounts,
        "pollers": args.pollers,
        "rows_per_file": args.rows,
        "elapsed_s": round(elapsed, 2),
        "imported_rows_per_s": round(rows / elapsed, 1),
        "status_requests": len(poll_latency),
        "status_requests_per_s": round(len(poll_latency) / elapsed, 1),
        "status_latency_ms": _percentiles(poll_latency),
        "upload_latency_ms": _percentiles(upload_latency),
        "errors": failures.items,
        "ok": not failures.items and len(imports) == args.uploads,
    }


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def _fresh_database(server_url: str, name: str) -> str:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return _with_database(server_url, name)


async def _drop_database(server_url: str, name: str) -> None:
    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--uploads", type=int, default=50)
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--pollers", type=int, default=200)
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--time-limit", type=float, default=600, help="seconds before giving up")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    env = dict(os.environ)
    token = secrets.token_urlsafe(24)
    env["OUTCOME_IMPORTS_BOOTSTRAP_TOKEN"] = token
    database = f"oi_load_{os.getpid()}"
    server_url = env.get("DATABASE_URL")
    if server_url:
        env["DATABASE_URL"] = asyncio.run(_fresh_database(server_url, database))
    redis_server = env.get("REDIS_URL")
    claim = None
    if redis_server:
        claim = claim_redis_db(redis_server, f"load_test:{os.getpid()}")
        env["REDIS_URL"] = with_redis_db(redis_server, claim)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="outcome-imports-load-") as data_dir:
        system = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cli",
                "run",
                "--port",
                str(port),
                "--workers",
                str(args.workers),
                "--data-dir",
                data_dir,
            ],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=open(Path(data_dir) / "system.log", "wb"),
            start_new_session=True,
            preexec_fn=stop_with_parent,
        )
        try:
            wait_until_healthy(base, [system])
            report = asyncio.run(load(args, base, token))
        finally:
            system.send_signal(signal.SIGINT)
            try:
                system.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(system.pid, signal.SIGKILL)
                system.wait()
            # The system's own log, for a failed run's report.
            log_tail = (Path(data_dir) / "system.log").read_text(errors="replace").splitlines()[-40:]
            if server_url:
                asyncio.run(_drop_database(server_url, database))
            if redis_server and claim is not None:
                release_redis_db(redis_server, claim)
    if not report["ok"]:
        report["system_log_tail"] = log_tail
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key:>24}: {value}")
    sys.exit(0 if report["ok"] else 1)


if __name__ == "__main__":
    main()
