"""Webhooks' pure rules: which addresses and URLs a delivery may reach, the signature (checked
against the Standard Webhooks package), secrets, and what follows each attempt."""

from __future__ import annotations

import base64
import ipaddress
from datetime import UTC, datetime

import pytest
from standardwebhooks import Webhook as StandardWebhook

from shared.db.webhooks import AttemptResult
from shared.errors import ConfigurationError, WebhookAddressRefused, WebhookUrlRefused
from shared.settings import Settings
from shared.webhooks import (
    DEFAULT_RETRY_SCHEDULE,
    check_address,
    check_url,
    is_public_address,
    new_secret,
    retry_delays,
    secret_key,
    sign,
)
from worker.webhook_client import PostResult, RefusingResolver
from worker.webhooks import next_step

REFUSED = [
    "127.0.0.1",
    "127.255.255.254",
    "10.0.0.1",
    "172.16.5.4",
    "192.168.1.1",
    "169.254.169.254",  # cloud metadata
    "100.64.0.1",  # shared address space (carrier-grade NAT)
    "0.0.0.0",
    "255.255.255.255",
    "224.0.0.1",
    "192.0.2.1",  # documentation
    "198.18.0.1",  # benchmarking
    "240.0.0.1",  # reserved
    "::1",
    "::",
    "fe80::1",
    "fc00::1",
    "fd12:3456::1",
    "ff02::1",
    "2001:db8::1",  # documentation
    "::ffff:127.0.0.1",  # IPv4-mapped loopback
    "::ffff:10.0.0.1",
    "2002:7f00:1::",  # 6to4 of 127.0.0.1
    "2002:a00:1::",  # 6to4 of 10.0.0.1
    "64:ff9b:1::1",  # local-use NAT64
]
ALLOWED = ["93.184.215.14", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001:82b::200e"]


@pytest.mark.parametrize("address", REFUSED)
def test_special_purpose_addresses_are_refused(address: str) -> None:
    assert not is_public_address(ipaddress.ip_address(address))
    with pytest.raises(WebhookAddressRefused):
        check_address(address, allow_private=False)
    check_address(address, allow_private=True)


@pytest.mark.parametrize("address", ALLOWED)
def test_public_addresses_are_allowed(address: str) -> None:
    assert is_public_address(ipaddress.ip_address(address))
    check_address(address, allow_private=False)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("gopher://example.com/", "http:// or https://"),
        ("example.com/hook", "http:// or https://"),
        ("http:///hook", "must name a host"),
        ("https://user:secret@example.com/", "credentials"),
        ("https://example.com/#frag", "fragment"),
        ("https://example.com:99999/", "not a valid URL"),
        ("https://exa mple.com/", "spaces"),
        ("https://example.com/\r\nX-Injected: 1", "control"),
        ("https://example.com/" + "a" * 2048, "2048"),
        ("https://bücher.example/", "ASCII"),
        ('http://exa"mple.com/', "RFC 3986"),
        ("https://{/", "RFC 3986"),
        ("https://example.com/%zz", "RFC 3986"),
        ("https://a..b/", "DNS name or an IP address"),
        ("https://-a.example/", "DNS name or an IP address"),
        ("http://127.0.0.1:8080/", "private, loopback"),
        ("http://[::1]/", "private, loopback"),
        ("http://[fe80::1%25eth0]/", "private, loopback"),
    ],
)
def test_urls_that_are_refused(url: str, reason: str) -> None:
    with pytest.raises(WebhookUrlRefused, match=reason):
        check_url(url, allow_private=False)


def test_urls_that_are_accepted() -> None:
    for url in (
        "https://example.com/hook?x=1&y=%20",
        "http://93.184.215.14:8080/",
        "https://[2606:4700:4700::1111]/",
        "HTTPS://Hooks.Example.ORG./a/b;c",
        "https://xn--bcher-kva.example/",
    ):
        assert str(check_url(url, allow_private=False)).startswith("http")
    assert check_url("http://127.0.0.1:8080/", allow_private=True).port == 8080


async def test_the_resolver_refuses_names_that_lead_to_loopback() -> None:
    strict = RefusingResolver(allow_private=False)
    try:
        with pytest.raises(WebhookAddressRefused, match=r"127\.0\.0\.1"):
            await strict.resolve("localhost", 80)
    finally:
        await strict.close()
    lenient = RefusingResolver(allow_private=True)
    try:
        assert any(r["host"] == "127.0.0.1" for r in await lenient.resolve("localhost", 80))
    finally:
        await lenient.close()


def test_signatures_verify_with_the_standard_webhooks_package() -> None:
    secret = new_secret()
    body = '{"type":"outcome_import.succeeded","data":{"title":"Ünïcode ✓"}}'.encode()
    now = int(datetime.now(UTC).timestamp())
    headers = {"webhook-id": "msg_1", "webhook-timestamp": str(now)}
    headers["webhook-signature"] = sign(secret_key(secret), "msg_1", now, body)
    assert StandardWebhook(secret).verify(body, headers)["data"]["title"] == "Ünïcode ✓"
    # The package's own signer gives the same header.
    assert StandardWebhook(secret).sign("msg_1", datetime.fromtimestamp(now, UTC), body.decode()) == (
        headers["webhook-signature"]
    )
    for tampered in ({"webhook-id": "msg_2"}, {"webhook-timestamp": str(now - 1)}):
        with pytest.raises(Exception, match="signature"):
            StandardWebhook(secret).verify(body, {**headers, **tampered})


def test_secrets() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_") and len(secret_key(secret)) == 32
    assert new_secret() != secret
    too_short, too_long = (base64.b64encode(b"x" * n).decode() for n in (23, 65))
    for bad in ("whsec_", "whsec_" + too_short, "whsec_" + too_long, "whsec_not base64", "sk_" + too_long[:44]):
        with pytest.raises(ValueError):
            secret_key(bad)


def test_retry_schedule_setting() -> None:
    assert retry_delays("5,300,1800") == (5, 300, 1800)
    assert len(retry_delays(DEFAULT_RETRY_SCHEDULE)) >= 6
    for bad in ("", "5,,6", "a", "-1"):
        with pytest.raises(ValueError):
            retry_delays(bad)
    env = {"DATABASE_URL": "postgresql://x/y", "REDIS_URL": "redis://x", "STORAGE_URL": "file:///tmp/x"}
    with pytest.raises(ConfigurationError, match="WEBHOOK_RETRY_SCHEDULE"):
        Settings.from_env({**env, "OUTCOME_IMPORTS_WEBHOOK_RETRY_SCHEDULE": "soon"})
    with pytest.raises(ConfigurationError, match="WEBHOOK_ALLOW_PRIVATE must be true or false"):
        Settings.from_env({**env, "OUTCOME_IMPORTS_WEBHOOK_ALLOW_PRIVATE": "maybe"})
    assert Settings.from_env({**env, "OUTCOME_IMPORTS_WEBHOOK_ALLOW_PRIVATE": "true"}).webhook_allow_private
    assert not Settings.from_env(env).webhook_allow_private


def _result(status: int | None, retry_after: int | None = None) -> PostResult:
    return PostResult(AttemptResult(status, 10, None, None), retry_after)


def test_what_follows_an_attempt() -> None:
    schedule = (5, 300, 1800)
    assert next_step(1, _result(204), schedule).state == "delivered"
    first_retry = next_step(1, _result(500), schedule)
    assert first_retry.state == "pending" and 5 <= (first_retry.retry_in_seconds or 0) <= 5.5
    assert 1800 <= (next_step(3, _result(None), schedule).retry_in_seconds or 0) <= 1980
    assert next_step(4, _result(500), schedule).state == "failed"
    assert next_step(1, _result(302), schedule).state == "pending"
    gone = next_step(1, _result(410), schedule)
    assert (gone.state, gone.disable_reason) == ("failed", "the endpoint answered 410 Gone")
    later = next_step(1, _result(503, retry_after=120), schedule)
    assert later.retry_in_seconds == 120
