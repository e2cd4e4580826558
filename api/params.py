"""Canvas request parameters, read as Rails reads them.

Canvas clients send the same parameters three ways: a query string, a form body whose keys nest
with brackets (`user[name]=Jane`, `ids[]=1`), or a JSON body with nested objects. `read_params`
merges them into one nested mapping (the query string wins on conflicts, as in Rails), and
`Params` looks values up by their Canvas name (`"pseudonym[unique_id]"`), raising the 400
`{"errors": [{"message": ...}]}` that names the parameter when one is missing or invalid.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import BadHttpMessage
from aiohttp.web_protocol import RequestPayloadError

from api.deps import DEPS
from api.errors import ApiError, bad_request, errors_body

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")
_SUBKEY = re.compile(r"\[([^\[\]]*)\]")
# Canvas's value_to_boolean spellings.
_TRUE = frozenset({"true", "t", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "off", "0", ""})
# Lone surrogates come from JSON escapes ("\\ud800") or bytes that were not UTF-8; neither is text
# PostgreSQL (or any UTF-8 encoder) accepts, and neither is NUL.
_NOT_STORABLE = re.compile("[\x00\ud800-\udfff]")


def _split_name(name: str) -> list[str]:
    """`"a[b][c]"` -> `["a", "b", "c"]`; a name that does not nest stays whole."""
    match = _KEY.match(name)
    if match is None:
        return [name]
    return [match.group(1), *_SUBKEY.findall(match.group(2))]


def nest(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    """Rails' parsing of flat form/query pairs into nested parameters.

    `user[name]=J` -> `{"user": {"name": "J"}}`; `ids[]=1&ids[]=2` -> `{"ids": ["1", "2"]}`. A later
    value replaces an earlier one. `[]` is honoured only at the end of a key; any other key that
    does not nest cleanly (or clashes with a value already there) is kept flat under its full name.
    """
    root: dict[str, Any] = {}
    for name, value in pairs:
        parts = _split_name(name)
        if not _place(root, parts, value):
            root[name] = value
    return root


def _place(root: dict[str, Any], parts: list[str], value: str) -> bool:
    node = root
    for i, part in enumerate(parts[:-1]):
        if part == "":
            return False
        is_list = i == len(parts) - 2 and parts[-1] == ""
        child = node.get(part)
        if is_list:
            if not isinstance(child, list):
                child = node[part] = []
            child.append(value)
            return True
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            return False
        node = child
    if parts[-1] == "":
        return False
    node[parts[-1]] = value
    return True


def _deep_merge(base: dict[str, Any], top: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in top.items():
        below = merged.get(key)
        if isinstance(below, dict) and isinstance(value, Mapping):
            merged[key] = _deep_merge(below, value)
        else:
            merged[key] = value
    return merged


def stored_text(name: str, value: str) -> str:
    """`value`, if PostgreSQL can store it as text; else the 400 that names the parameter."""
    bad = _NOT_STORABLE.search(value)
    if bad is None:
        return value
    if bad.group() == "\x00":
        raise invalid(name, "text cannot contain a NUL character")
    raise invalid(name, "not valid Unicode text (a lone surrogate)")


@asynccontextmanager
async def body_errors(request: web.Request) -> AsyncIterator[None]:
    """Reading a body: one that is not what its headers say (multipart, Content-Encoding) is a 400, not
    ours; one that sends nothing for `body_timeout_seconds` is a 408 (a slow client holds no handler)."""
    seconds = request.app[DEPS].settings.body_timeout_seconds
    try:
        async with asyncio.timeout(seconds):
            yield
    except TimeoutError as exc:
        raise ApiError(
            408,
            errors_body(f"The request body was not received in time (nothing arrived for {seconds} s)"),
            {"Connection": "close"},
        ) from exc
    except RequestPayloadError as exc:
        # aiohttp's wrapper around a body that does not decode (gzip that is not gzip) or is cut short.
        raise bad_request("The request body could not be read as its headers describe it") from exc
    except (ValueError, LookupError, RuntimeError, AssertionError, BadHttpMessage) as exc:
        # aiohttp's multipart reader raises these for a missing, wrong or too long boundary, a bad
        # part header or an unknown part encoding.
        raise bad_request("The multipart request body is malformed") from exc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def parse_json_body(raw: bytes) -> dict[str, Any]:
    """The one JSON body parser: an object of strict JSON, or the 400 saying why not.

    Rejects what json.loads would let through or fail on with something other than a 400: NaN and
    Infinity, numbers that overflow to infinity (1e400), integers beyond Python's digit limit, and
    nesting deeper than the interpreter's recursion limit. Lone surrogates are refused later, by
    `stored_text`, where a value is used.
    """
    try:
        body = json.loads(raw or b"{}", parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise bad_request("The request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    return body


async def _body_params(request: web.Request) -> dict[str, Any]:
    if not request.body_exists:
        return {}
    content_type = request.content_type
    if content_type == "application/json" or content_type.endswith("+json"):
        async with body_errors(request):
            raw = await request.read()
        return parse_json_body(raw)
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        # Provisioning bodies are a few fields; the app's client_max_size bounds what post() buffers.
        async with body_errors(request):
            form = await request.post()
        return nest((name, value) for name, value in form.items() if isinstance(value, str))
    return {}


async def read_params(request: web.Request) -> Params:
    """The request's query string and body (JSON or form) as one `Params`; 400 for a malformed JSON body."""
    body = await _body_params(request)
    return Params(_deep_merge(body, nest(request.query.items())))


@dataclass(frozen=True, slots=True)
class Params:
    """Nested request parameters, looked up by Canvas name: `params.string("account[name]")`."""

    values: Mapping[str, Any]

    def raw(self, name: str) -> Any:
        """The value under `name` as sent (str, number, bool, list, dict), or None."""
        node: Any = self.values
        parts = _split_name(name)
        for depth, part in enumerate(parts):
            if not isinstance(node, Mapping):
                if name in self.values or node is None:
                    # A key that did not nest was kept flat under its full name; null is absent.
                    return self.values.get(name)
                # `{"course": [1]}` where `course[name]` is wanted: the object is not one.
                raise invalid(_join_name(parts[:depth]))
            if part not in node:
                return self.values.get(name)
            node = node[part]
        return node

    def string(self, name: str) -> str | None:
        """A text value; JSON numbers are accepted as their text. None if absent or null."""
        value = self.raw(name)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise invalid(name)
        return stored_text(name, value) if isinstance(value, str) else str(value)

    def required_string(self, name: str) -> str:
        """A non-blank text value; 400 naming `name` if absent or blank."""
        value = self.string(name)
        if value is None or not value.strip():
            raise missing(name)
        return value

    def integer(self, name: str) -> int | None:
        """A non-negative integer id (JSON number or digits); None if absent, 400 if anything else."""
        value = self.raw(name)
        if value is None or value == "":
            return None
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # JSON has one number type: 5e3 is the integer 5000
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**18:
            return value
        if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 18:
            return int(value)
        raise invalid(name)

    def required_integer(self, name: str) -> int:
        value = self.integer(name)
        if value is None:
            raise missing(name)
        return value

    def boolean(self, name: str, default: bool = False) -> bool:
        """Canvas's value_to_boolean: true/yes/on/1 and false/no/off/0 (any case); 400 for other text."""
        value = self.raw(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise invalid(name)

    def timestamp(self, name: str) -> datetime | None:
        """An ISO 8601 date or date-time; one without a zone is taken as UTC. None if absent or blank."""
        value = self.string(name)
        if value is None or not value.strip():
            return None
        try:
            parsed = datetime.fromisoformat(value.strip())
            # In UTC, as stored; a time near year 1 or 9999 may not exist there (OverflowError).
            return parsed.astimezone(UTC) if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
        except ValueError as exc:
            raise invalid(name) from exc
        except OverflowError as exc:
            raise invalid(name, "outside the years 1 to 9999 in UTC") from exc


def _join_name(parts: list[str]) -> str:
    """`["a", "b"]` -> `"a[b]"`, the Canvas name of a nested parameter."""
    return parts[0] + "".join(f"[{part}]" for part in parts[1:])


def missing(name: str) -> ApiError:
    """The 400 for a required parameter that is absent or blank."""
    return bad_request(f"param is missing or the value is empty: {name}")


def invalid(name: str, detail: str = "") -> ApiError:
    """The 400 for a parameter whose value cannot be used; `detail` says what would be accepted."""
    return bad_request(f"invalid value for parameter {name}" + (f": {detail}" if detail else ""))
