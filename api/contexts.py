"""Canvas's lists of where a caller may import: the accounts they administer, the courses they are
enrolled in, and an account's courses (what the console offers to choose from).

`GET /api/v1/accounts` and `GET /api/v1/courses` answer every signed-in user (an empty list when
there is nothing); `GET /api/v1/accounts/:id/courses` needs an admin of the account or of an
ancestor, as `.../sub_accounts` does.
"""

from __future__ import annotations

from aiohttp import web

from api.auth import authenticate
from api.deps import DEPS
from api.pagination import paginated_response, requested_page
from api.params import invalid, read_params
from api.provisioning import account_to_manage
from shared.db import contexts as db
from shared.db.errors import translate_db_errors

routes = web.RouteTableDef()

# Canvas's `enrollment_type` values and the enrollments they name.
ENROLLMENT_TYPES = {
    "teacher": "TeacherEnrollment",
    "student": "StudentEnrollment",
    "ta": "TaEnrollment",
    "observer": "ObserverEnrollment",
    "designer": "DesignerEnrollment",
}


@routes.get("/api/v1/accounts")
async def list_accounts(request: web.Request) -> web.Response:
    """The accounts the caller administers (a site admin: every root account), by id."""
    user = await authenticate(request)
    page = requested_page(request)
    with translate_db_errors():
        accounts, total = await db.list_accounts(request.app[DEPS].pool, user, limit=page.limit, offset=page.offset)
    return paginated_response(request, page, total, [a.as_canvas_json() for a in accounts])


@routes.get("/api/v1/courses")
async def list_courses(request: web.Request) -> web.Response:
    """The courses in which the caller has an active enrollment (of `enrollment_type` only, if given), by id."""
    user = await authenticate(request)
    params = await read_params(request)
    wanted = params.string("enrollment_type")
    if wanted is None or wanted == "":
        types = list(ENROLLMENT_TYPES.values())
    elif wanted in ENROLLMENT_TYPES:
        types = [ENROLLMENT_TYPES[wanted]]
    else:
        raise invalid("enrollment_type", f"one of {', '.join(ENROLLMENT_TYPES)}")
    page = requested_page(request)
    with translate_db_errors():
        courses, total = await db.list_enrolled_courses(
            request.app[DEPS].pool, user.id, types, limit=page.limit, offset=page.offset
        )
    return paginated_response(request, page, total, [c.as_canvas_json() for c in courses])


@routes.get("/api/v1/accounts/{account_id}/courses")
async def list_account_courses(request: web.Request) -> web.Response:
    """The courses of the account and its sub-accounts, by name; `search_term` matches part of the
    name or course code, or the id."""
    account, _ = await account_to_manage(request)
    search_term = ((await read_params(request)).string("search_term") or "").strip() or None
    page = requested_page(request)
    with translate_db_errors():
        courses, total = await db.list_account_courses(
            request.app[DEPS].pool, account.id, search_term, limit=page.limit, offset=page.offset
        )
    return paginated_response(request, page, total, [c.as_canvas_json() for c in courses])
