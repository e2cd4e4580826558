"""`python -m api` / `outcome-imports api`: serve the HTTP API."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from api.app import create_app
from api.serving import serve
from shared.db.migrate import refusal
from shared.errors import ConfigurationError, SchemaMismatch
from shared.logs import configure_logging
from shared.settings import Settings


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="outcome-imports api", description="Serve the Outcome Imports API")
    parser.add_argument("--host", default=os.environ.get("OUTCOME_IMPORTS_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("OUTCOME_IMPORTS_PORT", "8080")))
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(os.environ)
    except ConfigurationError as exc:
        sys.exit(str(exc))
    configure_logging(settings.log_level)
    app = create_app(settings)
    try:
        asyncio.run(serve(app, args.host, args.port, settings))
    except SchemaMismatch as exc:
        sys.exit(refusal(exc))


if __name__ == "__main__":
    main()
