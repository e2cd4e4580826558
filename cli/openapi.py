"""What a server's OpenAPI document says it supports, read defensively (it may be anyone's document)."""

from __future__ import annotations

import re
from typing import Any

_UPLOAD_ROUTE = re.compile(r"^/api/v1/(accounts|courses)/\{[^/}]+\}/outcome_imports(/group/\{[^/}]+\})?$")


def declares_dry_run(document: Any, kind: str, to_group: bool) -> bool:
    """Whether an OpenAPI document declares a `dry_run` parameter (or multipart field) on the upload route."""
    if not isinstance(document, dict) or not isinstance(document.get("paths"), dict):
        return False

    def resolve(node: Any) -> Any:
        ref = node.get("$ref") if isinstance(node, dict) else None
        if not isinstance(ref, str) or not ref.startswith("#/"):
            return node
        target: Any = document
        for part in ref[2:].split("/"):
            target = target.get(part) if isinstance(target, dict) else None
        return target

    for template, item in document["paths"].items():
        match = _UPLOAD_ROUTE.match(template)
        if not match or match[1] != kind or bool(match[2]) != to_group or not isinstance(item, dict):
            continue
        operation = item.get("post")
        if not isinstance(operation, dict):
            continue
        parameters = [resolve(p) for p in [*item.get("parameters", []), *operation.get("parameters", [])]]
        if any(isinstance(p, dict) and p.get("name") == "dry_run" for p in parameters):
            return True
        body = resolve(operation.get("requestBody"))
        content = body.get("content", {}) if isinstance(body, dict) else {}
        schema = resolve(content.get("multipart/form-data", {}).get("schema")) if isinstance(content, dict) else None
        if isinstance(schema, dict) and "dry_run" in (schema.get("properties") or {}):
            return True
    return False
