"""Errors as Canvas shapes them, and the one middleware that turns every failure into a response."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
from aiohttp import web

from shared.errors import (
    DatabaseBusy,
    DatabaseUnavailable,
    QueueUnavailable,
    StorageUnavailable,
    UploadTooLarge,
)

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
WWW_AUTHENTICATE = {"WWW-Authenticate": 'Bearer realm="canvas-lms"'}


class ApiError(Exception):
    """An answer that is not 2xx: status, exact Canvas body, optional headers."""

    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def errors_body(message: str) -> dict[str, Any]:
    return {"errors": [{"message": message}]}


def unauthenticated() -> ApiError:
    return ApiError(
        401,
        {"status": "unauthenticated", "errors": [{"message": "user authorization required"}]},
        WWW_AUTHENTICATE,
    )


def invalid_token() -> ApiError:
    return ApiError(401, errors_body("Invalid access token."), WWW_AUTHENTICATE)


def unauthorized() -> ApiError:
    return ApiError(
        403, {"status": "unauthorized", "errors": [{"message": "user not authorized to perform that action"}]}
    )


def resource_not_found() -> ApiError:
    return ApiError(404, errors_body("The specified resource does not exist."))


def record_not_found(message: str) -> ApiError:
    """Canvas's bare `{"message": ...}` 404 of the Outcome Imports API."""
    return ApiError(404, {"message": message})


def bad_request(message: str) -> ApiError:
    return ApiError(400, errors_body(message))


def internal_error_body(report_id: int) -> dict[str, Any]:
    return {
        "errors": [{"message": "An error occurred.", "error_code": "internal_server_error"}],
        "error_report_id": report_id,
    }


def new_error_report_id() -> int:
    """A reference a client can quote and an operator can grep for in the logs."""
    return secrets.randbelow(10**12)


_UNAVAILABLE: dict[type[Exception], str] = {
    DatabaseUnavailable: "The database is temporarily unavailable; try again later.",
    DatabaseBusy: "The database is busy; try again later.",
    StorageUnavailable: "File storage is temporarily unavailable; try again later.",
    QueueUnavailable: "The job queue is temporarily unavailable; try again later.",
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The one place responses for failures are made; never a traceback."""
    try:
        return await handler(request)
    except ApiError as exc:
        if exc.status in (400, 408):
            _log_client_mistake(request, exc)
        return web.json_response(exc.body, status=exc.status, headers=exc.headers)
    except UploadTooLarge as exc:
        return web.json_response(errors_body(str(exc)), status=413)
    except (DatabaseUnavailable, StorageUnavailable, QueueUnavailable) as exc:
        logger.warning("%s %s: %s", request.method, request.path, type(exc).__name__)
        return web.json_response(errors_body(_UNAVAILABLE[type(exc)]), status=503, headers={"Retry-After": "5"})
    except (asyncpg.QueryCanceledError, asyncpg.LockNotAvailableError) as exc:
        # The API's statement_timeout (the API never cancels its own statements otherwise), or
        # the lock_timeout of an export's connection.
        logger.warning("%s %s: %s", request.method, request.path, type(exc).__name__)
        return web.json_response(errors_body(_UNAVAILABLE[DatabaseBusy]), status=503, headers={"Retry-After": "5"})
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        if exc.status == 404:
            return web.json_response(errors_body("The specified resource does not exist."), status=404)
        return web.json_response(errors_body(exc.reason), status=exc.status, headers=_allow(exc))
    except Exception:
        report_id = new_error_report_id()
        logger.exception("unhandled error on %s %s (error report %s)", request.method, request.path, report_id)
        return web.json_response(internal_error_body(report_id), status=500)


def _log_client_mistake(request: web.Request, exc: ApiError) -> None:
    """A malformed request is the client's mistake: one WARNING line, with the parser's reason, no traceback."""
    cause = exc.__cause__
    reason = "" if cause is None else f" ({type(cause).__name__}: {' '.join(str(cause).split())[:200]})"
    logger.warning("%s %s: %s %s%s", request.method, request.path, exc.status, exc.body, reason)


def _allow(exc: web.HTTPException) -> dict[str, str]:
    allow = exc.headers.get("Allow")
    return {"Allow": allow} if allow else {}
