"""The asyncpg pool: the one place connections are configured."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from shared.db.errors import translate_db_errors


class JsonText(str):
    """A value already encoded as JSON, written to a jsonb column as it is (not as a JSON string)."""


# jsonb's binary format: a version byte, then the JSON text. Binary rather than text so that COPY
# (always binary in asyncpg) can write jsonb columns too.
_JSONB_VERSION = b"\x01"


def _encode_jsonb(value: object) -> bytes:
    text = value if type(value) is JsonText else json.dumps(value)
    return _JSONB_VERSION + text.encode()


def _decode_jsonb(data: bytes) -> object:
    return json.loads(data[1:])


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb columns (ratings) come back as Python objects, not strings.
    await conn.set_type_codec(
        "jsonb", encoder=_encode_jsonb, decoder=_decode_jsonb, schema="pg_catalog", format="binary"
    )


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
            server_settings={"application_name": "outcome-imports"},
        )
    try:
        yield pool
    finally:
        await pool.close()
