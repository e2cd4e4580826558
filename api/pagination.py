"""Canvas-style pagination: `page` / `per_page` parameters and an RFC 5988 `Link` header.

Canvas (lib/api.rb) answers every paginated list with links `current`, `next` (unless on the
last page), `prev` (unless on the first), `first` and `last`, as absolute URLs that keep the
request's other query parameters. Clients are told to treat them as opaque and follow them. The
base of those URLs comes from api/urls.py, never from the Host header.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import MultiDict

from api.urls import absolute_url

DEFAULT_PER_PAGE = 10
MAX_PER_PAGE = 100
# Beyond this, page * per_page would overflow PostgreSQL's bigint OFFSET; no list is that long.
_MAX_PAGE = 10**9
# Never echoed into links: a token in a URL ends up in logs and browser histories.
_DROPPED_PARAMS = frozenset({"page", "per_page", "access_token"})


@dataclass(frozen=True, slots=True)
class Page:
    number: int  # from 1
    per_page: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.per_page

    @property
    def limit(self) -> int:
        return self.per_page


def _positive_int(raw: str | None) -> int | None:
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 10:
        return None
    value = int(raw)
    return value if value > 0 else None


def requested_page(request: web.Request) -> Page:
    """The page asked for; like Canvas, a missing or invalid value falls back to the default, never a 400."""
    number = min(_positive_int(request.query.get("page")) or 1, _MAX_PAGE)
    per_page = min(_positive_int(request.query.get("per_page")) or DEFAULT_PER_PAGE, MAX_PER_PAGE)
    return Page(number, per_page)


def last_page_number(page: Page, total: int) -> int:
    """The number of the last page; an empty list still has one (empty) page."""
    return max(1, -(-total // page.per_page))


def _page_url(request: web.Request, number: int, per_page: int) -> str:
    query: MultiDict[str] = MultiDict((k, v) for k, v in request.query.items() if k not in _DROPPED_PARAMS)
    query.add("page", str(number))
    query.add("per_page", str(per_page))
    return str(absolute_url(request, request.path, query))


def link_header(request: web.Request, page: Page, total: int) -> str:
    """The `Link` header value for `page` of a list of `total` items, in Canvas's rel order."""
    last = last_page_number(page, total)
    rels: list[tuple[str, int]] = [("current", page.number)]
    if page.number < last:
        rels.append(("next", page.number + 1))
    if page.number > 1:
        rels.append(("prev", min(page.number - 1, last)))
    rels += [("first", 1), ("last", last)]
    return ",".join(f'<{_page_url(request, number, page.per_page)}>; rel="{rel}"' for rel, number in rels)


def paginated_response(request: web.Request, page: Page, total: int, items: list[dict[str, Any]]) -> web.Response:
    """A JSON array response carrying the page's `Link` header."""
    return web.json_response(items, headers={"Link": link_header(request, page, total)})
