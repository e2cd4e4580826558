"""The storage contract, run against every backend: local files, and S3 on a real SeaweedFS server."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import random
import re
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.session import AioSession
from botocore.exceptions import BotoCoreError

from shared.errors import StorageUnavailable, StoredObjectNotFound, UploadTooLarge
from shared.storage import READ_CHUNK_BYTES, S3Storage, Storage, StoredObject, new_object_key, open_storage
from shared.storage.s3 import PART_BYTES
from tests.support.seaweedfs import S3Server, free_ports, run_seaweedfs

MiB = 1024 * 1024


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    with run_seaweedfs() as server:
        yield server


@pytest.fixture
def s3_credentials(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    """botocore reads credentials from the environment, as it does in production."""
    for name, value in s3_server.client_env().items():
        monkeypatch.setenv(name, value)


@pytest.fixture(scope="session")
async def s3_client(s3_server: S3Server) -> AsyncIterator[Any]:
    """A plain client to inspect the bucket directly (made once: loading the S3 model takes ~0.1 s)."""
    async with AioSession().create_client(
        "s3",
        endpoint_url=s3_server.endpoint_url,
        region_name=s3_server.region,
        aws_access_key_id=s3_server.access_key,
        aws_secret_access_key=s3_server.secret_key,
    ) as client:
        yield client


@dataclass(frozen=True, slots=True)
class Backend:
    storage: Storage
    # Everything the backend holds for this test, including temporary files and unfinished uploads.
    list_everything: Callable[[], Awaitable[list[str]]]


async def chunks_of(pieces: Iterable[bytes]) -> AsyncIterator[bytes]:
    for piece in pieces:
        yield piece


async def read_all(storage: Storage, key: str) -> bytes:
    return b"".join([chunk async for chunk in storage.open_stream(key)])


def uneven_pieces(data: bytes) -> Iterator[bytes]:
    """`data` cut into pieces of varied sizes, from 1 byte to 2 MiB, so chunk and part edges fall anywhere."""
    view = memoryview(data)
    start = 0
    for size in itertools.cycle((1, 65_537, 1_000_003, 7, 300_000, 2 * MiB + 5)):
        if start >= len(data):
            return
        yield bytes(view[start : start + size])
        start += size


class StorageContract:
    """What every Storage must do. Subclasses provide the `backend` fixture."""

    @pytest.fixture
    def backend(self) -> Backend:
        raise NotImplementedError

    @pytest.mark.parametrize(
        ("pieces", "line_count"),
        [
            pytest.param([], 0, id="empty"),
            pytest.param([b""], 0, id="one-empty-chunk"),
            pytest.param([b"a,b\n1,2\n"], 2, id="trailing-newline"),
            pytest.param([b"a,b\n1,2"], 2, id="no-trailing-newline"),
            pytest.param([b"a,b\r", b"\n1,2\r\n"], 2, id="crlf-split-across-chunks"),
            pytest.param([b"a\rb\r"], 1, id="lone-cr-is-not-a-line-end"),
            pytest.param([b"\n"], 1, id="one-newline"),
            pytest.param([b"x"], 1, id="one-byte"),
            pytest.param([b"\n", b"", b"\n", b"", b"x"], 3, id="blank-lines-and-empty-chunks"),
        ],
    )
    async def test_round_trip_reports_size_sha256_and_line_count(
        self, backend: Backend, pieces: list[bytes], line_count: int
    ) -> None:
        data = b"".join(pieces)
        key = new_object_key()

        stored = await backend.storage.put_stream(key, chunks_of(pieces))

        assert stored == StoredObject(
            key=key, size=len(data), sha256=hashlib.sha256(data).hexdigest(), line_count=line_count
        )
        assert await read_all(backend.storage, key) == data

    async def test_large_object_round_trips_in_bounded_chunks(self, backend: Backend) -> None:
        data = random.Random(20).randbytes(20 * MiB + 123)
        key = new_object_key()

        stored = await backend.storage.put_stream(key, chunks_of(uneven_pieces(data)))

        expected_lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
        assert (stored.size, stored.line_count) == (len(data), expected_lines)
        assert stored.sha256 == hashlib.sha256(data).hexdigest()
        digest, sizes = hashlib.sha256(), []
        async for chunk in backend.storage.open_stream(key):
            digest.update(chunk)
            sizes.append(len(chunk))
        assert digest.hexdigest() == stored.sha256
        assert set(sizes[:-1]) == {READ_CHUNK_BYTES}
        assert 0 < sizes[-1] <= READ_CHUNK_BYTES

    async def test_put_replaces_an_existing_object(self, backend: Backend) -> None:
        key = new_object_key()
        await backend.storage.put_stream(key, chunks_of([b"old\n"]))

        await backend.storage.put_stream(key, chunks_of([b"new\n"]))

        assert await read_all(backend.storage, key) == b"new\n"

    async def test_open_stream_of_missing_key_raises_not_found(self, backend: Backend) -> None:
        with pytest.raises(StoredObjectNotFound):
            await read_all(backend.storage, new_object_key())

    async def test_delete_is_idempotent(self, backend: Backend) -> None:
        key = new_object_key()
        await backend.storage.put_stream(key, chunks_of([b"a\n"]))

        await backend.storage.delete(key)
        await backend.storage.delete(key)
        await backend.storage.delete(new_object_key())

        with pytest.raises(StoredObjectNotFound):
            await read_all(backend.storage, key)
        assert await backend.list_everything() == []

    @pytest.mark.parametrize(
        "fail_after",
        [
            pytest.param(0, id="before-any-byte"),
            pytest.param(100_000, id="within-one-part"),
            pytest.param(PART_BYTES + MiB, id="after-a-whole-part"),
        ],
    )
    async def test_failing_stream_leaves_nothing_behind_and_propagates(self, backend: Backend, fail_after: int) -> None:
        too_large = UploadTooLarge()

        async def chunks() -> AsyncIterator[bytes]:
            sent = 0
            while sent < fail_after:
                yield b"x,y\n" * 16_384  # 64 KiB
                sent += 65_536
            raise too_large

        with pytest.raises(UploadTooLarge) as raised:
            await backend.storage.put_stream(new_object_key(), chunks())

        assert raised.value is too_large
        assert await backend.list_everything() == []

    async def test_failing_stream_keeps_the_previous_object(self, backend: Backend) -> None:
        key = new_object_key()
        await backend.storage.put_stream(key, chunks_of([b"kept\n"]))

        async def chunks() -> AsyncIterator[bytes]:
            yield b"lost\n"
            raise ConnectionResetError("client went away")

        with pytest.raises(ConnectionResetError):
            await backend.storage.put_stream(key, chunks())

        assert await read_all(backend.storage, key) == b"kept\n"

    async def test_cancelled_upload_leaves_nothing_behind(self, backend: Backend) -> None:
        first_part_taken = asyncio.Event()

        async def stalling_chunks() -> AsyncIterator[bytes]:
            yield b"x" * (PART_BYTES + 1)  # on S3, a multipart upload with one part in progress
            first_part_taken.set()
            await asyncio.Event().wait()  # the client stops sending; never set

        upload = asyncio.create_task(backend.storage.put_stream(new_object_key(), stalling_chunks()))
        await asyncio.wait_for(first_part_taken.wait(), timeout=5)
        upload.cancel()

        with pytest.raises(asyncio.CancelledError):
            await upload
        assert await backend.list_everything() == []

    @pytest.mark.parametrize("key", ["../escape.csv", "/absolute.csv", "a/../../b.csv", "", "a//b.csv", "./a"])
    async def test_keys_that_could_escape_are_rejected(self, backend: Backend, key: str) -> None:
        with pytest.raises(ValueError, match="invalid object key"):
            await backend.storage.put_stream(key, chunks_of([b"x\n"]))
        with pytest.raises(ValueError, match="invalid object key"):
            await read_all(backend.storage, key)
        with pytest.raises(ValueError, match="invalid object key"):
            await backend.storage.delete(key)
        assert await backend.list_everything() == []

    async def test_new_object_keys_are_fresh_and_carry_no_client_input(self, backend: Backend) -> None:
        keys = [new_object_key() for _ in range(100)]

        assert len(set(keys)) == len(keys)
        for key in keys:
            assert re.fullmatch(r"uploads/\d{4}/\d{2}/\d{2}/[0-9a-f]{32}\.csv", key), key
        stored = await backend.storage.put_stream(keys[0], chunks_of([b"a\n"]))
        assert stored.key == keys[0]

    async def test_check_passes_on_a_healthy_backend(self, backend: Backend) -> None:
        await backend.storage.check()


class TestLocalStorage(StorageContract):
    @pytest.fixture
    async def backend(self, tmp_path: Path) -> AsyncIterator[Backend]:
        root = tmp_path / "not" / "yet" / "there"

        async def list_everything() -> list[str]:
            return sorted(path.relative_to(root).as_posix() for path in root.rglob("*") if path.is_file())

        async with open_storage(root.as_uri()) as storage:
            yield Backend(storage, list_everything)

    async def test_open_storage_creates_the_root_and_check_fails_without_it(self, tmp_path: Path) -> None:
        root = tmp_path / "store"
        async with open_storage(root.as_uri()) as storage:
            assert root.is_dir()
            shutil.rmtree(root)

            with pytest.raises(StorageUnavailable):
                await storage.check()


class TestS3Storage(StorageContract):
    @pytest.fixture
    def prefix(self) -> str:
        return f"contract/{uuid.uuid4().hex}"

    @pytest.fixture
    async def backend(
        self, s3_server: S3Server, s3_credentials: None, s3_client: Any, prefix: str
    ) -> AsyncIterator[Backend]:
        bucket = s3_server.bucket

        async def list_everything() -> list[str]:
            objects = await s3_client.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/")
            uploads = await s3_client.list_multipart_uploads(Bucket=bucket, Prefix=f"{prefix}/")
            return sorted(
                [item["Key"] for item in objects.get("Contents", [])]
                + [f"unfinished upload of {item['Key']}" for item in uploads.get("Uploads", [])]
            )

        url = f"s3://{bucket}/{prefix}"
        async with open_storage(url, s3_endpoint_url=s3_server.endpoint_url, s3_region=s3_server.region) as storage:
            yield Backend(storage, list_everything)

    async def test_keys_are_put_under_the_url_prefix(
        self, backend: Backend, s3_client: Any, s3_server: S3Server, prefix: str
    ) -> None:
        key = new_object_key()
        await backend.storage.put_stream(key, chunks_of([b"a\n"]))

        head = await s3_client.head_object(Bucket=s3_server.bucket, Key=f"{prefix}/{key}")

        assert head["ContentLength"] == 2

    async def test_an_object_over_one_part_is_a_multipart_upload(
        self, backend: Backend, s3_client: Any, s3_server: S3Server, prefix: str
    ) -> None:
        key = new_object_key()
        data = random.Random(3).randbytes(2 * PART_BYTES + 1)

        await backend.storage.put_stream(key, chunks_of(uneven_pieces(data)))

        head = await s3_client.head_object(Bucket=s3_server.bucket, Key=f"{prefix}/{key}")
        # S3 ends a multipart object's ETag with "-<number of parts>".
        assert re.fullmatch(r"[0-9a-f]{32}-[2-9]", head["ETag"].strip('"')), head["ETag"]
        assert await read_all(backend.storage, key) == data


@pytest.fixture
async def unreachable_s3(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[S3Storage]:
    """S3 storage pointed at a port nothing listens on, failing fast: one attempt, short timeouts."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testsecret")
    (closed_port,) = free_ports(1)
    storage = await S3Storage.open(
        "bucket",
        "prefix",
        endpoint_url=f"http://127.0.0.1:{closed_port}",
        region="us-east-1",
        connect_timeout=0.5,
        read_timeout=1,
        max_attempts=1,
    )
    yield storage
    await storage.close()


async def test_unreachable_s3_check_raises_unavailable(unreachable_s3: S3Storage) -> None:
    with pytest.raises(StorageUnavailable) as raised:
        await unreachable_s3.check()
    assert isinstance(raised.value.__cause__, BotoCoreError)


@pytest.mark.parametrize("size", [pytest.param(10, id="single-put"), pytest.param(PART_BYTES, id="multipart")])
async def test_unreachable_s3_put_stream_raises_unavailable(unreachable_s3: S3Storage, size: int) -> None:
    with pytest.raises(StorageUnavailable) as raised:
        await unreachable_s3.put_stream(new_object_key(), chunks_of([b"x" * size]))
    assert isinstance(raised.value.__cause__, BotoCoreError)


async def test_unreachable_s3_open_stream_raises_unavailable(unreachable_s3: S3Storage) -> None:
    with pytest.raises(StorageUnavailable) as raised:
        await read_all(unreachable_s3, new_object_key())
    assert isinstance(raised.value.__cause__, BotoCoreError)


async def test_unreachable_s3_delete_raises_unavailable(unreachable_s3: S3Storage) -> None:
    with pytest.raises(StorageUnavailable):
        await unreachable_s3.delete(new_object_key())


@pytest.mark.parametrize(
    "url",
    [
        "",
        "/var/lib/uploads",
        "http://example.com/uploads",
        "file://otherhost/var/uploads",
        "file:relative/path",
        "s3://",
        "s3://AKIAXXXX:wJalrSECRET@bucket/prefix",
    ],
)
async def test_open_storage_rejects_other_urls(url: str) -> None:
    with pytest.raises(ValueError, match="expected file:///absolute/path or s3://bucket") as raised:
        async with open_storage(url):
            pass
    assert "SECRET" not in str(raised.value)
