"""Driver errors classified by cause with real asyncpg: a lost connection is "database unavailable"
(retried, a 503), misuse of a connection is a bug (an unexpected error with an error report)."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from shared.db.errors import is_unavailable, translate_db_errors
from shared.errors import DatabaseUnavailable


async def _terminate(db: asyncpg.Connection, conn: asyncpg.Connection) -> None:
    """End `conn`'s server session and wait until `conn` has seen it end. pg_terminate_backend
    only signals the session; and between the session's last message and the end of the socket,
    a statement meets asyncpg in the middle of reading that message (an InternalClientError that
    no lost connection in production stays in long enough to meet)."""
    await db.execute("SELECT pg_terminate_backend($1)", conn.get_server_pid())
    deadline = asyncio.get_running_loop().time() + 10
    while not _seen_closed(conn):
        assert asyncio.get_running_loop().time() < deadline, "the connection never saw its end"
        await asyncio.sleep(0.01)  # polling for the socket's end, with a deadline


def _seen_closed(conn: asyncpg.Connection) -> bool:
    try:
        return conn.is_closed()
    except asyncpg.InterfaceError:  # a pooled connection its pool has detached, having seen it close
        return True


async def test_two_statements_at_once_on_one_connection_is_a_bug_not_an_outage(db: asyncpg.Connection) -> None:
    slow = asyncio.create_task(db.execute("SELECT pg_sleep(0.5)"))
    await asyncio.sleep(0)  # the first statement is on the wire
    with pytest.raises(asyncpg.InterfaceError, match="another operation is in progress") as raised:
        with translate_db_errors():
            await db.fetchval("SELECT 1")
    await slow
    assert not is_unavailable(raised.value)


async def test_a_transaction_misused_is_a_bug(db: asyncpg.Connection) -> None:
    transaction = db.transaction()
    await transaction.start()
    with pytest.raises(asyncpg.InterfaceError, match="already started") as raised:
        with translate_db_errors():
            await transaction.start()
    await transaction.rollback()
    assert not is_unavailable(raised.value)


async def test_a_pooled_connection_the_server_ends_is_unavailable(database_url: str, db: asyncpg.Connection) -> None:
    # asyncpg's pool detaches a pooled connection that was closed: every later call through it
    # then says the connection "has been released back to the pool".
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await _terminate(db, conn)
            with pytest.raises(DatabaseUnavailable):
                with translate_db_errors():
                    await conn.fetchval("SELECT 1")
            with pytest.raises(DatabaseUnavailable) as raised:
                with translate_db_errors():
                    await conn.fetchval("SELECT 1")
        assert "released back to the pool" in str(raised.value.__cause__)
    finally:
        await pool.close()


async def test_a_closed_connection_is_unavailable(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    await conn.close()
    with pytest.raises(DatabaseUnavailable) as raised:
        with translate_db_errors():
            await conn.fetchval("SELECT 1")
    assert isinstance(raised.value.__cause__, asyncpg.InterfaceError)
    assert "connection is closed" in str(raised.value.__cause__)


async def test_a_connection_the_server_ends_in_a_transaction_is_unavailable(
    database_url: str, db: asyncpg.Connection
) -> None:
    # As when PostgreSQL restarts under an import: the statement loses its connection, and the
    # ROLLBACK on leaving the block fails with an InterfaceError, which is what the caller sees.
    conn = await asyncpg.connect(database_url)
    try:
        with pytest.raises(DatabaseUnavailable) as raised:
            with translate_db_errors():
                async with conn.transaction():
                    await _terminate(db, conn)
                    await conn.fetchval("SELECT 1")
        # asyncpg 0.32: "cannot call Transaction.__aexit__(): the underlying connection is closed".
        cause = raised.value.__cause__
        assert isinstance(cause, asyncpg.InterfaceError), repr(cause)
        assert "connection is closed" in str(cause)
    finally:
        await conn.close()


async def test_a_closing_pool_is_unavailable(database_url: str) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    await pool.close()
    with pytest.raises(DatabaseUnavailable) as raised:
        with translate_db_errors():
            await pool.fetchval("SELECT 1")
    assert "pool is closed" in str(raised.value.__cause__)


async def test_a_server_that_refuses_connections_is_unavailable(database_url: str) -> None:
    with pytest.raises(DatabaseUnavailable):
        with translate_db_errors():
            await asyncpg.connect(database_url.replace("127.0.0.1:5432", "127.0.0.1:1"), timeout=5)
