"""What every page served to a browser shares (the operators' dashboard and the import console):
static files looked up by name, the sign-in form, and the security headers of every page response.

Both sign in the same way (api/sessions.py): an API token pasted into a form opens a session whose
cookie both accept, so one sign-in serves both.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from html import escape
from pathlib import Path
from string import Template
from types import MappingProxyType

from aiohttp import web

from api.errors import Handler, resource_not_found, unauthorized
from api.params import body_errors
from api.sessions import same_origin, session_user

# Paths of pages and of what they alone read; every other response is the API's.
PAGE_PATHS = frozenset({"/", "/login"})
PAGE_PREFIXES = ("/dashboard", "/console")
_STATIC_PREFIXES = ("/dashboard/static/", "/console/static/")
# No inline script or style anywhere (uPlot sets styles through the CSSOM, which CSP allows),
# nothing loaded from elsewhere, no framing, forms post only to us.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# Stated, not guessed: guesses come from the host's mime.types, and with `nosniff` a browser
# refuses a stylesheet or module script of a wrong type.
_CONTENT_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}

INVALID_TOKEN = "That token was not accepted: it is unknown, deleted or expired. Paste a valid API token."
MISSING_TOKEN = "Paste an API token."


def is_page(path: str) -> bool:
    return path in PAGE_PATHS or any(path == prefix or path.startswith(prefix + "/") for prefix in PAGE_PREFIXES)


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    """An `on_response_prepare` signal handler; leaves the API's responses alone."""
    path = request.path
    if not is_page(path):
        return
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    # Pages and session answers are per person and short-lived; assets revalidate by ETag, so a
    # new release is picked up on the next load.
    response.headers["Cache-Control"] = "no-cache" if path.startswith(_STATIC_PREFIXES) else "no-store"


def static_files(directory: Path) -> Mapping[str, Path]:
    """The files shipped in `directory`, by their relative path: no path from a request ever
    reaches the file system, only these names are looked up."""
    return MappingProxyType(
        {path.relative_to(directory).as_posix(): path for path in sorted(directory.rglob("*")) if path.is_file()}
    )


def static_handler(files: Mapping[str, Path]) -> Handler:
    """A handler serving `files` by the `{path}` of its route; Canvas's 404 for any other name."""

    async def static_file(request: web.Request) -> web.StreamResponse:
        path = files.get(request.match_info["path"])
        if path is None:
            raise resource_not_found()
        content_type = _CONTENT_TYPES.get(path.suffix, "text/plain")
        return web.FileResponse(path, headers={"Content-Type": f"{content_type}; charset=utf-8"})

    return static_file


def see_other(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def page_handler(page: Path, login_url: str) -> Handler:
    """A page for a signed-in browser; without a session, a redirect to its sign-in form."""

    async def signed_in_page(request: web.Request) -> web.StreamResponse:
        if await session_user(request) is None:
            return see_other(login_url)
        return web.FileResponse(page)

    return signed_in_page


def sign_in_form_handler(form: SignInForm, page_url: str) -> Handler:
    """The sign-in form; a browser signed in already goes on to the page."""

    async def sign_in_form(request: web.Request) -> web.StreamResponse:
        if await session_user(request) is not None:
            return see_other(page_url)
        return form.render()

    return sign_in_form


@dataclass(frozen=True, slots=True)
class SignInForm:
    """A sign-in page template with `$error` (the message, if any) and `$described_by` (the input's
    ARIA attributes pointing at it)."""

    template: Template

    @classmethod
    def load(cls, path: Path) -> SignInForm:
        return cls(Template(path.read_text(encoding="utf-8")))

    def render(self, message: str | None = None, status: int = 200) -> web.Response:
        error = "" if message is None else f'<p class="error" id="login-error" role="alert">{escape(message)}</p>'
        described_by = "" if message is None else ' aria-describedby="login-error" aria-invalid="true"'
        text = self.template.substitute(error=error, described_by=described_by)
        return web.Response(text=text, content_type="text/html", status=status)


async def posted_token(request: web.Request) -> str | None:
    """The API token pasted into a sign-in form (in the body, never a URL, so never in an access
    log); None when the form has none. 403 for a form posted from another site's page."""
    # The session cookie is SameSite=Strict; checking the origin too keeps another site's page
    # from signing a browser in with the other site's token (login CSRF).
    if not same_origin(request):
        raise unauthorized()
    async with body_errors(request):
        form = await request.post()
    token = form.get("token")
    if not isinstance(token, str) or not token.strip():
        return None
    return token.strip()
