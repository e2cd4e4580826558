"""Storage on S3 or an S3-compatible server (SeaweedFS, MinIO...), through aiobotocore."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from contextlib import AsyncExitStack
from typing import Any

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession
from botocore.exceptions import BotoCoreError, ClientError

from shared.errors import StorageUnavailable, StoredObjectNotFound
from shared.storage.base import READ_CHUNK_BYTES, StoredObject, StreamDigest, key_parts

logger = logging.getLogger(__name__)

# Multipart parts are at least this big (S3's minimum is 5 MiB for every part but the last). An upload
# smaller than one part goes up as a single put_object. At most about one part is held in memory.
PART_BYTES = 8 * 1024 * 1024

# Error codes S3 servers use for a missing key (get_object answers NoSuchKey, HEAD requests a bare 404).
_NOT_FOUND_CODES = frozenset({"NoSuchKey", "404", "NotFound"})

# Everything the driver may raise: botocore wraps most connection errors, but aiohttp and socket errors
# can surface unwrapped on some paths (e.g. while reading a body).
_DRIVER_ERRORS: tuple[type[BaseException], ...] = (BotoCoreError, ClientError, aiohttp.ClientError, OSError)


class S3Storage:
    """Objects in one bucket, under an optional key prefix ("s3://bucket/prefix" -> "prefix/<key>")."""

    def __init__(self, client: Any, bucket: str, prefix: str, exit_stack: AsyncExitStack) -> None:
        self._client = client  # aiobotocore S3 client: untyped driver edge
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self._exit_stack = exit_stack

    @classmethod
    async def open(
        cls,
        bucket: str,
        prefix: str = "",
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
        max_attempts: int = 3,
    ) -> S3Storage:
        """An S3Storage with its own client; call `close()` when done.

        Credentials come from botocore's usual chain (AWS_* environment variables, profiles, instance
        roles); they are only looked up on the first request. `max_attempts` counts the first try.
        Timeouts are in seconds.
        """
        config_options: dict[str, Any] = {
            "connect_timeout": connect_timeout,
            "read_timeout": read_timeout,
            "retries": {"mode": "standard", "total_max_attempts": max_attempts},
        }
        if endpoint_url is not None:
            # S3-compatible servers on a plain host:port have no wildcard DNS for bucket subdomains.
            config_options["s3"] = {"addressing_style": "path"}
        exit_stack = AsyncExitStack()
        client = await exit_stack.enter_async_context(
            AioSession().create_client(
                "s3", region_name=region, endpoint_url=endpoint_url, config=AioConfig(**config_options)
            )
        )
        return cls(client, bucket, prefix, exit_stack)

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes]) -> StoredObject:
        """See `Storage.put_stream`: one put_object below PART_BYTES, else a multipart upload.

        Parts are uploaded one at a time as the stream fills them. On any failure, including an error
        from `chunks` or cancellation, a started multipart upload is aborted.
        """
        object_key = self._object_key(key)
        digest = StreamDigest()
        part = bytearray()
        upload: _MultipartUpload | None = None
        try:
            async for chunk in chunks:
                digest.update(chunk)
                part += chunk
                if len(part) >= PART_BYTES:
                    if upload is None:
                        upload = await _MultipartUpload.start(self._client, self.bucket, object_key)
                    await upload.add_part(bytes(part))
                    part.clear()
            if upload is None:
                with _driver_errors_as_unavailable():
                    await self._client.put_object(Bucket=self.bucket, Key=object_key, Body=bytes(part))
            else:
                if part:
                    await upload.add_part(bytes(part))
                await upload.complete()
        except BaseException:
            if upload is not None:
                await upload.abort()
            raise
        return digest.stored_object(key)

    async def open_stream(self, key: str) -> AsyncIterator[bytes]:
        """See `Storage.open_stream`."""
        object_key = self._object_key(key)
        try:
            response = await self._client.get_object(Bucket=self.bucket, Key=object_key)
        except ClientError as exc:
            if _is_not_found(exc):
                raise StoredObjectNotFound(f"No stored object at {key!r}.") from exc
            raise StorageUnavailable() from exc
        except _DRIVER_ERRORS as exc:
            raise StorageUnavailable() from exc
        body = response["Body"]
        try:
            # The HTTP stream hands out whatever has arrived (often a few KiB): regroup it into full chunks.
            buffer = bytearray()
            while True:
                with _driver_errors_as_unavailable():
                    data = await body.read(READ_CHUNK_BYTES - len(buffer))
                if not data:
                    break
                buffer += data
                if len(buffer) >= READ_CHUNK_BYTES:
                    yield bytes(buffer)
                    buffer.clear()
            if buffer:
                yield bytes(buffer)
        finally:
            body.close()

    async def delete(self, key: str) -> None:
        """See `Storage.delete` (S3's DeleteObject already succeeds for a missing key)."""
        object_key = self._object_key(key)
        with _driver_errors_as_unavailable():
            await self._client.delete_object(Bucket=self.bucket, Key=object_key)

    async def check(self) -> None:
        """See `Storage.check`: the bucket exists and these credentials may use it (HeadBucket)."""
        with _driver_errors_as_unavailable():
            await self._client.head_bucket(Bucket=self.bucket)

    async def close(self) -> None:
        """Close the client's connections. Idempotent."""
        await self._exit_stack.aclose()

    def _object_key(self, key: str) -> str:
        parts = key_parts(key)
        return "/".join((self.prefix, *parts)) if self.prefix else key


class _MultipartUpload:
    """One in-progress multipart upload; parts are numbered in the order they are added."""

    def __init__(self, client: Any, bucket: str, key: str, upload_id: str) -> None:
        self._client = client
        self._bucket = bucket
        self._key = key
        self._upload_id = upload_id
        self._parts: list[dict[str, Any]] = []

    @classmethod
    async def start(cls, client: Any, bucket: str, key: str) -> _MultipartUpload:
        with _driver_errors_as_unavailable():
            response = await client.create_multipart_upload(Bucket=bucket, Key=key)
        return cls(client, bucket, key, response["UploadId"])

    async def add_part(self, body: bytes) -> None:
        part_number = len(self._parts) + 1
        with _driver_errors_as_unavailable():
            response = await self._client.upload_part(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                PartNumber=part_number,
                Body=body,
            )
        self._parts.append({"PartNumber": part_number, "ETag": response["ETag"]})

    async def complete(self) -> None:
        with _driver_errors_as_unavailable():
            await self._client.complete_multipart_upload(
                Bucket=self._bucket,
                Key=self._key,
                UploadId=self._upload_id,
                MultipartUpload={"Parts": self._parts},
            )

    async def abort(self) -> None:
        """Abort, logging rather than raising on failure: the caller is already handling an error.

        A bucket lifecycle rule (AbortIncompleteMultipartUpload) is the backstop for aborts that fail.
        """
        try:
            await self._client.abort_multipart_upload(Bucket=self._bucket, Key=self._key, UploadId=self._upload_id)
        except _DRIVER_ERRORS:
            logger.warning("could not abort multipart upload %s of %s", self._upload_id, self._key, exc_info=True)


def _is_not_found(exc: Any) -> bool:
    code = exc.response.get("Error", {}).get("Code")
    return code in _NOT_FOUND_CODES


@contextlib.contextmanager
def _driver_errors_as_unavailable() -> Iterator[None]:
    """The one boundary where botocore/aiohttp errors become StorageUnavailable."""
    try:
        yield
    except _DRIVER_ERRORS as exc:
        raise StorageUnavailable() from exc
