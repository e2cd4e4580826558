"""How fast the operations views answer with a million imports in the table.

Fills a fresh database with N imports (default 1,000,000) over 50 root accounts: most finished
(one in ten failed, with an error), 1,000 waiting, 20 running on 4 live workers; then serves the
API in-process on a real socket and times every operations view (and /metrics) over HTTP.

    DATABASE_URL=... REDIS_URL=... .venv/bin/python scripts/ops_scale.py [--imports N] [--requests R]

Without DATABASE_URL / REDIS_URL it starts embedded PostgreSQL and Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path

import asyncpg
from aiohttp.test_utils import TestClient, TestServer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import claim_redis, fresh_database, progress

from api.app import create_app
from shared.settings import Settings

TOKEN = "ops-scale-admin-token"
ROOT_ACCOUNTS = 50

FILL = """
INSERT INTO accounts (name) SELECT 'District ' || n FROM generate_series(1, $2) n;
INSERT INTO workers (id, host, pid, max_jobs)
SELECT 'host-' || n || ':1:abcdef', 'host-' || n, 1, 4 FROM generate_series(1, 4) n;
-- Finished imports, oldest first; every tenth failed with one error.
INSERT INTO outcome_imports (context_type, context_id, root_account_id, user_id, workflow_state, progress,
    object_key, file_name, content_type, file_size, file_sha256, file_line_count, error_count, attempts,
    rows_processed, worker_id, created_at, started_at, ended_at)
SELECT 'Account', r, r, 1, CASE WHEN n % 10 = 0 THEN 'failed' ELSE 'succeeded' END, 100,
       'k' || n, 'outcomes.csv', 'text/csv', 100000, 'x', 1000, CASE WHEN n % 10 = 0 THEN 1 ELSE 0 END, 1,
       999, 'host-1:1:abcdef', t, t + interval '1 second', t + interval '20 seconds'
FROM generate_series(1, $1) n,
     LATERAL (SELECT 2 + n % $2 AS r, now() - make_interval(secs => ($1 - n) * 2) AS t) x;
INSERT INTO outcome_import_errors (outcome_import_id, row, message)
SELECT id, 1, 'An unexpected error has occurred' FROM outcome_imports WHERE workflow_state = 'failed';
-- 1,000 waiting and 20 running, spread over the districts.
INSERT INTO outcome_imports (context_type, context_id, root_account_id, user_id, workflow_state, object_key,
    file_name, content_type, file_size, file_sha256, file_line_count)
SELECT 'Account', 2 + n % $2, 2 + n % $2, 1, 'created', 'w' || n, 'outcomes.csv', 'text/csv', 1, 'x', 1000
FROM generate_series(1, 1000) n;
INSERT INTO outcome_imports (context_type, context_id, root_account_id, user_id, workflow_state, object_key,
    file_name, content_type, file_size, file_sha256, file_line_count, worker_id, started_at, heartbeat_at,
    rows_processed, attempts)
SELECT 'Account', 2 + n, 2 + n, 1, 'importing', 'r' || n, 'outcomes.csv', 'text/csv', 1, 'x', 100000,
       'host-' || (1 + n % 4) || ':1:abcdef', now() - interval '30 seconds', now(), 40000, 1
FROM generate_series(1, 20) n;
"""
COUNT_STATES = """
INSERT INTO outcome_import_state_counts
SELECT root_account_id, workflow_state, count(*) FROM outcome_imports GROUP BY 1, 2
"""
VIEWS = (
    "/api/v1/operations/queues",
    "/api/v1/operations/imports?state=waiting",
    "/api/v1/operations/imports?state=running",
    "/api/v1/operations/imports?state=finished",
    "/api/v1/operations/imports?state=failed",
    "/api/v1/operations/imports?state=finished&root_account_id=7",
    "/api/v1/operations/imports?state=failed&root_account_id=7",
    "/api/v1/operations/imports/{middle}",
    "/api/v1/operations/workers",
    "/api/v1/operations/throughput",
    "/api/v1/operations/audit_log",
    "/metrics",
)


async def fill(url: str, imports: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        started = time.monotonic()
        await conn.execute("SET synchronous_commit = off")
        async with conn.transaction():
            # The trigger that keeps import counts by state updates one row per inserted import,
            # which a bulk insert of millions cannot afford; the counts are made once afterwards.
            await conn.execute("ALTER TABLE outcome_imports DISABLE TRIGGER outcome_imports_count_states")
            for statement in FILL.split(";\n"):
                if statement.strip():
                    # Both are integers of this script, so writing them in is safe.
                    await conn.execute(statement.replace("$1", str(imports)).replace("$2", str(ROOT_ACCOUNTS)))
            await conn.execute(COUNT_STATES)
            await conn.execute("ALTER TABLE outcome_imports ENABLE TRIGGER outcome_imports_count_states")
        await conn.execute("VACUUM ANALYZE")
        count = await conn.fetchval("SELECT count(*) FROM outcome_imports")
        progress(f"filled {count:,} imports in {time.monotonic() - started:.0f} s")
    finally:
        await conn.close()


async def measure(settings: Settings, imports: int, requests: int) -> list[tuple[str, float, float, int]]:
    server = TestServer(create_app(settings))
    client = TestClient(server)
    await client.start_server()
    try:
        results = []
        for view in VIEWS:
            path = view.format(middle=imports // 2)
            headers = {"Authorization": f"Bearer {TOKEN}"}
            times = []
            for _ in range(requests):
                began = time.perf_counter()
                resp = await client.get(path, headers=headers)
                await resp.read()
                times.append((time.perf_counter() - began) * 1000)
                assert resp.status == 200, (path, resp.status, await resp.text())
            times.sort()
            results.append((path, statistics.median(times), times[int(0.95 * (len(times) - 1))], resp.status))
        return results
    finally:
        await client.close()


async def main_async(args: argparse.Namespace) -> None:
    async with AsyncExitStack() as stack:
        pg_server, redis_server = os.environ.get("DATABASE_URL"), os.environ.get("REDIS_URL")
        if not pg_server or not redis_server:
            from shared.embedded import embedded_services

            services = stack.enter_context(embedded_services(Path(tempfile.mkdtemp()), postgres=True, redis=True))
            pg_server, redis_server = services.database_url or "", services.redis_url or ""
        database_url = await fresh_database(stack, pg_server, keep=False)
        redis_url, _ = claim_redis(stack, redis_server)
        settings = Settings(
            database_url=database_url,
            redis_url=redis_url,
            storage_url=Path(tempfile.mkdtemp()).as_uri(),
            bootstrap_token=TOKEN,
            metrics_token=TOKEN,
            metrics_cache_seconds=0,  # every scrape reads the fleet figures
        )
        # The app migrates and creates the admin (user 1) at start-up; fill after that.
        server = TestServer(create_app(settings))
        await server.start_server()
        await server.close()
        await fill(database_url, args.imports)
        print(f"{'view':<64} {'median ms':>10} {'p95 ms':>8}")
        for path, median, p95, _ in await measure(settings, args.imports, args.requests):
            print(f"{path:<64} {median:>10.1f} {p95:>8.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--imports", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=20, help="requests per view")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
