"""The Outcome Imports API end to end: HTTP in, a real worker, PostgreSQL and Redis out."""

from __future__ import annotations

from typing import Any

import aiohttp

CSV = b"vendor_guid,object_type,title,parent_guids\ng1,group,Group one,\no1,outcome,Outcome one,g1\n"


def _form(data: bytes, name: str = "outcomes.csv") -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("attachment", data, filename=name, content_type="text/csv")
    return form


async def test_create_answers_canvas_json_in_state_created(client: Any, admin_headers: dict[str, str]) -> None:
    resp = await client.post("/api/v1/accounts/1/outcome_imports", data=_form(CSV), headers=admin_headers)
    assert resp.status == 200
    body = await resp.json()
    assert set(body) == {"id", "created_at", "updated_at", "ended_at", "workflow_state", "progress", "data",
                         "processing_errors", "user"}
    assert (body["workflow_state"], body["progress"], body["processing_errors"], body["ended_at"]) == (
        "created", 0, [], None)
    assert body["data"] == {"import_type": "instructure_csv"}
    assert body["user"]["name"] == "Site Admin"


async def test_import_runs_to_succeeded(client: Any, admin_headers: dict[str, str], run_worker: Any) -> None:
    resp = await client.post("/api/v1/accounts/1/outcome_imports", data=_form(CSV), headers=admin_headers)
    import_id = (await resp.json())["id"]
    await run_worker()
    resp = await client.get(f"/api/v1/accounts/1/outcome_imports/{import_id}", headers=admin_headers)
    body = await resp.json()
    assert (body["workflow_state"], body["progress"], body["processing_errors"]) == ("succeeded", 100, [])
    assert body["ended_at"] is not None
