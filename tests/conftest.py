"""Real services for every test: PostgreSQL and Redis from DATABASE_URL / REDIS_URL, else embedded ones.

A session fixture migrates a template database once; each test gets its own clone and a flushed
Redis database, so tests never see each other's data.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiohttp.test_utils import TestClient, TestServer
from redis.asyncio import Redis

from shared.db.migrate import migrate
from shared.settings import Settings
from tests.support.redis_claims import claim_redis_db, release_redis_db, with_redis_db

ADMIN_TOKEN = "test-site-admin-token"
# Each session claims a Redis database of its own (1-15) with an atomic "set if absent" in db 0,
# so a flush never touches another session's, a benchmark's, or anything else on a shared server.


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--large", action="store_true", help="also run the large variants (slow)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--large"):
        return
    skip = pytest.mark.skip(reason="large variant: run with --large")
    for item in items:
        if "large" in item.keywords:
            item.add_marker(skip)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, parts.fragment))


@pytest.fixture(scope="session")
def service_urls() -> Iterator[tuple[str, str]]:
    database_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    if database_url and redis_url:
        yield database_url, redis_url
        return
    from shared.embedded import embedded_services

    # Not under pytest's tmp dir: a concurrent pytest session resets it to 0700, locking out the
    # unprivileged user PostgreSQL runs as when we are root.
    base = Path(tempfile.mkdtemp(prefix="outcome-imports-services-"))
    try:
        with embedded_services(base, postgres=not database_url, redis=not redis_url) as services:
            yield (database_url or services.database_url or "", redis_url or services.redis_url or "")
    finally:
        shutil.rmtree(base, ignore_errors=True)


# Rows a fresh installation has (migration 0001 seeds them); the reset restores them.
SEED_SQL = """
INSERT INTO accounts (id, name) VALUES (1, 'Default Account');
SELECT setval('accounts_id_seq', 1);
"""
# Tables in an order that DELETE can follow without breaking a foreign key (referencing tables first).
SELECT_TABLES_IN_DELETE_ORDER = """
WITH RECURSIVE deps(tbl, depth) AS (
    SELECT c.oid, 0 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind = 'r'
    UNION ALL
    SELECT con.conrelid, d.depth + 1 FROM pg_constraint con JOIN deps d ON con.confrelid = d.tbl
    WHERE con.contype = 'f' AND con.conrelid <> con.confrelid AND d.depth < 20
)
SELECT c.relname FROM deps d JOIN pg_class c ON c.oid = d.tbl
WHERE c.relname <> 'schema_migrations' GROUP BY c.relname ORDER BY max(d.depth) DESC, c.relname
"""
SELECT_SEQUENCES = "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"


@pytest.fixture(scope="session")
async def test_database(service_urls: tuple[str, str]) -> AsyncIterator[tuple[str, str]]:
    """One migrated database per session and the SQL that empties it back to a fresh installation.

    Emptying with DELETE takes milliseconds; creating or dropping a database per test takes a
    checkpoint each, which made the suite several times slower.
    """
    server_url = service_urls[0]
    name = f"oi_test_{os.getpid()}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.execute(f'CREATE DATABASE "{name}"')
        url = _with_database(server_url, name)
        await migrate(url)
        conn = await asyncpg.connect(url)
        try:
            tables = [r["relname"] for r in await conn.fetch(SELECT_TABLES_IN_DELETE_ORDER)]
            sequences = [r["sequencename"] for r in await conn.fetch(SELECT_SEQUENCES)]
        finally:
            await conn.close()
        reset = "".join(f'DELETE FROM "{t}";\n' for t in tables)
        reset += "".join(f"SELECT setval('\"{q}\"', 1, false);\n" for q in sequences)
        yield url, reset + SEED_SQL
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def database_url(test_database: tuple[str, str]) -> AsyncIterator[str]:
    """The session's database, emptied to a fresh installation before the test."""
    url, reset = test_database
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(reset)
    finally:
        await conn.close()
    yield url


@pytest.fixture(scope="session")
def redis_db(service_urls: tuple[str, str]) -> Iterator[int]:
    db = claim_redis_db(service_urls[1], f"pytest:{os.getpid()}")
    yield db
    release_redis_db(service_urls[1], db)


@pytest.fixture
async def redis_url(service_urls: tuple[str, str], redis_db: int) -> AsyncIterator[str]:
    url = with_redis_db(service_urls[1], redis_db)
    redis = Redis.from_url(url)
    await redis.flushdb()
    await redis.aclose()
    yield url


@pytest.fixture
def settings(database_url: str, redis_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        redis_url=redis_url,
        storage_url=(tmp_path / "storage").as_uri(),
        bootstrap_token=ADMIN_TOKEN,
        # Tests change rights and tokens in the database between requests; the cache has its own test.
        auth_cache_seconds=0,
    )


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to the test database, for assertions on what was stored."""
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient[Any, Any]]:
    """The API on a real socket, with the connection options of `python -m api` (access log, timeouts)."""
    from api.app import create_app
    from api.serving import server_options

    server = TestServer(create_app(settings))
    await server.start_server(**server_options(settings))
    test_client: TestClient[Any, Any] = TestClient(server)
    await test_client.start_server()
    yield test_client
    await test_client.close()


@pytest.fixture
def run_worker(settings: Settings) -> Callable[[], Awaitable[None]]:
    """Run a burst worker in-process until the queue is empty."""
    from worker.settings import create_worker

    async def run(**overrides: Any) -> None:
        worker = create_worker(settings, burst=True, poll_delay=0, **overrides)
        try:
            await worker.main()
        finally:
            await worker.close()

    return run


@pytest.fixture
def admin_headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}
