"""A real SMTP server (aiosmtpd) on the test's own event loop, that keeps what it receives.

It can be stopped and started again on the same port (the server is away, then back), refuse
messages with a reply code of the test's choosing, and count every delivery attempt.
"""

from __future__ import annotations

import asyncio
import ssl
import warnings
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.support.seaweedfs import free_ports


@dataclass
class Received:
    mail_from: str
    recipients: list[str]
    data: bytes

    def parsed(self) -> EmailMessage:
        message = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(message, EmailMessage)
        return message


@dataclass
class Inbox:
    """aiosmtpd's handler: keeps every message it takes; `reply` (e.g. "451 4.3.0 Try later")
    refuses messages at DATA instead."""

    received: list[Received] = field(default_factory=list)
    data_commands: int = 0
    reply: str | None = None
    # Whether each DATA came over TLS (implicit, or after STARTTLS).
    over_tls: list[bool] = field(default_factory=list)
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.data_commands += 1
        assert server.transport is not None
        self.over_tls.append(server.transport.get_extra_info("ssl_object") is not None)
        if self.reply is not None:
            return self.reply
        assert envelope.mail_from is not None and isinstance(envelope.content, bytes)
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        async with self.arrived:
            self.arrived.notify_all()
        return "250 OK"

    async def wait_for(self, count: int, deadline_seconds: float = 20) -> list[Received]:
        """Wait until `count` messages have arrived; fail loudly at the deadline."""
        async with self.arrived:
            try:
                await asyncio.wait_for(self.arrived.wait_for(lambda: len(self.received) >= count), deadline_seconds)
            except TimeoutError:
                raise AssertionError(f"{len(self.received)} of {count} emails arrived") from None
        return self.received


class SmtpServer:
    """aiosmtpd listening on 127.0.0.1:`port` while started."""

    def __init__(
        self,
        port: int | None = None,
        credentials: tuple[str, str] | None = None,
        tls: ssl.SSLContext | None = None,
        implicit_tls: bool = False,
    ) -> None:
        """`tls`: the server's certificate, offered by STARTTLS (required then), or from the first
        byte with `implicit_tls`."""
        self.port = port or free_ports(1)[0]
        self.tls = tls
        self.implicit_tls = implicit_tls
        self.inbox = Inbox()
        # With credentials, AUTH (PLAIN or LOGIN, without TLS: a test on loopback) is required.
        self.credentials = credentials
        self.logins: list[tuple[str, str]] = []
        self._server: asyncio.Server | None = None

    def _authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        login = (data.login.decode(), data.password.decode())
        self.logins.append(login)
        return AuthResult(success=login == self.credentials)

    def _protocol(self, loop: asyncio.AbstractEventLoop) -> SMTP:
        if self.tls is not None and not self.implicit_tls:
            return SMTP(self.inbox, hostname="smtp.test", loop=loop, tls_context=self.tls, require_starttls=True)
        if self.credentials is None:
            return SMTP(self.inbox, hostname="smtp.test", loop=loop)
        with warnings.catch_warnings():
            # aiosmtpd warns that AUTH without TLS is unsafe: true, and wanted here, on loopback.
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS")
            return SMTP(
                self.inbox,
                hostname="smtp.test",
                loop=loop,
                authenticator=self._authenticate,
                auth_required=True,
                auth_require_tls=False,
            )

    @property
    def url(self) -> str:
        if self.implicit_tls:
            return f"smtps://127.0.0.1:{self.port}"
        return f"smtp://127.0.0.1:{self.port}" + ("?starttls=true" if self.tls is not None else "")

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            lambda: self._protocol(loop), "127.0.0.1", self.port, ssl=self.tls if self.implicit_tls else None
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> SmtpServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.stop()
