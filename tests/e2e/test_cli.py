"""`outcome-imports import | status | export`: the real command, as a subprocess, against a live service.

The API listens on a real socket; a burst worker runs in the test's loop while the command waits,
so the command sees the import go from `created` to its end exactly as it would in production.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import signal
import socket
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from tests.conftest import ADMIN_TOKEN
from tests.support.canvas import attachment, expect_json

Client = TestClient[Any, Any]
RunWorker = Callable[[], Awaitable[None]]
ROOT = Path(__file__).resolve().parents[2]
DEADLINE_SECONDS = 30
CLEAN = b"vendor_guid,object_type,title,parent_guids\nmath,group,Math,\no1,outcome,Add,math\no2,outcome,Subtract,math\n"
WITH_ROW_ERRORS = (
    b"vendor_guid,object_type,title,parent_guids\n"
    b"math,group,Math,\n"
    b"o1,outcome,Add,math\n"
    b"o2,outcome,,math\n"
    b",outcome,No guid,math\n"
)


@dataclass(frozen=True, slots=True)
class Result:
    code: int
    stdout: str
    stderr: str


def _env(token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("OUTCOME_IMPORTS_TOKEN", "CANVAS_API_TOKEN")}
    env.pop("OUTCOME_IMPORTS_URL", None)
    if token is not None:
        env["OUTCOME_IMPORTS_TOKEN"] = token
    return env


async def _start(*args: str, token: str | None) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "cli",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=_env(token),
        cwd=ROOT,
    )


async def cli(*args: str, token: str | None = ADMIN_TOKEN, run_worker: RunWorker | None = None) -> Result:
    """Run the command to its end; with `run_worker`, a burst worker processes the queue meanwhile."""
    process = await _start(*args, token=token)
    finished = asyncio.ensure_future(process.communicate())
    deadline = time.monotonic() + DEADLINE_SECONDS
    try:
        while not finished.done():
            assert time.monotonic() < deadline, f"outcome-imports {' '.join(args)} did not finish"
            if run_worker is not None:
                await run_worker()  # returns at once while the queue is empty (nothing uploaded yet)
            await asyncio.wait([finished], timeout=0.1)
    finally:
        if process.returncode is None:
            process.kill()
            await finished
    out, err = finished.result()
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


def url_of(client: Client) -> str:
    return str(client.make_url("")).rstrip("/")


def write(tmp_path: Path, data: bytes, name: str = "outcomes.csv") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


async def test_a_clean_import_exits_0_and_prints_one_json_object(
    client: Client, run_worker: RunWorker, db: asyncpg.Connection, tmp_path: Path
) -> None:
    file = write(tmp_path, CLEAN)
    result = await cli("import", file, "--url", url_of(client), "--account", "1", "--json", run_worker=run_worker)
    assert result.code == 0, result
    document = json.loads(result.stdout)
    outcome_import = document["outcome_import"]
    assert (outcome_import["workflow_state"], outcome_import["processing_errors"]) == ("succeeded", [])
    assert document["exit_code"] == 0
    assert "errors_found" not in document  # no errors, nothing to count
    assert document["context"] == "accounts/1"
    assert (document["file"], document["bytes"], document["replayed"]) == (file, len(CLEAN), False)
    assert len(document["idempotency_key"]) == 36
    # stderr is no terminal here: plain progress lines, no carriage returns.
    assert "uploading outcomes.csv: 100%" in result.stderr and "\r" not in result.stderr
    assert await db.fetchval("SELECT count(*) FROM learning_outcomes WHERE context_id = 1") == 2
    # The key went with the upload: the service remembers it for this import.
    assert await db.fetchval("SELECT outcome_import_id FROM idempotency_keys") == outcome_import["id"]


async def test_row_errors_exit_1_with_the_table_and_an_errors_csv(
    client: Client, run_worker: RunWorker, tmp_path: Path
) -> None:
    report = tmp_path / "errors.csv"
    result = await cli(
        "import",
        write(tmp_path, WITH_ROW_ERRORS),
        "--url",
        url_of(client),
        "--account",
        "1",
        "--errors-csv",
        str(report),
        run_worker=run_worker,
    )
    assert result.code == 1, result
    lines = result.stdout.splitlines()
    assert lines[:4] == [
        "import 1 succeeded: 2 rows with errors",
        "  groups: 1 created",
        "  outcomes: 1 created",
        "  links: 1 added",
    ]
    assert lines[5:7] == ["row  message", "---  -------"]
    assert lines[7] == '  4  The "title" field is required'
    assert lines[8] == '  5  The "vendor_guid" field is required'
    # This service has the full report (an extension): the CSV is the server's, with columns and codes.
    assert "unavailable" not in result.stderr
    assert list(csv.reader(io.StringIO(report.read_text()))) == [
        ["row", "column", "code", "message", "value"],
        ["4", "title", "title_required", 'The "title" field is required', ""],
        ["5", "vendor_guid", "vendor_guid_required", 'The "vendor_guid" field is required', ""],
    ]


async def test_a_failed_import_exits_2(client: Client, run_worker: RunWorker, tmp_path: Path) -> None:
    url = url_of(client)
    result = await cli("import", write(tmp_path, b""), "--url", url, "--course", "1", run_worker=run_worker)
    # There is no course 1 in a fresh installation: an HTTP error, before anything else.
    assert result.code == 4, result
    assert "HTTP 404" in result.stderr
    result = await cli("import", write(tmp_path, b""), "--url", url, "--account", "1", run_worker=run_worker)
    assert result.code == 2, result
    assert result.stdout.splitlines()[0] == "import 1 failed: nothing was applied"
    assert "File has no data" in result.stdout


async def test_without_a_token_it_exits_3_and_with_a_wrong_one_4(
    client: Client, db: asyncpg.Connection, tmp_path: Path
) -> None:
    file = write(tmp_path, CLEAN)
    result = await cli("import", file, "--url", url_of(client), "--account", "1", "--json", token=None)
    assert result.code == 3, result
    assert "OUTCOME_IMPORTS_TOKEN" in result.stderr and "CANVAS_API_TOKEN" in result.stderr
    assert json.loads(result.stdout)["exit_code"] == 3  # a script always gets its one JSON object
    result = await cli("import", file, "--url", url_of(client), "--account", "1", "--json", token="wrong")
    assert result.code == 4, result
    assert "HTTP 401: Invalid access token." in result.stderr
    assert json.loads(result.stdout)["exit_code"] == 4
    assert await db.fetchval("SELECT count(*) FROM outcome_imports") == 0
    # Usage errors are 3 too (argparse's own 2 would read as "failed").
    assert (await cli("import", file, "--url", url_of(client))).code == 3
    assert (await cli("import", file, "--url", "ftp://x", "--account", "1")).code == 3


async def test_an_unreachable_server_exits_4_after_retrying(tmp_path: Path) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    # Nothing listens on the port now: connection refused, one retry, then exit 4.
    result = await cli(
        "import", write(tmp_path, CLEAN), "--url", f"http://127.0.0.1:{port}", "--account", "1", "--retries", "1"
    )
    assert result.code == 4, result
    assert "trying again in 0.5 s (1 of 1)" in result.stderr
    assert "error: uploading outcomes.csv: Cannot connect to host" in result.stderr


async def test_a_dry_run_against_this_service_reports_and_changes_nothing(
    client: Client, run_worker: RunWorker, db: asyncpg.Connection, tmp_path: Path
) -> None:
    file = write(tmp_path, WITH_ROW_ERRORS)
    url = url_of(client)
    result = await cli("import", file, "--url", url, "--account", "1", "--dry-run", run_worker=run_worker)
    assert result.code == 1, result
    assert result.stdout.splitlines()[:4] == [
        "dry run 1 succeeded: 2 rows with errors (a dry run: nothing was changed)",
        "  groups: 1 created",
        "  outcomes: 1 created",
        "  links: 1 added",
    ]
    assert await db.fetchval("SELECT count(*) FROM learning_outcome_groups") == 0
    assert await db.fetchval("SELECT dry_run FROM outcome_imports WHERE id = 1") is True


async def test_status_prints_an_import_and_exits_by_its_state(
    client: Client, run_worker: RunWorker, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    url = url_of(client)
    upload = attachment(WITH_ROW_ERRORS)
    created = await expect_json(
        await client.post("/api/v1/accounts/1/outcome_imports", data=upload, headers=admin_headers), 200
    )
    waiting = await cli("status", str(created["id"]), "--url", url, "--account", "1")
    assert waiting.code == 5, waiting
    assert waiting.stdout == f"import {created['id']} created: 0% done\n"
    await run_worker()
    done = await cli("status", "latest", "--url", url, "--account", "1", "--json")
    assert done.code == 1, done
    document = json.loads(done.stdout)
    assert document["outcome_import"]["id"] == created["id"]
    assert document["outcome_import"]["processing_errors"] == [
        [4, 'The "title" field is required'],
        [5, 'The "vendor_guid" field is required'],
    ]
    missing = await cli("status", "999", "--url", url, "--account", "1")
    assert missing.code == 4, missing
    assert "HTTP 404" in missing.stderr


async def test_export_streams_the_outcomes_to_a_file_or_stdout(
    client: Client, run_worker: RunWorker, admin_headers: dict[str, str], tmp_path: Path
) -> None:
    url = url_of(client)
    imported = await cli("import", write(tmp_path, CLEAN), "--url", url, "--account", "1", run_worker=run_worker)
    assert imported.code == 0, imported
    expected = await (await client.get("/api/v1/accounts/1/outcome_export", headers=admin_headers)).read()
    assert b"Subtract" in expected
    target = tmp_path / "export.csv"
    to_file = await cli("export", "--url", url, "--account", "1", "-o", str(target))
    assert to_file.code == 0, to_file
    assert target.read_bytes() == expected
    assert not (tmp_path / "export.csv.part").exists()
    to_stdout = await cli("export", "--url", url, "--account", "1")
    assert (to_stdout.code, to_stdout.stdout.encode()) == (0, expected)


async def test_ctrl_c_while_waiting_exits_130_and_says_how_to_follow(
    client: Client, db: asyncpg.Connection, tmp_path: Path
) -> None:
    url = url_of(client)
    # No worker runs: the import waits, and so does the command, until it is interrupted.
    process = await _start("import", write(tmp_path, CLEAN), "--url", url, "--account", "1", token=ADMIN_TOKEN)
    assert process.stderr is not None
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not (line := await asyncio.wait_for(process.stderr.readline(), DEADLINE_SECONDS)).startswith(b"import 1:"):
        assert line and time.monotonic() < deadline, "the command never started waiting"
    process.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(process.communicate(), DEADLINE_SECONDS)
    assert process.returncode == 130, (out, err)
    assert b"import 1 goes on on the server" in err
    assert f"outcome-imports status 1 --url {url} --account 1".encode() in err
    assert await db.fetchval("SELECT workflow_state FROM outcome_imports WHERE id = 1") == "created"


@dataclass
class FakeCanvas:
    """What a Canvas without this service's extensions saw: no OpenAPI document, no error report."""

    uploads: list[tuple[str, bytes]]
    polls: int = 0


def fake_canvas_app(canvas: FakeCanvas) -> web.Application:
    errors = [[row, f"Error on row {row}"] for row in range(2, 2 + 25)]  # Canvas shows 25, whatever the total

    async def upload(request: web.Request) -> web.Response:
        form = await request.post()  # a fake: a small file may be buffered
        attached = form["attachment"]
        assert isinstance(attached, web.FileField)
        canvas.uploads.append((request.headers["Idempotency-Key"], attached.file.read()))
        if len(canvas.uploads) == 1:  # the first try meets a restarting server
            return web.json_response({"errors": [{"message": "try later"}]}, status=503, headers={"Retry-After": "0"})
        return web.json_response({"id": 7, "workflow_state": "created", "progress": 0, "processing_errors": []})

    async def show(request: web.Request) -> web.Response:
        canvas.polls += 1
        if canvas.polls == 1:
            return web.json_response({"id": 7, "workflow_state": "importing", "progress": 50, "processing_errors": []})
        return web.json_response({"id": 7, "workflow_state": "succeeded", "progress": 100, "processing_errors": errors})

    app = web.Application()
    app.router.add_post("/api/v1/accounts/1/outcome_imports", upload)
    app.router.add_get("/api/v1/accounts/1/outcome_imports/7", show)
    return app


async def test_against_a_canvas_without_extensions(tmp_path: Path) -> None:
    canvas = FakeCanvas([])
    server = TestServer(fake_canvas_app(canvas))
    await server.start_server()
    try:
        url = str(server.make_url("")).rstrip("/")
        file = write(tmp_path, CLEAN)
        report = tmp_path / "errors.csv"
        # Dry runs: refused before any upload, saying why.
        refused = await cli("import", file, "--url", url, "--account", "1", "--dry-run")
        assert refused.code == 3, refused
        assert "dry runs are unavailable on this server" in refused.stderr and "Canvas" in refused.stderr
        assert canvas.uploads == []
        # A 503 with Retry-After: the same upload again, with the same Idempotency-Key.
        result = await cli("import", file, "--url", url, "--account", "1", "--errors-csv", str(report), "--json")
        assert result.code == 1, result
        assert [key for key, _ in canvas.uploads] == [canvas.uploads[0][0]] * 2
        assert [data for _, data in canvas.uploads] == [CLEAN, CLEAN]
        assert "HTTP 503: try later; trying again in 0 s (1 of 4)" in result.stderr
        document = json.loads(result.stdout)
        assert document["errors_csv"] == {"path": str(report), "full_report": False}
        assert "errors_found" not in document
        assert "the full error report is unavailable on this server" in result.stderr
        rows = list(csv.reader(io.StringIO(report.read_text())))
        assert rows[0] == ["row", "message"] and rows[1] == ["2", "Error on row 2"] and len(rows) == 26
        # For people: Canvas's 25, and no claim about how many there are in all.
        canvas.uploads.clear()
        people = await cli("import", file, "--url", url, "--account", "1")
        assert people.code == 1, people
        lines = people.stdout.splitlines()
        assert lines[0] == "import 7 succeeded: 25 or more rows with errors"
        assert lines[-1] == "(the first 25 errors; this server has no report of them all)"
    finally:
        await server.close()


def dry_running_app(confirms: bool, seen: list[str]) -> web.Application:
    """A server whose OpenAPI document declares dry runs; its answers say `dry_run` only if `confirms`."""
    document = {
        "openapi": "3.1.0",
        "paths": {"/api/v1/accounts/{account_id}/outcome_imports": {"post": {"parameters": [{"name": "dry_run"}]}}},
    }
    body: dict[str, Any] = {"id": 7, "workflow_state": "created", "progress": 0, "processing_errors": []}
    if confirms:
        body["dry_run"] = True

    async def openapi(request: web.Request) -> web.Response:
        return web.json_response(document)

    async def upload(request: web.Request) -> web.Response:
        form = await request.post()  # a fake: a small file may be buffered
        seen.append(f"upload query={request.query.get('dry_run')} field={form.get('dry_run')}")
        return web.json_response(body)

    async def show(request: web.Request) -> web.Response:
        return web.json_response(body | {"workflow_state": "succeeded", "progress": 100})

    async def cancel(request: web.Request) -> web.Response:
        seen.append("cancel")
        return web.json_response(body | {"workflow_state": "failed"})

    app = web.Application()
    app.router.add_get("/api/v1/openapi.json", openapi)
    app.router.add_post("/api/v1/accounts/1/outcome_imports", upload)
    app.router.add_get("/api/v1/accounts/1/outcome_imports/7", show)
    app.router.add_post("/api/v1/accounts/1/outcome_imports/7/cancel", cancel)
    return app


async def test_a_dry_run_where_the_server_declares_and_confirms_one(tmp_path: Path) -> None:
    for confirms in (True, False):
        seen: list[str] = []
        server = TestServer(dry_running_app(confirms, seen))
        await server.start_server()
        try:
            url = str(server.make_url("")).rstrip("/")
            result = await cli("import", write(tmp_path, CLEAN), "--url", url, "--account", "1", "--dry-run")
        finally:
            await server.close()
        if confirms:
            assert (result.code, seen) == (0, ["upload query=true field=true"]), result
            assert result.stdout == "dry run 7 succeeded: 0 rows with errors (a dry run: nothing was changed)\n"
        else:
            # It said it could, then made an import without saying it was a dry run: stop it at once.
            assert (result.code, seen) == (3, ["upload query=true field=true", "cancel"]), result
            assert "the server did not confirm a dry run" in result.stderr and "it was cancelled" in result.stderr


async def test_group_puts_rows_without_parents_under_it(
    client: Client, run_worker: RunWorker, db: asyncpg.Connection, tmp_path: Path
) -> None:
    url = url_of(client)
    assert (
        await cli("import", write(tmp_path, CLEAN), "--url", url, "--account", "1", run_worker=run_worker)
    ).code == 0
    math = await db.fetchval("SELECT id FROM learning_outcome_groups WHERE vendor_guid = 'math'")
    file = write(tmp_path, b"vendor_guid,object_type,title\nalgebra,group,Algebra\n", "algebra.csv")
    result = await cli("import", file, "--url", url, "--account", "1", "--group", str(math), run_worker=run_worker)
    assert result.code == 0, result
    assert await db.fetchval("SELECT parent_id FROM learning_outcome_groups WHERE vendor_guid = 'algebra'") == math
    missing = await cli("import", file, "--url", url, "--account", "1", "--group", "999")
    assert missing.code == 4, missing
    assert "HTTP 404: Couldn't find LearningOutcomeGroup with 'id'=999" in missing.stderr


async def test_no_wait_exits_0_once_the_upload_is_accepted(client: Client, tmp_path: Path) -> None:
    url = url_of(client)
    result = await cli("import", write(tmp_path, CLEAN), "--url", url, "--account", "1", "--no-wait", "--json")
    assert result.code == 0, result
    assert json.loads(result.stdout)["outcome_import"]["workflow_state"] == "created"
    assert f"outcome-imports status 1 --url {url} --account 1" in result.stderr


class DroppingProxy:
    """A TCP relay to the API whose first connection loses the answer: the upload arrived, the reply never does."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.connections = 0

    async def start(self) -> asyncio.Server:
        return await asyncio.start_server(self._relay, "127.0.0.1", 0)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        first = self.connections == 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        request = asyncio.create_task(_pipe(reader, up_writer))
        try:
            if first:
                await up_reader.read(1)  # the API has answered, so the import is committed
                writer.transport.abort()  # ... and the connection drops before the client hears of it
            else:
                await _pipe(up_reader, writer)
        finally:
            request.cancel()
            up_writer.close()
            writer.close()


async def _pipe(source: asyncio.StreamReader, target: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            target.write(data)
            await target.drain()
    except ConnectionError:
        pass  # either side may go away first; the test judges the outcome, not the relay
    finally:
        target.close()


async def test_a_dropped_connection_after_the_upload_never_makes_a_second_import(
    client: Client, run_worker: RunWorker, db: asyncpg.Connection, tmp_path: Path
) -> None:
    relay = await DroppingProxy(client.server.port).start()
    try:
        port = relay.sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        result = await cli(
            "import", write(tmp_path, CLEAN), "--url", url, "--account", "1", "--json", run_worker=run_worker
        )
    finally:
        relay.close()
        await relay.wait_closed()
    assert result.code == 0, result
    assert "uploading outcomes.csv: Server disconnected; trying again" in result.stderr
    assert json.loads(result.stdout)["replayed"] is True
    assert "the server already had this upload (same Idempotency-Key): import 1" in result.stderr
    assert await db.fetchval("SELECT count(*) FROM outcome_imports") == 1


async def test_a_case_package_is_imported_as_case_json(
    client: Client, run_worker: RunWorker, db: asyncpg.Connection, tmp_path: Path
) -> None:
    """A FILE ending in .json is sent with import_type=case_json (issue 18); --import-type says otherwise."""
    package = {
        "CFDocument": {"identifier": "doc-1", "title": "Framework"},
        "CFItems": [{"identifier": "item-1", "humanCodingScheme": "F.1", "fullStatement": "Do it."}],
        "CFAssociations": [
            {"associationType": "exactMatchOf", "originNodeURI": {"identifier": "item-1"}, "destinationNodeURI": {}}
        ],
    }
    file = write(tmp_path, json.dumps(package).encode(), "framework.json")
    url = url_of(client)
    result = await cli("import", file, "--url", url, "--account", "1", run_worker=run_worker)
    assert result.code == 0, result
    assert "outcomes: 1 created" in result.stdout
    assert "CASE associations that are not outcomes: 1 skipped" in result.stdout
    assert await db.fetchval("SELECT short_description FROM learning_outcomes WHERE vendor_guid = 'item-1'") == (
        "F.1 Do it."
    )
    as_csv = await cli("import", file, "--url", url, "--account", "1", "--import-type", "instructure_csv",
                       run_worker=run_worker)
    assert as_csv.code == 2, as_csv  # a JSON file read as a CSV: its header is no Outcomes CSV header
