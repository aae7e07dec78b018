"""The operator hears of each problem once (issue 15): real SMTP peers on loopback (aiosmtpd),
a real webhook receiver, SQLite files and a fixed clock passed all the way down."""

from __future__ import annotations

import json
import logging
import mailbox
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from alerts.config import MailConfig
from alerts.mailer import deliver_outbox
from alerts.requeue import acknowledge
from scheduler.cli import main
from scheduler.config import AlertsConfig, AppConfig, ConfigError, load_config
from scheduler.problems import check_problems, kept_problems
from scheduler.status_queries import collect_status
from scheduler.status_text import render_status
from scheduler.web_command import web_app
from store.clock import fixed_clock
from store.config import StorageConfig
from store.db import Database
from store.models import CrawlRun, CrawlStatus, OutboxMessage
from store.models import Problem as ProblemRow
from tests.receivers import receiver
from tests.test_mailer import SENDER, T0, Recorder, queue, smtp_server
from tests.web_served import serve
from web.config import WebConfig

A = "analyst@example.org"
OPS = "ops@example.org"
MINUTE = timedelta(minutes=1)
REFUSED = "550 5.1.1 <analyst@example.org>: no such user"
SECRET = {"NEWSWATCH_WEBHOOK_SECRET": "operator-test-secret"}


class RefusesAll(Recorder):
    """A relay that answers 550 to every recipient: no mail goes at all."""

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        return "550 5.7.1 relaying denied"


@pytest.fixture
def db(sqlite_url: str) -> Any:
    with Database(sqlite_url) as database:
        yield database


def mail_to(port: int) -> MailConfig:
    return MailConfig(sender=SENDER, smtp_url=f"smtp://127.0.0.1:{port}", timeout=5)


def a_failed_digest(db: Database, mail: MailConfig) -> OutboxMessage:
    """A subscriber's digest the relay refused for good: the problem `outbox:message:<id>`."""
    row = queue(db, A)
    report = deliver_outbox(db, mail, clock=fixed_clock(T0))
    assert report.failed == 1
    return row


def cycles(config: AppConfig, db: Database, start: timedelta, count: int) -> None:
    for minute in range(count):
        check_problems(config, db, fixed_clock(T0 + start + minute * MINUTE), SECRET)


def rows(db: Database) -> list[ProblemRow]:
    with db.session() as session:
        return list(session.scalars(select(ProblemRow).order_by(ProblemRow.id)).all())


def subjects(handler: Recorder) -> list[str]:
    return [str(got.message["Subject"]) for got in handler.received]


def test_a_problem_is_told_once_when_it_starts_and_once_when_it_ends(
    db: Database, tmp_path: Path
) -> None:
    handler = Recorder(rcpt_replies={A: REFUSED})
    with smtp_server(handler) as port:
        mail = mail_to(port)
        refused = a_failed_digest(db, mail)
        ops_maildir = tmp_path / "operator-mail"
        alerts = AlertsConfig(operator=OPS, operator_maildir=str(ops_maildir))
        config = AppConfig(mail=mail, alerts=alerts)

        cycles(config, db, MINUTE, 5)  # the problem lasts five cycles: one message
        [told] = handler.received
        assert told.rcpt_tos == [OPS]
        assert subjects(handler) == [
            f"newswatch: problem: outbox: #{refused.id} to {A} failed after 1 attempts: {REFUSED}"
        ]
        assert f"[outbox:message:{refused.id}]" in told.message.get_content()

        acknowledge(db, [refused.id], T0 + 10 * MINUTE)  # the operator deals with it
        cycles(config, db, 10 * MINUTE, 3)

    assert len(handler.received) == 2
    assert subjects(handler)[1].startswith(f"newswatch: all clear: outbox: #{refused.id} to")
    [row] = rows(db)
    assert row.key == f"outbox:message:{refused.id}"
    assert (row.started_at, row.last_seen_at) == (T0 + MINUTE, T0 + 5 * MINUTE)
    assert row.ended_at == T0 + 10 * MINUTE
    assert row.start_notified_at == T0 + MINUTE and row.end_notified_at == T0 + 10 * MINUTE
    assert row.notify_error is None
    assert not ops_maildir.exists()  # SMTP took both: no fallback


def test_smtp_refusing_all_mail_puts_the_operator_alert_into_the_maildir_once(
    db: Database, tmp_path: Path
) -> None:
    handler = RefusesAll()
    ops_maildir = tmp_path / "operator-mail"
    with smtp_server(handler) as port:
        mail = mail_to(port)
        refused = a_failed_digest(db, mail)  # the subscribers' digest fails: 550
        alerts = AlertsConfig(operator=OPS, operator_maildir=str(ops_maildir))
        config = AppConfig(mail=mail, alerts=alerts)
        cycles(config, db, MINUTE, 4)

        assert handler.received == []
        alerts_kept = list(mailbox.Maildir(ops_maildir, create=False))
        assert len(alerts_kept) == 1  # one, not one per cycle
        assert alerts_kept[0]["To"] == OPS
        assert f"#{refused.id} to {A} failed" in str(alerts_kept[0]["Subject"])
        [row] = rows(db)
        assert row.start_notified_at == T0 + MINUTE
        assert row.notify_error is not None
        assert "550 5.7.1 relaying denied" in row.notify_error
        assert str(ops_maildir) in row.notify_error

        acknowledge(db, [refused.id], T0 + 10 * MINUTE)
        cycles(config, db, 10 * MINUTE, 2)

    ended = list(mailbox.Maildir(ops_maildir, create=False))
    assert len(ended) == 2
    assert sorted(str(m["Subject"]).split(":")[1].strip() for m in ended) == [
        "all clear",
        "problem",
    ]


def test_a_silenced_problem_is_kept_and_shown_but_not_alerted_and_passes_the_check(
    db: Database, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    handler = Recorder(rcpt_replies={A: REFUSED})
    with smtp_server(handler) as port:
        mail = mail_to(port)
        refused = a_failed_digest(db, mail)
        path = tmp_path / "newswatch.toml"
        path.write_text(
            f'[storage]\nurl = "{db.url}"\n[mail]\nsmtp_url = "{mail.smtp_url}"\ntimeout = 5\n'
            f'[alerts]\noperator = "{OPS}"\nsilence = ["outbox:message:*"]\n'
            f'operator_maildir = "{tmp_path / "ops"}"\n'
        )
        config = load_config(path)
        cycles(config, db, MINUTE, 3)
        assert handler.received == []  # nothing told

        clock = fixed_clock(T0 + 3 * MINUTE)
        assert main(["--config", str(path), "status", "--check"], clock=clock) == 0
        assert capsys.readouterr().out.strip() == "ok"
        assert main(["--config", str(path), "status"], clock=clock) == 0
        text = capsys.readouterr().out
        assert f"~ silenced: outbox: #{refused.id} to {A} failed" in text
        assert "(since 07:01 UTC)" in text
        assert main(["--config", str(path), "status", "--json"], clock=clock) == 0
        [kept] = json.loads(capsys.readouterr().out)["kept_problems"]
        assert kept["silenced"] is True and kept["start_notified_at"] is None
        assert kept["started_at"] == "2024-05-01T07:01:00+00:00"
    [row] = rows(db)
    assert row.start_notified_at is None and row.ended_at is None


def test_an_operator_webhook_gets_one_post_per_start(db: Database, tmp_path: Path) -> None:
    handler = Recorder(rcpt_replies={A: REFUSED})
    with smtp_server(handler) as port, receiver() as hook:
        mail = mail_to(port)
        refused = a_failed_digest(db, mail)
        alerts = AlertsConfig(
            operator_channels=[f"webhook+{hook.url}/ops"], operator_maildir=str(tmp_path / "o")
        )
        config = AppConfig(mail=mail, alerts=alerts)
        cycles(config, db, MINUTE, 4)
        [post] = hook.wait_for(1)
        assert len(hook.received) == 1
    assert handler.received == []  # no operator address: no mail
    document = post.json()
    assert document["type"] == "problems.started"
    assert [p["key"] for p in document["problems"]] == [f"outbox:message:{refused.id}"]
    assert (post.header("X-Newswatch-Signature") or "").startswith("sha256=")


def test_without_an_operator_a_problem_is_logged_once_at_warning_and_its_end_at_info(
    db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    with db.session() as session:  # a source that never crawled successfully
        session.add(
            CrawlRun(source="dw-en", started_at=T0, finished_at=T0, status=CrawlStatus.FAILED)
        )
        session.commit()
    config = AppConfig()
    later = timedelta(hours=2)  # 3 intervals of the default 30 min passed
    with caplog.at_level(logging.INFO, logger="newswatch.problems"):
        cycles(config, db, later, 3)
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        assert "source dw-en: no successful crawl yet" in warnings[0].getMessage()
        caplog.clear()
        with db.session() as session:
            session.add(
                CrawlRun(
                    source="dw-en",
                    started_at=T0 + later + 5 * MINUTE,
                    finished_at=T0 + later + 6 * MINUTE,
                    status=CrawlStatus.OK,
                )
            )
            session.commit()
        cycles(config, db, later + 6 * MINUTE, 3)
    ended = [r for r in caplog.records if "problem ended" in r.getMessage()]
    assert len(ended) == 1 and ended[0].levelno == logging.INFO
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    [row] = kept_problems(config, db)
    assert row.key == "source:dw-en:no-success" and row.ended_at == T0 + later + 6 * MINUTE
    text = render_status(
        collect_status(config, db, T0 + later + 7 * MINUTE), kept_problems(config, db)
    )
    assert "recently ended:" in text and "source dw-en: no successful crawl yet" in text


def test_alerts_config_checks_the_operator_and_its_channels(tmp_path: Path) -> None:
    path = tmp_path / "newswatch.toml"
    path.write_text('[alerts]\noperator = "not an address"\n')
    with pytest.raises(ConfigError, match="not an email address"):
        load_config(path)
    path.write_text('[alerts]\noperator_channels = ["webhook+http://example.org/x"]\n')
    with pytest.raises(ConfigError, match="operator_channels"):
        load_config(path)


def test_the_dashboard_and_the_api_show_the_problems_table(db: Database, tmp_path: Path) -> None:
    handler = Recorder(rcpt_replies={A: REFUSED})
    with smtp_server(handler) as port:
        mail = mail_to(port)
        refused = a_failed_digest(db, mail)
        config = AppConfig(
            storage=StorageConfig(url=db.url),
            mail=mail,
            web=WebConfig(listen="127.0.0.1:8080"),
            alerts=AlertsConfig(operator=OPS, operator_maildir=str(tmp_path / "ops")),
        )
        cycles(config, db, MINUTE, 2)
    clock = fixed_clock(T0 + 2 * MINUTE)
    with (
        serve(lambda base_url: web_app(config, db, clock)) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        page = client.get("/status")
        assert page.status_code == 200
        table = page.text.split('class="list problem-log"', 1)[1].split("</table>", 1)[0]
        assert f"#{refused.id} to {A} failed after 1 attempts" in table
        assert '<span class="pill">open</span>' in table
        [kept] = client.get("/api/status").json()["kept_problems"]
    assert kept["key"] == f"outbox:message:{refused.id}"
    assert kept["started_at"] == "2024-05-01T07:01:00Z"
    assert kept["start_notified_at"] == "2024-05-01T07:01:00Z" and kept["silenced"] is False
