"""`outcome-imports check` (shared/db/integrity.py): a database after real imports holds every invariant,
and each invariant reports what breaks it (the foreign keys migrations 0005 and 0006 dropped, and more)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import pytest

from shared.db.integrity import INVARIANTS, check_integrity
from tests.faults import REPO_ROOT
from tests.support.canvas import attachment, expect_json, wait_for_final_state

NESTED = (
    b"vendor_guid,object_type,title,parent_guids,workflow_state\n"
    b"math,group,Math,,active\n"
    b"alg,group,Algebra,math,active\n"
    b"geo,group,Geometry,math,active\n"
    b"o1,outcome,Add,math,active\n"
    b"o2,outcome,Solve,alg,active\n"
    b"o3,outcome,Prove,alg geo,active\n"
)
DELETE_ALGEBRA = (
    b"vendor_guid,object_type,title,parent_guids,workflow_state\n"
    b"math,group,Math,,active\n"
    b"alg,group,Algebra,math,deleted\n"
)
STALE_AFTER_SECONDS = 60.0


async def _check_command(database_url: str, *options: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "cli", "check", "--database-url", database_url, *options,
        cwd=REPO_ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def _import(
    client: Any, headers: dict[str, str], run_worker: Callable[[], Awaitable[None]], data: bytes
) -> None:
    created = await expect_json(
        await client.post("/api/v1/accounts/1/outcome_imports", data=attachment(data), headers=headers), 200
    )
    final = await wait_for_final_state(client, headers, "accounts/1", created["id"], run_worker)
    assert (final["workflow_state"], final["processing_errors"]) == ("succeeded", [])


async def test_the_command_passes_a_database_after_real_imports_and_fails_once_one_is_broken(
    client: Any,
    admin_headers: dict[str, str],
    run_worker: Callable[[], Awaitable[None]],
    database_url: str,
    db: asyncpg.Connection,
) -> None:
    await _import(client, admin_headers, run_worker, NESTED)
    await _import(client, admin_headers, run_worker, DELETE_ALGEBRA)  # a subtree deleted: groups, links, outcomes
    assert await db.fetchval("SELECT count(*) FROM learning_outcome_links WHERE workflow_state = 'deleted'") > 0

    code, stdout, stderr = await _check_command(database_url, "--json")
    assert (code, stderr) == (0, ""), stdout
    report = json.loads(stdout)
    assert (report["ok"], report["violations"]) == (True, [])
    assert [i["name"] for i in report["invariants"]] == [i.name for i in INVARIANTS]

    link_id = await db.fetchval(
        "SELECT l.id FROM learning_outcome_links l JOIN learning_outcomes o ON o.id = l.learning_outcome_id"
        " WHERE o.vendor_guid = 'o1'"
    )
    await db.execute("DELETE FROM learning_outcomes WHERE vendor_guid = 'o1'")
    code, stdout, stderr = await _check_command(database_url)
    assert (code, stderr) == (1, ""), stdout
    assert f"link -> outcome: 1 links naming an outcome that does not exist: {link_id}\n" in stdout, stdout


async def test_the_command_exits_2_when_it_cannot_check(database_url: str) -> None:
    code, stdout, stderr = await _check_command(database_url.rsplit("/", 1)[0] + "/oi_no_such_database", "--json")
    assert code == 2
    assert json.loads(stdout)["ok"] is False
    assert "could not check" in stderr and "oi_no_such_database" in stderr


SUBACCOUNT = "INSERT INTO accounts (id, name, parent_account_id, root_account_id) VALUES (2, 'Sub', 1, 1);"
ROOT_GROUP = (
    "INSERT INTO learning_outcome_groups (id, context_type, context_id, root_account_id, title)"
    " VALUES (100, 'Account', 1, 1, 'root');"
)
OUTCOME = (
    "INSERT INTO learning_outcomes (id, context_type, context_id, root_account_id, short_description, workflow_state)"
    " VALUES (200, 'Account', 1, 1, 'o', '{state}');"
)
LINK = (
    "INSERT INTO learning_outcome_links (id, learning_outcome_id, associated_group_id, context_type, context_id)"
    " VALUES (300, 200, {group}, 'Account', {context});"
)
IMPORT = (
    "INSERT INTO outcome_imports (id, context_type, context_id, root_account_id, learning_outcome_group_id,"
    " workflow_state, object_key, file_name, content_type, file_size, file_sha256, file_line_count, heartbeat_at)"
    " VALUES (400, '{context_type}', {context_id}, 1, {group}, '{state}', 'k', 'f.csv', 'text/csv', 1, 'x', 1,"
    " now() - interval '{silent}');"
)


@pytest.mark.parametrize(
    ("broken", "reported"),
    [
        (
            "INSERT INTO learning_outcome_links (learning_outcome_id, associated_group_id, context_type, context_id)"
            " VALUES (987654, 876543, 'Account', 1)",
            {"link -> outcome", "link -> group"},
        ),
        (
            "INSERT INTO learning_outcomes (context_type, context_id, root_account_id, short_description)"
            " VALUES ('Account', 1, 424242, 'orphan')",
            {"outcome -> root account"},
        ),
        (
            "INSERT INTO learning_outcomes (context_type, context_id, root_account_id, short_description)"
            " VALUES ('Course', 5555, 1, 'homeless')",
            {"outcome -> context"},
        ),
        (
            "INSERT INTO learning_outcome_groups (context_type, context_id, root_account_id, parent_id, title)"
            " VALUES ('Account', 1, 424242, 919191, 'orphan')",
            {"group -> parent group", "group -> root account"},
        ),
        (
            "INSERT INTO learning_outcome_groups (context_type, context_id, root_account_id, title)"
            " VALUES ('Course', 5555, 1, 'homeless')",
            {"group -> context"},
        ),
        (
            SUBACCOUNT + ROOT_GROUP + "INSERT INTO learning_outcome_groups"
            " (context_type, context_id, root_account_id, parent_id, title) VALUES ('Account', 2, 1, 100, 'astray')",
            {"group parent context"},
        ),
        (
            ROOT_GROUP + "UPDATE learning_outcome_groups SET workflow_state = 'deleted' WHERE id = 100;"
            "INSERT INTO learning_outcome_groups (context_type, context_id, root_account_id, parent_id, title)"
            " VALUES ('Account', 1, 1, 100, 'left behind')",
            {"active group -> deleted parent"},
        ),
        (
            ROOT_GROUP + OUTCOME.format(state="deleted") + LINK.format(group=100, context=1),
            {"active link -> deleted outcome"},
        ),
        (
            ROOT_GROUP + OUTCOME.format(state="active") + LINK.format(group=100, context=1)
            + "UPDATE learning_outcome_groups SET workflow_state = 'deleted' WHERE id = 100",
            {"active link -> deleted group"},
        ),
        (
            SUBACCOUNT + ROOT_GROUP + OUTCOME.format(state="active") + LINK.format(group=100, context=2),
            {"link context"},
        ),
        (
            IMPORT.format(context_type="Course", context_id=5555, group=919191, state="succeeded", silent="0 s"),
            {"import -> context", "import -> target group"},
        ),
        (
            IMPORT.format(context_type="Account", context_id=1, group="NULL", state="importing", silent="10 min"),
            {"stuck import"},
        ),
        (
            IMPORT.format(context_type="Account", context_id=1, group="NULL", state="succeeded", silent="0 s")
            + "UPDATE outcome_import_state_counts SET imports = 2",
            {"state counts"},
        ),
    ],
    ids=[
        "dangling link",
        "outcome without root account",
        "outcome without context",
        "group without parent or root account",
        "group without context",
        "parent in another context",
        "deleted parent",
        "link to deleted outcome",
        "link in deleted group",
        "link in another context",
        "import without context or target group",
        "stuck import",
        "state counts",
    ],
)
async def test_each_broken_invariant_is_reported(db: asyncpg.Connection, broken: str, reported: set[str]) -> None:
    assert await check_integrity(db, stale_after_seconds=STALE_AFTER_SECONDS) == []
    await db.execute(broken)
    violations = await check_integrity(db, stale_after_seconds=STALE_AFTER_SECONDS)
    assert {v.invariant.name for v in violations} == reported, violations


async def test_an_import_held_by_a_live_worker_is_not_stuck(db: asyncpg.Connection) -> None:
    await db.execute(
        "INSERT INTO workers (id, host, pid, max_jobs) VALUES ('w', 'h', 1, 1);"
        + IMPORT.format(context_type="Account", context_id=1, group="NULL", state="importing", silent="10 min")
        + "UPDATE outcome_imports SET worker_id = 'w'"
    )
    assert await check_integrity(db, stale_after_seconds=STALE_AFTER_SECONDS) == []
    await db.execute("UPDATE workers SET stopped_at = now()")
    assert [v.sample for v in await check_integrity(db, stale_after_seconds=STALE_AFTER_SECONDS)] == [["400"]]


class _RollBack(Exception):
    pass


async def test_two_active_root_groups_in_a_context_are_reported(db: asyncpg.Connection) -> None:
    # The schema forbids two roots (learning_outcome_groups_root_key); the check does not rely on
    # it. The index is dropped in a transaction that is rolled back: other tests keep it.
    with pytest.raises(_RollBack):
        async with db.transaction(isolation="repeatable_read"):
            await db.execute(
                "DROP INDEX learning_outcome_groups_root_key;"
                "INSERT INTO learning_outcome_groups (context_type, context_id, root_account_id, title)"
                " VALUES ('Account', 1, 1, 'root'), ('Account', 1, 1, 'another root')"
            )
            violations = await check_integrity(db, stale_after_seconds=STALE_AFTER_SECONDS)
            assert [(v.invariant.name, v.sample) for v in violations] == [("one root group", ["Account 1"])]
            raise _RollBack
    assert await db.fetchval("SELECT to_regclass('learning_outcome_groups_root_key') IS NOT NULL")
