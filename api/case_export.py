"""`GET .../outcome_export?format=case_json`: a context's outcome tree as a CASE 1.1 package that
imports back (`import_type=case_json`, worker/case_file.py) with no change.

The package (README, "CASE packages"): CFDocument, CFItems (groups parents first, then outcomes),
CFAssociations (isChildOf: each group's parent, each outcome's groups), CFRubrics (an outcome's
rating tiers). Identifiers are vendor_guids (`canvas_outcome_group:<id>` / `canvas_outcome:<id>`
without one, as in the CSV export). The CFDocument is the root's one top-level group when the root
holds exactly one active group and no outcome (a framework imported from CASE exports as
itself); otherwise it stands for the context's root group, with an identifier derived from the
context and `extensions.outcomeImports.context_root: true`, which the importer reads as "the
import's target": no group is made for it.

CASE has no field for an outcome's HTML description, display name, calculation method, mastery
points or exact rating descriptions, so each object also carries them, as the Canvas values,
in `extensions.outcomeImports` (CASE 1.1's extension point); the importer prefers them to the
values it derives from the CASE fields.

PostgreSQL writes each object's JSON text (shared/db/case_export.py); the API adds the
identifiers derived by UUID v5 and concatenates. Written in pieces as rows come, in four passes
of one REPEATABLE READ transaction, in chunks of about 64 KiB: memory stays flat whatever the size.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import quote

import asyncpg

from shared.db import case_export
from shared.db.accounts import Context

CASE_JSON: Final = "case_json"
EXTENSION: Final = "outcomeImports"
"""The member of `extensions` the importer reads the exact Canvas fields from (worker/case_graph.py's EXTENSION)."""
_NAMESPACE: Final = uuid.UUID("5e0f6a2c-8d47-4c1e-9a3b-0c2f1d7e6b58")
_NAMESPACE_BYTES: Final = _NAMESPACE.bytes
_CHUNK_BYTES: Final = 64 * 1024
_CREATOR: Final = "outcome-imports"


def document_identifier(context: Context) -> str:
    """The stable identifier of the CFDocument standing for a context's root group."""
    return str(uuid.uuid5(_NAMESPACE, f"context-root:{context.type.value}:{context.id}"))


def _derived(kind: str, *parts: str) -> str:
    """str(uuid.uuid5(_NAMESPACE, "\\n".join((kind, *parts)))), written out: the UUID objects took
    half of what is left of an export's Python time (5 identifiers an outcome with two tiers)."""
    digest = bytearray(hashlib.sha1(_NAMESPACE_BYTES + "\n".join((kind, *parts)).encode()).digest()[:16])
    digest[6] = digest[6] & 0x0F | 0x50  # version 5
    digest[8] = digest[8] & 0x3F | 0x80  # RFC 4122 variant
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _uri(kind: str, identifier: str) -> str:
    return f"urn:outcome-imports:{kind}:{quote(identifier, safe='')}"


def _time(value: datetime | None) -> str:
    return (value or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def _association(child: str, parent: str, rest: str) -> bytes:
    """An association's JSON: its derived identifier and uri, then the rest PostgreSQL wrote."""
    identifier = _derived("isChildOf", child, parent)
    return f'{{"identifier":"{identifier}","uri":"urn:outcome-imports:CFAssociations:{identifier}"{rest}'.encode()


def _rubric(row: asyncpg.Record) -> bytes:
    """A rubric's JSON: the identifiers derived here (UUIDs, nothing to escape) around the texts
    PostgreSQL wrote (title, time, node, each level's members from description to score)."""
    guid, title, changed = row["guid"], row["title"], row["changed"]
    rubric_id = _derived("CFRubric", guid)
    criterion_id = _derived("CFRubricCriterion", guid)
    levels = []
    for position, members in enumerate(row["levels"], start=1):
        level_id = _derived("CFRubricCriterionLevel", guid, str(position))
        levels.append(
            f'{{"identifier":"{level_id}","uri":"urn:outcome-imports:CFRubricCriterionLevels:{level_id}",'
            f'{members},"position":{position},"rubricCriterionId":"{criterion_id}","lastChangeDateTime":{changed}}}'
        )
    return (
        f'{{"identifier":"{rubric_id}","uri":"urn:outcome-imports:CFRubrics:{rubric_id}","title":{title},'
        f'"lastChangeDateTime":{changed},"CFRubricCriteria":[{{"identifier":"{criterion_id}",'
        f'"uri":"urn:outcome-imports:CFRubricCriteria:{criterion_id}","description":{title},'
        f'"CFItemURI":{row["node"]},"position":1,"rubricId":"{rubric_id}","lastChangeDateTime":{changed},'
        f'"CFRubricCriterionLevels":[{",".join(levels)}]}}]}}'
    ).encode()


async def case_document(conn: asyncpg.Connection, context: Context) -> tuple[dict[str, Any], int]:
    """The CFDocument, and the id of the group it is (0 when it stands for the root)."""
    root = await case_export.prepare(conn, context)
    if root is not None and len(root["top_groups"]) == 1 and not root["has_root_links"]:
        group_id = root["top_groups"][0]
        group = await case_export.group(conn, group_id)
        identifier, title, description = group["guid"], group["title"], group["description"]
        extension: dict[str, Any] = {"title": title, "description": description}
        updated_at = group["updated_at"]
    else:
        identifier = document_identifier(context)
        title = root["title"] if root is not None else context.name
        description = root["description"] if root is not None else None
        extension = {"context_root": True, "title": title, "description": description}
        group_id = 0
        updated_at = root["updated_at"] if root is not None else None
    document = {
        "identifier": identifier,
        "uri": _uri("CFDocuments", identifier),
        "creator": _CREATOR,
        "title": title,
        "lastChangeDateTime": _time(updated_at),
        "caseVersion": "1.1",
        "extensions": {EXTENSION: extension},
    }
    return document, group_id


async def case_pieces(conn: asyncpg.Connection, context: Context) -> AsyncIterator[bytes]:
    """The package, piece by piece. Inside a REPEATABLE READ transaction (several statements
    must see one snapshot)."""
    document, group_id = await case_document(conn, context)
    document_guid = document["identifier"]
    yield b'{"CFDocument":' + _json(document) + b',\n"CFItems":['
    separator = b"\n"
    scope = (context.type.value, context.id)
    for query in (case_export.SELECT_GROUP_ITEMS, case_export.SELECT_OUTCOME_ITEMS):
        args = (*scope, group_id) if query is case_export.SELECT_GROUP_ITEMS else scope
        async for (item,) in case_export.rows(conn, query, *args):
            yield separator + item
            separator = b",\n"
    yield b'],\n"CFAssociations":['
    separator = b"\n"
    async for row in case_export.rows(conn, case_export.SELECT_ASSOCIATIONS, *scope, group_id, document_guid):
        yield separator + _association(row["child"], row["parent"], row["rest"])
        separator = b",\n"
    yield b'],\n"CFRubrics":['
    separator = b"\n"
    async for row in case_export.rows(conn, case_export.SELECT_RUBRICS, *scope):
        yield separator + _rubric(row)
        separator = b",\n"
    yield b"]}\n"


async def case_chunks(conn: asyncpg.Connection, context: Context) -> AsyncIterator[bytes]:
    """The package in chunks of about 64 KiB; holds one chunk at a time."""
    buffer = bytearray()
    async for piece in case_pieces(conn, context):
        buffer += piece
        if len(buffer) >= _CHUNK_BYTES:
            yield bytes(buffer)
            buffer.clear()
    if buffer:
        yield bytes(buffer)
