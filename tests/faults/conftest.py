"""Fixtures for fault tests: worker subprocesses (`python -m worker`) and private services a test may restart."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

from shared.db.migrate import migrate
from shared.settings import Settings
from tests.faults import REPO_ROOT, RestartableServer, WorkerProcess, worker_environment
from tests.support.integrity import assert_database_intact


@pytest.fixture(autouse=True)
async def database_integrity(database_url: str) -> AsyncIterator[None]:
    """After each fault test, the database it used holds every invariant `outcome-imports check` checks:
    whatever was killed, stopped or cut, nothing dangles, nothing is left stuck and no count drifts.

    Autouse, so it is torn down after the test's workers have stopped. (A private PostgreSQL is
    checked by its own fixture, before it stops.)
    """
    yield
    await assert_database_intact(database_url)


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[[Settings], WorkerProcess]]:
    """Start worker subprocesses configured by a Settings value; all are stopped (and their logs shown
    on failure) at the end of the test."""
    started: list[WorkerProcess] = []

    def start(settings: Settings) -> WorkerProcess:
        log = tmp_path / f"worker-{len(started) + 1}.log"
        with log.open("wb") as out:
            process = subprocess.Popen(
                [sys.executable, "-m", "worker"],
                cwd=REPO_ROOT,
                env=worker_environment(settings),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        worker = WorkerProcess(process, log)
        started.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in started:
            worker.stop()
            print(f"--- worker {worker.pid} log (tail) ---\n{worker.log_tail()}")  # shown when the test fails


def _scratch_dir(prefix: str) -> Path:
    # Not under pytest's tmp dir: a concurrent pytest session resets it to 0700, locking out the
    # unprivileged user PostgreSQL runs as when we are root (see tests/conftest.py).
    return Path(tempfile.mkdtemp(prefix=prefix))


@pytest.fixture
async def private_redis() -> AsyncIterator[RestartableServer]:
    server = RestartableServer(_scratch_dir("oi-faults-redis-"), "redis")
    try:
        await server.start_async()
        yield server
    finally:
        await server.stop_async()
        shutil.rmtree(server.data_dir, ignore_errors=True)


@pytest.fixture
async def private_postgres() -> AsyncIterator[RestartableServer]:
    """A private, migrated PostgreSQL (database `outcome_imports`), whose invariants hold at the end of the test
    (as `outcome-imports check` checks them)."""
    server = RestartableServer(_scratch_dir("oi-faults-postgres-"), "postgres")
    try:
        await server.start_async()
        await migrate(server.url)
        yield server
        await assert_database_intact(server.url)
    finally:
        await server.stop_async()
        shutil.rmtree(server.data_dir, ignore_errors=True)
