"""The CASE export's objects, written as JSON by PostgreSQL (shared/db/case_export.py), parse to
what the Python builder they replace wrote (tests/support/case_export_reference.py), members in
the same order: text with quotes, backslashes, control characters, HTML and non-ASCII, guids that
need percent-encoding, numbers of every magnitude, rating tiers stored as any JSON, odd times."""

from __future__ import annotations

import json
import random
from typing import Any

import asyncpg
from aiohttp.test_utils import TestClient

from shared.db.accounts import load_context
from shared.models import ContextType
from tests.integration.test_export_lines import _number
from tests.support.case_export_reference import case_pieces
from tests.support.tree import insert_account, insert_group, insert_link, insert_outcome
from worker.case_file import _number_text

Client = TestClient[Any, Any]

_ALPHABET = 'abcxyz ÉéÑ€😀"\\/<>&\'%:?#\t\n\r\x01\x1f\x7f\u2028\u00a0'
_HTML = ['<p>a &amp; b</p>', '<script>alert("x")</script>', '<a href="http://e.x/?a=1&b=2">l</a>']
# Rating tiers as the json column may hold them, written as stored: numbers the way they were
# typed (exponents, trailing zeros, beyond a double), descriptions of any JSON type, duplicate
# keys, elements that are no object, a ratings value that is no array.
_RAW_RATINGS = [
    '[{"points": 1e20, "description": "big"}, {"points": 5.00, "description": "\\u00e9\\"q"}]',
    '[{"points": 1E-7, "description": null}, {"points": -0, "description": ""}, {"description": 0}]',
    '[{"points": 0.1000000000000000000001, "description": 0.0}, {"points": "3", "description": false}]',
    '[{"points": 2, "description": [], "points": 4}, 7, "x", null, {"points": 1, "description": {}}]',
    '[{"points": 12345678901234567890123, "description": {"a": [1, 2.50]}}, {"points": true, "x": 1}]',
    '{"points": 3}',
    "[]",
    "[1, 2]",
]
_TIMES = ["1999-12-31 23:59:59.999999+05", "2024-02-29 00:00:00.5-11:30", "0999-01-01 00:00:00+00"]


def _text(rng: random.Random, max_length: int = 8) -> str:
    return "".join(rng.choice(_ALPHABET) for _ in range(rng.randint(0, max_length)))


def _guid(rng: random.Random, prefix: str, n: int) -> str | None:
    return None if n % 7 == 0 else rng.choice([f"{prefix}{n}", f"{prefix}{n}{_text(rng, 4)}", f"{prefix}-{n}_.~"])


def _ordered(body: bytes | str) -> Any:
    """The JSON value with each object as its list of (member, value): member order counts."""
    return json.loads(body, object_pairs_hook=list)


async def _export(client: Client, headers: dict[str, str], account: int) -> bytes:
    response = await client.get(
        f"/api/v1/accounts/{account}/outcome_export", params={"format": "case_json"}, headers=headers
    )
    assert response.status == 200, await response.text()
    return await response.read()


async def _reference(db: asyncpg.Connection, account: int) -> bytes:
    context = await load_context(db, ContextType.account, account)
    assert context is not None
    async with db.transaction(isolation="repeatable_read"):
        return b"".join([piece async for piece in case_pieces(db, context)])


async def _varied_tree(db: asyncpg.Connection, rng: random.Random, account: int, top_groups: int) -> None:
    ctx = ("Account", account)
    root = await insert_group(db, ctx, "Root")
    groups = [
        await insert_group(db, ctx, _text(rng) or "t", parent_id=root, vendor_guid=f"top{account}.{n}")
        for n in range(top_groups)
    ]
    for n in range(30):
        groups.append(
            await insert_group(
                db,
                ctx,
                rng.choice([_text(rng) or "g", rng.choice(_HTML)]),
                parent_id=rng.choice(groups),
                vendor_guid=_guid(rng, f"g{account}.", n),
                description=rng.choice([None, "", _text(rng, 20), rng.choice(_HTML)]),
            )
        )
    for n in range(150):
        outcome = await insert_outcome(
            db,
            ctx,
            _text(rng) or "o",
            vendor_guid=_guid(rng, f"o{account}.", n),
            description=rng.choice([None, "", _text(rng, 30), rng.choice(_HTML)]),
            display_name=rng.choice([None, "", _text(rng)]),
            calculation_method=rng.choice(["decaying_average", "highest", "n_mastery"]),
            calculation_int=rng.choice([None, 0, -5, 65, 2**31 - 1]),
            mastery_points=rng.choice([None, 0.0, -0.0, 3.0, 1e20, 1e-7, 0.1, _number(rng), _number(rng)]),
            ratings=[
                {"points": _number(rng), "description": rng.choice([None, "", _text(rng), rng.choice(_HTML)])}
                for _ in range(rng.randint(0, 4))
            ],
        )
        if n % 5 == 0:
            raw = rng.choice(_RAW_RATINGS)
            await db.execute("UPDATE learning_outcomes SET ratings = $1::json WHERE id = $2", raw, outcome)
        if n % 9 == 0:
            time = rng.choice(_TIMES)
            await db.execute(
                "UPDATE learning_outcomes SET updated_at = $1::text::timestamptz WHERE id = $2", time, outcome
            )
        for group in rng.sample(groups, rng.randint(1, 2)):
            await insert_link(db, outcome, group)
    if top_groups > 1:  # an outcome in the root and in a group, and one in the root only
        both = await insert_outcome(db, ctx, "both", vendor_guid=f"both é/ü {account}")
        await insert_link(db, both, root)
        await insert_link(db, both, groups[-1])
        alone = await insert_outcome(db, ctx, "alone", vendor_guid=None)
        await insert_link(db, alone, root)


async def test_the_package_parses_to_what_the_python_builder_wrote(
    client: Client, admin_headers: dict[str, str], db: asyncpg.Connection
) -> None:
    rng = random.Random(23)
    for top_groups in (3, 1):  # the root as CFDocument; a framework's one top group as CFDocument
        account = await insert_account(db, f"Tree {top_groups}")
        await _varied_tree(db, rng, account, top_groups)
        exported = await _export(client, admin_headers, account)
        expected = await _reference(db, account)
        new, old = _ordered(exported), _ordered(expected)
        package = dict(new)
        assert len(package["CFItems"]) > 150 and len(package["CFAssociations"]) > 150 and package["CFRubrics"]
        document = json.loads(exported)["CFDocument"]
        assert document["extensions"]["outcomeImports"].get("context_root") is (True if top_groups > 1 else None)
        assert new == old
        # What the importer makes of each number is the same (worker/case_file.py reads them so).
        new_items, old_items = json.loads(exported)["CFItems"], json.loads(expected)["CFItems"]
        for new_item, old_item in zip(new_items, old_items, strict=True):
            now, before = new_item["extensions"]["outcomeImports"], old_item["extensions"]["outcomeImports"]
            for name in ("calculation_int", "mastery_points"):
                assert _number_text(now.get(name)) == _number_text(before.get(name)), new_item
            for rating, old_rating in zip(now.get("ratings", []), before.get("ratings", []), strict=True):
                assert _number_text(rating["points"]) == _number_text(old_rating["points"])
