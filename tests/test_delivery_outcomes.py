"""Deliveries with a known outcome, and nothing lost to a long outage: real SMTP peers on
loopback (aiosmtpd), a closed loopback port for an outage, clocks moved through days (passed
down in-process, libfaketime for the command line)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from alerts.config import MailConfig, SubscriberConfig
from alerts.digest import build_digests
from alerts.mailer import DeliveryReport, deliver_outbox
from alerts.match_stage import match_articles
from alerts.outbox import LEASE, claim
from alerts.requeue import acknowledge, requeue
from scheduler.cli import main
from scheduler.config import AppConfig
from scheduler.health import health_problems
from scheduler.status_queries import collect_status
from scheduler.status_text import render_status
from store.clock import fixed_clock
from store.db import Database, alembic_config, make_engine
from store.models import Base, Delivery, OutboxMessage
from store.search import in_the_models
from tests.conftest import need
from tests.test_digest import SYRIA, article, store
from tests.test_mailer import SENDER, T0, Recorder, free_port, queue, smtp_server, stored

A = "analyst@example.org"
HOUR = timedelta(hours=1)
LATE_LINE = "1 of these was due in an earlier digest that could not be delivered."
ANALYST = SubscriberConfig(email=A, watchlists=["syria"], schedule="immediate")


def mail_to(port: int, **options: Any) -> MailConfig:
    options.setdefault("timeout", 5)
    return MailConfig(sender=SENDER, smtp_url=f"smtp://127.0.0.1:{port}", **options)


class DropsBeforeReply(Recorder):
    """Reads the whole message, then hangs up before its final reply (the first ``times``
    messages; all of them without)."""

    def __init__(self, times: int | None = None) -> None:
        super().__init__()
        self.times = times

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        if self.times is None or self.times > 0:
            self.times = None if self.times is None else self.times - 1
            server.transport.abort()  # the reply below goes nowhere
        return reply


class AnswersLate(Recorder):
    """Takes the message and answers only once ``release`` is set: the test sets it after the
    client has stopped waiting."""

    def __init__(self) -> None:
        super().__init__()
        self.release = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        reply = await super().handle_DATA(server, session, envelope)
        await asyncio.get_running_loop().run_in_executor(None, self.release.wait, 60)
        return reply


class SlowAt(Recorder):
    """Answers ``verb`` (RCPT or DATA) ``seconds`` late."""

    def __init__(self, verb: str, seconds: float) -> None:
        super().__init__()
        self.verb, self.seconds = verb, seconds

    async def handle_RCPT(self, *args: Any) -> str:
        if self.verb == "RCPT":
            await asyncio.sleep(self.seconds)
        return await super().handle_RCPT(*args)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.verb == "DATA":
            await asyncio.sleep(self.seconds)
        return await super().handle_DATA(server, session, envelope)


@contextmanager
def peer(handler: Recorder, port: int | None = None) -> Iterator[int]:
    with smtp_server(handler, port=port) as bound:
        try:
            yield bound
        finally:
            if isinstance(handler, AnswersLate):
                handler.release.set()


@pytest.fixture
def db(sqlite_url: str) -> Iterator[Database]:
    with Database(sqlite_url) as database:
        yield database


def problems(db: Database, now: datetime) -> list[str]:
    return health_problems(collect_status(AppConfig(), db, now=now))


def texts(handler: Recorder) -> list[str]:
    found = []
    for got in handler.received:
        plain = got.message.get_body(("plain",))
        assert plain is not None
        found.append(plain.get_content())
    return found


# --- a lost reply: at most uncertain_retries more copies, then uncertain and flagged --------


@pytest.mark.parametrize("retries", [0, 1, 2])
@pytest.mark.parametrize("server", ["drops before its reply", "answers after data_timeout"])
def test_a_lost_reply_is_sent_again_at_most_uncertain_retries_times_then_uncertain(
    db: Database, server: str, retries: int
) -> None:
    row = queue(db)
    handler = DropsBeforeReply() if server == "drops before its reply" else AnswersLate()
    reports: list[DeliveryReport] = []
    with peer(handler) as port:
        mail = mail_to(port, data_timeout=0.5, uncertain_retries=retries)
        for run in range(4 * 24):  # `newswatch send` every 15 minutes for a day
            now = T0 + run * timedelta(minutes=15)
            reports.append(deliver_outbox(db, mail, clock=fixed_clock(now)))

    assert len(handler.received) == retries + 1
    assert {got.message["Message-ID"] for got in handler.received} == {row.message_id}
    left = stored(db, row)
    assert (left.status, left.attempts, left.lost_outcomes) == (
        "uncertain",
        retries + 1,
        retries + 1,
    )
    assert left.sent_at is None
    assert "it may have arrived" in (left.last_error or "")
    if server == "drops before its reply":
        assert "the connection closed after the end of the message" in (left.last_error or "")
    else:
        assert "no reply to the end of the message within 0.5s" in (left.last_error or "")
    assert sum(report.uncertain for report in reports) == 1
    assert sum(report.retrying for report in reports) == retries
    assert problems(db, T0 + timedelta(days=1)) == [
        f"outbox: #{row.id} to {A} uncertain after {retries + 1} attempts: {left.last_error}"
    ]


def test_a_lost_reply_then_an_accepted_send_is_sent_and_no_longer_flagged(db: Database) -> None:
    row = queue(db)
    handler = DropsBeforeReply(times=1)
    with peer(handler) as port:
        first = deliver_outbox(db, mail_to(port), clock=fixed_clock(T0))
        waiting = stored(db, row)
        assert problems(db, T0 + timedelta(seconds=30)) == []  # pending, going again
        second = deliver_outbox(db, mail_to(port), clock=fixed_clock(waiting.next_attempt_at))

    assert (first.retrying, first.uncertain, second.sent) == (1, 0, 1)
    assert waiting.status == "pending" and waiting.lost_outcomes == 1
    assert "it may have arrived" in (waiting.last_error or "")
    assert len(handler.received) == 2  # the one duplicate a lost reply may cost
    assert {got.message["Message-ID"] for got in handler.received} == {row.message_id}
    assert stored(db, row).status == "sent"
    assert problems(db, T0 + HOUR) == []


def test_the_reply_to_a_message_may_take_minutes_a_command_may_not(db: Database) -> None:
    """`mail.timeout` for the commands, `mail.data_timeout` for the reply to the message."""
    patient = queue(db, "patient@example.org")
    handler = SlowAt("DATA", seconds=5)
    with peer(handler) as port:
        report = deliver_outbox(
            db, mail_to(port, timeout=2, data_timeout=60), clock=fixed_clock(T0)
        )
    assert report.sent == 1 and stored(db, patient).status == "sent"

    hurried = queue(db, "hurried@example.org")
    handler = SlowAt("RCPT", seconds=5)
    with peer(handler) as port:
        report = deliver_outbox(
            db, mail_to(port, timeout=2, data_timeout=60), clock=fixed_clock(T0)
        )
    waiting = stored(db, hurried)
    assert (report.retrying, report.uncertain) == (1, 0)
    assert (waiting.status, waiting.lost_outcomes) == ("pending", 0)  # nothing went: temporary
    assert handler.received == []


# --- a long outage: nothing lost, nothing twice ---------------------------------------------


def hourly(db: Database, mail: MailConfig, start: datetime, hours: int) -> list[DeliveryReport]:
    """The service's rhythm: build what is due, then send, every hour."""
    reports = []
    for hour in range(hours):
        now = start + hour * HOUR
        build_digests(db, [ANALYST], mail, now=now)
        reports.append(deliver_outbox(db, mail, clock=fixed_clock(now)))
    return reports


def a_match(db: Database, published: datetime, title: str = "Raqqa: the front moves") -> None:
    found = published + timedelta(minutes=5)  # the crawl after DW published it
    store(db, article(9001, title, "Raqqa.", published), found=found)
    match_articles(db, [SYRIA], now=found)


def test_three_days_without_a_relay_then_the_digest_arrives_once(db: Database) -> None:
    a_match(db, T0 - HOUR)
    port = free_port()  # nothing listens: the relay is down
    mail = mail_to(port)
    down = hourly(db, mail, T0, 3 * 24)
    assert sum(report.sent for report in down) == 0
    with db.session() as session:
        [waiting] = session.scalars(select(OutboxMessage)).all()
    assert (waiting.status, waiting.attempts) == ("pending", 3 * 24)
    assert "ConnectionRefusedError" in (waiting.last_error or "")

    handler = Recorder()
    with peer(handler, port=port):
        hourly(db, mail, T0 + 3 * 24 * HOUR, 24)

    assert len(handler.received) == 1
    assert "Raqqa: the front moves" in texts(handler)[0]
    assert LATE_LINE not in texts(handler)[0]
    assert stored(db, waiting).status == "sent"


def test_six_days_without_a_relay_the_matches_come_back_in_the_next_digest_once(
    db: Database,
) -> None:
    a_match(db, T0 - HOUR)
    port = free_port()
    mail = mail_to(port)  # give_up_after: 5 days
    down = hourly(db, mail, T0, 6 * 24)

    with db.session() as session:
        first, second = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        deliveries = session.scalars(select(Delivery).order_by(Delivery.id)).all()
    assert first.status == "failed"
    assert (first.last_error or "").startswith("gave up after 5d and ")
    assert second.status == "pending" and second.created_at == T0 + 5 * 24 * HOUR + HOUR
    # the first message's delivery is returned, the same match given anew in the second
    assert [(d.message_id, d.returned_at is not None) for d in deliveries] == [
        (first.id, True),
        (second.id, False),
    ]
    assert sum(report.returned for report in down) == 1
    assert any("1 matches go into the next digests" in r.summary() for r in down)
    assert f"outbox: #{first.id} to {A} failed after" in "\n".join(problems(db, T0 + 6 * 24 * HOUR))

    handler = Recorder()
    with peer(handler, port=port):
        hourly(db, mail, T0 + 6 * 24 * HOUR, 24)

    assert len(handler.received) == 1  # the late digest; the failed one never goes
    [text] = texts(handler)
    assert "Raqqa: the front moves" in text
    assert LATE_LINE in text
    html = handler.received[0].message.get_body(("html",))
    assert html is not None and LATE_LINE in " ".join(html.get_content().split())
    assert stored(db, second).status == "sent" and stored(db, first).status == "failed"


def test_a_recipient_refused_for_good_keeps_its_matches_and_stays_visible(
    db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a_match(db, T0 - HOUR)
    handler = Recorder(rcpt_replies={A: "550 5.1.1 <analyst@example.org>: no such user"})
    with peer(handler) as port:
        mail = mail_to(port)
        reports = hourly(db, mail, T0, 48)
        with db.session() as session:
            [refused] = session.scalars(select(OutboxMessage)).all()
            [delivery] = session.scalars(select(Delivery)).all()
        assert refused.status == "failed" and refused.attempts == 1
        assert delivery.returned_at is None  # not given back: no second digest for that address
        assert sum(report.returned for report in reports) == 0
        assert problems(db, T0 + 2 * 24 * HOUR) == [
            f"outbox: #{refused.id} to {A} failed after 1 attempts: "
            "550 5.1.1 <analyst@example.org>: no such user"
        ]
        text = render_status(collect_status(AppConfig(), db, now=T0 + 2 * 24 * HOUR))
        assert f"#{refused.id} failed after 1 attempts: {A} {refused.subject!r}: 550" in text

        # the address is fixed at the relay; the operator sends the message again
        handler.rcpt_replies.clear()
        config = tmp_path / "newswatch.toml"
        config.write_text(
            f'[storage]\nurl = "{db.url}"\n[mail]\nsmtp_url = "{mail.smtp_url}"\ntimeout = 5\n'
        )
        assert main(["--config", str(config), "send", "--retry"]) == 0  # failed ones stay
        assert "0 messages re-queued" in capsys.readouterr().out
        assert main(["--config", str(config), "send", "--retry", "--failed"]) == 0
        out = capsys.readouterr().out

    assert f"re-queued #{refused.id} failed {A} {refused.subject!r} (1 attempts: 550" in out
    assert "1 messages re-queued" in out and "sent 1, retrying 0, failed 0" in out
    assert len(handler.received) == 1
    assert stored(db, refused).status == "sent"


def test_a_message_refused_for_good_gives_its_matches_to_the_next_digest(db: Database) -> None:
    a_match(db, T0 - HOUR)
    handler = Recorder(data_replies=["554 5.7.1 message refused"])
    with peer(handler) as port:
        first = hourly(db, mail_to(port), T0, 1)
        second = hourly(db, mail_to(port), T0 + HOUR, 1)

    assert (first[0].failed, first[0].returned, second[0].sent) == (1, 1, 1)
    assert len(handler.refused) == len(handler.received) == 1
    assert LATE_LINE in texts(handler)[0]
    # the refused message is not sent again: its match went out in the later digest
    with db.session() as session:
        refused = session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).first()
    assert refused is not None and refused.status == "failed"
    [skipped] = requeue(db, T0 + 2 * HOUR, failed=True)
    assert skipped.id == refused.id
    assert skipped.skipped == "1 of its matches went into a later digest: it would repeat them"
    assert stored(db, refused).status == "failed"


# --- the operator's hand: --retry, --acknowledge, claims in status --------------------------


def test_retry_requeues_uncertain_and_waiting_messages_but_not_claimed_ones(
    db: Database,
) -> None:
    uncertain = queue(db, "uncertain@example.org")
    waiting = queue(db, "waiting@example.org")
    claimed = queue(db, "claimed@example.org")
    failed = queue(db, "failed@example.org")
    with db.session() as session, session.begin():
        row = session.get(OutboxMessage, uncertain.id)
        row.status, row.attempts, row.lost_outcomes = "uncertain", 2, 2
        row.last_error = "no reply: it may have arrived"
        row = session.get(OutboxMessage, waiting.id)
        row.attempts, row.next_attempt_at, row.last_error = 3, T0 + HOUR, "451 later"
        session.get(OutboxMessage, failed.id).status = "failed"
    assert claim(db, claimed.id, T0, LEASE) is not None

    handled = requeue(db, T0 + timedelta(minutes=1))
    assert [(each.id, each.status) for each in handled] == [
        (uncertain.id, "uncertain"),
        (waiting.id, "pending"),
    ]
    assert handled[0].line("re-queued") == (
        f"re-queued #{uncertain.id} uncertain uncertain@example.org '3 new articles for syria' "
        "(2 attempts: no reply: it may have arrived)"
    )
    assert requeue(db, T0 + timedelta(minutes=1)) == []  # all due already
    assert stored(db, claimed).next_attempt_at == T0 + LEASE  # left to its sender
    assert stored(db, failed).status == "failed"

    # the re-queued uncertain message gets one more send; lost again, it is uncertain at once
    handler = DropsBeforeReply()
    with peer(handler) as port:
        deliver_outbox(db, mail_to(port), clock=fixed_clock(T0 + timedelta(minutes=2)))
    assert [got.rcpt_tos for got in handler.received] == [
        ["uncertain@example.org"],
        ["waiting@example.org"],
    ]
    assert stored(db, uncertain).status == "uncertain"
    assert stored(db, uncertain).lost_outcomes == 3
    assert stored(db, waiting).status == "pending"  # its first lost reply: once more


def test_acknowledged_messages_stay_listed_but_are_no_longer_problems(
    db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    refused, unknown, sent = (queue(db, f"reader{n}@example.org") for n in range(3))
    with db.session() as session, session.begin():
        session.get(OutboxMessage, refused.id).status = "failed"
        row = session.get(OutboxMessage, unknown.id)
        row.status, row.attempts, row.last_error = "uncertain", 1, "no reply: it may have arrived"
        session.get(OutboxMessage, sent.id).status = "sent"
    assert len(problems(db, T0)) == 2

    config = tmp_path / "newswatch.toml"
    config.write_text(f'[storage]\nurl = "{db.url}"\n')
    ids = [str(refused.id), str(sent.id), "99"]
    code = main(["--config", str(config), "send", "--acknowledge", *ids])
    out = capsys.readouterr().out.splitlines()

    assert code == 1  # not all of them could be acknowledged
    assert out == [
        f"acknowledged #{refused.id} failed reader0@example.org '3 new articles for syria' "
        "(0 attempts)",
        f"not acknowledged #{sent.id} sent reader2@example.org '3 new articles for syria': "
        "not failed or uncertain",
        "not acknowledged #99 unknown ? '?': no such message",
    ]
    assert stored(db, refused).acknowledged_at is not None
    assert problems(db, T0) == [
        f"outbox: #{unknown.id} to reader1@example.org uncertain after 1 attempts: "
        "no reply: it may have arrived"
    ]
    text = render_status(collect_status(AppConfig(), db, now=T0))
    assert "1 failed or uncertain, acknowledged (not shown)" in text
    assert requeue(db, T0, failed=True)[0].id == unknown.id  # acknowledged ones are left
    assert len(requeue(db, T0, failed=True)) == 0


def test_status_shows_a_claimed_message_and_one_whose_sender_stopped(db: Database) -> None:
    row = queue(db)
    assert claim(db, row.id, T0, LEASE) is not None  # a sender killed during DATA, say

    held = collect_status(AppConfig(), db, now=T0 + timedelta(minutes=3))
    assert held.to_json()["outbox"]["claimed"] == {
        "count": 1,
        "since": "2024-05-01T07:00:00+00:00",
        "lease_until": "2024-05-01T07:10:00+00:00",
    }
    assert "  1 claimed by a sender since 07:00 UTC (lease until 07:10 UTC)" in render_status(held)
    assert health_problems(held) == []

    ran_out = collect_status(AppConfig(), db, now=T0 + timedelta(minutes=15))
    assert ran_out.outbox.claimed is None
    assert (
        "  1 claimed by a sender since 07:00 UTC that stopped: the lease ran out at 07:10 UTC, "
        "due again" in render_status(ran_out)
    )


def test_send_options_that_do_not_go_together_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "newswatch.toml"
    config.write_text(f'[storage]\nurl = "sqlite:///{tmp_path / "n.db"}"\n')
    assert main(["--config", str(config), "send", "--failed"]) == 2
    assert "--failed goes with --retry" in capsys.readouterr().err
    assert main(["--config", str(config), "send", "--retry", "--acknowledge", "1"]) == 2


# --- the command line under a moved clock ---------------------------------------------------


def newswatch(config: Path, at: datetime, *args: str) -> subprocess.CompletedProcess[str]:
    """`newswatch` as a subprocess whose clock starts at ``at`` (libfaketime)."""
    faked = ["faketime", "-f", f"@{at:%Y-%m-%d %H:%M:%S}"]
    return subprocess.run(
        [*faked, sys.executable, "-m", "scheduler.cli", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "TZ": "UTC"},
    )


def test_six_days_of_send_runs_without_a_relay_then_retry_failed_delivers_once(
    tmp_path: Path, sqlite_url: str
) -> None:
    need(shutil.which("faketime") is not None, "faketime is not installed")
    start = datetime(2026, 12, 3, 7, 0, tzinfo=UTC)
    port = free_port()
    config = tmp_path / "newswatch.toml"
    config.write_text(
        f'[storage]\nurl = "{sqlite_url}"\n'
        f'[mail]\nsmtp_url = "smtp://127.0.0.1:{port}"\ntimeout = "5s"\ngive_up_after = "5d"\n'
        '[[watchlists]]\nname = "syria"\nterms = ["Raqqa"]\n'
        f'[[subscribers]]\nemail = "{A}"\nwatchlists = ["syria"]\nschedule = "immediate"\n'
    )
    with Database(sqlite_url) as db:
        a_match(db, start - HOUR)
        [built] = build_digests(db, [ANALYST], MailConfig(), now=start)

    early = newswatch(config, start + timedelta(minutes=1), "send")
    assert (early.returncode, early.stdout.splitlines()[0]) == (
        0,
        "sent 0, retrying 1, failed 0, uncertain 0",
    )
    assert "ConnectionRefusedError" in early.stdout
    for day in range(1, 5):
        assert newswatch(config, start + timedelta(days=day), "send").returncode == 0
    check = newswatch(config, start + timedelta(days=4, hours=1), "status", "--check")
    assert check.returncode == 1
    assert check.stdout.startswith("outbox: backlog of 1 pending messages, the oldest waiting 4d")

    late = newswatch(config, start + timedelta(days=5, minutes=1), "send")
    assert late.returncode == 1
    assert late.stdout.splitlines()[0] == (
        "sent 0, retrying 0, failed 1, uncertain 0 (1 matches go into the next digests)"
    )
    check = newswatch(config, start + timedelta(days=5, hours=1), "status", "--check")
    assert check.returncode == 1
    assert check.stdout == (
        f"outbox: #{built.outbox_id} to {A} failed after 6 attempts: gave up after 5d and "
        f"6 attempts: cannot use smtp://127.0.0.1:{port}: ConnectionRefusedError: "
        "[Errno 111] Connection refused\n"
    )

    handler = Recorder()
    with peer(handler, port=port):
        again = newswatch(config, start + timedelta(days=6), "send", "--retry", "--failed")
        assert again.returncode == 0, again.stdout + again.stderr
        assert f"re-queued #{built.outbox_id} failed {A}" in again.stdout
        assert "sent 1, retrying 0, failed 0, uncertain 0" in again.stdout
        digest = newswatch(config, start + timedelta(days=6, hours=1), "digest")
        assert "0 digests put into the outbox" in digest.stdout
        assert newswatch(config, start + timedelta(days=6, hours=1), "send").returncode == 0

    assert len(handler.received) == 1  # taken back from the next digest: it is not repeated
    assert LATE_LINE not in texts(handler)[0]
    check = newswatch(config, start + timedelta(days=6, hours=2), "status", "--check")
    assert (check.returncode, check.stdout) == (0, "ok\n")


# --- the migration --------------------------------------------------------------------------


def test_migration_0003_keeps_every_row_and_matches_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with engine.begin() as connection:
            settings = alembic_config(engine)
            settings.attributes["connection"] = connection
            command.upgrade(settings, "0002")
            now = T0.replace(tzinfo=None)
            connection.execute(
                sa.text(
                    "INSERT INTO articles (id, short_id, content_id, url, kind, title, teaser, "
                    "body, captions, authors, topics, selector_fallback, content_hash, "
                    "first_seen_at, updated_at, checked_at) VALUES (1, 'a', 1, 'u', 'article', "
                    "'t', '', '', '[]', '[]', '[]', false, 'h', :now, :now, :now)"
                ),
                {"now": now},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO matches (id, article_id, watchlist, terms, fields, snippet, "
                    "created_at, updated_at) VALUES (1, 1, 'syria', '{}', '[]', '{}', :now, :now)"
                ),
                {"now": now},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO outbox (id, message_id, recipient, subject, text, html, status, "
                    "attempts, next_attempt_at, last_error, created_at) VALUES (1, '<m@x>', "
                    "'a@example.org', 's', 't', 'h', 'failed', 20, :now, 'gave up', :now)"
                ),
                {"now": now},
            )
            connection.execute(
                sa.text(
                    "INSERT INTO deliveries (id, subscriber, match_id, message_id, created_at) "
                    "VALUES (1, 'a@example.org', 1, 1, :now)"
                ),
                {"now": now},
            )
    finally:
        engine.dispose()

    with Database(database_url) as db:
        with db.engine.connect() as connection:
            # the search index (0004) is made in SQL, not declared in the models
            context = MigrationContext.configure(connection, opts={"include_name": in_the_models})
            assert compare_metadata(context, Base.metadata) == []
        with db.session() as session:
            [message] = session.scalars(select(OutboxMessage)).all()
            [delivery] = session.scalars(select(Delivery)).all()
        assert (message.status, message.attempts, message.lost_outcomes) == ("failed", 20, 0)
        assert (message.claimed_at, message.requeued_at, message.acknowledged_at) == (None,) * 3
        assert (delivery.message_id, delivery.returned_at) == (1, None)
        # a match is given once; a returned row beside a new one is the record of a failure
        with pytest.raises(IntegrityError), db.session() as session, session.begin():
            session.add(
                Delivery(subscriber="a@example.org", match_id=1, message_id=1, created_at=T0)
            )
        with db.session() as session, session.begin():
            session.get(Delivery, 1).returned_at = T0
            session.add(
                Delivery(subscriber="a@example.org", match_id=1, message_id=1, created_at=T0)
            )
        assert acknowledge(db, [1], T0)[0].skipped is None
