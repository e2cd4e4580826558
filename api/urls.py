"""Absolute URLs the API sends (the root group's 302 `Location`, every `Link` header), never from the Host header.

The `Host` header is the client's to choose: echoing it into a redirect or a `Link` lets anyone
make the service hand out links to another site, which a shared cache then serves to everyone.
So the base is `OUTCOME_IMPORTS_PUBLIC_URL` when set (the address clients use, behind any proxy;
`outcome-imports run` sets it to the URL it serves), and otherwise the address the client's
connection actually reached on this server: right for a direct connection, and harmless (an
internal address) behind a proxy, where the setting belongs.
"""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web
from yarl import URL

from api.deps import DEPS


def _own_address(request: web.Request) -> URL:
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    scheme = "https" if request.secure else "http"
    if not isinstance(sockname, tuple) or len(sockname) < 2:
        return URL.build(scheme=scheme, host="localhost")
    host, port = str(sockname[0]), int(sockname[1])
    return URL.build(scheme=scheme, host=host, port=port)


def absolute_url(request: web.Request, path: str, query: Mapping[str, str] | None = None) -> URL:
    """`path` (and `query`) under the service's public base URL; see the module docstring for which base."""
    public = request.app[DEPS].settings.public_url
    base = URL(public) if public else _own_address(request)
    url = base.with_path(base.path.rstrip("/") + path)
    return url.with_query(query) if query else url
