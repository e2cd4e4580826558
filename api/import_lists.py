"""`GET /api/v1/{accounts|courses}/:id/outcome_imports` (an extension: Canvas has no list of a
context's imports): the context's imports newest first, as Canvas's OutcomeImport JSON, in bookmarked pages
(api/pagination.py) with a `Link` header. Authorized like the other Outcome Imports routes:
whoever may import there.
"""

from __future__ import annotations

from aiohttp import web

from api.auth import authorize_context
from api.deps import DEPS
from api.imports import CONTEXTS
from api.pagination import Keyset, bookmarked_response, requested_bookmark, split_page
from shared.db import import_lists as queries
from shared.db.errors import translate_db_errors

routes = web.RouteTableDef()

NEWEST_FIRST = Keyset(("int8",), (queries.NEWEST,))


async def list_imports(request: web.Request) -> web.Response:
    context, _ = await authorize_context(request)
    page = requested_bookmark(request, NEWEST_FIRST)
    (before_id,) = page.after
    pool = request.app[DEPS].pool
    with translate_db_errors():
        rows = await queries.list_context_imports(pool, context, int(before_id), page.limit, page.offset)
        imports, next_key = split_page(page, rows, lambda i: (i.id,))
        errors = await queries.first_errors_of(pool, [i.id for i in imports])
    return bookmarked_response(request, page, next_key, [i.as_canvas_json(errors[i.id]) for i in imports])


for _prefix in CONTEXTS:
    routes.get(f"{_prefix}/outcome_imports")(list_imports)
