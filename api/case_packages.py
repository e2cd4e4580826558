"""CASE imports' request parameters: `case_package_url` (fetched here, at upload time, into storage
exactly as an upload is stored) and the options that stand in for a CSV's outcome columns.

Outbound requests are an SSRF risk, so a fetch goes only to hosts the operator lists
(OUTCOME_IMPORTS_CASE_FETCH_HOSTS; unset: no fetches at all), over https, to public addresses:
every address a host name resolves to is checked by the connector's resolver, so the check holds
for the connection actually made (no second lookup to rebind); a redirect is followed only to a
URL that passes the same checks, at most MAX_REDIRECTS times. Private, loopback, link-local and
other non-global addresses (and plain http) are allowed only with OUTCOME_IMPORTS_CASE_FETCH_ALLOW_PRIVATE=true,
for tests and private networks. The fetch is bounded in time (OUTCOME_IMPORTS_CASE_FETCH_TIMEOUT_SECONDS)
and size (OUTCOME_IMPORTS_MAX_UPLOAD_BYTES).
"""

from __future__ import annotations

import csv
import ipaddress
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Final

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from multidict import MultiDict
from yarl import URL

from api.errors import ApiError, bad_request
from api.params import stored_text
from shared.errors import UploadTooLarge
from shared.settings import Settings

CASE_JSON: Final = "case_json"
PACKAGE_URL: Final = "case_package_url"
OPTION_PARAMS: Final = ("calculation_method", "calculation_int", "mastery_points")
CASE_PARAMS: Final = (PACKAGE_URL, "ratings", *OPTION_PARAMS)
MAX_REDIRECTS: Final = 5
_CHUNK_BYTES: Final = 256 * 1024
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})


def package_url(params: MultiDict[str]) -> str | None:
    """The last `case_package_url` given, or None."""
    values = params.getall(PACKAGE_URL, [])
    return values[-1] if values else None


def case_options(params: MultiDict[str]) -> dict[str, Any] | None:
    """The parameters that stand in for the CSV columns of every outcome of a CASE package
    (checked by the worker with the CSV's rules): `ratings` is one CSV record of tiers,
    `4,Exceeds,3,Mastery,...`; None when none is given."""
    options: dict[str, Any] = {}
    for name in OPTION_PARAMS:
        value = params.getall(name, [])
        if value and value[-1].strip():
            options[name] = stored_text(name, value[-1])
    ratings = params.getall("ratings", [])
    if ratings and ratings[-1].strip():
        try:
            cells = next(csv.reader([ratings[-1]]))
        except csv.Error as exc:
            raise bad_request(f"Invalid ratings: {exc}") from exc
        options["ratings"] = [stored_text("ratings", cell) for cell in cells]
    return options or None


def _refused(message: str) -> ApiError:
    return ApiError(400, {"errors": [{"message": message, "error_code": "case_package_url_refused"}]})


def _fetch_failed(message: str, status: int = 502) -> ApiError:
    return ApiError(status, {"errors": [{"message": message, "error_code": "case_package_url_failed"}]})


def _address_allowed(address: str, allow_private: bool) -> bool:
    if allow_private:
        return True
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def _host_allowed(host: str, allowed: list[str]) -> bool:
    host = host.lower().rstrip(".")
    for entry in allowed:
        if entry == "*" or host == entry or (entry.startswith("*.") and host.endswith(entry[1:])):
            return True
    return False


def check_url(raw: str, settings: Settings) -> URL:
    """The URL if a fetch of it may be tried; the 400 saying why not otherwise."""
    allowed = [h.strip().lower() for h in (settings.case_fetch_hosts or "").split(",") if h.strip()]
    if not allowed:
        raise _refused("case_package_url is not enabled on this server (OUTCOME_IMPORTS_CASE_FETCH_HOSTS)")
    try:
        url = URL(raw)
    except ValueError as exc:
        raise _refused("case_package_url is not a URL") from exc
    allow_private = settings.case_fetch_allow_private
    schemes = ("https", "http") if allow_private else ("https",)
    if url.scheme not in schemes or not url.host:
        raise _refused("case_package_url must be an https:// URL")
    if url.user is not None or url.password is not None:
        raise _refused("case_package_url must not carry credentials")
    if not _host_allowed(url.host, allowed):
        raise _refused(f"case_package_url's host {url.host} is not one this server fetches from")
    try:
        literal = ipaddress.ip_address(url.host)
    except ValueError:
        literal = None
    if literal is not None and not _address_allowed(str(literal), allow_private):
        raise _refused(f"case_package_url's host {url.host} is a private address")
    return url


class _PublicResolver(AbstractResolver):
    """Resolves as aiohttp does, then refuses a host with any address that is not global."""

    def __init__(self, allow_private: bool) -> None:
        self._resolver = DefaultResolver()
        self._allow_private = allow_private
        self.refused: str | None = None

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        results = await self._resolver.resolve(host, port, family)
        for result in results:
            if not _address_allowed(result["host"], self._allow_private):
                self.refused = f"case_package_url's host {host} resolves to a private address"
                raise OSError(self.refused)
        return results

    async def close(self) -> None:
        await self._resolver.close()


@dataclass(slots=True)
class FetchedPackage:
    chunks: AsyncIterator[bytes]
    file_name: str
    content_type: str


@asynccontextmanager
async def fetch_package(raw_url: str, settings: Settings) -> AsyncIterator[FetchedPackage]:
    """The package at `raw_url`, its body as chunks to be read inside the block; raises the 400
    for a URL that may not be fetched, 502 when the provider fails or answers other than 200,
    504 past the time limit, UploadTooLarge beyond the upload limit."""
    url = check_url(raw_url, settings)
    resolver = _PublicResolver(settings.case_fetch_allow_private)
    timeout = aiohttp.ClientTimeout(total=settings.case_fetch_timeout_seconds)
    connector = aiohttp.TCPConnector(resolver=resolver, limit=2)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False) as session:
        try:
            for _ in range(MAX_REDIRECTS + 1):
                response = await session.get(url, allow_redirects=False, headers={"Accept": "application/json"})
                if response.status not in _REDIRECTS:
                    break
                location = response.headers.get("Location", "")
                response.release()
                url = check_url(str(url.join(URL(location))), settings)
            else:
                raise _fetch_failed(f"case_package_url redirected more than {MAX_REDIRECTS} times")
            async with response:
                if response.status != 200:
                    raise _fetch_failed(f"The CASE provider answered {response.status} for case_package_url")
                limit = settings.max_upload_bytes
                if response.content_length is not None and response.content_length > limit:
                    raise UploadTooLarge(f"The upload exceeds the maximum size of {limit} bytes")
                name = url.name if url.name.endswith(".json") else "case_package.json"
                yield FetchedPackage(
                    _limited(response, limit),
                    stored_text("case_package_url (its file name)", name),
                    stored_text("Content-Type", response.headers.get("Content-Type", "application/json")),
                )
        except TimeoutError as exc:
            raise _fetch_failed("case_package_url took too long to fetch", 504) from exc
        except aiohttp.ClientError as exc:
            if resolver.refused is not None:
                raise _refused(resolver.refused) from exc
            raise _fetch_failed(f"case_package_url could not be fetched ({type(exc).__name__})") from exc


async def _limited(response: aiohttp.ClientResponse, limit: int) -> AsyncIterator[bytes]:
    total = 0
    async for chunk in response.content.iter_chunked(_CHUNK_BYTES):
        total += len(chunk)
        if total > limit:
            raise UploadTooLarge(f"The upload exceeds the maximum size of {limit} bytes")
        yield chunk

