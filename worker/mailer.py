"""The mailer: the background loop every worker runs to email people whose imports have ended.

The trigger of migration 0018 queues an email in the transaction that ends an import, so sending
happens only after that end is committed and never delays or fails an import. Each email is
claimed (committed) before this talks to the server and is never claimed again afterwards, so it
goes out at most once, whatever crashes, re-runs or other workers do. What the server says
decides the rest:
- it took the message: `sent`;
- it did not take it and may later (no connection, a 4xx reply, a timeout before the message was
  handed over): tried again after email_retry_seconds, doubling up to an hour, up to
  email_max_attempts tries, then abandoned with a log line;
- it refused it for good (a 5xx reply): abandoned at once, with a log line;
- the connection ended after the message was handed over but before the server's answer: it may
  have been delivered, so it is abandoned rather than risk a second copy, with a log line.
"""

from __future__ import annotations

import asyncio
import logging
from contextlib import AsyncExitStack, suppress
from email.utils import parseaddr

import aiosmtplib

from shared.db import import_emails
from shared.db.errors import translate_db_errors
from shared.errors import DatabaseUnavailable
from shared.mail import SmtpServer, is_email_address
from shared.settings import Settings
from worker.deps import Deps
from worker.import_email import MAX_LISTED_ERRORS, as_bytes, compose

logger = logging.getLogger(__name__)

MAX_RETRY_DELAY_SECONDS = 3600.0
MIN_WAIT_SECONDS = 0.05
# One send is a handful of exchanges (connect, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA), each
# bounded by smtp_timeout_seconds; the whole send by this many of them.
SEND_DEADLINE_EXCHANGES = 8
# A claim older than this many send deadlines belongs to a worker that stopped mid-send.
STALE_CLAIM_DEADLINES = 2
STALE_CLAIM_ERROR = "The worker sending this email stopped; it is not sent again, so that it is never sent twice"


class NotTaken(Exception):
    """The server did not take the message."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.permanent = permanent


class OutcomeUnknown(Exception):
    """The message was handed over, but the server's answer never came: it may have been delivered."""


def retry_delay(settings: Settings, attempt: int) -> float:
    """Seconds before try `attempt + 1`: email_retry_seconds, doubling, at most an hour."""
    return float(min(settings.email_retry_seconds * 2 ** (attempt - 1), MAX_RETRY_DELAY_SECONDS))


def send_deadline(settings: Settings) -> float:
    return settings.smtp_timeout_seconds * SEND_DEADLINE_EXCHANGES


async def switch_import_emails(d: Deps) -> None:
    """Queue emails from now on if this worker can send them, else stop queueing them."""
    with translate_db_errors():
        await import_emails.set_switch(d.pool, d.settings.smtp_url is not None)


async def send_message(server: SmtpServer, settings: Settings, mail_from: str, recipient: str, message: bytes) -> None:
    """Hand `message` to the server for `recipient`. Raises NotTaken or OutcomeUnknown."""
    smtp = aiosmtplib.SMTP(
        hostname=server.host,
        port=server.port,
        username=server.username,
        password=server.password,
        use_tls=server.implicit_tls,
        start_tls=server.starttls,  # False: no opportunistic STARTTLS unless asked for
        timeout=settings.smtp_timeout_seconds,
    )
    handed_over = False
    try:
        async with asyncio.timeout(send_deadline(settings)):
            try:
                # A refusal here (greeting, EHLO, STARTTLS, AUTH) is about the server or our
                # settings, not this message: tried again, until an operator fixes it.
                await smtp.connect()
            except (aiosmtplib.SMTPException, OSError) as exc:
                raise NotTaken(f"{type(exc).__name__}: {exc}") from exc
            try:
                await smtp.mail(mail_from)
                await smtp.rcpt(recipient)
            except aiosmtplib.SMTPResponseException as exc:
                raise NotTaken(f"{exc.code} {exc.message}", permanent=exc.code >= 500) from exc
            except (aiosmtplib.SMTPException, OSError) as exc:
                raise NotTaken(f"{type(exc).__name__}: {exc}") from exc
            handed_over = True
            try:
                await smtp.data(message)
            except aiosmtplib.SMTPResponseException as exc:
                raise NotTaken(f"{exc.code} {exc.message}", permanent=exc.code >= 500) from exc
            except (aiosmtplib.SMTPException, OSError) as exc:
                raise OutcomeUnknown(f"{type(exc).__name__}: {exc}") from exc
    except TimeoutError as exc:  # the deadline of the whole send
        if handed_over:
            raise OutcomeUnknown("the server did not answer the message in time") from exc
        raise NotTaken("the server did not answer in time") from exc
    finally:
        # The message was taken, or will be tried again: a failed goodbye changes neither.
        with suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
            if smtp.is_connected:
                await asyncio.wait_for(smtp.quit(), settings.smtp_timeout_seconds)
        smtp.close()


async def deliver(d: Deps, server: SmtpServer, claimed: import_emails.ClaimedEmail) -> bool:
    """Send one claimed email and record the outcome; True when the server took it."""
    settings = d.settings
    assert settings.mail_from is not None  # Settings requires it with an SMTP URL
    import_id = claimed.import_id
    ended = await import_emails.get_ended_import(d.pool, import_id, MAX_LISTED_ERRORS)
    if ended is None or not is_email_address(claimed.recipient):
        logger.warning("import_id=%s: its email is abandoned: no such import, or no valid address", import_id)
        await import_emails.abandon(d.pool, import_id, "No such import, or the address is not valid")
        return False
    try:
        message = as_bytes(compose(ended, claimed.recipient, settings.mail_from, settings.public_url))
    except Exception:  # a bug in composing one email must not stop the others
        logger.exception("import_id=%s: its email could not be composed; abandoned", import_id)
        await import_emails.abandon(d.pool, import_id, "The email could not be composed")
        return False
    sender = parseaddr(settings.mail_from)[1]
    try:
        await send_message(server, settings, sender, claimed.recipient, message)
    except NotTaken as exc:
        reason = str(exc)
        if exc.permanent or claimed.attempt >= settings.email_max_attempts:
            logger.error("import_id=%s: its email is abandoned after %s tries: %s", import_id, claimed.attempt, reason)
            await import_emails.abandon(d.pool, import_id, reason)
        else:
            delay = retry_delay(settings, claimed.attempt)
            logger.warning("import_id=%s: email not sent (try %s): %s; trying again in %.1f s",
                           import_id, claimed.attempt, reason, delay)
            await import_emails.retry_later(d.pool, import_id, delay, reason)
        return False
    except OutcomeUnknown as exc:
        logger.error("import_id=%s: its email may or may not have been delivered (%s); not sent again", import_id, exc)
        await import_emails.abandon(d.pool, import_id, f"Outcome unknown: {exc}")
        return False
    await import_emails.mark_sent(d.pool, import_id)
    logger.info("import_id=%s: email sent", import_id)
    return True


async def deliver_due_emails(d: Deps, server: SmtpServer) -> int:
    """One pass: abandon claims of stopped workers, then send every email that is due, one at a
    time. Returns how many the server took."""
    stale = STALE_CLAIM_DEADLINES * send_deadline(d.settings)
    for import_id, worker_id in await import_emails.abandon_stale_sending(d.pool, stale, STALE_CLAIM_ERROR):
        logger.error("import_id=%s: worker %s stopped while sending its email; not sent again", import_id, worker_id)
    sent = 0
    while True:
        # Claim and send as one step that a stop waits for (bounded by the send's deadline): a
        # claim committed and then dropped by a cancellation would never be sent.
        step = asyncio.ensure_future(_claim_and_deliver(d, server))
        try:
            outcome = await asyncio.shield(step)
        except asyncio.CancelledError:
            await step
            raise
        if outcome is None:
            return sent
        sent += outcome


async def _claim_and_deliver(d: Deps, server: SmtpServer) -> bool | None:
    """Send the email most overdue; None when none is due."""
    claimed = await import_emails.claim_due_email(d.pool, d.worker.id)
    return None if claimed is None else await deliver(d, server, claimed)


async def run_mailer(d: Deps) -> None:
    """Forever, while the worker has an SMTP URL: a pass, then a wait of email_poll_seconds (less
    when a retry falls due sooner). Outages of PostgreSQL are waited out."""
    assert d.settings.smtp_url is not None
    server = SmtpServer.from_url(d.settings.smtp_url)
    while True:
        wait = d.settings.email_poll_seconds
        try:
            with translate_db_errors():
                await deliver_due_emails(d, server)
                due_in = await import_emails.seconds_until_next_due(d.pool)
            if due_in is not None:
                # Not below a floor: a due email another worker holds for a moment is not a reason to spin.
                wait = max(min(wait, due_in), MIN_WAIT_SECONDS)
        except DatabaseUnavailable:
            logger.warning("mailer: the database is unavailable; trying again later", exc_info=True)
        except Exception:  # the loop outlives a bug met in one pass: imports keep being emailed
            logger.exception("mailer: unexpected error; trying again later")
        await asyncio.sleep(wait)  # the period of a background loop


async def start_mailer(d: Deps, stack: AsyncExitStack) -> None:
    """At worker start-up: switch the queueing of import emails on or off for the installation,
    as this worker has an SMTP URL or not, and while on, run the mailer until `stack` closes."""
    await switch_import_emails(d)
    if d.settings.smtp_url is None:
        return
    mailer = asyncio.create_task(run_mailer(d))

    async def stop() -> None:
        mailer.cancel()
        with suppress(asyncio.CancelledError):  # the cancellation just asked for
            await mailer

    stack.push_async_callback(stop)
