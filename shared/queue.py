"""The job queue contract between the API and the worker: names, enqueueing, and handing turns on."""

from __future__ import annotations

import logging

import asyncpg
from arq.connections import ArqRedis, RedisSettings, create_pool
from arq.constants import in_progress_key_prefix, job_key_prefix, result_key_prefix
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from shared.db.turns import lock_turns, next_in_line
from shared.errors import QueueUnavailable

logger = logging.getLogger(__name__)

# Our own queue name, so the service can share a Redis with other arq users.
QUEUE_NAME = "arq:outcome-imports"
RUN_OUTCOME_IMPORT = "run_outcome_import"


def redis_settings(url: str, *, command_retries: int) -> RedisSettings:
    """arq's connection settings for `url`, reconnecting by itself after a Redis restart.

    Each command is retried `command_retries` times with exponential backoff (0.1 s doubling, at most
    2 s between tries) when the connection drops, so a short restart is invisible to callers.
    """
    settings = RedisSettings.from_dsn(url)
    settings.retry = Retry(ExponentialBackoff(cap=2, base=0.1), command_retries)
    # OSError too: redis-py retries (re)connecting only on errors in this list, and a refused
    # connection surfaces as a bare ConnectionRefusedError there, not as a redis ConnectionError.
    settings.retry_on_error = [RedisConnectionError, RedisTimeoutError, OSError]
    settings.conn_timeout = 2
    return settings


async def open_redis(url: str, *, command_retries: int, socket_timeout: float | None = None) -> ArqRedis:
    """arq's Redis client for `url` (see redis_settings), whose every command waits at most
    `socket_timeout` seconds for Redis (then redis's TimeoutError, a RedisError); None, for ever.
    Raises what arq's create_pool raises when Redis cannot be reached."""
    redis = await create_pool(redis_settings(url, command_retries=command_retries))
    if socket_timeout is not None:
        # arq's settings have no socket timeout: the pool makes its connections with it from now
        # on, and the one arq's start-up ping opened without it is dropped.
        pool = redis.connection_pool
        pool.connection_kwargs["socket_timeout"] = socket_timeout
        await pool.disconnect()
        pool.reset()  # type: ignore[no-untyped-call]
    return redis


def import_job_id(import_id: int) -> str:
    """arq ignores an enqueue whose job id exists, so deriving it from the import makes enqueueing idempotent."""
    return f"outcome-import:{import_id}"


async def enqueue_import(redis: ArqRedis, import_id: int) -> None:
    """Queue the processing of one import; a duplicate enqueue is a no-op. Raises QueueUnavailable."""
    try:
        await redis.enqueue_job(RUN_OUTCOME_IMPORT, import_id, _job_id=import_job_id(import_id), _queue_name=QUEUE_NAME)
    except (RedisError, OSError) as exc:
        raise QueueUnavailable() from exc


async def missing_jobs(redis: ArqRedis, import_ids: list[int]) -> list[int]:
    """The imports among `import_ids` that have no arq job in Redis (e.g. Redis lost its data)."""
    if not import_ids:
        return []
    async with redis.pipeline(transaction=False) as pipe:
        for import_id in import_ids:
            pipe.exists(job_key_prefix + import_job_id(import_id))
        found = await pipe.execute()
    return [import_id for import_id, exists in zip(import_ids, found, strict=True) if not exists]


async def release_job(redis: ArqRedis, import_id: int) -> None:
    """Let any worker pick the import's job up again now, although a (dead) worker had started it.

    arq marks a started job with an in-progress key that lives for the whole job timeout; the job
    itself stays queued until it completes, so dropping that key is all a re-run needs. A job whose
    holder is in fact alive cannot run twice: the import's advisory lock makes the second wait.
    """
    await redis.delete(in_progress_key_prefix + import_job_id(import_id))


async def requeue_import(redis: ArqRedis, import_id: int) -> None:
    """Enqueue an import whose job PostgreSQL says is unfinished but Redis no longer holds.

    arq refuses a job id while the result of an earlier run of it is kept; that run is over, so its
    result is dropped first.
    """
    try:
        await redis.delete(result_key_prefix + import_job_id(import_id))
    except (RedisError, OSError) as exc:
        raise QueueUnavailable() from exc
    await enqueue_import(redis, import_id)


async def hand_on_turn(pool: asyncpg.Pool, redis: ArqRedis, root_account_id: int) -> int | None:
    """Give the next waiting import of the root account its job, once an import of it has ended
    (call it after that end is committed); returns its id, if any (shared/db/turns.py).

    With Redis away nothing is lost: the workers' reconciler enqueues first-in-line imports
    that have no job.
    """
    async with pool.acquire() as conn, conn.transaction():
        await lock_turns(conn, root_account_id)
        import_id = await next_in_line(conn, root_account_id)
    if import_id is not None:
        try:
            # Its job may have ended earlier ("not its turn", "paused"): requeue drops that result.
            await requeue_import(redis, import_id)
        except QueueUnavailable:
            logger.warning("import_id=%s: Redis unavailable; the reconciler will enqueue it", import_id)
    return import_id
