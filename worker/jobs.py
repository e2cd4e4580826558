"""run_outcome_import: the job, as the sequence of its steps. Wait for the root account's turn,
start, read the file in batches (worker/outcomes_file.py), apply them (worker/pipeline.py,
worker/apply.py), finish, hand the turn on; and decide what each failure means (retry later,
fail the import, or hand it back to another worker).

The whole file is applied in ONE transaction that also records the final state, so an import is
never half-applied, and running its job again (arq may redeliver) starts from a clean slate. A
dry run's transaction is rolled back instead, and its end recorded after.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import asyncpg
from arq import Retry

from shared.db import import_jobs as queries
from shared.db.accounts import load_context
from shared.db.errors import UNAVAILABLE_ERRORS, translate_db_errors
from shared.errors import DatabaseUnavailable, ImportCancelled, ImportFailed, StorageUnavailable
from shared.models import ImportState
from shared.queue import hand_on_turn
from worker.apply import BatchApplier, ImportRun
from worker.case_file import CASE_JSON, CaseFile
from worker.deps import Deps, deps
from worker.error_reports import unexpected_error_message
from worker.outcomes_file import FileLimits, OutcomesFile
from worker.pipeline import BatchPipeline
from worker.reporter import StatusReporter
from worker.summary import ImportSummary
from worker.watch import ImportWatch, watch_import

logger = logging.getLogger(__name__)

# The import before this one is letting go of its root account's lock: look again soon.
WAIT_FOR_TURN_SECONDS = 0.5
MAX_OUTAGE_DEFER_SECONDS = 30
NEVER_FINISHED = (
    "The import was started {attempts} times and stopped each time before it could finish (its worker was"
    " stopped, ran out of memory or reached the time limit); it is not tried again"
)
_DATABASE_AWAY: tuple[type[BaseException], ...] = (DatabaseUnavailable, *UNAVAILABLE_ERRORS)
# Conflicts another transaction may cause (e.g. two root accounts creating one outcome guid at once).
_RETRYABLE_DB_ERRORS = (
    asyncpg.UniqueViolationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.SerializationError,
)


def _cause_name(exc: BaseException) -> str:
    """The driver's error behind a DatabaseUnavailable, for the log."""
    return type(exc.__cause__ if isinstance(exc, DatabaseUnavailable) and exc.__cause__ else exc).__name__


def _transient_reason(exc: BaseException) -> str:
    """Why the last attempt of an import failed, for the message a client sees after every retry failed."""
    if isinstance(exc, StorageUnavailable):
        return "file storage unavailable"
    if isinstance(exc, _RETRYABLE_DB_ERRORS):
        return "conflicting database writes"
    return "database unavailable"


async def run_outcome_import(ctx: dict[str, Any], import_id: int) -> str:
    """Process one import to `succeeded` or `failed`; idempotent (a finished import is left alone).

    While PostgreSQL is unreachable the job is deferred with a growing delay (capped), however
    long the outage: nothing can progress meanwhile, and the import must not be lost.
    """
    try:
        with translate_db_errors():
            return await _run(deps(ctx), import_id, ctx.get("job_id"))
    except _DATABASE_AWAY as exc:
        delay = min(2 ** int(ctx.get("job_try", 1)), MAX_OUTAGE_DEFER_SECONDS)
        logger.warning(
            "import_id=%s: database unavailable (%s); retrying in %s s", import_id, _cause_name(exc), delay
        )
        raise Retry(defer=delay) from exc


async def _run(d: Deps, import_id: int, job_id: str | None) -> str:
    async with d.pool.acquire() as conn:
        record = await queries.get_import_for_job(conn, import_id)
        if record is None:
            logger.warning("import_id=%s does not exist; nothing to do", import_id)
            return "missing"
        if record.outcome_import.workflow_state.finished:
            return await _already_finished(d, record)
        root_account_id = record.outcome_import.root_account_id
        if record.outcome_import.workflow_state is ImportState.created and await queries.is_paused(
            conn, root_account_id
        ):
            # The job ends here and costs nothing while the queue is paused: resuming hands the
            # turn on (shared/db/turns.py).
            logger.info("import_id=%s waits: root account %s is paused", import_id, root_account_id)
            return "paused"
        if await queries.older_pending_import(conn, record.outcome_import) is not None:
            # Only the first in line has a job as a rule; this one ends, and the import before it
            # hands the turn on when it ends.
            return "not its turn"
        if not await queries.try_lock_root_account(conn, root_account_id):
            # First in line, but the import before it is still letting go of its lock (or a
            # duplicate job of this one runs): a moment's wait, for this one job only.
            raise Retry(defer=WAIT_FOR_TURN_SECONDS)
        try:
            outcome = await _process(d, conn, record, job_id)
        finally:
            await _unlock(conn, root_account_id)
    await hand_on_turn(d.pool, d.redis, root_account_id)
    return outcome


async def _already_finished(d: Deps, record: queries.ImportJobRecord) -> str:
    """A job of an import that has ended. Its run may have committed that end and then been stopped
    (SIGTERM in a rolling deploy, a lost connection) before it wrote the status view and handed the
    root account's turn on: both are done again here, each idempotent. Without it, clients read that
    run's last `importing` view until it expires (a day), and the next import waits for the reconciler."""
    outcome_import = record.outcome_import
    await StatusReporter(d, outcome_import, record.file_line_count).publish_committed()
    await hand_on_turn(d.pool, d.redis, outcome_import.root_account_id)
    return f"already {outcome_import.workflow_state.value}"


async def _unlock(conn: asyncpg.Connection, root_account_id: int) -> None:
    try:
        with translate_db_errors():
            await queries.unlock_root_account(conn, root_account_id)
    except DatabaseUnavailable:
        # The connection is gone, and a session lock goes with it.
        logger.warning("could not unlock root account %s: connection lost", root_account_id)


async def _process(d: Deps, conn: asyncpg.Connection, record: queries.ImportJobRecord, job_id: str | None) -> str:
    outcome_import = record.outcome_import
    import_id = outcome_import.id
    if record.attempts >= d.settings.job_max_tries:
        # Every start counts, so an import whose attempts keep dying (its worker killed, out of
        # memory, or stopped at the job timeout) ends here instead of being started forever.
        logger.warning("import_id=%s: started %s times without finishing; not tried again", import_id, record.attempts)
        reporter = StatusReporter(d, outcome_import, record.file_line_count)
        return await _fail(d, reporter, NEVER_FINISHED.format(attempts=record.attempts))
    started = await queries.start_import(conn, outcome_import, d.worker.id)
    if started is None:
        return "already finished"
    try:
        return await _run_started(d, conn, record, started, job_id)
    except asyncio.CancelledError:
        if d.worker.stopping:
            # A rolling deploy or a scale-down, not the import's fault: it runs again elsewhere.
            logger.info("import_id=%s: handed back by a stopping worker", import_id)
            await asyncio.shield(queries.hand_back(d.pool, import_id))
        raise


async def _run_started(
    d: Deps,
    conn: asyncpg.Connection,
    record: queries.ImportJobRecord,
    started: queries.StartedImport,
    job_id: str | None,
) -> str:
    outcome_import = record.outcome_import
    import_id = outcome_import.id
    if started.waited_seconds is not None:
        await d.fleet.record_queue_wait(started.waited_seconds)
    reporter = StatusReporter(d, outcome_import, record.file_line_count)
    await reporter.publish(ImportState.importing, 0)
    logger.info("import_id=%s job_id=%s started (attempt %s)", import_id, job_id, record.attempts + 1)
    watch = ImportWatch()
    try:
        # A lost connection often surfaces as the InterfaceError of the ROLLBACK that follows the
        # failed statement: translated, it is retried like any outage (any other is a bug).
        with translate_db_errors():
            try:
                async with conn.transaction(), watch_import(d.settings, d.pool, conn, import_id, watch):
                    result = await _import_file(d, conn, record, reporter, watch)
                    if outcome_import.dry_run:
                        raise _RollBack(result)
                    await _finish(conn, reporter, result)
            except _RollBack as rolled_back:
                # A dry run: everything it did is undone; what it found is recorded.
                async with conn.transaction():
                    await _finish(conn, reporter, rolled_back.result)
            except asyncpg.QueryCanceledError as exc:
                if watch.cancelled:  # the watch cancelled the statement that was running
                    raise ImportCancelled() from exc
                raise
    except ImportFailed as exc:
        return await _fail(d, reporter, exc.message)
    except (DatabaseUnavailable, StorageUnavailable, *_RETRYABLE_DB_ERRORS, *UNAVAILABLE_ERRORS) as exc:
        attempt = record.attempts + 1
        if attempt < d.settings.job_max_tries:
            logger.warning("import_id=%s attempt %s failed (%s); retrying", import_id, attempt, _cause_name(exc))
            with suppress(Exception):  # its own failure is the one being reported
                await reporter.settle()
            raise Retry(defer=min(2**attempt, 60)) from exc
        reason = _transient_reason(exc)
        report = unexpected_error_message(import_id, exc, f"failed after {attempt} attempts ({reason})")
        return await _fail(d, reporter, f"{report} ({reason})")
    except asyncpg.PostgresError as exc:
        message = f"Database error ({type(exc).__name__}: see error report {secrets.randbelow(10**9)})"
        logger.exception("import_id=%s: %s", import_id, message)
        return await _fail(d, reporter, message)
    except Exception as exc:
        return await _fail(d, reporter, unexpected_error_message(import_id, exc))
    await reporter.publish_final()
    what = "dry run" if outcome_import.dry_run else "import"
    logger.info("import_id=%s: %s succeeded with %s row error(s)", import_id, what, reporter.row_errors)
    return "succeeded"


@dataclass(frozen=True, slots=True)
class _FileResult:
    errors_stored: int
    summary: ImportSummary


class _RollBack(Exception):
    """Ends a dry run's transaction, rolling back everything it did."""

    def __init__(self, result: _FileResult) -> None:
        super().__init__("dry run")
        self.result = result


async def _finish(conn: asyncpg.Connection, reporter: StatusReporter, result: _FileResult) -> None:
    await queries.finish_import(
        conn,
        reporter.outcome_import.id,
        ImportState.succeeded,
        100,
        result.errors_stored,
        reporter.rows_reached,
        reporter.row_errors,
        result.summary.as_json(),
    )


async def _fail(d: Deps, reporter: StatusReporter, message: str) -> str:
    async with d.pool.acquire() as conn:
        await queries.fail_import(conn, reporter.outcome_import.id, message)
    await reporter.publish_final()
    logger.info("import_id=%s failed: %s", reporter.outcome_import.id, message)
    return "failed"


async def _import_file(
    d: Deps, conn: asyncpg.Connection, record: queries.ImportJobRecord, reporter: StatusReporter, watch: ImportWatch
) -> _FileResult:
    """Apply every batch; return the row errors stored and what the rows did. Raises
    ImportFailed for file-level problems."""
    if record.file_line_count == 0:
        raise ImportFailed("File has no data")
    outcome_import = record.outcome_import
    context = await load_context(conn, outcome_import.context_type, outcome_import.context_id)
    if context is None:
        raise ImportFailed(unexpected_error_message(outcome_import.id, what="the import's context no longer exists"))
    settings = d.settings
    limits = FileLimits(settings.max_columns, settings.max_records, settings.max_record_bytes, settings.batch_size)
    file: OutcomesFile | CaseFile
    if outcome_import.import_type == CASE_JSON:
        file = CaseFile(d.storage, record.object_key, limits, outcome_import.id, record.options)
    else:
        file = OutcomesFile(d.storage.open_stream(record.object_key), limits, outcome_import.id)
    header = await file.read_header()
    if header is None:
        return _FileResult(0, ImportSummary())  # only a BOM: no records, nothing to import (spec §4.4)
    run = ImportRun(
        outcome_import.id,
        context,
        outcome_import.target_group_id,
        header.has_course_id,
        names_case_items=isinstance(file, CaseFile),
    )
    if isinstance(file, CaseFile):
        # Progress counts items, not the JSON's lines; the summary, the associations skipped.
        reporter.line_count = file.record_count
        run.summary.case_associations_skipped = file.associations_skipped
    pipeline = BatchPipeline(d, conn, BatchApplier(conn, run), reporter, watch)
    try:
        async for batch, last_record in file.batches():
            await pipeline.apply(batch, last_record)
    except BaseException:
        await pipeline.abandon()
        raise
    await pipeline.drain()
    return _FileResult(pipeline.error_count, run.summary)
