"""`GET .../outcome_export`: a context's outcome tree as an Outcomes CSV that re-imports to itself.

The file is what the importer reads (spec §4, §5): the named columns, then `ratings` and the
rating cells as (points, description) pairs. Rows come parents first (groups in tree order,
each outcome after all of its groups), each outcome once with every parent in `parent_guids`.
Objects without a vendor_guid are written as `canvas_outcome:<id>` / `canvas_outcome_group:<id>`,
which the importer resolves back to the same objects (spec §5.1).

Known limit of the format: the root cannot be named in `parent_guids`, so an outcome linked
both at the root and in a group is written with the group only.

PostgreSQL writes the records (shared/db/export.py); this module adds the header and sends them
in chunks of about 64 KiB, so memory stays flat whatever the size of the context.

Slow readers: each export reads on a connection of its own, opened for it outside the pool, so a
client reading at a few KB/s holds no connection that status reads and uploads need. An API
process streams at most OUTCOME_IMPORTS_MAX_CONCURRENT_EXPORTS exports at once (further ones get
a 503 with Retry-After), and cuts off one whose client takes nothing for
OUTCOME_IMPORTS_EXPORT_WRITE_TIMEOUT_SECONDS.

`format=case_json` sends a CASE package instead (api/case_export.py), through the same machinery;
any other format is a 400.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Final

import asyncpg
from aiohttp import web

from api.auth import authorize_context
from api.case_export import CASE_JSON, case_chunks
from api.deps import DEPS
from api.errors import ApiError, errors_body
from shared.db.errors import translate_db_errors
from shared.db.export import ExportLine, export_lines
from shared.db.pool import connection_settings

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
BUSY_MESSAGE = "Too many exports are running; try again later."
CSV: Final = "csv"
FORMATS: Final = (CSV, CASE_JSON)


class ExportSlots:
    """The exports an API process streams at once, up to `limit`."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.in_use = 0

    @contextmanager
    def take(self) -> Iterator[None]:
        """Hold a slot for the block; raises a 503 ApiError (Retry-After: 5) when none is free."""
        if self.in_use >= self.limit:
            raise ApiError(503, errors_body(BUSY_MESSAGE), {"Retry-After": "5"})
        self.in_use += 1
        try:
            yield
        finally:
            self.in_use -= 1


EXPORT_SLOTS = web.AppKey("export_slots", ExportSlots)


def header_line(max_tiers: int) -> bytes:
    """The column names, then `ratings` and blank cells up to the widest row (Excel-style padding)."""
    blanks = max(1, 2 * max_tiers) - 1
    return (",".join((*COLUMNS, RATINGS)) + "," * blanks + LINE_END).encode()


async def csv_chunks(lines: AsyncIterator[ExportLine]) -> AsyncIterator[bytes]:
    """The whole file (header, then `lines`) in chunks of about 64 KiB; holds one chunk at a time."""
    buffer = bytearray()
    started = False
    async for line, max_tiers in lines:
        if not started:
            buffer += header_line(max_tiers)
            started = True
        buffer += line
        if len(buffer) >= _CHUNK_BYTES:
            yield bytes(buffer)
            buffer.clear()
    if not started:
        buffer += header_line(0)
    if buffer:
        yield bytes(buffer)


async def export_outcomes(request: web.Request) -> web.StreamResponse:
    """Stream the context's active groups and outcomes as `text/csv; charset=utf-8`, or with
    `format=case_json` as a CASE package (`application/json`)."""
    context, _ = await authorize_context(request)
    settings = request.app[DEPS].settings
    export_format = request.query.get("format", CSV)
    if export_format not in FORMATS:
        raise ApiError(400, errors_body(f"Unknown format {export_format!r}: use one of {', '.join(FORMATS)}"))
    is_case = export_format == CASE_JSON
    extension = "json" if is_case else "csv"
    file_name = f"outcomes-{context.type.value.lower()}-{context.id}.{extension}"
    response = web.StreamResponse(
        headers={
            "Content-Type": "application/json; charset=utf-8" if is_case else "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{file_name}"',
        }
    )
    with request.app[EXPORT_SLOTS].take():
        try:
            with translate_db_errors():
                conn = await asyncpg.connect(
                    settings.database_url,
                    timeout=settings.db_acquire_timeout_seconds,
                    # Its one statement works for as long as the context is big (over a second
                    # per 100,000 rows), so it has no statement timeout; it may wait for a lock
                    # no longer than any API statement may.
                    server_settings=connection_settings(lock_timeout_seconds=settings.db_statement_timeout_seconds),
                )
                try:
                    # The CASE package is several statements: one snapshot for all of them.
                    isolation = "repeatable_read" if is_case else None
                    chunks = case_chunks(conn, context) if is_case else csv_chunks(export_lines(conn, context))
                    async with conn.transaction(isolation=isolation, readonly=True):
                        async for chunk in chunks:
                            if not response.prepared:
                                await response.prepare(request)
                            async with asyncio.timeout(settings.export_write_timeout_seconds):
                                await response.write(chunk)
                finally:
                    await conn.close(timeout=settings.db_acquire_timeout_seconds)
            async with asyncio.timeout(settings.export_write_timeout_seconds):
                await response.write_eof()
        except Exception:
            if not response.prepared:
                raise  # nothing sent yet: the error middleware answers as usual
            # The status line is gone; only a broken connection (no final chunk) tells the client
            # the file is incomplete. The usual causes: the client hung up, or stopped reading.
            logger.warning("outcome export of %s ended early", context.key, exc_info=True)
            if request.transport is not None:
                request.transport.close()
    return response
