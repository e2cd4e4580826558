"""The job queue contract between the API and the worker: names and enqueueing only."""

from __future__ import annotations

from arq.connections import ArqRedis
from redis.exceptions import RedisError

from shared.errors import QueueUnavailable

# Our own queue name, so the service can share a Redis with other arq users.
QUEUE_NAME = "arq:outcome-imports"
RUN_OUTCOME_IMPORT = "run_outcome_import"


def import_job_id(import_id: int) -> str:
    """arq ignores an enqueue whose job id exists, so deriving it from the import makes enqueueing idempotent."""
    return f"outcome-import:{import_id}"


async def enqueue_import(redis: ArqRedis, import_id: int) -> None:
    """Queue the processing of one import; a duplicate enqueue is a no-op. Raises QueueUnavailable."""
    try:
        await redis.enqueue_job(
            RUN_OUTCOME_IMPORT, import_id, _job_id=import_job_id(import_id), _queue_name=QUEUE_NAME
        )
    except (RedisError, OSError) as exc:
        raise QueueUnavailable() from exc
