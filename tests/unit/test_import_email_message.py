"""The email about an ended import, built from values alone, and the settings that send it."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage

import pytest

from shared.db.import_emails import EndedImport
from shared.errors import ConfigurationError
from shared.mail import SmtpServer, is_email_address
from shared.models import ContextType, ImportState
from shared.settings import Settings
from worker.import_email import as_bytes, compose, one_line
from worker.mailer import retry_delay

BASE_ENV = {"DATABASE_URL": "postgresql://db/x", "REDIS_URL": "redis://r/0", "STORAGE_URL": "file:///tmp/x"}
NON_ASCII_FILE = "Résultats été \u2013 数学 ✓.csv"
HOSTILE = "<script>alert('x')</script>\r\nBcc: victim@example.com\r\n\r\n<b>bold</b>"


def ended(**changes: object) -> EndedImport:
    values: dict[str, object] = {
        "id": 7,
        "context_type": ContextType.account,
        "context_id": 3,
        "context_name": "District",
        "state": ImportState.succeeded,
        "file_name": "outcomes.csv",
        "dry_run": False,
        "summary": None,
        "errors_found": 0,
        "errors": [],
        "user_name": "Jane Doe",
        "created_at": datetime(2026, 12, 5, 10, 0, tzinfo=UTC),
        "ended_at": datetime(2026, 12, 5, 10, 1, tzinfo=UTC),
    }
    values.update(changes)
    return EndedImport(**values)  # type: ignore[arg-type]


def sent(value: EndedImport, public_url: str | None = "https://imports.example.edu") -> EmailMessage:
    """The message as it goes over SMTP, parsed back as a receiver parses it."""
    raw = as_bytes(compose(value, "jane@example.edu", "Imports <imports@example.edu>", public_url))
    assert raw.isascii()  # RFC 2047 headers and encoded bodies: no SMTPUTF8 needed
    message = message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message


def parts(message: EmailMessage) -> tuple[str, str]:
    text, html = (message.get_body(("plain",)), message.get_body(("html",)))
    assert isinstance(text, EmailMessage) and isinstance(html, EmailMessage)
    # Lines end in CRLF on the wire, as SMTP wants them.
    return text.get_content().replace("\r\n", "\n"), html.get_content().replace("\r\n", "\n")


def test_headers_of_a_plain_success() -> None:
    message = sent(ended(), public_url=None)
    assert sorted(message.keys()) == sorted(
        ["From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted", "MIME-Version", "Content-Type"]
    )
    assert message["Subject"] == "Outcomes Import Completed: outcomes.csv (District)"
    assert message["To"] == "Jane Doe <jane@example.edu>"
    assert message["Message-ID"] == "<outcome-import-7@example.edu>"
    assert message.get_content_type() == "multipart/alternative"
    text, _ = parts(message)
    assert "Your outcomes import has completed." in text
    assert "error" not in text.lower() and "console" not in text.lower()  # no errors, no public URL


def test_non_ascii_names_are_encoded_words_and_utf8_parts() -> None:
    value = ended(file_name=NON_ASCII_FILE, context_name="Académie de Lyon", user_name="Zoë Ångström")
    raw = as_bytes(compose(value, "zoe@example.edu", "Importations Été <imports@example.edu>", None))
    assert b"=?utf-8?" in raw.split(b"\r\n\r\n", 1)[0]
    message = message_from_bytes(raw, policy=policy.default)
    assert message["Subject"] == f"Outcomes Import Completed: {NON_ASCII_FILE} (Académie de Lyon)"
    assert message["To"].addresses[0].display_name == "Zoë Ångström"
    assert (message["From"].addresses[0].display_name, message["From"].addresses[0].addr_spec) == (
        "Importations Été",
        "imports@example.edu",
    )
    text, html = parts(message)  # type: ignore[arg-type]
    assert f"File: {NON_ASCII_FILE}" in text
    assert NON_ASCII_FILE in html


def test_hostile_text_is_inert() -> None:
    value = ended(
        file_name=HOSTILE,
        context_name=HOSTILE,
        user_name=HOSTILE,
        errors=[(2, HOSTILE)],
        errors_found=1,
    )
    message = sent(value)
    assert sorted(message.keys()) == sorted(
        ["From", "To", "Subject", "Date", "Message-ID", "Auto-Submitted", "MIME-Version", "Content-Type"]
    )
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
    assert [a.addr_spec for a in message["To"].addresses] == ["jane@example.edu"]
    text, html = parts(message)
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    # One line per error in the text part, whatever the message holds.
    assert "  Row 2: <script>alert('x')</script> Bcc: victim@example.com <b>bold</b>\n" in text


def test_the_first_errors_are_listed_with_the_total_and_a_link_to_the_report() -> None:
    errors = [(row, f"Problem {row}") for row in range(2, 102)]
    message = sent(ended(errors=errors, errors_found=150))
    text, html = parts(message)
    assert "150 errors in all; the first 100 by row:" in text
    listed = [line for line in text.splitlines() if line.startswith("  Row ")]
    assert listed == [f"  Row {r}: Problem {r}" for r in range(2, 102)]
    assert html.count("<tr><td>") == 100
    report = "https://imports.example.edu/api/v1/accounts/3/outcome_imports/7/errors"
    assert f"Error report: {report}" in text and f'<a href="{report}">' in html
    assert "Import console: https://imports.example.edu/" in text


def test_a_failed_dry_run_and_its_summary() -> None:
    summary = {
        "groups": {"created": 1, "updated": 2, "deleted": 3, "restored": 4, "unchanged": 5},
        "outcomes": {"created": 6, "updated": 7, "deleted": 8, "restored": 9, "unchanged": 10},
        "links": {"added": 11, "removed": 12},
        "rows_rejected": 13,
    }
    text, _ = parts(sent(ended(dry_run=True, summary=summary)))
    assert "What the import would have done:" in text
    assert "Groups: 1 created, 2 updated, 3 deleted, 4 restored, 5 unchanged" in text
    assert "Outcomes: 6 created, 7 updated, 8 deleted, 9 restored, 10 unchanged" in text
    assert "Links: 11 added, 12 removed" in text and "Rows rejected: 13" in text
    failed = sent(ended(dry_run=True, state=ImportState.failed, errors=[(1, "File has no data")], errors_found=1))
    assert failed["Subject"] == "Outcomes Dry Run Failed: outcomes.csv (District)"
    assert "1 error, by row:" in parts(failed)[0]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("smtp://mail.example.edu", SmtpServer("mail.example.edu", 25)),
        ("smtp://mail:2525?starttls=true", SmtpServer("mail", 2525, starttls=True)),
        ("smtps://u%40x:p%3Ass@mail", SmtpServer("mail", 465, "u@x", "p:ss", implicit_tls=True)),
    ],
)
def test_smtp_urls(url: str, expected: SmtpServer) -> None:
    assert SmtpServer.from_url(url) == expected


def test_settings_list_every_mail_problem_without_the_password() -> None:
    with pytest.raises(ConfigurationError) as caught:
        Settings.from_env(
            BASE_ENV
            | {
                "OUTCOME_IMPORTS_SMTP_URL": "smtps://user:secret@mail?starttls=true",
                "OUTCOME_IMPORTS_EMAIL_RETRY_SECONDS": "soon",
            }
        )
    text = str(caught.value)
    assert "OUTCOME_IMPORTS_SMTP_URL smtps:// already uses TLS" in text
    assert "OUTCOME_IMPORTS_MAIL_FROM is required" in text
    assert "OUTCOME_IMPORTS_EMAIL_RETRY_SECONDS must be a number" in text
    assert "secret" not in text
    with pytest.raises(ConfigurationError, match="MAIL_FROM must not contain control"):
        Settings.from_env(BASE_ENV | {"OUTCOME_IMPORTS_MAIL_FROM": "a@b.c\r\nBcc: d@e.f"})
    ok = Settings.from_env(
        BASE_ENV
        | {
            "OUTCOME_IMPORTS_SMTP_URL": "smtp://mail:587?starttls=true",
            "OUTCOME_IMPORTS_MAIL_FROM": "Outcome Imports <imports@example.edu>",
            "OUTCOME_IMPORTS_EMAIL_RETRY_SECONDS": "0.5",
        }
    )
    assert (ok.smtp_url, ok.email_retry_seconds) == ("smtp://mail:587?starttls=true", 0.5)


def test_retries_double_up_to_an_hour() -> None:
    settings = Settings("postgresql://x", "redis://x", "file:///x", email_retry_seconds=30)
    assert [retry_delay(settings, n) for n in (1, 2, 3, 8, 9)] == [30, 60, 120, 3600, 3600]


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("jane@example.edu", True),
        ("o'brien+tag@mail.example.co.uk", True),
        ("jane", False),
        ("jane@localhost", False),
        ("jane@example.edu\r\nBcc: x@y.z", False),
        ("jané@example.edu", False),
        ("a@-bad.edu", False),
        ("x" * 250 + "@e.du", False),
    ],
)
def test_what_counts_as_an_address(value: str, ok: bool) -> None:
    assert is_email_address(value) is ok


@pytest.mark.parametrize(
    ("file_name", "context_name"),
    [
        ("r%C3%A9sultats%20%C3%A9t%C3%A9.csv", "Académie \u2014 数学"),  # Python's own folder lost these spaces
        ("a-long-file-name-with-nothing-special-in-it-at-all.csv", "Académie  de  Lyon " * 8),
        ("数学 " * 40 + ".csv", "École"),
    ],
)
def test_non_ascii_subjects_survive_folding_with_their_spaces(file_name: str, context_name: str) -> None:
    message = sent(ended(file_name=file_name, context_name=context_name))
    expected = f"Outcomes Import Completed: {one_line(file_name, 200)} ({one_line(context_name, 200)})"
    assert message["Subject"] == expected
