"""What an import tells others while it runs: progress and the first errors (Redis's status view
and PostgreSQL), data rows processed (fleet metrics and this worker's total)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Sequence
from datetime import UTC, datetime

from shared.db import import_jobs as queries
from shared.db.errors import UNAVAILABLE_ERRORS, translate_db_errors
from shared.db.imports import get_exposed_errors
from shared.errors import DatabaseUnavailable
from shared.models import EXPOSED_ERRORS, ImportState, OutcomeImport
from worker.deps import Deps

logger = logging.getLogger(__name__)

_DATABASE_AWAY: tuple[type[BaseException], ...] = (DatabaseUnavailable, *UNAVAILABLE_ERRORS)


@dataclasses.dataclass(slots=True)
class StatusReporter:
    """Publishes progress and the first errors after each batch, in the background."""

    deps: Deps
    outcome_import: OutcomeImport
    line_count: int
    first_errors: list[tuple[int, str]] = dataclasses.field(default_factory=list)
    row_errors: int = 0  # found so far, stored or not
    progress: int = 0  # the last published
    started: float = dataclasses.field(default_factory=time.monotonic)
    _rows_wanted: int = 0  # data rows processed, the last reached
    _rows_published: int = 0
    _publishing: asyncio.Task[None] | None = None

    @property
    def rows_reached(self) -> int:
        """Data rows processed so far (published or not)."""
        return self._rows_wanted

    @property
    def run_seconds(self) -> float:
        return time.monotonic() - self.started

    def add_errors(self, errors: Sequence[tuple[int, str]]) -> None:
        self.row_errors += len(errors)
        # Batches come in row order, so the first 25 found are the first 25 by row.
        room = EXPOSED_ERRORS - len(self.first_errors)
        if room > 0:
            self.first_errors.extend(errors[:room])

    def progress_after(self, last_record: int) -> None:
        """Publish the progress reached after `last_record` (the header is record 1), in the
        background: the import goes on meanwhile. What is reached while one is being published is
        coalesced into the latest."""
        rows = last_record - 1
        if rows <= self._rows_wanted:
            return
        self._rows_wanted = rows
        if self._publishing is None or self._publishing.done():
            self._publishing = asyncio.create_task(self._publish_progress())

    async def settle(self) -> None:
        """Wait for the progress being published, so that nothing older lands after what comes next."""
        if self._publishing is not None:
            await self._publishing

    def _progress_of(self, rows: int) -> int:
        return min(100 * (rows + 1) // max(self.line_count, 1), 100)

    async def _publish_progress(self) -> None:
        while self._rows_published < self._rows_wanted:
            rows = self._rows_wanted
            progress = self._progress_of(rows)
            added, self._rows_published = rows - self._rows_published, rows
            self.deps.worker.add_rows(added)
            await self.deps.fleet.record_rows(self.outcome_import.root_account_id, added)
            try:
                # Outside the import's transaction, so readers see it while the import runs.
                with translate_db_errors():
                    await queries.set_progress(self.deps.pool, self.outcome_import.id, progress, rows)
            except _DATABASE_AWAY:
                # The import's own transaction meets the outage too, and deals with it.
                logger.warning("import_id=%s: progress not recorded; database unavailable", self.outcome_import.id)
                return
            await self.publish(ImportState.importing, progress)

    async def publish(self, state: ImportState, progress: int) -> None:
        self.progress = progress
        view = dataclasses.replace(
            self.outcome_import,
            workflow_state=state,
            progress=progress,
            updated_at=datetime.now(UTC),
            errors_found=self.row_errors,
        )
        await self._put(view, self.first_errors)

    async def publish_final(self) -> None:
        """The committed final state, read back so Redis says exactly what PostgreSQL says, and
        the import's end in the fleet metrics."""
        final = await self.publish_committed()
        if final is None:
            return
        # A failed import kept none of its rows, so none of its row errors either.
        row_errors = self.row_errors if final.workflow_state is ImportState.succeeded else 0
        await self.deps.fleet.record_finished(
            final.root_account_id, final.workflow_state, self.run_seconds, row_errors
        )

    async def publish_committed(self) -> OutcomeImport | None:
        """The import as PostgreSQL has it now, written to the status view (idempotent); None if it
        no longer exists."""
        await self.settle()
        async with self.deps.pool.acquire() as conn:
            record = await queries.get_import_for_job(conn, self.outcome_import.id)
            errors = await get_exposed_errors(conn, self.outcome_import.id)
        if record is None:
            return None
        await self._put(record.outcome_import, errors)
        return record.outcome_import

    async def _put(self, view: OutcomeImport, errors: list[tuple[int, str]]) -> None:
        context = f"{view.context_type.value}:{view.context_id}"
        await self.deps.status.put(view.id, context, view.as_canvas_json(errors))
