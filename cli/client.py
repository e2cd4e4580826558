"""HTTP calls of the command-line client: Canvas's Outcome Imports API plus this service's extensions.

It speaks HTTP only (it never imports `api` or `worker`), so the same calls work against a Canvas
instance; where an extension is missing there (dry runs, the full error report) it says so.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import IO, Any, TypeVar
from urllib.parse import quote

import aiohttp
from yarl import URL

from cli.openapi import declares_dry_run

T = TypeVar("T")

OPENAPI_PATH = "/api/v1/openapi.json"
CHUNK_SIZE = 256 * 1024
# A server that asks for a long pause is better left to the user than waited on silently.
MAX_RETRY_AFTER_SECONDS = 60
MAX_BACKOFF_SECONDS = 10
# An upload may take a while to store before the server answers; polls are small.
TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=15, sock_read=300)
# Failures worth another try: the connection dropped, timed out, or the body was cut short.
_TRANSIENT = (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError, TimeoutError)


class ClientError(Exception):
    """The server could not be used."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.__doc__)


class HttpError(ClientError):
    """The server answered with an error status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


class NetworkError(ClientError):
    """The server could not be reached."""


class _Unavailable(Exception):
    """A 503: worth another try, after the server's Retry-After when it gives one."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class Context:
    """An account or a course, by id (Canvas also takes `sis_account_id:...` forms)."""

    kind: str  # "accounts" | "courses"
    id: str

    @property
    def name(self) -> str:
        return f"{self.kind}/{self.id}"

    @property
    def path(self) -> str:
        return f"/api/v1/{self.kind}/{quote(self.id, safe=':')}"


def user_agent() -> str:
    try:
        return f"outcome-imports-cli/{version('outcome-imports')}"
    except PackageNotFoundError:
        return "outcome-imports-cli"


def error_message(status: int, reason: str | None, body: bytes) -> str:
    """`HTTP 403: user not authorized ...` from any of Canvas's error shapes."""
    messages: list[str] = []
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        errors = data.get("errors")
        if isinstance(errors, list):
            messages += [e["message"] for e in errors if isinstance(e, dict) and isinstance(e.get("message"), str)]
        elif isinstance(errors, dict):
            messages += [f"{field}: {problems}" for field, problems in errors.items()]
        messages += [data[key] for key in ("message", "error") if isinstance(data.get(key), str)]
    return f"HTTP {status}: {'; '.join(messages) or reason or 'error'}"


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date); None when absent or unreadable."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max((when - datetime.now(UTC)).total_seconds(), 0.0)


@dataclass(frozen=True, slots=True)
class ErrorCounts:
    """This service's X-Error-Count / X-Errors-Not-Stored headers on the error report (None when absent)."""

    found: int | None
    not_stored: int | None

    @classmethod
    def of(cls, resp: aiohttp.ClientResponse) -> ErrorCounts:
        def number(name: str) -> int | None:
            value = resp.headers.get(name, "")
            return int(value) if value.isdigit() else None

        return cls(number("X-Error-Count"), number("X-Errors-Not-Stored"))


class _CountingReader(io.BufferedReader):
    """A file that reports every chunk aiohttp reads from it (aiohttp reads in a thread)."""

    def __init__(self, raw: io.RawIOBase, on_read: Callable[[int], None]) -> None:
        super().__init__(raw, CHUNK_SIZE)
        self._on_read = on_read

    def read(self, size: int | None = -1, /) -> bytes:
        data = super().read(size)
        self._on_read(len(data))
        return data


class CanvasClient:
    """One server, one token, one context; every request retried `retries` times when it failed transiently.

    Only requests that are safe to repeat are retried: GETs, and the upload because it carries an
    Idempotency-Key (this service answers the first import again; Canvas ignores the header).
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        base_url: str,
        context: Context,
        retries: int,
        on_retry: Callable[[str], None],
    ) -> None:
        self._session = session
        self.base_url = base_url.rstrip("/")
        self.context = context
        self._retries = retries
        self._on_retry = on_retry

    @classmethod
    @asynccontextmanager
    async def open(
        cls, base_url: str, token: str, context: Context, *, retries: int, on_retry: Callable[[str], None]
    ) -> AsyncIterator[CanvasClient]:
        headers = {"Authorization": f"Bearer {token}", "User-Agent": user_agent()}
        async with aiohttp.ClientSession(headers=headers, timeout=TIMEOUT) as session:
            yield cls(session, base_url, context, retries, on_retry)

    def url(self, path: str) -> str:
        return self.base_url + path

    def imports_url(self, suffix: str = "") -> str:
        return self.url(f"{self.context.path}/outcome_imports{suffix}")

    async def _with_retries(self, what: str, attempt: Callable[[], Awaitable[T]]) -> T:
        for n in range(self._retries + 1):
            try:
                return await attempt()
            except _Unavailable as exc:
                if n == self._retries:
                    raise HttpError(503, f"{what}: {exc}") from exc
                reason = str(exc)
                delay = min(exc.retry_after, MAX_RETRY_AFTER_SECONDS) if exc.retry_after is not None else None
            except _TRANSIENT as exc:
                if n == self._retries:
                    raise NetworkError(f"{what}: {_describe(exc)}") from exc
                reason, delay = _describe(exc), None
            delay = min(0.5 * 2**n, MAX_BACKOFF_SECONDS) if delay is None else delay
            self._on_retry(f"{what}: {reason}; trying again in {delay:g} s ({n + 1} of {self._retries})")
            await asyncio.sleep(delay)  # backing off before another try, as the server asked or exponentially
        raise AssertionError("unreachable")

    async def _get_json(self, what: str, url: str, *, missing_ok: bool = False) -> Any:
        """The JSON at `url`; None for a 404 (or a non-JSON answer) when `missing_ok`."""

        async def attempt() -> Any:
            async with self._session.get(url, headers={"Accept": "application/json"}) as resp:
                body = await resp.read()
                _raise_for_unavailable(resp, body)
                if missing_ok and resp.status == 404:
                    return None
                if resp.status != 200:
                    raise HttpError(resp.status, error_message(resp.status, resp.reason, body))
                try:
                    return json.loads(body)
                except ValueError as exc:
                    if missing_ok:
                        return None
                    raise HttpError(resp.status, f"the answer to GET {url} is not JSON") from exc

        return await self._with_retries(what, attempt)

    async def dry_run_support(self, to_group: bool) -> bool | None:
        """Whether the server's OpenAPI document declares `dry_run` on the upload route; None without a document."""
        document = await self._get_json("reading the API description", self.url(OPENAPI_PATH), missing_ok=True)
        if document is None:
            return None
        return declares_dry_run(document, self.context.kind, to_group)

    async def upload(
        self,
        path: Path,
        *,
        group_id: str | None,
        dry_run: bool,
        idempotency_key: str,
        import_type: str = "instructure_csv",
        on_start: Callable[[int], None],
        on_bytes: Callable[[int], None],
    ) -> tuple[dict[str, Any], bool]:
        """POST the file as multipart `attachment`, streamed from disk; the OutcomeImport JSON and whether it
        was replayed (the server had the same upload with the same key already). `import_type` other than
        Canvas's default (`case_json`: a CASE package) goes as a form field before the file."""
        url = self.imports_url(f"/group/{quote(group_id, safe=':')}" if group_id else "")
        params = {"dry_run": "true"} if dry_run else {}
        loop = asyncio.get_running_loop()

        def counted(n: int) -> None:
            loop.call_soon_threadsafe(on_bytes, n)

        async def attempt() -> tuple[dict[str, Any], bool]:
            reader, size = await asyncio.to_thread(_open_counting, path, counted)
            try:
                on_start(size)
                form = aiohttp.FormData()
                if dry_run:
                    form.add_field("dry_run", "true")  # before the file: servers read fields up to it
                content_type = "text/csv"
                if import_type != "instructure_csv":  # Canvas's default, never sent: as before
                    form.add_field("import_type", import_type)
                    content_type = "application/json"
                form.add_field("attachment", reader, filename=path.name, content_type=content_type)
                headers = {"Idempotency-Key": idempotency_key, "Accept": "application/json"}
                async with self._session.post(url, data=form, params=params, headers=headers) as resp:
                    body = await resp.read()
                    _raise_for_unavailable(resp, body)
                    if resp.status not in (200, 201):
                        raise HttpError(resp.status, error_message(resp.status, resp.reason, body))
                    answer = _json_object(body, url)
                    return answer, resp.headers.get("Idempotent-Replayed") == "true"
            finally:
                reader.close()

        return await self._with_retries(f"uploading {path.name}", attempt)

    async def get_import(self, import_id: str) -> dict[str, Any]:
        url = self.imports_url(f"/{quote(import_id)}")
        answer = await self._get_json(f"reading import {import_id}", url)
        if not isinstance(answer, dict):
            raise HttpError(200, f"the answer to GET {url} is not an OutcomeImport")
        return answer

    async def cancel_import(self, import_id: str) -> bool:
        """This service's cancel extension; False where it is absent or the import has ended (never retried)."""
        try:
            async with self._session.post(self.imports_url(f"/{quote(import_id)}/cancel")) as resp:
                await resp.read()
                return resp.status == 200
        except _TRANSIENT:
            return False

    async def error_counts(self, import_id: str) -> ErrorCounts | None:
        """How many errors the import found and how many its report lacks; None where there is no report (Canvas)."""
        url = self.imports_url(f"/{quote(import_id)}/errors")

        async def attempt() -> ErrorCounts | None:
            headers = {"Accept": "application/json"}
            async with self._session.get(url, params={"per_page": "1"}, headers=headers) as resp:
                body = await resp.read()
                _raise_for_unavailable(resp, body)
                if resp.status != 200:
                    return None
                return ErrorCounts.of(resp)

        return await self._with_retries(f"counting the errors of import {import_id}", attempt)

    async def errors_report(self, import_id: str, out: IO[bytes]) -> ErrorCounts | None:
        """Stream the full error report (CSV) into `out`; None, writing nothing, where the server has none."""
        url = self.imports_url(f"/{quote(import_id)}/errors")

        async def attempt() -> ErrorCounts | None:
            async with self._session.get(url, headers={"Accept": "text/csv"}) as resp:
                if resp.status == 404 or (resp.status == 200 and resp.content_type != "text/csv"):
                    return None
                if resp.status != 200:
                    body = await resp.read()
                    _raise_for_unavailable(resp, body)
                    raise HttpError(resp.status, error_message(resp.status, resp.reason, body))
                await _copy_body(resp, out, url)
                return ErrorCounts.of(resp)

        return await self._with_retries(f"reading the error report of import {import_id}", attempt)

    async def export(self, out: IO[bytes]) -> int:
        """Stream the context's outcomes as an Outcomes CSV into `out`; the number of bytes."""
        url = self.url(f"{self.context.path}/outcome_export")

        async def attempt() -> int:
            async with self._session.get(url, headers={"Accept": "text/csv"}) as resp:
                if resp.status != 200:
                    body = await resp.read()
                    _raise_for_unavailable(resp, body)
                    raise HttpError(resp.status, error_message(resp.status, resp.reason, body))
                return await _copy_body(resp, out, url)

        return await self._with_retries(f"exporting {self.context.name}", attempt)


def _open_counting(path: Path, on_read: Callable[[int], None]) -> tuple[_CountingReader, int]:
    reader = _CountingReader(io.FileIO(path, "r"), on_read)
    return reader, os.fstat(reader.fileno()).st_size


def _raise_for_unavailable(resp: aiohttp.ClientResponse, body: bytes) -> None:
    if resp.status == 503:
        raise _Unavailable(error_message(503, resp.reason, body), _retry_after(resp.headers.get("Retry-After")))


def _json_object(body: bytes, url: str) -> dict[str, Any]:
    try:
        answer = json.loads(body)
    except ValueError:
        answer = None
    if not isinstance(answer, dict) or "id" not in answer:
        raise HttpError(200, f"the answer of {url} is not an OutcomeImport")
    return answer


async def _copy_body(resp: aiohttp.ClientResponse, out: IO[bytes], url: str) -> int:
    """Copy a response body chunk by chunk; once bytes are written a failure is not retried (they would repeat)."""
    written = 0
    try:
        async for chunk in resp.content.iter_chunked(CHUNK_SIZE):
            await asyncio.to_thread(out.write, chunk)
            written += len(chunk)
    except _TRANSIENT as exc:
        if written == 0:
            raise
        raise NetworkError(f"the connection failed during GET {url} after {written} bytes: {_describe(exc)}") from exc
    await asyncio.to_thread(out.flush)
    return written


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError) and not str(exc):
        return "timed out"
    return str(exc) or type(exc).__name__


def parse_base_url(value: str) -> str | None:
    """The server's base URL without a trailing slash; None when it is not an absolute http(s) URL."""
    try:
        url = URL(value)
    except ValueError:
        return None
    if url.scheme not in ("http", "https") or not url.host or url.query_string or url.fragment:
        return None
    return str(url).rstrip("/")
