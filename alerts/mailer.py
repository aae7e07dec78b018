"""Deliver the outbox: by SMTP (plain, SMTPS, STARTTLS; optional AUTH) or into a local Maildir.

Pending messages go out oldest first, one connection per batch. A temporary failure (4xx, the
server unreachable or gone) keeps the message pending with exponential backoff and the same
Message-ID; a permanent refusal of a message (5xx) fails that message only. Every outcome is
committed on its own, and no database transaction stays open while the network is in use.

Several senders may run at once (`newswatch send` beside the service, two `cycle`s): each claims
the messages of a batch before sending them by moving their ``next_attempt_at`` a lease ahead, in
one conditional UPDATE that only one of them can win for each message; a claim about to run out
mid-batch is renewed the same way. Should a sender die holding a claim, its messages are due
again when the lease runs out, with the same Message-IDs.
"""

from __future__ import annotations

import logging
import mailbox
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from sqlalchemy import ColumnElement, bindparam, select, update

from alerts.config import MailConfig
from alerts.mime import message_bytes
from store.clock import Clock
from store.db import Database
from store.models import OutboxMessage

log = logging.getLogger(__name__)

PASSWORD_ENV = MailConfig.ENV_PASSWORD  # named in messages; scheduler.config reads it
FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY = timedelta(hours=6)
MAX_ATTEMPTS = 20
MAX_AGE = timedelta(days=3)
DEFAULT_PORTS = {"smtp": 25, "smtps": 465, "smtp+starttls": 587}
# how long a claimed message is left to its sender: far longer than one send can take
LEASE = timedelta(minutes=10)


@dataclass
class DeliveryReport:
    """What one run of the mailer did; ``errors`` has one line per message that did not go."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return f"sent {self.sent}, retrying {self.retrying}, failed {self.failed}"


class Unavailable(Exception):
    """No connection to the mail server (or no Maildir): nothing in this batch can go now."""


class Transport(Protocol):
    # how the message is written for this transport: line ends, and whether a non-ASCII address
    # is written as UTF-8 (SMTPUTF8) rather than as RFC 2047 encoded words
    linesep: str
    utf8_addresses: bool

    def send(self, message: bytes, sender: str, recipient: str) -> None: ...

    def close(self) -> None: ...


def retry_delay(attempts: int) -> timedelta:
    """1 minute after the first failure, then 2, 4, 8, ... minutes, never more than 6 hours."""
    return min(FIRST_RETRY * 2 ** min(max(attempts - 1, 0), 20), MAX_RETRY)


def is_temporary(error: BaseException) -> bool:
    """Whether trying the message again later may succeed (4xx, connection trouble)."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(400 <= code < 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPNotSupportedError):
        return False  # e.g. an internationalised address the server cannot take
    if isinstance(error, smtplib.SMTPResponseException):
        return not 500 <= error.smtp_code < 600
    return isinstance(error, smtplib.SMTPException | OSError | Unavailable)


def describe(error: BaseException) -> str:
    """``"550 5.1.1 no such user"`` for SMTP replies, the exception otherwise."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(error.recipients.values()), (0, "recipient refused"))
        return f"{code} {_text(reply)}"
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.smtp_code} {_text(error.smtp_error)}"
    if isinstance(error, Unavailable) and error.__cause__ is not None:
        return f"{error}: {describe(error.__cause__)}"
    if isinstance(error, Unavailable):
        return str(error)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


class SmtpTransport:
    """One SMTP connection, opened on first use and reopened when the server has dropped it."""

    linesep = "\r\n"
    utf8_addresses = True

    def __init__(self, url: str, timeout: float, password: str | None) -> None:
        parts = urlsplit(url)
        self.scheme = parts.scheme
        self.host = parts.hostname or "localhost"
        self.port = parts.port or DEFAULT_PORTS[self.scheme]
        self.user = unquote(parts.username) if parts.username else None
        self.password = password
        self.timeout = timeout
        self.smtp: smtplib.SMTP | None = None

    def send(self, message: bytes, sender: str, recipient: str) -> None:
        """Send the serialised ``message`` (CRLF line ends) as smtplib's ``send_message`` would:
        with SMTPUTF8 when an address is not ASCII, if the server can take it."""
        smtp = self._connection()
        options: tuple[str, ...] = ()
        if not (sender + recipient).isascii():
            if not smtp.has_extn("smtputf8"):
                raise smtplib.SMTPNotSupportedError(
                    "an address needs SMTPUTF8, which the server does not announce"
                )
            options = ("SMTPUTF8", "BODY=8BITMIME")
        try:
            smtp.sendmail(sender, [recipient], message, options)
        except BaseException:
            if smtp.sock is None:  # smtplib closed it (421, or the server went away)
                self.smtp = None
            raise

    def close(self) -> None:
        if self.smtp is not None:
            try:
                self.smtp.quit()
            except (smtplib.SMTPException, OSError):
                self.smtp.close()
            self.smtp = None

    def _connection(self) -> smtplib.SMTP:
        if self.smtp is not None and not self._alive(self.smtp):
            self.smtp.close()
            self.smtp = None
        if self.smtp is None:
            if self.user and not self.password:
                # sending unauthenticated would have every message refused for good (530)
                raise Unavailable(f"smtp_url names user {self.user!r} but {PASSWORD_ENV} is unset")
            try:
                self.smtp = self._open()
            except (smtplib.SMTPException, OSError) as error:
                raise Unavailable(f"cannot use {self.scheme}://{self.host}:{self.port}") from error
        return self.smtp

    @staticmethod
    def _alive(smtp: smtplib.SMTP) -> bool:
        """Ask (NOOP) before reusing: a blind resend after a drop could deliver a message twice,
        and a server may hang up right after accepting one; one round trip buys certainty."""
        if smtp.sock is None:
            return False
        try:
            return smtp.noop()[0] == 250
        except (smtplib.SMTPException, OSError):
            return False

    def _open(self) -> smtplib.SMTP:
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.scheme == "smtps":
            smtp = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=context)
        else:
            smtp = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            smtp.ehlo_or_helo_if_needed()
            if self.scheme == "smtp+starttls":
                smtp.starttls(context=context)
                smtp.ehlo()
            if self.user and self.password:
                smtp.login(self.user, self.password)
        except BaseException:
            smtp.close()
            raise
        return smtp


class MaildirTransport:
    """Delivery into a local Maildir folder (new/), readable by mutt and ``mailbox.Maildir``."""

    linesep = "\n"  # Maildir files use the local line ending, not SMTP's CRLF
    utf8_addresses = False

    def __init__(self, path: str) -> None:
        self.path = Path(path).expanduser()
        self.maildir: mailbox.Maildir | None = None

    def send(self, message: bytes, sender: str, recipient: str) -> None:
        if self.maildir is None:
            try:
                # not Maildir(create=True): it makes the folder before tmp/, so a second sender
                # starting at that moment would find the folder and fail to write into tmp/
                self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
                for sub in ("tmp", "new", "cur"):
                    (self.path / sub).mkdir(mode=0o700, exist_ok=True)
                self.maildir = mailbox.Maildir(self.path, create=False)
            except OSError as error:
                raise Unavailable(f"cannot open Maildir {self.path}") from error
        self.maildir.add(message)

    def close(self) -> None:
        self.maildir = None


def open_transport(mail: MailConfig, password: str | None) -> Transport:
    if mail.smtp_url:
        return SmtpTransport(mail.smtp_url, mail.timeout, password)
    return MaildirTransport(mail.maildir)


def deliver_outbox(
    db: Database,
    mail: MailConfig,
    *,
    clock: Clock,
    password: str | None = None,
    batch: int = 200,
) -> DeliveryReport:
    """Send every pending message that is due now, oldest first; every time recorded comes from
    ``clock``.

    The SMTP password is ``mail.password`` (scheduler.config fills it from the environment);
    ``password`` overrides it. Batches of ``batch`` messages share one connection; when the
    server cannot be reached, the rest of the run waits for the next one. Messages another
    sender has claimed are left to it."""
    if password is None and mail.password is not None:
        password = mail.password.get_secret_value()
    due = clock()
    lease = max(LEASE, timedelta(seconds=10 * mail.timeout))
    report = DeliveryReport()
    sender = parseaddr(mail.sender)[1]
    done: set[int] = set()
    while ids := _due(db, due, batch, exclude=done):
        done.update(ids)
        transport = open_transport(mail, password)
        try:
            reachable = _send_batch(db, transport, ids, mail.sender, sender, clock, lease, report)
        finally:
            transport.close()
        if not reachable or len(ids) < batch:
            break
    return report


def _due(db: Database, now: datetime, batch: int, exclude: set[int]) -> list[int]:
    """The ids of up to ``batch`` pending, due messages, oldest first, read in a short
    transaction. Not yet claimed: `_send_batch` claims them (`_claim_all`) just before sending."""
    query = (
        select(OutboxMessage.id)
        .where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
        .order_by(OutboxMessage.created_at, OutboxMessage.id)
        .limit(batch)
    )
    if exclude:
        query = query.where(OutboxMessage.id.not_in(exclude))
    with db.session() as session:
        return list(session.scalars(query))


def _send_batch(
    db: Database,
    transport: Transport,
    ids: list[int],
    from_header: str,
    sender: str,
    clock: Clock,
    lease: timedelta,
    report: DeliveryReport,
) -> bool:
    """Claim the messages ``ids`` and send them over one transport, in that order; False when it
    became unreachable (the rest are put off). Messages another sender holds are left to it."""
    rows = _claim_all(db, ids, clock(), lease)
    position = 0
    while position < len(rows):
        row = rows[position]
        now = clock()
        if now >= row.next_attempt_at - lease / 2:
            # a slow batch: renew the claim on the rest before it can run out under us
            rest = [waiting.id for waiting in rows[position:]]
            rows[position:] = _claim_all(db, rest, now, lease, held=row.next_attempt_at)
            continue
        position += 1
        recipient = parseaddr(row.recipient)[1]
        international = transport.utf8_addresses and not (sender + recipient).isascii()
        try:
            message = message_bytes(row, from_header, linesep=transport.linesep, utf8=international)
        except ValueError as error:
            _record_failure(db, row, error, clock(), report)
            continue
        try:
            transport.send(message, sender, recipient)
        except Unavailable as error:
            _record_failure(db, row, error, clock(), report)
            for waiting in rows[position:]:
                _record_failure(db, waiting, error, clock(), report)
            return False
        except (smtplib.SMTPException, OSError) as error:
            _record_failure(db, row, error, clock(), report)
            continue
        # The server has the message. Should we crash before this commit, the message stays
        # pending and goes again when the lease ends: at most this one message is duplicated
        # (at-least-once).
        _record_sent(db, row, clock())
        report.sent += 1
    return True


_OUTBOX = OutboxMessage.__table__
# built once: each call only binds values (statement construction is most of a short UPDATE)
_CLAIM = (
    update(_OUTBOX)
    .where(
        _OUTBOX.c.id.in_(bindparam("ids", expanding=True)),
        _OUTBOX.c.status == "pending",
        _OUTBOX.c.next_attempt_at <= bindparam("now"),
    )
    .values(next_attempt_at=bindparam("until"))
    .returning(*_OUTBOX.c)
)
_RENEW = (
    update(_OUTBOX)
    .where(
        _OUTBOX.c.id.in_(bindparam("ids", expanding=True)),
        _OUTBOX.c.status == "pending",
        _OUTBOX.c.next_attempt_at == bindparam("held"),
    )
    .values(next_attempt_at=bindparam("until"))
    .returning(*_OUTBOX.c)
)
_MARK_SENT = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id == bindparam("row_id"), _OUTBOX.c.status != "sent")
    .values(
        status="sent",
        sent_at=bindparam("now"),
        last_error=None,
        attempts=_OUTBOX.c.attempts + 1,
    )
)


def _claim_all(
    db: Database,
    ids: list[int],
    now: datetime,
    lease: timedelta,
    *,
    held: datetime | None = None,
) -> list[OutboxMessage]:
    """Take the messages ``ids`` for this sender until ``now + lease``, those still pending and
    due; or, with ``held`` (the lease this sender holds them under), extend the claim on those
    still under it. The messages as they are now (``next_attempt_at`` being our lease), in the
    order of ``ids``, without those another sender got first. One short write transaction: the
    conditional UPDATE lets only one sender win each message."""
    if not ids:
        return []
    values: dict[str, object] = {"ids": ids, "until": now + lease}
    if held is None:
        statement, values["now"] = _CLAIM, now
    else:
        statement, values["held"] = _RENEW, held
    with db.engine.begin() as connection:
        claimed = connection.execute(statement, values).all()
    by_id = {row.id: OutboxMessage(**row._mapping) for row in claimed}
    return [by_id[row_id] for row_id in ids if row_id in by_id]


def _claim(db: Database, row_id: int, now: datetime, lease: timedelta) -> OutboxMessage | None:
    """`_claim_all` for one message: the row, or None when another sender got it first."""
    claimed = _claim_all(db, [row_id], now, lease)
    return claimed[0] if claimed else None


def _ours(row: OutboxMessage) -> list[ColumnElement[bool]]:
    """Still pending and still under the lease this sender took (`_claim`)."""
    outbox = OutboxMessage.__table__
    return [
        outbox.c.id == row.id,
        outbox.c.status == "pending",
        outbox.c.next_attempt_at == row.next_attempt_at,
    ]


def _record_sent(db: Database, row: OutboxMessage, now: datetime) -> None:
    """Mark the message sent; the server has it, so this holds even after our lease ran out
    (only a row another sender has already marked sent is left as it is)."""
    with db.engine.begin() as connection:
        marked = connection.execute(_MARK_SENT, {"row_id": row.id, "now": now})
    if marked.rowcount != 1:
        log.warning(
            "mail to %s %s was sent twice: our claim had run out", row.recipient, row.message_id
        )


def _record_failure(
    db: Database, row: OutboxMessage, error: BaseException, now: datetime, report: DeliveryReport
) -> None:
    """Put the claimed message off with backoff, or fail it: refused for good, too many tries,
    too old. ``row`` is as `_claim` read it; nobody else writes it while our lease holds, and
    should the lease have run out and another sender taken over, it is left to that one."""
    reason = describe(error)
    attempts = row.attempts + 1
    values: dict[str, object] = {"attempts": attempts, "last_error": reason}
    if not is_temporary(error):
        values["status"] = "failed"
    elif attempts >= MAX_ATTEMPTS or now - row.created_at >= MAX_AGE:
        values["status"] = "failed"
        values["last_error"] = f"gave up after {attempts} attempts: {reason}"
    else:
        values["next_attempt_at"] = now + retry_delay(attempts)
    with db.engine.begin() as connection:
        recorded = connection.execute(
            update(OutboxMessage.__table__).where(*_ours(row)).values(**values)
        )
    if recorded.rowcount != 1:
        log.warning(
            "mail to %s %s: %s (taken over by another sender)",
            row.recipient,
            row.message_id,
            reason,
        )
        return
    if "status" in values:
        report.failed += 1
    else:
        report.retrying += 1
    report.errors.append(f"{row.recipient} {row.message_id}: {reason}")
    log.warning("mail to %s %s: %s", row.recipient, row.message_id, reason)
