"""Versioned plain-SQL migrations, applied at start-up under an advisory lock (saq-style).

Migrations are append-only: once a file is committed its text never changes, and a change to the
schema is a new file. Each applied migration's SHA-256 is recorded in schema_migrations, and a
process refuses to start (MigrationChanged) when a file no longer matches what its database
applied, or (SchemaAheadOfCode) when the database has a migration this code does not know.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from shared.errors import MigrationChanged, SchemaAheadOfCode, SchemaMismatch

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Any constant works; it only has to be the same in every process that migrates this database.
MIGRATION_LOCK_KEY = 0x6F75_7463_6F6D_6573  # "outcomes"

CREATE_SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now(),
    checksum   text
)"""
# Databases created before checksums were recorded lack the column. The migrator adds it itself:
# it reads the table before it applies anything, so a migration file could not.
ADD_CHECKSUM_COLUMN = "ALTER TABLE schema_migrations ADD COLUMN IF NOT EXISTS checksum text"
SELECT_APPLIED_MIGRATIONS = "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
INSERT_APPLIED_MIGRATION = "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)"
UPDATE_MISSING_CHECKSUM = "UPDATE schema_migrations SET checksum = $2 WHERE version = $1 AND checksum IS NULL"
SELECT_OUTCOMES_CONTEXT_INDEX_EXISTS = "SELECT to_regclass('learning_outcomes_context_idx') IS NOT NULL"

# 0005 was edited after it had been committed: its first text lacked the final
# `DROP INDEX learning_outcomes_context_idx;`, so databases that applied that text kept the index.
# The file stays as it now reads (a committed migration never changes again), and migration 0013
# drops the index IF EXISTS, so databases that applied either text converge. A database that
# applied the first text did nothing wrong and must still start, so that text's checksum is
# accepted for 0005 as well as the file's; any other change to 0005 is refused like any other.
# Checksums were first recorded after the edit: see _backfill_checksums for how a database that
# applied the first text comes to record this one.
FIRST_0005_CHECKSUM = "9f1e64bfa469f07c3258927d49ef980a4dd75a6ab31765172c82c79ea7977044"
EARLIER_CHECKSUMS: dict[int, frozenset[str]] = {5: frozenset({FIRST_0005_CHECKSUM})}


@dataclass(frozen=True)
class Migration:
    version: int
    name: str  # the file's stem, e.g. 0005_bulk_load
    path: Path
    checksum: str  # SHA-256 of the file's bytes, hex


def migration_files(directory: Path = MIGRATIONS_DIR) -> list[Path]:
    return sorted(directory.glob("[0-9][0-9][0-9][0-9]_*.sql"))


def read_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations in `directory`, by version, each with its file's checksum."""
    return [
        Migration(int(path.name[:4]), path.stem, path, hashlib.sha256(path.read_bytes()).hexdigest())
        for path in migration_files(directory)
    ]


async def apply_migrations(conn: asyncpg.Connection, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Apply the migrations this database lacks, in one transaction; return their names.

    Idempotent: a second run applies nothing. Raises SchemaAheadOfCode when the database has a
    version this code does not know (never run old code on a newer schema), and MigrationChanged
    when a migration it applied no longer matches its file (changed or deleted); both are
    SchemaMismatch, and either way nothing is applied.
    """
    migrations = read_migrations(directory)
    by_version = {m.version: m for m in migrations}
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK_KEY)
        await conn.execute(CREATE_SCHEMA_MIGRATIONS)
        await conn.execute(ADD_CHECKSUM_COLUMN)
        applied = {r["version"]: r["checksum"] for r in await conn.fetch(SELECT_APPLIED_MIGRATIONS)}
        if applied and max(applied) > migrations[-1].version:
            raise SchemaAheadOfCode(
                f"the database has migration {max(applied):04d}, newer than this code's newest "
                f"({migrations[-1].name}): run the newer code, or restore the database"
            )
        applied = await _backfill_checksums(conn, applied, by_version)
        _verify_checksums(applied, by_version)
        todo = [m for m in migrations if m.version not in applied]
        for m in todo:
            await conn.execute(m.path.read_text())
            await conn.execute(INSERT_APPLIED_MIGRATION, m.version, m.name, m.checksum)
    for m in todo:
        logger.info("applied migration %s", m.name)
    return [m.name for m in todo]


async def _backfill_checksums(
    conn: asyncpg.Connection, applied: dict[int, str | None], by_version: dict[int, Migration]
) -> dict[int, str | None]:
    """Record a checksum for each migration applied before checksums were recorded (once: only
    where there is none), trusting that the database applied what the file says now.

    Except 0005, whose text was edited after it was committed: a database that applied the first
    text still has learning_outcomes_context_idx until 0013 runs (0001 creates it; only the edited
    0005 and 0013 drop it), so it records the first text's checksum. The record says what it applied.
    """
    result = dict(applied)
    for version, checksum in applied.items():
        if checksum is not None or version not in by_version:
            continue
        checksum = by_version[version].checksum
        if version == 5 and 13 not in applied and await conn.fetchval(SELECT_OUTCOMES_CONTEXT_INDEX_EXISTS):
            checksum = FIRST_0005_CHECKSUM
        await conn.execute(UPDATE_MISSING_CHECKSUM, version, checksum)
        result[version] = checksum
    return result


def _verify_checksums(applied: dict[int, str | None], by_version: dict[int, Migration]) -> None:
    for version, checksum in sorted(applied.items()):
        migration = by_version.get(version)
        if migration is None:
            raise MigrationChanged(
                f"migration {version:04d} was applied to this database but its file no longer exists; "
                "migrations are append-only: restore the file"
            )
        if checksum != migration.checksum and checksum not in EARLIER_CHECKSUMS.get(version, frozenset()):
            raise MigrationChanged(
                f"migration {migration.path.name} has changed since this database applied it "
                f"(sha256 applied {checksum}, file now {migration.checksum}); migrations are append-only: "
                "restore the file and make the change a new migration"
            )


async def migrate(database_url: str, directory: Path = MIGRATIONS_DIR) -> list[str]:
    """Connect to `database_url` and apply its missing migrations (see apply_migrations)."""
    conn = await asyncpg.connect(database_url)
    try:
        return await apply_migrations(conn, directory)
    finally:
        await conn.close()


def refusal(exc: SchemaMismatch) -> str:
    """The one line a process prints when it refuses to start on this database."""
    return f"outcome-imports: refusing to start: {exc}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Apply database migrations")
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"))
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("DATABASE_URL is required")
    logging.basicConfig(level=logging.INFO)
    try:
        applied = asyncio.run(migrate(args.database_url))
    except SchemaMismatch as exc:
        sys.exit(refusal(exc))
    print(f"applied {len(applied)} migration(s)" + (": " + ", ".join(applied) if applied else ""))
