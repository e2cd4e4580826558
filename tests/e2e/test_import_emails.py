"""Email when an import ends (issue 17), end to end: the API, real workers with their mailer loop,
PostgreSQL, Redis, and a real SMTP server (aiosmtpd) in the test process."""

from __future__ import annotations

import asyncio
import logging
import shutil
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from arq.connections import ArqRedis, create_pool

from shared.db import import_emails
from shared.mail import SmtpServer as SmtpUrl
from shared.queue import redis_settings, requeue_import
from shared.settings import Settings
from tests.faults import wait_until
from tests.support.canvas import attachment, expect_json
from tests.support.smtp import Inbox, SmtpServer
from worker.deps import deps
from worker.mailer import STALE_CLAIM_ERROR, deliver_due_emails
from worker.settings import ImportWorker, create_worker

PUBLIC_URL = "https://imports.example.edu"
IMPORTS = "/api/v1/accounts/1/outcome_imports"
MAIL_FROM = "Outcome Imports <imports@example.edu>"
HEADER = "vendor_guid,object_type,title,parent_guids\n"
EXPECTED_HEADERS = ["Auto-Submitted", "Content-Type", "Date", "From", "MIME-Version", "Message-ID", "Subject", "To"]
HOSTILE = "<script>alert(1)</script>\r\nBcc: victim@example.com"


@pytest.fixture
async def smtp() -> AsyncIterator[SmtpServer]:
    async with SmtpServer() as server:
        yield server


def mail_settings(settings: Settings, smtp_url: str, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "smtp_url": smtp_url,
        "mail_from": MAIL_FROM,
        "public_url": PUBLIC_URL,
        "email_poll_seconds": 0.05,
        "email_retry_seconds": 0.1,
        "smtp_timeout_seconds": 5.0,
    }
    return settings.with_(**(values | changes))


@asynccontextmanager
async def running_worker(settings: Settings) -> AsyncIterator[ImportWorker]:
    """A worker running as in production (its jobs, reconciler and mailer) until the block ends,
    from the end of its start-up: only then has it set the switch that queues emails, which an
    import ended without the worker (a waiting one cancelled) would otherwise race."""
    worker = create_worker(settings, poll_delay=0.05)
    started = asyncio.Event()
    start_up = worker.on_startup
    assert start_up is not None

    async def on_startup(ctx: dict[str, Any]) -> None:
        await start_up(ctx)
        started.set()

    worker.on_startup = on_startup
    running = asyncio.create_task(worker.main())
    up = asyncio.create_task(started.wait())
    try:
        done, _ = await asyncio.wait([running, up], timeout=30, return_when=asyncio.FIRST_COMPLETED)
        assert done, "the worker did not start within 30 s"
        if running.done():
            running.result()  # its start-up failed: raise why
        yield worker
    finally:
        up.cancel()
        running.cancel()
        with suppress(asyncio.CancelledError):  # the cancellation just asked for
            await running
        await worker.close()


async def make_importer(
    client: Any, admin: dict[str, str], login: str, *, name: str = "Jane Doe", channel: dict[str, str] | None = None
) -> tuple[int, dict[str, str]]:
    """A user (as Canvas's Users API makes one) who administers account 1; their id and headers."""
    body: dict[str, Any] = {"user": {"name": name}, "pseudonym": {"unique_id": login}}
    if channel is not None:
        body["communication_channel"] = channel
    user = await expect_json(await client.post("/api/v1/accounts/1/users", json=body, headers=admin), 200)
    await expect_json(await client.post("/api/v1/accounts/1/admins", json={"user_id": user["id"]}, headers=admin), 200)
    token = await expect_json(
        await client.post(f"/api/v1/users/{user['id']}/tokens", json={"token": {"purpose": "t"}}, headers=admin), 200
    )
    return user["id"], {"Authorization": f"Bearer {token['visible_token']}"}


async def upload(client: Any, headers: dict[str, str], data: bytes, path: str = IMPORTS, **params: str) -> int:
    created = await expect_json(await client.post(path, data=attachment(data), params=params, headers=headers), 200)
    return int(created["id"])


def multipart(data: bytes, filename: bytes) -> bytes:
    """A multipart body whose `attachment` part has this file name parameter, byte for byte."""
    disposition = b'Content-Disposition: form-data; name="attachment"; ' + filename
    return b"--b\r\n" + disposition + b"\r\nContent-Type: text/csv\r\n\r\n" + data + b"\r\n--b--\r\n"


async def post_multipart(client: Any, headers: dict[str, str], body: bytes, path: str = IMPORTS) -> int:
    content_type = {"Content-Type": "multipart/form-data; boundary=b"}
    created = await expect_json(await client.post(path, data=body, headers=headers | content_type), 200)
    return int(created["id"])


async def email_row(db: asyncpg.Connection, import_id: int) -> dict[str, Any] | None:
    row = await db.fetchrow("SELECT * FROM outcome_import_emails WHERE outcome_import_id = $1", import_id)
    return None if row is None else dict(row)


async def wait_for_email_state(db: asyncpg.Connection, import_id: int, state: str) -> dict[str, Any]:
    async def reached() -> dict[str, Any] | None:
        row = await email_row(db, import_id)
        return row if row is not None and row["state"] == state else None

    result: dict[str, Any] = await wait_until(reached, within=30, what=f"the email of import {import_id} to be {state}")
    return result


def bodies(message: EmailMessage) -> tuple[str, str]:
    text, html = message.get_body(("plain",)), message.get_body(("html",))
    assert isinstance(text, EmailMessage) and isinstance(html, EmailMessage)
    assert (text.get_content_charset(), html.get_content_charset()) == ("utf-8", "utf-8")
    return text.get_content().replace("\r\n", "\n"), html.get_content().replace("\r\n", "\n")


async def test_the_user_gets_one_email_with_the_first_100_errors_and_the_total(
    client: Any, admin_headers: dict[str, str], settings: Settings, smtp: SmtpServer, db: asyncpg.Connection
) -> None:
    user_id, headers = await make_importer(
        client, admin_headers, "zoe", name="Zoë Ångström", channel={"type": "email", "address": "zoe@example.edu"}
    )
    account = await expect_json(
        await client.post(
            "/api/v1/accounts/1/sub_accounts", json={"account": {"name": "Académie — 数学"}}, headers=admin_headers
        ),
        200,
    )
    # Three good rows and 150 rejected ones (no title), in a file with a non-ASCII name.
    rows = "g,group,Géométrie,\no1,outcome,Triangles,g\no2,outcome,Angles,g\n"
    rows += "".join(f"bad{n},outcome,,g\n" for n in range(150))
    file_name = "résultats été.csv"
    mail = mail_settings(settings, smtp.url)
    async with running_worker(mail):
        # Sent as UTF-8 in the part's header, as browsers do (aiohttp's client would percent-encode it).
        body = multipart((HEADER + rows).encode(), b'filename="' + file_name.encode() + b'"')
        import_id = await post_multipart(client, headers, body, f"/api/v1/accounts/{account['id']}/outcome_imports")
        [received] = await smtp.inbox.wait_for(1)
        sent = await wait_for_email_state(db, import_id, "sent")
    final = await expect_json(
        await client.get(f"/api/v1/accounts/{account['id']}/outcome_imports/{import_id}", headers=headers), 200
    )
    assert (final["workflow_state"], final["error_count"]) == ("succeeded", 150)
    assert (sent["recipient"], sent["attempts"], smtp.inbox.data_commands) == ("zoe@example.edu", 1, 1)

    assert (received.mail_from, received.recipients) == ("imports@example.edu", ["zoe@example.edu"])
    raw_head = received.data.split(b"\r\n\r\n", 1)[0]
    assert raw_head.isascii() and b"=?utf-8?" in raw_head  # RFC 2047 encoded words
    message = received.parsed()
    assert sorted(message.keys()) == EXPECTED_HEADERS
    assert message["From"] == MAIL_FROM
    assert message["To"] == "Zoë Ångström <zoe@example.edu>"
    assert message["Subject"] == f"Outcomes Import Completed: {file_name} (Académie — 数学)"
    assert message["Message-ID"] == f"<outcome-import-{import_id}@example.edu>"
    assert abs(time.time() - parsedate_to_datetime(message["Date"]).timestamp()) < 120
    text, html = bodies(message)
    report = (await expect_json(await client.get(final["errors_url"], params={"per_page": 100}, headers=headers), 200))
    first_100 = [(e["row"], e["message"]) for e in report]
    assert len(first_100) == 100
    assert "150 errors in all; the first 100 by row:" in text
    listed = [line for line in text.splitlines() if line.startswith("  Row ")]
    assert listed == [f"  Row {row}: {message}" for row, message in first_100]
    assert html.count("<tr><td>") == 100
    assert f"File: {file_name}" in text and "State: succeeded" in text
    assert "Groups: 1 created, 0 updated, 0 deleted, 0 restored, 0 unchanged" in text
    assert "Outcomes: 2 created" in text and "Links: 2 added, 0 removed" in text and "Rows rejected: 150" in text
    assert final["summary"]["rows_rejected"] == 150
    assert f"Error report: {PUBLIC_URL}{final['errors_url']}" in text
    assert f'<a href="{PUBLIC_URL}{final["errors_url"]}">' in html
    assert f"Import console: {PUBLIC_URL}/" in text
    assert user_id == final["user"]["id"]


async def test_hostile_names_and_messages_are_inert(
    client: Any, admin_headers: dict[str, str], settings: Settings, smtp: SmtpServer, db: asyncpg.Connection
) -> None:
    _, headers = await make_importer(client, admin_headers, "eve@example.edu", name="Eve\r\nBcc: victim@example.com")
    # The file name arrives percent-encoded (RFC 2231/5987), CR and LF included; the object_type
    # cell holds markup and a line break, and the error message quotes it.
    csv = HEADER + 'g,group,G,\no1,"<script>alert(1)</script>\r\nBcc: victim@example.com",T,g\n'
    raw = multipart(csv.encode(), b"filename*=UTF-8''x%0D%0ABcc%3A%20victim%40example.com%3Cscript%3E.csv")
    async with running_worker(mail_settings(settings, smtp.url)):
        import_id = await post_multipart(client, headers, raw)
        [received] = await smtp.inbox.wait_for(1)
        await wait_for_email_state(db, import_id, "sent")
    stored = await db.fetchrow("SELECT file_name FROM outcome_imports WHERE id = $1", import_id)
    assert "\r\n" in stored["file_name"], stored  # the hostile name really reached the database
    error = await db.fetchval("SELECT message FROM outcome_import_errors WHERE outcome_import_id = $1", import_id)
    assert "<script>" in error and "\r\n" in error, error
    assert received.recipients == ["eve@example.edu"]
    message = received.parsed()
    assert sorted(message.keys()) == EXPECTED_HEADERS  # no Bcc, nothing injected
    assert [a.addr_spec for a in message["To"].addresses] == ["eve@example.edu"]
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
    text, html = bodies(message)
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    [error_line] = [line for line in text.splitlines() if line.startswith("  Row ")]
    assert error_line.startswith("  Row 3: Invalid object_type: ") and "Bcc: victim@example.com" in error_line




GOOD = (HEADER + "g,group,G,\no1,outcome,T,g\n").encode()


async def test_dry_runs_and_failed_imports_get_their_own_email(
    client: Any, admin_headers: dict[str, str], settings: Settings, smtp: SmtpServer, db: asyncpg.Connection
) -> None:
    _, headers = await make_importer(client, admin_headers, "ann@example.edu")
    async with running_worker(mail_settings(settings, smtp.url)):
        dry_run = await upload(client, headers, GOOD, dry_run="true")
        failed = await upload(client, headers, b"")
        await smtp.inbox.wait_for(2)
        await wait_for_email_state(db, failed, "sent")
    by_id = {m["Message-ID"]: m for m in (r.parsed() for r in smtp.inbox.received)}
    dry = by_id[f"<outcome-import-{dry_run}@example.edu>"]
    assert dry["Subject"] == "Outcomes Dry Run Completed: outcomes.csv (Default Account)"
    text, _ = bodies(dry)
    assert "Nothing was changed." in text and "What the import would have done:" in text
    assert "Outcomes: 1 created" in text and "Error report" not in text
    bad = by_id[f"<outcome-import-{failed}@example.edu>"]
    assert bad["Subject"] == "Outcomes Import Failed: outcomes.csv (Default Account)"
    text, html = bodies(bad)
    assert "State: failed" in text and "1 error, by row:" in text and "  Row 1: File has no data" in text
    assert "<td>File has no data</td>" in html


async def test_without_an_smtp_url_nothing_is_queued_or_sent(
    client: Any, admin_headers: dict[str, str], settings: Settings, smtp: SmtpServer, db: asyncpg.Connection,
    run_worker: Callable[[], Awaitable[None]],
) -> None:
    _, headers = await make_importer(client, admin_headers, "ann@example.edu")
    # A worker with an SMTP URL switches emails on; one started later without it, off again.
    worker = create_worker(mail_settings(settings, smtp.url), burst=True, poll_delay=0)
    try:
        await worker.main()
    finally:
        await worker.close()
    assert await db.fetchval("SELECT enabled FROM import_email_switch") is True
    import_id = await upload(client, headers, GOOD)
    await run_worker()
    assert await db.fetchval("SELECT enabled FROM import_email_switch") is False
    assert await db.fetchval("SELECT workflow_state FROM outcome_imports WHERE id = $1", import_id) == "succeeded"
    assert await db.fetchval("SELECT count(*) FROM outcome_import_emails") == 0
    assert (smtp.inbox.received, smtp.inbox.data_commands) == ([], 0)


@pytest.mark.parametrize("form", [False, True])
async def test_the_address_is_the_channel_else_a_login_id_that_is_an_address(
    client: Any, admin_headers: dict[str, str], settings: Settings, smtp: SmtpServer, db: asyncpg.Connection,
    form: bool,
) -> None:
    logins = ["ann@example.edu", "bob", "o'brien+x@mail.example.co.uk", "carl@localhost", "jané@example.edu"]
    users = {login: await make_importer(client, admin_headers, login) for login in logins}
    channel = {"type": "email", "address": "dora@example.edu"}
    if form:
        fields = {"pseudonym[unique_id]": "dora", "communication_channel[type]": "email",
                  "communication_channel[address]": "dora@example.edu"}
        dora = await expect_json(await client.post("/api/v1/accounts/1/users", data=fields, headers=admin_headers), 200)
        assert await db.fetchval("SELECT email FROM users WHERE id = $1", dora["id"]) == "dora@example.edu"
    users["dora"] = await make_importer(client, admin_headers, "dora2", channel=channel)
    imports = {login: await upload(client, user_headers, GOOD) for login, (_, user_headers) in users.items()}
    async with running_worker(mail_settings(settings, smtp.url)):
        await smtp.inbox.wait_for(3)
        await wait_for_email_state(db, imports["dora"], "sent")
    queued = {r["outcome_import_id"]: r["recipient"] for r in await db.fetch("SELECT * FROM outcome_import_emails")}
    assert queued == {
        imports["ann@example.edu"]: "ann@example.edu",
        imports["o'brien+x@mail.example.co.uk"]: "o'brien+x@mail.example.co.uk",
        imports["dora"]: "dora@example.edu",
    }
    assert sorted(r for m in smtp.inbox.received for r in m.recipients) == sorted(queued.values())


async def test_an_email_waits_out_an_smtp_server_that_is_away_and_is_sent_once(
    client: Any, admin_headers: dict[str, str], settings: Settings, db: asyncpg.Connection
) -> None:
    smtp = SmtpServer()  # not listening yet: connections are refused
    _, headers = await make_importer(client, admin_headers, "ann@example.edu")
    async with running_worker(mail_settings(settings, smtp.url)):
        import_id = await upload(client, headers, GOOD)

        async def refused_twice() -> dict[str, Any] | None:
            row = await email_row(db, import_id)
            return row if row is not None and row["attempts"] >= 2 and row["state"] == "pending" else None

        row = await wait_until(refused_twice, within=30, what="two refused tries")
        assert "Connect" in row["last_error"], row
        smtp.inbox.reply = "451 4.3.0 Try again later"
        await smtp.start()
        try:
            await wait_until(lambda: _true(smtp.inbox.data_commands >= 1), within=30, what="a try refused with 451")
            smtp.inbox.reply = None
            [received] = await smtp.inbox.wait_for(1)
            sent = await wait_for_email_state(db, import_id, "sent")
        finally:
            await smtp.stop()
    assert smtp.inbox.data_commands == 2 and sent["attempts"] >= 4
    assert received.parsed()["Message-ID"] == f"<outcome-import-{import_id}@example.edu>"


async def _true(value: bool) -> bool:
    return value


async def test_it_gives_up_after_the_bound_with_a_log_line(
    client: Any, admin_headers: dict[str, str], settings: Settings, db: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    smtp = SmtpServer()  # never listening
    _, headers = await make_importer(client, admin_headers, "ann@example.edu")
    with caplog.at_level(logging.WARNING, logger="worker.mailer"):
        async with running_worker(mail_settings(settings, smtp.url, email_max_attempts=3)):
            import_id = await upload(client, headers, GOOD)
            row = await wait_for_email_state(db, import_id, "abandoned")
    assert row["attempts"] == 3
    assert f"import_id={import_id}: its email is abandoned after 3 tries" in caplog.text
    assert caplog.text.count("trying again in") == 2


async def test_several_workers_and_a_re_run_job_still_send_each_email_once(
    client: Any, admin_headers: dict[str, str], settings: Settings, db: asyncpg.Connection
) -> None:
    smtp = SmtpServer()
    _, headers = await make_importer(client, admin_headers, "ann@example.edu")
    mail = mail_settings(settings, smtp.url)
    # Five emails queued while the server is away, then three workers racing for them.
    ids = [await upload(client, headers, GOOD) for _ in range(5)]
    worker = create_worker(mail, burst=True, poll_delay=0)
    try:
        await worker.main()
    finally:
        await worker.close()
    assert await db.fetchval("SELECT count(*) FROM outcome_import_emails WHERE state = 'pending'") == 5
    async with smtp, running_worker(mail), running_worker(mail), running_worker(mail):
        await smtp.inbox.wait_for(5)
        for import_id in ids:
            await wait_for_email_state(db, import_id, "sent")
    # The first import's job runs again (a redelivery): its import has ended, so nothing is sent.
    redis: ArqRedis = await create_pool(redis_settings(mail.redis_url, command_retries=1))
    try:
        await requeue_import(redis, ids[0])
    finally:
        await redis.aclose()
    rerun = create_worker(mail, burst=True, poll_delay=0)
    try:
        await rerun.main()
        assert rerun.jobs_complete == 1
        async with smtp:
            assert await deliver_due_emails(deps(rerun.ctx), SmtpUrl.from_url(smtp.url)) == 0
    finally:
        await rerun.close()
    message_ids = sorted(r.parsed()["Message-ID"] for r in smtp.inbox.received)
    assert message_ids == sorted(f"<outcome-import-{i}@example.edu>" for i in ids)
    assert smtp.inbox.data_commands == 5


async def test_a_waiting_import_cancelled_through_the_api_is_emailed(
    client: Any, admin_headers: dict[str, str], settings: Settings, smtp: SmtpServer, db: asyncpg.Connection
) -> None:
    _, headers = await make_importer(client, admin_headers, "ann@example.edu")
    async with running_worker(mail_settings(settings, smtp.url)):
        await expect_json(await client.post("/api/v1/operations/queues/1/pause", headers=admin_headers), 200)
        import_id = await upload(client, headers, GOOD)
        cancelled = await client.post(f"{IMPORTS}/{import_id}/cancel", headers=headers)
        assert (await expect_json(cancelled, 200))["workflow_state"] == "failed"
        [received] = await smtp.inbox.wait_for(1)
    message = received.parsed()
    assert message["Subject"] == "Outcomes Import Failed: outcomes.csv (Default Account)"
    assert "  Row 1: The import was cancelled by an administrator" in bodies(message)[0]


class SilentAfterData(Inbox):
    """Takes the message and never answers: the sender cannot know whether it was delivered."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data_commands += 1
        await self.release.wait()
        return "250 OK"


async def test_an_email_whose_outcome_is_unknown_is_not_sent_again(
    client: Any, admin_headers: dict[str, str], settings: Settings, db: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    smtp = SmtpServer()
    smtp.inbox = SilentAfterData()
    _, headers = await make_importer(client, admin_headers, "ann@example.edu")
    try:
        async with smtp:
            async with running_worker(mail_settings(settings, smtp.url, smtp_timeout_seconds=0.5)):
                import_id = await upload(client, headers, GOOD)
                row = await wait_for_email_state(db, import_id, "abandoned")
    finally:
        smtp.inbox.release.set()
    # One message handed over (earlier tries may have timed out before it, on a busy machine).
    assert smtp.inbox.data_commands == 1 and smtp.inbox.received == []
    assert row["last_error"].startswith("Outcome unknown")
    assert f"import_id={import_id}: its email may or may not have been delivered" in caplog.text


async def test_the_url_s_user_and_password_log_in(
    client: Any, admin_headers: dict[str, str], settings: Settings, db: asyncpg.Connection
) -> None:
    smtp = SmtpServer(credentials=("imports@example.edu", "p@ss:wörd"))
    _, headers = await make_importer(client, admin_headers, "ann@example.edu")
    url = f"smtp://imports%40example.edu:p%40ss%3Aw%C3%B6rd@127.0.0.1:{smtp.port}"
    async with smtp, running_worker(mail_settings(settings, url)):
        import_id = await upload(client, headers, GOOD)
        await smtp.inbox.wait_for(1)
        await wait_for_email_state(db, import_id, "sent")
    assert smtp.logins == [("imports@example.edu", "p@ss:wörd")]


async def test_a_claim_left_by_a_worker_that_died_is_never_sent(
    client: Any, admin_headers: dict[str, str], settings: Settings, db: asyncpg.Connection,
    caplog: pytest.LogCaptureFixture,
) -> None:
    smtp = SmtpServer()  # away while the import ends: its email waits, due again at once
    _, headers = await make_importer(client, admin_headers, "ann@example.edu")
    mail = mail_settings(settings, smtp.url, smtp_timeout_seconds=0.05, email_retry_seconds=0.01)
    import_id = await upload(client, headers, GOOD)
    worker = create_worker(mail, burst=True, poll_delay=0)
    try:
        await worker.main()
    finally:
        await worker.close()
    # A worker claims it, and dies before it says what happened: the message may have gone out.
    await wait_until(
        lambda: import_emails.claim_due_email(db, "dead-worker"), within=30, what="the email to be due again"
    )
    async with smtp, running_worker(mail):
        row = await wait_for_email_state(db, import_id, "abandoned")
    assert (row["claimed_by"], row["last_error"]) == ("dead-worker", STALE_CLAIM_ERROR)
    assert (smtp.inbox.received, smtp.inbox.data_commands) == ([], 0)
    assert f"import_id={import_id}: worker dead-worker stopped while sending its email" in caplog.text


@pytest.fixture
def server_certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """A self-signed certificate for 127.0.0.1, which the workers' default TLS context trusts
    (SSL_CERT_FILE): certificates are verified as they are in production."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl is needed to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


@pytest.mark.parametrize("implicit_tls", [True, False], ids=["smtps", "starttls"])
async def test_tls_from_the_first_byte_or_by_starttls(
    client: Any, admin_headers: dict[str, str], settings: Settings, db: asyncpg.Connection,
    server_certificate: ssl.SSLContext, implicit_tls: bool,
) -> None:
    smtp = SmtpServer(tls=server_certificate, implicit_tls=implicit_tls)
    _, headers = await make_importer(client, admin_headers, "ann@example.edu")
    async with smtp, running_worker(mail_settings(settings, smtp.url)):
        import_id = await upload(client, headers, GOOD)
        await smtp.inbox.wait_for(1)
        await wait_for_email_state(db, import_id, "sent")
    assert smtp.inbox.over_tls == [True]


async def test_a_certificate_that_does_not_verify_is_not_sent_to(
    client: Any, admin_headers: dict[str, str], settings: Settings, db: asyncpg.Connection,
    server_certificate: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE")  # the system's authorities do not know the test's certificate
    smtp = SmtpServer(tls=server_certificate, implicit_tls=True)
    _, headers = await make_importer(client, admin_headers, "ann@example.edu")
    async with smtp, running_worker(mail_settings(settings, smtp.url)):
        import_id = await upload(client, headers, GOOD)

        async def refused() -> dict[str, Any] | None:
            row = await email_row(db, import_id)
            return row if row is not None and row["attempts"] >= 1 and row["state"] == "pending" else None

        row = await wait_until(refused, within=30, what="a try refused for the certificate")
    assert "CERTIFICATE_VERIFY_FAILED" in row["last_error"], row
    assert smtp.inbox.data_commands == 0
