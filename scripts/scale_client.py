"""scale_test.py's HTTP client: every request goes through the load balancer and is counted, and the
answers a client may retry are retried a bounded number of times and counted apart from errors.

Retryable answers (the README's "Scale test" lists them):
- 502, 503 or 504 from the load balancer (its own HTML page: no API process answered in time);
- 503 with `Retry-After` from the API (a dependency away; the body is the API's JSON error);
- the connection closed or refused before an answer (aiohttp's ClientConnectionError).
Anything else that is not the expected status is an error, as is a retryable answer on the last try.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

MAX_TRIES = 5
RETRY_BACKOFF_SECONDS = 0.25
LOAD_BALANCER_STATUSES = (502, 503, 504)
FINAL_STATES = ("succeeded", "failed")


class ClientFailure(Exception):
    """A request failed in a way a client may not retry (or failed on every try)."""


@dataclass(frozen=True, slots=True)
class Event:
    at: float  # time.monotonic()
    kind: str  # upload, status, provisioning, operations
    outcome: str  # "ok", "retried: <reason>", "error: <what>"
    seconds: float


@dataclass
class Traffic:
    """Every request's outcome, with its time, so a phase (or the restarts) can be read out of it."""

    events: list[Event] = field(default_factory=list)

    def add(self, kind: str, outcome: str, started: float) -> None:
        self.events.append(Event(started, kind, outcome, time.monotonic() - started))

    def summary(self, since: float = 0.0, until: float = float("inf")) -> dict[str, Any]:
        """Per kind: requests, answered, retried (by reason) and errors (by what), within [since, until)."""
        kinds: dict[str, dict[str, Any]] = {}
        for event in self.events:
            if not since <= event.at < until:
                continue
            figures = kinds.setdefault(event.kind, {"tries": 0, "ok": 0, "retried": Counter(), "errors": Counter()})
            figures["tries"] += 1
            if event.outcome == "ok":
                figures["ok"] += 1
            elif event.outcome.startswith("retried: "):
                figures["retried"][event.outcome.removeprefix("retried: ")] += 1
            else:
                figures["errors"][event.outcome.removeprefix("error: ")] += 1
        return {
            kind: {**f, "retried": dict(f["retried"]), "errors": dict(f["errors"])} for kind, f in sorted(kinds.items())
        }


def classify(status: int, body: bytes, headers: Any) -> tuple[str, bool]:
    """Why an unexpected answer came, and whether a client may retry it."""
    try:
        json.loads(body)
    except ValueError:
        return f"{status} from the load balancer", status in LOAD_BALANCER_STATUSES
    if status == 503 and "Retry-After" in headers:
        return "503 from the API with Retry-After", True
    return f"{status} from the API", False


@dataclass
class Client:
    """Requests to the load balancer (a session with its base URL and the admin token)."""

    session: aiohttp.ClientSession
    traffic: Traffic

    async def call(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: Callable[[], aiohttp.FormData] | None = None,
        expect: tuple[int, ...] = (200,),
    ) -> Any:
        """The decoded JSON of an expected answer; raises ClientFailure (the failure is counted)."""
        for attempt in range(1, MAX_TRIES + 1):
            started = time.monotonic()
            last = attempt == MAX_TRIES
            try:
                data = form() if form else None  # a FormData is consumed by one request
                async with self.session.request(method, path, json=json_body, data=data) as resp:
                    body = await resp.read()
                    status, headers = resp.status, resp.headers
            except aiohttp.ClientConnectionError as exc:
                reason = f"connection error ({type(exc).__name__})"
                self.traffic.add(kind, f"{'error' if last else 'retried'}: {reason}", started)
                if last:
                    raise ClientFailure(f"{method} {path}: {reason} on every one of {MAX_TRIES} tries") from exc
                await asyncio.sleep(RETRY_BACKOFF_SECONDS * attempt)  # a client's backoff before its retry
                continue
            if status in expect:
                self.traffic.add(kind, "ok", started)
                return json.loads(body)
            reason, retryable = classify(status, body, headers)
            if retryable and not last:
                self.traffic.add(kind, f"retried: {reason}", started)
                await asyncio.sleep(RETRY_BACKOFF_SECONDS * attempt)  # a client's backoff before its retry
                continue
            self.traffic.add(kind, f"error: {reason}", started)
            raise ClientFailure(f"{method} {path} answered {status}: {body[:300]!r}")
        raise AssertionError("unreachable: the last try returns or raises")

    async def upload(self, context_id: int, data: bytes, file_name: str) -> dict[str, Any]:
        def form() -> aiohttp.FormData:
            payload = aiohttp.FormData()
            payload.add_field("attachment", data, filename=file_name, content_type="text/csv")
            return payload

        created: dict[str, Any] = await self.call(
            "upload", "POST", f"/api/v1/accounts/{context_id}/outcome_imports", form=form
        )
        return created

    async def wait_final(
        self, context_id: int, import_id: int, interval: float, deadline: float
    ) -> dict[str, Any] | None:
        """Poll the import's status until it is final; None if `deadline` (monotonic) passes first."""
        path = f"/api/v1/accounts/{context_id}/outcome_imports/{import_id}"
        while time.monotonic() < deadline:
            status: dict[str, Any] = await self.call("status", "GET", path)
            if status["workflow_state"] in FINAL_STATES:
                return status
            await asyncio.sleep(interval)  # a client polling for the result; the deadline bounds it
        return None
