"""`outcome-imports run`: migrations, the API and N workers, plus embedded services where no URL is set.

Each role runs in its own process, exactly as in a real deployment; this process only supervises
them and stops everything on Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from pathlib import Path

from shared.db.migrate import migrate, refusal
from shared.errors import ConfigurationError, SchemaMismatch
from shared.settings import Settings

READY_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 15


def _admin_token(data_dir: Path) -> str:
    """A stable token for the local admin, kept in the data dir so it survives restarts."""
    path = data_dir / "admin-token"
    if path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(32)
    path.write_text(token + "\n")
    path.chmod(0o600)
    return token


def wait_until_healthy(url: str, processes: list[subprocess.Popen[bytes]]) -> None:
    """Poll `url`/health until it answers 200; exit if a process dies or the deadline passes."""
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            raise SystemExit("a process exited during start-up; see the log above")
        try:
            with urllib.request.urlopen(url + "/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)  # polling a starting server; the deadline above bounds it
    raise SystemExit(f"the API did not become healthy within {READY_TIMEOUT_SECONDS} s")


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for p in processes:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for p in processes:
        try:
            p.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="outcome-imports run", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument(
        "--data-dir", type=Path, default=Path("var"), help="embedded services and uploads (./var)"
    )
    args = parser.parse_args(argv)
    data_dir: Path = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)

    with ExitStack() as stack:
        need_pg, need_redis = not env.get("DATABASE_URL"), not env.get("REDIS_URL")
        if need_pg or need_redis:
            from shared.embedded import embedded_services

            print(
                f"starting embedded {'PostgreSQL ' if need_pg else ''}{'Redis ' if need_redis else ''}"
                f"under {data_dir}",
                flush=True,
            )
            services = stack.enter_context(embedded_services(data_dir, postgres=need_pg, redis=need_redis))
            if need_pg:
                env["DATABASE_URL"] = services.database_url or ""
            if need_redis:
                env["REDIS_URL"] = services.redis_url or ""
        env.setdefault("STORAGE_URL", (data_dir / "uploads").as_uri())
        if not env.get("OUTCOME_IMPORTS_BOOTSTRAP_TOKEN"):
            env["OUTCOME_IMPORTS_BOOTSTRAP_TOKEN"] = _admin_token(data_dir)
        try:
            Settings.from_env(env)
        except ConfigurationError as exc:
            sys.exit(str(exc))
        # Absolute URLs (Link headers, redirects) name the address this command serves; listening on
        # every address, none is the one: the API then names the address each client reached.
        if args.host not in ("0.0.0.0", "::", ""):
            host = f"[{args.host}]" if ":" in args.host else args.host
            env.setdefault("OUTCOME_IMPORTS_PUBLIC_URL", f"http://{host}:{args.port}")
        try:
            asyncio.run(migrate(env["DATABASE_URL"]))
        except SchemaMismatch as exc:
            sys.exit(refusal(exc))

        commands = [[sys.executable, "-m", "api", "--host", args.host, "--port", str(args.port)]]
        commands += [[sys.executable, "-m", "worker"]] * args.workers
        processes = [subprocess.Popen(command, env=env) for command in commands]
        stack.callback(_stop, processes)
        url = f"http://{args.host}:{args.port}"
        wait_until_healthy(url, processes)
        print(
            f"\noutcome-imports is running at {url}\n"
            f"admin token: {env['OUTCOME_IMPORTS_BOOTSTRAP_TOKEN']}\n"
            f"operations dashboard: {url}/dashboard (sign in with the admin token)\n"
            f'try: curl -F attachment=@outcomes.csv -H "Authorization: Bearer <token>" '
            f"{url}/api/v1/accounts/1/outcome_imports\n"
            "Ctrl-C stops everything.",
            flush=True,
        )

        stopping = False

        def request_stop(signum: int, frame: object) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        while not stopping:
            time.sleep(0.5)  # supervising: a signal sets `stopping`
            for i, process in enumerate(processes):
                # A process that died (e.g. a worker that gave up on a long Redis outage) is started
                # again, as Kubernetes or compose would; imports it held are re-run by the reaper.
                if process.poll() is not None and not stopping:
                    print(f"{' '.join(commands[i][1:3])} exited with {process.returncode}; restarting it",
                          file=sys.stderr, flush=True)
                    processes[i] = subprocess.Popen(commands[i], env=env)
        print("stopping...", flush=True)
