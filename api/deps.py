"""What every handler needs, opened once per process in the app's cleanup context."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg
from aiohttp import web
from arq.connections import ArqRedis

from api.auth_cache import TtlCache
from shared.db.accounts import Context, User
from shared.fleet_metrics import FleetMetrics
from shared.settings import Settings
from shared.status import StatusStore
from shared.storage import Storage
from shared.throttle import Throttle


@dataclass(frozen=True, slots=True)
class Deps:
    settings: Settings
    pool: asyncpg.Pool
    redis: ArqRedis
    storage: Storage
    status: StatusStore
    throttle: Throttle
    users: TtlCache[bytes, User]  # by token digest
    contexts: TtlCache[tuple[str, int], Context]
    permissions: TtlCache[tuple[int, str], bool]  # (user id, context key)
    fleet: FleetMetrics


DEPS = web.AppKey("deps", Deps)
