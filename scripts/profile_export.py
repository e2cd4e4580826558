"""Time (and profile) one export of a context through the real API, in-process.

Serves the API (api.app.create_app) on a loopback port against an existing database, e.g. the one
`scripts/profile_import.py 100000 --district --keep --db oi_export` leaves behind, and reads
`GET /api/v1/accounts/:id/outcome_export` (`--format case_json`: the CASE package) as fast as the
client can. Prints bytes, seconds and MB/s (1 MB = 10^6 bytes) of the whole response, first byte
included; with `--profile` the top functions of the process (client and server share it: the
client's part is small). `--save PATH` keeps the file, to compare two versions of the export byte
for byte.

    .venv/bin/python scripts/profile_export.py --db oi_export --account 1 --runs 3
    .venv/bin/python scripts/profile_export.py --db oi_export --profile --save /tmp/export.csv
    .venv/bin/python scripts/profile_export.py --db oi_export --format case_json --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import hashlib
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import aiohttp  # noqa: E402
from aiohttp import web  # noqa: E402

from api.app import create_app  # noqa: E402
from shared.settings import Settings  # noqa: E402

_TOKEN = "profile-export-admin-token"


def _database_url(server_url: str, name: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


async def _export_once(url: str, save: Path | None) -> tuple[int, float, str]:
    digest = hashlib.sha256()
    size = 0
    started = time.perf_counter()
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, headers={"Authorization": f"Bearer {_TOKEN}"}) as resp,
    ):
        if resp.status != 200:
            raise SystemExit(f"export answered {resp.status}: {await resp.text()}")
        kept = bytearray() if save else None
        async for chunk in resp.content.iter_chunked(1024 * 1024):
            size += len(chunk)
            digest.update(chunk)
            if kept is not None:
                kept += chunk
    seconds = time.perf_counter() - started
    if save and kept is not None:
        await asyncio.to_thread(save.write_bytes, bytes(kept))
    return size, seconds, digest.hexdigest()


async def _main(args: argparse.Namespace) -> None:
    server_url = os.environ.get("DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
    with tempfile.TemporaryDirectory() as storage:
        settings = Settings(
            database_url=_database_url(server_url, args.db),
            redis_url=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
            storage_url=Path(storage).as_uri(),
            bootstrap_token=_TOKEN,
        )
        runner = web.AppRunner(create_app(settings), handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        url = f"http://127.0.0.1:{port}/api/v1/accounts/{args.account}/outcome_export?format={args.format}"
        try:
            profiler = cProfile.Profile() if args.profile else None
            for run in range(1, args.runs + 1):
                if profiler:
                    profiler.enable()
                size, seconds, sha = await _export_once(url, args.save)
                if profiler:
                    profiler.disable()
                rate = size / seconds / 1e6
                print(f"run {run}: {size} bytes in {seconds:.2f} s = {rate:.1f} MB/s  sha256 {sha[:16]}")
            if profiler:
                stats = pstats.Stats(profiler)
                stats.sort_stats("cumulative").print_stats(args.top)
                stats.sort_stats("tottime").print_stats(args.top)
        finally:
            await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="oi_prof", help="database on the server in DATABASE_URL")
    parser.add_argument("--account", type=int, default=1, help="the account whose outcomes are exported")
    parser.add_argument("--format", choices=("csv", "case_json"), default="csv", help="the export's format")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--profile", action="store_true", help="cProfile the process")
    parser.add_argument("--save", type=Path, help="write the exported file here")
    parser.add_argument("--top", type=int, default=30, help="functions listed per profile table")
    asyncio.run(_main(parser.parse_args()))


if __name__ == "__main__":
    main()
