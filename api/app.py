"""The aiohttp application factory."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

from aiohttp import web

from api.auth_cache import TtlCache
from api.deps import DEPS, Deps
from api.errors import error_middleware
from api.export import EXPORT_SLOTS, ExportSlots
from api.metrics import METRICS, ApiMetrics, http_metrics_middleware
from api.pages import add_security_headers
from api.routes import setup_routes
from api.serving import IN_FLIGHT, InFlight
from api.throttling import throttle_middleware
from shared.db.accounts import ensure_bootstrap_admin
from shared.db.migrate import apply_migrations
from shared.db.pool import create_pool
from shared.fleet_metrics import FleetMetrics
from shared.queue import open_redis
from shared.settings import Settings
from shared.status import StatusStore
from shared.storage import open_storage
from shared.throttle import Throttle, ThrottleSettings

logger = logging.getLogger(__name__)

SETTINGS = web.AppKey("settings", Settings)


async def _open_dependencies(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    async with AsyncExitStack() as stack:
        pool = await stack.enter_async_context(
            create_pool(
                settings.database_url,
                acquire_timeout_seconds=settings.db_acquire_timeout_seconds,
                statement_timeout_seconds=settings.db_statement_timeout_seconds,
            )
        )
        async with pool.acquire() as conn:
            # A migration may take longer than a request's statement (the pool resets this on release).
            await conn.execute("SET statement_timeout = 0")
            await apply_migrations(conn)
            if settings.bootstrap_token:
                await ensure_bootstrap_admin(conn, settings.bootstrap_token)
        # Few retries: an API request should not hang while Redis is away (PostgreSQL answers instead).
        redis = await open_redis(settings.redis_url, command_retries=1, socket_timeout=settings.redis_timeout_seconds)
        stack.push_async_callback(redis.aclose)
        storage = await stack.enter_async_context(
            open_storage(
                settings.storage_url,
                s3_endpoint_url=settings.s3_endpoint_url,
                s3_region=settings.s3_region,
                timeout_seconds=settings.storage_timeout_seconds,
            )
        )
        throttle = Throttle(
            redis,
            ThrottleSettings(
                settings.rate_limit_high_water_mark,
                settings.rate_limit_outflow_per_second,
                settings.rate_limit_up_front_cost,
            ),
        )
        ttl = settings.auth_cache_seconds
        app[DEPS] = Deps(
            settings,
            pool,
            redis,
            storage,
            StatusStore(redis, settings.status_ttl_seconds),
            throttle,
            TtlCache(ttl),
            TtlCache(ttl),
            TtlCache(ttl),
            FleetMetrics(redis),
        )
        yield


def create_app(settings: Settings) -> web.Application:
    """The API; connections open when the app starts and close when it stops."""
    in_flight = InFlight()
    # The metrics middleware is outermost: it counts the answers the others make as well. The
    # in-flight count comes next, so a draining process closes every connection it answers.
    app = web.Application(
        middlewares=[http_metrics_middleware, in_flight.middleware, throttle_middleware, error_middleware],
        client_max_size=1024**2,
    )
    app[IN_FLIGHT] = in_flight
    app[SETTINGS] = settings
    app[EXPORT_SLOTS] = ExportSlots(settings.max_concurrent_exports)
    app[METRICS] = ApiMetrics(settings.metrics_cache_seconds)
    app.cleanup_ctx.append(_open_dependencies)
    setup_routes(app)
    app.on_response_prepare.append(add_security_headers)
    return app
