"""Health: can this process reach PostgreSQL, Redis and storage?"""

from __future__ import annotations

import asyncio

from aiohttp import web
from redis.exceptions import RedisError

from api.deps import DEPS, Deps
from shared.db.errors import translate_db_errors
from shared.errors import DatabaseUnavailable, StorageUnavailable

routes = web.RouteTableDef()
PROBE_TIMEOUT_SECONDS = 3


async def _probe_database(deps: Deps) -> None:
    with translate_db_errors():
        await deps.pool.fetchval("SELECT 1")


async def _probe_redis(deps: Deps) -> None:
    await deps.redis.ping()


async def _probe_storage(deps: Deps) -> None:
    await deps.storage.check()


_PROBES = {"database": _probe_database, "redis": _probe_redis, "storage": _probe_storage}
_PROBE_FAILURES: tuple[type[BaseException], ...] = (
    DatabaseUnavailable,
    OSError,
    TimeoutError,
    RedisError,
    StorageUnavailable,
)


async def _check(deps: Deps, name: str) -> tuple[str, str]:
    try:
        await asyncio.wait_for(_PROBES[name](deps), PROBE_TIMEOUT_SECONDS)
    except _PROBE_FAILURES:
        return name, "unavailable"
    return name, "ok"


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    """200 when every dependency answers, else 503; the body says which one is down."""
    deps = request.app[DEPS]
    checks = dict(await asyncio.gather(*(_check(deps, name) for name in _PROBES)))
    healthy = all(v == "ok" for v in checks.values())
    return web.json_response(
        {"status": "ok" if healthy else "unavailable", "checks": checks}, status=200 if healthy else 503
    )
