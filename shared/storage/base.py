"""The storage contract: what a stored upload is, the Protocol every backend implements, object keys."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Protocol

# Size of the chunks open_stream() yields: big enough that per-chunk overhead (a thread hop, an await)
# is noise, small enough that a reader holds little memory.
READ_CHUNK_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class StoredObject:
    """An object as it was written by `Storage.put_stream`."""

    key: str
    size: int  # bytes
    sha256: str  # hex digest
    line_count: int  # physical lines: count of b"\n", plus 1 if non-empty and not ending with b"\n"


class Storage(Protocol):
    """Object storage for uploads. Implementations: `LocalStorage` (local.py), `S3Storage` (s3.py)."""

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes]) -> StoredObject:
        """Write `chunks` to `key`, chunk by chunk, replacing any object there; return what was written.

        Never holds the whole object in memory. If `chunks` raises, nothing is left behind at `key` (a
        previous object there is kept) and that exception propagates unchanged. Raises ValueError for a
        malformed key and StorageUnavailable when the backend fails.
        """
        ...

    def open_stream(self, key: str) -> AsyncIterator[bytes]:
        """Async-iterate over the object's bytes in chunks of READ_CHUNK_BYTES (the last may be shorter).

        Raises StoredObjectNotFound (on the first iteration) if there is no object at `key`, and
        StorageUnavailable when the backend fails. Close the iterator (`aclose()`) if you stop early.
        """
        ...

    async def delete(self, key: str) -> None:
        """Delete the object at `key`. Idempotent: deleting a missing key succeeds.

        Raises StorageUnavailable when the backend fails.
        """
        ...

    async def check(self) -> None:
        """Health probe: return if the storage is usable, else raise StorageUnavailable."""
        ...

    async def close(self) -> None:
        """Release connections. Idempotent."""
        ...


class StreamDigest:
    """Size, SHA-256 and physical line count of a byte stream, updated chunk by chunk."""

    __slots__ = ("_ends_with_newline", "_hash", "_newlines", "size")

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        self._newlines = 0
        self._ends_with_newline = False
        self.size = 0

    def update(self, chunk: bytes) -> None:
        if not chunk:
            return
        self._hash.update(chunk)
        self._newlines += chunk.count(b"\n")
        self._ends_with_newline = chunk.endswith(b"\n")
        self.size += len(chunk)

    def stored_object(self, key: str) -> StoredObject:
        unterminated_last_line = 1 if self.size and not self._ends_with_newline else 0
        return StoredObject(
            key=key,
            size=self.size,
            sha256=self._hash.hexdigest(),
            line_count=self._newlines + unterminated_last_line,
        )


def new_object_key() -> str:
    """A fresh, unique key for an upload: "uploads/YYYY/MM/DD/<uuid4 hex>.csv" (UTC date).

    Never derived from client input, so a client cannot choose or guess where its bytes land.
    """
    return f"uploads/{datetime.now(UTC):%Y/%m/%d}/{uuid.uuid4().hex}.csv"


def key_parts(key: str) -> tuple[str, ...]:
    """Split a relative "/"-separated key into its parts; ValueError if it is empty or could escape.

    Both backends use it, so a key valid on one is valid on the other.
    """
    parts = tuple(key.split("/"))
    if (
        not key
        or PurePosixPath(key).is_absolute()
        or "\\" in key
        or "\x00" in key
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise ValueError(f"invalid object key {key!r}: expected a relative path like 'uploads/x.csv'")
    return parts
