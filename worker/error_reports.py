"""Canvas's `An unexpected error has occurred: see error report <n>`, with <n> in the worker's log."""

from __future__ import annotations

import logging
import secrets

logger = logging.getLogger(__name__)


def unexpected_error_message(
    import_id: int, exc: BaseException | None = None, what: str = "unexpected error", level: int = logging.ERROR
) -> str:
    """The message a client sees, with <n> logged here, on one line with what happened and its
    traceback (the exception's, else the stack that called this): <n> is what an operator greps
    for when a district quotes the message."""
    report = secrets.randbelow(10**9)
    logger.log(
        level, "import_id=%s: error report %s: %s", import_id, report, what, exc_info=exc, stack_info=exc is None
    )
    return f"An unexpected error has occurred: see error report {report}"
