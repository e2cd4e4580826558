"""The system scale_test.py runs: API processes behind HAProxy and worker processes, on one PostgreSQL,
one Redis and SeaweedFS as S3; and the rolling restarts it puts them through.

Every process is started from the main thread with stop_with_parent (harness.py), so none outlives the
script. HAProxy routes around an API process that stops: health checks on /health every 250 ms (two
failures mark it down), a refused connection is retried on another server (`option redispatch 1`), and
an answer-less connection (`retry-on empty-response`) too when HAProxy still holds the whole request.
Connections to the APIs are not kept alive between requests (`option http-server-close`): an API that
drains closes its idle keep-alive connections when it stops, and a request HAProxy sent on one at that
moment could be lost with its upload.
"""

from __future__ import annotations

import asyncio
import csv
import io
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from harness import free_port, log_tail, progress, start_process

READY_SECONDS = 60
# An API drains requests in flight for up to OUTCOME_IMPORTS_SHUTDOWN_DRAIN_SECONDS (25) after SIGTERM.
API_EXIT_SECONDS = 40
# A worker cancels its jobs at once on SIGTERM; rolling back and closing connections remain.
WORKER_EXIT_SECONDS = 30
POLL_SECONDS = 0.1
# Before a worker is stopped, wait this long for it to hold an import, so that the restart hands one back.
HOLD_WAIT_SECONDS = 10
TAKEOVER_SECONDS = 60

HAPROXY_CONFIG = """\
global
    maxconn 4096
    log stderr format raw local0 info

defaults
    mode http
    log global
    option httplog
    option http-server-close
    timeout connect 2s
    timeout client 120s
    timeout server 120s
    timeout http-request 30s
    timeout queue 30s
    timeout check 2s
    retries 3
    option redispatch 1
    retry-on conn-failure empty-response

frontend api
    bind 127.0.0.1:{port}
    default_backend apis

backend apis
    balance leastconn
    option httpchk GET /health
    http-check expect status 200
    default-server check inter 250ms fastinter 250ms downinter 250ms fall 2 rise 2
{servers}

listen stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats
"""

# api/serving.py's log lines when it stops (requests left in flight, and those still there at the bound).
IN_FLIGHT_AT_STOP = re.compile(r"stopping: (\d+) request\(s\) in flight, waiting")
CUT_AT_STOP = re.compile(r"stopping: (\d+) request\(s\) still in flight after")

WORKER_ROW = "SELECT id FROM workers WHERE pid = $1 AND stopped_at IS NULL"
HELD_IMPORTS = "SELECT id FROM outcome_imports WHERE worker_id = $1 AND workflow_state = 'importing' ORDER BY id"
TAKEN_OVER = """
SELECT count(*) FROM outcome_imports
 WHERE id = ANY($1::bigint[])
   AND (workflow_state IN ('succeeded', 'failed') OR (workflow_state = 'importing' AND worker_id <> $2))
"""


class ScaleError(Exception):
    """The run could not go on: a process died, or did not start or stop in time."""


def haproxy_executable() -> str:
    found = shutil.which("haproxy")
    if found is None:
        raise ScaleError("no haproxy on PATH: apt-get install -y haproxy (.ci/run installs it)")
    return found


@dataclass
class Process:
    """One API, worker or HAProxy process."""

    name: str
    args: list[str]
    log: Path
    process: subprocess.Popen[bytes]
    port: int | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def problem(self) -> str | None:
        """None while it runs; else its exit code and the end of its log."""
        if self.process.poll() is None:
            return None
        return f"{self.name} (pid {self.pid}) exited with {self.process.returncode}:\n{log_tail(self.log)}"

    async def wait_exit(self, seconds: float) -> int | None:
        """The exit code, or None (and the process killed) if it did not exit within `seconds`."""
        deadline = time.monotonic() + seconds
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                self.process.kill()
                self.process.wait()
                return None
            await asyncio.sleep(POLL_SECONDS)  # waiting for a process to exit, bounded above
        return self.process.returncode

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=WORKER_EXIT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@dataclass
class System:
    """The processes, where they answer, and a pool on the run's database to watch them."""

    workdir: Path
    env: dict[str, str]
    pool: asyncpg.Pool
    session: aiohttp.ClientSession  # no base URL, no retries: direct probes of APIs and HAProxy's stats
    lb_port: int = field(default_factory=free_port)
    stats_port: int = field(default_factory=free_port)
    apis: list[Process] = field(default_factory=list)
    workers: list[Process] = field(default_factory=list)
    haproxy: Process | None = None
    _started: int = 0

    @property
    def lb_url(self) -> str:
        return f"http://127.0.0.1:{self.lb_port}"

    def _start(self, name: str, args: list[str], port: int | None = None) -> Process:
        log = self.workdir / f"{name}.log"
        return Process(name, args, log, start_process(args, self.env, log), port)

    def start_api(self, port: int | None = None, name: str | None = None) -> Process:
        port = port or free_port()
        name = name or f"api-{len(self.apis) + 1}"
        return self._start(name, [sys.executable, "-m", "api", "--host", "127.0.0.1", "--port", str(port)], port)

    def start_worker(self) -> Process:
        self._started += 1
        worker = self._start(f"worker-{self._started}", [sys.executable, "-m", "worker"])
        self.workers.append(worker)
        return worker

    def start_haproxy(self) -> None:
        servers = "\n".join(f"    server {api.name} 127.0.0.1:{api.port}" for api in self.apis)
        config = self.workdir / "haproxy.cfg"
        config.write_text(HAPROXY_CONFIG.format(port=self.lb_port, stats_port=self.stats_port, servers=servers))
        self.haproxy = self._start("haproxy", [haproxy_executable(), "-db", "-f", str(config)])

    def problems(self) -> list[str]:
        running = [*self.apis, *self.workers, *([self.haproxy] if self.haproxy else [])]
        return [p for p in (process.problem() for process in running) if p is not None]

    def assert_alive(self) -> None:
        if problems := self.problems():
            raise ScaleError("\n".join(problems))

    def stop_all(self) -> None:
        for process in [*self.workers, *self.apis, *([self.haproxy] if self.haproxy else [])]:
            if process.process.poll() is None:
                process.process.terminate()
        for process in [*self.workers, *self.apis, *([self.haproxy] if self.haproxy else [])]:
            process.stop()

    # --- readiness ------------------------------------------------------------------------------

    async def _until(self, what: str, check: Any, seconds: float = READY_SECONDS) -> None:
        deadline = time.monotonic() + seconds
        while not await check():
            self.assert_alive()
            if time.monotonic() > deadline:
                raise ScaleError(f"timed out after {seconds} s waiting for {what}")
            await asyncio.sleep(POLL_SECONDS)  # polling a starting or stopping process, bounded above

    async def api_healthy(self, api: Process) -> bool:
        try:
            async with self.session.get(f"http://127.0.0.1:{api.port}/health") as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    async def lb_servers(self) -> dict[str, dict[str, str]]:
        """HAProxy's view of each API server (status UP/DOWN, retries, redispatches, 5xx answers...)."""
        async with self.session.get(f"http://127.0.0.1:{self.stats_port}/stats;csv") as resp:
            text = await resp.text()
        rows = csv.DictReader(io.StringIO(text.removeprefix("# ")))
        return {r["svname"]: r for r in rows if r["pxname"] == "apis"}

    async def lb_sees(self, api: Process, status: str) -> bool:
        try:
            servers = await self.lb_servers()
        except aiohttp.ClientError:
            return False
        return servers.get(api.name, {}).get("status", "").startswith(status)

    async def wait_apis_and_lb(self) -> None:
        for api in self.apis:
            await self._until(f"{api.name} to answer /health", lambda api=api: self.api_healthy(api))
        for api in self.apis:
            await self._until(f"HAProxy to see {api.name} up", lambda api=api: self.lb_sees(api, "UP"))

    async def worker_id(self, worker: Process) -> str | None:
        value: str | None = await self.pool.fetchval(WORKER_ROW, worker.pid)
        return value

    async def wait_registered(self, worker: Process) -> str:
        await self._until(f"{worker.name} to register", lambda: self.worker_id(worker))
        worker_id = await self.worker_id(worker)
        assert worker_id is not None
        return worker_id

    async def scale_workers(self, count: int) -> None:
        """Start or stop (SIGTERM) workers until `count` run, each registered."""
        while len(self.workers) > count:
            worker = self.workers.pop()
            worker.process.terminate()
            if await worker.wait_exit(WORKER_EXIT_SECONDS) is None:
                raise ScaleError(f"{worker.name} did not exit within {WORKER_EXIT_SECONDS} s of SIGTERM")
        started = [self.start_worker() for _ in range(count - len(self.workers))]
        for worker in started:
            await self.wait_registered(worker)

    # --- rolling restarts -----------------------------------------------------------------------

    async def restart_worker(self, old: Process) -> dict[str, Any]:
        """Start a replacement, wait until it registered, then SIGTERM `old` (once it holds an import, if
        it comes to hold one soon) and wait until another worker has taken over what it held."""
        began = time.monotonic()
        new = self.start_worker()
        await self.wait_registered(new)
        ready = time.monotonic() - began
        old_id = await self.worker_id(old)
        held: list[int] = []
        deadline = time.monotonic() + HOLD_WAIT_SECONDS
        while old_id is not None and time.monotonic() < deadline:
            held = [r["id"] for r in await self.pool.fetch(HELD_IMPORTS, old_id)]
            if held:
                break
            await asyncio.sleep(POLL_SECONDS)  # waiting for the old worker to pick an import up, bounded
        signalled = time.monotonic()
        old.process.terminate()
        self.workers.remove(old)
        code = await old.wait_exit(WORKER_EXIT_SECONDS)
        exited = time.monotonic() - signalled
        taken_over: float | None = None
        if held:
            await self._until(
                f"other workers to take over imports {held} of {old.name}",
                lambda: self._taken_over(held, old_id or ""),
                TAKEOVER_SECONDS,
            )
            taken_over = time.monotonic() - signalled
        progress(
            f"restarted {old.name} (pid {old.pid}) as {new.name}: replacement registered in {ready:.1f} s, "
            f"exit code {code} {exited:.1f} s after SIGTERM, held {held}"
            + (f", taken over {taken_over:.1f} s after SIGTERM" if taken_over is not None else "")
        )
        return {
            "process": old.name,
            "replacement": new.name,
            "replacement_ready_seconds": round(ready, 2),
            "exit_code": code,
            "exit_seconds": round(exited, 2),
            "held_imports": held,
            "taken_over_seconds": None if taken_over is None else round(taken_over, 2),
            "ok": code == 0,
        }

    async def _taken_over(self, import_ids: list[int], old_id: str) -> bool:
        count: int = await self.pool.fetchval(TAKEN_OVER, import_ids, old_id)
        return count == len(import_ids)

    async def restart_api(self, old: Process) -> dict[str, Any]:
        """SIGTERM, wait for the exit (it drains requests in flight first), start it again on the same
        port, and wait until HAProxy sees it up again."""
        log_offset = old.log.stat().st_size
        signalled = time.monotonic()
        old.process.terminate()
        index = self.apis.index(old)
        code = await old.wait_exit(API_EXIT_SECONDS)
        exited = time.monotonic() - signalled
        with old.log.open("rb") as log:
            log.seek(log_offset)
            shutdown_log = log.read().decode(errors="replace")
        drained = IN_FLIGHT_AT_STOP.search(shutdown_log)
        cut = CUT_AT_STOP.search(shutdown_log)
        new = self.start_api(old.port, old.name)
        self.apis[index] = new
        await self._until(f"{new.name} to answer /health again", lambda: self.api_healthy(new))
        await self._until(f"HAProxy to see {new.name} up again", lambda: self.lb_sees(new, "UP"))
        back = time.monotonic() - signalled
        in_flight = int(drained.group(1)) if drained else 0
        progress(
            f"restarted {old.name}: exit code {code} {exited:.1f} s after SIGTERM with {in_flight} request(s) in"
            f" flight drained, up again after {back:.1f} s"
        )
        return {
            "process": old.name,
            "exit_code": code,
            "exit_seconds": round(exited, 2),
            "requests_drained": in_flight,
            "requests_cut": int(cut.group(1)) if cut else 0,
            "back_in_lb_seconds": round(back, 2),
            "ok": code == 0 and cut is None,
        }
