"""The fast view of an import's status in Redis. PostgreSQL is the truth; this view expires."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)


_FINAL_STATES = ("succeeded", "failed")
# KEYS[1]: the view; ARGV: the new value, its TTL, "1" if it is a view of the import's end. The
# JSON's own quotes are unescaped, so the pattern cannot match text inside a string value.
_PUT_UNLESS_ENDED = """
if ARGV[3] == "0" then
    local old = redis.call("GET", KEYS[1])
    if old and (string.find(old, '"workflow_state":"succeeded"', 1, true)
                or string.find(old, '"workflow_state":"failed"', 1, true)) then
        return 0
    end
end
redis.call("SET", KEYS[1], ARGV[1], "EX", ARGV[2])
return 1
"""


def status_key(import_id: int) -> str:
    return f"outcome-imports:import:{import_id}"


class StatusStore:
    """One Redis string per import: the context it belongs to and its Canvas JSON.

    Writers (API at creation, worker on every change) store the complete OutcomeImport JSON, so a
    status read is one GET. Redis failures never fail a caller: reads fall back to PostgreSQL and a
    lost write is repaired by the next one or by the TTL.
    """

    def __init__(self, redis: Redis, ttl_seconds: int) -> None:
        self._redis = redis
        self._ttl = ttl_seconds
        self._put_unless_ended = redis.register_script(_PUT_UNLESS_ENDED)
        # Reads in flight, by import id: concurrent reads of one import (every poller of a
        # dashboard) share one GET, which is most of what a status request costs this process.
        self._reads: dict[int, asyncio.Future[bytes | None]] = {}

    async def put(self, import_id: int, context: str, body: dict[str, Any]) -> None:
        """Store the import's view, unless it would replace a view of its end with one of before
        it: an import's end is final, and a late write (a stopping worker's progress, sent after
        another worker ran the import to its end) must not bring back `importing`."""
        # "<context>\n<json>": a status read hands the JSON to the client without decoding it.
        value = context + "\n" + json.dumps(body, separators=(",", ":"))
        final = "1" if body.get("workflow_state") in _FINAL_STATES else "0"
        try:
            await self._put_unless_ended(keys=[status_key(import_id)], args=[value, self._ttl, final])
        except (RedisError, OSError):
            logger.warning("status write to Redis failed for import_id=%s", import_id, exc_info=True)

    async def get_raw(self, import_id: int, context: str) -> bytes | None:
        """The cached JSON text if present and of this context, else None (the caller reads PostgreSQL).

        A read that joins one in flight gets what Redis held when that one was sent: at most one
        round trip older than a read of its own.
        """
        read = self._reads.get(import_id)
        if read is None:
            read = asyncio.ensure_future(self._read(import_id))
            self._reads[import_id] = read
            read.add_done_callback(lambda _: self._reads.pop(import_id, None))
        raw = await asyncio.shield(read)  # a caller that goes away does not cancel the others' read
        if raw is None:
            return None
        cached_context, _, body = raw.partition(b"\n")
        return body if cached_context == context.encode() else None

    async def _read(self, import_id: int) -> bytes | None:
        try:
            raw = await self._redis.get(status_key(import_id))
        except (RedisError, OSError):
            logger.warning("status read from Redis failed for import_id=%s", import_id, exc_info=True)
            return None
        return None if raw is None else bytes(raw)

    async def get(self, import_id: int, context: str) -> dict[str, Any] | None:
        """The cached JSON, decoded; see get_raw."""
        raw = await self.get_raw(import_id, context)
        if raw is None:
            return None
        body: dict[str, Any] = json.loads(raw)
        return body

    async def forget(self, import_id: int) -> None:
        try:
            await self._redis.delete(status_key(import_id))
        except (RedisError, OSError):
            logger.warning("status delete in Redis failed for import_id=%s", import_id, exc_info=True)
