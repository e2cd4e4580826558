"""The `outcome-imports` command: `run` (everything on one machine) or one role each (`api`, `worker`, `migrate`);
`check` (a live database's invariants); and a client of the API: `import FILE`, `status ID`, `export` (see
`outcome-imports import --help`).

This package is the one place that may import both `api` and `worker` (the client imports neither).
"""

from __future__ import annotations

import argparse
import sys

CLIENT_COMMANDS = ("import", "status", "export")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(prog="outcome-imports", description=__doc__)
    parser.add_argument("command", choices=["run", "api", "worker", "migrate", "check", *CLIENT_COMMANDS])
    args, rest = parser.parse_known_args(argv[:1])
    rest = argv[1:]
    if args.command in CLIENT_COMMANDS:
        from cli.importer import main as client_main

        client_main(args.command, rest)
    elif args.command == "run":
        from cli.run import main as run_main

        run_main(rest)
    elif args.command == "api":
        from api.__main__ import main as api_main

        api_main(rest)
    elif args.command == "check":
        from cli.check import main as check_main

        check_main(rest)
    elif args.command == "worker":
        from worker.__main__ import main as worker_main

        worker_main(rest)
    else:
        from shared.db.migrate import main as migrate_main

        migrate_main(rest)
