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
import json
import logging
import signal
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from api.access_log import RedactingAccessLogger
from shared.settings import Settings

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


class ServerLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's server logger, for which a client's mistake is no error of ours.

    aiohttp logs a request it cannot parse (a malformed request line or header, a bad chunked
    body) and a connection the client dropped at ERROR with a traceback; those become one
    WARNING line with the reason. Everything else passes through unchanged.
    """

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if level >= logging.ERROR and isinstance(exc, HttpProcessingError | ConnectionError):
            reason = " ".join(str(exc).split())[:300]
            self.logger.warning("%s: %s: %s", str(msg) % args if args else msg, type(exc).__name__, reason)
            return
        super().log(level, msg, *args, **kwargs)

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        return msg, kwargs


def server_options(settings: Settings) -> dict[str, Any]:
    """aiohttp's per-connection options (AppRunner / TestServer keyword arguments) for `settings`.

    aiohttp arms its keep-alive timer when a connection opens and after each answer, and closes
    the connection if no complete request head has arrived when it fires: that is the header
    timeout (its default, an hour, let 1-byte-a-second clients hold connections for ever).
    """
    return {
        "access_log_class": RedactingAccessLogger,
        "keepalive_timeout": settings.header_timeout_seconds,
        "logger": ServerLog(logging.getLogger("aiohttp.server")),
    }


_REFUSED_BODY = json.dumps(
    {"errors": [{"message": "The server is at its connection limit; try again later."}]}
).encode()
_REFUSED = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json; charset=utf-8\r\n"
    b"Retry-After: 5\r\nConnection: close\r\nContent-Length: " + str(len(_REFUSED_BODY)).encode() + b"\r\n\r\n"
) + _REFUSED_BODY


class _Refused(asyncio.Protocol):
    """A connection over the limit: a 503 in Canvas's error shape, then closed, without reading a byte."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.WriteTransport)
        transport.write(_REFUSED)
        transport.close()


class BoundedSite(web.BaseSite):
    """A TCP site that holds at most `max_connections` open connections; further ones get a 503.

    Each open connection costs a handler and buffers; without a bound, slow or idle clients
    could take all of a process's memory or file descriptors.
    """

    def __init__(self, runner: web.BaseRunner, host: str, port: int, max_connections: int) -> None:
        super().__init__(runner)
        self._host, self._port, self._max_connections = host, port, max_connections
        self._refused = 0
        self._last_refusal_log = 0.0

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self.port}"

    @property
    def port(self) -> int:
        """The port listened on (the one the OS chose when asked for 0)."""
        if self._server is None or not isinstance(self._server, asyncio.Server) or not self._server.sockets:
            return self._port
        return int(self._server.sockets[0].getsockname()[1])

    def _protocol(self) -> asyncio.BaseProtocol:
        server = self._runner.server
        assert server is not None
        if len(server.connections) < self._max_connections:
            return server()
        self._refused += 1
        now = time.monotonic()
        if now - self._last_refusal_log >= 10:  # one line per 10 s however many are refused
            logger.warning("%s connection(s) refused: %s open, the limit", self._refused, self._max_connections)
            self._refused, self._last_refusal_log = 0, now
        return _Refused()

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(self._protocol, self._host, self._port, reuse_address=True)


async def serve(app: web.Application, host: str, port: int, settings: Settings) -> None:
    """Serve `app` (made by api.app.create_app, which counts its requests) until SIGTERM or SIGINT."""
    in_flight = app[IN_FLIGHT]
    drain_seconds = settings.shutdown_drain_seconds
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    runner = web.AppRunner(app, handle_signals=False, **server_options(settings))
    await runner.setup()
    try:
        site = BoundedSite(runner, host, port, settings.max_connections)
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
