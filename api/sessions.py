"""Dashboard sessions: a cookie opened by signing in with an API token, and its CSRF token.

The cookie is HttpOnly (scripts cannot read it), SameSite=Strict (other sites' pages cannot
send it) and Secure over TLS. Requests that change something must also carry the session's
CSRF token in `X-CSRF-Token`, which the page reads from `GET /dashboard/session`.
"""

from __future__ import annotations

import hmac

from aiohttp import web
from yarl import URL

from api.deps import DEPS
from api.errors import unauthenticated, unauthorized
from api.headers import header_text
from shared.db.accounts import User
from shared.db.errors import translate_db_errors
from shared.db.sessions import Session, close_session, load_session, open_session

routes = web.RouteTableDef()

COOKIE_NAME = "outcome_imports_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_SESSION = web.RequestKey("dashboard_session", Session)


async def _session(request: web.Request) -> Session | None:
    if _SESSION in request:
        return request[_SESSION]
    session_id = request.cookies.get(COOKIE_NAME)
    if not session_id:
        return None
    with translate_db_errors():
        session = await load_session(request.app[DEPS].pool, session_id)
    if session is not None:
        request[_SESSION] = session
    return session


async def session_user(request: web.Request) -> User | None:
    """The user of the request's live dashboard session, or None when it has none.

    For a method that changes something, the `X-CSRF-Token` header must equal the session's CSRF
    token: otherwise 403 (Canvas's body), since another site may have made the browser send it.
    """
    session = await _session(request)
    if session is None:
        return None
    if request.method not in SAFE_METHODS:
        sent = header_text(request, CSRF_HEADER)
        if not hmac.compare_digest(sent.encode(), session.csrf_token.encode()):
            raise unauthorized()
    return session.user


def same_origin(request: web.Request) -> bool:
    """False when the browser says the request comes from a page of another site.

    Browsers send `Sec-Fetch-Site`; the Origin header is no use with our `Referrer-Policy:
    no-referrer`, under which Chromium sends `Origin: null` even from our own form. Without
    `Sec-Fetch-Site`, an Origin must name this host (only the host and port: behind a proxy that
    ends TLS the app sees http where the browser says https). A request with neither (a
    non-browser client) passes: no browser sent it on another site's behalf.
    """
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    return URL(origin).authority == request.host


def came_over_tls(request: web.Request) -> bool:
    """True for HTTPS, also when a proxy in front ended TLS and says so in `X-Forwarded-Proto`.

    Trusting the header costs nothing: it can only add `Secure`, which makes a browser send the
    cookie over HTTPS only.
    """
    forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
    return request.secure or forwarded == "https"


async def sign_in(request: web.Request, response: web.StreamResponse, token: str) -> bool:
    """Open a session for `token` and set its cookie on `response`; False when the token is not valid."""
    deps = request.app[DEPS]
    seconds = deps.settings.dashboard_session_seconds
    with translate_db_errors():
        new = await open_session(deps.pool, token, seconds)
    if new is None:
        return False
    response.set_cookie(
        COOKIE_NAME,
        new.id,
        max_age=seconds,
        path="/",
        httponly=True,
        samesite="Strict",
        secure=came_over_tls(request),
    )
    return True


@routes.get("/dashboard/session")
async def show_session(request: web.Request) -> web.Response:
    """The signed-in user and the CSRF token the page sends with every change; 401 without a session."""
    session = await _session(request)
    if session is None:
        raise unauthenticated()
    return web.json_response(
        {"csrf_token": session.csrf_token, "user": {"id": session.user.id, "name": session.user.name}}
    )


@routes.post("/dashboard/logout")
async def sign_out(request: web.Request) -> web.Response:
    """Delete the session (CSRF-protected) and the cookie; 204 also when there was no session."""
    if not same_origin(request):
        raise unauthorized()
    if await session_user(request) is not None:
        with translate_db_errors():
            await close_session(request.app[DEPS].pool, request.cookies[COOKIE_NAME])
    response = web.Response(status=204)
    response.del_cookie(COOKIE_NAME, path="/", httponly=True, samesite="Strict", secure=came_over_tls(request))
    return response
