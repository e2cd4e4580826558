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
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from contextlib import suppress

import asyncpg

from worker import apply_sql
from worker.batch_loader import BatchRow, load_batch_state, write_batch, write_batch_state
from worker.batch_state import BatchState, ContextKey, ImportRun
from worker.group_rows import import_group_row
from worker.outcome_rows import import_outcome_row
from worker.rows import GroupRow, OutcomeRow, WorkflowState

__all__ = ["BatchApplier", "ImportRun"]

logger = logging.getLogger(__name__)

# How many rows are applied between two chances for the write in flight to go on to its next
# statement (a few milliseconds of work).
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
        await self.wait_for_write()
        await self._stage.prepare(self._conn)
        earlier, self._unwritten = self._unwritten, None
        if earlier is not None and not self._overlaps:
            await write_batch_state(self._conn, self._stage, earlier)
            earlier = None
        errors: list[tuple[int, str]] = []
        pending = rows
        while pending:
            part = _through_first_group_deletion(pending)
            state = await load_batch_state(self._conn, self._run, part, self._written_contexts)
            if earlier is not None:
                writes = earlier.take_writes()  # before its objects move on and change again
                state.carry_over(earlier, writes)
                self._in_flight = asyncio.create_task(write_batch(self._conn, self._stage, writes))
                earlier = None
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
                await apply_sql.delete_group_subtree(self._conn, deleted_group_id)
        return errors

    async def wait_for_write(self) -> None:
        """Wait for the write in flight, if any (raising its error): the connection is then free."""
        task, self._in_flight = self._in_flight, None
        if task is not None:
            await task

    async def write_pending(self) -> None:
        """Write everything applied so far."""
        await self.wait_for_write()
        state, self._unwritten = self._unwritten, None
        if state is not None:
            await write_batch_state(self._conn, self._stage, state)

    async def abandon(self) -> None:
        """Let the write in flight end, ignoring its error: the import is failing for another
        reason, and its rollback needs the connection free."""
        with suppress(Exception):
            await self.wait_for_write()
        self._unwritten = None

    async def _apply_rows(
        self, state: BatchState, rows: Sequence[BatchRow], errors: list[tuple[int, str]]
    ) -> int | None:
        """Apply rows in order, adding their errors; return the id of the existing group the
        last row deleted, if it did (its subtree is then still to be deleted)."""
        deleted_group_id = None
        writing = self._in_flight is not None
        for index, row in enumerate(rows, 1):
            if isinstance(row, GroupRow):
                result = import_group_row(state, self._run, row)
                messages = result.messages
                deleted_group_id = result.deleted_existing.id if result.deleted_existing else None
            elif isinstance(row, OutcomeRow):
                messages = import_outcome_row(state, self._run, row)
            else:
                messages = list(row.messages)
            if messages:
                errors.extend((row.row, message) for message in messages)
            if writing and index % _YIELD_EVERY_ROWS == 0:
                await asyncio.sleep(0)  # the write in flight goes on to its next statement
        return deleted_group_id


def _through_first_group_deletion(rows: Sequence[BatchRow]) -> Sequence[BatchRow]:
    """The rows up to and including the first `deleted` group row (all of them if none).

    Such a row may delete an existing group whose subtree is not in memory, so the rows after it
    are read afresh once it is done; cutting there keeps each read the size of its part.
    """
    for index, row in enumerate(rows):
        if isinstance(row, GroupRow) and row.workflow_state is WorkflowState.DELETED:
            return rows[: index + 1]
    return rows
