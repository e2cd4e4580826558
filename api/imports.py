"""Outcome Imports API handlers: create, show (id or `latest`) and created_group_ids (spec §2)."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from typing import Any

import asyncpg
from aiohttp import web
from multidict import MultiDict

from api import import_actions
from api.auth import authorize_context, parse_id
from api.case_packages import CASE_JSON, CASE_PARAMS, PACKAGE_URL, case_options, fetch_package, package_url
from api.deps import DEPS, Deps
from api.errors import ApiError, bad_request, errors_body, record_not_found
from api.params import stored_text
from api.uploads import Upload, charset_error, read_upload
from shared.db import idempotency
from shared.db import imports as queries
from shared.db.accounts import Context
from shared.db.errors import translate_db_errors
from shared.db.turns import is_first_in_line, lock_turns
from shared.errors import QueueUnavailable
from shared.models import ImportState
from shared.queue import enqueue_import
from shared.storage import StoredObject, new_object_key

logger = logging.getLogger(__name__)

routes = web.RouteTableDef()

IMPORT_TYPES = frozenset({"instructure_csv", CASE_JSON})
IDEMPOTENCY_HEADER = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY = 255
_FILE_AND_URL = "Give either a file or case_package_url, not both"
KEY_REUSED = "This Idempotency-Key was used for a different upload in the last 24 hours"
CONTEXTS = ("/api/v1/accounts/{account_id}", "/api/v1/courses/{course_id}")


@dataclass(frozen=True, slots=True)
class StoredUpload:
    stored: StoredObject
    file_name: str
    content_type: str


def _invalid_import_type(value: str) -> ApiError:
    # Canvas raises here (a 500); spec §2.3 allows a 400 with the same body shape, which is honest.
    return ApiError(
        400, {"errors": [{"message": f"Invalid import_type: {value}", "error_code": "invalid_import_type"}]}
    )


def _import_type(params: MultiDict[str]) -> str:
    """The last `import_type` given (a form field after the query string's, as in Rails), else the default."""
    return (params.getall("import_type", []) or [""])[-1] or "instructure_csv"


def _check_params(params: MultiDict[str]) -> None:
    """Every `import_type` given (query string and form fields) must be a known one, every CASE
    parameter storable text, and every `dry_run` a boolean."""
    for import_type in params.getall("import_type", []):
        if (import_type or "instructure_csv") not in IMPORT_TYPES:
            raise _invalid_import_type(import_type)
    for name in CASE_PARAMS:
        for value in params.getall(name, []):
            stored_text(name, value)
    for value in params.getall("dry_run", []):
        if value.lower() not in _BOOLEANS:
            raise ApiError(
                400, {"errors": [{"message": f"Invalid dry_run: {value[:100]}", "error_code": "invalid_dry_run"}]}
            )


# Canvas's value_to_boolean, whose strings Canvas's clients send; a blank value is false.
_BOOLEANS = {
    "true": True, "1": True, "yes": True, "on": True,
    "false": False, "0": False, "no": False, "off": False, "": False,
}  # fmt: skip


def _dry_run(params: MultiDict[str]) -> bool:
    """The last `dry_run` given (a form field after the query string's), checked by _check_params."""
    values = params.getall("dry_run", [])
    return bool(values) and _BOOLEANS[values[-1].lower()]


async def create_import(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    context, user = await authorize_context(request)
    target_group_id = await _target_group(request, deps, context)
    key = _idempotency_key(request)
    upload = await read_upload(request, deps.settings.max_upload_bytes, _check_params, file_param=PACKAGE_URL)
    # A raw body's parameters are all in the query string, known before it is read. RFC 8259: JSON
    # is UTF-8 and application/json has no charset parameter; the rule is the CSV's.
    if upload.bad_charset and _import_type(upload.params) != CASE_JSON:
        raise charset_error()
    stored_upload = await _store(deps, upload)
    stored, stored_name, stored_type = stored_upload.stored, stored_upload.file_name, stored_upload.content_type
    try:
        # Every parameter is known now: a multipart form's fields after the file are read with it.
        import_type = _import_type(upload.params)
        options = case_options(upload.params) if import_type == CASE_JSON else None
        dry_run = _dry_run(upload.params)
        fingerprint = _fingerprint(context, target_group_id, import_type, dry_run, stored.sha256, options)
        with translate_db_errors():
            async with deps.pool.acquire() as conn, conn.transaction():
                replayed = key is not None and await _replayed(conn, user.id, key, fingerprint)
                if not replayed:
                    await lock_turns(conn, context.root_account_id)
                    outcome_import = await queries.insert_import(
                        conn,
                        context,
                        user.id,
                        stored,
                        file_name=stored_name,
                        content_type=stored_type,
                        target_group_id=target_group_id,
                        import_type=import_type,
                        dry_run=dry_run,
                        options=options,
                    )
                    first_in_line = await is_first_in_line(conn, context.root_account_id, outcome_import.id)
                    if key is not None:
                        await idempotency.remember(conn, user.id, key, fingerprint, outcome_import.id)
    except BaseException:
        await deps.storage.delete(stored.key)
        raise
    if replayed:
        # The same request again (a retry after a dropped connection, say): its import, not another.
        await deps.storage.delete(stored.key)
        return web.json_response(await _import_json(deps, context, replayed), headers={"Idempotent-Replayed": "true"})
    body = outcome_import.as_canvas_json([])
    await deps.status.put(outcome_import.id, context.key, body)
    await deps.fleet.record_upload(context.root_account_id, stored.size)
    # Only the first in line gets a job; the import before it hands the turn on (shared/db/turns.py).
    if first_in_line:
        try:
            await enqueue_import(deps.redis, outcome_import.id)
        except QueueUnavailable:
            # The import is committed, and PostgreSQL is the truth: the workers' reconciler
            # enqueues every first-in-line import that has no job, as soon as Redis answers again.
            logger.warning("import_id=%s: Redis unavailable; the reconciler will enqueue it", outcome_import.id)
    logger.info("created import_id=%s context=%s bytes=%s", outcome_import.id, context.key, stored.size)
    return web.json_response(body)


async def _store(deps: Deps, upload: Upload) -> StoredUpload:
    """Store the request's file, or the CASE package its `case_package_url` names (fetched now,
    streamed into storage as an upload is: everything after is the same for both)."""
    if package_url(upload.params) is None:
        stored = await deps.storage.put_stream(new_object_key(), upload.chunks)
        if package_url(upload.params) is not None:  # a form field after the file
            await deps.storage.delete(stored.key)
            raise bad_request(_FILE_AND_URL)
        return StoredUpload(stored, upload.file_name, upload.content_type)
    async for chunk in upload.chunks:
        if chunk:
            raise bad_request(_FILE_AND_URL)
    if _import_type(upload.params) != CASE_JSON:
        raise bad_request("case_package_url is for import_type=case_json")
    url = package_url(upload.params)
    assert url is not None
    async with fetch_package(url, deps.settings) as fetched:
        stored = await deps.storage.put_stream(new_object_key(), fetched.chunks)
    return StoredUpload(stored, fetched.file_name, fetched.content_type)


def _idempotency_key(request: web.Request) -> str | None:
    """The request's Idempotency-Key (a Structured Field string, quoted or not); 400 if malformed."""
    raw = request.headers.get(IDEMPOTENCY_HEADER)
    if raw is None:
        return None
    value = raw.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1]
    if not 0 < len(value) <= MAX_IDEMPOTENCY_KEY or not value.isascii() or not value.isprintable():
        raise bad_request(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} printable ASCII characters")
    return value


def _fingerprint(
    context: Context,
    target_group_id: int | None,
    import_type: str,
    dry_run: bool,
    file_sha256: str,
    options: dict[str, Any] | None = None,
) -> str:
    """What makes two uploads the same request. (A dry run's differs from the same upload's
    without one, a CASE import's with other options too; the text hashed for uploads without
    either is what it was before them.)"""
    what = f"{context.key}|{target_group_id}|{import_type}|{file_sha256}" + ("|dry_run" if dry_run else "")
    if options:
        what += "|" + json.dumps(options, sort_keys=True)
    return hashlib.sha256(what.encode()).hexdigest()


async def _replayed(conn: asyncpg.Connection, user_id: int, key: str, fingerprint: str) -> int | None:
    """The import this key's first request created, if this is the same request; 422 if the key was
    used for another request; None the first time (the key's lock is then held until commit)."""
    await idempotency.lock_key(conn, user_id, key)
    prior = await idempotency.remembered(conn, user_id, key, idempotency.KEY_TTL_SECONDS)
    if prior is None:
        return None
    if prior.fingerprint != fingerprint:
        raise ApiError(422, errors_body(KEY_REUSED))
    return prior.outcome_import_id


async def _target_group(request: web.Request, deps: Deps, context: Context) -> int | None:
    raw = request.match_info.get("group_id")
    if raw is None:
        return None
    group_id = parse_id(raw)
    with translate_db_errors():
        found = group_id is not None and await queries.is_active_group_of(deps.pool, group_id, context)
    if not found:
        raise record_not_found(f"Couldn't find LearningOutcomeGroup with 'id'={raw}")
    return group_id


async def _find_import_id(request: web.Request, deps: Deps, context: Context) -> int:
    raw = request.match_info["id"]
    if raw == "latest":
        with translate_db_errors():
            latest = await queries.get_latest_import_id(deps.pool, context)
        if latest is None:
            raise record_not_found("ActiveRecord::RecordNotFound")
        return latest
    import_id = parse_id(raw)
    if import_id is None:
        raise record_not_found(f"Couldn't find OutcomeImport with 'id'={raw}")
    return import_id


async def _import_json(deps: Deps, context: Context, import_id: int) -> dict[str, Any]:
    """Redis's view when it has one, else PostgreSQL's truth."""
    cached = await deps.status.get(import_id, context.key)
    if cached is not None:
        return cached
    with translate_db_errors():
        outcome_import = await queries.get_import(deps.pool, context, import_id)
        if outcome_import is None:
            raise record_not_found(f"Couldn't find OutcomeImport with 'id'={import_id}")
        errors = await queries.get_exposed_errors(deps.pool, import_id)
    return outcome_import.as_canvas_json(errors)


async def show_import(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    context, _ = await authorize_context(request)
    import_id = await _find_import_id(request, deps, context)
    # The hot path of every polling client: Redis's JSON goes out as it is.
    cached = await deps.status.get_raw(import_id, context.key)
    if cached is not None:
        return web.Response(body=cached, content_type="application/json", charset="utf-8")
    return web.json_response(await _import_json(deps, context, import_id))


async def created_group_ids(request: web.Request) -> web.Response:
    deps = request.app[DEPS]
    context, _ = await authorize_context(request)
    import_id = await _find_import_id(request, deps, context)
    state = ImportState((await _import_json(deps, context, import_id))["workflow_state"])
    if state is ImportState.failed:
        raise record_not_found("Import has failed")
    if state is not ImportState.succeeded:
        raise record_not_found("Import is still being processed")
    with translate_db_errors():
        ids = await queries.get_created_group_ids(deps.pool, import_id)
    return web.json_response(queries.ids_as_strings(ids))


async def import_of_context(request: web.Request, deps: Deps, context: Context) -> int:
    """The import named in the path (an id or `latest`), if it is one of this context; Canvas's 404 otherwise."""
    import_id = await _find_import_id(request, deps, context)
    with translate_db_errors():
        found = await queries.get_import(deps.pool, context, import_id)
    if found is None:
        raise record_not_found(f"Couldn't find OutcomeImport with 'id'={import_id}")
    return import_id


async def cancel_import(request: web.Request) -> web.Response:
    """Cancel a waiting or running import of the context (api/import_actions.py); the import as it is now."""
    deps = request.app[DEPS]
    context, user = await authorize_context(request)
    import_id = await import_of_context(request, deps, context)
    await import_actions.cancel_import(deps, user.id, import_id, context.root_account_id)
    return web.json_response(await _import_json(deps, context, import_id))


async def retry_import(request: web.Request) -> web.Response:
    """201 and a new import of a failed import's stored file (api/import_actions.py)."""
    deps = request.app[DEPS]
    context, user = await authorize_context(request)
    import_id = await import_of_context(request, deps, context)
    new_id = await import_actions.retry_import(deps, user.id, import_id, context.root_account_id)
    return web.json_response(await _import_json(deps, context, new_id), status=201)


for _prefix in CONTEXTS:
    routes.post(f"{_prefix}/outcome_imports")(create_import)
    routes.post(f"{_prefix}/outcome_imports/group/{{group_id}}")(create_import)
    routes.get(f"{_prefix}/outcome_imports/{{id}}")(show_import)
    routes.get(f"{_prefix}/outcome_imports/{{id}}/created_group_ids")(created_group_ids)
    routes.post(f"{_prefix}/outcome_imports/{{id}}/cancel")(cancel_import)
    routes.post(f"{_prefix}/outcome_imports/{{id}}/retry")(retry_import)
