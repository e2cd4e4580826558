"""Faults against real processes and services: a killed worker, Redis and PostgreSQL restarts, storage outages,
concurrent imports. Helpers shared by these tests live here; fixtures live in conftest.py."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import ExitStack, asynccontextmanager
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import psutil

from shared.embedded import embedded_services
from shared.settings import Settings
from tests.support.canvas import attachment, expect_json
from tests.support.seaweedfs import free_ports

T = TypeVar("T")
POLL_SECONDS = 0.05
REPO_ROOT = Path(__file__).resolve().parents[2]
# arq finishes its running jobs on SIGTERM; past this a worker is killed.
WORKER_STOP_SECONDS = 10
LOG_TAIL_BYTES = 6000
_URL_VARIABLES = {"database_url": "DATABASE_URL", "redis_url": "REDIS_URL", "storage_url": "STORAGE_URL"}


def worker_environment(settings: Settings) -> dict[str, str]:
    """The environment `python -m worker` reads `settings` back from (Settings.from_env)."""
    ours = set(_URL_VARIABLES.values())
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTCOME_IMPORTS_") and k not in ours}
    for f in fields(Settings):
        value = getattr(settings, f.name)
        if f.name not in _URL_VARIABLES and value == f.default:
            continue  # the worker's own default (some, such as 0, could not even be written as a variable)
        env[_URL_VARIABLES.get(f.name, "OUTCOME_IMPORTS_" + f.name.upper())] = str(value)
    return env


@dataclass
class WorkerProcess:
    """One `python -m worker` subprocess, its output in `log`."""

    process: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_bytes(self) -> int:
        """The process's resident memory now."""
        return int(psutil.Process(self.pid).memory_info().rss)

    def problem(self) -> str | None:
        """None while the process runs; else why it is gone and the end of its log."""
        if self.process.poll() is None:
            return None
        return f"worker {self.pid} exited with {self.process.returncode}:\n{self.log_tail()}"

    def kill(self) -> None:
        """SIGKILL: no cleanup of any kind, as when a machine dies."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=WORKER_STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log_tail(self) -> str:
        data = self.log.read_bytes()
        return data[-LOG_TAIL_BYTES:].decode(errors="replace")


@dataclass
class RestartableServer:
    """An embedded PostgreSQL or Redis of one test's own, on a fixed port, that the test may stop and start.

    PostgreSQL keeps its data across a restart; Redis keeps none (as configured in production: it is a
    queue and a cache). `start`/`stop` block for a second or so: call them via `asyncio.to_thread`
    when an in-process API must keep answering meanwhile.
    """

    data_dir: Path
    kind: str  # "postgres" | "redis"
    port: int = field(default_factory=lambda: free_ports(1)[0])
    url: str = ""
    _stack: ExitStack | None = None

    def start(self) -> str:
        assert self._stack is None, "already running"
        stack = ExitStack()
        if self.kind == "postgres":
            services = stack.enter_context(
                embedded_services(self.data_dir, postgres=True, redis=False, pg_port=self.port)
            )
            self.url = services.database_url or ""
        else:
            services = stack.enter_context(
                embedded_services(self.data_dir, postgres=False, redis=True, redis_port=self.port)
            )
            self.url = services.redis_url or ""
        self._stack = stack
        return self.url

    def stop(self) -> None:
        stack, self._stack = self._stack, None
        if stack is not None:
            stack.close()

    async def start_async(self) -> str:
        return await asyncio.to_thread(self.start)

    async def stop_async(self) -> None:
        await asyncio.to_thread(self.stop)


async def wait_until(
    condition: Callable[[], Awaitable[T]],
    *,
    within: float,
    what: str,
    alive: Callable[[], str | None] | None = None,
) -> T:
    """Poll `condition` until it returns something truthy; fail loudly after `within` seconds.

    `alive` is asked after each poll: a non-None answer (e.g. a dead worker's log) fails at once.
    """
    deadline = time.monotonic() + within
    while True:
        value = await condition()
        if value:
            return value
        if alive is not None and (problem := alive()) is not None:
            raise AssertionError(f"while waiting for {what}: {problem}")
        assert time.monotonic() < deadline, f"timed out after {within} s waiting for {what}"
        await asyncio.sleep(POLL_SECONDS)  # polling with a deadline


async def post_import(client: Any, headers: dict[str, str], context_path: str, data: bytes) -> int:
    created = await expect_json(
        await client.post(f"/api/v1/{context_path}/outcome_imports", data=attachment(data), headers=headers), 200
    )
    assert created["workflow_state"] == "created"
    return int(created["id"])


SELECT_STORED_ERRORS = "SELECT row, message FROM outcome_import_errors WHERE outcome_import_id = $1 ORDER BY row, id"
SELECT_IMPORT_ROW = """
SELECT workflow_state, progress, attempts, started_at, ended_at, error_count FROM outcome_imports WHERE id = $1
"""


async def import_row(db: asyncpg.Connection, import_id: int) -> asyncpg.Record:
    row = await db.fetchrow(SELECT_IMPORT_ROW, import_id)
    assert row is not None, f"import {import_id} is not in PostgreSQL"
    return row


async def progress_while_importing(db: asyncpg.Connection, import_id: int) -> int:
    """The import's progress; fails at once if it has already finished (there is no mid-import left to fault)."""
    row = await import_row(db, import_id)
    if row["workflow_state"] in ("succeeded", "failed"):
        errors = await db.fetch(SELECT_STORED_ERRORS + " LIMIT 3", import_id)
        raise AssertionError(f"import {import_id} already {row['workflow_state']}: {[tuple(e) for e in errors]}")
    return int(row["progress"])


SELECT_CONTEXT_COUNTS = """
SELECT
  (SELECT count(*) FROM learning_outcome_groups WHERE context_type = $1 AND context_id = $2
      AND vendor_guid IS NOT NULL AND workflow_state = 'active') AS groups,
  (SELECT count(DISTINCT vendor_guid) FROM learning_outcome_groups WHERE context_type = $1 AND context_id = $2
      AND vendor_guid IS NOT NULL AND workflow_state = 'active') AS distinct_groups,
  (SELECT count(*) FROM learning_outcomes WHERE context_type = $1 AND context_id = $2
      AND workflow_state = 'active') AS outcomes,
  (SELECT count(*) FROM learning_outcome_links WHERE context_type = $1 AND context_id = $2
      AND workflow_state = 'active') AS links,
  (SELECT count(DISTINCT learning_outcome_id) FROM learning_outcome_links WHERE context_type = $1
      AND context_id = $2 AND workflow_state = 'active') AS linked_outcomes
"""


async def assert_succeeded_with(db: asyncpg.Connection, import_id: int, errors: list[tuple[int, str]]) -> None:
    """The import succeeded, and stored exactly these row errors."""
    row = await import_row(db, import_id)
    assert (row["workflow_state"], row["progress"], row["error_count"]) == ("succeeded", 100, len(errors))
    stored = [(r["row"], r["message"]) for r in await db.fetch(SELECT_STORED_ERRORS, import_id)]
    assert stored == errors


async def assert_context_holds(db: asyncpg.Connection, context: tuple[str, int], *, groups: int, outcomes: int) -> None:
    """The context has exactly these active groups (with a vendor_guid) and outcomes, each once, each linked once."""
    counts = await db.fetchrow(SELECT_CONTEXT_COUNTS, *context)
    assert dict(counts) == {
        "groups": groups,
        "distinct_groups": groups,
        "outcomes": outcomes,
        "links": outcomes,
        "linked_outcomes": outcomes,
    }


def held_group_file(guid: str) -> bytes:
    """A file creating group `guid` titled "Held": a later import that gives it another title must
    write its row, and so waits while `holding_group_row` holds it."""
    return f"vendor_guid,object_type,title,parent_guids\n{guid},group,Held,\n".encode()


@asynccontextmanager
async def holding_group_row(database_url: str, guid: str) -> AsyncIterator[None]:
    """Hold a lock on the row of the group `guid` (made by `held_group_file`) until the block ends.

    An import that changes that group waits inside its batch's write of groups: a test holds it
    there, at a known row of its file, with everything before that batch done, however fast or
    slow the machine. The connection is dropped at the end (PostgreSQL rolls back and lets go
    at once), which works even when the test stopped the server meanwhile."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("BEGIN")
        locked = await conn.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM learning_outcome_groups WHERE vendor_guid = $1 FOR UPDATE) AS held",
            guid,
        )
        assert locked == 1, f"group {guid} must exist once to be held"
        yield
    finally:
        conn.terminate()


SELECT_LOCK_WAITS = """
SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'
"""


async def held_at_a_lock(db: asyncpg.Connection, import_id: int, *, progress: int) -> bool:
    """The import has published at least `progress` and a session of its database waits for a lock
    (the import, at the row a test holds); fails at once if the import has ended."""
    reached = await progress_while_importing(db, import_id) >= progress
    return reached and bool(await db.fetchval(SELECT_LOCK_WAITS))


def small_file(prefix: str, outcomes: int) -> bytes:
    """One group `{prefix}-g` holding `outcomes` outcomes `{prefix}-o<n>`; guids unique to `prefix`, no row errors."""
    lines = ["vendor_guid,object_type,title,parent_guids", f"{prefix}-g,group,Group {prefix},"]
    lines += [f"{prefix}-o{n},outcome,Outcome {n},{prefix}-g" for n in range(1, outcomes + 1)]
    return ("\n".join(lines) + "\n").encode()


def context_of(path: str) -> tuple[str, int]:
    """("Account", 2) for "accounts/2"."""
    kind, _, id_ = path.partition("/")
    return ("Account" if kind == "accounts" else "Course", int(id_))
