"""Logging set-up for entry points only; modules just call logging.getLogger(__name__)."""

from __future__ import annotations

import logging.config


def configure_logging(level: str = "INFO") -> None:
    logging.config.dictConfig(
        {
            "version": 1,
            "disable_existing_loggers": False,
            "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(process)d] %(message)s"}},
            "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "plain"}},
            "root": {"handlers": ["stderr"], "level": level.upper()},
            # aiohttp's access log repeats every status poll; keep it at WARNING unless debugging.
            "loggers": {"aiohttp.access": {"level": "WARNING" if level.upper() != "DEBUG" else "DEBUG"}},
        }
    )
