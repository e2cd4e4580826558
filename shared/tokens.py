"""API tokens: generated once, shown once, stored only as a SHA-256 digest."""

from __future__ import annotations

import hashlib
import secrets

# Tokens are long random strings, so a fast unsalted digest is enough to make a stolen table useless.


def token_digest(token: str) -> bytes:
    return hashlib.sha256(token.encode("utf-8")).digest()


def new_token() -> str:
    """A fresh token in Canvas's `<n>~<secret>` shape."""
    return "1~" + secrets.token_urlsafe(48)


def token_hint(token: str) -> str:
    """The last characters, as Canvas shows them, to recognise a token without revealing it."""
    return token[-4:]
