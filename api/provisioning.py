"""Canvas provisioning routes: accounts, sub-accounts, courses, users, admins, enrollments, tokens.

Each handler answers in Canvas's order: authentication (401) -> the object in the path exists
(404) -> the caller may act on it (403) -> parameters (400). Managing an account, its
sub-accounts, courses, users and admins, and enrolling in its courses, needs a site admin or an
admin of that account or of an ancestor; reading a course also lets its teachers in. Users
belong to one root account: another root account's admins get a 404 for them.
"""

from __future__ import annotations

import re

import asyncpg
from aiohttp import web

from api.auth import authenticate, find_context, parse_id
from api.deps import DEPS
from api.errors import ApiError, resource_not_found, unauthorized
from api.pagination import paginated_response, requested_page
from api.params import Params, invalid, read_params
from shared.db import provisioning as db
from shared.db.accounts import Context, User, can_manage_outcomes, load_context
from shared.db.errors import translate_db_errors
from shared.mail import is_email_address
from shared.models import ContextType
from shared.tokens import new_token

routes = web.RouteTableDef()

ENROLLMENT_TYPES = (
    "StudentEnrollment",
    "TeacherEnrollment",
    "TaEnrollment",
    "ObserverEnrollment",
    "DesignerEnrollment",
)
# Canvas's default is "invited": the user must accept before the enrollment is active.
ENROLLMENT_STATES = ("invited", "active", "inactive")
# Only the built-in admin role exists here; anything else would silently grant full admin rights.
ADMIN_ROLES = ("AccountAdmin",)
# Canvas's User::SUFFIXES, used when deriving a sortable name.
_NAME_SUFFIX = re.compile(r"^(Sn?r\.?|Senior|Jn?r\.?|Junior|II|III|IV|V|VI|Esq\.?|Esquire)$", re.IGNORECASE)


def sortable_name(name: str) -> str:
    """Canvas's `User.last_name_first`: "Jane Doe" -> "Doe, Jane"; "John Doe Jr." -> "Doe, John Jr."."""
    pieces = re.split(r"\s*,\s*", name.strip(), maxsplit=2)
    surname: str | None = None
    suffix: str | None = None
    if len(pieces) == 1:
        given = pieces[0]
    else:
        surname, given = pieces[0], pieces[1]
        if len(pieces) == 3:
            # "Doe, John, Sr."; otherwise "Ho, Chi, Min" is "Ho, Chi Min".
            if _NAME_SUFFIX.match(pieces[2]):
                suffix = pieces[2]
            else:
                given = f"{given} {pieces[2]}"
        elif re.search(r"\s", surname) and _NAME_SUFFIX.match(given):
            # "John Doe, Sr."
            given, suffix, surname = surname, given, None
    given_parts = given.split()
    if suffix is None and len(given_parts) > 1 and _NAME_SUFFIX.match(given_parts[-1]):
        suffix = given_parts.pop()
    if surname is None and len(given_parts) > 1:
        surname = given_parts.pop()
    first = " ".join([*given_parts, *([suffix] if suffix else [])])
    return f"{surname}, {first}".strip() if surname else first


def course_code_for(name: str) -> str:
    """Canvas's default course code: the name's first word, plus the first later word with a digit."""
    words = name.split()
    numbered = next((word for word in words[1:] if any(c.isdigit() for c in word)), None)
    return " ".join(w for w in (words[0] if words else "", numbered) if w)


async def account_to_manage(request: web.Request) -> tuple[Context, User]:
    """The account in the path, which the caller administers (directly or through an ancestor)."""
    user = await authenticate(request)
    account = await find_context(request, ContextType.account, request.match_info["account_id"])
    with translate_db_errors():
        allowed = await db.administers(request.app[DEPS].pool, user, account.account_chain)
    if not allowed:
        raise unauthorized()
    return account, user


@routes.post("/api/v1/accounts")
async def create_root_account(request: web.Request) -> web.Response:
    user = await authenticate(request)
    if not user.site_admin:
        raise unauthorized()
    name = (await read_params(request)).required_string("account[name]")
    with translate_db_errors():
        account = await db.insert_root_account(request.app[DEPS].pool, name)
    return web.json_response(account.as_canvas_json())


@routes.post("/api/v1/accounts/{account_id}/sub_accounts")
async def create_sub_account(request: web.Request) -> web.Response:
    parent, _ = await account_to_manage(request)
    name = (await read_params(request)).required_string("account[name]")
    with translate_db_errors():
        account = await db.insert_sub_account(request.app[DEPS].pool, name, parent.id, parent.root_account_id)
    return web.json_response(account.as_canvas_json())


@routes.get("/api/v1/accounts/{account_id}")
async def show_account(request: web.Request) -> web.Response:
    context, _ = await account_to_manage(request)
    with translate_db_errors():
        account = await db.get_account(request.app[DEPS].pool, context.id)
    if account is None:  # deleted since the permission check
        raise resource_not_found()
    return web.json_response(account.as_canvas_json())


@routes.get("/api/v1/accounts/{account_id}/sub_accounts")
async def list_sub_accounts(request: web.Request) -> web.Response:
    parent, _ = await account_to_manage(request)
    params = await read_params(request)
    recursive = params.boolean("recursive")
    page = requested_page(request)
    with translate_db_errors():
        accounts, total = await db.list_sub_accounts(
            request.app[DEPS].pool, parent.id, recursive=recursive, limit=page.limit, offset=page.offset
        )
    return paginated_response(request, page, total, [a.as_canvas_json() for a in accounts])


@routes.get("/api/v1/courses/{course_id}")
async def show_course(request: web.Request) -> web.Response:
    user = await authenticate(request)
    context = await find_context(request, ContextType.course, request.match_info["course_id"])
    pool = request.app[DEPS].pool
    with translate_db_errors():
        if not await can_manage_outcomes(pool, user, context):
            raise unauthorized()
        course = await db.get_course(pool, context.id)
    if course is None:
        raise resource_not_found()
    return web.json_response(course.as_canvas_json())


@routes.post("/api/v1/accounts/{account_id}/courses")
async def create_course(request: web.Request) -> web.Response:
    account, _ = await account_to_manage(request)
    params = await read_params(request)
    name = (params.string("course[name]") or "").strip() or "Unnamed Course"
    course_code = (params.string("course[course_code]") or "").strip() or course_code_for(name)
    with translate_db_errors():
        course = await db.insert_course(request.app[DEPS].pool, name, course_code, account.id, account.root_account_id)
    return web.json_response(course.as_canvas_json())


def _login_taken(login_id: str) -> ApiError:
    """Canvas's answer to a duplicate login: per-object validation errors, not the usual list."""
    return ApiError(
        400,
        {
            "errors": {
                "user": {"pseudonyms": [{"attribute": "pseudonyms", "type": "invalid", "message": "is invalid"}]},
                "pseudonym": {
                    "unique_id": [
                        {
                            "attribute": "unique_id",
                            "type": "taken",
                            "message": "ID already in use for this account and authentication provider",
                        }
                    ]
                },
                "observee": {},
                "pairing_code": {},
                "recaptcha": None,
            }
        },
    )


@routes.post("/api/v1/accounts/{account_id}/users")
async def create_user(request: web.Request) -> web.Response:
    account, _ = await account_to_manage(request)
    params = await read_params(request)
    login_id = params.required_string("pseudonym[unique_id]").strip()
    # Canvas names a user after their login when no name is given.
    name = (params.string("user[name]") or "").strip() or login_id
    short_name = (params.string("user[short_name]") or "").strip() or name
    sortable = (params.string("user[sortable_name]") or "").strip() or sortable_name(name)
    email = email_channel(params, login_id)
    with translate_db_errors():
        user = await db.insert_user(request.app[DEPS].pool, name, sortable, short_name, login_id, account.id, email)
    if user is None:
        raise _login_taken(login_id)
    return web.json_response(user.as_canvas_json())


def email_channel(params: Params, login_id: str) -> str | None:
    """The address of Canvas's `communication_channel[type]=email` (the default type), where
    import emails go; as in Canvas, a channel without an address takes the login id. None
    without a channel: then a login id that is an address is used (migration 0018)."""
    type_ = (params.string("communication_channel[type]") or "").strip()
    address = (params.string("communication_channel[address]") or "").strip()
    if not type_ and not address:
        return None
    if type_ not in ("", "email"):
        raise invalid("communication_channel[type]", "only email is supported")
    address = address or login_id
    if not is_email_address(address):
        raise invalid("communication_channel[address]", "must be an email address such as name@example.edu")
    return address


@routes.post("/api/v1/accounts/{account_id}/admins")
async def create_admin(request: web.Request) -> web.Response:
    account, caller = await account_to_manage(request)
    params = await read_params(request)
    user_id = params.required_integer("user_id")
    role = (params.string("role") or "").strip() or "AccountAdmin"
    if role not in ADMIN_ROLES:
        raise invalid("role", "must be AccountAdmin")
    pool = request.app[DEPS].pool
    with translate_db_errors():
        user = await _user_in_reach(pool, caller, user_id, account.root_account_id)
        if user is None:
            raise resource_not_found()
        admin = await db.upsert_admin(pool, account.id, user, role)
    return web.json_response(admin.as_canvas_json())


@routes.post("/api/v1/courses/{course_id}/enrollments")
async def create_enrollment(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    context = await find_context(request, ContextType.course, request.match_info["course_id"])
    pool = request.app[DEPS].pool
    with translate_db_errors():
        if not await db.administers(pool, caller, context.account_chain):
            raise unauthorized()
    params = await read_params(request)
    user_id = params.required_integer("enrollment[user_id]")
    type_ = params.required_string("enrollment[type]").strip()
    if type_ not in ENROLLMENT_TYPES:
        raise invalid("enrollment[type]", "must be one of " + ", ".join(ENROLLMENT_TYPES))
    state = (params.string("enrollment[enrollment_state]") or "").strip() or "invited"
    if state not in ENROLLMENT_STATES:
        raise invalid("enrollment[enrollment_state]", "must be one of " + ", ".join(ENROLLMENT_STATES))
    with translate_db_errors():
        course = await db.get_course(pool, context.id)
        user = await _user_in_reach(pool, caller, user_id, context.root_account_id)
        if course is None or user is None:
            raise resource_not_found()
        enrollment = await db.upsert_enrollment(pool, course, user, type_, state)
    return web.json_response(enrollment.as_canvas_json())


async def _user_in_reach(pool: asyncpg.Pool, caller: User, user_id: int, root_account_id: int) -> db.UserRecord | None:
    """The user an admin may make an admin or enroll: one of their root account's (a site admin: anyone).

    Users belong to one root account; to another district's admins they do not exist (404), so
    neither their names nor which ids are taken can be learnt there.
    """
    if caller.site_admin:
        return await db.get_user(pool, user_id)
    return await db.get_user_of_root_account(pool, user_id, root_account_id)


async def _administers_user(pool: asyncpg.Pool, caller: User, user_id: int) -> bool:
    """An admin of the account the user was created in, or of one of its ancestors."""
    with translate_db_errors():
        account_id = await db.get_user_account_id(pool, user_id)
        account = None if account_id is None else await load_context(pool, ContextType.account, account_id)
        return account is not None and await db.administers(pool, caller, account.account_chain)


@routes.post("/api/v1/users/{user_id}/tokens")
async def create_token(request: web.Request) -> web.Response:
    caller = await authenticate(request)
    raw_id = request.match_info["user_id"]
    user_id = caller.id if raw_id == "self" else parse_id(raw_id)
    pool = request.app[DEPS].pool
    with translate_db_errors():
        user = None if user_id is None else await db.get_user(pool, user_id)
    if user is None:
        raise resource_not_found()
    if not (caller.site_admin or caller.id == user.id or await _administers_user(pool, caller, user.id)):
        raise unauthorized()
    params = await read_params(request)
    purpose = params.required_string("token[purpose]").strip()
    expires_at = params.timestamp("token[expires_at]")
    with translate_db_errors():
        token = await db.insert_token(pool, user.id, new_token(), purpose, expires_at)
    return web.json_response(token.as_canvas_json())
