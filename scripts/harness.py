"""What the measuring scripts (bench.py, load_test.py, scale_test.py) share to run the system on this
machine: progress lines, free ports, a fresh database, a claimed Redis database, child processes that
die with the script, and small report helpers.
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from redis.asyncio import Redis

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.redis_claims import claim_redis_db, release_redis_db, with_redis_db  # noqa: E402

_PR_SET_PDEATHSIG = 1
LOG_TAIL_LINES = 30


def progress(message: str) -> None:
    """One line on stderr, tagged with the running script's name and the time (stdout stays for reports)."""
    print(f"[{Path(sys.argv[0]).stem} {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def with_path(url: str, path: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, parts.fragment))


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop_with_parent() -> None:
    """For `preexec_fn`, Linux: the child gets SIGTERM when the thread that started it ends (the script
    dies, e.g. killed by a test's timeout), so no API or worker is left behind to take other runs' jobs.
    Start children from the main thread only: a helper thread's exit would stop them too."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def start_process(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """A child process run from the repository, its output appended to `log`, stopped with this script."""
    with log.open("ab") as out:
        return subprocess.Popen(
            args,
            env=env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=stop_with_parent,
        )


def log_tail(log: Path, lines: int = LOG_TAIL_LINES) -> str:
    if not log.exists():
        return ""
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


async def fresh_database(stack: AsyncExitStack, server_url: str, name: str, keep: bool) -> str:
    """Create the empty database `name` on the server of `server_url` (dropping a crashed run's of the
    same name), dropped when `stack` closes unless `keep`; returns its URL."""
    admin = await asyncpg.connect(server_url)
    stack.push_async_callback(admin.close)
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.execute(f'CREATE DATABASE "{name}"')
    if keep:
        progress(f"keeping database {name}: drop it yourself")
    else:
        stack.push_async_callback(admin.execute, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return with_path(server_url, "/" + name)


def claim_redis(stack: AsyncExitStack, server_url: str, owner: str) -> tuple[str, Redis]:
    """A Redis database of our own, claimed as the test suite claims one (tests/support/redis_claims.py):
    the queue name and status keys are fixed, so two runs sharing a database would take each other's jobs.
    Released (and emptied) when `stack` closes."""
    db = claim_redis_db(server_url, owner)
    stack.callback(release_redis_db, server_url, db)
    url = with_redis_db(server_url, db)
    redis = Redis.from_url(url)
    stack.push_async_callback(redis.aclose)
    return url, redis


def percentile(sorted_values: list[float], q: float) -> float:
    """The value below which a share `q` of the (ascending, non-empty) values lie."""
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


def print_columns(rows: Sequence[tuple[str, ...]]) -> None:
    """The first column left-aligned, the others right-aligned."""
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for r in rows:
        cells = [r[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(r[1:], widths[1:], strict=True)]
        print("  ".join(cells))


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far: set against an import's wall time, it tells
    whether that process or something else (PostgreSQL, the poll interval) took the time."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime (man 5 proc)


def backend_cpu_seconds(pid: int) -> float | None:
    """cpu_seconds of a PostgreSQL backend, or None when PostgreSQL runs on another machine."""
    try:
        return cpu_seconds(pid)
    except OSError:
        return None
