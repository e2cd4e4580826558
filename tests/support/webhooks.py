"""A webhook receiver in the test process: a real aiohttp server on loopback that records every
request, answers what a test queues, and verifies signatures with the Standard Webhooks package."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook as StandardWebhook

HANG = -1  # an answer the receiver never gives: it holds the request until the test ends


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    """An HTTP endpoint that records every request and answers the statuses queued in `answers`
    (200 once they run out)."""

    url: str = ""
    received: list[Received] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(Received(request.path_qs, dict(request.headers), await request.read()))
        async with self.arrived:
            self.arrived.notify_all()
        status = self.answers.pop(0) if self.answers else 200
        if status == HANG:
            await self.release.wait()
            status = 200
        return web.Response(status=status, text=f"answer {status}")

    async def wait_for(self, count: int, deadline_seconds: float = 10) -> None:
        async with self.arrived:
            try:
                await asyncio.wait_for(self.arrived.wait_for(lambda: len(self.received) >= count), deadline_seconds)
            except TimeoutError:
                raise AssertionError(f"{len(self.received)} requests received, expected {count}") from None


@asynccontextmanager
async def serving_receiver() -> AsyncIterator[Receiver]:
    """A receiver listening on 127.0.0.1 at `url` for the block's duration."""
    found = Receiver()
    app = web.Application()
    app.router.add_post("/hook", found.handle)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    found.url = f"http://{host}:{port}/hook"
    try:
        yield found
    finally:
        found.release.set()
        await runner.cleanup()


def verified(secret: str, received: Received) -> dict[str, Any]:
    """The payload, after the Standard Webhooks package verified its signature and timestamp."""
    payload: dict[str, Any] = StandardWebhook(secret).verify(received.body, received.headers)
    return payload
