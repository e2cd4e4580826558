"""The operations JSON API (read side): queues, imports, workers, throughput, audit log.

The dashboard reads only these routes; every figure it shows (rows/s, ETA, waits) is computed
here, not in the page. Controls are in api/operation_controls.py.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web

from api.auth import parse_id
from api.deps import DEPS
from api.errors import bad_request, resource_not_found, unauthorized
from api.operators import Operator, operator
from shared.db import operations as queries
from shared.db.errors import translate_db_errors
from shared.models import canvas_time

routes = web.RouteTableDef()

PREFIX = "/api/v1/operations"
DEFAULT_PER_PAGE = 20
MAX_PER_PAGE = 100
ERRORS_IN_LISTS = 3
ERRORS_IN_DETAIL = 25
AUDIT_ENTRIES = 50
# Workers that stopped or went silent stay in view this long, so an operator sees what died.
WORKERS_SHOWN_FOR_SECONDS = 3600


def _seconds(later: datetime | None, earlier: datetime | None) -> float | None:
    if later is None or earlier is None:
        return None
    return round(max((later - earlier).total_seconds(), 0.0), 3)


def import_json(i: queries.OpsImport) -> dict[str, Any]:
    """OpsImport as the API answers it (README, "Operations API")."""
    rows_total = max(i.file_line_count - 1, 0)
    run_seconds = _seconds(i.ended_at or i.now, i.started_at)
    rate = round(i.rows_processed / run_seconds, 1) if run_seconds and i.rows_processed else None
    eta = None
    if i.workflow_state == "importing" and rate:
        eta = round(max(rows_total - i.rows_processed, 0) / rate, 1)
    waited_until = i.started_at or i.ended_at or i.now
    return {
        "id": i.id,
        "root_account_id": i.root_account_id,
        "root_account_name": i.root_account_name,
        "context_type": i.context_type,
        "context_id": i.context_id,
        "context_name": i.context_name,
        "workflow_state": i.workflow_state,
        "progress": i.progress,
        "file_name": i.file_name,
        "file_size": i.file_size,
        "rows_total": rows_total,
        "rows_processed": i.rows_processed,
        "rows_per_second": rate,
        "eta_seconds": eta,
        "worker_id": i.worker_id,
        "attempts": i.attempts,
        "created_at": canvas_time(i.created_at),
        "started_at": canvas_time(i.started_at),
        "ended_at": canvas_time(i.ended_at),
        "wait_seconds": _seconds(waited_until, i.created_at),
        "run_seconds": run_seconds,
        "error_count": i.error_count,
        "errors": [[row, message] for row, message in i.errors],
        "cancel_requested": i.cancel_requested,
        "retry_of_id": i.retry_of_id,
        "user": None if i.user_id is None else {"id": i.user_id, "name": i.user_name},
        "paused": i.paused,
    }


def queue_json(q: queries.Queue) -> dict[str, Any]:
    return {
        "root_account_id": q.root_account_id,
        "name": q.name,
        "waiting": q.waiting,
        "running": q.running,
        "paused": q.paused_at is not None,
        "paused_at": canvas_time(q.paused_at),
        "oldest_wait_seconds": None if q.oldest_wait_seconds is None else round(q.oldest_wait_seconds, 3),
    }


async def visible_import(request: web.Request, who: Operator, raw_id: str) -> queries.OpsImport:
    """The import named in the path, with its first 25 errors; 404 if unknown, 403 if out of view."""
    import_id = parse_id(raw_id)
    if import_id is None:
        raise resource_not_found()
    with translate_db_errors():
        found = await queries.get_import(request.app[DEPS].pool, import_id, ERRORS_IN_DETAIL)
    if found is None:
        raise resource_not_found()
    if not who.sees(found.root_account_id):
        raise unauthorized()
    return found


def _per_page(request: web.Request) -> int:
    raw = request.query.get("per_page")
    if raw is None:
        return DEFAULT_PER_PAGE
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_PER_PAGE:
        raise bad_request(f"per_page must be an integer from 1 to {MAX_PER_PAGE}")
    return int(raw)


def _scope(request: web.Request, who: Operator) -> queries.Roots:
    """The operator's roots, narrowed to `root_account_id` when the query names one."""
    raw = request.query.get("root_account_id")
    if raw is None:
        return who.roots
    root_account_id = parse_id(raw)
    if root_account_id is None:
        raise bad_request("root_account_id must be an account id")
    if not who.sees(root_account_id):
        raise unauthorized()
    return (root_account_id,)


@routes.get(f"{PREFIX}/me")
async def me(request: web.Request) -> web.Response:
    who = await operator(request)
    return web.json_response(
        {
            "user": {"id": who.user.id, "name": who.user.name},
            "site_admin": who.user.site_admin,
            "root_account_ids": None if who.roots is None else list(who.roots),
        }
    )


@routes.get(f"{PREFIX}/queues")
async def queues(request: web.Request) -> web.Response:
    who = await operator(request)
    with translate_db_errors():
        found = await queries.list_queues(request.app[DEPS].pool, who.roots)
    return web.json_response({"queues": [queue_json(q) for q in found]})


@routes.get(f"{PREFIX}/imports")
async def imports(request: web.Request) -> web.Response:
    who = await operator(request)
    raw_state = request.query.get("state", "")
    try:
        kind = queries.ImportList(raw_state)
    except ValueError:
        raise bad_request("state must be one of waiting, running, finished, failed") from None
    roots, limit = _scope(request, who), _per_page(request)
    with translate_db_errors():
        found = await queries.list_imports(request.app[DEPS].pool, kind, roots, limit, ERRORS_IN_LISTS)
    return web.json_response({"imports": [import_json(i) for i in found]})


@routes.get(PREFIX + "/imports/{id}")
async def show_import(request: web.Request) -> web.Response:
    who = await operator(request)
    return web.json_response(import_json(await visible_import(request, who, request.match_info["id"])))


@routes.get(f"{PREFIX}/workers")
async def workers(request: web.Request) -> web.Response:
    who = await operator(request)
    deps = request.app[DEPS]
    with translate_db_errors():
        found = await queries.list_workers(
            deps.pool, who.roots, deps.settings.stale_after_seconds, WORKERS_SHOWN_FOR_SECONDS
        )
    return web.json_response(
        {
            "workers": [
                {
                    "id": w.id,
                    "host": w.host,
                    "pid": w.pid,
                    "max_jobs": w.max_jobs,
                    "started_at": canvas_time(w.started_at),
                    "heartbeat_at": canvas_time(w.heartbeat_at),
                    "stopped_at": canvas_time(w.stopped_at),
                    "alive": w.alive,
                    "running_import_ids": list(w.running_import_ids),
                    "rows_processed": w.rows_processed,
                }
                for w in found
            ]
        }
    )


@routes.get(f"{PREFIX}/throughput")
async def throughput(request: web.Request) -> web.Response:
    who = await operator(request)
    minutes = await request.app[DEPS].fleet.throughput(who.roots)
    return web.json_response(
        {
            "minutes": [
                {"minute": canvas_time(m.minute), "rows": m.rows, "succeeded": m.succeeded, "failed": m.failed}
                for m in minutes
            ]
        }
    )


@routes.get(f"{PREFIX}/audit_log")
async def audit_log(request: web.Request) -> web.Response:
    who = await operator(request)
    with translate_db_errors():
        entries = await queries.list_audit(request.app[DEPS].pool, who.roots, AUDIT_ENTRIES)
    return web.json_response(
        {
            "entries": [
                {
                    "id": e.id,
                    "user": None if e.user_id is None else {"id": e.user_id, "name": e.user_name},
                    "action": e.action,
                    "root_account_id": e.root_account_id,
                    "outcome_import_id": e.outcome_import_id,
                    "detail": e.detail,
                    "created_at": canvas_time(e.created_at),
                }
                for e in entries
            ]
        }
    )
