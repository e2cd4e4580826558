"""Who may do what, route by route, in Canvas's order: 401 -> 404 -> 403 -> 400.

The world: root accounts A and B; A1 and A2 are sibling sub-accounts of A; course C1 is in A1 and
C2 in A2. Callers: the site admin, an admin of each account, a teacher of each course, and six
kinds of failed authentication. Each test compares {caller: (status, body)} for every caller at
once, so a failure shows exactly who got the wrong answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

Client = TestClient[Any, Any]

UNAUTHENTICATED = {"status": "unauthenticated", "errors": [{"message": "user authorization required"}]}
INVALID_TOKEN = {"errors": [{"message": "Invalid access token."}]}
UNAUTHORIZED = {
    "status": "unauthorized",
    "errors": [{"message": "user not authorized to perform that action"}],
}
NOT_FOUND = {"errors": [{"message": "The specified resource does not exist."}]}
NO_IMPORT = {"message": "ActiveRecord::RecordNotFound"}

SITE, ADMIN_A, ADMIN_A1, ADMIN_A2, ADMIN_B = "site_admin", "admin_A", "admin_A1", "admin_A2", "admin_B"
TEACHER_C1, TEACHER_C2 = "teacher_C1", "teacher_C2"
CALLERS = (SITE, ADMIN_A, ADMIN_A1, ADMIN_A2, ADMIN_B, TEACHER_C1, TEACHER_C2)
# Failed authentication, and the body each gets.
BAD_AUTH = {
    "no_token": UNAUTHENTICATED,
    "basic_header": UNAUTHENTICATED,
    "empty_bearer": UNAUTHENTICATED,
    "unknown_token": INVALID_TOKEN,
    "expired_token": INVALID_TOKEN,
    "deleted_token": INVALID_TOKEN,
}


@dataclass(frozen=True)
class World:
    accounts: dict[str, int]  # "A", "A1", "A2", "B"
    courses: dict[str, int]  # "C1", "C2"
    users: dict[str, int]  # every caller, plus "bystander" (never a caller, target of admin/enrollment writes)
    headers: dict[str, dict[str, str]]  # every caller and bad-auth case


async def _post(client: Client, headers: dict[str, str], path: str, body: dict[str, Any]) -> dict[str, Any]:
    resp = await client.post(path, json=body, headers=headers)
    assert resp.status == 200, (path, resp.status, await resp.text())
    return dict(await resp.json())


@pytest.fixture
async def world(client: Client, admin_headers: dict[str, str], db: asyncpg.Connection) -> World:
    """Build the world through the API as the site admin; break two tokens directly in the database."""
    site = admin_headers
    a = (await _post(client, site, "/api/v1/accounts", {"account": {"name": "A"}}))["id"]
    b = (await _post(client, site, "/api/v1/accounts", {"account": {"name": "B"}}))["id"]
    a1 = (await _post(client, site, f"/api/v1/accounts/{a}/sub_accounts", {"account": {"name": "A1"}}))["id"]
    a2 = (await _post(client, site, f"/api/v1/accounts/{a}/sub_accounts", {"account": {"name": "A2"}}))["id"]
    c1 = (await _post(client, site, f"/api/v1/accounts/{a1}/courses", {"course": {"name": "C1"}}))["id"]
    c2 = (await _post(client, site, f"/api/v1/accounts/{a2}/courses", {"course": {"name": "C2"}}))["id"]
    home = {
        ADMIN_A: a,
        ADMIN_A1: a1,
        ADMIN_A2: a2,
        ADMIN_B: b,
        TEACHER_C1: a1,
        TEACHER_C2: a2,
        "bystander": a1,
    }
    users = {}
    for name, account in home.items():
        body = {"user": {"name": name}, "pseudonym": {"unique_id": name}}
        users[name] = (await _post(client, site, f"/api/v1/accounts/{account}/users", body))["id"]
    for name, account in ((ADMIN_A, a), (ADMIN_A1, a1), (ADMIN_A2, a2), (ADMIN_B, b)):
        await _post(client, site, f"/api/v1/accounts/{account}/admins", {"user_id": users[name]})
    for name, course in ((TEACHER_C1, c1), (TEACHER_C2, c2)):
        enrollment = {"user_id": users[name], "type": "TeacherEnrollment", "enrollment_state": "active"}
        await _post(client, site, f"/api/v1/courses/{course}/enrollments", {"enrollment": enrollment})

    async def token_for(user_id: int) -> tuple[int, str]:
        token = await _post(client, site, f"/api/v1/users/{user_id}/tokens", {"token": {"purpose": "test"}})
        return token["id"], token["visible_token"]

    headers = {SITE: site}
    for name in CALLERS[1:]:
        headers[name] = {"Authorization": f"Bearer {(await token_for(users[name]))[1]}"}
    # Even a site admin's token stops working once expired.
    expired_id, expired = await token_for(await db.fetchval("SELECT id FROM users WHERE site_admin"))
    deleted_id, deleted = await token_for(users[ADMIN_A])
    await db.execute("UPDATE access_tokens SET expires_at = now() - interval '1 minute' WHERE id = $1", expired_id)
    await db.execute("UPDATE access_tokens SET workflow_state = 'deleted' WHERE id = $1", deleted_id)
    headers |= {
        "no_token": {},
        "basic_header": {"Authorization": "Basic x"},
        "empty_bearer": {"Authorization": "Bearer"},
        "unknown_token": {"Authorization": "Bearer 1~not-a-real-token"},
        "expired_token": {"Authorization": f"Bearer {expired}"},
        "deleted_token": {"Authorization": f"Bearer {deleted}"},
    }
    return World({"A": a, "A1": a1, "A2": a2, "B": b}, {"C1": c1, "C2": c2}, users, headers)


@dataclass(frozen=True)
class Case:
    method: str
    path: Callable[[World], str]
    allowed: frozenset[str]
    body: Callable[[World, str], dict[str, Any]] = lambda world, caller: {}
    permitted_answer: tuple[int, dict[str, Any]] | None = None  # None: 200, any body


def _case(method: str, path: Callable[[World], str], allowed: set[str], **kwargs: Any) -> Case:
    return Case(method, path, frozenset(allowed), **kwargs)


def _account(name: str, tail: str = "") -> Callable[[World], str]:
    return lambda w: f"/api/v1/accounts/{w.accounts[name]}{tail}"


def _course(name: str, tail: str = "") -> Callable[[World], str]:
    return lambda w: f"/api/v1/courses/{w.courses[name]}{tail}"


CASES = {
    "create root account": _case(
        "POST", lambda w: "/api/v1/accounts", {SITE}, body=lambda w, c: {"account": {"name": f"new {c}"}}
    ),
    "show A": _case("GET", _account("A"), {SITE, ADMIN_A}),
    "show A1": _case("GET", _account("A1"), {SITE, ADMIN_A, ADMIN_A1}),
    "show B": _case("GET", _account("B"), {SITE, ADMIN_B}),
    "list A's sub-accounts": _case("GET", _account("A", "/sub_accounts?recursive=true"), {SITE, ADMIN_A}),
    "list A1's sub-accounts": _case("GET", _account("A1", "/sub_accounts"), {SITE, ADMIN_A, ADMIN_A1}),
    "create sub-account of A1": _case(
        "POST",
        _account("A1", "/sub_accounts"),
        {SITE, ADMIN_A, ADMIN_A1},
        body=lambda w, c: {"account": {"name": c}},
    ),
    "create course in A1": _case(
        "POST",
        _account("A1", "/courses"),
        {SITE, ADMIN_A, ADMIN_A1},
        body=lambda w, c: {"course": {"name": c}},
    ),
    "create user in A1": _case(
        "POST",
        _account("A1", "/users"),
        {SITE, ADMIN_A, ADMIN_A1},
        body=lambda w, c: {"pseudonym": {"unique_id": f"made-by-{c}"}},
    ),
    "create admin of A1": _case(
        "POST",
        _account("A1", "/admins"),
        {SITE, ADMIN_A, ADMIN_A1},
        body=lambda w, c: {"user_id": w.users["bystander"]},
    ),
    "show C1": _case("GET", _course("C1"), {SITE, ADMIN_A, ADMIN_A1, TEACHER_C1}),
    "show C2": _case("GET", _course("C2"), {SITE, ADMIN_A, ADMIN_A2, TEACHER_C2}),
    "enroll in C1": _case(
        "POST",
        _course("C1", "/enrollments"),
        {SITE, ADMIN_A, ADMIN_A1},
        body=lambda w, c: {"enrollment": {"user_id": w.users["bystander"], "type": "StudentEnrollment"}},
    ),
    "create token for teacher of C1": _case(
        "POST",
        lambda w: f"/api/v1/users/{w.users[TEACHER_C1]}/tokens",
        # The teacher was created in A1: its admins (and A's) may issue the teacher's tokens.
        {SITE, TEACHER_C1, ADMIN_A, ADMIN_A1},
        body=lambda w, c: {"token": {"purpose": c}},
    ),
    "create token for self": _case(
        "POST",
        lambda w: "/api/v1/users/self/tokens",
        set(CALLERS),
        body=lambda w, c: {"token": {"purpose": c}},
    ),
    "latest import of A1": _case(
        "GET",
        _account("A1", "/outcome_imports/latest"),
        {SITE, ADMIN_A, ADMIN_A1},
        permitted_answer=(404, NO_IMPORT),
    ),
    "latest import of C1": _case(
        "GET",
        _course("C1", "/outcome_imports/latest"),
        {SITE, ADMIN_A, ADMIN_A1, TEACHER_C1},
        permitted_answer=(404, NO_IMPORT),
    ),
    "latest import of C2": _case(
        "GET",
        _course("C2", "/outcome_imports/latest"),
        {SITE, ADMIN_A, ADMIN_A2, TEACHER_C2},
        permitted_answer=(404, NO_IMPORT),
    ),
}

# Unknown objects are 404 for every authenticated caller, before any permission check.
UNKNOWN = {
    "show account": ("GET", "/api/v1/accounts/999999"),
    "list sub-accounts": ("GET", "/api/v1/accounts/999999/sub_accounts"),
    "create sub-account": ("POST", "/api/v1/accounts/999999/sub_accounts"),
    "create course": ("POST", "/api/v1/accounts/999999/courses"),
    "create user": ("POST", "/api/v1/accounts/999999/users"),
    "create admin": ("POST", "/api/v1/accounts/999999/admins"),
    "show course": ("GET", "/api/v1/courses/999999"),
    "enroll": ("POST", "/api/v1/courses/999999/enrollments"),
    "create token": ("POST", "/api/v1/users/999999/tokens"),
    "latest account import": ("GET", "/api/v1/accounts/999999/outcome_imports/latest"),
    "latest course import": ("GET", "/api/v1/courses/999999/outcome_imports/latest"),
}


async def _answers(
    client: Client, world: World, method: str, path: str, body: Callable[[str], dict[str, Any]]
) -> dict[str, Any]:
    answers: dict[str, Any] = {}
    for caller, headers in world.headers.items():
        resp = await client.request(method, path, headers=headers, json=body(caller))
        answers[caller] = (resp.status, await resp.json())
        if resp.status == 401:
            answers[caller] += (resp.headers.get("WWW-Authenticate"),)
    return answers


def _bad_auth_answers() -> dict[str, Any]:
    return {caller: (401, body, 'Bearer realm="canvas-lms"') for caller, body in BAD_AUTH.items()}


@pytest.mark.parametrize("name", list(CASES))
async def test_route_permissions(client: Client, world: World, name: str) -> None:
    case = CASES[name]
    answers = await _answers(client, world, case.method, case.path(world), lambda caller: case.body(world, caller))
    if case.permitted_answer is None:
        # Success bodies are checked in test_provisioning; here only that the caller got through.
        answers = {c: (a[0], None) if a[0] == 200 else a for c, a in answers.items()}
    permitted = case.permitted_answer or (200, None)
    expected = {caller: permitted if caller in case.allowed else (403, UNAUTHORIZED) for caller in CALLERS}
    assert answers == expected | _bad_auth_answers()


@pytest.mark.parametrize("name", list(UNKNOWN))
async def test_unknown_objects_are_404_before_permissions(client: Client, world: World, name: str) -> None:
    method, path = UNKNOWN[name]
    answers = await _answers(client, world, method, path, lambda caller: {})
    assert answers == {caller: (404, NOT_FOUND) for caller in CALLERS} | _bad_auth_answers()


async def test_permission_is_checked_before_parameters(client: Client, world: World) -> None:
    """A forbidden caller learns nothing about parameters (403); a permitted one gets the 400."""
    routes = [
        ("POST", f"/api/v1/accounts/{world.accounts['A1']}/sub_accounts", "account[name]"),
        ("POST", f"/api/v1/accounts/{world.accounts['A1']}/users", "pseudonym[unique_id]"),
        ("POST", f"/api/v1/accounts/{world.accounts['A1']}/admins", "user_id"),
        ("POST", f"/api/v1/courses/{world.courses['C1']}/enrollments", "enrollment[user_id]"),
        ("POST", f"/api/v1/users/{world.users[TEACHER_C1]}/tokens", "token[purpose]"),
        ("POST", "/api/v1/accounts", "account[name]"),
    ]
    for method, path, parameter in routes:
        forbidden = await client.request(method, path, headers=world.headers[ADMIN_B], json={})
        assert (forbidden.status, await forbidden.json()) == (403, UNAUTHORIZED), path
        allowed = await client.request(method, path, headers=world.headers[SITE], json={})
        assert (allowed.status, await allowed.json()) == (
            400,
            {"errors": [{"message": f"param is missing or the value is empty: {parameter}"}]},
        ), path


async def test_removed_admin_and_inactive_teacher_lose_access(
    client: Client, world: World, db: asyncpg.Connection
) -> None:
    await db.execute("UPDATE account_users SET workflow_state = 'deleted' WHERE user_id = $1", world.users[ADMIN_A1])
    await db.execute("UPDATE enrollments SET workflow_state = 'inactive' WHERE user_id = $1", world.users[TEACHER_C1])
    for caller, path in (
        (ADMIN_A1, f"/api/v1/accounts/{world.accounts['A1']}"),
        (TEACHER_C1, f"/api/v1/courses/{world.courses['C1']}"),
    ):
        resp = await client.get(path, headers=world.headers[caller])
        assert (resp.status, await resp.json()) == (403, UNAUTHORIZED), caller


async def test_invited_teacher_cannot_read_the_course_until_active(
    client: Client, world: World, admin_headers: dict[str, str]
) -> None:
    path = f"/api/v1/courses/{world.courses['C1']}/enrollments"
    enrollment = {"user_id": world.users[TEACHER_C2], "type": "TeacherEnrollment"}
    resp = await client.post(path, json={"enrollment": enrollment}, headers=admin_headers)
    assert (resp.status, (await resp.json())["enrollment_state"]) == (200, "invited")
    course = f"/api/v1/courses/{world.courses['C1']}"
    resp = await client.get(course, headers=world.headers[TEACHER_C2])
    assert resp.status == 403
    resp = await client.post(
        path, json={"enrollment": {**enrollment, "enrollment_state": "active"}}, headers=admin_headers
    )
    assert resp.status == 200
    resp = await client.get(course, headers=world.headers[TEACHER_C2])
    assert resp.status == 200


async def test_users_of_another_root_account_do_not_exist_for_its_admins(
    client: Client, world: World, admin_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    """Admins of B cannot make A's users admins or enroll them in B (404, as for an unknown id), nor the reverse."""
    course_b = (await _post(client, admin_headers, f"/api/v1/accounts/{world.accounts['B']}/courses", {}))["id"]
    site_admin_id = await db.fetchval("SELECT id FROM users WHERE site_admin")
    writes = {
        "admin of B": (f"/api/v1/accounts/{world.accounts['B']}/admins", {"user_id": world.users["bystander"]}),
        "enrolled in B": (
            f"/api/v1/courses/{course_b}/enrollments",
            {"enrollment": {"user_id": world.users["bystander"], "type": "StudentEnrollment"}},
        ),
    }
    for name, (path, body) in writes.items():
        answers = await _answers(client, world, "POST", path, lambda caller, body=body: body)
        answers = {c: (a[0], None) if a[0] == 200 else a for c, a in answers.items()}
        expected = {caller: (403, UNAUTHORIZED) for caller in CALLERS}
        assert answers == expected | {SITE: (200, None), ADMIN_B: (404, NOT_FOUND)} | _bad_auth_answers(), name
    for user_id in (world.users[ADMIN_B], site_admin_id):
        for path, body in (
            (f"/api/v1/accounts/{world.accounts['A1']}/admins", {"user_id": user_id}),
            (
                f"/api/v1/courses/{world.courses['C1']}/enrollments",
                {"enrollment": {"user_id": user_id, "type": "StudentEnrollment"}},
            ),
        ):
            resp = await client.post(path, json=body, headers=world.headers[ADMIN_A])
            assert (resp.status, await resp.json()) == (404, NOT_FOUND), (path, user_id)
    # Nothing was written for B's admin; the site admin's writes (the 200s above) are the only ones.
    assert await db.fetchval(
        "SELECT count(*) FROM account_users WHERE user_id = $1", world.users["bystander"]
    ) == 1
    assert await db.fetchval("SELECT count(*) FROM enrollments WHERE user_id = $1", world.users["bystander"]) == 1
