"""The operations controls: cancel, retry, pause and resume. Site admins only; every use is
recorded in the audit log in the same transaction as the change it makes.

Canvas's routes and states are untouched by these: a cancelled import ends `failed` with a
processing error, a retry is a new import of the same stored file, a paused queue's imports
stay `created`.
"""

from __future__ import annotations

import logging

from aiohttp import web

from api.auth import parse_id
from api.deps import DEPS, Deps
from api.errors import ApiError, errors_body, resource_not_found
from api.operations import ERRORS_IN_DETAIL, PREFIX, import_json, queue_json, visible_import
from api.operators import controller
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

routes = web.RouteTableDef()

NOT_CANCELLABLE = "Only a waiting or running import can be cancelled"
NOT_RETRYABLE = "Only a failed import can be retried"
UPLOAD_GONE = "The import's file is no longer stored (uploads are kept {days} days after their import ends)"


def _conflict(message: str) -> ApiError:
    return ApiError(409, errors_body(message))


async def _publish_status(deps: Deps, import_id: int) -> None:
    """Write the import's committed Canvas JSON to Redis's status view, as the worker does."""
    async with deps.pool.acquire() as conn:
        record = await get_import_for_job(conn, import_id)
        errors = await get_exposed_errors(conn, import_id)
    if record is not None:
        view = record.outcome_import
        await deps.status.put(import_id, f"{view.context_type.value}:{view.context_id}", view.as_canvas_json(errors))


async def _enqueue(deps: Deps, import_id: int) -> None:
    """Queue the import's job; with Redis away the workers' reconciler does it later."""
    try:
        await enqueue_import(deps.redis, import_id)
    except QueueUnavailable:
        logger.warning("import_id=%s: Redis unavailable; the reconciler will enqueue it", import_id)


@routes.post(PREFIX + "/imports/{id}/cancel")
async def cancel_import(request: web.Request) -> web.Response:
    """A waiting import ends `failed` now; a running one is rolled back by its worker within a
    second or so (worker/watch.py). 409 for an import that has ended."""
    who = await controller(request)
    deps = request.app[DEPS]
    found = await visible_import(request, who, request.match_info["id"])
    with translate_db_errors():
        async with deps.pool.acquire() as conn, conn.transaction():
            if await queries.cancel_waiting_import(conn, found.id, ImportCancelled().message):
                action = "cancel_waiting_import"
            elif await queries.request_cancel(conn, found.id):
                action = "cancel_running_import"
            else:
                raise _conflict(NOT_CANCELLABLE)
            await queries.record_audit(
                conn, who.user.id, action, root_account_id=found.root_account_id, outcome_import_id=found.id
            )
        if action == "cancel_waiting_import":
            await _publish_status(deps, found.id)
            await deps.fleet.record_finished(found.root_account_id, ImportState.failed, None, 0)
            await hand_on_turn(deps.pool, deps.redis, found.root_account_id)
        updated = await queries.get_import(deps.pool, found.id, ERRORS_IN_DETAIL)
    assert updated is not None
    logger.info("user_id=%s: %s import_id=%s", who.user.id, action, found.id)
    return web.json_response(import_json(updated))


@routes.post(PREFIX + "/imports/{id}/retry")
async def retry_import(request: web.Request) -> web.Response:
    """201 and a new waiting import of the failed import's stored file; 409 unless it failed."""
    who = await controller(request)
    deps = request.app[DEPS]
    found = await visible_import(request, who, request.match_info["id"])
    with translate_db_errors():
        async with deps.pool.acquire() as conn, conn.transaction():
            await lock_turns(conn, found.root_account_id)
            new_id = await queries.insert_retry(conn, found.id)
            if new_id is None:
                raise _conflict(NOT_RETRYABLE)
            if await upload_deleted(conn, found.id):
                raise _conflict(UPLOAD_GONE.format(days=deps.settings.upload_retention_days))
            first_in_line = await is_first_in_line(conn, found.root_account_id, new_id)
            await queries.record_audit(
                conn,
                who.user.id,
                "retry_import",
                root_account_id=found.root_account_id,
                outcome_import_id=found.id,
                detail=f"new import {new_id}",
            )
        await _publish_status(deps, new_id)
        if first_in_line:
            await _enqueue(deps, new_id)
        created = await queries.get_import(deps.pool, new_id, ERRORS_IN_DETAIL)
    assert created is not None
    logger.info("user_id=%s: retry_import import_id=%s as import_id=%s", who.user.id, found.id, new_id)
    return web.json_response(import_json(created), status=201)


async def _root_account(request: web.Request, deps: Deps) -> int:
    root_account_id = parse_id(request.match_info["root_account_id"])
    with translate_db_errors():
        if root_account_id is None or not await queries.is_root_account(deps.pool, root_account_id):
            raise resource_not_found()
    return root_account_id


async def _queue_response(deps: Deps, root_account_id: int) -> web.Response:
    with translate_db_errors():
        (queue,) = await queries.list_queues(deps.pool, (root_account_id,))
    return web.json_response(queue_json(queue))


@routes.post(PREFIX + "/queues/{root_account_id}/pause")
async def pause_queue(request: web.Request) -> web.Response:
    """The root account's waiting imports stay `created` until it is resumed; a running import
    goes on. Uploads are still accepted. Idempotent."""
    who = await controller(request)
    deps = request.app[DEPS]
    root_account_id = await _root_account(request, deps)
    with translate_db_errors():
        async with deps.pool.acquire() as conn, conn.transaction():
            await queries.pause_queue(conn, root_account_id, who.user.id)
            await queries.record_audit(conn, who.user.id, "pause_queue", root_account_id=root_account_id)
    logger.info("user_id=%s: pause_queue root_account_id=%s", who.user.id, root_account_id)
    return await _queue_response(deps, root_account_id)


@routes.post(PREFIX + "/queues/{root_account_id}/resume")
async def resume_queue(request: web.Request) -> web.Response:
    """Lift the pause; the root account's waiting imports run again, oldest first. Idempotent."""
    who = await controller(request)
    deps = request.app[DEPS]
    root_account_id = await _root_account(request, deps)
    with translate_db_errors():
        async with deps.pool.acquire() as conn, conn.transaction():
            await queries.resume_queue(conn, root_account_id)
            await queries.record_audit(conn, who.user.id, "resume_queue", root_account_id=root_account_id)
        # A paused queue hands no turn on: its first waiting import gets its job now.
        await hand_on_turn(deps.pool, deps.redis, root_account_id)
    logger.info("user_id=%s: resume_queue root_account_id=%s", who.user.id, root_account_id)
    return await _queue_response(deps, root_account_id)
