"""The dashboard's pages: the sign-in form, the dashboard itself, and its static files."""

from __future__ import annotations

from html import escape
from pathlib import Path
from string import Template
from types import MappingProxyType

from aiohttp import web

from api.errors import resource_not_found, unauthorized
from api.params import body_errors
from api.sessions import same_origin, session_user, sign_in

routes = web.RouteTableDef()

_HERE = Path(__file__).parent
STATIC_DIR = _HERE / "static"
# Stated, not guessed: guesses come from the host's mime.types, and with `nosniff` a browser
# refuses a stylesheet or module script of a wrong type.
_CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
# Only the files shipped in the package are served, looked up by name: no path from a request
# ever reaches the file system.
STATIC_FILES = MappingProxyType(
    {path.relative_to(STATIC_DIR).as_posix(): path for path in sorted(STATIC_DIR.rglob("*")) if path.is_file()}
)
_INDEX = _HERE / "pages" / "index.html"
_LOGIN = Template((_HERE / "pages" / "login.html").read_text(encoding="utf-8"))

DASHBOARD_URL = "/dashboard"
LOGIN_URL = "/dashboard/login"
INVALID_TOKEN = "That token was not accepted: it is unknown, deleted or expired. Paste a valid API token."
MISSING_TOKEN = "Paste an API token."


def _see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _login_page(message: str | None = None, status: int = 200) -> web.Response:
    error = "" if message is None else f'<p class="error" id="login-error" role="alert">{escape(message)}</p>'
    described_by = "" if message is None else ' aria-describedby="login-error" aria-invalid="true"'
    text = _LOGIN.substitute(error=error, described_by=described_by)
    return web.Response(text=text, content_type="text/html", status=status)


@routes.get(DASHBOARD_URL)
async def dashboard(request: web.Request) -> web.StreamResponse:
    """The dashboard page; without a session, the sign-in form."""
    if await session_user(request) is None:
        return _see_other(LOGIN_URL)
    return web.FileResponse(_INDEX)


@routes.get(LOGIN_URL)
async def login_form(request: web.Request) -> web.Response:
    if await session_user(request) is not None:
        return _see_other(DASHBOARD_URL)
    return _login_page()


@routes.post(LOGIN_URL)
async def login(request: web.Request) -> web.Response:
    """Sign in with an API token pasted into the form (never in a URL, so never in an access log)."""
    # The session cookie is SameSite=Strict; checking the Origin too keeps another site's page
    # from signing a browser in with the other site's token (login CSRF).
    if not same_origin(request):
        raise unauthorized()
    async with body_errors(request):
        form = await request.post()
    token = form.get("token")
    if not isinstance(token, str) or not token.strip():
        return _login_page(MISSING_TOKEN, status=400)
    response = _see_other(DASHBOARD_URL)
    if not await sign_in(request, response, token.strip()):
        return _login_page(INVALID_TOKEN, status=401)
    return response


@routes.get("/dashboard/static/{path:.+}")
async def static_file(request: web.Request) -> web.FileResponse:
    path = STATIC_FILES.get(request.match_info["path"])
    if path is None:
        raise resource_not_found()
    content_type = _CONTENT_TYPES.get(path.suffix, "text/plain")
    return web.FileResponse(path, headers={"Content-Type": f"{content_type}; charset=utf-8"})
