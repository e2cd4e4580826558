"""api/openapi.json: well-formed OpenAPI 3.1, exactly the app's routes, and the JSON the code really sends.

Three promises: the document is structurally valid (every `$ref` resolves, every path template's
parameters are declared); its paths and methods are exactly those of `create_app()`'s router; and
the bodies the code builds (imports, groups, outcomes, provisioning objects, error bodies) and
every example in the document match its schemas. A small validator for the JSON Schema subset the
document uses stands in for a dependency.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from html import escape
from typing import Any

import pytest
from aiohttp import web

from api import docs
from shared.settings import Settings
from tests.support.canvas import (
    CANVAS_OUTCOME_IMPORT_KEYS,
    EXTENSION_OUTCOME_IMPORT_KEYS,
    OUTCOME_IMPORT_KEYS,
)

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return docs.load_openapi()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


def resolve(document: dict[str, Any], node: Any) -> Any:
    """Follow `$ref`s (local JSON pointers only) until a node without one."""
    seen: set[str] = set()
    while isinstance(node, dict) and "$ref" in node:
        pointer = node["$ref"]
        assert pointer.startswith("#/"), f"only local references are used: {pointer}"
        assert pointer not in seen, f"reference cycle at {pointer}"
        seen.add(pointer)
        node = document
        for token in pointer[2:].split("/"):
            token = token.replace("~1", "/").replace("~0", "~")
            assert isinstance(node, dict) and token in node, f"unresolvable $ref {pointer}"
            node = node[token]
    return node


def walk(node: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from walk(value, f"{where}/{i}")


# -- a validator for the JSON Schema subset the document uses ------------------------------------------

_TYPES: dict[str, Any] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def schema_errors(document: dict[str, Any], schema: Any, value: Any, where: str = "$") -> list[str]:
    """Why `value` does not match `schema` (empty when it does)."""
    if schema is True:
        return []
    if schema is False:
        return [f"{where}: not allowed"]
    schema = resolve(document, schema)
    errors: list[str] = []
    if "anyOf" in schema:
        branches = [schema_errors(document, s, value, where) for s in schema["anyOf"]]
        if all(branches):
            errors.append(f"{where}: matches no anyOf branch: {branches}")
    if "type" in schema:
        types = [schema["type"]] if isinstance(schema["type"], str) else schema["type"]
        if not any(_TYPES[t](value) for t in types):
            return [f"{where}: {value!r} is not of type {types}"]
    if "const" in schema and value != schema["const"]:
        errors.append(f"{where}: {value!r} != {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{where}: {value!r} not in {schema['enum']}")
    if "pattern" in schema and isinstance(value, str) and not re.search(schema["pattern"], value):
        errors.append(f"{where}: {value!r} does not match {schema['pattern']}")
    if _TYPES["number"](value):
        if "minimum" in schema and value < schema["minimum"]:
            errors.append(f"{where}: {value} < {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            errors.append(f"{where}: {value} > {schema['maximum']}")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        errors += [f"{where}: missing {key!r}" for key in schema.get("required", []) if key not in value]
        for key, item in value.items():
            if key in properties:
                errors += schema_errors(document, properties[key], item, f"{where}.{key}")
            elif "additionalProperties" in schema:
                errors += schema_errors(document, schema["additionalProperties"], item, f"{where}.{key}")
    if isinstance(value, list):
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            errors.append(f"{where}: more than {schema['maxItems']} items")
        if "minItems" in schema and len(value) < schema["minItems"]:
            errors.append(f"{where}: fewer than {schema['minItems']} items")
        prefix = schema.get("prefixItems", [])
        for i, item in enumerate(value):
            item_schema = prefix[i] if i < len(prefix) else schema.get("items", True)
            errors += schema_errors(document, item_schema, item, f"{where}[{i}]")
    return errors


def assert_matches(document: dict[str, Any], name: str, value: Any) -> None:
    errors = schema_errors(document, {"$ref": f"#/components/schemas/{name}"}, value)
    assert not errors, f"{name}: " + "; ".join(errors)


# -- structure -------------------------------------------------------------------------------------------


def test_document_is_openapi_3_1(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1.")
    assert isinstance(document["info"]["title"], str) and document["info"]["title"]
    assert isinstance(document["info"]["version"], str) and document["info"]["version"]
    assert document["paths"] and all(path.startswith("/") for path in document["paths"])
    ids = [operation.get("operationId") for _, _, operation in operations(document)]
    assert all(ids) and len(ids) == len(set(ids)), "every operation has a unique operationId"
    tags = {tag["name"] for tag in document.get("tags", [])}
    schemes = document["components"]["securitySchemes"]
    for path, method, operation in operations(document):
        assert operation["responses"], f"{method} {path} has no responses"
        assert all(re.fullmatch(r"[1-5][0-9][0-9]|default", code) for code in operation["responses"])
        assert set(operation.get("tags", [])) <= tags, f"{method} {path} uses an undeclared tag"
        for requirement in operation.get("security", document.get("security", [])):
            assert set(requirement) <= set(schemes), f"{method} {path}: unknown security scheme"


def test_every_ref_resolves(document: dict[str, Any]) -> None:
    refs = [node for _, node in walk(document) if "$ref" in node]
    assert refs
    for node in refs:
        assert resolve(document, node) is not None


def test_path_parameters_are_declared(document: dict[str, Any]) -> None:
    for path, method, operation in operations(document):
        declared = [
            resolve(document, p)
            for p in [*document["paths"][path].get("parameters", []), *operation.get("parameters", [])]
        ]
        in_path = {p["name"] for p in declared if p["in"] == "path"}
        assert in_path == set(re.findall(r"{([^}]+)}", path)), f"{method} {path}: path parameters {in_path}"
        assert all(p["required"] is True for p in declared if p["in"] == "path")
        pairs = [(p["name"], p["in"]) for p in declared]
        assert len(pairs) == len(set(pairs)), f"{method} {path}: a parameter is declared twice"


def test_docs_routes_need_no_token(document: dict[str, Any]) -> None:
    for path in ("/api/v1/openapi.json", "/api/docs", "/health"):
        assert document["paths"][path]["get"]["security"] == []
    assert document["security"], "everything else needs a token"


# -- the document and the app ----------------------------------------------------------------------------


def test_every_route_is_documented_and_every_documented_route_exists(
    document: dict[str, Any], settings: Settings
) -> None:
    from api.app import create_app

    app = create_app(settings)  # never started: only its router is read
    routed = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    documented = {(method, path) for path, method, _ in operations(document)}
    undocumented = sorted(routed - documented)
    unrouted = sorted(documented - routed)
    assert not undocumented and not unrouted, f"undocumented: {undocumented}; documented but not routed: {unrouted}"


async def test_docs_routes_serve_the_document(aiohttp_client: Any, document: dict[str, Any]) -> None:
    app = web.Application()
    app.add_routes(docs.routes)
    client = await aiohttp_client(app)

    resp = await client.get("/api/v1/openapi.json")
    assert resp.status == 200
    assert resp.content_type == "application/json"
    assert await resp.json() == document

    resp = await client.get("/api/docs")
    assert resp.status == 200
    assert resp.content_type == "text/html"
    page = await resp.text()
    assert 'href="/api/v1/openapi.json"' in page
    assert not re.search(r"<script|<link|src=|https?://", page), "the page loads nothing from elsewhere"
    for path, method, _ in operations(document):
        assert f"{method.upper()} {escape(path)}" in page


# -- schemas and the JSON the code sends -----------------------------------------------------------------


def test_examples_match_their_schemas(document: dict[str, Any]) -> None:
    checked = 0
    for where, node in walk(document):
        if "schema" in node and "examples" in node and isinstance(node["examples"], dict):
            for name, example in node["examples"].items():
                errors = schema_errors(document, node["schema"], resolve(document, example)["value"])
                assert not errors, f"{where}/examples/{name}: {errors}"
                checked += 1
    for name, schema in document["components"]["schemas"].items():
        for example in schema.get("examples", []):
            assert_matches(document, name, example)
            checked += 1
    assert checked > 10


def test_outcome_import_schema_has_canvas_keys_then_ours(document: dict[str, Any]) -> None:
    from shared.models import ContextType, ImportState, OutcomeImport, UserSummary

    schema = document["components"]["schemas"]["OutcomeImport"]
    assert set(schema["properties"]) == OUTCOME_IMPORT_KEYS
    assert schema["additionalProperties"] is False
    user = UserSummary(id=1, name="Jane Doe", sortable_name="Doe, Jane", short_name="Jane", created_at=NOW)
    for state in ImportState:
        outcome_import = OutcomeImport(
            id=5,
            context_type=ContextType.account,
            context_id=1,
            root_account_id=1,
            workflow_state=state,
            progress=100,
            import_type="instructure_csv",
            created_at=NOW,
            updated_at=NOW,
            ended_at=NOW if state.finished else None,
            user=user,
        )
        body = outcome_import.as_canvas_json([(2, "Missing required fields")])
        # Canvas's keys first, in its order; ours after them.
        assert list(body) == [*CANVAS_OUTCOME_IMPORT_KEYS, *EXTENSION_OUTCOME_IMPORT_KEYS]
        assert_matches(document, "OutcomeImport", body)


def test_outcome_schemas_match_the_json_built(document: dict[str, Any]) -> None:
    from api.outcome_json import outcome_group_json, outcome_json, outcome_link_json
    from shared.db.outcomes import Outcome, OutcomeGroup, OutcomeLink, Rating
    from shared.models import ContextType

    root = OutcomeGroup(
        id=3,
        context_type=ContextType.account,
        context_id=1,
        title="Account A",
        vendor_guid=None,
        description=None,
        parent=None,
    )
    group = OutcomeGroup(
        id=7,
        context_type=ContextType.account,
        context_id=1,
        title="Algebra",
        vendor_guid="alg",
        description="Algebra standards",
        parent=root,
    )
    for g in (root, group):
        assert_matches(document, "OutcomeGroup", outcome_group_json(g, can_edit=True))
        assert_matches(document, "OutcomeGroupAbbrev", outcome_group_json(g, can_edit=False, full=False))
    ratings = (Rating(points=3.0, description="Mastery"), Rating(points=0.0, description=None))
    outcomes = [
        Outcome(
            id=42,
            context_type=ContextType.account,
            context_id=1,
            vendor_guid="o1",
            title="Add",
            description="<p>Add</p>",
            display_name=None,
            calculation_method="decaying_average",
            calculation_int=65,
            ratings=ratings,
            mastery_points=3.0,
            points_possible=3.0,
            friendly_description=None,
        ),
        Outcome(
            id=43,
            context_type=None,
            context_id=None,
            vendor_guid=None,
            title="Global",
            description=None,
            display_name="G",
            calculation_method="highest",
            calculation_int=None,
            ratings=(),
            mastery_points=None,
            points_possible=None,
            friendly_description="Friendly",
        ),
    ]
    for outcome in outcomes:
        assert_matches(document, "Outcome", outcome_json(outcome, can_edit=True))
        assert_matches(document, "OutcomeAbbrev", outcome_json(outcome, can_edit=False, full=False))
        link = OutcomeLink(id=9, context_type=ContextType.account, context_id=1, group=group, outcome=outcome)
        for full in (False, True):
            body = outcome_link_json(link, can_manage=True, can_edit_outcome=True, full_outcome=full, full_group=full)
            assert_matches(document, "OutcomeLink", body)


def test_provisioning_schemas_match_the_json_built(document: dict[str, Any]) -> None:
    from shared.db.provisioning import Account, Admin, Course, Enrollment, Token, UserRecord

    user = UserRecord(
        id=2, name="Jane Doe", sortable_name="Doe, Jane", short_name="Jane", login_id="jane", created_at=NOW
    )
    samples: dict[str, Any] = {
        "Account": Account(id=1, name="Root", parent_account_id=None, root_account_id=None, workflow_state="active"),
        "Course": Course(
            id=4,
            name="Algebra 1",
            course_code="Algebra 1",
            account_id=1,
            root_account_id=1,
            workflow_state="created",
            created_at=NOW,
        ),
        "User": user,
        "Admin": Admin(id=6, account_id=1, role="AccountAdmin", workflow_state="active", user=user),
        "Enrollment": Enrollment(
            id=8,
            course_id=4,
            root_account_id=1,
            type="TeacherEnrollment",
            workflow_state="active",
            created_at=NOW,
            user=user,
        ),
        "AccessToken": Token(id=10, user_id=2, purpose="imports", expires_at=None, created_at=NOW, plain="secret"),
    }
    for name, sample in samples.items():
        assert_matches(document, name, sample.as_canvas_json())


def test_error_schemas_match_the_bodies_sent(document: dict[str, Any]) -> None:
    from api import errors
    from api.uploads import charset_error

    assert_matches(document, "UnauthenticatedError", errors.unauthenticated().body)
    assert_matches(document, "ErrorList", errors.invalid_token().body)
    assert_matches(document, "UnauthorizedError", errors.unauthorized().body)
    assert_matches(document, "ErrorList", errors.resource_not_found().body)
    assert_matches(document, "RecordNotFound", errors.record_not_found("Import has failed").body)
    assert_matches(document, "CharsetError", charset_error().body)
    assert_matches(document, "ErrorList", errors.bad_request("param is missing").body)
    assert_matches(document, "InternalError", errors.internal_error_body(errors.new_error_report_id()))
