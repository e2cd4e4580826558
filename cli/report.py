"""What the client tells people and scripts: exit codes, the summary, the errors table, the errors CSV."""

from __future__ import annotations

import csv
import io
from enum import IntEnum
from typing import IO, Any

# Canvas's OutcomeImport JSON lists at most this many errors (`processing_errors`).
CANVAS_ERROR_LIMIT = 25
FINAL_STATES = ("succeeded", "failed")


class ExitCode(IntEnum):
    """The exit codes, for scripts to branch on (documented in --help and the README)."""

    SUCCEEDED = 0  # the import succeeded without row errors (or: --no-wait and the upload was accepted)
    ROW_ERRORS = 1  # the import succeeded, but some rows were rejected
    FAILED = 2  # the import failed: nothing of it was applied
    USAGE = 3  # a usage error, no token, or an option this server does not support
    HTTP = 4  # an HTTP error answer, or the server could not be reached
    NOT_FINISHED = 5  # `status` of an import that is still waiting or running
    INTERRUPTED = 130  # Ctrl-C: the client stopped waiting; the import goes on on the server


EXIT_CODES_HELP = """exit codes:
  0    the import succeeded without row errors (with --no-wait: the upload was accepted)
  1    the import succeeded, but some rows were rejected
  2    the import failed (nothing of it was applied)
  3    usage error, no token, or an option this server does not support (--dry-run)
  4    HTTP error or network error (unreachable server, bad token, unknown context or import)
  5    status: the import is still waiting or running
  130  interrupted (Ctrl-C) while waiting; the import goes on on the server
"""


def errors_of(outcome_import: dict[str, Any]) -> list[tuple[str, str]]:
    """Canvas's `processing_errors` as (row, message) pairs, whatever their exact JSON types."""
    pairs: list[tuple[str, str]] = []
    for entry in outcome_import.get("processing_errors") or []:
        if isinstance(entry, list) and len(entry) >= 2:
            pairs.append((str(entry[0]), str(entry[1])))
        else:
            pairs.append(("", str(entry)))
    return pairs


def exit_code_for(outcome_import: dict[str, Any]) -> ExitCode:
    state = outcome_import.get("workflow_state")
    if state == "failed":
        return ExitCode.FAILED
    if state != "succeeded":
        return ExitCode.NOT_FINISHED
    return ExitCode.ROW_ERRORS if errors_of(outcome_import) else ExitCode.SUCCEEDED


def rows_with_errors(outcome_import: dict[str, Any], found: int | None = None) -> str:
    """`3 rows with errors`; `found` is the server's count where it has an error report."""
    shown = len(errors_of(outcome_import))
    if found is None and shown >= CANVAS_ERROR_LIMIT:
        return f"{shown} or more rows with errors"
    count = shown if found is None else found
    return f"{count} row{'' if count == 1 else 's'} with errors"


def summary(outcome_import: dict[str, Any], *, dry_run: bool = False, errors_found: int | None = None) -> str:
    """`import 12 succeeded: 3 rows with errors` (or failed, or still importing at 40%)."""
    state = outcome_import.get("workflow_state", "unknown")
    head = f"{'dry run' if dry_run else 'import'} {outcome_import.get('id')} {state}"
    if state == "succeeded":
        text = f"{head}: {rows_with_errors(outcome_import, errors_found)}"
    elif state == "failed":
        text = f"{head}: nothing was applied"
    else:
        text = f"{head}: {outcome_import.get('progress', 0)}% done"
    if dry_run and state in FINAL_STATES:
        text += " (a dry run: nothing was changed)"
    return text


def change_counts(outcome_import: dict[str, Any]) -> list[str]:
    """What a finished import did, from its `summary` (our extension; [] where the server has none):
    `groups: 1 created, 2 unchanged`, `outcomes: ...`, `links: 3 added`; zero counts left out."""
    counts = outcome_import.get("summary")
    if not isinstance(counts, dict):
        return []
    lines = []
    for kind in ("groups", "outcomes", "links"):
        of_kind = counts.get(kind)
        if isinstance(of_kind, dict):
            done = [f"{n} {what}" for what, n in of_kind.items() if isinstance(n, int) and n]
            lines.append(f"{kind}: {', '.join(done) or 'none'}")
    skipped = counts.get("case_associations_skipped")
    if isinstance(skipped, int) and skipped:
        lines.append(f"CASE associations that are not outcomes: {skipped} skipped")
    return lines


def errors_table(outcome_import: dict[str, Any], errors_found: int | None = None) -> str:
    """The errors as a two-column text table, '' when there are none."""
    pairs = errors_of(outcome_import)
    if not pairs:
        return ""
    width = max(len("row"), *(len(row) for row, _ in pairs))
    lines = [f"{'row':>{width}}  message", f"{'-' * width}  {'-' * 7}"]
    lines += [f"{row:>{width}}  {' '.join(message.split())}" for row, message in pairs]
    if errors_found is not None and errors_found > len(pairs):
        lines.append(f"(the first {len(pairs)} of {errors_found} errors; --errors-csv PATH writes them all)")
    elif errors_found is None and len(pairs) >= CANVAS_ERROR_LIMIT:
        lines.append(f"(the first {CANVAS_ERROR_LIMIT} errors; this server has no report of them all)")
    return "\n".join(lines)


def write_first_errors_csv(outcome_import: dict[str, Any], out: IO[bytes]) -> None:
    """The errors of the OutcomeImport JSON (at most 25) as CSV: `row,message`."""
    text = io.StringIO(newline="")
    writer = csv.writer(text, lineterminator="\r\n")
    writer.writerow(["row", "message"])
    writer.writerows(errors_of(outcome_import))
    out.write(text.getvalue().encode("utf-8"))
