"""HTTP/1.1 by hand, for requests an HTTP client library refuses to send (bad bytes, broken framing)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

READ_TIMEOUT_SECONDS = 10


@dataclass(frozen=True, slots=True)
class RawResponse:
    status: int
    headers: dict[str, str]  # lower-case names; the last value of a repeated header
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def request_bytes(method: str, path: str, headers: dict[str, str | bytes] | None = None, body: bytes = b"") -> bytes:
    """A request with `Connection: close`, a Host unless given, a Content-Length; values may be any bytes."""
    lines = [f"{method} {path} HTTP/1.1".encode(), b"Connection: close"]
    if not any(name.lower() == "host" for name in headers or {}):
        lines.append(b"Host: 127.0.0.1")
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}".encode())
    for name, value in (headers or {}).items():
        lines.append(name.encode() + b": " + (value if isinstance(value, bytes) else value.encode()))
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def parse_response(data: bytes) -> RawResponse:
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = _dechunk(body)
    return RawResponse(int(status_line.split()[1]), headers, body)


def _dechunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, data = out + data[:size], data[size + 2 :]
    return out


async def send_raw(host: str, port: int, data: bytes) -> RawResponse:
    """Send `data` on a new connection and read the answer until the server closes it."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(READ_TIMEOUT_SECONDS):
            answer = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    return parse_response(answer)
