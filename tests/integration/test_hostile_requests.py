"""Hostile requests get a precise 400 or 401 in Canvas's error shape, never a 500.

Each case once gave a 500 and a traceback (issue 16): bytes that are not UTF-8 in a header,
multipart bodies that do not parse, NUL or lone surrogates in text to be stored, JSON that only
Python accepts, dates outside PostgreSQL's range, a body that is not the gzip it claims to be. A
client's mistake is logged as one WARNING line without a traceback, and nothing is stored.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from yarl import URL

from shared.settings import Settings
from tests.conftest import ADMIN_TOKEN
from tests.support.raw_http import RawResponse, request_bytes, send_raw

Client = TestClient[Any, Any]

ADMIN = f"Bearer {ADMIN_TOKEN}"
UPLOAD = "/api/v1/accounts/1/outcome_imports"
CSV = b"vendor_guid,object_type,title\r\no1,outcome,One\r\n"
MALFORMED_MULTIPART = {"errors": [{"message": "The multipart request body is malformed"}]}
NOT_JSON = {"errors": [{"message": "The request body is not valid JSON."}]}


def _error(message: str) -> dict[str, Any]:
    return {"errors": [{"message": message}]}


async def _send(client: Client, method: str, path: str, headers: dict[str, str | bytes], body: bytes = b"") -> Any:
    return await send_raw(client.server.host, client.server.port, request_bytes(method, path, headers, body))


@pytest.fixture
def client_mistakes(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every answer of the test is a client's mistake: WARNING lines at most, none with a traceback."""
    with caplog.at_level(logging.INFO):
        yield caplog
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info], [
        r.getMessage() for r in caplog.records
    ]


def _multipart(part_headers: bytes, boundary: bytes = b"b0und", data: bytes = CSV) -> bytes:
    return b"--" + boundary + b"\r\n" + part_headers + b"\r\n\r\n" + data + b"\r\n--" + boundary + b"--\r\n"


ATTACHMENT = b'Content-Disposition: form-data; name="attachment"; filename="a.csv"'

# (Content-Type, body) pairs aiohttp's multipart reader refuses.
BROKEN_MULTIPART = {
    "no boundary": ("multipart/form-data", b"x"),
    "boundary missing from the body": ("multipart/form-data; boundary=abc", _multipart(ATTACHMENT)),
    "boundary over 70 characters": (
        "multipart/form-data; boundary=" + "a" * 71,
        _multipart(ATTACHMENT, boundary=b"a" * 71),
    ),
    "part header over 8 KB": (
        "multipart/form-data; boundary=b0und",
        _multipart(ATTACHMENT + b"\r\nX-Padding: " + b"x" * 9000),
    ),
    "control character in a part name": (
        "multipart/form-data; boundary=b0und",
        _multipart(b'Content-Disposition: form-data; name="attach\x01ment"; filename="a.csv"'),
    ),
}


async def test_authorization_header_that_is_not_utf8_is_an_invalid_token(
    client: Client, client_mistakes: pytest.LogCaptureFixture
) -> None:
    for path in ("/api/v1/accounts/1/outcome_imports/1", "/api/v1/accounts/1", "/api/v1/operations/me"):
        resp = await _send(client, "GET", path, {"Authorization": b"Bearer \xff\xfe"})
        assert (resp.status, resp.json()) == (401, _error("Invalid access token.")), path
        assert resp.headers["www-authenticate"] == 'Bearer realm="canvas-lms"'


@pytest.mark.parametrize("path", [UPLOAD, "/api/v1/accounts", "/dashboard/login"])
@pytest.mark.parametrize("case", list(BROKEN_MULTIPART))
async def test_malformed_multipart_is_400(
    client: Client, db: asyncpg.Connection, client_mistakes: pytest.LogCaptureFixture, path: str, case: str
) -> None:
    content_type, body = BROKEN_MULTIPART[case]
    resp = await _send(client, "POST", path, {"Authorization": ADMIN, "Content-Type": content_type}, body)
    assert (resp.status, resp.json()) == (400, MALFORMED_MULTIPART)
    assert await db.fetchval("SELECT count(*) FROM outcome_imports") == 0
    assert await db.fetchval("SELECT count(*) FROM accounts") == 1
    warnings = [r for r in client_mistakes.records if r.name == "api.errors" and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and f"POST {path}: 400" in warnings[0].getMessage()


async def test_nul_in_any_stored_text_is_400_naming_the_field(
    client: Client, db: asyncpg.Connection, client_mistakes: pytest.LogCaptureFixture
) -> None:
    headers = {"Authorization": ADMIN}

    async def post(path: str, body: dict[str, Any]) -> tuple[int, Any]:
        resp = await client.post(path, json=body, headers=headers)
        return resp.status, await resp.json()

    nul = "a\x00b"
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("account[name]", "/api/v1/accounts", {"account": {"name": nul}}),
        ("account[name]", "/api/v1/accounts/1/sub_accounts", {"account": {"name": nul}}),
        ("course[name]", "/api/v1/accounts/1/courses", {"course": {"name": nul}}),
        ("course[course_code]", "/api/v1/accounts/1/courses", {"course": {"name": "C", "course_code": nul}}),
        ("pseudonym[unique_id]", "/api/v1/accounts/1/users", {"pseudonym": {"unique_id": nul}}),
        ("user[name]", "/api/v1/accounts/1/users", {"pseudonym": {"unique_id": "u"}, "user": {"name": nul}}),
        (
            "user[short_name]",
            "/api/v1/accounts/1/users",
            {"pseudonym": {"unique_id": "u"}, "user": {"short_name": nul}},
        ),
        (
            "user[sortable_name]",
            "/api/v1/accounts/1/users",
            {"pseudonym": {"unique_id": "u"}, "user": {"sortable_name": nul}},
        ),
        ("token[purpose]", "/api/v1/users/self/tokens", {"token": {"purpose": nul}}),
    ]
    for name, path, body in cases:
        expected = _error(f"invalid value for parameter {name}: text cannot contain a NUL character")
        assert await post(path, body) == (400, expected), (name, path)
    # The same rule for a form body, and for the upload's `extension` and the attachment's file name.
    resp = await client.post("/api/v1/accounts", data={"account[name]": nul}, headers=headers)
    assert (resp.status, await resp.json()) == (
        400,
        _error("invalid value for parameter account[name]: text cannot contain a NUL character"),
    )
    resp = await _send(client, "POST", f"{UPLOAD}?extension=c%00sv", {"Authorization": ADMIN}, CSV)
    assert (resp.status, resp.json()) == (
        400,
        _error("invalid value for parameter extension: text cannot contain a NUL character"),
    )
    body = _multipart(b"Content-Disposition: form-data; name=\"attachment\"; filename*=utf-8''a%00.csv")
    resp = await _send(
        client, "POST", UPLOAD, {"Authorization": ADMIN, "Content-Type": "multipart/form-data; boundary=b0und"}, body
    )
    assert (resp.status, resp.json()) == (
        400,
        _error("invalid value for parameter attachment (its file name): text cannot contain a NUL character"),
    )
    assert await db.fetchval("SELECT count(*) FROM accounts") == 1
    assert await db.fetchval("SELECT count(*) FROM courses") == 0
    assert await db.fetchval("SELECT count(*) FROM users WHERE NOT site_admin") == 0
    assert await db.fetchval("SELECT count(*) FROM outcome_imports") == 0


async def test_json_that_only_python_accepts_is_400(
    client: Client, db: asyncpg.Connection, client_mistakes: pytest.LogCaptureFixture
) -> None:
    headers = {"Authorization": ADMIN, "Content-Type": "application/json"}
    not_json = {
        "nested 100,000 deep": b'{"account":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "a 5,000-digit integer": b'{"user_id":' + b"9" * 5000 + b"}",
        "NaN": b'{"account":{"name":NaN}}',
        "Infinity": b'{"account":{"name":-Infinity}}',
        "1e400": b'{"account":{"name":1e400}}',
    }
    for case, body in not_json.items():
        resp = await client.post("/api/v1/accounts/1/admins", data=body, headers=headers)
        assert (resp.status, await resp.json()) == (400, NOT_JSON), case
        resp = await client.post("/api/v1/accounts", data=body, headers=headers)
        assert (resp.status, await resp.json()) == (400, NOT_JSON), case
    resp = await client.post("/api/v1/accounts", data=b'{"account":{"name":"\\ud800"}}', headers=headers)
    assert (resp.status, await resp.json()) == (
        400,
        _error("invalid value for parameter account[name]: not valid Unicode text (a lone surrogate)"),
    )
    # Large finite numbers are still numbers.
    resp = await client.post("/api/v1/accounts", data=b'{"account":{"name":1e300}}', headers=headers)
    assert (resp.status, (await resp.json())["name"]) == (200, "1e+300")
    assert await db.fetchval("SELECT array_agg(name ORDER BY id) FROM accounts") == ["Default Account", "1e+300"]


async def test_token_expiry_outside_the_calendar_is_400_and_early_years_have_four_digits(
    client: Client, client_mistakes: pytest.LogCaptureFixture
) -> None:
    headers = {"Authorization": ADMIN}
    for expires_at, detail in (
        ("9999-12-31T23:59:59-01:00", ": outside the years 1 to 9999 in UTC"),
        ("0001-01-01T00:00:00+14:00", ": outside the years 1 to 9999 in UTC"),
        ("10000-01-01T00:00:00Z", ""),
    ):
        resp = await client.post(
            "/api/v1/users/self/tokens", json={"token": {"purpose": "p", "expires_at": expires_at}}, headers=headers
        )
        assert (resp.status, await resp.json()) == (
            400,
            _error(f"invalid value for parameter token[expires_at]{detail}"),
        ), expires_at
    for sent, shown in (
        ("0024-06-23T20:26:09Z", "0024-06-23T20:26:09Z"),
        ("0001-01-01T10:00:00+09:00", "0001-01-01T01:00:00Z"),
        ("9999-12-31T23:59:59.999+00:00", "9999-12-31T23:59:59Z"),
    ):
        resp = await client.post(
            "/api/v1/users/self/tokens", json={"token": {"purpose": "p", "expires_at": sent}}, headers=headers
        )
        assert (resp.status, (await resp.json())["expires_at"]) == (200, shown), sent


async def test_a_body_that_is_not_its_content_encoding_is_400(
    client: Client, db: asyncpg.Connection, client_mistakes: pytest.LogCaptureFixture
) -> None:
    expected = (400, _error("The request body could not be read as its headers describe it"))
    for path, content_type in ((UPLOAD, "text/csv"), ("/api/v1/accounts", "application/json")):
        headers: dict[str, str | bytes] = {
            "Authorization": ADMIN,
            "Content-Type": content_type,
            "Content-Encoding": "gzip",
        }
        resp: RawResponse = await _send(client, "POST", path, headers, b"not gzip at all")
        assert (resp.status, resp.json()) == expected, path
    assert await db.fetchval("SELECT count(*) FROM outcome_imports") == 0
    # A body that is the gzip it says it is works as before.
    resp = await _send(
        client,
        "POST",
        "/api/v1/accounts",
        {"Authorization": ADMIN, "Content-Type": "application/json", "Content-Encoding": "gzip"},
        gzip.compress(json.dumps({"account": {"name": "Zipped"}}).encode()),
    )
    assert (resp.status, resp.json()["name"]) == (200, "Zipped")


def _form(*fields: tuple[str, bytes, str | None]) -> bytes:
    """A multipart body of (name, value, file name) fields, boundary b0und."""
    body = b""
    for name, value, filename in fields:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += b"--b0und\r\nContent-Disposition: " + disposition.encode() + b"\r\n\r\n" + value + b"\r\n"
    return body + b"--b0und--\r\n"


def _stored_files(settings: Settings) -> list[str]:
    root = Path(URL(settings.storage_url).path)
    return sorted(str(p) for p in root.rglob("*") if p.is_file()) if root.exists() else []


async def test_fields_of_an_upload_count_wherever_they_are_in_the_form(
    client: Client, db: asyncpg.Connection, settings: Settings, client_mistakes: pytest.LogCaptureFixture
) -> None:
    headers = {"Authorization": ADMIN, "Content-Type": "multipart/form-data; boundary=b0und"}
    bad_type = _error("Invalid import_type: other")
    bad_type["errors"][0]["error_code"] = "invalid_import_type"
    refused = {
        "two attachments": (
            _form(("attachment", CSV, "a.csv"), ("attachment", CSV, "b.csv")),
            _error("The multipart request has more than one attachment field"),
        ),
        "a bad import_type before the attachment": (
            _form(("import_type", b"other", None), ("attachment", CSV, "a.csv")),
            bad_type,
        ),
        "a bad import_type after the attachment": (
            _form(("attachment", CSV, "a.csv"), ("import_type", b"other", None)),
            bad_type,
        ),
    }
    for case, (body, expected) in refused.items():
        resp = await _send(client, "POST", UPLOAD, headers, body)
        assert (resp.status, resp.json()) == (400, expected), case
    assert await db.fetchval("SELECT count(*) FROM outcome_imports") == 0
    assert _stored_files(settings) == []
    for body in (
        _form(("import_type", b"instructure_csv", None), ("attachment", CSV, "a.csv")),
        _form(("attachment", CSV, "a.csv"), ("import_type", b"instructure_csv", None)),
    ):
        resp = await _send(client, "POST", UPLOAD, headers, body)
        assert (resp.status, resp.json()["data"]) == (200, {"import_type": "instructure_csv"})
    assert await db.fetchval("SELECT count(*) FROM outcome_imports") == 2


async def test_json_bodies_are_read_as_the_openapi_document_says(
    client: Client, db: asyncpg.Connection, client_mistakes: pytest.LogCaptureFixture
) -> None:
    headers = {"Authorization": ADMIN}
    # JSON has one number type: an integral float is an id; a wrapper that is not an object is a 400.
    resp = await client.post("/api/v1/accounts/1/admins", json={"user_id": 1.0}, headers=headers)
    assert resp.status == 200, await resp.text()
    for body, name in (({"course": [None]}, "course"), ({"account": "x"}, "account")):
        path = "/api/v1/accounts/1/courses" if name == "course" else "/api/v1/accounts"
        resp = await client.post(path, json=body, headers=headers)
        assert (resp.status, await resp.json()) == (400, _error(f"invalid value for parameter {name}")), body
    # null is as if absent.
    resp = await client.post("/api/v1/accounts/1/courses", json={"course": None}, headers=headers)
    assert (resp.status, (await resp.json())["name"]) == (200, "Unnamed Course")
    # Every import_type given must be valid, in the query string as in the form.
    resp = await _send(
        client,
        "POST",
        f"{UPLOAD}?import_type=other",
        {"Authorization": ADMIN, "Content-Type": "multipart/form-data; boundary=b0und"},
        _form(("import_type", b"instructure_csv", None), ("attachment", CSV, "a.csv")),
    )
    assert resp.status == 400 and resp.json()["errors"][0]["error_code"] == "invalid_import_type"
    # The extension is checked whatever the body.
    resp = await _send(
        client,
        "POST",
        f"{UPLOAD}?extension=c%00sv",
        {"Authorization": ADMIN, "Content-Type": "multipart/form-data; boundary=b0und"},
        _form(("attachment", CSV, "a.csv")),
    )
    assert resp.status == 400
    assert await db.fetchval("SELECT count(*) FROM outcome_imports") == 0
