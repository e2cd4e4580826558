"""The throttling middleware: Canvas's 403 `Rate Limit Exceeded` and its X-Request-Cost / X-Rate-Limit-Remaining.

A request is charged to its API token, or else, on the API's routes, to the session of the browser
that sent it (the console and the dashboard call the API with their session's cookie): a session
has a bucket of its own, as a token has, so calls made with the cookie are throttled too. The
pages and their files are not charged.
"""

from __future__ import annotations

import time

from aiohttp import web

from api.auth import bearer_token
from api.deps import DEPS
from api.errors import Handler
from api.sessions import COOKIE_NAME

RATE_LIMIT_EXCEEDED = "403 Forbidden (Rate Limit Exceeded)\n"
_API_PREFIX = "/api/"


def _bucket(request: web.Request) -> str | None:
    """What the request is charged to: its token, else its session id (on API routes), else nothing."""
    token = bearer_token(request)
    if token is not None:
        return token
    if request.path.startswith(_API_PREFIX):
        # Hashed with the rest into the Redis key (shared/throttle.py), so the id is never stored.
        session_id = request.cookies.get(COOKIE_NAME)
        return f"session:{session_id}" if session_id else None
    return None


@web.middleware
async def throttle_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    throttle = request.app[DEPS].throttle
    token = _bucket(request)
    if token is None or not throttle.enabled:
        return await handler(request)
    admission = await throttle.admit(token, time.time())
    if not admission.allowed:
        return web.Response(
            status=403,
            text=RATE_LIMIT_EXCEEDED,
            headers={"X-Rate-Limit-Remaining": f"{admission.remaining:.1f}", "X-Request-Cost": "0"},
        )
    started = time.perf_counter()
    # The error middleware sits inside this one, so every outcome arrives here as a response.
    response = await handler(request)
    # Canvas charges the time a request took; a streamed response is charged up to its headers.
    cost = time.perf_counter() - started
    settled = await throttle.settle(token, time.time(), cost)
    if not response.prepared:
        response.headers["X-Request-Cost"] = f"{cost:.6f}"
        response.headers["X-Rate-Limit-Remaining"] = f"{settled.remaining:.1f}"
    return response
