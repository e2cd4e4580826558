"""Every case of ../shared/conformance, through the real HTTP API and a real worker.

Contexts are created through the provisioning API; trees are read through the Outcome Groups API.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from shared.settings import Settings
from tests.support.canvas import attachment, create_conformance_contexts, expect_json, wait_for_final_state
from tests.support.integrity import assert_integrity
from tests.support.tree import assert_tree_matches, fetch_tree

CONFORMANCE_DIR = Path(
    os.environ.get(
        "OUTCOME_IMPORTS_CONFORMANCE_DIR",
        Path(__file__).resolve().parents[2].parent / "shared" / "conformance",
    )
)
CASES = sorted(p.parent.name for p in CONFORMANCE_DIR.glob("*/expected.json"))


@pytest.fixture(params=[1000, 2], ids=["batches-of-1000", "batches-of-2"])
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    """Every case in one batch (as Canvas would run these files), and again in batches of two
    rows: the worker writes each batch while it applies the next, and the result must not change."""
    return dataclasses.replace(settings, batch_size=request.param)


def test_conformance_cases_are_present() -> None:
    # A missing ../shared must fail loudly, not silently run zero cases.
    assert len(CASES) >= 27, f"expected the conformance cases in {CONFORMANCE_DIR}"


def _assert_errors(actual: list[list[Any]], expected: list[list[Any]]) -> None:
    assert len(actual) == len(expected), (actual, expected)
    for (row, message), (want_row, want) in zip(actual, expected, strict=True):
        assert row == want_row, (actual, expected)
        if isinstance(want, dict):
            assert want["contains"] in message, (message, want)
        else:
            assert message == want


async def _group_id(client: Any, headers: dict[str, str], context_path: str, vendor_guid: str) -> int:
    page = 1
    while True:
        groups = await expect_json(
            await client.get(
                f"/api/v1/{context_path}/outcome_groups",
                params={"per_page": "100", "page": str(page)},
                headers=headers,
            ),
            200,
        )
        for group in groups:
            if group["vendor_guid"] == vendor_guid:
                return int(group["id"])
        assert groups, f"no active group {vendor_guid!r} in {context_path}"
        page += 1


@pytest.mark.parametrize("case", CASES)
async def test_conformance_case(
    case: str, client: Any, admin_headers: dict[str, str], run_worker: Any, db: asyncpg.Connection
) -> None:
    case_dir = CONFORMANCE_DIR / case
    expected = json.loads((case_dir / "expected.json").read_text())
    contexts = await create_conformance_contexts(client, admin_headers)
    for step in expected.get("steps", [expected]):
        context_path = contexts.path(step.get("context", "A"))
        url = f"/api/v1/{context_path}/outcome_imports"
        if "target_group" in step:
            url += f"/group/{await _group_id(client, admin_headers, context_path, step['target_group'])}"
        data = (case_dir / step["input"]).read_bytes()
        created = await expect_json(await client.post(url, data=attachment(data), headers=admin_headers), 200)
        assert created["workflow_state"] == "created"
        final = await wait_for_final_state(client, admin_headers, context_path, created["id"], run_worker)
        assert final["workflow_state"] == step["workflow_state"], (step["input"], final)
        assert final["progress"] == step["progress"], (step["input"], final)
        _assert_errors(final["processing_errors"], step["processing_errors"])
        if "tree" in step:
            assert_tree_matches(await fetch_tree(client, admin_headers, context_path), step["tree"])
        await assert_integrity(db)
