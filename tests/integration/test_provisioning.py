"""The Canvas provisioning routes against the real app, PostgreSQL and Redis: bodies field by field."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient

from api.params import Params, nest
from api.provisioning import course_code_for, sortable_name

Client = TestClient[Any, Any]
Send = Callable[..., Awaitable[tuple[int, Any]]]
CANVAS_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
NOT_FOUND = {"errors": [{"message": "The specified resource does not exist."}]}


def missing(name: str) -> dict[str, Any]:
    return {"errors": [{"message": f"param is missing or the value is empty: {name}"}]}


def flatten(value: Any, prefix: str = "") -> list[tuple[str, str]]:
    """A nested body as Canvas form fields: {"user": {"name": "J"}} -> [("user[name]", "J")]."""
    if isinstance(value, dict):
        return [pair for key, item in value.items() for pair in flatten(item, f"{prefix}[{key}]" if prefix else key)]
    if isinstance(value, list):
        return [pair for item in value for pair in flatten(item, f"{prefix}[]")]
    return [(prefix, str(value))]


@pytest.fixture(params=["form", "json"])
def send(request: pytest.FixtureRequest, client: Client, admin_headers: dict[str, str]) -> Send:
    """POST/GET a nested body, form-encoded or as JSON (the test runs once each), as the site admin."""

    async def call(
        method: str, path: str, body: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"headers": headers or admin_headers}
        if body is not None:
            kwargs["json" if request.param == "json" else "data"] = body if request.param == "json" else flatten(body)
        resp = await client.request(method, path, **kwargs)
        return resp.status, await resp.json()

    return call


async def make_account(send: Send, name: str, parent: int | None = None) -> dict[str, Any]:
    path = "/api/v1/accounts" if parent is None else f"/api/v1/accounts/{parent}/sub_accounts"
    status, body = await send("POST", path, {"account": {"name": name}})
    assert status == 200, body
    return dict(body)


async def make_user(send: Send, account: int, login: str, **user: str) -> dict[str, Any]:
    payload: dict[str, Any] = {"pseudonym": {"unique_id": login}}
    if user:
        payload["user"] = user
    status, body = await send("POST", f"/api/v1/accounts/{account}/users", payload)
    assert status == 200, body
    return dict(body)


async def make_course(send: Send, account: int, name: str) -> dict[str, Any]:
    status, body = await send("POST", f"/api/v1/accounts/{account}/courses", {"course": {"name": name}})
    assert status == 200, body
    return dict(body)


# --- accounts ---------------------------------------------------------------------------------


async def test_create_root_account(send: Send, db: asyncpg.Connection) -> None:
    status, body = await send("POST", "/api/v1/accounts", {"account": {"name": "Acme University"}})
    assert status == 200
    assert body == {
        "id": body["id"],
        "name": "Acme University",
        "parent_account_id": None,
        "root_account_id": None,
        "workflow_state": "active",
    }
    assert isinstance(body["id"], int) and body["id"] > 1
    row = await db.fetchrow("SELECT name, parent_account_id, root_account_id FROM accounts WHERE id = $1", body["id"])
    assert dict(row) == {"name": "Acme University", "parent_account_id": None, "root_account_id": None}


async def test_create_sub_accounts_point_at_parent_and_root(send: Send) -> None:
    root = await make_account(send, "Root")
    child = await make_account(send, "Child", root["id"])
    grandchild = await make_account(send, "Grandchild", child["id"])
    assert child == {
        "id": child["id"],
        "name": "Child",
        "parent_account_id": root["id"],
        "root_account_id": root["id"],
        "workflow_state": "active",
    }
    assert (grandchild["name"], grandchild["parent_account_id"], grandchild["root_account_id"]) == (
        "Grandchild",
        child["id"],
        root["id"],
    )
    # The seeded Default Account takes sub-accounts too.
    under_default = await make_account(send, "Dept", 1)
    assert (under_default["parent_account_id"], under_default["root_account_id"]) == (1, 1)


async def test_create_account_requires_a_name(send: Send) -> None:
    assert await send("POST", "/api/v1/accounts", {"account": {"name": "  "}}) == (
        400,
        missing("account[name]"),
    )
    assert await send("POST", "/api/v1/accounts", {"other": "x"}) == (400, missing("account[name]"))
    assert await send("POST", "/api/v1/accounts/1/sub_accounts", {}) == (400, missing("account[name]"))


async def test_show_account(send: Send) -> None:
    assert await send("GET", "/api/v1/accounts/1") == (
        200,
        {
            "id": 1,
            "name": "Default Account",
            "parent_account_id": None,
            "root_account_id": None,
            "workflow_state": "active",
        },
    )
    child = await make_account(send, "Child", 1)
    assert await send("GET", f"/api/v1/accounts/{child['id']}") == (200, child)


async def test_list_sub_accounts_direct_recursive_and_paginated(
    client: Client, send: Send, admin_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    root = await make_account(send, "Root")
    a1 = await make_account(send, "A1", root["id"])
    a2 = await make_account(send, "A2", root["id"])
    a1x = await make_account(send, "A1x", a1["id"])
    gone = await make_account(send, "Gone", root["id"])
    await make_account(send, "Under gone", gone["id"])
    await db.execute("UPDATE accounts SET workflow_state = 'deleted' WHERE id = $1", gone["id"])
    base = f"/api/v1/accounts/{root['id']}/sub_accounts"

    assert await send("GET", base) == (200, [a1, a2])
    assert await send("GET", base + "?recursive=true") == (200, [a1, a2, a1x])
    assert await send("GET", base + "?recursive=false") == (200, [a1, a2])

    resp = await client.get(base, params={"recursive": "true", "per_page": "2", "page": "2"}, headers=admin_headers)
    assert (resp.status, await resp.json()) == (200, [a1x])
    links = {rel: url for url, rel in (part.split("; rel=") for part in resp.headers["Link"].split(","))}
    assert set(links) == {'"current"', '"prev"', '"first"', '"last"'}
    assert "page=2" in links['"last"']
    assert "page=1" in links['"prev"'] and "per_page=2" in links['"prev"']

    resp = await client.get(base, params={"per_page": "1"}, headers=admin_headers)
    assert (resp.status, await resp.json()) == (200, [a1])
    assert 'rel="next"' in resp.headers["Link"] and 'rel="prev"' not in resp.headers["Link"]


async def test_list_sub_accounts_rejects_a_non_boolean_recursive(send: Send) -> None:
    assert await send("GET", "/api/v1/accounts/1/sub_accounts?recursive=maybe") == (
        400,
        {"errors": [{"message": "invalid value for parameter recursive"}]},
    )


# --- courses ----------------------------------------------------------------------------------


async def test_create_and_show_course(send: Send, db: asyncpg.Connection) -> None:
    root = await make_account(send, "Root")
    dept = await make_account(send, "Dept", root["id"])
    status, course = await send(
        "POST",
        f"/api/v1/accounts/{dept['id']}/courses",
        {"course": {"name": "Algebra I", "course_code": "ALG-1"}},
    )
    assert status == 200
    assert course == {
        "id": course["id"],
        "name": "Algebra I",
        "course_code": "ALG-1",
        "account_id": dept["id"],
        "root_account_id": root["id"],
        "workflow_state": "unpublished",
        "created_at": course["created_at"],
    }
    assert CANVAS_TIME.match(course["created_at"])
    assert await send("GET", f"/api/v1/courses/{course['id']}") == (200, course)
    row = await db.fetchrow("SELECT account_id, root_account_id FROM courses WHERE id = $1", course["id"])
    assert tuple(row) == (dept["id"], root["id"])


async def test_course_name_and_code_default_as_in_canvas(send: Send) -> None:
    status, course = await send("POST", "/api/v1/accounts/1/courses", {"course": {"name": "Biology 101 Lab"}})
    assert (status, course["name"], course["course_code"], course["root_account_id"]) == (
        200,
        "Biology 101 Lab",
        "Biology 101",
        1,
    )
    status, course = await send("POST", "/api/v1/accounts/1/courses", {})
    assert (status, course["name"], course["course_code"]) == (200, "Unnamed Course", "Unnamed")


# --- users ------------------------------------------------------------------------------------


async def test_create_user_derives_names_like_canvas(send: Send, db: asyncpg.Connection) -> None:
    user = await make_user(send, 1, "jane@example.com", name="Jane Doe")
    assert user == {
        "id": user["id"],
        "name": "Jane Doe",
        "created_at": user["created_at"],
        "sortable_name": "Doe, Jane",
        "short_name": "Jane Doe",
        "login_id": "jane@example.com",
    }
    assert CANVAS_TIME.match(user["created_at"])
    row = await db.fetchrow(
        "SELECT name, sortable_name, short_name, login_id, site_admin FROM users WHERE id = $1", user["id"]
    )
    assert dict(row) == {
        "name": "Jane Doe",
        "sortable_name": "Doe, Jane",
        "short_name": "Jane Doe",
        "login_id": "jane@example.com",
        "site_admin": False,
    }


async def test_create_user_keeps_given_names_and_falls_back_to_the_login(send: Send) -> None:
    user = await make_user(send, 1, "bob", name="Robert Roe", short_name="Bob", sortable_name="Roe, Bobby")
    assert (user["name"], user["short_name"], user["sortable_name"]) == ("Robert Roe", "Bob", "Roe, Bobby")
    nameless = await make_user(send, 1, "solo")
    assert (nameless["name"], nameless["short_name"], nameless["sortable_name"]) == ("solo", "solo", "solo")


async def test_duplicate_login_id_is_a_canvas_validation_error(send: Send) -> None:
    await make_user(send, 1, "taken@example.com", name="First")
    for login in ("taken@example.com", "TAKEN@example.com"):
        status, body = await send(
            "POST",
            "/api/v1/accounts/1/users",
            {"user": {"name": "Second"}, "pseudonym": {"unique_id": login}},
        )
        assert status == 400
        assert body == {
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
        }


async def test_create_user_requires_a_login_id(send: Send) -> None:
    assert await send("POST", "/api/v1/accounts/1/users", {"user": {"name": "No Login"}}) == (
        400,
        missing("pseudonym[unique_id]"),
    )


# --- admins -----------------------------------------------------------------------------------


async def test_create_admin(send: Send, db: asyncpg.Connection) -> None:
    account = await make_account(send, "Root")
    user = await make_user(send, account["id"], "ada", name="Ada Lovelace")
    status, admin = await send("POST", f"/api/v1/accounts/{account['id']}/admins", {"user_id": user["id"]})
    assert status == 200
    assert admin == {"id": admin["id"], "role": "AccountAdmin", "user": user, "workflow_state": "active"}
    # Canvas answers the existing admin again rather than failing.
    again = await send(
        "POST", f"/api/v1/accounts/{account['id']}/admins", {"user_id": user["id"], "role": "AccountAdmin"}
    )
    assert again == (200, admin)
    rows = await db.fetch("SELECT account_id, user_id, role FROM account_users WHERE user_id = $1", user["id"])
    assert [tuple(r) for r in rows] == [(account["id"], user["id"], "AccountAdmin")]


async def test_create_admin_parameter_errors_and_unknown_user(send: Send) -> None:
    user = await make_user(send, 1, "someone")
    assert await send("POST", "/api/v1/accounts/1/admins", {}) == (400, missing("user_id"))
    assert await send("POST", "/api/v1/accounts/1/admins", {"user_id": "abc"}) == (
        400,
        {"errors": [{"message": "invalid value for parameter user_id"}]},
    )
    assert await send("POST", "/api/v1/accounts/1/admins", {"user_id": user["id"], "role": "Superuser"}) == (
        400,
        {"errors": [{"message": "invalid value for parameter role: must be AccountAdmin"}]},
    )
    assert await send("POST", "/api/v1/accounts/1/admins", {"user_id": 999999}) == (404, NOT_FOUND)


# --- enrollments ------------------------------------------------------------------------------


async def test_create_enrollment(send: Send, db: asyncpg.Connection) -> None:
    course = await make_course(send, 1, "History")
    teacher = await make_user(send, 1, "teach", name="Tess Teacher")
    status, enrollment = await send(
        "POST",
        f"/api/v1/courses/{course['id']}/enrollments",
        {"enrollment": {"user_id": teacher["id"], "type": "TeacherEnrollment", "enrollment_state": "active"}},
    )
    assert status == 200
    assert enrollment == {
        "id": enrollment["id"],
        "course_id": course["id"],
        "user_id": teacher["id"],
        "root_account_id": 1,
        "type": "TeacherEnrollment",
        "role": "TeacherEnrollment",
        "enrollment_state": "active",
        "created_at": enrollment["created_at"],
        "user": teacher,
    }
    assert CANVAS_TIME.match(enrollment["created_at"])
    # Enrolling again with the same type updates the one enrollment.
    status, again = await send(
        "POST",
        f"/api/v1/courses/{course['id']}/enrollments",
        {
            "enrollment": {
                "user_id": teacher["id"],
                "type": "TeacherEnrollment",
                "enrollment_state": "inactive",
            }
        },
    )
    assert (status, again["id"], again["enrollment_state"]) == (200, enrollment["id"], "inactive")
    rows = await db.fetch("SELECT type, workflow_state FROM enrollments WHERE user_id = $1", teacher["id"])
    assert [tuple(r) for r in rows] == [("TeacherEnrollment", "inactive")]


async def test_enrollment_state_defaults_to_invited(send: Send) -> None:
    course = await make_course(send, 1, "Art")
    student = await make_user(send, 1, "stu")
    status, enrollment = await send(
        "POST",
        f"/api/v1/courses/{course['id']}/enrollments",
        {"enrollment": {"user_id": student["id"], "type": "StudentEnrollment"}},
    )
    assert (status, enrollment["type"], enrollment["enrollment_state"]) == (
        200,
        "StudentEnrollment",
        "invited",
    )


async def test_create_enrollment_parameter_errors_and_unknown_user(send: Send) -> None:
    course = await make_course(send, 1, "Art")
    user = await make_user(send, 1, "u1")
    path = f"/api/v1/courses/{course['id']}/enrollments"
    assert await send("POST", path, {"enrollment": {"type": "StudentEnrollment"}}) == (
        400,
        missing("enrollment[user_id]"),
    )
    assert await send("POST", path, {"enrollment": {"user_id": user["id"]}}) == (
        400,
        missing("enrollment[type]"),
    )
    types = "StudentEnrollment, TeacherEnrollment, TaEnrollment, ObserverEnrollment, DesignerEnrollment"
    assert await send("POST", path, {"enrollment": {"user_id": user["id"], "type": "Principal"}}) == (
        400,
        {"errors": [{"message": f"invalid value for parameter enrollment[type]: must be one of {types}"}]},
    )
    bad_state = {"user_id": user["id"], "type": "StudentEnrollment", "enrollment_state": "sleeping"}
    assert await send("POST", path, {"enrollment": bad_state}) == (
        400,
        {
            "errors": [
                {
                    "message": "invalid value for parameter enrollment[enrollment_state]: "
                    "must be one of invited, active, inactive"
                }
            ]
        },
    )
    unknown = {"user_id": 999999, "type": "StudentEnrollment"}
    assert await send("POST", path, {"enrollment": unknown}) == (404, NOT_FOUND)


# --- tokens -----------------------------------------------------------------------------------


async def test_create_token_shows_it_once_and_stores_only_its_digest(send: Send, db: asyncpg.Connection) -> None:
    user = await make_user(send, 1, "tok", name="Toki Owner")
    status, token = await send(
        "POST",
        f"/api/v1/users/{user['id']}/tokens",
        {"token": {"purpose": "CI", "expires_at": "2030-01-02T03:04:05Z"}},
    )
    assert status == 200
    assert token == {
        "id": token["id"],
        "user_id": user["id"],
        "purpose": "CI",
        "created_at": token["created_at"],
        "expires_at": "2030-01-02T03:04:05Z",
        "workflow_state": "active",
        "visible_token": token["visible_token"],
    }
    plain = token["visible_token"]
    assert isinstance(plain, str) and len(plain) > 40
    row = await db.fetchrow(
        "SELECT user_id, token_digest, token_hint, purpose FROM access_tokens WHERE id = $1", token["id"]
    )
    assert dict(row) == {
        "user_id": user["id"],
        "token_digest": hashlib.sha256(plain.encode()).digest(),
        "token_hint": plain[-4:],
        "purpose": "CI",
    }
    # The token authenticates its user (who, as a plain user, may mint further tokens only for themself).
    headers = {"Authorization": f"Bearer {plain}"}
    status, own = await send("POST", "/api/v1/users/self/tokens", {"token": {"purpose": "second"}}, headers)
    assert (status, own["user_id"], own["expires_at"]) == (200, user["id"], None)
    assert own["visible_token"] != plain


async def test_token_expiry_without_zone_is_utc(send: Send) -> None:
    user = await make_user(send, 1, "tz")
    status, token = await send(
        "POST",
        f"/api/v1/users/{user['id']}/tokens",
        {"token": {"purpose": "x", "expires_at": "2031-05-06T07:08:09"}},
    )
    assert (status, token["expires_at"]) == (200, "2031-05-06T07:08:09Z")


async def test_create_token_parameter_errors(send: Send) -> None:
    user = await make_user(send, 1, "tokerr")
    path = f"/api/v1/users/{user['id']}/tokens"
    assert await send("POST", path, {"token": {"expires_at": "2030-01-01"}}) == (
        400,
        missing("token[purpose]"),
    )
    assert await send("POST", path, {"token": {"purpose": "x", "expires_at": "next tuesday"}}) == (
        400,
        {"errors": [{"message": "invalid value for parameter token[expires_at]"}]},
    )


# --- 404s and parameter sources ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/v1/accounts/999999"),
        ("GET", "/api/v1/accounts/abc"),
        ("GET", "/api/v1/accounts/999999/sub_accounts"),
        ("POST", "/api/v1/accounts/999999/sub_accounts"),
        ("POST", "/api/v1/accounts/999999/courses"),
        ("POST", "/api/v1/accounts/999999/users"),
        ("POST", "/api/v1/accounts/999999/admins"),
        ("GET", "/api/v1/courses/999999"),
        ("GET", "/api/v1/courses/1x"),
        ("POST", "/api/v1/courses/999999/enrollments"),
        ("POST", "/api/v1/users/999999/tokens"),
        ("POST", "/api/v1/users/nobody/tokens"),
    ],
)
async def test_unknown_ids_are_404(client: Client, admin_headers: dict[str, str], method: str, path: str) -> None:
    resp = await client.request(method, path, headers=admin_headers, json={})
    assert (resp.status, await resp.json()) == (404, NOT_FOUND)


async def test_deleted_account_and_course_are_404(send: Send, db: asyncpg.Connection) -> None:
    account = await make_account(send, "Soon gone")
    course = await make_course(send, account["id"], "C")
    await db.execute("UPDATE accounts SET workflow_state = 'deleted' WHERE id = $1", account["id"])
    await db.execute("UPDATE courses SET workflow_state = 'deleted' WHERE id = $1", course["id"])
    assert await send("GET", f"/api/v1/accounts/{account['id']}") == (404, NOT_FOUND)
    assert await send("GET", f"/api/v1/courses/{course['id']}") == (404, NOT_FOUND)


async def test_parameters_in_the_query_string(client: Client, admin_headers: dict[str, str]) -> None:
    resp = await client.post("/api/v1/accounts", params={"account[name]": "From Query"}, headers=admin_headers)
    assert (resp.status, (await resp.json())["name"]) == (200, "From Query")


async def test_parameters_as_multipart_form(client: Client, admin_headers: dict[str, str]) -> None:
    form = FormData()
    form.add_field("course[name]", "Multipart 200")
    form.add_field("course[course_code]", "MP")
    form.add_field("ignored_file", b"bytes", filename="x.txt")
    resp = await client.post("/api/v1/accounts/1/courses", data=form, headers=admin_headers)
    body = await resp.json()
    assert (resp.status, body["name"], body["course_code"]) == (200, "Multipart 200", "MP")


async def test_malformed_json_body_is_400(client: Client, admin_headers: dict[str, str]) -> None:
    headers = {**admin_headers, "Content-Type": "application/json"}
    resp = await client.post("/api/v1/accounts", data=b"{not json", headers=headers)
    assert (resp.status, await resp.json()) == (
        400,
        {"errors": [{"message": "The request body is not valid JSON."}]},
    )
    resp = await client.post("/api/v1/accounts", data=b"[1, 2]", headers=headers)
    assert (resp.status, await resp.json()) == (
        400,
        {"errors": [{"message": "The request body must be a JSON object."}]},
    )


# --- pure helpers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Jane Doe", "Doe, Jane"),
        ("Jane Mary Doe", "Doe, Jane Mary"),
        ("Cher", "Cher"),
        ("John Doe Jr.", "Doe, John Jr."),
        ("John Doe, Sr.", "Doe, John Sr."),
        ("Doe, Jane", "Doe, Jane"),
        ("Ho, Chi, Min", "Ho, Chi Min"),
        ("  Ada   Lovelace ", "Lovelace, Ada"),
    ],
)
def test_sortable_name(name: str, expected: str) -> None:
    assert sortable_name(name) == expected


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Biology 101 Lab", "Biology 101"), ("Unnamed Course", "Unnamed"), ("Chemistry", "Chemistry"), ("", "")],
)
def test_course_code_for(name: str, expected: str) -> None:
    assert course_code_for(name) == expected


def test_nest_builds_rails_parameters() -> None:
    pairs = [
        ("user[name]", "J"),
        ("pseudonym[unique_id]", "j@x"),
        ("ids[]", "1"),
        ("ids[]", "2"),
        ("a[b][c]", "d"),
    ]
    assert nest(pairs) == {
        "user": {"name": "J"},
        "pseudonym": {"unique_id": "j@x"},
        "ids": ["1", "2"],
        "a": {"b": {"c": "d"}},
    }
    # Keys that do not nest cleanly stay flat, and remain reachable by their full name.
    odd = nest([("x", "1"), ("x[y]", "2"), ("[z]", "3")])
    assert odd == {"x": "1", "x[y]": "2", "[z]": "3"}
    assert Params(odd).raw("x[y]") == "2"


def test_params_types() -> None:
    params = Params({"n": 5, "s": "12", "t": True, "b": "Yes", "obj": {"k": "v"}, "flag": False})
    assert (params.integer("n"), params.integer("s"), params.integer("absent")) == (5, 12, None)
    assert (
        params.boolean("t"),
        params.boolean("b"),
        params.boolean("flag"),
        params.boolean("absent", True),
    ) == (
        True,
        True,
        False,
        True,
    )
    assert params.string("n") == "5"
    with pytest.raises(Exception, match="400"):
        params.string("obj")
    with pytest.raises(Exception, match="400"):
        params.integer("t")
