"""Apply one batch of parsed rows to the database, with Canvas's semantics, set-based.

Per batch: a few reads gather everything the rows reference (worker/batch_loader.py), the rows
are applied one by one in file order to that in-memory state (worker/group_rows.py,
worker/outcome_rows.py), so each row sees every earlier row, then the final states are written
with COPY and one upsert per table. The number of statements does not depend on the number of
rows. The one exception is a `deleted` group row: an existing group's subtree (spec §7.3) is
not in memory, so the batch is applied and written up to that row, one recursive statement
deletes the subtree, and the rest of the batch starts again from a fresh read.

Between batches, the database inside the import's open transaction is the memory ("already
written by this import" is `last_import_id = import_id`, or, for an outcome a row found
unchanged and so did not write, a row of the temporary table import_seen_outcomes). The
applier itself keeps only what does not grow with the file: the contexts it has written groups
in, how many dead rows its staging tables hold, and the last batch until it is written.

Overlap: PostgreSQL writes batch k while the worker applies the rows of batch k+1. Batch k+1's
reads go first, so they miss what batch k changed; the objects batch k changed then replace
what the reads found of them (BatchState.carry_over), which gives what the reads would have
found after the write. A batch that deleted a group's subtree, and
every batch of an import into a target group (its ancestry is read per batch), is written
before the next batch reads instead.

Read-ahead: the worker offers batch k+2 (read_ahead) as soon as it is parsed, while batch k+1's
rows are still being applied. Its reads then run on the connection right after batch k's
write, so they see what they would see if run at the start of batch k+2's turn: after batch k,
before batch k+1. A re-import, whose reads return every stored object, spends most of its time
in them; they no longer wait for the rows before them. Only the batch's first part is read
ahead (up to a group deletion), and only once every part of the batch before has been read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass

import asyncpg

from worker import apply_sql
from worker.batch_loader import BatchRow, load_batch_state, write_batch, write_batch_state
from worker.batch_state import BatchState, ContextKey, ImportRun
from worker.group_rows import import_group_row
from worker.outcome_rows import import_outcome_row
from worker.rows import GroupRow, OutcomeRow, RowError, WorkflowState

__all__ = ["BatchApplier", "ImportRun"]

logger = logging.getLogger(__name__)

# How many rows are applied between two chances for the write in flight, or the reads ahead, to
# go on to their next statement (well under a millisecond of work): a statement of theirs starts
# only when this loop yields, so PostgreSQL waits that long between two. Once they are done, the
# batch is applied without yielding: a switch to the reader costs CPU (outcomes_file.py). Timed
# in-process on 100,000-row imports (issue 15), yielding every 250 rows throughout left the
# applier waiting 1.0-1.4 s for the writes against 0.6-1.2 s; this keeps its CPU saving.
_YIELD_EVERY_ROWS = 20


class BatchApplier:
    """Applies the batches of one import, in order, on one connection inside one transaction.

    The caller owns the transaction (it commits or rolls back the whole import). Re-running the
    import from scratch after a rollback gives the same objects and errors (new ids aside).
    """

    def __init__(self, conn: asyncpg.Connection, run: ImportRun) -> None:
        self._conn = conn
        self._run = run
        self._stage = apply_sql.StagingTables()
        # Every context this import has written a group in: where parent_guids are looked for
        # (a few contexts at most, unlike the groups themselves).
        self._written_contexts: set[ContextKey] = {run.context_key}
        self._unwritten: BatchState | None = None  # the last batch, applied but not written
        self._in_flight: asyncio.Task[None] | None = None  # the write of the batch before it
        self._overlaps = run.target_group_id is None
        self._read: Sequence[BatchRow] | None = None  # the batch being applied, once every part is read
        self._offered: tuple[Sequence[BatchRow], Sequence[BatchRow]] | None = None  # (rows, after)
        self._ahead: _ReadAhead | None = None  # reads started for an offered batch

    async def apply(self, rows: Sequence[BatchRow]) -> list[tuple[int, str]]:
        """Apply `rows` in file order and write them; return their (row, message) errors in row order.

        RowErrors from parsing are included as they are. Raises asyncpg errors as they come, and
        parents.TargetGroupMissing when a row needs a target group that does not exist.
        """
        errors = await self.apply_leaving_write(rows)
        await self.write_pending()
        return errors

    async def apply_leaving_write(self, rows: Sequence[BatchRow]) -> list[tuple[int, str]]:
        """As apply(), but this batch's write is left for the next call (which runs it while it
        applies its own rows) or for write_pending(). Until then the connection may be in use:
        call wait_for_write() before using it for anything else."""
        if not rows:
            return []  # the batch before stays pending: nothing is read that it should overlap
        self._read = None
        if self._offered is not None and self._offered[1] is not rows:
            self._offered = None  # offered to follow another batch
        ahead = await self._take_read_ahead(rows)
        await self.wait_for_write()
        await self._stage.prepare(self._conn)
        earlier, self._unwritten = self._unwritten, None
        if earlier is not None and not self._overlaps:
            await write_batch_state(self._conn, self._stage, earlier)
            earlier = None
        errors: list[tuple[int, str]] = []
        pending = rows
        while pending:
            if ahead is not None:
                part, state = ahead
                ahead = None
            else:
                part = _through_first_group_deletion(pending)
                state = await load_batch_state(self._conn, self._run, part, self._written_contexts)
            if earlier is not None:
                writes = earlier.take_writes()  # before its objects move on and change again
                state.carry_over(earlier, writes)
                self._in_flight = asyncio.create_task(write_batch(self._conn, self._stage, writes))
                earlier = None
            if len(part) == len(pending) and not _deletes_group(part[-1]):
                self._read = rows  # the last part: nothing more of this batch is read
                self._start_read_ahead()
            deleted_group_id = await self._apply_rows(state, part, errors)
            self._written_contexts |= state.written_group_contexts()
            pending = pending[len(part) :]
            if deleted_group_id is None and not pending:
                self._unwritten = state
                break
            await self.wait_for_write()
            await write_batch_state(self._conn, self._stage, state)
            if deleted_group_id is not None:
                logger.debug("import_id=%s deleting the subtree of group %s", self._run.import_id, deleted_group_id)
                deleted = await apply_sql.delete_group_subtree(self._conn, deleted_group_id)
                self._run.summary.count_subtree_deletion(*deleted)
        return errors

    def read_ahead(self, rows: Sequence[BatchRow], after: Sequence[BatchRow]) -> None:
        """Offer `rows`, the batch to be applied right after `after` (being applied, or passed
        to apply_leaving_write next), so that its reads run while the rows of `after` are
        applied (see the module docstring). The connection may then be in use: call
        wait_for_write() before using it for anything else."""
        if self._overlaps and rows:
            self._offered = (rows, after)
            self._start_read_ahead()

    async def wait_for_write(self) -> None:
        """Wait for the write in flight and the reads ahead, if any (raising the write's error):
        the connection is then free. What the reads found is kept for their batch."""
        task, self._in_flight = self._in_flight, None
        if task is not None:
            await task
        if self._ahead is not None:
            await asyncio.wait([self._ahead.task])  # its error is raised where its state is taken

    async def write_pending(self) -> None:
        """Write everything applied so far. Reads ahead, made before this write, are dropped."""
        await self._take_read_ahead(None)
        self._offered = None
        await self.wait_for_write()
        state, self._unwritten = self._unwritten, None
        if state is not None:
            await write_batch_state(self._conn, self._stage, state)

    async def abandon(self) -> None:
        """Let the write in flight and the reads ahead end, ignoring their errors: the import is
        failing for another reason, and its rollback needs the connection free."""
        self._offered = None
        with suppress(Exception):
            await self.wait_for_write()
        with suppress(Exception):
            await self._take_read_ahead(None)
        self._unwritten = None

    def _start_read_ahead(self) -> None:
        """Start the reads of the offered batch's first part, to run after the write in flight,
        once every part of the batch it is offered to follow has been read."""
        if self._offered is None or self._offered[1] is not self._read:
            return
        rows, _ = self._offered
        self._offered = None
        part = _through_first_group_deletion(rows)
        # Contexts the current batch adds need not be searched: its groups are carried over.
        written_contexts = set(self._written_contexts)
        write = self._in_flight

        async def read_after_write() -> BatchState:
            if write is not None:
                await write  # its error is this task's too: nothing more goes on the connection
            return await load_batch_state(self._conn, self._run, part, written_contexts)

        self._ahead = _ReadAhead(rows, part, asyncio.create_task(read_after_write()))

    async def _take_read_ahead(
        self, rows: Sequence[BatchRow] | None
    ) -> tuple[Sequence[BatchRow], BatchState] | None:
        """The first part of `rows` and its state, if they were read ahead. Reads ahead for
        another batch are waited for (the connection is then free) and dropped. Either way, the
        reads' error is raised."""
        ahead, self._ahead = self._ahead, None
        if ahead is None:
            return None
        state = await ahead.task
        return (ahead.part, state) if ahead.rows is rows else None

    async def _apply_rows(
        self, state: BatchState, rows: Sequence[BatchRow], errors: list[tuple[int, str]]
    ) -> int | None:
        """Apply rows in order, adding their errors; return the id of the existing group the
        last row deleted, if it did (its subtree is then still to be deleted)."""
        deleted_group_id = None
        for index, row in enumerate(rows, 1):
            if isinstance(row, OutcomeRow):  # most rows: tested first
                messages = import_outcome_row(state, self._run, row)
            elif isinstance(row, GroupRow):
                result = import_group_row(state, self._run, row)
                messages = result.messages
                deleted_group_id = result.deleted_existing.id if result.deleted_existing else None
            else:
                messages = list(row.messages)
            if messages:
                if self._run.names_case_items and not isinstance(row, RowError):
                    messages = _naming_case_item(row, messages)
                errors.extend((row.row, message) for message in messages)
                self._run.summary.rows_rejected += 1
            if index % _YIELD_EVERY_ROWS == 0 and self._database_busy():
                await asyncio.sleep(0)  # the write in flight, or the reads ahead, go on to their next statement
        return deleted_group_id

    def _database_busy(self) -> bool:
        """Whether the write in flight, or the reads ahead, are still going on."""
        write, ahead = self._in_flight, self._ahead
        return (write is not None and not write.done()) or (ahead is not None and not ahead.task.done())


@dataclass(frozen=True, slots=True)
class _ReadAhead:
    rows: Sequence[BatchRow]  # the whole batch offered
    part: Sequence[BatchRow]  # the part read: up to its first group deletion
    task: asyncio.Task[BatchState]


def _naming_case_item(row: GroupRow | OutcomeRow, messages: list[str]) -> list[str]:
    """A CASE row's messages, each naming its item as the reader's own do (worker/case_file.py):
    the row's vendor_guid is the item's identifier; row 1 is the CFDocument."""
    name = f'{"CFDocument" if row.row == 1 else "CFItem"} "{row.vendor_guid}"'
    return [f"{name}: {message}" for message in messages]


def _through_first_group_deletion(rows: Sequence[BatchRow]) -> Sequence[BatchRow]:
    """The rows up to and including the first `deleted` group row (all of them if none).

    Such a row may delete an existing group whose subtree is not in memory, so the rows after it
    are read afresh once it is done; cutting there keeps each read the size of its part.
    """
    for index, row in enumerate(rows):
        # _deletes_group written out: a pass over every row of a batch.
        if isinstance(row, GroupRow) and row.workflow_state is WorkflowState.DELETED:
            return rows[: index + 1]
    return rows


def _deletes_group(row: BatchRow) -> bool:
    return isinstance(row, GroupRow) and row.workflow_state is WorkflowState.DELETED
