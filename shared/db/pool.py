"""The asyncpg pool: the one place connections are configured."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from shared.db.errors import translate_db_errors
from shared.errors import DatabaseBusy


class JsonText(str):
    """A value already encoded as JSON, written to a json column as it is (not as a JSON string)."""


# json's binary format is its text. Binary rather than text so that COPY (always binary in
# asyncpg) can write json columns too.
def _encode_json(value: object) -> bytes:
    text = value if type(value) is JsonText else json.dumps(value)
    return text.encode()


def _decode_json(data: bytes) -> object:
    return json.loads(data)


CLIENT_CHECK_SECONDS = 2


async def _init_connection(conn: asyncpg.Connection) -> None:
    # json columns (ratings) come back as Python objects, not strings.
    await conn.set_type_codec("json", encoder=_encode_json, decoder=_decode_json, schema="pg_catalog", format="binary")


class _Pool(asyncpg.Pool):  # type: ignore[misc]  # asyncpg is untyped
    """A pool whose every acquire (`pool.fetch()` and the like too) waits at most `acquire_timeout`
    seconds for a free connection, then raises DatabaseBusy."""

    def __init__(self, *args: Any, acquire_timeout: float | None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._default_acquire_timeout = acquire_timeout

    # Pool._acquire is what acquire(), fetch(), execute()... all wait in (asyncpg is pinned).
    async def _acquire(self, timeout: float | None) -> Any:  # noqa: ASYNC109 (asyncpg's signature)
        try:
            return await super()._acquire(self._default_acquire_timeout if timeout is None else timeout)
        except TimeoutError as exc:
            raise DatabaseBusy("No database connection became free in time.") from exc


def connection_settings(
    statement_timeout_seconds: int | None = None, lock_timeout_seconds: int | None = None
) -> dict[str, str]:
    """The server settings of every connection: the pool's, and any opened outside it. With
    `statement_timeout_seconds`, a longer statement is cancelled (asyncpg.QueryCanceledError);
    with `lock_timeout_seconds`, a statement waiting longer for a lock fails
    (asyncpg.LockNotAvailableError)."""
    settings = {
        "application_name": "outcome-imports",
        # A process that dies while its statement waits (on a lock, say) leaves its server
        # session waiting, and holding every lock it took, until the server next writes to
        # the socket. Checking the socket every few seconds ends such a session, so a killed
        # worker's import and its root account's lock are free for another worker at once.
        "client_connection_check_interval": f"{CLIENT_CHECK_SECONDS}s",
    }
    if statement_timeout_seconds:
        settings["statement_timeout"] = f"{statement_timeout_seconds}s"
    if lock_timeout_seconds:
        settings["lock_timeout"] = f"{lock_timeout_seconds}s"
    return settings


@asynccontextmanager
async def create_pool(
    database_url: str,
    *,
    min_size: int = 1,
    max_size: int = 10,
    acquire_timeout_seconds: float | None = None,
    statement_timeout_seconds: int | None = None,
) -> AsyncIterator[asyncpg.Pool]:
    """Open a pool for the lifetime of the block; raises DatabaseUnavailable if PostgreSQL cannot be reached.

    `acquire_timeout_seconds`: how long taking a connection may wait (then DatabaseBusy); None, for
    ever. `statement_timeout_seconds`: PostgreSQL's statement_timeout on every connection (a
    statement running longer is cancelled: asyncpg.QueryCanceledError); None, no limit. The API
    sets both; the worker neither, since its import is one long transaction.
    """
    with translate_db_errors():
        pool = await _Pool(
            database_url,
            acquire_timeout=acquire_timeout_seconds,
            connection_class=asyncpg.Connection,
            record_class=asyncpg.Record,
            init_size=None,
            min_size=min_size,
            max_size=max_size,
            max_queries=50_000,
            loop=None,
            connect=None,
            setup=None,
            init=_init_connection,
            reset=None,
            max_inactive_connection_lifetime=300.0,
            command_timeout=600,
            server_settings=connection_settings(statement_timeout_seconds),
        )
    try:
        yield pool
    finally:
        await pool.close()
