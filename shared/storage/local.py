"""Storage on a local directory: for development, single-host runs and tests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from shared.errors import StorageUnavailable, StoredObjectNotFound
from shared.storage.base import READ_CHUNK_BYTES, StoredObject, StreamDigest, key_parts

logger = logging.getLogger(__name__)

T = TypeVar("T")

# Incoming chunks (often a few KiB from aiohttp) are gathered up to this size before one write in a
# worker thread: a thread hop per tiny chunk would cost more than the write itself.
WRITE_BATCH_BYTES = 1024 * 1024


class LocalStorage:
    """Objects as files under `root`; keys are relative "/"-separated paths below it.

    Disk I/O runs in worker threads so big writes and reads never block the event loop. With a
    `operation_timeout` (seconds), each file operation not done within it raises StorageUnavailable (a hung
    network file system must not hang requests); its thread is left to finish on its own.
    """

    def __init__(self, root: Path, operation_timeout: float | None = None) -> None:
        if not root.is_absolute():
            raise ValueError(f"storage root must be an absolute path, got {str(root)!r}")
        self.root = root
        self.operation_timeout = operation_timeout

    @classmethod
    async def open(cls, root: Path, operation_timeout: float | None = None) -> LocalStorage:
        """A LocalStorage rooted at `root`, creating the directory if needed (StorageUnavailable if not)."""
        storage = cls(root, operation_timeout)
        with _os_errors_as_unavailable():
            await storage._in_thread(root.mkdir, parents=True, exist_ok=True)
        return storage

    async def _in_thread(self, function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        # TimeoutError is an OSError: _os_errors_as_unavailable turns it into StorageUnavailable.
        return await asyncio.wait_for(asyncio.to_thread(function, *args, **kwargs), self.operation_timeout)

    async def put_stream(self, key: str, chunks: AsyncIterable[bytes]) -> StoredObject:
        """See `Storage.put_stream`: writes a temporary file next to the target, then renames it over.

        The rename is atomic, so readers see the old object or the whole new one, never a partial file.
        """
        path = self._path(key)
        with _os_errors_as_unavailable():
            file, temp_path = await self._in_thread(_create_temp_file, path)
        digest = StreamDigest()
        try:
            batch = bytearray()
            async for chunk in chunks:
                digest.update(chunk)
                batch += chunk
                if len(batch) >= WRITE_BATCH_BYTES:
                    with _os_errors_as_unavailable():
                        await self._in_thread(file.write, batch)
                    batch.clear()
            with _os_errors_as_unavailable():
                await self._in_thread(_commit, file, bytes(batch), temp_path, path)
        except BaseException:
            # Synchronous on purpose: it must also run when the task is being cancelled, and closing
            # plus unlinking one file is quick.
            _discard(file, temp_path)
            raise
        return digest.stored_object(key)

    async def open_stream(self, key: str) -> AsyncIterator[bytes]:
        """See `Storage.open_stream`."""
        path = self._path(key)
        try:
            file = await self._in_thread(lambda: path.open("rb"))
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise StoredObjectNotFound(f"No stored object at {key!r}.") from exc
        except OSError as exc:
            raise StorageUnavailable() from exc
        try:
            while True:
                with _os_errors_as_unavailable():
                    chunk = await self._in_thread(file.read, READ_CHUNK_BYTES)
                if not chunk:
                    return
                yield chunk
        finally:
            file.close()

    async def delete(self, key: str) -> None:
        """See `Storage.delete`."""
        path = self._path(key)
        with _os_errors_as_unavailable():
            await self._in_thread(_unlink_if_present, path)

    async def check(self) -> None:
        """See `Storage.check`: the root must be a directory this process can write to."""
        with _os_errors_as_unavailable():
            usable = await self._in_thread(lambda: self.root.is_dir() and os.access(self.root, os.W_OK | os.X_OK))
        if not usable:
            raise StorageUnavailable("The storage directory is missing or not writable.")

    async def close(self) -> None:
        """Nothing to release: files are closed as each stream ends."""

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*key_parts(key))


def _create_temp_file(path: Path) -> tuple[BinaryIO, Path]:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Same directory as the target, so the final os.replace is a rename within one filesystem.
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    return os.fdopen(fd, "wb"), Path(temp_name)


def _commit(file: BinaryIO, last_batch: bytes, temp_path: Path, path: Path) -> None:
    with file:
        file.write(last_batch)
        file.flush()
        # The caller records the key in the database next: the bytes must be on disk before that.
        os.fsync(file.fileno())
    os.replace(temp_path, path)


def _discard(file: BinaryIO, temp_path: Path) -> None:
    # Closing flushes; that may fail again (e.g. disk full), and the file is being deleted anyway.
    with contextlib.suppress(OSError):
        file.close()
    try:
        temp_path.unlink(missing_ok=True)
    except OSError:
        logger.warning("could not remove temporary file %s", temp_path, exc_info=True)


def _unlink_if_present(path: Path) -> None:
    # NotADirectoryError: a parent "directory" is a file, so nothing can exist at this key.
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        path.unlink()


@contextlib.contextmanager
def _os_errors_as_unavailable() -> Iterator[None]:
    """The one boundary where file-system errors become StorageUnavailable."""
    try:
        yield
    except OSError as exc:
        raise StorageUnavailable() from exc
