"""The email about an ended import, as Canvas sends it: what was imported where, how it ended,
what it did, and the first 100 errors by row with the total. Pure: no I/O.

Everything in it that came from a user (file name, context and user names, error messages) is
data, never markup or headers: control characters become spaces before anything goes into a
header or a line of the text part, and the HTML part escapes every such string.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr, parseaddr
from html import escape
from typing import cast

from shared.db.import_emails import EndedImport
from shared.models import ContextType, ImportState

# Canvas's email lists up to 100 warnings (spec §3.2).
MAX_LISTED_ERRORS = 100
# A header or listed message stays readable whatever a file carries.
MAX_HEADER_TEXT = 200
MAX_MESSAGE_TEXT = 1000
CONSOLE_PATH = "/"
SMTP_COMPAT32 = compat32.clone(linesep="\r\n")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def one_line(text: str, limit: int) -> str:
    """`text` with every run of control characters (CR, LF, NUL, ...) as one space, cut at `limit`."""
    flat = _CONTROL.sub(" ", text).strip()
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def subject(ended: EndedImport) -> str:
    what = "Outcomes Dry Run" if ended.dry_run else "Outcomes Import"
    how = "Completed" if ended.state is ImportState.succeeded else "Failed"
    where = one_line(ended.context_name or _context_label(ended), MAX_HEADER_TEXT)
    return f"{what} {how}: {one_line(ended.file_name, MAX_HEADER_TEXT)} ({where})"


def message_id(import_id: int, mail_from: str) -> str:
    """The same on every try, so that a receiver that got one anyway can tell it is the same email."""
    domain = parseaddr(mail_from)[1].rpartition("@")[2]
    return f"<outcome-import-{import_id}@{domain}>"


def compose(
    ended: EndedImport, recipient: str, mail_from: str, public_url: str | None, now: datetime | None = None
) -> Message:
    """The message to `recipient` (an address already checked by shared.mail.is_email_address).

    Built with the email package's compat32 API: its Header encodes a whole non-ASCII value as
    RFC 2047 encoded words, spaces included. The newer API's folder (Python 3.11) drops the spaces
    between encoded words of some values ("Académie — 数学" arrived as "Académie—数学")."""
    links = _links(ended, public_url)
    message = MIMEMultipart("alternative")
    message["From"] = formataddr(parseaddr(mail_from), charset="utf-8")
    message["To"] = formataddr((one_line(ended.user_name or "", MAX_HEADER_TEXT), recipient), charset="utf-8")
    message["Subject"] = _header(subject(ended))
    message["Date"] = format_datetime(now or datetime.now(UTC))
    message["Message-ID"] = message_id(ended.id, mail_from)
    # RFC 3834: no out-of-office replies to a machine.
    message["Auto-Submitted"] = "auto-generated"
    for body, subtype in ((_text(ended, links), "plain"), (_html(ended, links), "html")):
        part = MIMEText(body, subtype, "utf-8")
        del part["MIME-Version"]  # once, on the message itself
        message.attach(part)
    return message


def as_bytes(message: Message) -> bytes:
    """The message as SMTP carries it: CRLF line ends, 7-bit (encoded words, base64 parts)."""
    return message.as_bytes(policy=SMTP_COMPAT32)


def _header(value: str) -> str:
    # typeshed types header values as str; compat32 takes a Header too, and encodes it whole.
    return value if value.isascii() else cast(str, Header(value, "utf-8"))


def _context_label(ended: EndedImport) -> str:
    kind = "account" if ended.context_type is ContextType.account else "course"
    return f"{kind} {ended.context_id}"


def _headline(ended: EndedImport) -> str:
    if ended.dry_run:
        if ended.state is ImportState.succeeded:
            return "Your dry run of an outcomes import has completed. Nothing was changed."
        return "Your dry run of an outcomes import has failed. Nothing was changed."
    if ended.state is ImportState.succeeded:
        return "Your outcomes import has completed."
    return "Your outcomes import has failed. Nothing of it was applied."


def _facts(ended: EndedImport) -> list[tuple[str, str]]:
    kind = "Account" if ended.context_type is ContextType.account else "Course"
    facts = [
        (kind, f"{ended.context_name or ''} (id {ended.context_id})".strip()),
        ("File", ended.file_name),
        ("Import", str(ended.id) + (" (dry run)" if ended.dry_run else "")),
        ("State", ended.state.value),
        ("Uploaded", format_datetime(ended.created_at.astimezone(UTC))),
    ]
    if ended.ended_at is not None:
        facts.append(("Ended", format_datetime(ended.ended_at.astimezone(UTC))))
    return [(label, one_line(value, MAX_MESSAGE_TEXT)) for label, value in facts]


def _summary_lines(ended: EndedImport) -> list[str]:
    summary = ended.summary
    if not summary:
        return []
    verb = "would have done" if ended.dry_run else "did"
    lines = [f"What the import {verb}:"]
    for key, label in (("groups", "Groups"), ("outcomes", "Outcomes")):
        counts = summary.get(key) or {}
        lines.append(f"{label}: " + _counts(counts, ("created", "updated", "deleted", "restored", "unchanged")))
    lines.append("Links: " + _counts(summary.get("links") or {}, ("added", "removed")))
    lines.append(f"Rows rejected: {int(summary.get('rows_rejected') or 0)}")
    return lines


def _counts(counts: dict[str, object], keys: Iterable[str]) -> str:
    return ", ".join(f"{_integer(counts.get(key))} {key}" for key in keys)


def _integer(value: object) -> int:
    return value if isinstance(value, int) else 0


def _errors_heading(ended: EndedImport) -> str | None:
    total = ended.errors_found
    if total == 0 and not ended.errors:
        return None
    total = max(total, len(ended.errors))
    noun = "error" if total == 1 else "errors"
    if total > len(ended.errors):
        return f"{total} {noun} in all; the first {len(ended.errors)} by row:"
    return f"{total} {noun}, by row:"


def _links(ended: EndedImport, public_url: str | None) -> list[tuple[str, str, bool]]:
    """(label, target, whether the target is a full URL) for the error report and the console."""
    segment = "accounts" if ended.context_type is ContextType.account else "courses"
    errors_path = f"/api/v1/{segment}/{ended.context_id}/outcome_imports/{ended.id}/errors"
    links: list[tuple[str, str, bool]] = []
    if ended.errors_found or ended.errors:
        links.append(("Error report", (public_url or "") + errors_path, public_url is not None))
    if public_url is not None:
        links.append(("Import console", public_url + CONSOLE_PATH, True))
    return links


def _text(ended: EndedImport, links: list[tuple[str, str, bool]]) -> str:
    lines = [_headline(ended), ""]
    lines += [f"{label}: {value}" for label, value in _facts(ended)]
    if summary := _summary_lines(ended):
        lines += ["", *summary]
    if heading := _errors_heading(ended):
        lines += ["", heading]
        lines += [f"  Row {row}: {one_line(message, MAX_MESSAGE_TEXT)}" for row, message in ended.errors]
    if links:
        lines.append("")
        lines += [f"{label}: {target}" for label, target, _ in links]
    return "\n".join(lines) + "\n"


def _html(ended: EndedImport, links: list[tuple[str, str, bool]]) -> str:
    parts = [
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"></head>',
        '<body style="font-family: sans-serif; font-size: 14px;">',
        f"<p>{escape(_headline(ended))}</p>",
        "<table>",
    ]
    facts = _facts(ended)
    parts += [f'<tr><th align="left">{escape(label)}</th><td>{escape(value)}</td></tr>' for label, value in facts]
    parts.append("</table>")
    if summary := _summary_lines(ended):
        parts.append(f"<p>{escape(summary[0])}</p><ul>")
        parts += [f"<li>{escape(line)}</li>" for line in summary[1:]]
        parts.append("</ul>")
    if heading := _errors_heading(ended):
        parts.append(f"<p>{escape(heading)}</p>")
        parts.append('<table><tr><th align="left">Row</th><th align="left">Message</th></tr>')
        parts += [
            f"<tr><td>{row}</td><td>{escape(one_line(message, MAX_MESSAGE_TEXT))}</td></tr>"
            for row, message in ended.errors
        ]
        parts.append("</table>")
    if links:
        parts.append("<p>")
        for label, target, absolute in links:
            shown = f'<a href="{escape(target)}">{escape(target)}</a>' if absolute else escape(target)
            parts.append(f"{escape(label)}: {shown}<br>")
        parts.append("</p>")
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
