"""`outcome-imports import | status | export`: the command-line client of the Outcome Imports API.

It speaks only HTTP (Canvas's API plus this service's extensions), so the same commands work
against a Canvas instance; where dry runs or the full error report are unavailable it says so.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import sys
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, NoReturn

from cli.client import CanvasClient, ClientError, Context, HttpError, parse_base_url
from cli.progress import ProgressBar
from cli.report import (
    CANVAS_ERROR_LIMIT,
    EXIT_CODES_HELP,
    FINAL_STATES,
    ExitCode,
    change_counts,
    errors_of,
    errors_table,
    exit_code_for,
    summary,
    write_first_errors_csv,
)

TOKEN_VARIABLES = ("OUTCOME_IMPORTS_TOKEN", "CANVAS_API_TOKEN")
URL_VARIABLE = "OUTCOME_IMPORTS_URL"
DEFAULT_RETRIES = 4
# Polling backs off from quick (small imports end in a moment) to gentle (large ones take minutes).
FIRST_POLL_SECONDS = 0.2
MAX_POLL_SECONDS = 2.0

ENVIRONMENT_HELP = f"""environment:
  OUTCOME_IMPORTS_TOKEN  the API token (or CANVAS_API_TOKEN). There is deliberately no option for it:
                         a token given on the command line stays in shell history and shows in
                         process lists (ps) of everyone on the machine.
  {URL_VARIABLE}    the default for --url
"""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits with our usage code (3), not argparse's 2 (which means `failed`)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(ExitCode.USAGE, f"{self.prog}: error: {message}\n")


IMPORT_TYPES = ("instructure_csv", "case_json")


def _parser(command: str) -> argparse.ArgumentParser:
    descriptions = {
        "import": "Upload an Outcomes CSV (or a CASE package), show its progress, then the result and its errors.",
        "status": "Show an import (an id, or `latest`) and its errors.",
        "export": "Download the context's outcomes as an Outcomes CSV (to stdout unless -o).",
    }
    parser = _Parser(
        prog=f"outcome-imports {command}",
        description=descriptions[command],
        epilog=ENVIRONMENT_HELP + "\n" + EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    if command == "import":
        parser.add_argument("file", type=Path, metavar="FILE", help="the Outcomes CSV (or a CASE package)")
    elif command == "status":
        parser.add_argument("import_id", metavar="ID", help="the import's id, or `latest`")
    parser.add_argument(
        "--url",
        default=os.environ.get(URL_VARIABLE),
        required=not os.environ.get(URL_VARIABLE),
        help=f"the server, e.g. https://canvas.example.edu (default: ${URL_VARIABLE})",
    )
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--account", metavar="ID", help="the account to import into or read")
    where.add_argument("--course", metavar="ID", help="the course to import into or read")
    if command == "import":
        parser.add_argument("--group", metavar="ID", help="put rows without parents under this outcome group")
        parser.add_argument(
            "--dry-run", action="store_true", help="check the file against the data and change nothing (if supported)"
        )
        parser.add_argument("--no-wait", action="store_true", help="exit once the upload is accepted")
        parser.add_argument(
            "--import-type",
            choices=IMPORT_TYPES,
            help="instructure_csv (an Outcomes CSV) or case_json (a 1EdTech CASE package); default: case_json"
            " for a FILE ending in .json, else instructure_csv",
        )
    if command in ("import", "status"):
        parser.add_argument(
            "--errors-csv",
            type=Path,
            metavar="PATH",
            help="write the full error report as CSV (or the first 25 errors where the server has no report)",
        )
        parser.add_argument("--json", action="store_true", help="print one JSON object on stdout, for scripts")
    if command == "export":
        parser.add_argument("-o", "--output", type=Path, metavar="PATH", help="write to PATH instead of stdout")
    parser.add_argument(
        "--retries",
        type=int,
        default=DEFAULT_RETRIES,
        metavar="N",
        help=f"tries again after a dropped connection or a 503, N times per request (default {DEFAULT_RETRIES})",
    )
    return parser


@dataclass(slots=True)
class Run:
    """What this invocation knows so far, for the final output and for Ctrl-C."""

    base_url: str
    context: Context
    stage: str = "starting"  # "uploading" | "waiting" | "done"
    import_id: str | None = None
    client_facts: dict[str, Any] = field(default_factory=dict)
    bar: ProgressBar | None = None

    def note(self, text: str) -> None:
        if self.bar is not None:
            self.bar.interject(text)
        else:
            print(text, file=sys.stderr, flush=True)

    def status_command(self, import_id: str) -> str:
        kind = "--account" if self.context.kind == "accounts" else "--course"
        return shlex.join(["outcome-imports", "status", import_id, "--url", self.base_url, kind, self.context.id])


def main(command: str, argv: list[str]) -> None:
    args = _parser(command).parse_args(argv)
    sys.exit(_main(command, args))


class Refused(Exception):
    """The command will not go on (a usage error, no token, an unsupported option): exit 3 with this message."""


def _main(command: str, args: argparse.Namespace) -> int:
    run: Run | None = None
    try:
        base_url = parse_base_url(args.url)
        if base_url is None:
            raise Refused(f"--url must be an absolute http or https URL, not {args.url!r}")
        if args.retries < 0:
            raise Refused("--retries must be 0 or more")
        token = next((os.environ[name] for name in TOKEN_VARIABLES if os.environ.get(name)), None)
        if token is None:
            raise Refused(
                "no API token: set OUTCOME_IMPORTS_TOKEN (or CANVAS_API_TOKEN) in the environment. There is no "
                "option for it: a token on the command line leaks into shell history and process lists."
            )
        context = Context("accounts", args.account) if args.account is not None else Context("courses", args.course)
        run = Run(base_url, context)
        commands: dict[str, Callable[[Run, str, argparse.Namespace], Any]] = {
            "import": _import,
            "status": _status,
            "export": _export,
        }
        code: int = asyncio.run(commands[command](run, token, args))
        return code
    except KeyboardInterrupt:
        if run is not None:
            _interrupted(run)
        return ExitCode.INTERRUPTED
    except Refused as exc:
        return _error(run, args, str(exc), ExitCode.USAGE)
    except ClientError as exc:
        hint = ""
        if isinstance(exc, HttpError) and exc.status == 401:
            hint = " (check the token in OUTCOME_IMPORTS_TOKEN or CANVAS_API_TOKEN)"
        return _error(run, args, f"{exc}{hint}", ExitCode.HTTP)


def _error(run: Run | None, args: argparse.Namespace, message: str, code: ExitCode) -> int:
    """The message on stderr; with --json, also one JSON object on stdout, so a script always has one."""
    if run is not None and run.bar is not None:
        run.bar.close()
    print(f"error: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        facts = run.client_facts if run is not None else {}
        _print_json({"error": message, "exit_code": int(code), **facts})
    return code


def _open_client(run: Run, token: str, retries: int) -> AbstractAsyncContextManager[CanvasClient]:
    return CanvasClient.open(run.base_url, token, run.context, retries=retries, on_retry=run.note)


async def _import(run: Run, token: str, args: argparse.Namespace) -> int:
    path: Path = args.file
    if not await asyncio.to_thread(path.is_file):
        raise Refused(f"{path}: no such file")
    size = (await asyncio.to_thread(path.stat)).st_size
    run.client_facts.update(
        url=run.base_url, context=run.context.name, file=str(path), bytes=size, dry_run=args.dry_run
    )
    async with _open_client(run, token, args.retries) as client:
        if args.dry_run:
            refusal = await _dry_run_refusal(client, to_group=args.group is not None)
            if refusal:
                raise Refused(refusal + "; nothing was uploaded")
        key = str(uuid.uuid4())
        run.client_facts["idempotency_key"] = key
        run.stage, run.bar = "uploading", ProgressBar(sys.stderr, f"uploading {path.name}", 0, in_bytes=True)
        bar = run.bar
        created, replayed = await client.upload(
            path,
            group_id=args.group,
            dry_run=args.dry_run,
            idempotency_key=key,
            import_type=args.import_type or ("case_json" if path.suffix.lower() == ".json" else "instructure_csv"),
            on_start=bar.reset,
            on_bytes=bar.advance,
        )
        bar.close()
        run.bar, run.import_id, run.stage = None, str(created["id"]), "waiting"
        run.client_facts.update(import_id=created["id"], replayed=replayed)
        if replayed:
            run.note(f"the server already had this upload (same Idempotency-Key): import {created['id']}")
        if args.dry_run and created.get("dry_run") is not True:
            await _not_a_dry_run(client, run, created)
        if args.no_wait:
            run.note(f"import {created['id']} is {created.get('workflow_state')}; follow it with:")
            run.note("  " + run.status_command(str(created["id"])))
            return _finish(run, args, created, ExitCode.SUCCEEDED)
        final = await _wait(client, run, created)
        await _report_errors(client, run, args, final)
        return _finish(run, args, final, exit_code_for(final))


async def _dry_run_refusal(client: CanvasClient, *, to_group: bool) -> str | None:
    """Why a dry run cannot be trusted on this server, or None when its API description declares one."""
    supported = await client.dry_run_support(to_group)
    if supported is None:
        return (
            "dry runs are unavailable on this server: it has no API description at /api/v1/openapi.json "
            "(a Canvas instance has no dry runs)"
        )
    if not supported:
        return "this server does not support dry runs (its API description declares no dry_run parameter)"
    return None


async def _not_a_dry_run(client: CanvasClient, run: Run, created: dict[str, Any]) -> NoReturn:
    """The server said it could dry-run, but its answer does not confirm one: stop the import if we can."""
    import_id = str(created["id"])
    cancelled = await client.cancel_import(import_id)
    outcome = "it was cancelled" if cancelled else "it could not be cancelled and may change data"
    raise Refused(
        f"the server did not confirm a dry run (no `dry_run` in its answer) and created import "
        f"{import_id}; {outcome}. Check it with: {run.status_command(import_id)}"
    )


async def _wait(client: CanvasClient, run: Run, outcome_import: dict[str, Any]) -> dict[str, Any]:
    """Poll the import until it ends, with a processing bar."""
    run.bar = ProgressBar(sys.stderr, f"import {outcome_import['id']}", 100)
    delay = FIRST_POLL_SECONDS
    while outcome_import.get("workflow_state") not in FINAL_STATES:
        run.bar.update(float(outcome_import.get("progress") or 0), str(outcome_import.get("workflow_state")))
        await asyncio.sleep(delay)  # polling the server, which has no push channel; backs off to MAX_POLL_SECONDS
        delay = min(delay * 1.5, MAX_POLL_SECONDS)
        outcome_import = await client.get_import(str(outcome_import["id"]))
    run.bar.update(100, str(outcome_import["workflow_state"]))
    run.bar.close()
    run.bar, run.stage = None, "done"
    return outcome_import


async def _report_errors(
    client: CanvasClient, run: Run, args: argparse.Namespace, outcome_import: dict[str, Any]
) -> None:
    """Write --errors-csv, and learn how many errors there are where the server counts them (an extension)."""
    import_id = str(outcome_import["id"])
    path: Path | None = args.errors_csv
    if path is None:
        counts = await client.error_counts(import_id) if errors_of(outcome_import) else None
    else:
        out: IO[bytes] = await asyncio.to_thread(path.open, "wb")
        try:
            counts = await client.errors_report(import_id, out)
            if counts is None:
                await asyncio.to_thread(write_first_errors_csv, outcome_import, out)
        finally:
            await asyncio.to_thread(out.close)
        run.client_facts["errors_csv"] = {"path": str(path), "full_report": counts is not None}
        if counts is None:
            run.note(
                "note: the full error report is unavailable on this server (no GET .../outcome_imports/:id/errors); "
                f"{path} has the first {CANVAS_ERROR_LIMIT} errors (Canvas's processing_errors) instead"
            )
        elif counts.not_stored:
            run.note(f"note: the server stored only part of the errors: {counts.not_stored} are not in {path}")
    if counts is not None and counts.found is not None:
        run.client_facts["errors_found"] = counts.found


def _finish(run: Run, args: argparse.Namespace, outcome_import: dict[str, Any], code: int) -> int:
    if args.json:
        _print_json({"outcome_import": outcome_import, "exit_code": int(code), **run.client_facts})
        return code
    found = run.client_facts.get("errors_found")
    print(summary(outcome_import, dry_run=bool(run.client_facts.get("dry_run")), errors_found=found))
    for line in change_counts(outcome_import):
        print(f"  {line}")
    table = errors_table(outcome_import, found)
    if table:
        print("\n" + table)
    return code


def _print_json(document: dict[str, Any]) -> None:
    print(json.dumps(document, ensure_ascii=False), flush=True)


async def _status(run: Run, token: str, args: argparse.Namespace) -> int:
    run.client_facts.update(url=run.base_url, context=run.context.name)
    async with _open_client(run, token, args.retries) as client:
        outcome_import = await client.get_import(args.import_id)
        if outcome_import.get("workflow_state") in FINAL_STATES:
            await _report_errors(client, run, args, outcome_import)
        elif args.errors_csv is not None:
            run.note("note: the import has not ended yet; no errors CSV was written")
    return _finish(run, args, outcome_import, exit_code_for(outcome_import))


async def _export(run: Run, token: str, args: argparse.Namespace) -> int:
    output: Path | None = args.output
    async with _open_client(run, token, args.retries) as client:
        if output is None:
            await client.export(sys.stdout.buffer)
            return ExitCode.SUCCEEDED
        # Written beside the target and renamed once complete: a failed export leaves no truncated file.
        partial = output.with_name(output.name + ".part")
        out: IO[bytes] = await asyncio.to_thread(partial.open, "wb")
        try:
            size = await client.export(out)
        except BaseException:
            await asyncio.to_thread(out.close)
            await asyncio.to_thread(partial.unlink, missing_ok=True)
            raise
        await asyncio.to_thread(out.close)
        await asyncio.to_thread(partial.replace, output)
    print(f"wrote {size} bytes to {output}", file=sys.stderr)
    return ExitCode.SUCCEEDED


def _interrupted(run: Run) -> None:
    if run.bar is not None:
        run.bar.close()
    if run.stage == "waiting" and run.import_id is not None:
        cancel_url = f"{run.base_url}{run.context.path}/outcome_imports/{run.import_id}/cancel"
        print(
            f"\ninterrupted: stopped waiting; import {run.import_id} goes on on the server.\n"
            f"  follow it: {run.status_command(run.import_id)}\n"
            f'  cancel it: curl -X POST -H "Authorization: Bearer $OUTCOME_IMPORTS_TOKEN" {cancel_url}\n'
            "             (this service's extension; Canvas has no cancel)",
            file=sys.stderr,
        )
    elif run.stage == "uploading":
        print(
            "\ninterrupted during the upload. If the server had received all of it, the import exists:\n"
            f"  {run.status_command('latest')}",
            file=sys.stderr,
        )
    else:
        print("\ninterrupted", file=sys.stderr)
