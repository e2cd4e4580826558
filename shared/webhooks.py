"""Outcome import webhooks (README, "Webhooks"): Standard Webhooks signing, signing secrets, the
payload of a delivery, its retry schedule, and which URLs and addresses a delivery may reach.

Pure functions, used by the API (registration) and by the worker (delivery); the database side is
shared/db/webhooks.py, the HTTP side worker/webhook_client.py.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
from datetime import UTC, datetime
from typing import Any

from yarl import URL

from shared.errors import WebhookAddressRefused, WebhookUrlRefused
from shared.models import OutcomeImport

SUCCEEDED = "outcome_import.succeeded"
FAILED = "outcome_import.failed"
EVENTS = (SUCCEEDED, FAILED)
# The specification's bounds on a symmetric signing secret (192 to 512 bits); ours are 256 bits.
SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
MAX_URL_LENGTH = 2048
# `whsec_` and padded base64 of exactly 24 to 64 bytes (4 characters hold 3 bytes). The OpenAPI
# document declares the same pattern.
# RFC 3986's characters (unreserved, reserved, and % followed by two hex digits); a DNS name.
_URI_CHARACTERS = re.compile(r"(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*")
_LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
SECRET_PATTERN = re.compile(
    r"whsec_(?:(?:[A-Za-z0-9+/]{4}){8,20}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?"
    r"|(?:[A-Za-z0-9+/]{4}){21}(?:[A-Za-z0-9+/]{2}==)?)"
)
DEFAULT_RETRY_SCHEDULE = "5,300,1800,7200,18000,36000,50400"


def new_secret() -> str:
    """A fresh signing secret, `whsec_` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret; ValueError unless it matches SECRET_PATTERN."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a signing secret starts with {SECRET_PREFIX}")
    if not SECRET_PATTERN.fullmatch(secret):
        raise ValueError(f"a signing secret is {SECRET_PREFIX} and the padded base64 of 24 to 64 bytes")
    return base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)


def secret_hint(secret: str) -> str:
    """What the API shows of a secret after its creation: enough to tell two apart."""
    return secret[: len(SECRET_PREFIX) + 4] + "…"


def sign(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header: `v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`."""
    signed = message_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def payload(event_type: str, event_at: datetime, outcome_import: OutcomeImport, errors: list[tuple[int, str]]) -> bytes:
    """The body of a delivery: the event's type and time, the import's context, and as `data` the
    OutcomeImport JSON that `GET .../outcome_imports/:id` answers (with its first 25 errors)."""
    body: dict[str, Any] = {
        "type": event_type,
        "timestamp": event_at.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z",
        "context_type": outcome_import.context_type.value,
        "context_id": outcome_import.context_id,
        "root_account_id": outcome_import.root_account_id,
        "data": outcome_import.as_canvas_json(errors),
    }
    return json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()


def retry_delays(schedule: str) -> tuple[int, ...]:
    """`"5,300,1800"` -> the seconds to wait before the 2nd, 3rd, 4th... attempt; ValueError if malformed."""
    delays = tuple(int(part) for part in schedule.split(","))
    if any(delay < 0 for delay in delays):
        raise ValueError("retry delays are seconds, zero or more")
    return delays


def check_url(raw: str, *, allow_private: bool) -> URL:
    """The URL a delivery may be sent to: absolute http(s), a host, no credentials, no fragment,
    at most 2048 characters; a host that is an IP address must be a public one unless
    `allow_private`. Raises WebhookUrlRefused saying why. Names are checked once resolved: at
    registration (api/webhooks.py) and at each delivery (worker/webhook_client.py)."""
    if len(raw) > MAX_URL_LENGTH:
        raise WebhookUrlRefused(f"must be at most {MAX_URL_LENGTH} characters")
    if not raw.isascii():
        raise WebhookUrlRefused("must be ASCII (an international domain name in its xn-- form)")
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in raw):
        raise WebhookUrlRefused("must not contain spaces or control characters")
    if not _URI_CHARACTERS.fullmatch(raw):
        raise WebhookUrlRefused("must contain only the characters of RFC 3986 (others percent-encoded)")
    try:
        url = URL(raw)
        host = url.raw_host
    except ValueError as exc:
        raise WebhookUrlRefused("is not a valid URL") from exc
    if url.scheme not in ("http", "https"):
        raise WebhookUrlRefused("must be an http:// or https:// URL")
    if not host:
        raise WebhookUrlRefused("must name a host")
    if not _is_address(host) and not _is_host_name(host):
        raise WebhookUrlRefused("must name a host by a DNS name or an IP address")
    if url.user is not None or url.password is not None:
        raise WebhookUrlRefused("must not contain credentials")
    if url.fragment:
        raise WebhookUrlRefused("must not contain a fragment")
    try:
        url.port  # noqa: B018 (yarl checks the port when it is read)
    except ValueError as exc:
        raise WebhookUrlRefused("has an invalid port") from exc
    if not allow_private:
        try:
            check_address(host.strip("[]"), allow_private=False)
        except WebhookAddressRefused as exc:
            raise WebhookUrlRefused(str(exc)) from exc
    return url


def _is_host_name(host: str) -> bool:
    name = host[:-1] if host.endswith(".") else host
    return 0 < len(name) <= 253 and all(_LABEL.fullmatch(label) for label in name.split("."))


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    return True


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries (mapped, 6to4, Teredo's client), which is where it leads."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """True for a globally routable unicast address: not private, loopback, link-local, shared
    (100.64/10), multicast, reserved, unspecified, documentation or any other special range."""
    if isinstance(address, ipaddress.IPv6Address) and (embedded := _embedded_ipv4(address)) is not None:
        if not is_public_address(embedded):
            return False
    return address.is_global and not (
        address.is_multicast
        or address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_reserved
        or address.is_unspecified
    )


def check_address(host: str, *, allow_private: bool) -> None:
    """Raise WebhookAddressRefused when `host` is an IP address a delivery must not reach. A name
    (not an address) passes: it is checked once resolved."""
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return
    if not allow_private and not is_public_address(address):
        raise WebhookAddressRefused(
            f"must not lead to a private, loopback, link-local or other special-purpose address ({address})"
        )
