"""The asyncpg pool: the one place connections are configured."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from shared.db.errors import translate_db_errors


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


@asynccontextmanager
async def create_pool(database_url: str, *, min_size: int = 1, max_size: int = 10) -> AsyncIterator[asyncpg.Pool]:
    """Open a pool for the lifetime of the block; raises DatabaseUnavailable if PostgreSQL cannot be reached."""
    with translate_db_errors():
        pool = await asyncpg.create_pool(
            database_url,
            min_size=min_size,
            max_size=max_size,
            init=_init_connection,
            command_timeout=600,
            server_settings={
                "application_name": "outcome-imports",
                # A process that dies while its statement waits (on a lock, say) leaves its server
                # session waiting, and holding every lock it took, until the server next writes to
                # the socket. Checking the socket every few seconds ends such a session, so a killed
                # worker's import and its root account's lock are free for another worker at once.
                "client_connection_check_interval": f"{CLIENT_CHECK_SECONDS}s",
            },
        )
    try:
        yield pool
    finally:
        await pool.close()
