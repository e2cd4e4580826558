"""Cancel and retry an import: the two actions both the operations controls (site admins, any
import) and the Outcome Imports routes (whoever may import into the context) offer, built once.

Each records who did it in the audit log, in the same transaction as the change it makes.
"""

from __future__ import annotations

import logging

from api.deps import Deps
from api.errors import ApiError, errors_body
from shared.db import operations as queries
from shared.db.errors import translate_db_errors
from shared.db.import_jobs import get_import_for_job
from shared.db.imports import get_exposed_errors
from shared.db.turns import is_first_in_line, lock_turns
from shared.db.uploads import upload_deleted
from shared.errors import ImportCancelled, QueueUnavailable
from shared.models import ImportState
from shared.queue import enqueue_import, hand_on_turn

logger = logging.getLogger(__name__)

NOT_CANCELLABLE = "Only a waiting or running import can be cancelled"
NOT_RETRYABLE = "Only a failed import can be retried"
UPLOAD_GONE = "The import's file is no longer stored (uploads are kept {days} days after their import ends)"


def _conflict(message: str) -> ApiError:
    return ApiError(409, errors_body(message))


async def publish_status(deps: Deps, import_id: int) -> None:
    """Write the import's committed Canvas JSON to Redis's status view, as the worker does."""
    async with deps.pool.acquire() as conn:
        record = await get_import_for_job(conn, import_id)
        errors = await get_exposed_errors(conn, import_id)
    if record is not None:
        view = record.outcome_import
        await deps.status.put(import_id, f"{view.context_type.value}:{view.context_id}", view.as_canvas_json(errors))


async def cancel_import(deps: Deps, user_id: int, import_id: int, root_account_id: int) -> str:
    """A waiting import ends `failed` now; a running one is rolled back by its worker within a
    second or so (worker/watch.py). Returns the action recorded; 409 for an import that has ended."""
    with translate_db_errors():
        async with deps.pool.acquire() as conn, conn.transaction():
            if await queries.cancel_waiting_import(conn, import_id, ImportCancelled().message):
                action = "cancel_waiting_import"
            elif await queries.request_cancel(conn, import_id):
                action = "cancel_running_import"
            else:
                raise _conflict(NOT_CANCELLABLE)
            await queries.record_audit(
                conn, user_id, action, root_account_id=root_account_id, outcome_import_id=import_id
            )
        if action == "cancel_waiting_import":
            await publish_status(deps, import_id)
            await deps.fleet.record_finished(root_account_id, ImportState.failed, None, 0)
            await hand_on_turn(deps.pool, deps.redis, root_account_id)
    logger.info("user_id=%s: %s import_id=%s", user_id, action, import_id)
    return action


async def retry_import(deps: Deps, user_id: int, import_id: int, root_account_id: int) -> int:
    """A new waiting import of a failed import's stored file; returns its id. 409 unless the
    import failed and its file is still stored."""
    with translate_db_errors():
        async with deps.pool.acquire() as conn, conn.transaction():
            await lock_turns(conn, root_account_id)
            new_id = await queries.insert_retry(conn, import_id)
            if new_id is None:
                raise _conflict(NOT_RETRYABLE)
            if await upload_deleted(conn, import_id):
                raise _conflict(UPLOAD_GONE.format(days=deps.settings.upload_retention_days))
            first_in_line = await is_first_in_line(conn, root_account_id, new_id)
            await queries.record_audit(
                conn,
                user_id,
                "retry_import",
                root_account_id=root_account_id,
                outcome_import_id=import_id,
                detail=f"new import {new_id}",
            )
        await publish_status(deps, new_id)
    if first_in_line:
        try:
            await enqueue_import(deps.redis, new_id)
        except QueueUnavailable:
            logger.warning("import_id=%s: Redis unavailable; the reconciler will enqueue it", new_id)
    logger.info("user_id=%s: retry_import import_id=%s as import_id=%s", user_id, import_id, new_id)
    return new_id
