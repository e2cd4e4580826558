"""FleetMetrics against a real Redis: what the writers add up, what the readers return, and writers
that never fail their caller when Redis is away."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from redis.asyncio import Redis

from shared.errors import QueueUnavailable
from shared.fleet_metrics import (
    MINUTE_TTL_SECONDS,
    QUEUE_WAIT_BUCKETS,
    RUN_SECONDS_BUCKETS,
    FleetMetrics,
    ThroughputMinute,
    minute_key,
)
from shared.models import ImportState

# Nothing listens on port 1: every command fails at once with a refused connection.
UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


def _minute() -> int:
    return int(time.time() // 60)


async def _commands(redis: Redis) -> int:
    """Commands Redis has processed (INFO counts itself)."""
    stats = await redis.info("stats")
    return int(stats["total_commands_processed"])


async def test_counters_add_up_per_root_account_and_state(redis: Redis) -> None:
    fleet = FleetMetrics(redis)
    await fleet.record_upload(1, 300)
    await fleet.record_upload(1, 200)
    await fleet.record_upload(7, 50)
    await fleet.record_rows(1, 40)
    await fleet.record_rows(1, 2)
    await fleet.record_rows(7, 0)  # nothing to count
    await fleet.record_finished(1, ImportState.succeeded, 3.0, row_errors=5)
    await fleet.record_finished(1, ImportState.failed, None, row_errors=0)
    await fleet.record_finished(7, ImportState.succeeded, 12.5, row_errors=1)

    snapshot = await fleet.snapshot()
    assert snapshot.uploads == {1: 2, 7: 1}
    assert snapshot.upload_bytes == {1: 500, 7: 50}
    assert snapshot.rows_processed == {1: 42}
    assert snapshot.row_errors == {1: 5, 7: 1}
    assert snapshot.finished == {
        (1, ImportState.succeeded): 1,
        (1, ImportState.failed): 1,
        (7, ImportState.succeeded): 1,
    }
    # The import that never started has no run time.
    assert (snapshot.run_seconds.count, snapshot.run_seconds.sum) == (2, 15.5)


async def test_histograms_count_each_observation_in_its_bucket_and_expose_them_cumulated(redis: Redis) -> None:
    fleet = FleetMetrics(redis)
    for seconds in (0.05, 0.1, 0.3, 7.0, 3600.0, 5000.0):
        await fleet.record_queue_wait(seconds)

    histogram = (await fleet.snapshot()).queue_wait
    assert histogram.bounds == QUEUE_WAIT_BUCKETS
    assert histogram.count == 6
    assert histogram.sum == pytest.approx(8607.45)
    cumulative = dict(histogram.cumulative())
    # A bound holds the values equal to it (Prometheus's `le`).
    assert (cumulative[0.1], cumulative[0.5], cumulative[5.0], cumulative[15.0]) == (2, 3, 3, 4)
    assert (cumulative[3600.0], cumulative[float("inf")]) == (5, 6)
    assert list(cumulative) == [*QUEUE_WAIT_BUCKETS, float("inf")]
    assert (await fleet.snapshot()).run_seconds.bounds == RUN_SECONDS_BUCKETS


async def test_a_write_is_one_transaction_sent_at_once_and_touches_only_its_keys(redis: Redis) -> None:
    fleet = FleetMetrics(redis)
    before = await _commands(redis)
    await fleet.record_finished(3, ImportState.succeeded, 2.0, row_errors=1)
    # MULTI, 4 HINCRBYs, EXPIRE, HINCRBYFLOAT, EXEC (and the INFO that counts them).
    assert await _commands(redis) - before == 8 + 1
    keys = {key.decode() for key in await redis.keys("*")}
    minutes = {key for key in keys if key.startswith("outcome-imports:metrics:minute:")}
    assert len(minutes) == 1
    assert keys - minutes == {
        "outcome-imports:metrics:finished",
        "outcome-imports:metrics:row_errors",
        "outcome-imports:metrics:run_seconds",
    }


async def test_throughput_has_one_entry_per_minute_oldest_first_ending_now(redis: Redis) -> None:
    fleet = FleetMetrics(redis)
    # Writes and reads within one minute of the clock: a run that straddles a minute's turn runs again.
    for _ in range(2):
        await redis.flushdb()
        now = _minute()
        # Two minutes ago, written as a writer of that minute would have.
        await redis.hset(minute_key(now - 2), mapping={"rows:1": 10, "rows:2": 5, "succeeded:1": 1, "failed:2": 1})
        await fleet.record_rows(1, 30)
        await fleet.record_rows(2, 4)
        await fleet.record_finished(2, ImportState.failed, 1.0, row_errors=0)
        every = await fleet.throughput(None, minutes=5)
        only_one = await fleet.throughput([1], minutes=5)
        nobody = await fleet.throughput([99], minutes=5)
        if _minute() == now:
            break

    def at(minute: int) -> datetime:
        return datetime.fromtimestamp(minute * 60, UTC)

    assert [entry.minute for entry in every] == [at(m) for m in range(now - 4, now + 1)]
    assert every == [
        ThroughputMinute(at(now - 4), rows=0, succeeded=0, failed=0),
        ThroughputMinute(at(now - 3), rows=0, succeeded=0, failed=0),
        ThroughputMinute(at(now - 2), rows=15, succeeded=1, failed=1),
        ThroughputMinute(at(now - 1), rows=0, succeeded=0, failed=0),
        ThroughputMinute(at(now), rows=34, succeeded=0, failed=1),
    ]
    assert [(e.rows, e.succeeded, e.failed) for e in only_one] == [
        (0, 0, 0),
        (0, 0, 0),
        (10, 1, 0),
        (0, 0, 0),
        (30, 0, 0),
    ]
    assert all((e.rows, e.succeeded, e.failed) == (0, 0, 0) for e in nobody)
    assert len(await fleet.throughput(None)) == 60


async def test_minute_buckets_expire_after_two_hours(redis: Redis) -> None:
    await FleetMetrics(redis).record_rows(1, 1)
    (key,) = await redis.keys("outcome-imports:metrics:minute:*")
    assert MINUTE_TTL_SECONDS - 5 <= await redis.ttl(key) <= MINUTE_TTL_SECONDS == 2 * 3600
    # The totals are counters for as long as Redis keeps them.
    assert await redis.ttl("outcome-imports:metrics:rows") == -1


async def test_a_final_state_is_required() -> None:
    fleet = FleetMetrics(Redis.from_url(UNREACHABLE_REDIS))
    with pytest.raises(ValueError, match="importing"):
        await fleet.record_finished(1, ImportState.importing, 1.0, row_errors=0)


async def test_writers_log_and_carry_on_when_redis_is_away(caplog: pytest.LogCaptureFixture) -> None:
    redis = Redis.from_url(UNREACHABLE_REDIS)
    fleet = FleetMetrics(redis)
    with caplog.at_level(logging.WARNING, logger="shared.fleet_metrics"):
        await fleet.record_upload(1, 10)
        await fleet.record_rows(1, 10)
        await fleet.record_queue_wait(1.0)
        await fleet.record_finished(1, ImportState.succeeded, 1.0, row_errors=0)
    assert [r.getMessage() for r in caplog.records] == [
        "metrics write to Redis failed (upload)",
        "metrics write to Redis failed (rows)",
        "metrics write to Redis failed (queue wait)",
        "metrics write to Redis failed (finished import)",
    ]
    with pytest.raises(QueueUnavailable):
        await fleet.snapshot()
    with pytest.raises(QueueUnavailable):
        await fleet.throughput(None)
    await redis.aclose()
