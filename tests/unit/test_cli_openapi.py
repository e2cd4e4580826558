"""The client trusts a dry run only where the server's OpenAPI document declares one on the upload route."""

from __future__ import annotations

from typing import Any

from cli.openapi import declares_dry_run

ROUTE = "/api/v1/accounts/{account_id}/outcome_imports"
DRY_RUN = {"name": "dry_run", "in": "query", "schema": {"type": "boolean"}}


def document(path: str, operation: dict[str, Any], components: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"openapi": "3.1.0", "paths": {path: {"post": operation}}, "components": components or {}}


def test_a_parameter_by_reference_or_inline_counts() -> None:
    by_reference = document(
        ROUTE, {"parameters": [{"$ref": "#/components/parameters/dry_run"}]}, {"parameters": {"dry_run": DRY_RUN}}
    )
    assert declares_dry_run(by_reference, "accounts", to_group=False)
    assert declares_dry_run(document(ROUTE, {"parameters": [DRY_RUN]}), "accounts", to_group=False)


def test_a_multipart_field_counts() -> None:
    body = {"content": {"multipart/form-data": {"schema": {"$ref": "#/components/schemas/Upload"}}}}
    schemas = {"schemas": {"Upload": {"properties": {"attachment": {}, "dry_run": {}}}}}
    assert declares_dry_run(document(ROUTE, {"requestBody": body}, schemas), "accounts", to_group=False)


def test_only_the_route_the_upload_will_use() -> None:
    declared = document(ROUTE, {"parameters": [DRY_RUN]})
    assert not declares_dry_run(declared, "courses", to_group=False)
    assert not declares_dry_run(declared, "accounts", to_group=True)
    grouped = document(ROUTE + "/group/{group_id}", {"parameters": [DRY_RUN]})
    assert declares_dry_run(grouped, "accounts", to_group=True)


def test_anything_else_is_no() -> None:
    for junk in (None, [], {"paths": []}, document(ROUTE, {"parameters": [{"$ref": "#/nowhere"}, "x", {}]})):
        assert not declares_dry_run(junk, "accounts", to_group=False)
