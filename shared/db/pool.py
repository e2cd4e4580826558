"""The asyncpg pool: the one place connections are configured."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from shared.db.errors import translate_db_errors


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb columns (ratings) come back as Python objects, not strings.
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


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
