"""Serving the app until SIGTERM or SIGINT, then stopping gracefully.

aiohttp's own `run_app` stops reading from every connection as soon as it begins to shut down,
so an upload still being sent at that moment can never complete (aiohttp's RequestHandler drops
the data it receives once closing). A rolling deploy must not cost a district its upload, so this
process stops in three steps instead:

1. stop listening (new connections are refused; a load balancer sends them to another replica);
2. let the requests in flight finish, uploads included, for at most `drain_seconds`, answering
   each with `Connection: close` so that no keep-alive client starts another one here;
3. then aiohttp's shutdown, which closes what is left, and the app's cleanup (pools, clients).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class InFlight:
    """Counts requests being handled; tells when none is left once draining."""

    def __init__(self) -> None:
        self.count = 0
        self.draining = False
        self._idle = asyncio.Event()
        self._idle.set()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        self.count += 1
        self._idle.clear()
        try:
            response = await handler(request)
            if self.draining:
                response.force_close()
            return response
        finally:
            self.count -= 1
            if self.count == 0:
                self._idle.set()

    async def wait_idle(self) -> None:
        """Return once no request is in flight."""
        await self._idle.wait()


IN_FLIGHT = web.AppKey("in_flight", InFlight)


async def serve(app: web.Application, host: str, port: int, drain_seconds: float, **runner_kwargs: object) -> None:
    """Serve `app` (made by api.app.create_app, which counts its requests) until SIGTERM or SIGINT."""
    in_flight = app[IN_FLIGHT]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(app, handle_signals=False, **runner_kwargs)  # type: ignore[arg-type]
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        logger.info("serving on http://%s:%s", host, port)
        await stop.wait()
        await site.stop()
        in_flight.draining = True
        began = time.monotonic()
        if in_flight.count:
            logger.info("stopping: %s request(s) in flight, waiting up to %s s", in_flight.count, drain_seconds)
        try:
            async with asyncio.timeout(drain_seconds):
                await in_flight.wait_idle()
            logger.info("stopping: no request in flight after %.1f s", time.monotonic() - began)
        except TimeoutError:
            logger.warning(
                "stopping: %s request(s) still in flight after %s s; closing them", in_flight.count, drain_seconds
            )
    finally:
        await runner.cleanup()
