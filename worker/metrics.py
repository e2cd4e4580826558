"""`--metrics-port`: this worker process's own metrics for Prometheus, on a port of its own.

The fleet's figures (rows, imports, queues) are on every API replica's /metrics; what only this
process knows is its CPU, memory, garbage collector and how many jobs it is running now.
"""

from __future__ import annotations

import threading
from wsgiref.simple_server import WSGIServer

from arq import Worker
from prometheus_client import (
    CollectorRegistry,
    Gauge,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    start_http_server,
)


def serve_worker_metrics(worker: Worker, port: int, host: str) -> tuple[WSGIServer, threading.Thread]:
    """Serve the metrics on `host`:`port` (0: any free port) from a daemon thread until the process
    ends; returns the server (`server_port`, `shutdown()`) and its thread. Raises OSError when the
    port cannot be bound."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    jobs = Gauge("outcome_imports_worker_jobs_running", "Jobs this worker process is running now", registry=registry)
    # Read at scrape time from the server's thread: len() of a dict is atomic, and arq keeps a
    # job's task in job_tasks exactly while the job runs.
    jobs.set_function(lambda: len(worker.job_tasks))
    return start_http_server(port, addr=host, registry=registry)
