"""Reading request headers safely: what every check of a token or CSRF token reads them with."""

from __future__ import annotations

from aiohttp import web


def header_text(request: web.Request, name: str) -> str:
    """A header's value as text that encodes again: bytes that were not UTF-8 become U+FFFD.

    aiohttp keeps such bytes as lone surrogates, which fail wherever the value is encoded (a digest,
    a Redis key); no token or CSRF token has them, so the value simply does not match.
    """
    value = request.headers.get(name, "")
    return value.encode("utf-8", "surrogateescape").decode("utf-8", "replace") if not value.isascii() else value
