"""The mailer against a real SMTP server (aiosmtpd on 127.0.0.1) and a real Maildir."""

from __future__ import annotations

import asyncio
import email
import email.policy
import ipaddress
import json
import mailbox
import socket
import sqlite3
import ssl
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from sqlalchemy import select

from alerts.config import MailConfig
from alerts.mailer import deliver_outbox
from alerts.mime import build_message, message_bytes
from alerts.outbox import LEASE, claim, claim_all, lease_for, retry_delay
from scheduler.config import ConfigError, load_config
from scheduler.demo_flow import config_toml
from store.clock import fixed_clock
from store.db import Database
from store.models import OutboxMessage

T0 = datetime(2024, 5, 1, 7, 0, tzinfo=UTC)
SENDER = "newswatch <newswatch@localhost>"
SENDER_ADDRESS = MailConfig(sender=SENDER).sender  # as the config has it: parsed
TEXT = "3 new articles for syria\n\n* Raqqa: [Daesh] retreats\n  https://www.dw.com/en/a-18879446\n"
HTML = '<p>3 new articles for <b>syria</b></p><p><a href="https://www.dw.com/en/a-18879446">Raqqa</a></p>'


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    content: bytes
    peer: Any
    authenticated: bool
    tls: bool

    @property
    def message(self) -> EmailMessage:
        # as a mail client stores it: local line endings
        content = self.content.replace(b"\r\n", b"\n")
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


class Recorder:
    """An aiosmtpd handler that keeps what it accepts and can refuse on cue."""

    def __init__(
        self,
        *,
        rcpt_replies: dict[str, str] | None = None,
        data_replies: list[str] | None = None,
        close_after_data: bool = False,
        database: Path | None = None,
    ) -> None:
        self.rcpt_replies = rcpt_replies or {}
        self.data_replies = list(data_replies or [])
        self.close_after_data = close_after_data
        self.database = database
        self.received: list[Received] = []
        self.refused: list[Received] = []
        self.database_writable: list[bool] = []

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        if address in self.rcpt_replies:
            return self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        got = Received(
            envelope.mail_from,
            list(envelope.rcpt_tos),
            envelope.original_content or envelope.content,
            session.peer,
            bool(session.authenticated),
            session.ssl is not None,
        )
        if self.database is not None:
            self.database_writable.append(_can_write(self.database))
        if self.data_replies and not self.data_replies[0].startswith("250"):
            self.refused.append(got)
            return self.data_replies.pop(0)
        self.received.append(got)
        if self.close_after_data:  # a server that takes one message per connection
            asyncio.get_running_loop().call_soon(server.transport.close)
        return "250 2.0.0 queued"


def _can_write(path: Path) -> bool:
    """Whether another process could write to the database right now (SQLite: no writer)."""
    connection = sqlite3.connect(path, timeout=0.2)
    try:
        connection.execute("BEGIN IMMEDIATE")
        connection.rollback()
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        connection.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def smtp_server(handler: Recorder, port: int | None = None, **options: Any) -> Iterator[int]:
    controller = Controller(handler, hostname="127.0.0.1", port=port or free_port(), **options)
    controller.start()
    try:
        yield controller.port
    finally:
        controller.stop()


@pytest.fixture
def db(sqlite_url: str) -> Iterator[Database]:
    with Database(sqlite_url) as database:
        yield database


def queue(
    db: Database,
    recipient: str = "analyst@example.org",
    subject: str = "3 new articles for syria",
    *,
    created_at: datetime = T0,
    attempts: int = 0,
) -> OutboxMessage:
    row = OutboxMessage(
        message_id=f"<digest-{uuid.uuid4().hex}@newswatch>",
        recipient=recipient,
        subject=subject,
        text=TEXT,
        html=HTML,
        created_at=created_at,
        next_attempt_at=created_at,
        attempts=attempts,
    )
    with db.session() as session, session.begin():
        session.add(row)
    return row


def stored(db: Database, row: OutboxMessage) -> OutboxMessage:
    with db.session() as session:
        found = session.scalar(select(OutboxMessage).where(OutboxMessage.id == row.id))
        assert found is not None
        return found


def smtp(port: int, scheme: str = "smtp", user: str = "") -> MailConfig:
    at = f"{user}@" if user else ""
    return MailConfig(sender=SENDER, smtp_url=f"{scheme}://{at}127.0.0.1:{port}", timeout=5)


def authenticator(
    server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any
) -> AuthResult:
    ok = isinstance(auth_data, LoginPassword) and (auth_data.login, auth_data.password) == (
        b"digest",
        b"s3cret",
    )
    return AuthResult(success=ok, handled=False)  # aiosmtpd answers 535 on failure


# --- what arrives ---------------------------------------------------------------------------


def test_digest_arrives_as_text_then_html_with_its_headers(db: Database) -> None:
    row = queue(db, subject="Syrien: Rakka – Überblick")
    handler = Recorder()
    with smtp_server(handler) as port:
        report = deliver_outbox(db, smtp(port), clock=fixed_clock(T0))

    assert (report.sent, report.retrying, report.failed) == (1, 0, 0)
    [got] = handler.received
    assert got.mail_from == "newswatch@localhost"
    assert got.rcpt_tos == ["analyst@example.org"]
    message = got.message
    assert message.get_content_type() == "multipart/alternative"
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert [part.get_content_charset() for part in parts] == ["utf-8", "utf-8"]
    assert parts[0].get_content() == TEXT
    assert parts[1].get_content().strip() == HTML
    assert message["Message-ID"] == row.message_id
    assert message["Date"].datetime == T0
    assert message["From"] == SENDER
    assert message["To"] == "analyst@example.org"
    assert message["Subject"] == "Syrien: Rakka – Überblick"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message["X-Auto-Response-Suppress"] == "All"
    assert message["List-Unsubscribe"] == (
        "<mailto:newswatch@localhost?subject=unsubscribe%20analyst@example.org>"
    )
    assert "List-Unsubscribe-Post" not in message
    sent = stored(db, row)
    assert (sent.status, sent.sent_at, sent.last_error) == ("sent", T0, None)


def test_crlf_in_subject_adds_no_header(db: Database) -> None:
    queue(db, subject="3 new articles\r\nBcc: x@y")
    handler = Recorder()
    with smtp_server(handler) as port:
        deliver_outbox(db, smtp(port), clock=fixed_clock(T0))

    [got] = handler.received
    assert got.rcpt_tos == ["analyst@example.org"]
    assert "Bcc" not in got.message
    assert got.message["Subject"] == "3 new articles Bcc: x@y"
    assert b"\nBcc:" not in got.content


@pytest.mark.parametrize("breaker", ["\r\n", "\n", "\r", "\t", "\x00", "\x0b", "\x85", "\u2028"])
def test_no_control_or_line_break_character_reaches_the_subject(breaker: str) -> None:
    row = OutboxMessage(
        message_id="<digest-1@newswatch>",
        recipient="analyst@example.org",
        subject=f"Raqqa{breaker}Bcc: x@y",
        text=TEXT,
        html=HTML,
        created_at=T0,
    )
    raw = build_message(row, SENDER_ADDRESS).as_bytes()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert parsed["Subject"] == "Raqqa Bcc: x@y"
    assert "Bcc" not in parsed


def test_long_unsubscribe_address_stays_one_readable_url() -> None:
    recipient = "someone.with.a.rather.long.name@newsroom.department.example.org"
    row = OutboxMessage(
        message_id="<digest-1@newswatch>",
        recipient=recipient,
        subject="s",
        text=TEXT,
        html=HTML,
        created_at=T0,
    )
    parsed = email.message_from_bytes(
        build_message(row, SENDER_ADDRESS).as_bytes(), policy=email.policy.default
    )
    assert parsed["List-Unsubscribe"] == (
        f"<mailto:newswatch@localhost?subject=unsubscribe%20{recipient}>"
    )
    row.unsubscribe_url = "https://example.org/unsubscribe/" + "t" * 120  # one unbreakable URL
    raw = build_message(row, SENDER_ADDRESS).as_bytes()
    https = email.message_from_bytes(raw, policy=email.policy.default)
    assert https["List-Unsubscribe"] == (
        f"<{row.unsubscribe_url}>, <mailto:newswatch@localhost?subject=unsubscribe%20{recipient}>"
    )
    assert https["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # folded between the two entries only: the URL is on one line, whole
    assert f"List-Unsubscribe: <{row.unsubscribe_url}>,\r\n <mailto:".encode() in raw


# text that trips up a hand-made message: 8-bit, long lines, dot and "From " lines, blanks at
# line ends, "=" escapes, something that looks like a boundary, CR and CRLF line ends
ODD_TEXT = (
    "Syrien: Rakka – Überblick, “Zitat” 🙂\n"
    ".\n"
    ". a line starting with a dot\n"
    "..two dots\n"
    "From here on, a line mbox would mangle\n" + "long " * 40 + "\n" + "ü" * 120 + "\n"
    "trailing blanks \t \n"
    "=3D is no escape = \n"
    "--===============1234567890123456789== not a boundary\r\n"
    "\n"
    "an old Mac line\rthe end"
)
ODD_HTML = (
    "<p>" + "Überblick – “Zitat” " * 40 + "</p>\n.\nFrom here\n<p>🙂 ==</p>\n"
    "--===============1234567890123456789==\n"
)


def _parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw.replace(b"\r\n", b"\n"), policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


@pytest.mark.parametrize("linesep", ["\r\n", "\n"])
def test_message_bytes_parse_back_to_the_same_text_html_and_headers(linesep: str) -> None:
    row = OutboxMessage(
        message_id="<digest-1@newswatch>",
        recipient="analyst@example.org",
        subject="Syrien: Rakka – Überblick " * 5,
        text=ODD_TEXT,
        html=ODD_HTML,
        created_at=T0,
    )
    raw = message_bytes(row, SENDER_ADDRESS, linesep=linesep)

    assert raw.isascii()  # 7-bit: no relay needs 8BITMIME
    if linesep == "\n":
        assert b"\r" not in raw
    else:
        assert b"\n" not in raw.replace(b"\r\n", b"")
    body = raw.split(linesep.encode() * 2, 1)[1]
    assert all(len(line) <= 76 for line in body.split(linesep.encode()))
    message, reference = _parse(raw), _parse(build_message(row, SENDER_ADDRESS).as_bytes())
    assert message.get_content_type() == "multipart/alternative"
    assert message.defects == []
    parts = list(message.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert [part.get_content_charset() for part in parts] == ["utf-8", "utf-8"]
    assert all(part.defects == [] for part in parts)
    expected_text = ODD_TEXT.replace("\r\n", "\n").replace("\r", "\n") + "\n"
    assert parts[0].get_content() == expected_text
    assert parts[1].get_content().replace("\r\n", "\n") == ODD_HTML
    assert [part.get_content() for part in parts] == [
        part.get_content() for part in reference.iter_parts()
    ]
    names = [
        "Message-ID",
        "Date",
        "From",
        "To",
        "Subject",
        "Auto-Submitted",
        "X-Auto-Response-Suppress",
        "List-Unsubscribe",
        "MIME-Version",
    ]
    assert message.keys() == [*names, "Content-Type"] == reference.keys()
    assert [str(message[name]) for name in names] == [str(reference[name]) for name in names]
    assert message["Subject"] == ("Syrien: Rakka – Überblick " * 5).strip()


def test_odd_text_goes_through_smtp_and_into_a_maildir_unchanged(
    db: Database, tmp_path: Path
) -> None:
    with db.session() as session, session.begin():
        for n in range(2):
            session.add(
                OutboxMessage(
                    message_id=f"<digest-{n}@newswatch>",
                    recipient="analyst@example.org",
                    subject="Überblick",
                    text=ODD_TEXT,
                    html=ODD_HTML,
                    created_at=T0,
                    next_attempt_at=T0 + timedelta(minutes=n),
                )
            )
    handler = Recorder()
    with smtp_server(handler) as port:
        assert deliver_outbox(db, smtp(port), clock=fixed_clock(T0)).sent == 1
    folder = tmp_path / "mail"
    mail = MailConfig(sender=SENDER, smtp_url="", maildir=str(folder))
    assert deliver_outbox(db, mail, clock=fixed_clock(T0 + timedelta(minutes=1))).sent == 1
    box = mailbox.Maildir(folder, create=False)
    [key] = box.keys()

    expected_text = ODD_TEXT.replace("\r\n", "\n").replace("\r", "\n") + "\n"
    for message in (handler.received[0].message, _parse(box.get_bytes(key))):
        plain, html = message.get_body(("plain",)), message.get_body(("html",))
        assert plain is not None and html is not None
        assert plain.get_content() == expected_text
        assert html.get_content().replace("\r\n", "\n") == ODD_HTML
        assert message["Subject"] == "Überblick"


def test_recipient_with_a_line_break_fails_without_sending(db: Database) -> None:
    bad = queue(db, recipient="analyst@example.org\r\nBcc: x@y")
    good = queue(db)
    handler = Recorder()
    with smtp_server(handler) as port:
        report = deliver_outbox(db, smtp(port), clock=fixed_clock(T0))

    assert (report.sent, report.failed) == (1, 1)
    assert [got.rcpt_tos for got in handler.received] == [["analyst@example.org"]]
    assert stored(db, bad).status == "failed"
    assert "control characters" in (stored(db, bad).last_error or "")
    assert stored(db, good).status == "sent"


INTERNATIONAL = "анализ@example.org"


def test_an_international_recipient_goes_with_smtputf8_when_the_server_offers_it(
    db: Database,
) -> None:
    row = queue(db, recipient=INTERNATIONAL, subject="Syrien: Rakka – Überblick")
    handler = Recorder()
    with smtp_server(handler) as port:  # aiosmtpd's Controller announces SMTPUTF8
        report = deliver_outbox(db, smtp(port), clock=fixed_clock(T0))

    assert report.sent == 1
    [got] = handler.received
    assert got.rcpt_tos == [INTERNATIONAL]
    # SMTPUTF8: the address is written as it is, not as encoded words
    assert f"To: {INTERNATIONAL}\r\n".encode() in got.content
    assert got.message["To"] == INTERNATIONAL
    assert got.message["Subject"] == "Syrien: Rakka – Überblick"
    assert got.message["Message-ID"] == row.message_id
    assert stored(db, row).status == "sent"


def test_an_international_recipient_fails_for_good_on_a_server_without_smtputf8(
    db: Database,
) -> None:
    row = queue(db, recipient=INTERNATIONAL)
    good = queue(db)
    handler = Recorder()
    with smtp_server(handler, enable_SMTPUTF8=False) as port:
        report = deliver_outbox(db, smtp(port), clock=fixed_clock(T0))

    assert (report.sent, report.failed) == (1, 1)
    assert [got.rcpt_tos for got in handler.received] == [["analyst@example.org"]]
    assert stored(db, row).status == "failed"
    assert "SMTPUTF8" in (stored(db, row).last_error or "")
    assert stored(db, good).status == "sent"


def test_an_international_recipient_in_a_maildir_is_7bit_and_reads_back(
    db: Database, tmp_path: Path
) -> None:
    queue(db, recipient=INTERNATIONAL)
    folder = tmp_path / "mail"
    mail = MailConfig(sender=SENDER, smtp_url="", maildir=str(folder))
    assert deliver_outbox(db, mail, clock=fixed_clock(T0)).sent == 1
    box = mailbox.Maildir(folder, create=False)
    [key] = box.keys()
    raw = box.get_bytes(key)
    assert raw.isascii()
    assert _parse(raw)["To"] == INTERNATIONAL


# --- temporary trouble: nothing lost, nothing twice -----------------------------------------


def test_smtp_down_keeps_the_message_then_delivers_it_once(db: Database) -> None:
    row = queue(db)
    port = free_port()  # nothing listens here yet
    report = deliver_outbox(db, smtp(port), clock=fixed_clock(T0))

    assert (report.sent, report.retrying, report.failed) == (0, 1, 0)
    waiting = stored(db, row)
    assert (waiting.status, waiting.attempts) == ("pending", 1)
    assert waiting.next_attempt_at == T0 + timedelta(minutes=1)
    assert "ConnectionRefusedError" in (waiting.last_error or "")
    assert "Connection" in report.errors[0]

    handler = Recorder()
    with smtp_server(handler, port=port):
        early = deliver_outbox(db, smtp(port), clock=fixed_clock(T0 + timedelta(seconds=30)))
        due = deliver_outbox(db, smtp(port), clock=fixed_clock(T0 + timedelta(minutes=2)))
        again = deliver_outbox(db, smtp(port), clock=fixed_clock(T0 + timedelta(hours=1)))

    assert (early.sent, due.sent, again.sent) == (0, 1, 0)
    assert [got.message["Message-ID"] for got in handler.received] == [row.message_id]
    assert stored(db, row).status == "sent"


def test_451_then_250_delivers_exactly_one_message_with_the_same_message_id(
    db: Database,
) -> None:
    row = queue(db)
    handler = Recorder(data_replies=["451 4.7.1 greylisted, try again later"])
    with smtp_server(handler) as port:
        first = deliver_outbox(db, smtp(port), clock=fixed_clock(T0))
        waiting = stored(db, row)
        second = deliver_outbox(db, smtp(port), clock=fixed_clock(waiting.next_attempt_at))

    assert (first.retrying, second.sent) == (1, 1)
    assert waiting.status == "pending"
    assert (waiting.last_error or "").startswith("451 4.7.1 greylisted")
    assert len(handler.received) == 1
    assert handler.refused[0].message["Message-ID"] == row.message_id
    assert handler.received[0].message["Message-ID"] == row.message_id
    assert handler.received[0].message["Date"] == handler.refused[0].message["Date"]


def test_backoff_doubles_from_one_minute_up_to_an_hour() -> None:
    assert [retry_delay(n) for n in (1, 2, 3, 4)] == [timedelta(minutes=m) for m in (1, 2, 4, 8)]
    assert retry_delay(6) == timedelta(minutes=32)
    assert retry_delay(7) == retry_delay(500) == timedelta(hours=1)


def test_gives_up_after_give_up_after_however_many_attempts_it_took(db: Database) -> None:
    tired = queue(db, attempts=500, created_at=T0 - timedelta(days=4, hours=23, minutes=50))
    old = queue(db, attempts=3, created_at=T0 - timedelta(days=5))
    requeued = queue(db, created_at=T0 - timedelta(days=9))
    with db.session() as session, session.begin():  # `send --retry` restarted its count
        session.get(OutboxMessage, requeued.id).requeued_at = T0 - timedelta(days=1)
    report = deliver_outbox(db, smtp(free_port()), clock=fixed_clock(T0))

    assert (report.failed, report.retrying) == (1, 2)
    waiting = stored(db, tired)
    assert (waiting.status, waiting.attempts) == ("pending", 501)
    # the last try is due when give_up_after ends, not an hour of backoff later
    assert waiting.next_attempt_at == T0 + timedelta(minutes=10)
    assert stored(db, old).status == "failed"
    assert (stored(db, old).last_error or "").startswith("gave up after 5d and 4 attempts: ")
    assert "ConnectionRefusedError" in (stored(db, old).last_error or "")
    assert stored(db, requeued).status == "pending"


# --- permanent refusal: that message only ---------------------------------------------------


def test_550_for_one_recipient_fails_that_message_and_delivers_the_others(db: Database) -> None:
    first = queue(db, "first@example.org")
    gone = queue(db, "gone@example.org")
    last = queue(db, "last@example.org")
    handler = Recorder(
        rcpt_replies={"gone@example.org": "550 5.1.1 <gone@example.org>: no such user"}
    )
    with smtp_server(handler) as port:
        report = deliver_outbox(db, smtp(port), clock=fixed_clock(T0))
        later = deliver_outbox(db, smtp(port), clock=fixed_clock(T0 + timedelta(days=1)))

    assert (report.sent, report.retrying, report.failed) == (2, 0, 1)
    assert later.sent == later.failed == 0
    assert [got.rcpt_tos for got in handler.received] == [
        ["first@example.org"],
        ["last@example.org"],
    ]
    assert len({got.peer for got in handler.received}) == 1  # one connection for the batch
    failed = stored(db, gone)
    assert failed.status == "failed"
    assert failed.last_error == "550 5.1.1 <gone@example.org>: no such user"
    assert stored(db, first).status == stored(db, last).status == "sent"
    assert "gone@example.org" in report.errors[0] and "550" in report.errors[0]


# --- connections ----------------------------------------------------------------------------


def test_server_dropping_the_connection_mid_batch_is_reconnected(db: Database) -> None:
    rows = [queue(db, f"reader{n}@example.org") for n in range(3)]
    handler = Recorder(close_after_data=True)
    with smtp_server(handler) as port:
        report = deliver_outbox(db, smtp(port), clock=fixed_clock(T0))

    assert report.sent == 3
    assert [got.rcpt_tos[0] for got in handler.received] == [row.recipient for row in rows]
    assert len({got.peer for got in handler.received}) == 3


def test_421_closes_the_connection_and_the_rest_go_over_a_new_one(db: Database) -> None:
    busy = queue(db, "busy@example.org")
    rest = [queue(db, f"reader{n}@example.org") for n in range(2)]
    handler = Recorder(data_replies=["421 4.3.2 service shutting down"])
    with smtp_server(handler) as port:
        report = deliver_outbox(db, smtp(port), clock=fixed_clock(T0))

    assert (report.sent, report.retrying) == (2, 1)
    assert stored(db, busy).status == "pending"
    assert (stored(db, busy).last_error or "").startswith("421")
    assert all(stored(db, row).status == "sent" for row in rest)


def test_no_database_write_lock_is_held_while_sending(db: Database, tmp_path: Path) -> None:
    for n in range(3):
        queue(db, f"reader{n}@example.org")
    handler = Recorder(database=tmp_path / "newswatch.db")
    with smtp_server(handler) as port:
        assert deliver_outbox(db, smtp(port), clock=fixed_clock(T0)).sent == 3
    assert handler.database_writable == [True, True, True]


def test_batches_each_use_one_connection_and_all_due_messages_go(db: Database) -> None:
    for n in range(5):
        queue(db, f"reader{n}@example.org", created_at=T0 + timedelta(seconds=n))
    handler = Recorder()
    with smtp_server(handler) as port:
        report = deliver_outbox(
            db, smtp(port), clock=fixed_clock(T0 + timedelta(minutes=1)), batch=2
        )

    assert report.sent == 5
    assert [got.rcpt_tos[0] for got in handler.received] == [
        f"reader{n}@example.org" for n in range(5)
    ]
    assert len({got.peer for got in handler.received}) == 3


@pytest.mark.parametrize("transport", ["smtp", "maildir"])
def test_two_senders_at_once_deliver_each_message_exactly_once(
    sqlite_url: str, tmp_path: Path, transport: str
) -> None:
    """`newswatch send` while the service sends: each claims a message before sending it."""
    with Database(sqlite_url) as setup:
        rows = [queue(setup, f"reader{n}@example.org") for n in range(20)]
    handler = Recorder()
    folder = tmp_path / "mail"
    start = threading.Barrier(2, timeout=30)
    reports = []

    def sender(own: Database, mail: MailConfig) -> None:
        start.wait()
        reports.append(deliver_outbox(own, mail, clock=fixed_clock(T0)))

    # each sender with its own engine and connections, as two processes would have
    with Database(sqlite_url) as one, Database(sqlite_url) as two, smtp_server(handler) as port:
        if transport == "smtp":
            mail = smtp(port)
        else:
            mail = MailConfig(sender=SENDER, smtp_url="", maildir=str(folder))
        threads = [threading.Thread(target=sender, args=(own, mail)) for own in (one, two)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert not any(thread.is_alive() for thread in threads)

    if transport == "smtp":
        delivered = [got.message["Message-ID"] for got in handler.received]
    else:
        box = mailbox.Maildir(folder, create=False)
        delivered = [message["Message-ID"] for message in box]
    assert sorted(delivered) == sorted(row.message_id for row in rows)
    assert sum(report.sent for report in reports) == 20
    assert all(report.retrying == report.failed == 0 for report in reports)
    with Database(sqlite_url) as check:
        assert {stored(check, row).status for row in rows} == {"sent"}
        assert {stored(check, row).attempts for row in rows} == {1}


def test_a_sender_dying_after_its_claim_delays_the_message_by_the_lease_only(
    db: Database,
) -> None:
    row = queue(db)
    assert claim(db, row.id, T0, LEASE) is not None  # ... and then the sender is gone
    handler = Recorder()
    with smtp_server(handler) as port:
        meanwhile = deliver_outbox(
            db, smtp(port), clock=fixed_clock(T0 + LEASE - timedelta(seconds=1))
        )
        after = deliver_outbox(db, smtp(port), clock=fixed_clock(T0 + LEASE))

    assert (meanwhile.sent, after.sent) == (0, 1)
    assert [got.message["Message-ID"] for got in handler.received] == [row.message_id]
    assert (stored(db, row).status, stored(db, row).attempts) == ("sent", 1)


def test_a_slow_batch_renews_its_claim_and_sends_each_message_once(
    db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Every look at the clock is 3/10 of a lease later: the batch outlasts its first claim, and
    each message is still ours (its lease not run out) when it goes."""
    rows = [queue(db, f"reader{n}@example.org") for n in range(3)]
    seen: list[datetime] = []
    lease = lease_for(smtp(0))

    def clock() -> datetime:
        seen.append(T0 + lease * 3 / 10 * len(seen))
        return seen[-1]

    held: list[bool] = []

    class Watching(Recorder):
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            [row] = [row for row in rows if row.recipient == envelope.rcpt_tos[0]]
            held.append(stored(db, row).next_attempt_at > seen[-1])
            return await super().handle_DATA(server, session, envelope)

    handler = Watching()
    with smtp_server(handler) as port:
        report = deliver_outbox(db, smtp(port), clock=clock)

    assert (report.sent, report.retrying, report.failed) == (3, 0, 0)
    assert [got.rcpt_tos[0] for got in handler.received] == [row.recipient for row in rows]
    assert held == [True, True, True]
    assert seen[-1] > T0 + 2 * lease  # long after the first claim ran out
    assert {(stored(db, row).status, stored(db, row).attempts) for row in rows} == {("sent", 1)}
    assert "sent twice" not in caplog.text


def test_a_claim_is_renewed_only_while_this_sender_holds_it(db: Database) -> None:
    mine, lost = queue(db, "mine@example.org"), queue(db, "lost@example.org")
    claimed = claim_all(db, [mine.id, lost.id], T0, LEASE)
    assert [row.id for row in claimed] == [mine.id, lost.id]
    assert claim_all(db, [mine.id, lost.id], T0, LEASE) == []  # nobody claims them twice
    # our lease on `lost` runs out and another sender takes it over
    assert claim(db, lost.id, T0 + LEASE, LEASE) is not None
    renewed = claim_all(db, [mine.id, lost.id], T0 + LEASE / 2, LEASE, held=T0 + LEASE)
    assert [(row.id, row.next_attempt_at) for row in renewed] == [(mine.id, T0 + LEASE * 3 / 2)]
    assert claim_all(db, [mine.id], T0 + LEASE, LEASE, held=T0 + LEASE) == []  # stale lease


# --- authentication and TLS -----------------------------------------------------------------

# aiosmtpd warns about AUTH without TLS; here the tests want exactly that
no_tls_auth = pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")


@no_tls_auth
def test_plain_smtp_authenticates_with_the_given_password(db: Database) -> None:
    queue(db)
    handler = Recorder()
    with smtp_server(
        handler, authenticator=authenticator, auth_required=True, auth_require_tls=False
    ) as port:
        report = deliver_outbox(
            db, smtp(port, user="digest"), clock=fixed_clock(T0), password="s3cret"
        )

    assert report.sent == 1
    assert handler.received[0].authenticated


def mail_from_config_file(path: Path, port: int) -> MailConfig:
    """The [mail] settings as the commands get them: the file, then the environment."""
    path.write_text(f'[mail]\nsmtp_url = "smtp://digest@127.0.0.1:{port}"\ntimeout = 5\n')
    return load_config(path, required=True).mail


@no_tls_auth
def test_password_comes_from_the_environment_and_a_wrong_one_retries(
    db: Database, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    row = queue(db)
    handler = Recorder()
    config_file = tmp_path / "newswatch.toml"
    with smtp_server(
        handler, authenticator=authenticator, auth_required=True, auth_require_tls=False
    ) as port:
        monkeypatch.setenv("NEWSWATCH_SMTP_PASSWORD", "wrong")
        refused = deliver_outbox(
            db, mail_from_config_file(config_file, port), clock=fixed_clock(T0)
        )
        monkeypatch.setenv("NEWSWATCH_SMTP_PASSWORD", "s3cret")
        accepted = deliver_outbox(
            db,
            mail_from_config_file(config_file, port),
            clock=fixed_clock(T0 + timedelta(minutes=1)),
        )

    assert (refused.retrying, accepted.sent) == (1, 1)
    assert "535" in refused.errors[0]
    assert len(handler.received) == 1
    assert stored(db, row).attempts == 2


@pytest.fixture
def tls_certificate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """A self-signed certificate for 127.0.0.1 that this process's TLS clients trust."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(datetime.now(UTC) - timedelta(days=1))
        .not_valid_after(datetime.now(UTC) + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # read by ssl.create_default_context()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


def test_starttls_then_auth(db: Database, tls_certificate: ssl.SSLContext) -> None:
    queue(db)
    handler = Recorder()
    with smtp_server(
        handler,
        tls_context=tls_certificate,
        require_starttls=True,
        authenticator=authenticator,
        auth_required=True,
    ) as port:
        report = deliver_outbox(
            db, smtp(port, "smtp+starttls", user="digest"), clock=fixed_clock(T0), password="s3cret"
        )

    assert report.sent == 1, report.errors
    assert handler.received[0].tls and handler.received[0].authenticated


@no_tls_auth  # aiosmtpd does not count implicit TLS as TLS for AUTH; the socket is TLS all the same
def test_smtps_then_auth(db: Database, tls_certificate: ssl.SSLContext) -> None:
    queue(db)
    handler = Recorder()
    with smtp_server(
        handler,
        ssl_context=tls_certificate,
        authenticator=authenticator,
        auth_required=True,
        auth_require_tls=False,
    ) as port:
        report = deliver_outbox(
            db, smtp(port, "smtps", user="digest"), clock=fixed_clock(T0), password="s3cret"
        )

    assert report.sent == 1, report.errors
    assert handler.received[0].authenticated


def test_untrusted_certificate_is_not_used_and_the_message_waits(
    db: Database, tls_certificate: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = queue(db)
    monkeypatch.delenv("SSL_CERT_FILE")
    handler = Recorder()
    with smtp_server(handler, tls_context=tls_certificate, require_starttls=True) as port:
        report = deliver_outbox(db, smtp(port, "smtp+starttls"), clock=fixed_clock(T0))

    assert (report.sent, report.retrying) == (0, 1)
    assert handler.received == []
    assert "CERTIFICATE_VERIFY_FAILED" in (stored(db, row).last_error or "")


# --- Maildir --------------------------------------------------------------------------------


def test_maildir_delivery_is_readable_with_both_parts(db: Database, tmp_path: Path) -> None:
    row = queue(db)
    folder = tmp_path / "mail"
    mail = MailConfig(sender=SENDER, smtp_url="", maildir=str(folder))
    report = deliver_outbox(db, mail, clock=fixed_clock(T0))

    assert report.sent == 1
    assert all((folder / sub).is_dir() for sub in ("cur", "new", "tmp"))
    box = mailbox.Maildir(folder, create=False)
    [key] = box.keys()
    raw = box.get_bytes(key)
    assert b"\r\n" not in raw
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, EmailMessage)
    assert message["Message-ID"] == row.message_id
    plain = message.get_body(("plain",))
    html = message.get_body(("html",))
    assert plain is not None and html is not None
    assert plain.get_content() == TEXT
    assert "<b>syria</b>" in html.get_content()
    assert stored(db, row).status == "sent"


def test_user_without_password_waits_instead_of_sending_unauthenticated(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    row = queue(db)
    # the mailer reads no environment: the password reaches it only through the config
    monkeypatch.setenv("NEWSWATCH_SMTP_PASSWORD", "s3cret")
    handler = Recorder()
    with smtp_server(handler) as port:
        report = deliver_outbox(db, smtp(port, user="digest"), clock=fixed_clock(T0))

    assert (report.sent, report.retrying) == (0, 1)
    assert handler.received == []
    assert "NEWSWATCH_SMTP_PASSWORD" in (stored(db, row).last_error or "")


# --- the password: environment -> config -> mailer, and nowhere else ------------------------


def test_password_in_the_config_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "newswatch.toml"
    path.write_text('[mail]\nsmtp_url = "smtp://digest@mail.example.org"\npassword = "s3cret"\n')
    with pytest.raises(ConfigError) as refused:
        load_config(path, required=True)
    assert "mail.password" in str(refused.value)
    assert "NEWSWATCH_SMTP_PASSWORD" in str(refused.value)
    assert "s3cret" not in str(refused.value)


def test_password_from_the_environment_is_never_shown_or_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "newswatch.toml"
    path.write_text('[mail]\nsmtp_url = "smtp://digest@mail.example.org"\n')
    monkeypatch.setenv("NEWSWATCH_SMTP_PASSWORD", "s3cret")
    config = load_config(path, required=True)

    assert config.mail.password is not None
    assert config.mail.password.get_secret_value() == "s3cret"
    for shown in (
        repr(config),
        str(config),
        config.model_dump_json(),
        str(config.model_dump()),
        str(config.model_dump(mode="json")),
        config_toml(config),
    ):
        assert "s3cret" not in shown
    assert "password" not in config.model_dump(mode="json")["mail"]
    written = tmp_path / "written.toml"
    written.write_text(config_toml(config))
    assert load_config(written, required=True).mail.smtp_url == config.mail.smtp_url


# --- the sender: parsed once, where the config is read --------------------------------------


@pytest.mark.parametrize(
    "sender", ["newswatch", "newswatch <>", "a@b@c", "alerts <a@>", "x\ny <a@b.org>"]
)
def test_a_sender_that_is_no_address_is_a_one_line_config_error(
    tmp_path: Path, sender: str
) -> None:
    path = tmp_path / "newswatch.toml"
    path.write_text(f"[mail]\nsender = {json.dumps(sender)}\n")
    with pytest.raises(ConfigError) as refused:
        load_config(path, required=True)
    assert "mail.sender" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_the_sender_is_written_back_as_it_was_given(tmp_path: Path) -> None:
    path = tmp_path / "newswatch.toml"
    sender = '"Newswatch, DW desk" <alerts@example.org>'
    path.write_text(f"[mail]\nsender = {json.dumps(sender)}\n")
    config = load_config(path, required=True)
    written = tmp_path / "written.toml"
    written.write_text(config_toml(config))
    assert f"sender = {json.dumps(sender)}" in written.read_text()
    assert load_config(written, required=True).mail.sender == config.mail.sender


def test_the_senders_address_is_the_envelope_sender_and_its_name_is_shown(
    db: Database,
) -> None:
    row = queue(db)
    handler = Recorder()
    sender = '"Newswatch, DW desk" <alerts@example.org>'
    with smtp_server(handler) as port:
        mail = MailConfig(sender=sender, smtp_url=f"smtp://127.0.0.1:{port}", timeout=5)
        assert deliver_outbox(db, mail, clock=fixed_clock(T0)).sent == 1

    [got] = handler.received
    assert got.mail_from == "alerts@example.org"
    assert got.message["From"] == sender
    assert got.message["From"].addresses[0].display_name == "Newswatch, DW desk"
    assert got.message["List-Unsubscribe"] == (
        "<mailto:alerts@example.org?subject=unsubscribe%20analyst@example.org>"
    )
    assert stored(db, row).status == "sent"
