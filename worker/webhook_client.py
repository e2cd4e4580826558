"""The HTTP side of a webhook delivery: one POST that cannot be turned against our own network.

- Only http(s) URLs, checked again before every attempt (shared/webhooks.check_url).
- Every name is resolved by RefusingResolver, which refuses the whole name when any of its
  addresses is private, loopback, link-local or otherwise special-purpose; aiohttp then connects
  to exactly the addresses it checked (no second lookup, and no DNS cache), so a name that
  changes its answer between a check and the connection (DNS rebinding) gains nothing. A URL
  whose host is an address is checked as it stands (aiohttp does not resolve those).
- No redirect is followed (a 3xx is a failed attempt), no proxy from the environment is used.
- Timeouts for connecting and for the whole attempt; at most RESPONSE_BYTES of the answer are
  read, undecoded (no decompression), and the connection is closed after every attempt.
"""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from shared.db.webhooks import AttemptResult
from shared.errors import WebhookAddressRefused, WebhookUrlRefused
from shared.settings import Settings
from shared.webhooks import check_address, check_url

# What the delivery log keeps of an answer; the rest is never read.
RESPONSE_BYTES = 1024
CONNECT_TIMEOUT_SECONDS = 5
USER_AGENT = "outcome-imports-webhooks/1"


class RefusingResolver(AbstractResolver):
    """aiohttp's resolver, refusing names that lead to addresses deliveries must not reach."""

    def __init__(self, *, allow_private: bool) -> None:
        self._resolver = DefaultResolver()
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._resolver.resolve(host, port, family)
        for result in results:
            check_address(result["host"], allow_private=self._allow_private)
        return results

    async def close(self) -> None:
        await self._resolver.close()


@asynccontextmanager
async def open_webhook_session(settings: Settings) -> AsyncIterator[aiohttp.ClientSession]:
    """The client session every delivery of this process uses (see the module's docstring)."""
    connector = aiohttp.TCPConnector(
        resolver=RefusingResolver(allow_private=settings.webhook_allow_private),
        use_dns_cache=False,
        force_close=True,
    )
    timeout = aiohttp.ClientTimeout(
        total=settings.webhook_timeout_seconds,
        connect=min(CONNECT_TIMEOUT_SECONDS, settings.webhook_timeout_seconds),
    )
    async with aiohttp.ClientSession(
        connector=connector,
        timeout=timeout,
        trust_env=False,
        auto_decompress=False,
        headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
    ) as session:
        yield session


@dataclass(frozen=True, slots=True)
class PostResult:
    attempt: AttemptResult
    retry_after_seconds: int | None  # the answer's Retry-After, in seconds, if it gave one


def _retry_after(value: str | None) -> int | None:
    """Retry-After in seconds; its HTTP-date form is ignored."""
    if value is None or not value.strip().isdigit() or len(value.strip()) > 9:
        return None
    return int(value.strip())


def _text(raw: bytes) -> str:
    # PostgreSQL text holds no NUL.
    return raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


async def post(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: dict[str, str], *, settings: Settings
) -> PostResult:
    """POST `body` to `url` once; every failure (refused address, timeout, connection error, non-2xx
    answer) is a result, never an exception."""
    started = time.monotonic()

    def result(
        status: int | None, error: str | None, answer: bytes = b"", retry_after: int | None = None
    ) -> PostResult:
        latency_ms = round((time.monotonic() - started) * 1000)
        return PostResult(AttemptResult(status, latency_ms, error, _text(answer) if answer else None), retry_after)

    try:
        check_url(url, allow_private=settings.webhook_allow_private)
        async with session.post(url, data=body, headers=headers, allow_redirects=False) as response:
            answer = await response.content.read(RESPONSE_BYTES)
            status = response.status
            error = None if 200 <= status < 300 else f"HTTP {status}"
            return result(status, error, answer, _retry_after(response.headers.get("Retry-After")))
    except (WebhookUrlRefused, WebhookAddressRefused) as exc:
        return result(None, f"refused: the URL {exc}")
    except TimeoutError:
        return result(None, f"timed out (limit {settings.webhook_timeout_seconds} s)")
    except aiohttp.ClientError as exc:
        return result(None, f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}")
