"""The database boundary: driver errors that mean "PostgreSQL is away" become DatabaseUnavailable.

Classified by cause, not by the driver's class: asyncpg raises InterfaceError both when a
connection is lost and when its caller misuses it (two statements at once on one connection, a
transaction misused). The first is an outage, retried and answered
with a 503; the second is a bug in this service, which retrying cannot cure and which must
surface as an unexpected error with an error report, not be reported as an outage.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import asyncpg

from shared.errors import DatabaseUnavailable

# Errors after which retrying later may succeed, whatever their message: the server is down,
# restarting, refusing connections or too slow to answer.
UNAVAILABLE_ERRORS: tuple[type[BaseException], ...] = (
    OSError,
    asyncpg.CannotConnectNowError,
    asyncpg.ConnectionDoesNotExistError,
    asyncpg.ConnectionFailureError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.TooManyConnectionsError,
    TimeoutError,
)
# The InterfaceErrors asyncpg 0.32 raises for a connection that is gone (the server closed it,
# or the pool is closing as the process stops): "connection is closed", "cannot perform
# operation: connection is closed", "cannot call Transaction.__aexit__(): the underlying
# connection is closed" (the ROLLBACK after a statement lost its connection), "pool is closing",
# "pool is closed"; and "cannot call Connection.fetchval(): connection has been released back to
# the pool", because the pool detaches a pooled connection the server closed, so every later call
# through it says so. The same words would come from using a connection after its `acquire`
# block ended, a bug; our code uses a connection only inside its block, so it is taken as the
# loss it is in practice (the fault tests meet it on every PostgreSQL restart). Any other
# InterfaceError ("another operation is in progress", "another operation is cancelling", a
# transaction misused, ...) is a bug.
CONNECTION_LOST_MESSAGES = (
    "connection is closed",
    "connection has been released back to the pool",
    "pool is closing",
    "pool is closed",
)


def is_unavailable(exc: BaseException) -> bool:
    """Whether `exc` means PostgreSQL cannot be reached now (an outage to wait out), not a bug."""
    if isinstance(exc, (DatabaseUnavailable, *UNAVAILABLE_ERRORS)):
        return True
    return isinstance(exc, asyncpg.InterfaceError) and any(m in str(exc) for m in CONNECTION_LOST_MESSAGES)


@contextmanager
def translate_db_errors() -> Iterator[None]:
    """Raise DatabaseUnavailable (from the driver error) when PostgreSQL cannot be reached.

    Every other exception, an InterfaceError that is not a lost connection included, passes
    through unchanged.
    """
    try:
        yield
    except (*UNAVAILABLE_ERRORS, asyncpg.InterfaceError) as exc:
        if not is_unavailable(exc):
            raise
        raise DatabaseUnavailable() from exc
