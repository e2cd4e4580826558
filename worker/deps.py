"""What a job needs, opened once per worker process and kept in arq's ctx."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import asyncpg
from arq.connections import ArqRedis

from shared.fleet_metrics import FleetMetrics
from shared.settings import Settings
from shared.status import StatusStore
from shared.storage import Storage
from worker.registry import WorkerRegistry

DEPS_KEY = "deps"


@dataclass(frozen=True, slots=True)
class Deps:
    settings: Settings
    pool: asyncpg.Pool
    redis: ArqRedis
    storage: Storage
    status: StatusStore
    fleet: FleetMetrics
    worker: WorkerRegistry


def deps(ctx: dict[str, Any]) -> Deps:
    value: Deps = ctx[DEPS_KEY]
    return value


def store_deps(ctx: dict[str, Any], value: Deps) -> None:
    ctx[DEPS_KEY] = value
