"""`outcome-imports check`: report dangling references and other broken invariants of a live database.

Reads DATABASE_URL (or --database-url) in one read-only snapshot and writes nothing. Exit 0 when
every invariant holds, 1 when some do not (each is listed with the first ids that break it), 2
when the database could not be checked (unreachable, or not an outcome-imports database).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from urllib.parse import urlsplit

import asyncpg

from shared.db.integrity import INVARIANTS, Violation, as_json, check_integrity, default_stale_after_seconds, describe

EXIT_CLEAN, EXIT_BROKEN, EXIT_NOT_CHECKED = 0, 1, 2


def _where(database_url: str) -> str:
    """The database, named without its credentials."""
    parts = urlsplit(database_url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or '/'}"


async def _check(database_url: str, stale_after_seconds: float) -> list[Violation]:
    conn = await asyncpg.connect(database_url, timeout=30)
    try:
        return await check_integrity(conn, stale_after_seconds=stale_after_seconds)
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="outcome-imports check", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--database-url", default=os.environ.get("DATABASE_URL"), help="default: DATABASE_URL")
    parser.add_argument(
        "--stale-after",
        type=float,
        default=float(os.environ.get("OUTCOME_IMPORTS_STALE_AFTER_SECONDS") or default_stale_after_seconds()),
        metavar="SECONDS",
        help="an import `importing` this long without a heartbeat, and with no live worker, is stuck"
        " (default: OUTCOME_IMPORTS_STALE_AFTER_SECONDS, else %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    args = parser.parse_args(argv)
    if not args.database_url:
        parser.error("DATABASE_URL or --database-url is required")
    where = _where(args.database_url)
    try:
        violations = asyncio.run(_check(args.database_url, args.stale_after))
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        if args.json:
            print(json.dumps({"ok": False, "database": where, "error": str(exc)}))
        print(f"outcome-imports check: could not check {where}: {type(exc).__name__}: {exc}", file=sys.stderr)
        sys.exit(EXIT_NOT_CHECKED)
    if args.json:
        report = {
            "ok": not violations,
            "database": where,
            "invariants": [{"name": i.name, "description": i.description} for i in INVARIANTS],
            "violations": [as_json(v) for v in violations],
        }
        print(json.dumps(report, indent=2))
    elif violations:
        print(f"{where}: {len(violations)} of {len(INVARIANTS)} invariants broken")
        for violation in violations:
            print(f"  {describe(violation)}")
    else:
        print(f"{where}: all {len(INVARIANTS)} invariants hold")
    sys.exit(EXIT_BROKEN if violations else EXIT_CLEAN)
