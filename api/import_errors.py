"""Every error of an import (an extension of Canvas's API, which shows only the first 25):
`GET .../outcome_imports/:id/errors` as JSON pages (bookmarked: api/pagination.py), and
`.../errors.csv` (or `Accept: text/csv`) as one CSV streamed from a cursor.

Each error carries its row, the column to blame where there is one, a stable machine code, the
Canvas message, and the offending value where the message quotes it (shared/error_catalogue.py).
An import stores at most OUTCOME_IMPORTS_MAX_STORED_ERRORS; `X-Error-Count` says how many it
found and `X-Errors-Not-Stored` how many of those are missing here. Errors are written with the
import's transaction, so they appear when it ends.
"""

from __future__ import annotations

import csv
import io
from typing import Any

from aiohttp import web

from api.auth import authorize_context
from api.deps import DEPS
from api.imports import CONTEXTS, import_of_context
from api.pagination import Keyset, bookmarked_response, requested_bookmark, split_page
from shared.db import import_errors as pages
from shared.db import imports as queries
from shared.db.errors import translate_db_errors
from shared.error_catalogue import classify

routes = web.RouteTableDef()

CSV_COLUMNS = ("row", "column", "code", "message", "value")
UNCATALOGUED = "other"
# Bookmarks of the JSON pages (api/pagination.py): (row, id) of a page's last error.
BY_ROW = Keyset(("int4", "int8"), (pages.START_ROW, pages.START_ID))
# Spreadsheets run a cell that starts with one of these as a formula; a hostile file must not.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def error_json(row: int, message: str) -> dict[str, Any]:
    found = classify(message)
    return {
        "row": row,
        "column": None if found is None else found.column,
        "code": UNCATALOGUED if found is None else found.code,
        "message": message,
        "value": None if found is None else found.value,
    }


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def _count_headers(stored: int, found: int) -> dict[str, str]:
    return {"X-Error-Count": str(found), "X-Errors-Not-Stored": str(max(found - stored, 0))}


async def show_errors(request: web.Request) -> web.StreamResponse:
    deps = request.app[DEPS]
    context, _ = await authorize_context(request)
    import_id = await import_of_context(request, deps, context)
    if request.path.endswith(".csv") or "text/csv" in request.headers.get("Accept", ""):
        return await _csv_report(request, import_id)
    page = requested_bookmark(request, BY_ROW)
    after_row, after_id = page.after
    with translate_db_errors():
        stored, found = await queries.get_error_counts(deps.pool, import_id)
        rows = await pages.list_errors_page(
            deps.pool, import_id, int(after_row), int(after_id), page.limit, page.offset
        )
    errors, next_key = split_page(page, rows, lambda e: (e.row, e.id))
    response = bookmarked_response(request, page, next_key, [error_json(e.row, e.message) for e in errors])
    response.headers.update(_count_headers(stored, found))
    return response


async def _csv_report(request: web.Request, import_id: int) -> web.StreamResponse:
    deps = request.app[DEPS]
    with translate_db_errors():
        stored, found = await queries.get_error_counts(deps.pool, import_id)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="outcome-import-{import_id}-errors.csv"',
            **_count_headers(stored, found),
        }
    )
    await response.prepare(request)
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    with translate_db_errors():
        async with deps.pool.acquire() as conn, conn.transaction():
            async for row, message in queries.iterate_errors(conn, import_id):
                body = error_json(row, message)
                writer.writerow([_csv_cell(body[column]) for column in CSV_COLUMNS])
                if buffer.tell() >= 64 * 1024:
                    await response.write(buffer.getvalue().encode())
                    buffer.seek(0)
                    buffer.truncate()
    await response.write(buffer.getvalue().encode())
    await response.write_eof()
    return response


for _prefix in CONTEXTS:
    routes.get(_prefix + "/outcome_imports/{id}/errors")(show_errors)
    routes.get(_prefix + "/outcome_imports/{id}/errors.csv")(show_errors)
