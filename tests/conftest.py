"""Real services for every test: PostgreSQL and Redis from DATABASE_URL / REDIS_URL, else embedded ones.

A session fixture migrates a template database once; each test gets its own clone and a flushed
Redis database, so tests never see each other's data.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from shared.db.migrate import migrate
from shared.settings import Settings

ADMIN_TOKEN = "test-site-admin-token"
# A Redis database of its own, so a flush never touches anything else on a shared server (and
# rarely another test session's: each session picks one by its pid).
TEST_REDIS_DB = 1 + os.getpid() % 15
_clone_numbers = itertools.count(1)


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


def _with_redis_db(url: str, db: int) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, parts.fragment))


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


@pytest.fixture(scope="session")
async def template_database(service_urls: tuple[str, str]) -> AsyncIterator[str]:
    server_url = service_urls[0]
    name = f"oi_test_template_{os.getpid()}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.execute(f'CREATE DATABASE "{name}"')
        await migrate(_with_database(server_url, name))
        yield name
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def database_url(service_urls: tuple[str, str], template_database: str) -> AsyncIterator[str]:
    server_url = service_urls[0]
    name = f"oi_test_{os.getpid()}_{next(_clone_numbers)}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
        yield _with_database(server_url, name)
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


@pytest.fixture
async def redis_url(service_urls: tuple[str, str]) -> AsyncIterator[str]:
    url = _with_redis_db(service_urls[1], TEST_REDIS_DB)
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
    )


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A direct connection to the test database, for assertions on what was stored."""
    conn = await asyncpg.connect(database_url)
    yield conn
    await conn.close()


@pytest.fixture
async def client(aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], settings: Settings) -> TestClient[Any, Any]:
    from api.app import create_app

    return await aiohttp_client(create_app(settings))


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
