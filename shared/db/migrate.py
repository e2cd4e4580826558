"""Versioned plain-SQL migrations, applied at start-up under an advisory lock (saq-style)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
from pathlib import Path

import asyncpg

from shared.errors import SchemaAheadOfCode

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant works; it only has to be the same in every process that migrates this database.
MIGRATION_LOCK_KEY = 0x6F75_7463_6F6D_6573  # "outcomes"

CREATE_SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)"""
SELECT_APPLIED_VERSIONS = "SELECT version FROM schema_migrations"
INSERT_APPLIED_VERSION = "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)"


def migration_files() -> list[Path]:
    return sorted(MIGRATIONS_DIR.glob("[0-9][0-9][0-9][0-9]_*.sql"))


async def apply_migrations(conn: asyncpg.Connection) -> list[str]:
    """Apply the migrations this database lacks, in one transaction; return their names.

    Idempotent: a second run applies nothing. Raises SchemaAheadOfCode when the database has a
    version this code does not know (never run old code on a newer schema).
    """
    files = migration_files()
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
        await conn.execute(CREATE_SCHEMA_MIGRATIONS)
        done = {r["version"] for r in await conn.fetch(SELECT_APPLIED_VERSIONS)}
        if done and max(done) > int(files[-1].name[:4]):
            raise SchemaAheadOfCode(f"Database schema version {max(done)} is newer than this code")
        todo = [f for f in files if int(f.name[:4]) not in done]
        for f in todo:
            await conn.execute(f.read_text())
            await conn.execute(INSERT_APPLIED_VERSION, int(f.name[:4]), f.stem)
    for f in todo:
        logger.info("applied migration %s", f.stem)
    return [f.stem for f in todo]


async def migrate(database_url: str) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        return await apply_migrations(conn)
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Apply database migrations")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("DATABASE_URL is required")
    logging.basicConfig(level=logging.INFO)
    applied = asyncio.run(migrate(args.database_url))
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))
