"""`python -m worker` / `outcome-imports worker`: process imports from the queue."""

from __future__ import annotations

import argparse
import os
import sys

from shared.errors import ConfigurationError
from shared.logs import configure_logging
from shared.settings import Settings
from worker.settings import create_worker


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="outcome-imports worker", description="Process outcome imports")
    parser.add_argument("--burst", action="store_true", help="exit once the queue is empty")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env(os.environ)
    except ConfigurationError as exc:
        sys.exit(str(exc))
    configure_logging(settings.log_level)
    create_worker(settings, burst=args.burst).run()


if __name__ == "__main__":
    main()
