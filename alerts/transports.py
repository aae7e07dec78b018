"""How a message goes out: over SMTP (plain, SMTPS, STARTTLS; optional AUTH) or into a local
Maildir, and what a failed send says about the message.

Each SMTP exchange has a known outcome, or is known to have none: connecting, the greeting and
every command wait ``mail.timeout`` for the server; the reply to the end of the message waits
``mail.data_timeout`` (RFC 5321 4.5.3.2.6 gives it 10 minutes). A connection that drops, or a
reply that does not come, after the whole message went is a *lost outcome* (`OutcomeUnknown`):
the server may have taken the message. Before the end of the message went, it is a temporary
failure: a server must not deliver a message whose end it did not see. `failure_of` sorts a
send's exception into the `alerts.outbox.Failure` the outbox records, `describe` says it in
one line.
"""

from __future__ import annotations

import contextlib
import mailbox
import re
import smtplib
import ssl
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

from alerts.config import MailConfig
from alerts.outbox import Failure

PASSWORD_ENV = MailConfig.ENV_PASSWORD  # named in messages; scheduler.config reads it
DEFAULT_PORTS = {"smtp": 25, "smtps": 465, "smtp+starttls": 587}
_LINE_START_DOT = re.compile(rb"(?m)^\.")


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
