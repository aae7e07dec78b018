"""Turn an outbox row into the email that goes out: headers safe from scraped text, text + HTML."""

from __future__ import annotations

import binascii
import email.policy
import random
import sys
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


def _headers(outbox: OutboxMessage, sender: str, unsubscribe: str | None) -> EmailMessage:
    """The message's own headers (no MIME ones yet); ValueError for a row that cannot be mail."""
    recipient = mail_address(outbox.recipient, "recipient")
    mail_address(sender, "sender")
    message = EmailMessage(policy=POLICY)
    message["Message-ID"] = message_id(outbox.message_id)
    # our own short ASCII values are stored as they are (set_raw): parsing them into header
    # objects only to write them back unchanged is most of the cost of a header
    message.set_raw("Date", _date(outbox.created_at))
    message["From"] = sender
    message["To"] = recipient
    message["Subject"] = header_text(outbox.subject)
    message.set_raw("Auto-Submitted", "auto-generated")  # RFC 3834: no vacation replies
    message.set_raw("X-Auto-Response-Suppress", "All")  # the same request, in Exchange's words
    link = header_text(unsubscribe).replace(" ", "%20") if unsubscribe else None
    message.set_raw(
        "List-Unsubscribe", f"<{link or unsubscribe_mailto(sender, recipient)}>"
    )  # RFC 2369; no List-Unsubscribe-Post: one-click (RFC 8058) needs an https endpoint
    return message


def build_message(
    outbox: OutboxMessage, sender: str, unsubscribe: str | None = None
) -> EmailMessage:
    """The digest email for an outbox row: multipart/alternative, text/plain then text/html.

    Message-ID and Date come from the row, so a retry is the same message. ``unsubscribe`` is a
    ``mailto:`` or ``https:`` URL for List-Unsubscribe; by default a mail to the sender asking to
    unsubscribe the recipient. Raises ValueError for a row that cannot become a valid email.
    `message_bytes` is the same message, already serialised, at a fraction of the cost."""
    message = _headers(outbox, sender, unsubscribe)
    # encodings chosen, not guessed: the stdlib's guess re-encodes each part in pure Python
    message.set_content(outbox.text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(outbox.html, subtype="html", charset="utf-8", cte="base64")
    return message


_CRLF = b"\r\n"
_TEXT_PART = (
    b'Content-Type: text/plain; charset="utf-8"\r\n'
    b"Content-Transfer-Encoding: quoted-printable\r\n\r\n"
)
_HTML_PART = (
    b'Content-Type: text/html; charset="utf-8"\r\nContent-Transfer-Encoding: base64\r\n\r\n'
)
_BASE64_LINE = 76  # characters per line, as RFC 2045 allows and the email package writes


def message_bytes(
    outbox: OutboxMessage,
    sender: str,
    unsubscribe: str | None = None,
    *,
    linesep: str = "\r\n",
    utf8: bool = False,
) -> bytes:
    """`build_message` as the bytes that go out, with ``linesep`` line ends (CRLF for SMTP).

    The headers are made and folded by the email package (same policy, same checks: scraped
    text never becomes a header); the two bodies are encoded by binascii in C instead of the
    email package's line-by-line generator. The text part is quoted-printable, the HTML part
    base64 (its lines joined by CRLF, as `build_message` has them), so no line is longer than
    76 characters and the body is 7-bit. The boundary starts with ``=`` and contains ``==``,
    which neither encoding can produce: it cannot occur in a part. ``utf8`` writes non-ASCII
    addresses as UTF-8 (for SMTPUTF8) instead of encoded words, as smtplib's
    ``send_message`` does."""
    message = _headers(outbox, sender, unsubscribe)
    policy = POLICY.clone(utf8=True) if utf8 else POLICY
    boundary = b"===============%019d==" % random.randrange(sys.maxsize)
    chunks = [policy.fold_binary(name, value) for name, value in message.raw_items()]
    chunks += [
        b'MIME-Version: 1.0\r\nContent-Type: multipart/alternative;\r\n boundary="%s"\r\n\r\n'
        % boundary,
        b"--%s\r\n" % boundary,
        _TEXT_PART,
        _quoted_printable(outbox.text),
        b"\r\n--%s\r\n" % boundary,
        _HTML_PART,
        _base64(outbox.html),
        b"\r\n--%s--\r\n" % boundary,
    ]
    raw = b"".join(chunks)
    return raw if linesep == "\r\n" else raw.replace(_CRLF, linesep.encode("ascii"))


def _lines(text: str) -> bytes:
    """UTF-8, every line ending (CR, LF, CRLF) made CRLF, ending with one: as the email package
    normalises a text body."""
    return _CRLF.join(text.encode("utf-8").splitlines()) + _CRLF


def _quoted_printable(text: str) -> bytes:
    # istext: CRLF stays a line break; trailing blanks, "=", 8-bit bytes, controls and a lone
    # "." on a line are encoded; lines longer than 76 characters get soft breaks ("=" CRLF)
    return binascii.b2a_qp(_lines(text), quotetabs=False, istext=True, header=False)


def _base64(text: str) -> bytes:
    encoded = binascii.b2a_base64(_lines(text), newline=False)
    return (
        _CRLF.join([encoded[at : at + _BASE64_LINE] for at in range(0, len(encoded), _BASE64_LINE)])
        + _CRLF
    )
