"""The throttling middleware: Canvas's 403 `Rate Limit Exceeded` and its X-Request-Cost / X-Rate-Limit-Remaining."""

from __future__ import annotations

import time

from aiohttp import web

from api.auth import bearer_token
from api.deps import DEPS
from api.errors import Handler

RATE_LIMIT_EXCEEDED = "403 Forbidden (Rate Limit Exceeded)\n"


@web.middleware
async def throttle_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    throttle = request.app[DEPS].throttle
    token = bearer_token(request)
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
