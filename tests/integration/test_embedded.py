"""shared.embedded: real embedded PostgreSQL and Redis, started in a tmp dir on free ports."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import psutil
import pytest
import redis.asyncio as aioredis

from shared.embedded import embedded_services

REPO_ROOT = Path(__file__).resolve().parents[2]
GONE_DEADLINE_S = 10.0


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A fresh data dir, not under pytest's tmp_path.

    As root, the PostgreSQL system user must traverse every parent of the cluster while it runs,
    and each pytest session resets /tmp/pytest-of-root to 0700, breaking servers of concurrent ones.
    """
    base = Path(tempfile.mkdtemp(prefix="embedded-test-"))
    yield base / "data"
    shutil.rmtree(base)


def _postmaster_pid(data_dir: Path) -> int:
    return int((data_dir / "postgres" / "postmaster.pid").read_text().split("\n", 1)[0])


def _is_gone(pid: int) -> bool:
    try:
        # Our container's init may not reap an orphaned postmaster at once: a zombie counts as gone.
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _assert_gone(*pids: int) -> None:
    # pg_ctl -w returns once postmaster.pid is removed, a moment before the process exits.
    deadline = time.monotonic() + GONE_DEADLINE_S
    while not all(_is_gone(pid) for pid in pids):
        if time.monotonic() > deadline:
            pytest.fail(f"still running after {GONE_DEADLINE_S} s: {[p for p in pids if not _is_gone(p)]}")
        try:
            psutil.Process(next(p for p in pids if not _is_gone(p))).wait(timeout=0.05)
        except (psutil.TimeoutExpired, psutil.NoSuchProcess, StopIteration):
            continue


async def _redis_pid(redis_url: str) -> int:
    client = aioredis.Redis.from_url(redis_url)
    try:
        assert await client.ping()
        pid: int = (await client.info("server"))["process_id"]
        return pid
    finally:
        await client.aclose()


async def _table_exists(database_url: str, table: str) -> bool:
    conn = await asyncpg.connect(database_url)
    try:
        exists: bool = await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table)
        return exists
    finally:
        await conn.close()


def _start_cli(data_dir: Path) -> tuple[subprocess.Popen[str], str, str]:
    """Run `python -m shared.embedded` and return it with the two URLs it prints once ready."""
    stderr = data_dir.parent / "cli.stderr"
    with stderr.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "shared.embedded", "--data-dir", str(data_dir)],
            cwd=REPO_ROOT,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    assert process.stdout is not None
    # readline blocks until the servers are up; pytest-timeout bounds it if they never are.
    database_line, redis_line = process.stdout.readline(), process.stdout.readline()
    assert database_line.startswith("DATABASE_URL=postgresql://"), stderr.read_text()
    assert redis_line.startswith("REDIS_URL=redis://"), stderr.read_text()
    return process, database_line.strip().split("=", 1)[1], redis_line.strip().split("=", 1)[1]


async def test_start_connect_stop_and_restart_keeps_data(data_dir: Path) -> None:
    with embedded_services(data_dir) as services:
        assert services.database_url is not None and services.redis_url is not None
        assert services.database_url.startswith("postgresql://postgres@127.0.0.1:")
        assert services.database_url.endswith("/outcome_imports")
        conn = await asyncpg.connect(services.database_url)
        try:
            assert await conn.fetchval("SELECT 1") == 1
            await conn.execute("CREATE TABLE kept_across_runs (id int)")
        finally:
            await conn.close()
        redis_pid = await _redis_pid(services.redis_url)
        pg_pid = _postmaster_pid(data_dir)
    _assert_gone(pg_pid, redis_pid)

    with embedded_services(data_dir) as again:
        assert again.database_url is not None
        assert await _table_exists(again.database_url, "kept_across_runs")


def test_stops_even_if_a_parent_loses_search_permission(data_dir: Path) -> None:
    with embedded_services(data_dir, redis=False):
        pg_pid = _postmaster_pid(data_dir)
        # What a concurrent pytest session does to /tmp/pytest-of-root; matters when running as root.
        data_dir.parent.chmod(0o700)
    _assert_gone(pg_pid)


async def test_only_the_requested_services_start(data_dir: Path) -> None:
    with embedded_services(data_dir, postgres=False) as services:
        assert services.database_url is None
        assert services.redis_url is not None
        await _redis_pid(services.redis_url)
    assert not (data_dir / "postgres").exists()


async def test_startup_ignores_a_stale_postmaster_pid(data_dir: Path) -> None:
    with embedded_services(data_dir, redis=False):
        pass
    # As after a crash and reboot: the file names a live process that is not PostgreSQL.
    (data_dir / "postgres" / "postmaster.pid").write_text(f"{os.getpid()}\n{data_dir / 'postgres'}\n")
    with embedded_services(data_dir, redis=False) as services:
        assert services.database_url is not None
        assert not await _table_exists(services.database_url, "nothing_here")


async def test_a_crashed_run_is_stopped_and_replaced(data_dir: Path) -> None:
    process, database_url, redis_url = _start_cli(data_dir)
    old_pids = (_postmaster_pid(data_dir), await _redis_pid(redis_url))
    conn = await asyncpg.connect(database_url)
    await conn.execute("CREATE TABLE made_before_the_crash (id int)")
    await conn.close()
    process.kill()  # no cleanup at all: both servers keep running, in their own sessions
    process.wait()
    assert process.stdout is not None
    process.stdout.close()

    with embedded_services(data_dir) as services:
        _assert_gone(*old_pids)
        assert services.database_url is not None and services.redis_url is not None
        assert await _table_exists(services.database_url, "made_before_the_crash")
        await _redis_pid(services.redis_url)


async def test_cli_stops_both_servers_on_sigterm(data_dir: Path) -> None:
    process, _, redis_url = _start_cli(data_dir)
    pids = (_postmaster_pid(data_dir), await _redis_pid(redis_url))
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0, (data_dir.parent / "cli.stderr").read_text()
    assert process.stdout is not None
    process.stdout.close()
    _assert_gone(*pids)


def test_a_taken_redis_port_fails_naming_the_log(data_dir: Path) -> None:
    with embedded_services(data_dir, postgres=False) as first:
        assert first.redis_url is not None
        port = int(first.redis_url.rsplit(":", 1)[1].split("/")[0])
        with (
            pytest.raises(RuntimeError, match=r"redis\.log"),
            embedded_services(data_dir / "second", postgres=False, redis_port=port),
        ):
            pass
