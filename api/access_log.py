"""The access log, without secrets: Canvas accepts `access_token` in the query string, so it is masked."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from yarl import URL

SECRET_PARAMS = frozenset({"access_token"})


def redacted(url: URL) -> str:
    """The path and query of `url` with secret parameters replaced by `[FILTERED]`."""
    if not SECRET_PARAMS.intersection(url.query):
        return url.path_qs
    query = [(k, "[FILTERED]" if k in SECRET_PARAMS else v) for k, v in url.query.items()]
    return str(url.with_query(query))


class RedactingAccessLogger(AbstractAccessLogger):
    @property
    def enabled(self) -> bool:
        # Skips building the line at all when INFO is off (the default log level keeps it on).
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        self.logger.info(
            '%s "%s %s" %s %.3fs', request.remote, request.method, redacted(request.rel_url), response.status, time
        )
