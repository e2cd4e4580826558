"""Bearer token (or a signed-in browser's session) -> user; context lookup; permission checks, in
Canvas's order (spec §2.2)."""

from __future__ import annotations

from aiohttp import web

from api.deps import DEPS
from api.errors import invalid_token, resource_not_found, unauthenticated, unauthorized
from api.headers import header_text
from api.sessions import session_user
from shared.db.accounts import Context, User, can_manage_outcomes, load_context, user_for_token
from shared.db.errors import translate_db_errors
from shared.models import ContextType
from shared.tokens import token_digest

USER = web.RequestKey("user", User)


def bearer_token(request: web.Request) -> str | None:
    """The API token the request carries, if any (header, or Canvas's `access_token` parameter)."""
    header = header_text(request, "Authorization")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    # Canvas also accepts the token as a parameter.
    return request.query.get("access_token") or None


async def authenticate(request: web.Request) -> User:
    """The caller; 401 without credentials or with a token that is unknown, deleted or expired.

    Without a token, the session of a browser signed in to the dashboard or the console counts
    (api/sessions.py: a request that changes something must then carry the session's CSRF token,
    else 403).
    """
    if USER in request:
        return request[USER]
    token = bearer_token(request)
    if token is None:
        found = await session_user(request)
        if found is None:
            raise unauthenticated()
        request[USER] = found
        return found
    deps = request.app[DEPS]
    digest = token_digest(token)
    user = deps.users.get(digest)
    if user is None:
        with translate_db_errors():
            user = await user_for_token(deps.pool, token)
        if user is None:
            raise invalid_token()
        deps.users.put(digest, user)
    request[USER] = user
    return user


def parse_id(raw: str) -> int | None:
    """Numeric ids only (Canvas also has `sis_...:` forms, not supported here)."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        return None
    return int(raw)


async def find_context(request: web.Request, type_: ContextType, raw_id: str) -> Context:
    """The account or course named in the path; 404 (Canvas's generic body) if unknown."""
    id_ = parse_id(raw_id)
    if id_ is None:
        raise resource_not_found()
    deps = request.app[DEPS]
    context = deps.contexts.get((type_.value, id_))
    if context is None:
        with translate_db_errors():
            context = await load_context(deps.pool, type_, id_)
        if context is None:
            raise resource_not_found()
        deps.contexts.put((type_.value, id_), context)
    return context


def context_from_path(request: web.Request) -> tuple[ContextType, str]:
    if "account_id" in request.match_info:
        return ContextType.account, request.match_info["account_id"]
    return ContextType.course, request.match_info["course_id"]


async def authorize_context(request: web.Request) -> tuple[Context, User]:
    """Authentication -> context exists -> may manage outcomes there; raises the Canvas 401/404/403."""
    user = await authenticate(request)
    context = await find_context(request, *context_from_path(request))
    deps = request.app[DEPS]
    allowed = deps.permissions.get((user.id, context.key))
    if allowed is None:
        with translate_db_errors():
            allowed = await can_manage_outcomes(deps.pool, user, context)
        deps.permissions.put((user.id, context.key), allowed)
    if not allowed:
        raise unauthorized()
    return context, user
