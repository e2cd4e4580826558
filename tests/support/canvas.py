"""Small helpers for driving the API as a Canvas client would."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import aiohttp

FINAL_STATES = ("succeeded", "failed")
# The exact key set of Canvas's OutcomeImport JSON (spec §3.1), in Canvas's order.
CANVAS_OUTCOME_IMPORT_KEYS = (
    "id", "created_at", "ended_at", "updated_at", "workflow_state", "progress", "data", "processing_errors", "user"
)
# Our extensions (issue 14), after Canvas's keys.
EXTENSION_OUTCOME_IMPORT_KEYS = ("dry_run", "error_count", "errors_url", "summary")
OUTCOME_IMPORT_KEYS = frozenset(CANVAS_OUTCOME_IMPORT_KEYS + EXTENSION_OUTCOME_IMPORT_KEYS)


@dataclass(frozen=True, slots=True)
class Contexts:
    """The conformance installation: A (root), A1 (sub-account of A), B (another root), C1 (course in A)."""

    paths: dict[str, str]  # "A" -> "accounts/2", "C1" -> "courses/1"

    def path(self, name: str) -> str:
        return self.paths[name]


async def expect_json(resp: aiohttp.ClientResponse, status: int) -> Any:
    body = await resp.json()
    assert resp.status == status, (resp.status, body)
    return body


async def create_conformance_contexts(client: Any, headers: dict[str, str]) -> Contexts:
    a = await expect_json(
        await client.post("/api/v1/accounts", json={"account": {"name": "Account A"}}, headers=headers), 200
    )
    a1 = await expect_json(
        await client.post(
            f"/api/v1/accounts/{a['id']}/sub_accounts",
            json={"account": {"name": "Account A1"}},
            headers=headers,
        ),
        200,
    )
    b = await expect_json(
        await client.post("/api/v1/accounts", json={"account": {"name": "Account B"}}, headers=headers), 200
    )
    c1 = await expect_json(
        await client.post(
            f"/api/v1/accounts/{a['id']}/courses", json={"course": {"name": "Course C1"}}, headers=headers
        ),
        200,
    )
    return Contexts(
        {
            "A": f"accounts/{a['id']}",
            "A1": f"accounts/{a1['id']}",
            "B": f"accounts/{b['id']}",
            "C1": f"courses/{c1['id']}",
        }
    )


def attachment(data: bytes, filename: str = "outcomes.csv") -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("attachment", data, filename=filename, content_type="text/csv")
    return form


async def wait_for_final_state(
    client: Any,
    headers: dict[str, str],
    context_path: str,
    import_id: int,
    run_worker: Any,
    deadline_seconds: float = 60,
) -> dict[str, Any]:
    """Run the burst worker, then read the import until it is final (fails loudly after `timeout`)."""
    deadline = time.monotonic() + deadline_seconds
    while True:
        await run_worker()
        body = await expect_json(
            await client.get(f"/api/v1/{context_path}/outcome_imports/{import_id}", headers=headers), 200
        )
        if body["workflow_state"] in FINAL_STATES:
            return body
        assert time.monotonic() < deadline, f"import {import_id} still {body['workflow_state']}"
