"""Email settings and addresses: the SMTP server a worker sends through, and what counts as an address.

Used by Settings (validated at start-up), the API (a user's communication channel) and the
worker's mailer. Addresses are plain ASCII (no SMTPUTF8): the same pattern as the trigger that
queues an import's email (migration 0018), which takes a login id as an address only if it matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

# The text of migration 0018's pattern, character for character (a test checks both agree).
EMAIL_ADDRESS = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$"
)
MAX_ADDRESS_LENGTH = 254  # RFC 5321's limit on a path, less its angle brackets
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def is_email_address(value: str) -> bool:
    """Whether `value` is an address we send to: local@domain.tld, ASCII, at most 254 characters."""
    return len(value) <= MAX_ADDRESS_LENGTH and EMAIL_ADDRESS.fullmatch(value) is not None


def mail_from_problem(value: str) -> str | None:
    """Why OUTCOME_IMPORTS_MAIL_FROM is unusable (`addr@host` or `Name <addr@host>`), or None."""
    if _CONTROL.search(value):
        return "must not contain control characters"
    _, address = parseaddr(value)
    if not is_email_address(address):
        return f"must be an email address, optionally with a name (Name <address>), got {value!r}"
    return None


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """Where and how to send: OUTCOME_IMPORTS_SMTP_URL, parsed."""

    host: str
    port: int
    username: str | None = None
    password: str | None = None
    implicit_tls: bool = False  # smtps://: TLS from the first byte
    starttls: bool = False  # smtp://...?starttls=true: upgrade, and refuse to go on without it

    @classmethod
    def from_url(cls, url: str) -> SmtpServer:
        """`smtp://[user:password@]host[:port][?starttls=true]` or `smtps://...`; user and password
        percent-encoded. Default ports 25 and 465. Raises ValueError saying what is wrong, never
        quoting the password."""
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps"):
            raise ValueError("must be an smtp:// or smtps:// URL")
        try:
            port = parts.port
        except ValueError:
            raise ValueError("has an invalid port") from None
        if not parts.hostname:
            raise ValueError("must name a host")
        if parts.path not in ("", "/") or parts.fragment:
            raise ValueError("must have no path or fragment")
        query = parse_qs(parts.query, keep_blank_values=True)
        if set(query) - {"starttls"} or any(len(v) != 1 for v in query.values()):
            raise ValueError("takes one query parameter only: starttls=true|false")
        starttls_value = query.get("starttls", ["false"])[0].lower()
        if starttls_value not in ("true", "false"):
            raise ValueError("starttls must be true or false")
        starttls = starttls_value == "true"
        implicit_tls = parts.scheme == "smtps"
        if implicit_tls and starttls:
            raise ValueError("smtps:// already uses TLS: starttls=true is for smtp://")
        return cls(
            host=parts.hostname,
            port=port or (465 if implicit_tls else 25),
            username=None if parts.username is None else unquote(parts.username),
            password=None if parts.password is None else unquote(parts.password),
            implicit_tls=implicit_tls,
            starttls=starttls,
        )
