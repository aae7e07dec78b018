"""Deliver the outbox: by SMTP (plain, SMTPS, STARTTLS; optional AUTH) or into a local Maildir.

Pending messages go out oldest first, one connection per batch. A temporary failure (4xx, the
server unreachable or gone) keeps the message pending with exponential backoff and the same
Message-ID; a permanent refusal of a message (5xx) fails that message only. Every outcome is
committed on its own, and no database transaction stays open while the network is in use.
"""

from __future__ import annotations

import logging
import mailbox
import os
import smtplib
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from sqlalchemy import select, update

from alerts.config import MailConfig
from alerts.mime import build_message
from store.db import Database
from store.models import OutboxMessage, utcnow

log = logging.getLogger(__name__)

PASSWORD_ENV = "NEWSWATCH_SMTP_PASSWORD"
FIRST_RETRY = timedelta(minutes=1)
MAX_RETRY = timedelta(hours=6)
MAX_ATTEMPTS = 20
MAX_AGE = timedelta(days=3)
DEFAULT_PORTS = {"smtp": 25, "smtps": 465, "smtp+starttls": 587}


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
    def send(self, message: EmailMessage, sender: str, recipient: str) -> None: ...

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

    def __init__(self, url: str, timeout: float, password: str | None) -> None:
        parts = urlsplit(url)
        self.scheme = parts.scheme
        self.host = parts.hostname or "localhost"
        self.port = parts.port or DEFAULT_PORTS[self.scheme]
        self.user = unquote(parts.username) if parts.username else None
        self.password = password
        self.timeout = timeout
        self.smtp: smtplib.SMTP | None = None

    def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        smtp = self._connection()
        try:
            smtp.send_message(message, from_addr=sender, to_addrs=[recipient])
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

    def __init__(self, path: str) -> None:
        self.path = Path(path).expanduser()
        self.maildir: mailbox.Maildir | None = None

    def send(self, message: EmailMessage, sender: str, recipient: str) -> None:
        if self.maildir is None:
            try:
                self.maildir = mailbox.Maildir(self.path, create=True)
            except OSError as error:
                raise Unavailable(f"cannot open Maildir {self.path}") from error
        # Maildir files use the local line ending, not SMTP's CRLF
        self.maildir.add(message.as_bytes(policy=message.policy.clone(linesep="\n")))

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
    now: datetime | None = None,
    password: str | None = None,
    batch: int = 200,
) -> DeliveryReport:
    """Send every pending message that is due at ``now`` (default: the clock), oldest first.

    ``password`` defaults to $NEWSWATCH_SMTP_PASSWORD, read at call time. Batches of ``batch``
    messages share one connection; when the server cannot be reached, the rest of the run waits
    for the next one."""
    if password is None:
        password = os.environ.get(PASSWORD_ENV)
    clock: Callable[[], datetime] = (lambda: now) if now is not None else utcnow
    due = clock()
    report = DeliveryReport()
    sender = parseaddr(mail.sender)[1]
    done: set[int] = set()
    while rows := _due(db, due, batch, exclude=done):
        done.update(row.id for row in rows)
        transport = open_transport(mail, password)
        try:
            reachable = _send_batch(db, transport, rows, mail.sender, sender, clock, report)
        finally:
            transport.close()
        if not reachable or len(rows) < batch:
            break
    return report


def _due(db: Database, now: datetime, batch: int, exclude: set[int]) -> list[OutboxMessage]:
    """Up to ``batch`` pending, due messages, read in a short transaction and then detached."""
    query = (
        select(OutboxMessage)
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
    rows: list[OutboxMessage],
    from_header: str,
    sender: str,
    clock: Callable[[], datetime],
    report: DeliveryReport,
) -> bool:
    """Send ``rows`` over one transport; False when it became unreachable (the rest are put off)."""
    for position, row in enumerate(rows):
        try:
            message = build_message(row, from_header)
        except ValueError as error:
            _record_failure(db, row, error, clock(), report)
            continue
        try:
            transport.send(message, sender, parseaddr(row.recipient)[1])
        except Unavailable as error:
            for waiting in rows[position:]:
                _record_failure(db, waiting, error, clock(), report)
            return False
        except (smtplib.SMTPException, OSError) as error:
            _record_failure(db, row, error, clock(), report)
            continue
        # The server has the message. Should we crash before this commit, the message stays
        # pending and goes again next run: at most this one message is duplicated (at-least-once).
        _record_sent(db, row.id, clock())
        report.sent += 1
    return True


def _record_sent(db: Database, row_id: int, now: datetime) -> None:
    outbox = OutboxMessage.__table__
    with db.engine.begin() as connection:
        connection.execute(
            update(outbox)
            .where(outbox.c.id == row_id)
            .values(status="sent", sent_at=now, last_error=None, attempts=outbox.c.attempts + 1)
        )


def _record_failure(
    db: Database, row: OutboxMessage, error: BaseException, now: datetime, report: DeliveryReport
) -> None:
    """Put the message off with backoff, or fail it: refused for good, too many tries, too old."""
    reason = describe(error)
    with db.session() as session, session.begin():
        stored = session.get(OutboxMessage, row.id)
        if stored is None:
            return
        stored.attempts += 1
        stored.last_error = reason
        if not is_temporary(error):
            stored.status = "failed"
        elif stored.attempts >= MAX_ATTEMPTS or now - stored.created_at >= MAX_AGE:
            stored.status = "failed"
            stored.last_error = f"gave up after {stored.attempts} attempts: {reason}"
        else:
            stored.next_attempt_at = now + retry_delay(stored.attempts)
        failed = stored.status == "failed"
    if failed:
        report.failed += 1
    else:
        report.retrying += 1
    report.errors.append(f"{row.recipient} {row.message_id}: {reason}")
    log.warning("mail to %s %s: %s", row.recipient, row.message_id, reason)
