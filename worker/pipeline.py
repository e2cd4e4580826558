"""Applying an import's batches in order, overlapped with reading the next ones, and recording
each batch's errors and progress (worker/apply.py has the overlap of reads and writes)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from contextlib import suppress

import asyncpg

from shared.db import import_jobs as queries
from shared.errors import ImportCancelled
from worker.apply import BatchApplier
from worker.deps import Deps
from worker.outcomes_file import BatchRow
from worker.reporter import StatusReporter
from worker.watch import ImportWatch


class BatchPipeline:
    """Applies batches in order, in the background, and records each one's errors and progress.

    Three batches are in the works at once: the worker parses batch k+2 while it applies batch
    k+1 (reads, then row rules), and PostgreSQL writes batch k meanwhile, then reads for batch
    k+2 as soon as it is parsed (worker/apply.py). So neither waits for the other, whichever is
    the faster. A batch's errors are stored, and its progress published, when the next batch
    comes (or at the end), once the connection is free.
    """

    def __init__(
        self, d: Deps, conn: asyncpg.Connection, applier: BatchApplier, reporter: StatusReporter, watch: ImportWatch
    ) -> None:
        self._deps = d
        self._watch = watch
        self._conn = conn
        self._applier = applier
        self._reporter = reporter
        self._applying: asyncio.Task[None] | None = None
        self._last_batch: Sequence[BatchRow] | None = None  # the last one given to apply()
        self._unrecorded: tuple[list[tuple[int, str]], int] | None = None  # (errors, last record)
        self.error_count = 0  # stored so far (at most max_stored_errors)

    async def apply(self, batch: Sequence[BatchRow], last_record: int) -> None:
        """Start applying `batch` once the batch before is applied (raising its error, if any).
        Its reads may start before that, once the batch before has been read. Raises
        ImportCancelled once an operator has cancelled the import."""
        if self._watch.cancelled:
            raise ImportCancelled()
        if self._last_batch is not None:
            self._applier.read_ahead(batch, after=self._last_batch)
        self._last_batch = batch
        await self._wait_for_apply()
        self._applying = asyncio.create_task(self._apply(batch, last_record))

    async def drain(self) -> None:
        """Apply, write and record everything so far."""
        await self._wait_for_apply()
        await self._applier.write_pending()
        await self._record()

    async def abandon(self) -> None:
        """Let the work in flight end, ignoring its errors: the import is failing for another
        reason, and its rollback needs the connection free."""
        with suppress(Exception):
            await self._wait_for_apply()
        await self._applier.abandon()

    async def _wait_for_apply(self) -> None:
        task, self._applying = self._applying, None
        if task is not None:
            await task

    async def _apply(self, batch: Sequence[BatchRow], last_record: int) -> None:
        await self._applier.wait_for_write()
        await self._record()
        errors = await self._applier.apply_leaving_write(batch)
        self._unrecorded = (errors, last_record)

    async def _record(self) -> None:
        if self._unrecorded is None:
            return
        (errors, last_record), self._unrecorded = self._unrecorded, None
        room = max(self._deps.settings.max_stored_errors - self.error_count, 0)
        import_id = self._reporter.outcome_import.id
        if self._reporter.outcome_import.dry_run and errors[:room]:
            # Outside the transaction, which a dry run rolls back (start_import drops them if it runs again).
            async with self._deps.pool.acquire() as conn:
                await queries.insert_errors(conn, import_id, errors[:room])
        else:
            await queries.insert_errors(self._conn, import_id, errors[:room])
        self.error_count += min(len(errors), room)
        self._reporter.add_errors(errors)
        self._reporter.progress_after(last_record)
