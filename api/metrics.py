"""`GET /metrics` for Prometheus, and the middleware that counts this process's HTTP requests.

One page, three sources: the fleet's gauges (PostgreSQL) and counters (Redis), the same on every
replica; this process's HTTP requests; and prometheus-client's process, platform and GC collectors.
Everything is registered on the app's own registry, so two apps in one process (tests) never share.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from collections.abc import Iterator
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, GCCollector, Histogram, PlatformCollector, ProcessCollector
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest

from api.deps import DEPS, Deps
from api.errors import Handler, invalid_token, resource_not_found, unauthenticated
from api.headers import header_text
from shared.db.errors import translate_db_errors
from shared.db.fleet import FleetGauges, fleet_gauges
from shared.fleet_metrics import FleetCounters, HistogramCounts
from shared.models import ImportState

routes = web.RouteTableDef()

# Label values must stay few: any other method (aiohttp's pure-Python parser accepts any token) is "other".
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED_ROUTE = "unmatched"


@dataclass(frozen=True, slots=True)
class FleetFigures:
    gauges: FleetGauges
    counters: FleetCounters


class _FleetCollector:
    """Exposes the figures of the latest fleet read; the handler sets them right before rendering."""

    def __init__(self) -> None:
        self.figures: FleetFigures | None = None

    def collect(self) -> Iterator[Metric]:
        if self.figures is not None:
            yield from _gauge_families(self.figures.gauges)
            yield from _counter_families(self.figures.counters)


class ApiMetrics:
    """This app's registry and its fleet read, shared by concurrent scrapes and cached
    `cache_seconds`, so any number of scrapers cost PostgreSQL and Redis one read per period."""

    def __init__(self, cache_seconds: float) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.requests = Counter(
            "outcome_imports_http_requests",
            "HTTP requests answered by this API process",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.durations = Histogram(
            "outcome_imports_http_request_duration_seconds",
            "Time from a request's arrival to the end of its response, in this API process",
            ["route", "method"],
            registry=self.registry,
        )
        self._fleet = _FleetCollector()
        self.registry.register(self._fleet)
        self._cache_seconds = cache_seconds
        self._figures: FleetFigures | None = None
        self._read_at = 0.0  # time.monotonic() when the read of _figures began
        self._reading: asyncio.Future[FleetFigures] | None = None

    async def fleet_figures(self, deps: Deps) -> FleetFigures:
        """The fleet's figures, at most `cache_seconds` old; concurrent callers share one read.
        Raises DatabaseUnavailable or QueueUnavailable (nothing is cached then)."""
        if self._figures is not None and time.monotonic() - self._read_at < self._cache_seconds:
            return self._figures
        if self._reading is None:
            self._reading = asyncio.ensure_future(self._read(deps))
            self._reading.add_done_callback(self._read_done)
        # A scraper that goes away does not cancel the read the others wait for.
        return await asyncio.shield(self._reading)

    async def _read(self, deps: Deps) -> FleetFigures:
        started = time.monotonic()
        with translate_db_errors():
            gauges, counters = await asyncio.gather(
                fleet_gauges(deps.pool, deps.settings.stale_after_seconds), deps.fleet.snapshot()
            )
        self._figures, self._read_at = FleetFigures(gauges, counters), started
        return self._figures

    def _read_done(self, read: asyncio.Future[FleetFigures]) -> None:
        self._reading = None
        if not read.cancelled():
            # Every waiter got the outcome through its shield; mark a failure as seen, or asyncio
            # logs "exception was never retrieved" when all of them went away.
            read.exception()

    def render(self, figures: FleetFigures) -> bytes:
        """The registry in Prometheus's text format, with `figures` as the fleet's."""
        # No await between setting and rendering: a concurrent scrape cannot swap the figures.
        self._fleet.figures = figures
        return generate_latest(self.registry)

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        method = method if method in _METHODS else "other"
        self.requests.labels(route, method, str(status)).inc()
        self.durations.labels(route, method).observe(seconds)


METRICS = web.AppKey("metrics", ApiMetrics)


def route_template(request: web.Request) -> str:
    """The route's template (`/api/v1/accounts/{account_id}`), never the raw path: labels stay few."""
    resource = request.match_info.route.resource
    return UNMATCHED_ROUTE if resource is None else resource.canonical


@web.middleware
async def http_metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Counts and times every request with the status the client gets; outermost, so it sees the
    error middleware's answers and the throttle's 403s too."""
    metrics = request.app[METRICS]
    started = time.perf_counter()
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # redirects pass the error middleware as exceptions
        metrics.observe_request(route_template(request), request.method, exc.status, time.perf_counter() - started)
        raise
    metrics.observe_request(route_template(request), request.method, response.status, time.perf_counter() - started)
    return response


def _authorize(request: web.Request, token: str | None) -> None:
    if not token:
        raise resource_not_found()  # the route does not exist until an operator sets a token
    scheme, _, value = header_text(request, "Authorization").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise unauthenticated()
    # Digests of equal length, compared in constant time: the answer says nothing about the token.
    given = hashlib.sha256(value.strip().encode()).digest()
    if not hmac.compare_digest(given, hashlib.sha256(token.encode()).digest()):
        raise invalid_token()


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    """Prometheus's text format; only with `Authorization: Bearer <metrics token>` (404 while unset)."""
    deps = request.app[DEPS]
    _authorize(request, deps.settings.metrics_token)
    api_metrics = request.app[METRICS]
    body = api_metrics.render(await api_metrics.fleet_figures(deps))
    response = web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_PLAIN_0_0_4})
    response.enable_compression()
    return response


def _gauge_families(gauges: FleetGauges) -> Iterator[Metric]:
    imports = GaugeMetricFamily(
        "outcome_imports_imports", "Imports by root account and state", labels=["root_account_id", "state"]
    )
    for (root, state), count in sorted(gauges.imports.items()):
        imports.add_metric([str(root), state], count)
    yield imports
    roots = sorted({root for root, _ in gauges.imports})
    per_root = [
        ("outcome_imports_waiting_imports", "Imports waiting for a worker (state created)", ImportState.created),
        ("outcome_imports_running_imports", "Imports being processed (state importing)", ImportState.importing),
    ]
    for name, documentation, state in per_root:
        family = GaugeMetricFamily(name, documentation, labels=["root_account_id"])
        for root in roots:
            family.add_metric([str(root)], gauges.imports.get((root, state.value), 0))
        yield family
    oldest = GaugeMetricFamily(
        "outcome_imports_oldest_wait_seconds",
        "Age of the oldest waiting import (0 when none waits)",
        labels=["root_account_id"],
    )
    for root in roots:
        oldest.add_metric([str(root)], gauges.oldest_wait_seconds.get(root, 0.0))
    yield oldest
    paused = GaugeMetricFamily(
        "outcome_imports_queue_paused", "1 for each root account whose queue is paused", labels=["root_account_id"]
    )
    for root in gauges.paused_root_account_ids:
        paused.add_metric([str(root)], 1)
    yield paused
    yield GaugeMetricFamily(
        "outcome_imports_workers_live", "Workers whose heartbeat is younger than stale-after", value=gauges.workers.live
    )
    yield GaugeMetricFamily(
        "outcome_imports_worker_slots",
        "Imports live workers can run at once (sum of max_jobs)",
        value=gauges.workers.slots,
    )
    yield GaugeMetricFamily(
        "outcome_imports_worker_running_imports",
        "Running imports held by live workers",
        value=gauges.running.held_by_live_workers,
    )
    yield GaugeMetricFamily(
        "outcome_imports_stalled_imports",
        "Running imports whose heartbeat is older than stale-after (the reaper re-runs them)",
        value=gauges.running.stalled,
    )


def _counter_families(counters: FleetCounters) -> Iterator[Metric]:
    per_root = [
        ("outcome_imports_rows_processed", "Data rows processed, all attempts", counters.rows_processed),
        ("outcome_imports_row_errors", "Row errors of finished imports", counters.row_errors),
        ("outcome_imports_upload_bytes", "Bytes of stored uploads", counters.upload_bytes),
        ("outcome_imports_uploads", "Stored uploads", counters.uploads),
    ]
    for name, documentation, values in per_root:
        family = CounterMetricFamily(name, documentation, labels=["root_account_id"])
        for root, value in sorted(values.items()):
            family.add_metric([str(root)], value)
        yield family
    finished = CounterMetricFamily(
        "outcome_imports_finished", "Imports finished, by final state", labels=["root_account_id", "state"]
    )
    for (root, state), count in sorted(counters.finished.items()):
        finished.add_metric([str(root), state.value], count)
    yield finished
    yield _histogram_family(
        "outcome_imports_queue_wait_seconds", "From an import's creation to its first start", counters.queue_wait
    )
    yield _histogram_family(
        "outcome_imports_run_seconds", "From the start of an import's last attempt to its end", counters.run_seconds
    )


def _histogram_family(name: str, documentation: str, histogram: HistogramCounts) -> HistogramMetricFamily:
    return HistogramMetricFamily(
        name,
        documentation,
        buckets=[(_le(bound), count) for bound, count in histogram.cumulative()],
        sum_value=histogram.sum,
    )


def _le(bound: float) -> str:
    """A bucket bound as prometheus-client writes its own (`0.1`, `1.0`, `+Inf`)."""
    return "+Inf" if bound == float("inf") else repr(bound)
