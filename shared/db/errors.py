"""The database boundary: driver errors that mean "PostgreSQL is away" become DatabaseUnavailable."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

from shared.errors import DatabaseUnavailable

# Errors after which retrying later may succeed: the server is down, restarting or refusing connections.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.ConnectionFailureError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    asyncpg.InterfaceError,
    TimeoutError,
)


@contextmanager
def translate_db_errors() -> Iterator[None]:
    """Raise DatabaseUnavailable (from the driver error) when PostgreSQL cannot be reached."""
    try:
        yield
    except UNAVAILABLE_ERRORS as exc:
        raise DatabaseUnavailable() from exc
