"""Deliver the outbox: by SMTP (plain, SMTPS, STARTTLS; optional AUTH) or into a local Maildir.

Pending messages go out oldest first, one connection per batch; `alerts.outbox` says what
becomes of a message whose send fails, and how senders share the outbox. Every outcome is
committed on its own, and no database transaction stays open while the network is in use.

Each SMTP exchange has a known outcome, or is known to have none: connecting, the greeting and
every command wait ``mail.timeout`` for the server; the reply to the end of the message waits
``mail.data_timeout`` (RFC 5321 4.5.3.2.6 gives it 10 minutes). A connection that drops, or a
reply that does not come, after the whole message went is a *lost outcome* (`OutcomeUnknown`):
the server may have taken the message. Before the end of the message went, it is a temporary
failure: a server must not deliver a message whose end it did not see.

Copies can arrive twice only from the sends of a message whose outcome was lost (at most
``mail.uncertain_retries`` more, see `alerts.outbox`), and from a sender killed after the server
accepted a message and before it recorded so: the message goes again when its claim runs out.
"""

from __future__ import annotations

import contextlib
import logging
import mailbox
import re
import smtplib
import ssl
from dataclasses import dataclass, field
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from alerts.config import MailConfig
from alerts.mime import mail_address, message_bytes
from alerts.outbox import (
    Failure,
    claim_all,
    due,
    lease_for,
    record_failure,
    record_sent,
)
from store.clock import Clock
from store.db import Database
from store.models import OutboxMessage
from store.models import OutboxStatus as Status

log = logging.getLogger(__name__)

PASSWORD_ENV = MailConfig.ENV_PASSWORD  # named in messages; scheduler.config reads it
DEFAULT_PORTS = {"smtp": 25, "smtps": 465, "smtp+starttls": 587}
_LINE_START_DOT = re.compile(rb"(?m)^\.")


@dataclass
class DeliveryReport:
    """What one run of the mailer did; ``errors`` has one line per message that did not go."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    uncertain: int = 0  # left uncertain: the server may have them, they are not sent again
    returned: int = 0  # matches of failed messages, given back to the subscribers' next digests
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        counts = (
            f"sent {self.sent}, retrying {self.retrying}, failed {self.failed}, "
            f"uncertain {self.uncertain}"
        )
        if self.returned:
            counts += f" ({self.returned} matches go into the next digests)"
        return counts


class Unavailable(Exception):
    """No connection to the mail server (or no Maildir): nothing in this batch can go now."""


class OutcomeUnknown(Exception):
    """The whole message went, and the server's reply to it never came: it may have arrived."""


class Transport(Protocol):
    # how the message is written for this transport: line ends, and whether a non-ASCII address
    # is written as UTF-8 (SMTPUTF8) rather than as RFC 2047 encoded words
    linesep: str
    utf8_addresses: bool

    def send(self, message: bytes, sender: str, recipient: str) -> None: ...

    def close(self) -> None: ...


def failure_of(error: BaseException, recipient: str) -> Failure:
    """What a send's exception says about the message (see `alerts.outbox.Failure`)."""
    if isinstance(error, OutcomeUnknown):
        return Failure.LOST
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in error.recipients.values()]
        return Failure.TEMPORARY if all(400 <= c < 500 for c in codes) else Failure.REFUSED
    if isinstance(error, smtplib.SMTPNotSupportedError):
        # an internationalised address the server cannot take: the recipient's, or ours
        return Failure.PERMANENT if recipient.isascii() else Failure.REFUSED
    if isinstance(error, smtplib.SMTPResponseException):
        return Failure.PERMANENT if 500 <= error.smtp_code < 600 else Failure.TEMPORARY
    if isinstance(error, smtplib.SMTPException | OSError | Unavailable):
        return Failure.TEMPORARY
    return Failure.PERMANENT


def describe(error: BaseException) -> str:
    """``"550 5.1.1 no such user"`` for SMTP replies, the exception otherwise."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(error.recipients.values()), (0, "recipient refused"))
        return f"{code} {_text(reply)}"
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.smtp_code} {_text(error.smtp_error)}"
    if isinstance(error, Unavailable | OutcomeUnknown) and error.__cause__ is not None:
        return f"{error}: {describe(error.__cause__)}"
    if isinstance(error, Unavailable | OutcomeUnknown):
        return str(error)
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def _text(reply: bytes | str) -> str:
    return reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply


class SmtpTransport:
    """One SMTP connection, opened on first use and reopened when the server has dropped it."""

    linesep = "\r\n"
    utf8_addresses = True

    def __init__(
        self, url: str, timeout: float, password: str | None, data_timeout: float = 600.0
    ) -> None:
        parts = urlsplit(url)
        self.scheme = parts.scheme
        self.host = parts.hostname or "localhost"
        self.port = parts.port or DEFAULT_PORTS[self.scheme]
        self.user = unquote(parts.username) if parts.username else None
        self.password = password
        self.timeout = timeout
        self.data_timeout = data_timeout
        self.smtp: smtplib.SMTP | None = None

    def send(self, message: bytes, sender: str, recipient: str) -> None:
        """Send the serialised ``message`` (CRLF line ends) as smtplib's ``sendmail`` would:
        with SMTPUTF8 when an address is not ASCII, if the server can take it, and SIZE. Raises
        `OutcomeUnknown` when the whole message went and its reply did not come."""
        smtp = self._connection()
        options: list[str] = []
        if not (sender + recipient).isascii():
            if not smtp.has_extn("smtputf8"):
                raise smtplib.SMTPNotSupportedError(
                    "an address needs SMTPUTF8, which the server does not announce"
                )
            options += ["SMTPUTF8", "BODY=8BITMIME"]
        if smtp.does_esmtp and smtp.has_extn("size"):
            options.append(f"SIZE={len(message)}")
        try:
            self._transaction(smtp, message, sender, recipient, options)
        except BaseException:
            if smtp.sock is None:  # smtplib closed it (421, or the server went away)
                self.smtp = None
            raise

    def _transaction(
        self, smtp: smtplib.SMTP, message: bytes, sender: str, recipient: str, options: list[str]
    ) -> None:
        """MAIL, RCPT, DATA, the message, and the reply to it, each step's failure raised as
        smtplib's ``sendmail`` raises it."""
        code, reply = smtp.mail(sender, options)
        if code != 250:
            _abandon(smtp, code)
            raise smtplib.SMTPSenderRefused(code, reply, sender)
        code, reply = smtp.rcpt(recipient)
        if code not in (250, 251):
            _abandon(smtp, code)
            raise smtplib.SMTPRecipientsRefused({recipient: (code, reply)})
        smtp.putcmd("data")
        code, reply = smtp.getreply()
        if code != 354:
            _abandon(smtp, code)
            raise smtplib.SMTPDataError(code, reply)
        payload = _LINE_START_DOT.sub(b"..", message)  # RFC 5321 4.5.2 transparency
        if not payload.endswith(b"\r\n"):
            payload += b"\r\n"
        # a failure while this goes (SMTPServerDisconnected) is temporary: the end did not go
        smtp.send(payload + b".\r\n")
        # The server has the whole message now: only its reply tells whether it took it.
        if smtp.sock is not None:
            smtp.sock.settimeout(self.data_timeout)
        try:
            code, reply = smtp.getreply()
        except (smtplib.SMTPException, OSError) as error:
            smtp.close()
            if isinstance(error.__context__, TimeoutError):
                lost = f"no reply to the end of the message within {self.data_timeout:g}s"
            else:
                lost = "the connection closed after the end of the message, before the reply"
            raise OutcomeUnknown(f"{lost}: it may have arrived") from error
        if smtp.sock is not None:
            smtp.sock.settimeout(self.timeout)
        if not 200 <= code < 300:
            if not 400 <= code < 600:  # no reply code at all: say nothing either way
                smtp.close()
                raise OutcomeUnknown(f"an unreadable reply to the end of the message: {reply!r}")
            _abandon(smtp, code)
            raise smtplib.SMTPDataError(code, reply)

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


def _abandon(smtp: smtplib.SMTP, code: int) -> None:
    """After a refused step: hang up on a 421 (the server is closing), else RSET, as
    ``sendmail`` does."""
    if code == 421:
        smtp.close()
        return
    with contextlib.suppress(smtplib.SMTPServerDisconnected):
        smtp.rset()


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
        return SmtpTransport(mail.smtp_url, mail.timeout, password, mail.data_timeout)
    return MaildirTransport(mail.maildir)


def deliver_outbox(
    db: Database,
    mail: MailConfig,
    *,
    clock: Clock,
    password: str | None = None,
    batch: int = 200,
) -> DeliveryReport:
    """Send every pending message that is due when it starts, oldest first; every time it
    records (claims, outcomes) is read from ``clock``.

    The SMTP password is ``mail.password`` (scheduler.config fills it from the environment);
    ``password`` overrides it. Batches of ``batch`` messages share one connection; when the
    server cannot be reached, the rest of the run waits for the next one. Messages another
    sender has claimed are left to it."""
    if password is None and mail.password is not None:
        password = mail.password.get_secret_value()
    started = clock()
    lease = lease_for(mail)
    report = DeliveryReport()
    sender = parseaddr(mail.sender)[1]
    done: set[int] = set()
    while ids := due(db, started, batch, exclude=done):
        done.update(ids)
        transport = open_transport(mail, password)
        try:
            reachable = _send_batch(db, transport, ids, mail, sender, clock, lease, report)
        finally:
            transport.close()
        if not reachable or len(ids) < batch:
            break
    return report


def _send_batch(
    db: Database,
    transport: Transport,
    ids: list[int],
    mail: MailConfig,
    sender: str,
    clock: Clock,
    lease: timedelta,
    report: DeliveryReport,
) -> bool:
    """Claim the messages ``ids`` and send them over one transport, in that order; False when it
    became unreachable (the rest are put off). Messages another sender holds are left to it."""
    rows = claim_all(db, ids, clock(), lease)
    position = 0
    while position < len(rows):
        row = rows[position]
        now = clock()
        if now >= row.next_attempt_at - lease / 2:
            # a slow batch: renew the claim on the rest before it can run out under us
            rest = [waiting.id for waiting in rows[position:]]
            rows[position:] = claim_all(db, rest, now, lease, held=row.next_attempt_at)
            continue
        position += 1
        try:
            recipient = mail_address(row.recipient, "recipient")
        except ValueError as error:
            _failed(db, row, Failure.REFUSED, str(error), clock, mail, report)
            continue
        international = transport.utf8_addresses and not (sender + recipient).isascii()
        try:
            message = message_bytes(row, mail.sender, linesep=transport.linesep, utf8=international)
        except ValueError as error:
            _failed(db, row, Failure.PERMANENT, str(error), clock, mail, report)
            continue
        try:
            transport.send(message, sender, recipient)
        except Unavailable as error:
            for waiting in rows[position - 1 :]:
                _failed(db, waiting, Failure.TEMPORARY, describe(error), clock, mail, report)
            return False
        except (smtplib.SMTPException, OSError, OutcomeUnknown) as error:
            _failed(db, row, failure_of(error, recipient), describe(error), clock, mail, report)
            continue
        # The server has the message. Should we die before this commit, the message stays
        # pending and goes again when the lease ends: at most this one message is duplicated
        # (at-least-once).
        record_sent(db, row, clock())
        report.sent += 1
    return True


def _failed(
    db: Database,
    row: OutboxMessage,
    failure: Failure,
    reason: str,
    clock: Clock,
    mail: MailConfig,
    report: DeliveryReport,
) -> None:
    settled = record_failure(db, row, failure, reason, clock(), mail)
    if settled is None:  # another sender took it over
        return
    if settled.status is Status.PENDING:
        report.retrying += 1
    elif settled.status is Status.UNCERTAIN:
        report.uncertain += 1
    else:
        report.failed += 1
    report.returned += settled.returned
    report.errors.append(f"{row.recipient} {row.message_id}: {settled.last_error}")
    log.warning("mail to %s %s: %s", row.recipient, row.message_id, settled.last_error)
