"""The API's own description: `GET /api/v1/openapi.json` (OpenAPI 3.1) and `GET /api/docs` (an HTML index).

The description is a static file, `api/openapi.json`, kept next to the code it describes;
tests/integration/test_openapi.py checks that it names every route of the app and nothing else.
No authentication: the document says nothing a client could not learn by calling the routes.
The page loads nothing from elsewhere (no CDN: the service must work without internet access).
"""

from __future__ import annotations

import asyncio
import json
from html import escape
from pathlib import Path
from typing import Any

from aiohttp import web

routes = web.RouteTableDef()

OPENAPI_PATH = Path(__file__).with_name("openapi.json")
OPENAPI_URL = "/api/v1/openapi.json"
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


@routes.get(OPENAPI_URL)
async def openapi_document(request: web.Request) -> web.StreamResponse:
    """The file as it is: aiohttp streams it, with ETag/Last-Modified and conditional requests."""
    return web.FileResponse(OPENAPI_PATH)


def load_openapi() -> dict[str, Any]:
    """The parsed description; raises OSError / ValueError when the file is missing or malformed."""
    document: dict[str, Any] = json.loads(OPENAPI_PATH.read_text(encoding="utf-8"))
    return document


def render_index(document: dict[str, Any]) -> str:
    """An HTML page of every operation of `document`, grouped by first tag, in the document's tag order."""
    info = document.get("info", {})
    sections: dict[str, list[str]] = {}
    for path, item in document.get("paths", {}).items():
        for method in _METHODS:
            operation = item.get(method)
            if operation is None:
                continue
            tag = (operation.get("tags") or ["Other"])[0]
            public = " <small>(no token)</small>" if operation.get("security") == [] else ""
            sections.setdefault(tag, []).append(
                f"<li><code>{escape(method.upper())} {escape(path)}</code>"
                f" &mdash; {escape(operation.get('summary', ''))}{public}</li>"
            )
    order = [tag["name"] for tag in document.get("tags", [])]
    ordered = sorted(sections.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order))
    body = "\n".join(f"<h2>{escape(tag)}</h2>\n<ul>\n" + "\n".join(items) + "\n</ul>" for tag, items in ordered)
    title = escape(f"{info.get('title', 'API')} {info.get('version', '')}".strip())
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f"<title>{title}</title>\n</head>\n<body>\n<h1>{title}</h1>\n"
        f"<p>{escape(info.get('summary', ''))}</p>\n"
        f'<p>The full description: <a href="{OPENAPI_URL}">{OPENAPI_URL}</a> (OpenAPI 3.1).</p>\n'
        f"{body}\n</body>\n</html>\n"
    )


@routes.get("/api/docs")
async def docs_page(request: web.Request) -> web.Response:
    document = await asyncio.to_thread(load_openapi)
    return web.Response(text=render_index(document), content_type="text/html")
