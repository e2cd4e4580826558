"""Per-token request throttling in Canvas's style: a leaky bucket kept in Redis.

Every request first pays an up-front cost (so a burst of parallel requests is stopped before their
real cost is known), then, when it finishes, its real cost (seconds spent) replaces the up-front
one. The bucket leaks `outflow` units per second; a request that would fill it past the high-water
mark is refused. Canvas: doc/api/throttling.md, lib/request_throttle.rb.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

# KEYS[1] bucket; ARGV: now (s), outflow per s, amount to add, high-water mark, ttl (s), check (1/0).
# Returns {allowed (1/0), level after}. Atomic, so concurrent API processes share one bucket.
_LEAK_AND_ADD = """
local level = tonumber(redis.call('HGET', KEYS[1], 'level') or '0')
local last = tonumber(redis.call('HGET', KEYS[1], 'last') or ARGV[1])
local now = tonumber(ARGV[1])
level = math.max(0, level - (now - last) * tonumber(ARGV[2]))
local amount = tonumber(ARGV[3])
if ARGV[6] == '1' and level + amount > tonumber(ARGV[4]) then
  redis.call('HSET', KEYS[1], 'level', tostring(level), 'last', tostring(now))
  redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
  return {0, tostring(level)}
end
level = math.max(0, level + amount)
redis.call('HSET', KEYS[1], 'level', tostring(level), 'last', tostring(now))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[5]))
return {1, tostring(level)}
"""


def throttle_key(token: str) -> str:
    # Never the token itself: keys show up in Redis tooling and dumps.
    return f"outcome-imports:throttle:{hashlib.sha256(token.encode()).hexdigest()}"


@dataclass(frozen=True, slots=True)
class ThrottleSettings:
    high_water_mark: float  # 0 disables throttling
    outflow_per_second: float
    up_front_cost: float


@dataclass(frozen=True, slots=True)
class Admission:
    allowed: bool
    remaining: float


class Throttle:
    """Leaky buckets per token. Fails open: when Redis is away nobody is throttled."""

    def __init__(self, redis: Redis, settings: ThrottleSettings) -> None:
        self._redis = redis
        self._settings = settings
        self._script = redis.register_script(_LEAK_AND_ADD)

    @property
    def enabled(self) -> bool:
        return self._settings.high_water_mark > 0

    async def _run(self, token: str, now: float, amount: float, check: bool) -> Admission:
        s = self._settings
        ttl = int(s.high_water_mark / max(s.outflow_per_second, 0.001)) + 60
        try:
            allowed, level = await self._script(
                keys=[throttle_key(token)],
                args=[now, s.outflow_per_second, amount, s.high_water_mark, ttl, 1 if check else 0],
            )
        except (RedisError, OSError):
            logger.warning("throttle unavailable (Redis); letting the request through")
            return Admission(True, s.high_water_mark)
        return Admission(bool(allowed), max(s.high_water_mark - float(level), 0.0))

    async def admit(self, token: str, now: float) -> Admission:
        """Charge the up-front cost, or refuse if that would overflow the bucket."""
        return await self._run(token, now, self._settings.up_front_cost, check=True)

    async def settle(self, token: str, now: float, cost: float) -> Admission:
        """Replace the up-front cost with the request's real cost."""
        return await self._run(token, now, cost - self._settings.up_front_cost, check=False)
