"""Canvas-style pagination: `page` / `per_page` parameters and an RFC 5988 `Link` header.

Canvas (lib/api.rb) answers every paginated list with links as absolute URLs that keep the
request's other query parameters; clients are told to treat them as opaque and follow them. The
base of those URLs comes from api/urls.py, never from the Host header.

Two kinds of list:

- **Bookmarked** (keyset) lists, as Canvas's BookmarkedCollection: `page` is `first` or an opaque
  `bookmark:<base64url JSON>` holding the sort key of the last item of the page before, and the
  next page is read from an index right after it. A page costs the same at the end of a list as
  at its start, and nothing is counted. Links: `current`, `next` (unless on the last page),
  `first`; no `prev` or `last` (they would need a count or a backwards walk). A numeric
  `page=N` from an older client still works, read with an offset (its cost grows with N); its
  `next` link is a bookmark. A bookmark that does not decode to a key of this list's shape
  means the first page, as any other invalid `page` does, never a 400 or a 500. A bookmark
  only says where to start in a list the caller may read anyway, so it needs no signature.
- **Numbered** lists (sub-accounts, short): `page=N` with LIMIT/OFFSET and a count, and links
  `current`, `next`, `prev`, `first`, `last`.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from aiohttp import web
from multidict import MultiDict

from api.urls import absolute_url

DEFAULT_PER_PAGE = 10
MAX_PER_PAGE = 100
# Beyond this, page * per_page would overflow PostgreSQL's bigint OFFSET; no list is that long.
_MAX_PAGE = 10**9
# Never echoed into links: a token in a URL ends up in logs and browser histories.
_DROPPED_PARAMS = frozenset({"page", "per_page", "access_token"})
FIRST_PAGE = "first"
BOOKMARK_PREFIX = "bookmark:"
# Value ranges of the key columns a bookmark may hold, as PostgreSQL types them: a value out of
# range would make the query fail, so it makes the bookmark invalid instead.
_INT_RANGES = {"int4": (-(2**31), 2**31 - 1), "int8": (-(2**63), 2**63 - 1)}

Key = tuple[int | str, ...]
T = TypeVar("T")


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


@dataclass(frozen=True, slots=True)
class Keyset:
    """The sort key of a bookmarked list: its columns' types ('int4', 'int8', 'text') and a key
    that sorts before every item (where the first page starts)."""

    types: tuple[str, ...]
    start: Key


@dataclass(frozen=True, slots=True)
class BookmarkPage:
    """A page of a bookmarked list: the items strictly after `after`, skipping `offset` of them
    (non-zero only for an old client's numeric page)."""

    per_page: int
    after: Key
    offset: int
    current: str  # the `page` value of the `current` link

    @property
    def limit(self) -> int:
        """Rows to read: one more than a page tells whether a next page exists, without a count."""
        return self.per_page + 1


def _positive_int(raw: str | None) -> int | None:
    if raw is None or not raw.isascii() or not raw.isdigit() or len(raw) > 10:
        return None
    value = int(raw)
    return value if value > 0 else None


def _per_page(request: web.Request) -> int:
    return min(_positive_int(request.query.get("per_page")) or DEFAULT_PER_PAGE, MAX_PER_PAGE)


def requested_page(request: web.Request) -> Page:
    """The page asked for; like Canvas, a missing or invalid value falls back to the default, never a 400."""
    number = min(_positive_int(request.query.get("page")) or 1, _MAX_PAGE)
    return Page(number, _per_page(request))


def encode_bookmark(key: Key) -> str:
    """The `page` value that starts a list right after the item whose sort key is `key`."""
    text = json.dumps(list(key), ensure_ascii=False, separators=(",", ":"))
    return BOOKMARK_PREFIX + base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _valid(value: Any, kind: str) -> bool:
    if kind == "text":
        if not isinstance(value, str) or "\x00" in value:
            return False
        try:
            value.encode()  # a lone surrogate ("\ud800" in the JSON) cannot be sent to PostgreSQL
        except UnicodeEncodeError:
            return False
        return True
    low, high = _INT_RANGES[kind]
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def decode_bookmark(raw: str, keyset: Keyset) -> Key | None:
    """The key a `bookmark:...` page value holds, or None when it is not a key of this keyset."""
    if not raw.startswith(BOOKMARK_PREFIX):
        return None
    encoded = raw[len(BOOKMARK_PREFIX) :]
    try:
        decoded = base64.b64decode(encoded + "=" * (-len(encoded) % 4), altchars=b"-_", validate=True)
        value = json.loads(decoded.decode(), parse_constant=_reject)
    except (binascii.Error, UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(value, list) or len(value) != len(keyset.types):
        return None
    if not all(_valid(v, kind) for v, kind in zip(value, keyset.types, strict=True)):
        return None
    return tuple(value)


def _reject(constant: str) -> None:
    raise ValueError(f"{constant} is not JSON")


def requested_bookmark(request: web.Request, keyset: Keyset) -> BookmarkPage:
    """The page of a bookmarked list asked for: after a bookmark, a numeric page (an offset, for
    older clients), or else the first page. Never raises: an invalid `page` is the first page."""
    per_page = _per_page(request)
    raw = request.query.get("page", "")
    if (key := decode_bookmark(raw, keyset)) is not None:
        return BookmarkPage(per_page, key, 0, raw)
    if (number := _positive_int(raw)) is not None:
        number = min(number, _MAX_PAGE)
        return BookmarkPage(per_page, keyset.start, (number - 1) * per_page, str(number))
    return BookmarkPage(per_page, keyset.start, 0, FIRST_PAGE)


def split_page(page: BookmarkPage, rows: Sequence[T], key: Callable[[T], Key]) -> tuple[list[T], Key | None]:
    """The page's items out of `page.limit` rows read, and the key to bookmark for the next page
    (None: this is the last page)."""
    items = list(rows[: page.per_page])
    return items, key(items[-1]) if len(rows) > page.per_page else None


def last_page_number(page: Page, total: int) -> int:
    """The number of the last page; an empty list still has one (empty) page."""
    return max(1, -(-total // page.per_page))


def _page_url(request: web.Request, page: str, per_page: int) -> str:
    query: MultiDict[str] = MultiDict((k, v) for k, v in request.query.items() if k not in _DROPPED_PARAMS)
    query.add("page", page)
    query.add("per_page", str(per_page))
    return str(absolute_url(request, request.path, query))


def _links(request: web.Request, rels: list[tuple[str, str]], per_page: int) -> str:
    return ",".join(f'<{_page_url(request, page, per_page)}>; rel="{rel}"' for rel, page in rels)


def link_header(request: web.Request, page: Page, total: int) -> str:
    """The `Link` header value for `page` of a numbered list of `total` items, in Canvas's rel order."""
    last = last_page_number(page, total)
    rels: list[tuple[str, int]] = [("current", page.number)]
    if page.number < last:
        rels.append(("next", page.number + 1))
    if page.number > 1:
        rels.append(("prev", min(page.number - 1, last)))
    rels += [("first", 1), ("last", last)]
    return _links(request, [(rel, str(number)) for rel, number in rels], page.per_page)


def bookmark_link_header(request: web.Request, page: BookmarkPage, next_key: Key | None) -> str:
    """The `Link` header value of a bookmarked list's page: `current`, `next` unless last, `first`."""
    rels = [("current", page.current)]
    if next_key is not None:
        rels.append(("next", encode_bookmark(next_key)))
    rels.append(("first", FIRST_PAGE))
    return _links(request, rels, page.per_page)


def paginated_response(request: web.Request, page: Page, total: int, items: list[dict[str, Any]]) -> web.Response:
    """A JSON array response carrying the numbered page's `Link` header."""
    return web.json_response(items, headers={"Link": link_header(request, page, total)})


def bookmarked_response(
    request: web.Request, page: BookmarkPage, next_key: Key | None, items: list[dict[str, Any]]
) -> web.Response:
    """A JSON array response carrying the bookmarked page's `Link` header."""
    return web.json_response(items, headers={"Link": bookmark_link_header(request, page, next_key)})
