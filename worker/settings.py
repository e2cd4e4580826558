"""The arq worker: one function, its dependencies opened on start-up and closed on shutdown."""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack, suppress
from signal import Signals
from typing import Any

from arq import Worker
from arq.worker import func
from redis.exceptions import WatchError

from shared.db.accounts import ensure_bootstrap_admin
from shared.db.migrate import apply_migrations
from shared.db.pool import create_pool
from shared.fleet_metrics import FleetMetrics
from shared.queue import QUEUE_NAME, RUN_OUTCOME_IMPORT, redis_settings
from shared.settings import Settings
from shared.status import StatusStore
from shared.storage import open_storage
from worker.deps import DEPS_KEY, Deps, store_deps
from worker.jobs import run_outcome_import
from worker.mailer import start_mailer
from worker.memory import return_freed_memory
from worker.parse_caches import clear_parse_caches
from worker.reconciler import run_reconciler
from worker.registry import WorkerRegistry
from worker.webhooks import start_webhook_deliveries

# Waiting for an earlier import of the same root account is a deferral, not a failure: arq counts
# every deferral as a try, so the real limit on failed attempts is Settings.job_max_tries, kept in PostgreSQL.
UNLIMITED_TRIES = 1_000_000
MAX_JOBS = 4
_STACK_KEY = "exit_stack"
# A worker rides out a Redis restart of about half a minute (backoff capped at 2 s); past that it
# exits and its supervisor (`outcome-imports run`, Kubernetes, compose) starts it again.
REDIS_COMMAND_RETRIES = 20
# arq finds new jobs by polling its queue (one ZRANGEBYSCORE), not by blocking. Its default of
# 0.5 s kept a new import waiting 0.25 s on average, 5% of a 100,000-row import; ten polls a
# second cost Redis next to nothing.
POLL_DELAY_SECONDS = 0.1


logger = logging.getLogger(__name__)


class ImportWorker(Worker):
    """arq's Worker, riding out a Redis connection that dies while it claims a job."""

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        try:
            await super().start_jobs(job_ids)
        except WatchError:
            # arq (pinned at 0.28.0) WATCHes a job's in-progress key before claiming the job, but
            # handles a WatchError only from the EXEC at the end. redis-py raises one from any
            # command when the connection dies while watching, as it does when Redis restarts:
            # the worker then stopped, and the job slot taken for that job was never given back.
            # The job is still queued and unclaimed; the next poll claims it.
            self.job_counter -= 1
            self.sem.release()
            logger.warning("Redis connection lost while claiming a job; the next poll tries again")


    def handle_sig(self, signum: Signals) -> None:
        # Jobs cancelled by a stop hand their imports back without spending one of their tries
        # (worker/jobs.py); a job cancelled by its timeout does spend one.
        worker_deps: Deps | None = self.ctx.get(DEPS_KEY)
        if worker_deps is not None:
            worker_deps.worker.stopping = True
        super().handle_sig(signum)


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with suppress(asyncio.CancelledError):  # the cancellation we just asked for
        await task


def create_worker(settings: Settings, *, reconcile: bool = True, **overrides: Any) -> ImportWorker:
    """An arq Worker for our queue; `overrides` are Worker arguments (tests pass burst=True, poll_delay=0).

    `reconcile` runs the reaper/reconciler loop (worker/reconciler.py) beside the jobs.
    """

    async def on_startup(ctx: dict[str, Any]) -> None:
        stack = AsyncExitStack()
        ctx[_STACK_KEY] = stack
        pool = await stack.enter_async_context(create_pool(settings.database_url, max_size=pool_size))
        async with pool.acquire() as conn:
            await apply_migrations(conn)
            if settings.bootstrap_token:
                await ensure_bootstrap_admin(conn, settings.bootstrap_token)
        storage = await stack.enter_async_context(
            open_storage(
                settings.storage_url,
                s3_endpoint_url=settings.s3_endpoint_url,
                s3_region=settings.s3_region,
                # A hung read is an outage (StorageUnavailable): the import is tried again later.
                timeout_seconds=settings.storage_timeout_seconds,
            )
        )
        registry = WorkerRegistry(max_jobs)
        await registry.register(pool)
        # Registered before the pool closes, so it runs after the heartbeat stops and before that.
        stack.push_async_callback(registry.stop, pool)
        beating = asyncio.create_task(registry.beat_forever(pool, settings.heartbeat_seconds))
        stack.push_async_callback(_cancel, beating)
        d = Deps(
            settings,
            pool,
            ctx["redis"],
            storage,
            StatusStore(ctx["redis"], settings.status_ttl_seconds),
            FleetMetrics(ctx["redis"]),
            registry,
        )
        store_deps(ctx, d)
        await start_mailer(d, stack)
        await start_webhook_deliveries(stack, settings, pool, registry.id)
        if reconcile:
            reconciler = asyncio.create_task(run_reconciler(d, ctx["redis"]))
            stack.push_async_callback(_cancel, reconciler)

    async def on_job_end(ctx: dict[str, Any]) -> None:
        # Nothing of an import stays in the process after it: neither its file's cells in the parse
        # caches (worker/parse_caches.py) nor the memory its batches freed (worker/memory.py).
        clear_parse_caches()
        return_freed_memory()

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        stack: AsyncExitStack | None = ctx.get(_STACK_KEY)
        if stack is not None:
            await stack.aclose()

    max_jobs = int(overrides.get("max_jobs", MAX_JOBS))
    # Each running import holds one connection for its whole transaction and, at moments, needs
    # three more (progress, its watch, a dry run's errors) from the same pool; plus one each for
    # the reconciler and the worker's heartbeat. A smaller pool lets imports wait forever on
    # connections their own siblings hold.
    pool_size = 4 * max_jobs + 2
    options: dict[str, Any] = {
        "queue_name": QUEUE_NAME,
        "redis_settings": redis_settings(settings.redis_url, command_retries=REDIS_COMMAND_RETRIES),
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        "on_job_end": on_job_end,
        "max_jobs": max_jobs,
        "poll_delay": POLL_DELAY_SECONDS,
        "keep_result": 60,
        "handle_signals": True,
    }
    options.update(overrides)
    functions = [
        func(
            run_outcome_import,
            name=RUN_OUTCOME_IMPORT,
            max_tries=UNLIMITED_TRIES,
            timeout=settings.job_timeout_seconds,
        ),
    ]
    return ImportWorker(functions, **options)
