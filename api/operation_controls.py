"""The operations controls: cancel, retry, pause and resume. Site admins only; every use is
recorded in the audit log in the same transaction as the change it makes.

Canvas's routes and states are untouched by these: a cancelled import ends `failed` with a
processing error, a retry is a new import of the same stored file, a paused queue's imports
stay `created`.
"""

from __future__ import annotations

import logging

from aiohttp import web

from api import import_actions
from api.auth import parse_id
from api.deps import DEPS, Deps
from api.errors import resource_not_found
from api.operations import ERRORS_IN_DETAIL, PREFIX, import_json, queue_json, visible_import
from api.operators import controller
from shared.db import operations as queries
from shared.db.errors import translate_db_errors
from shared.queue import hand_on_turn

logger = logging.getLogger(__name__)

routes = web.RouteTableDef()


@routes.post(PREFIX + "/imports/{id}/cancel")
async def cancel_import(request: web.Request) -> web.Response:
    """See api/import_actions.cancel_import."""
    who = await controller(request)
    deps = request.app[DEPS]
    found = await visible_import(request, who, request.match_info["id"])
    await import_actions.cancel_import(deps, who.user.id, found.id, found.root_account_id)
    with translate_db_errors():
        updated = await queries.get_import(deps.pool, found.id, ERRORS_IN_DETAIL)
    assert updated is not None
    return web.json_response(import_json(updated))


@routes.post(PREFIX + "/imports/{id}/retry")
async def retry_import(request: web.Request) -> web.Response:
    """201 and the new import; see api/import_actions.retry_import."""
    who = await controller(request)
    deps = request.app[DEPS]
    found = await visible_import(request, who, request.match_info["id"])
    new_id = await import_actions.retry_import(deps, who.user.id, found.id, found.root_account_id)
    with translate_db_errors():
        created = await queries.get_import(deps.pool, new_id, ERRORS_IN_DETAIL)
    assert created is not None
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
