"""Turn an outbox row into the email that goes out: headers safe from scraped text, text + HTML.

One way to make it: `build_message` builds an `email.message.EmailMessage`, `message_bytes`
serialises it for a transport (its line ends; UTF-8 addresses for SMTPUTF8). The email package
does the encoding, the folding and the boundary. That costs about 2-3 ms of CPU per message
more than assembling the bytes by hand did (``bench/digest.py``: ``deliver_outbox`` takes about
5.5 s of CPU per 1,000 messages instead of 3): seconds per thousand subscribers of a daily
digest, which nobody waiting for one notices, so there is no hand-made fast path beside it.
"""

from __future__ import annotations

import email.policy
import unicodedata
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import quote

from alerts.address import BREAKING, Address, parse_address
from store.models import OutboxMessage

# RFC 5322 output with CRLF; bodies that are not plain short ASCII lines get quoted-printable or
# base64, never raw 8bit (not every relay announces 8BITMIME). Headers we set as ready-made strings
# (List-Unsubscribe) are written as they are instead of refolded: Python would otherwise turn a
# long unbreakable <mailto:...> into RFC 2047 encoded words that no client recognises as a URL;
# a line break in such a value (List-Unsubscribe's two entries) is written as a fold in the
# output's line ends.
POLICY = email.policy.SMTP.clone(cte_type="7bit", refold_source="none")
# the parts' bodies are encoded with lines of at most 76 characters, as RFC 2045 asks of
# quoted-printable and base64 (the policy's 78 is for header lines)
_BODY_POLICY = POLICY.clone(max_line_length=76)


def header_text(value: str) -> str:
    """One clean line: every control or line-breaking character becomes a space, runs of
    whitespace collapse to one, the ends are trimmed: ``"a\\r\\nBcc: x@y"`` -> ``"a Bcc: x@y"``."""
    cleaned = "".join(" " if unicodedata.category(char) in BREAKING else char for char in value)
    return " ".join(cleaned.split())


def unsubscribe_mailto(sender: Address, recipient: str) -> str:
    """``mailto:SENDER?subject=unsubscribe%20RECIPIENT``: a reply the operator can act on."""
    return (
        f"mailto:{quote(sender.addr_spec, safe='@')}"
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


def _part(content: str, subtype: str, cte: str) -> EmailMessage:
    part = EmailMessage(policy=_BODY_POLICY)
    # encodings chosen, not guessed: the stdlib's guess re-encodes each part in pure Python
    part.set_content(content, subtype=subtype, charset="utf-8", cte=cte)
    del part["MIME-Version"]  # the message has it; its parts do not (RFC 2045 4)
    return part


def list_unsubscribe(outbox: OutboxMessage, sender: Address, recipient: str) -> str:
    """The List-Unsubscribe value (RFC 2369): the row's one-click URL first, when it has one,
    then the mail to the sender. The URL is ours (base_url and a URL-safe token), still it is
    made one clean token here: no space, no angle bracket can end the ``<...>``."""
    mailto = f"<{unsubscribe_mailto(sender, recipient)}>"
    if not outbox.unsubscribe_url:
        return mailto
    url = header_text(outbox.unsubscribe_url).replace(" ", "%20")
    url = url.replace("<", "%3C").replace(">", "%3E")
    # folded between the two entries (RFC 5322 folding white space), never inside a URL
    return f"<{url}>,\n {mailto}"


def build_message(outbox: OutboxMessage, sender: Address) -> EmailMessage:
    """The digest email for an outbox row: multipart/alternative, text/plain (quoted-printable)
    then text/html (base64), so every line is 7-bit and at most 76 characters long.

    Message-ID and Date come from the row, so a retry is the same message. List-Unsubscribe has
    the row's ``unsubscribe_url`` (stored when the digest was built: sending needs no secret)
    and a mail to the sender; with the URL, List-Unsubscribe-Post announces one-click
    unsubscribe (RFC 8058: a POST of ``List-Unsubscribe=One-Click`` to it). A row without one
    (built without a web app) has the mailto alone and no -Post header. Raises ValueError for a
    row that cannot become a valid email."""
    recipient = parse_address(outbox.recipient, "recipient").addr_spec
    message = EmailMessage(policy=POLICY)
    message["Message-ID"] = message_id(outbox.message_id)
    # our own short ASCII values are stored as they are (set_raw): parsing them into header
    # objects only to write them back unchanged is most of the cost of a header
    message.set_raw("Date", _date(outbox.created_at))
    message["From"] = str(sender)
    message["To"] = recipient
    message["Subject"] = header_text(outbox.subject)
    message.set_raw("Auto-Submitted", "auto-generated")  # RFC 3834: no vacation replies
    message.set_raw("X-Auto-Response-Suppress", "All")  # the same request, in Exchange's words
    message.set_raw("List-Unsubscribe", list_unsubscribe(outbox, sender, recipient))
    if outbox.unsubscribe_url:
        message.set_raw("List-Unsubscribe-Post", "List-Unsubscribe=One-Click")
    message.set_raw("MIME-Version", "1.0")
    message.make_alternative()
    message.attach(_part(outbox.text, "plain", "quoted-printable"))
    message.attach(_part(outbox.html, "html", "base64"))
    return message


def message_bytes(
    outbox: OutboxMessage,
    sender: Address,
    *,
    linesep: str = "\r\n",
    utf8: bool = False,
) -> bytes:
    """`build_message` as the bytes that go out, with ``linesep`` line ends (CRLF for SMTP, the
    local ``\\n`` in a Maildir). ``utf8`` writes non-ASCII addresses as UTF-8 (for SMTPUTF8)
    instead of encoded words, as smtplib's ``send_message`` does."""
    policy = POLICY.clone(linesep=linesep, utf8=utf8)
    return build_message(outbox, sender).as_bytes(policy=policy)
