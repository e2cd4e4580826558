"""The console's pages: the sign-in form, the console itself at `/`, and its static files.

Signing in here opens the same session as the dashboard's form (api/sessions.py), but only for a
user who may import somewhere: anyone else gets the form again, saying why.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from api.deps import DEPS
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
from shared.db.accounts import user_for_token
from shared.db.contexts import may_import_somewhere
from shared.db.errors import translate_db_errors

routes = web.RouteTableDef()

_HERE = Path(__file__).parent
STATIC_DIR = _HERE / "static"
STATIC_FILES = static_files(STATIC_DIR)
_INDEX = _HERE / "pages" / "index.html"
_LOGIN = SignInForm.load(_HERE / "pages" / "login.html")

CONSOLE_URL = "/"
LOGIN_URL = "/login"
MAY_NOT_IMPORT = (
    "This token's user may not import outcomes anywhere: they are not an admin of an account nor a "
    "teacher of a course. Ask an administrator of your account to give you access."
)


routes.get(CONSOLE_URL)(page_handler(_INDEX, LOGIN_URL))
routes.get(LOGIN_URL)(sign_in_form_handler(_LOGIN, CONSOLE_URL))


@routes.post(LOGIN_URL)
async def login(request: web.Request) -> web.Response:
    """Sign in with an API token pasted into the form (never in a URL, so never in an access log)."""
    token = await posted_token(request)
    if token is None:
        return _LOGIN.render(MISSING_TOKEN, status=400)
    pool = request.app[DEPS].pool
    with translate_db_errors():
        user = await user_for_token(pool, token)
        allowed = user is not None and await may_import_somewhere(pool, user)
    if user is None:
        return _LOGIN.render(INVALID_TOKEN, status=401)
    if not allowed:
        return _LOGIN.render(MAY_NOT_IMPORT, status=403)
    response = see_other(CONSOLE_URL)
    if not await sign_in(request, response, token):  # deleted or expired a moment ago
        return _LOGIN.render(INVALID_TOKEN, status=401)
    return response


routes.get("/console/static/{path:.+}")(static_handler(STATIC_FILES))
