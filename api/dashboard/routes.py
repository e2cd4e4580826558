"""The dashboard's pages: the sign-in form, the dashboard itself, and its static files."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from api.pages import (
    INVALID_TOKEN,
    MISSING_TOKEN,
    SignInForm,
    page_handler,
    posted_token,
    see_other,
    sign_in_form_handler,
    static_files,
    static_handler,
)
from api.sessions import sign_in

routes = web.RouteTableDef()

_HERE = Path(__file__).parent
STATIC_DIR = _HERE / "static"
STATIC_FILES = static_files(STATIC_DIR)
_INDEX = _HERE / "pages" / "index.html"
_LOGIN = SignInForm.load(_HERE / "pages" / "login.html")

DASHBOARD_URL = "/dashboard"
LOGIN_URL = "/dashboard/login"


routes.get(DASHBOARD_URL)(page_handler(_INDEX, LOGIN_URL))
routes.get(LOGIN_URL)(sign_in_form_handler(_LOGIN, DASHBOARD_URL))


@routes.post(LOGIN_URL)
async def login(request: web.Request) -> web.Response:
    """Sign in with an API token pasted into the form (never in a URL, so never in an access log)."""
    token = await posted_token(request)
    if token is None:
        return _LOGIN.render(MISSING_TOKEN, status=400)
    response = see_other(DASHBOARD_URL)
    if not await sign_in(request, response, token):
        return _LOGIN.render(INVALID_TOKEN, status=401)
    return response


routes.get("/dashboard/static/{path:.+}")(static_handler(STATIC_FILES))
