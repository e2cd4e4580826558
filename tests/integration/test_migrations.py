"""Migrations: a re-run is a no-op, a database ahead of the code or a changed migration file is refused
(by the migrator and by every process that starts on it), and databases that applied either text of
0005 (it was edited after it was committed; 0013 makes its change for every database) end with the
same schema."""

from __future__ import annotations

import asyncio
import hashlib
import os
import secrets
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from shared.db.migrate import FIRST_0005_CHECKSUM, MIGRATIONS_DIR, migrate, read_migrations
from shared.errors import MigrationChanged, SchemaAheadOfCode
from tests.conftest import _with_database
from tests.faults import REPO_ROOT
from tests.support.seaweedfs import free_ports

# What commit 5b28e2e appended to 0005 after it had been committed (0013 drops the index for all).
EDITED_0005_TAIL = (
    "\n-- No query looks outcomes up by their owner (they are found by guid, by id, and through links),\n"
    "-- and every index is maintained on every insert.\n"
    "DROP INDEX learning_outcomes_context_idx;\n"
)
SELECT_SCHEMA = """
SELECT 'column', table_name || '.' || column_name,
       concat_ws(' ', data_type, collation_name, is_nullable, column_default)
FROM information_schema.columns WHERE table_schema = 'public'
UNION ALL
SELECT 'index', indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'
UNION ALL
SELECT 'constraint', conrelid::regclass || '.' || conname, pg_get_constraintdef(oid)
FROM pg_constraint WHERE connamespace = 'public'::regnamespace
UNION ALL
SELECT 'trigger', tgrelid::regclass || '.' || tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal
ORDER BY 1, 2
"""
STARTUP_SECONDS = 60


@pytest.fixture
async def blank_database(service_urls: tuple[str, str]) -> AsyncIterator[str]:
    """A new, empty database (no migration applied), dropped after the test."""
    server_url = service_urls[0]
    name = f"oi_migrations_{os.getpid()}_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield _with_database(server_url, name)
        finally:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


def _copy_of_migrations(tmp_path: Path, *, up_to: int = 10_000) -> Path:
    directory = tmp_path / "migrations"
    directory.mkdir()
    for m in read_migrations():
        if m.version <= up_to:
            shutil.copy(m.path, directory / m.path.name)
    return directory


def _checksum_of(version: int) -> str:
    return next(m.checksum for m in read_migrations() if m.version == version)


async def _fetch(url: str, query: str) -> list[tuple[object, ...]]:
    conn = await asyncpg.connect(url)
    try:
        return [tuple(r) for r in await conn.fetch(query)]
    finally:
        await conn.close()


async def _execute(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


async def test_a_second_run_applies_nothing_and_records_each_files_checksum(blank_database: str) -> None:
    migrations = read_migrations()
    assert await migrate(blank_database) == [m.name for m in migrations]
    schema = await _fetch(blank_database, SELECT_SCHEMA)
    recorded = await _fetch(blank_database, "SELECT version, name, checksum, applied_at FROM schema_migrations")

    assert await migrate(blank_database) == []

    assert await _fetch(blank_database, SELECT_SCHEMA) == schema
    assert await _fetch(blank_database, "SELECT version, name, checksum, applied_at FROM schema_migrations") == recorded
    assert sorted(r[:3] for r in recorded) == [
        (m.version, m.name, hashlib.sha256(m.path.read_bytes()).hexdigest()) for m in migrations
    ]


async def test_a_database_ahead_of_the_code_is_refused(blank_database: str) -> None:
    await migrate(blank_database)
    await _execute(blank_database, "INSERT INTO schema_migrations (version, name) VALUES (9999, '9999_future')")
    with pytest.raises(SchemaAheadOfCode, match="9999"):
        await migrate(blank_database)


async def test_a_changed_migration_file_is_refused_and_nothing_is_applied(blank_database: str, tmp_path: Path) -> None:
    directory = _copy_of_migrations(tmp_path)
    await migrate(blank_database, directory)
    with (directory / "0003_heartbeats.sql").open("a") as f:
        f.write("ALTER TABLE outcome_imports ADD COLUMN heartbeat_count integer;\n")
    (directory / "9000_next.sql").write_text("CREATE TABLE refused_marker (id integer);\n")

    with pytest.raises(MigrationChanged, match=r"0003_heartbeats\.sql has changed since this database applied it"):
        await migrate(blank_database, directory)

    assert await _fetch(blank_database, "SELECT to_regclass('refused_marker')") == [(None,)]
    newest = read_migrations()[-1].version
    assert await _fetch(blank_database, "SELECT max(version) FROM schema_migrations") == [(newest,)]


async def test_a_deleted_migration_file_is_refused(blank_database: str, tmp_path: Path) -> None:
    directory = _copy_of_migrations(tmp_path)
    await migrate(blank_database, directory)
    (directory / "0004_user_accounts.sql").unlink()
    with pytest.raises(MigrationChanged, match="migration 0004 was applied to this database but its file no longer"):
        await migrate(blank_database, directory)


def _first_0005_text() -> str:
    edited = (MIGRATIONS_DIR / "0005_bulk_load.sql").read_text()
    assert edited.endswith(EDITED_0005_TAIL)
    return edited.removesuffix(EDITED_0005_TAIL)


async def test_0005_keeps_its_text_and_only_its_first_text_is_accepted_besides(
    blank_database: str, tmp_path: Path
) -> None:
    first = _first_0005_text()
    assert hashlib.sha256(first.encode()).hexdigest() == FIRST_0005_CHECKSUM

    directory = _copy_of_migrations(tmp_path)
    await migrate(blank_database, directory)
    (directory / "0005_bulk_load.sql").write_text(first + "-- another edit\n")
    with pytest.raises(MigrationChanged, match=r"0005_bulk_load\.sql has changed"):
        await migrate(blank_database, directory)


@pytest.mark.parametrize("edited", [True, False], ids=["edited 0005", "committed 0005"])
async def test_a_database_migrated_before_checksums_converges_whichever_0005_it_applied(
    blank_database: str, test_database: tuple[str, str], tmp_path: Path, edited: bool
) -> None:
    # As the code before this change left a database: 0001-0012 applied (0005 as it then read), no checksums.
    directory = _copy_of_migrations(tmp_path, up_to=12)
    if not edited:
        (directory / "0005_bulk_load.sql").write_text(_first_0005_text())
    await migrate(blank_database, directory)
    await _execute(blank_database, "ALTER TABLE schema_migrations DROP COLUMN checksum")

    applied = await migrate(blank_database)

    assert applied[0] == "0013_drop_outcomes_context_index"
    recorded = {r[0]: r[1] for r in await _fetch(blank_database, "SELECT version, checksum FROM schema_migrations")}
    assert recorded == {
        m.version: FIRST_0005_CHECKSUM if not edited and m.version == 5 else m.checksum for m in read_migrations()
    }
    # The same schema as a database migrated from scratch by this code (the session's template).
    assert await _fetch(blank_database, SELECT_SCHEMA) == await _fetch(test_database[0], SELECT_SCHEMA)
    assert await migrate(blank_database) == []


async def _refusal_of(command: list[str], env: dict[str, str]) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        *command, cwd=REPO_ROOT, env=env, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), STARTUP_SECONDS)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"{command} did not refuse to start within {STARTUP_SECONDS} s") from None
    assert process.returncode is not None
    return process.returncode, stderr.decode(errors="replace")


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "api", "--port", "{port}"],
        ["-m", "worker"],
        ["-m", "cli", "run", "--port", "{port}"],
        ["-m", "cli", "migrate"],
    ],
    ids=["api", "worker", "run", "migrate"],
)
async def test_every_process_refuses_to_start_on_a_changed_migration_with_one_line(
    blank_database: str, redis_url: str, tmp_path: Path, command: list[str]
) -> None:
    await migrate(blank_database)
    await _execute(blank_database, "UPDATE schema_migrations SET checksum = repeat('0', 64) WHERE version = 3")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OUTCOME_IMPORTS_")}
    env.update(DATABASE_URL=blank_database, REDIS_URL=redis_url, STORAGE_URL=(tmp_path / "storage").as_uri())
    port = str(free_ports(1)[0])
    args = [a.replace("{port}", port) for a in command]
    if "run" in args:
        args += ["--data-dir", str(tmp_path / "data")]

    code, stderr = await _refusal_of([sys.executable, *args], env)

    assert code != 0, stderr
    assert "Traceback" not in stderr, stderr
    refusals = [line for line in stderr.splitlines() if "refusing to start" in line]
    assert refusals == [
        "outcome-imports: refusing to start: migration 0003_heartbeats.sql has changed since this database applied "
        f"it (sha256 applied {'0' * 64}, file now {_checksum_of(3)}); migrations are append-only: "
        "restore the file and make the change a new migration"
    ], stderr
