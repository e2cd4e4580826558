"""Headers on every dashboard response: a strict Content-Security-Policy and no caching of pages."""

from __future__ import annotations

from aiohttp import web

PREFIX = "/dashboard"
# No inline script or style anywhere (uPlot sets styles through the CSSOM, which CSP allows),
# nothing loaded from elsewhere, no framing, forms post only to us.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
_STATIC_PREFIX = PREFIX + "/static/"


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """An `on_response_prepare` signal handler; leaves responses outside the dashboard alone."""
    path = request.path
    if path != PREFIX and not path.startswith(PREFIX + "/"):
        return
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    # Pages and session answers are per person and short-lived; assets revalidate by ETag, so a
    # new release is picked up on the next load.
    response.headers["Cache-Control"] = "no-cache" if path.startswith(_STATIC_PREFIX) else "no-store"
