"""Object storage for uploads behind one small interface: local files or S3. Typical use:

async with open_storage(settings.storage_url) as storage:
    stored = await storage.put_stream(new_object_key(), chunks)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit

from shared.storage.base import READ_CHUNK_BYTES, Storage, StoredObject, new_object_key
from shared.storage.local import LocalStorage
from shared.storage.s3 import S3Storage

__all__ = [
    "READ_CHUNK_BYTES",
    "LocalStorage",
    "S3Storage",
    "Storage",
    "StoredObject",
    "new_object_key",
    "open_storage",
]

_EXPECTED_URLS = "expected file:///absolute/path or s3://bucket[/prefix]"


@asynccontextmanager
async def open_storage(
    url: str, *, s3_endpoint_url: str | None = None, s3_region: str | None = None, timeout_seconds: float | None = None
) -> AsyncIterator[Storage]:
    """Open the storage named by `url` for the duration of the block, closing it afterwards.

    "file:///abs/path" gives a LocalStorage rooted there (the directory is created). "s3://bucket/prefix"
    gives an S3Storage whose keys are put under "prefix/"; `s3_endpoint_url` points it at an
    S3-compatible server and credentials come from the usual AWS_* environment variables (or any other
    source botocore knows). Nothing is contacted at open: call `check()` to probe. `timeout_seconds`
    bounds each local file operation, and each S3 request's connect (at most 5 s) and reads; past
    it, the operation raises StorageUnavailable. None: no limit on local files, S3's defaults.
    Raises ValueError for any other URL, StorageUnavailable if the local directory cannot be created.
    """
    storage = await _open(url, s3_endpoint_url=s3_endpoint_url, s3_region=s3_region, operation_timeout=timeout_seconds)
    try:
        yield storage
    finally:
        await storage.close()


async def _open(
    url: str, *, s3_endpoint_url: str | None, s3_region: str | None, operation_timeout: float | None
) -> Storage:
    parts = urlsplit(url)
    if parts.scheme == "file":
        path = unquote(parts.path)
        if parts.netloc not in ("", "localhost") or not path.startswith("/") or parts.query:
            raise ValueError(f"invalid storage URL {url!r}: {_EXPECTED_URLS}")
        return await LocalStorage.open(Path(path), operation_timeout)
    if parts.scheme == "s3":
        # Not echoing the URL: someone may have put credentials in it.
        if not parts.hostname or parts.username or parts.password or parts.port or parts.query:
            raise ValueError(f"invalid s3 storage URL: {_EXPECTED_URLS}, credentials in AWS_* variables")
        if operation_timeout is None:
            return await S3Storage.open(
                parts.hostname, unquote(parts.path), endpoint_url=s3_endpoint_url, region=s3_region
            )
        return await S3Storage.open(
            parts.hostname,
            unquote(parts.path),
            endpoint_url=s3_endpoint_url,
            region=s3_region,
            connect_timeout=min(5.0, operation_timeout),
            read_timeout=operation_timeout,
        )
    raise ValueError(f"unsupported storage URL scheme {parts.scheme!r}: {_EXPECTED_URLS}")
