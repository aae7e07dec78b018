"""Turn an outbox row into the email that goes out: headers safe from scraped text, text + HTML."""

from __future__ import annotations

import email.policy
import unicodedata
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from urllib.parse import quote

from store.models import OutboxMessage

# RFC 5322 output with CRLF; bodies that are not plain short ASCII lines get quoted-printable or
# base64, never raw 8bit (not every relay announces 8BITMIME). Headers we set as ready-made strings
# (List-Unsubscribe) are written as they are instead of refolded: Python would otherwise turn a
# long unbreakable <mailto:...> into RFC 2047 encoded words that no client recognises as a URL.
POLICY = email.policy.SMTP.clone(cte_type="7bit", refold_source="none")

# Unicode categories that end a header line or have no business in one: controls (CR, LF, TAB,
# NUL, NEL, ...), line and paragraph separators, lone surrogates.
_BREAKING = frozenset({"Cc", "Zl", "Zp", "Cs"})


def header_text(value: str) -> str:
    """One clean line: every control or line-breaking character becomes a space, runs of
    whitespace collapse to one, the ends are trimmed: ``"a\\r\\nBcc: x@y"`` -> ``"a Bcc: x@y"``."""
    cleaned = "".join(" " if unicodedata.category(char) in _BREAKING else char for char in value)
    return " ".join(cleaned.split())


def mail_address(value: str, what: str) -> str:
    """The bare address in ``value`` (``"Name <a@b>"`` or ``"a@b"``); else ValueError."""
    if header_text(value) != value.strip():
        raise ValueError(f"{what} {value!r} contains control characters")
    address = parseaddr(value)[1]
    if address.count("@") != 1 or any(char.isspace() for char in address):
        raise ValueError(f"{what} {value!r} is not an email address")
    return address


def unsubscribe_mailto(sender: str, recipient: str) -> str:
    """``mailto:SENDER?subject=unsubscribe%20RECIPIENT``: a reply the operator can act on."""
    return (
        f"mailto:{quote(mail_address(sender, 'sender'), safe='@')}"
        f"?subject={quote('unsubscribe ' + recipient, safe='@')}"
    )


def message_id(value: str) -> str:
    """The stored Message-ID as a header value, with its angle brackets."""
    value = header_text(value).replace(" ", "")
    if not value.startswith("<"):
        value = f"<{value}>"
    if "@" not in value or not value.endswith(">"):
        raise ValueError(f"not a Message-ID: {value!r}")
    return value


def _date(moment: datetime) -> str:
    return format_datetime(moment if moment.tzinfo else moment.replace(tzinfo=UTC))


def build_message(
    outbox: OutboxMessage, sender: str, unsubscribe: str | None = None
) -> EmailMessage:
    """The digest email for an outbox row: multipart/alternative, text/plain then text/html.

    Message-ID and Date come from the row, so a retry is the same message. ``unsubscribe`` is a
    ``mailto:`` or ``https:`` URL for List-Unsubscribe; by default a mail to the sender asking to
    unsubscribe the recipient. Raises ValueError for a row that cannot become a valid email."""
    recipient = mail_address(outbox.recipient, "recipient")
    mail_address(sender, "sender")
    message = EmailMessage(policy=POLICY)
    message["Message-ID"] = message_id(outbox.message_id)
    message["Date"] = _date(outbox.created_at)
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = header_text(outbox.subject)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to a digest
    message["X-Auto-Response-Suppress"] = "All"  # the same request, in Exchange's words
    link = header_text(unsubscribe).replace(" ", "%20") if unsubscribe else None
    message.set_raw(
        "List-Unsubscribe", f"<{link or unsubscribe_mailto(sender, recipient)}>"
    )  # RFC 2369; no List-Unsubscribe-Post: one-click (RFC 8058) needs an https endpoint
    # encodings chosen, not guessed: the stdlib's guess re-encodes each part in pure Python
    message.set_content(outbox.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(outbox.html, subtype="html", charset="utf-8", cte="base64")
    return message
