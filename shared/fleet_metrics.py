"""Fleet-wide counters in Redis: what every API and worker process adds up, read by any API replica.

A Prometheus counter kept in one process would count only that process's share and restart at
zero with it; these live in Redis, so every replica's /metrics shows the same fleet totals, and
a restart of any process loses nothing. Each figure is a Redis hash:

- counters: one hash per counter, a field per root account (`finished`: per root account and state);
- histograms: one hash per histogram, a field per bucket (observations in that bucket only, not
  cumulative, so an observation is one HINCRBY) plus `sum`; the count is the buckets' total;
- throughput: one hash per minute, fields `rows:<root>`, `succeeded:<root>`, `failed:<root>`,
  expiring two hours after its last write. Minutes are those of the writer's clock.

Every write is one pipelined MULTI/EXEC (one round trip; a reader never sees half of it). Writers
never fail their caller: a Redis failure is logged and the figure is lost, as counters in a
crashed process would be. Readers raise QueueUnavailable.
"""

from __future__ import annotations

import logging
import time
from bisect import bisect_left
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.exceptions import RedisError

from shared.errors import QueueUnavailable
from shared.models import ImportState

logger = logging.getLogger(__name__)

_PREFIX = "outcome-imports:metrics:"
ROWS_KEY = _PREFIX + "rows"  # field: root account id
ROW_ERRORS_KEY = _PREFIX + "row_errors"
FINISHED_KEY = _PREFIX + "finished"  # field: "<root account id>:<state>"
UPLOADS_KEY = _PREFIX + "uploads"
UPLOAD_BYTES_KEY = _PREFIX + "upload_bytes"
QUEUE_WAIT_KEY = _PREFIX + "queue_wait"  # field: a bucket's upper bound ("+Inf" above all), or "sum"
RUN_SECONDS_KEY = _PREFIX + "run_seconds"
_COUNTER_KEYS = (ROWS_KEY, ROW_ERRORS_KEY, FINISHED_KEY, UPLOADS_KEY, UPLOAD_BYTES_KEY)
_SUM_FIELD = "sum"
_INF_FIELD = "+Inf"
# Long enough for the operations page's hour of throughput, short enough that Redis holds ~120 minutes.
MINUTE_TTL_SECONDS = 2 * 3600

# Upper bounds in seconds: a wait is usually well under a second and alarming past minutes; a run
# goes from seconds (small files) to the job timeout (6 h).
QUEUE_WAIT_BUCKETS = (0.1, 0.5, 1.0, 2.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0)
RUN_SECONDS_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 300.0, 900.0, 1800.0, 3600.0, 10800.0, 21600.0)


def minute_key(minute: int) -> str:
    """The throughput hash of one minute, counted in whole minutes since the Unix epoch."""
    return f"{_PREFIX}minute:{minute}"


@dataclass(frozen=True, slots=True)
class ThroughputMinute:
    minute: datetime  # UTC, start of the minute
    rows: int
    succeeded: int
    failed: int


@dataclass(frozen=True, slots=True)
class HistogramCounts:
    bounds: tuple[float, ...]  # upper bounds, ascending; the last bucket (above them all) is +Inf
    counts: tuple[int, ...]  # observations per bucket, not cumulative: len(bounds) + 1 of them
    sum: float

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, observations at or below it), as Prometheus exposes buckets; the last bound is inf."""
        total = 0
        buckets = []
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            total += count
            buckets.append((bound, total))
        return buckets


@dataclass(frozen=True, slots=True)
class FleetCounters:
    """Every fleet-wide counter and histogram, as of one read."""

    rows_processed: Mapping[int, int]  # by root account id
    row_errors: Mapping[int, int]
    finished: Mapping[tuple[int, ImportState], int]  # by (root account id, succeeded | failed)
    uploads: Mapping[int, int]
    upload_bytes: Mapping[int, int]
    queue_wait: HistogramCounts
    run_seconds: HistogramCounts


class FleetMetrics:
    """The fleet-wide counters, histograms and per-minute throughput; see the module docstring."""

    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def record_upload(self, root_account_id: int, size_bytes: int) -> None:
        """Count one stored upload of `size_bytes` bytes. Never raises on a Redis failure."""
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(UPLOADS_KEY, str(root_account_id), 1)
            pipe.hincrby(UPLOAD_BYTES_KEY, str(root_account_id), size_bytes)
            await self._write(pipe, "upload")

    async def record_rows(self, root_account_id: int, rows: int) -> None:
        """Count `rows` data rows processed (each row once per attempt that gets through it), in the
        total and in this minute's throughput. Never raises on a Redis failure."""
        if rows <= 0:
            return
        key = minute_key(int(time.time() // 60))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(ROWS_KEY, str(root_account_id), rows)
            pipe.hincrby(key, f"rows:{root_account_id}", rows)
            pipe.expire(key, MINUTE_TTL_SECONDS)
            await self._write(pipe, "rows")

    async def record_queue_wait(self, seconds: float) -> None:
        """Observe how long an import waited from its creation to the start of its first attempt.
        Never raises on a Redis failure."""
        async with self._redis.pipeline(transaction=True) as pipe:
            _observe(pipe, QUEUE_WAIT_KEY, QUEUE_WAIT_BUCKETS, seconds)
            await self._write(pipe, "queue wait")

    async def record_finished(
        self, root_account_id: int, state: ImportState, run_seconds: float | None, row_errors: int
    ) -> None:
        """Count an import that ended in `state` (succeeded or failed) with `row_errors` row errors;
        observe `run_seconds` (start of its last attempt to its end) unless None (it never started).
        Also counts in this minute's throughput. Raises ValueError for a state that is not final;
        never raises on a Redis failure."""
        if not state.finished:
            raise ValueError(f"not a final state: {state.value}")
        key = minute_key(int(time.time() // 60))
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hincrby(FINISHED_KEY, f"{root_account_id}:{state.value}", 1)
            pipe.hincrby(ROW_ERRORS_KEY, str(root_account_id), row_errors)
            pipe.hincrby(key, f"{state.value}:{root_account_id}", 1)
            pipe.expire(key, MINUTE_TTL_SECONDS)
            if run_seconds is not None:
                _observe(pipe, RUN_SECONDS_KEY, RUN_SECONDS_BUCKETS, run_seconds)
            await self._write(pipe, "finished import")

    async def throughput(self, root_account_ids: Collection[int] | None, minutes: int = 60) -> list[ThroughputMinute]:
        """Rows processed and imports finished per minute: exactly `minutes` entries, oldest first,
        the last being the current minute (so far); only the given root accounts, or all with None.
        One round trip. Raises QueueUnavailable."""
        now = int(time.time() // 60)
        span = range(now - minutes + 1, now + 1)
        async with self._redis.pipeline(transaction=False) as pipe:
            for minute in span:
                pipe.hgetall(minute_key(minute))
            hashes = await self._read(pipe)
        wanted = None if root_account_ids is None else {str(id_) for id_ in root_account_ids}
        result = []
        for minute, fields in zip(span, hashes, strict=True):
            totals = {"rows": 0, "succeeded": 0, "failed": 0}
            for field, value in fields.items():
                kind, _, root = _text(field).partition(":")
                if kind in totals and (wanted is None or root in wanted):
                    totals[kind] += int(value)
            result.append(ThroughputMinute(datetime.fromtimestamp(minute * 60, UTC), **totals))
        return result

    async def snapshot(self) -> FleetCounters:
        """Every counter and histogram, read at one instant (one round trip). Raises QueueUnavailable."""
        async with self._redis.pipeline(transaction=True) as pipe:
            for key in (*_COUNTER_KEYS, QUEUE_WAIT_KEY, RUN_SECONDS_KEY):
                pipe.hgetall(key)
            rows, row_errors, finished, uploads, upload_bytes, queue_wait, run_seconds = await self._read(pipe)
        by_state: dict[tuple[int, ImportState], int] = {}
        for field, value in finished.items():
            root, _, state = _text(field).partition(":")
            by_state[int(root), ImportState(state)] = int(value)
        return FleetCounters(
            rows_processed=_by_root(rows),
            row_errors=_by_root(row_errors),
            finished=by_state,
            uploads=_by_root(uploads),
            upload_bytes=_by_root(upload_bytes),
            queue_wait=_histogram(QUEUE_WAIT_BUCKETS, queue_wait),
            run_seconds=_histogram(RUN_SECONDS_BUCKETS, run_seconds),
        )

    async def _write(self, pipe: Pipeline, what: str) -> None:
        try:
            await pipe.execute()
        except (RedisError, OSError):
            logger.warning("metrics write to Redis failed (%s)", what, exc_info=True)

    async def _read(self, pipe: Pipeline) -> list[dict[bytes | str, bytes | str]]:
        try:
            hashes: list[dict[bytes | str, bytes | str]] = await pipe.execute()
        except (RedisError, OSError) as exc:
            raise QueueUnavailable() from exc
        return hashes


def _observe(pipe: Pipeline, key: str, bounds: Sequence[float], value: float) -> None:
    pipe.hincrby(key, _bucket_field(bounds, value), 1)
    pipe.hincrbyfloat(key, _SUM_FIELD, value)


def _bucket_field(bounds: Sequence[float], value: float) -> str:
    """The field of the smallest bucket holding `value` (Prometheus buckets are `value <= bound`)."""
    index = bisect_left(bounds, value)
    return _INF_FIELD if index == len(bounds) else repr(bounds[index])


def _histogram(bounds: tuple[float, ...], fields: Mapping[bytes | str, bytes | str]) -> HistogramCounts:
    counts = [0] * (len(bounds) + 1)
    total = 0.0
    for field, value in fields.items():
        name = _text(field)
        if name == _SUM_FIELD:
            total = float(value)
        else:
            # Through the writer's bisection (float("+Inf") is above every bound), so counts stored
            # under the bounds of an earlier release land in the bucket that holds them now.
            counts[bisect_left(bounds, float(name))] += int(value)
    return HistogramCounts(bounds, tuple(counts), total)


def _by_root(fields: Mapping[bytes | str, bytes | str]) -> dict[int, int]:
    return {int(field): int(value) for field, value in fields.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
