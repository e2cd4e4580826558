"""Conformance case 28: "latest", show-by-id and created_group_ids, step by step as its README lists them."""

from __future__ import annotations

from typing import Any

from tests.conformance.test_conformance import CONFORMANCE_DIR
from tests.support.canvas import attachment, create_conformance_contexts, expect_json, wait_for_final_state

CASE = CONFORMANCE_DIR / "28-latest-semantics"


async def test_latest_semantics(client: Any, admin_headers: dict[str, str], run_worker: Any, db: Any) -> None:
    h = admin_headers
    contexts = await create_conformance_contexts(client, h)
    a, c1 = contexts.path("A"), contexts.path("C1")
    imports = f"/api/v1/{a}/outcome_imports"

    # 1, 2: nothing yet
    assert "message" in await expect_json(await client.get(f"{imports}/latest", headers=h), 404)
    assert "message" in await expect_json(await client.get(f"{imports}/latest/created_group_ids", headers=h), 404)

    # 3: create
    created = await expect_json(
        await client.post(
            f"{imports}?import_type=instructure_csv",
            data=attachment((CASE / "import1.csv").read_bytes()),
            headers=h,
        ),
        200,
    )
    assert (created["workflow_state"], created["progress"], created["processing_errors"]) == (
        "created",
        0,
        [],
    )
    assert (created["data"], created["ended_at"]) == ({"import_type": "instructure_csv"}, None)
    i1 = created["id"]

    # 4: not latest before processing starts; created_group_ids says it is still processing
    assert "message" in await expect_json(await client.get(f"{imports}/latest", headers=h), 404)
    assert await expect_json(await client.get(f"{imports}/{i1}/created_group_ids", headers=h), 404) == {
        "message": "Import is still being processed"
    }

    # 5, 6
    final = await wait_for_final_state(client, h, a, i1, run_worker)
    assert (final["workflow_state"], final["progress"], final["processing_errors"]) == ("succeeded", 100, [])
    assert await expect_json(await client.get(f"{imports}/latest", headers=h), 200) == final

    # 7: one string, the id of group lg1
    lg1 = await db.fetchval("SELECT id FROM learning_outcome_groups WHERE vendor_guid = 'lg1'")
    for path in (f"{imports}/{i1}/created_group_ids", f"{imports}/latest/created_group_ids"):
        assert await expect_json(await client.get(path, headers=h), 200) == [str(lg1)]

    # 8, 9, 10: raw body, header only
    created2 = await expect_json(
        await client.post(imports, data=(CASE / "import2.csv").read_bytes(), headers={**h, "Content-Type": "text/csv"}),
        200,
    )
    assert created2["workflow_state"] == "created"
    i2 = created2["id"]
    await wait_for_final_state(client, h, a, i2, run_worker)
    latest = await expect_json(await client.get(f"{imports}/latest", headers=h), 200)
    assert (latest["id"], latest["workflow_state"], latest["progress"], latest["processing_errors"]) == (
        i2,
        "failed",
        0,
        [[1, "File has no outcomes data"]],
    )
    assert await expect_json(await client.get(f"{imports}/{i2}/created_group_ids", headers=h), 404) == {
        "message": "Import has failed"
    }

    # 11: older imports stay readable
    assert (await expect_json(await client.get(f"{imports}/{i1}", headers=h), 200))["workflow_state"] == "succeeded"

    # 12, 13: per context
    assert "message" in await expect_json(await client.get(f"/api/v1/{c1}/outcome_imports/latest", headers=h), 404)
    assert "message" in await expect_json(await client.get(f"/api/v1/{c1}/outcome_imports/{i1}", headers=h), 404)

    # 14: a non-UTF-8 charset creates nothing
    count = await db.fetchval("SELECT count(*) FROM outcome_imports")
    resp = await client.post(
        imports,
        data=b"vendor_guid,object_type,title\n",
        headers={**h, "Content-Type": "text/csv; charset=ISO-8859-1"},
    )
    assert (resp.status, await resp.json()) == (400, {"error": "Invalid content type, UTF-8 required"})
    assert await db.fetchval("SELECT count(*) FROM outcome_imports") == count
    assert (await expect_json(await client.get(f"{imports}/latest", headers=h), 200))["id"] == i2

    # 15
    assert "message" in await expect_json(await client.get(f"{imports}/999999999", headers=h), 404)
