"""Every error of an import, as JSON pages and as CSV, each with its column, code and value."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient

from api.docs import load_openapi
from shared.error_catalogue import _ENTRIES
from shared.settings import Settings
from tests.faults import post_import
from tests.integration.test_openapi import assert_matches
from tests.support.canvas import expect_json
from tests.support.files import outcomes_file
from tests.support.workers import run_burst_worker

Client = TestClient[Any, Any]
# The four kinds of error tests/support/files.py puts in a file, as the report describes them.
EXPECTED = {
    'The "title" field is required': ("title", "title_required"),
    "Calculation method calculation_method must be": ("calculation_method", "calculation_method_invalid"),
    "Parent references not found prior to this row:": ("parent_guids", "parent_not_found"),
    "Points for tier 2 must be less than points for prior tier": ("ratings", "rating_points_order"),
}  # fmt: skip


def _described(message: str) -> tuple[str, str]:
    (found,) = [described for start, described in EXPECTED.items() if message.startswith(start)]
    return found


async def test_every_error_is_reported_as_json_pages_and_as_csv(
    client: Client, admin_headers: dict[str, str], run_worker: Callable[[], Awaitable[None]]
) -> None:
    data, errors, _, _ = outcomes_file(8000)
    import_id = await post_import(client, admin_headers, "accounts/1", data)
    await run_worker()
    url = f"/api/v1/accounts/1/outcome_imports/{import_id}/errors"
    first = await client.get(url + "?per_page=5", headers=admin_headers)
    page = await expect_json(first, 200)
    assert (first.headers["X-Error-Count"], first.headers["X-Errors-Not-Stored"]) == (str(len(errors)), "0")
    assert 'rel="next"' in first.headers["Link"]
    assert [(e["row"], e["message"]) for e in page] == errors[:5]
    everything = await expect_json(await client.get(url + "?per_page=100", headers=admin_headers), 200)
    assert [(e["row"], e["message"]) for e in everything] == errors
    document = load_openapi()
    for error in everything:
        assert (error["column"], error["code"]) == _described(error["message"]), error
        assert_matches(document, "ImportError", error)
    parent = next(e for e in everything if e["code"] == "parent_not_found")
    assert parent["value"] == f'["missing-{parent["row"] - 1}"]'

    for path, headers in ((url + ".csv", admin_headers), (url, admin_headers | {"Accept": "text/csv"})):
        resp = await client.get(path, headers=headers)
        assert resp.status == 200 and resp.headers["Content-Type"] == "text/csv; charset=utf-8"
        rows = list(csv.DictReader(io.StringIO(await resp.text())))
        assert [(int(r["row"]), r["message"], r["code"], r["column"]) for r in rows] == [
            (e["row"], e["message"], e["code"], e["column"]) for e in everything
        ]


async def test_errors_beyond_the_stored_limit_are_counted_and_values_cannot_become_formulas(
    aiohttp_client: Callable[..., Awaitable[Client]], admin_headers: dict[str, str], settings: Settings
) -> None:
    from api.app import create_app

    limited = settings.with_(max_stored_errors=2)
    client = await aiohttp_client(create_app(limited))
    rows = ["vendor_guid,object_type,title"] + [f'o{n},"=HYPERLINK(""x{n}"")",Title' for n in range(5)]
    import_id = await post_import(client, admin_headers, "accounts/1", ("\n".join(rows) + "\n").encode())
    await run_burst_worker(limited)
    resp = await client.get(f"/api/v1/accounts/1/outcome_imports/{import_id}/errors.csv", headers=admin_headers)
    assert (resp.headers["X-Error-Count"], resp.headers["X-Errors-Not-Stored"]) == ("5", "3")
    report = list(csv.DictReader(io.StringIO(await resp.text())))
    assert [(r["row"], r["code"], r["column"], r["value"]) for r in report] == [
        ("2", "object_type_invalid", "object_type", "'=HYPERLINK(\"x0\")"),
        ("3", "object_type_invalid", "object_type", "'=HYPERLINK(\"x1\")"),
    ]


async def test_the_report_is_for_whoever_may_read_the_import_and_only_in_its_context(
    client: Client, admin_headers: dict[str, str]
) -> None:
    import_id = await post_import(client, admin_headers, "accounts/1", b"vendor_guid,object_type,title\nx,group,X\n")
    missing = await client.get("/api/v1/accounts/1/outcome_imports/999/errors", headers=admin_headers)
    assert await expect_json(missing, 404) == {"message": "Couldn't find OutcomeImport with 'id'=999"}
    anonymous = await client.get(f"/api/v1/accounts/1/outcome_imports/{import_id}/errors")
    assert (await expect_json(anonymous, 401))["status"] == "unauthenticated"


def test_every_catalogue_code_is_unique() -> None:
    codes = [code for code, _, _ in _ENTRIES]
    assert len(codes) == len(set(codes))
