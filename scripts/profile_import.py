"""Time (and profile) one import in-process, without the API or a worker process in the way.

Creates a fresh database (default `oi_prof`) on the server in DATABASE_URL (default
postgresql://postgres@127.0.0.1:5432/postgres), migrates it, stores a generated file
(`tests.support.files.outcomes_file`: a group every 50 rows, outcomes with two tiers, an error
every 997 rows) and runs `worker.jobs.run_outcome_import` on it, as the worker would. Prints
rows/s for the import (wall time), the CPU seconds the worker and PostgreSQL spent on it (the
server's only when it runs on this machine: /proc), and with profiling on (the default) the top
functions by cumulative and by own time. The database is dropped at the end unless `--keep`.

    .venv/bin/python scripts/profile_import.py 50000                  # profiled
    .venv/bin/python scripts/profile_import.py 100000 --no-profile --twice   # clean timings
    .venv/bin/python scripts/profile_import.py 50000 --no-profile --batch-size 5000

`--twice` imports the same file a second time (every row then matches a stored object) and
times that too. `--district` imports the file `make bench` uses (scripts/generate_outcomes.py)
instead; with `--changed-fraction 0.1` the second import is its 10%-changed variant.
`--explain-over MS` has PostgreSQL log the plan of every statement slower than MS ms
(auto_explain, in the server log). `--digest` prints, after each import, a hash of the groups,
outcomes, links, friendly descriptions, row errors and imports (ids included, timestamps not),
to compare what two versions of the engine store for the same file.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import hashlib
import os
import pstats
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import asyncpg  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from shared.db import imports as iq  # noqa: E402
from shared.db.accounts import load_context  # noqa: E402
from shared.db.migrate import migrate  # noqa: E402
from shared.db.pool import create_pool  # noqa: E402
from shared.fleet_metrics import FleetMetrics  # noqa: E402
from shared.models import ContextType  # noqa: E402
from shared.settings import Settings  # noqa: E402
from shared.status import StatusStore  # noqa: E402
from shared.storage import new_object_key, open_storage  # noqa: E402
from tests.support.files import outcomes_file  # noqa: E402
from worker.__main__ import tune_garbage_collector  # noqa: E402
from worker.deps import Deps, store_deps  # noqa: E402
from worker.jobs import run_outcome_import  # noqa: E402
from worker.registry import WorkerRegistry  # noqa: E402

# Columns that say what an import did; timestamps are left out, they differ on every run.
_DIGEST_QUERIES = (
    "SELECT id, context_type, context_id, root_account_id, parent_id, vendor_guid, title, description,"
    " workflow_state, last_import_id FROM learning_outcome_groups ORDER BY id",
    "SELECT id, context_type, context_id, root_account_id, vendor_guid, short_description, description,"
    " display_name, calculation_method, calculation_int, ratings::text, mastery_points, points_possible,"
    " workflow_state, last_import_id FROM learning_outcomes ORDER BY id",
    "SELECT id, learning_outcome_id, associated_group_id, context_type, context_id, workflow_state"
    " FROM learning_outcome_links ORDER BY id",
    "SELECT learning_outcome_id, context_type, context_id, description, workflow_state"
    " FROM outcome_friendly_descriptions ORDER BY 1, 2, 3",
    "SELECT outcome_import_id, row, message FROM outcome_import_errors ORDER BY id",
    "SELECT id, workflow_state, progress, error_count FROM outcome_imports ORDER BY id",
)


def _backend_cpu_seconds(pids: list[int]) -> dict[int, float]:
    """CPU seconds (user + system) used so far by these local PostgreSQL backends (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    seconds = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # not local, or gone
        seconds[pid] = (int(fields[11]) + int(fields[12])) / ticks
    return seconds


async def _backend_pids(admin: asyncpg.Connection, database: str) -> list[int]:
    return [r[0] for r in await admin.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1", database)]


def _district_file(rows: int, changed_fraction: float = 0.0) -> bytes:
    """The `make bench` file (scripts/generate_outcomes.py): deeper trees, 4 tiers, long descriptions."""
    sys.path.insert(0, str(REPO / "scripts"))
    from generate_outcomes import generate  # only when asked for

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "district.csv"
        generate(path, rows, changed_fraction=changed_fraction)
        return path.read_bytes()


def _database_url(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path="/" + name))


async def _digest(conn: asyncpg.Connection) -> str:
    digest = hashlib.sha256()
    for query in _DIGEST_QUERIES:
        for record in await conn.fetch(query):
            digest.update(repr(tuple(record)).encode())
    return digest.hexdigest()[:16]


async def main(args: argparse.Namespace) -> None:
    server_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    admin = await asyncpg.connect(server_url)
    await admin.execute(f'DROP DATABASE IF EXISTS "{args.db}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{args.db}"')
    url = _database_url(server_url, args.db)
    if args.explain_over is not None:
        # New sessions on this database log the plan (EXPLAIN ANALYZE) of every slower statement.
        for setting in (
            "session_preload_libraries = 'auto_explain'",
            f"auto_explain.log_min_duration = {args.explain_over}",
            "auto_explain.log_analyze = on",
            "auto_explain.log_buffers = on",
            "auto_explain.log_timing = off",
        ):
            await admin.execute(f'ALTER DATABASE "{args.db}" SET {setting}')
    await migrate(url)
    second = None  # the file of the second import, if not the same
    if args.district:
        data = _district_file(args.rows)
        print(f"{args.rows} rows (district file: scripts/generate_outcomes.py)")
        if args.changed_fraction:
            second = _district_file(args.rows, args.changed_fraction)
    else:
        data, expected_errors, groups, outcomes = outcomes_file(args.rows)
        print(f"{args.rows} rows ({groups} groups, {outcomes} outcomes, {len(expected_errors)} row errors)")
    settings = Settings(
        database_url=url,
        redis_url=os.environ.get("PROFILE_REDIS_URL", "redis://127.0.0.1:6379/14"),
        storage_url=f"file://{tempfile.mkdtemp(prefix='oi_prof_')}",
        batch_size=args.batch_size,
    )
    redis = Redis.from_url(settings.redis_url)
    try:
        async with create_pool(url) as pool, open_storage(settings.storage_url) as storage:

            async def chunks(content: bytes) -> AsyncIterator[bytes]:
                yield content

            stored = await storage.put_stream(new_object_key(), chunks(data))
            stored_second = stored if second is None else await storage.put_stream(new_object_key(), chunks(second))
            context = await load_context(pool, ContextType.account, 1)
            assert context is not None
            user = await pool.fetchval(
                "INSERT INTO users (name, sortable_name, short_name) VALUES ('p', 'p', 'p') RETURNING id"
            )
            ctx: dict[str, object] = {"redis": redis}
            status = StatusStore(redis, 60)
            store_deps(ctx, Deps(settings, pool, redis, storage, status, FleetMetrics(redis), WorkerRegistry(1)))
            for attempt in range(2 if args.twice else 1):
                outcome_import = await iq.insert_import(
                    pool,
                    context,
                    user,
                    stored if attempt == 0 else stored_second,
                    file_name="p.csv",
                    content_type="text/csv",
                    target_group_id=None,
                )
                profile = cProfile.Profile() if args.profile else None
                backends_before = _backend_cpu_seconds(await _backend_pids(admin, args.db))
                started = time.perf_counter()
                cpu_started = time.process_time()
                if profile is not None:
                    profile.enable()
                result = await run_outcome_import(ctx, outcome_import.id)
                if profile is not None:
                    profile.disable()
                elapsed = time.perf_counter() - started
                cpu = time.process_time() - cpu_started
                backends_after = _backend_cpu_seconds(await _backend_pids(admin, args.db))
                server_cpu = sum(t - backends_before.get(pid, 0.0) for pid, t in backends_after.items())
                label = "fresh import" if attempt == 0 else "re-import"
                # On a busy machine wall time says little; CPU time does not depend on the load.
                print(
                    f"{label}: {result}  {args.rows / elapsed:.0f} rows/s  {elapsed:.2f} s wall;"
                    f" CPU: worker {cpu:.2f} s + PostgreSQL {server_cpu:.2f} s"
                    f" = {args.rows / (cpu + server_cpu):.0f} rows per CPU-second"
                )
                if profile is not None:
                    pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)
                    pstats.Stats(profile).sort_stats("tottime").print_stats(args.top)
                if args.digest:
                    async with pool.acquire() as conn:
                        print(f"{label} digest: {await _digest(conn)}")
    finally:
        await redis.aclose()
        if not args.keep:
            await admin.execute(f'DROP DATABASE "{args.db}" WITH (FORCE)')
        await admin.close()


_DEFAULT_BATCH_SIZE = next(f.default for f in dataclasses.fields(Settings) if f.name == "batch_size")


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("rows", type=int, nargs="?", default=50_000, help="data rows in the file")
    parser.add_argument("--no-profile", dest="profile", action="store_false", help="time without cProfile")
    parser.add_argument("--twice", action="store_true", help="then re-import the same file, timed")
    parser.add_argument(
        "--district", action="store_true", help="import the `make bench` district file instead (generate_outcomes.py)"
    )
    parser.add_argument(
        "--changed-fraction",
        type=float,
        default=0.0,
        metavar="F",
        help="with --district --twice: the second import is the file with a fraction F of its outcome rows changed",
    )
    parser.add_argument("--batch-size", type=int, default=_DEFAULT_BATCH_SIZE, help="Settings.batch_size")
    parser.add_argument("--db", default="oi_prof", help="database to (re)create on the server")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--digest", action="store_true", help="print a hash of what the imports stored")
    parser.add_argument(
        "--explain-over",
        type=int,
        metavar="MS",
        help="log EXPLAIN ANALYZE of statements slower than MS ms to the PostgreSQL server log (auto_explain)",
    )
    parser.add_argument("--top", type=int, default=35, help="functions listed per profile table")
    return parser.parse_args()


if __name__ == "__main__":
    args = _parse_args()
    tune_garbage_collector()  # as the worker process does
    asyncio.run(main(args))
