"""`GET .../outcome_export`: a context's outcome tree as an Outcomes CSV that re-imports to itself.

The file is what the importer reads (spec §4, §5): the named columns, then `ratings` and the
rating cells as (points, description) pairs. Rows come parents first (groups in tree order,
each outcome after all of its groups), each outcome once with every parent in `parent_guids`.
Objects without a vendor_guid are written as `canvas_outcome:<id>` / `canvas_outcome_group:<id>`,
which the importer resolves back to the same objects (spec §5.1).

Known limit of the format: the root cannot be named in `parent_guids`, so an outcome linked
both at the root and in a group is written with the group only.

Memory: rows come from a server-side cursor in one REPEATABLE READ transaction (a consistent
snapshot, and a width computed on the same data) and leave in chunks of about 64 KiB.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from decimal import Decimal

from aiohttp import web

from api.auth import authorize_context
from api.deps import DEPS
from shared.db import outcomes as queries
from shared.db.errors import translate_db_errors
from shared.db.outcomes import ExportRow

logger = logging.getLogger(__name__)

COLUMNS = (
    "vendor_guid",
    "object_type",
    "title",
    "description",
    "display_name",
    "calculation_method",
    "calculation_int",
    "mastery_points",
    "parent_guids",
    "workflow_state",
)
RATINGS = "ratings"
LINE_END = "\r\n"  # RFC 4180; the importer takes the record separator from the first line
_CHUNK_BYTES = 64 * 1024
_NEEDS_QUOTES = frozenset(',"\r\n')


def format_number(value: float) -> str:
    """Digits the importer parses back to the same float: 3.0 -> `3`, 2.5 -> `2.5`, never an exponent
    (1e-07 -> `0.0000001`) and never a thousands separator (a `,` would be dropped by the importer)."""
    if float(value).is_integer():
        return str(int(value))
    return format(Decimal(repr(float(value))), "f")


def csv_field(value: str) -> str:
    """RFC 4180 quoting as the strict importer needs it: quoted when the value holds a separator,
    a quote or a line break, or has leading/trailing whitespace (kept verbatim only when quoted)."""
    if value and (not _NEEDS_QUOTES.isdisjoint(value) or value != value.strip()):
        return '"' + value.replace('"', '""') + '"'
    return value


def header_cells(max_tiers: int) -> list[str]:
    """The column names, then `ratings` and blank cells up to the widest row (Excel-style padding)."""
    width = row_width(max_tiers)
    return [*COLUMNS, RATINGS, *([""] * (width - len(COLUMNS) - 1))]


def row_width(max_tiers: int) -> int:
    return len(COLUMNS) + max(1, 2 * max_tiers)


def row_cells(row: ExportRow, width: int) -> list[str]:
    """One record, padded with empty (null) cells to `width`; the importer drops trailing nulls."""
    cells = [
        row.vendor_guid,
        row.object_type,
        row.title,
        row.description or "",
        row.display_name or "",
        row.calculation_method or "",
        "" if row.calculation_int is None else str(row.calculation_int),
        "" if row.mastery_points is None else format_number(row.mastery_points),
        row.parent_guids or "",
        "active",
    ]
    for rating in row.ratings:
        cells += [format_number(rating.points), rating.description or ""]
    return cells + [""] * (width - len(cells))


def csv_line(cells: list[str]) -> str:
    return ",".join(csv_field(c) for c in cells) + LINE_END


async def csv_chunks(rows: AsyncIterator[ExportRow], max_tiers: int) -> AsyncIterator[bytes]:
    """The whole file as UTF-8 chunks of about 64 KiB; holds one chunk at a time."""
    width = row_width(max_tiers)
    buffer = [csv_line(header_cells(max_tiers))]
    size = len(buffer[0])
    async for row in rows:
        line = csv_line(row_cells(row, width))
        buffer.append(line)
        size += len(line)
        if size >= _CHUNK_BYTES:
            yield "".join(buffer).encode("utf-8")
            buffer, size = [], 0
    if buffer:
        yield "".join(buffer).encode("utf-8")


async def export_outcomes(request: web.Request) -> web.StreamResponse:
    """Stream the context's active groups and outcomes as `text/csv; charset=utf-8`."""
    context, _ = await authorize_context(request)
    file_name = f"outcomes-{context.type.value.lower()}-{context.id}.csv"
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{file_name}"',
        }
    )
    try:
        with translate_db_errors():
            async with (
                request.app[DEPS].pool.acquire() as conn,
                conn.transaction(isolation="repeatable_read", readonly=True),
            ):
                max_tiers = await queries.max_export_ratings(conn, context)
                await response.prepare(request)
                async for chunk in csv_chunks(queries.export_rows(conn, context), max_tiers):
                    await response.write(chunk)
    except Exception:
        if not response.prepared:
            raise  # nothing sent yet: the error middleware answers as usual
        # The status line is gone; only a broken connection (no final chunk) tells the client
        # the file is incomplete. The usual cause is the client hanging up.
        logger.warning("outcome export of %s ended early", context.key, exc_info=True)
        if request.transport is not None:
            request.transport.close()
        return response
    await response.write_eof()
    return response
