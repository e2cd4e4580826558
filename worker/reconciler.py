"""Nothing lost, nothing stuck: the background loop every worker runs next to its jobs.

- Reaper: an import in `importing` whose heartbeat stopped belongs to a dead worker; its arq job is
  released so any worker runs it again (the import's transaction was rolled back with the dead
  connection, so the re-run starts clean).
  If Redis lost the job meanwhile, the import is enqueued again instead.
- Workers silent for a day are forgotten (the operations views show the last hour).
- Stored uploads past retention are deleted (worker/retention.py), and Idempotency-Keys past a day.
- Reconciler: PostgreSQL is the truth. An import it lists as `created` without an arq job in Redis
  (Redis restarted and lost its data, or the API died between commit and enqueue) is enqueued
  again. Enqueueing is idempotent, so several workers may do this at once. An import whose worker
  is alive and beating is left alone even if Redis forgot its job: it finishes by itself.
"""

from __future__ import annotations

import asyncio
import logging

from arq.connections import ArqRedis
from redis.exceptions import RedisError

from shared.db import idempotency
from shared.db import import_jobs as queries
from shared.db.errors import translate_db_errors
from shared.db.workers import delete_gone_workers
from shared.errors import DatabaseUnavailable, QueueUnavailable, StorageUnavailable
from shared.queue import missing_jobs, release_job, requeue_import
from worker.deps import Deps
from worker.retention import delete_expired_uploads

logger = logging.getLogger(__name__)

# Workers silent this long leave the operations views (they show the last hour).
FORGET_WORKERS_AFTER_SECONDS = 24 * 3600
# An import created this recently without a job is most likely being enqueued by the API right
# now: it is enqueued all the same (enqueueing is idempotent), but not reported as lost.
JUST_CREATED_SECONDS = 10
_OUTAGES: tuple[type[BaseException], ...] = (DatabaseUnavailable, RedisError, QueueUnavailable, StorageUnavailable)


async def reconcile_once(d: Deps, redis: ArqRedis) -> tuple[list[int], list[int]]:
    """One pass; returns (released abandoned imports, re-enqueued imports)."""
    await delete_gone_workers(d.pool, FORGET_WORKERS_AFTER_SECONDS)
    await delete_expired_uploads(d)
    await idempotency.forget_expired(d.pool, idempotency.KEY_TTL_SECONDS)
    abandoned = await queries.abandoned_imports(d.pool, d.settings.stale_after_seconds)
    abandoned_without_job = set(await missing_jobs(redis, abandoned))
    for import_id in abandoned:
        if import_id not in abandoned_without_job:
            logger.warning("import_id=%s: heartbeat stopped; releasing its job for another worker", import_id)
            await release_job(redis, import_id)
    lost = sorted(
        abandoned_without_job | set(await missing_jobs(redis, await queries.queued_imports(d.pool)))
    )
    just_created = set(await queries.created_within(d.pool, lost, JUST_CREATED_SECONDS)) if lost else set()
    for import_id in lost:
        if import_id in just_created:
            # Most likely the API committed it and is enqueueing it this moment: not a loss.
            logger.info("import_id=%s (just created) has no job in Redis yet; enqueueing it", import_id)
        else:
            logger.warning("import_id=%s has no job in Redis; enqueueing it again", import_id)
        await requeue_import(redis, import_id)
    return abandoned, lost


async def run_reconciler(d: Deps, redis: ArqRedis) -> None:
    """Forever: one pass every `reconcile_every_seconds`; outages of PostgreSQL or Redis are waited out."""
    while True:
        try:
            with translate_db_errors():
                await reconcile_once(d, redis)
        except _OUTAGES:
            logger.warning("reconciler: a dependency is unavailable; trying again later", exc_info=True)
        await asyncio.sleep(d.settings.reconcile_every_seconds)  # the period of a background loop
