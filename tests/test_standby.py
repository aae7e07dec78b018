"""Beyond one process (issue 16): `newswatch run --standby` services on one PostgreSQL, one of
them active, and extra `newswatch send --loop` senders. Real processes, the demo site over
HTTP, aiosmtpd and PostgreSQL on loopback; every wait is on a log line, a row or a message."""

from __future__ import annotations

import re
import signal
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from demo import DemoServer
from store.db import Database
from store.models import OutboxMessage
from tests.service_helpers import (
    Mailbox,
    Service,
    config_text,
    slow_articles,
    smtp_server,
    wait_for,
)
from tests.test_service import (
    assert_each_article_mailed_once,
    crawl_runs,
    delivered_short_ids,
    outbox,
    recent_matches,
)

A = "a@example.org"
STARTED = "newswatch service started"
STANDING_BY = "standing by: the service lock is held by"
TAKING_OVER = "taking over from"
TAKE_OVER_SECONDS = 30  # the bound: a standby is active this soon after the active died
FAST = {"NEWSWATCH_STANDBY_POLL_SECONDS": "1", "NEWSWATCH_LOCK_CHECK_SECONDS": "2"}


@pytest.fixture(scope="module")
def site() -> Iterator[DemoServer]:
    with DemoServer() as server:
        yield server


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    with smtp_server(box) as port:
        yield box, port


class Processes:
    """newswatch processes on config files in a folder; killed at teardown."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.started: list[Service] = []

    def start(self, config: Path, *command: str, env: dict[str, str] | None = None) -> Service:
        log = self.folder / f"process-{len(self.started)}.log"
        service = Service(config, log, {**FAST, **(env or {})}, command)
        self.started.append(service)
        return service.start()

    def cleanup(self) -> None:
        for service in self.started:
            service.cleanup()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    started = Processes(tmp_path)
    try:
        yield started
    finally:
        started.cleanup()


def write_config(folder: Path, text: str) -> Path:
    path = folder / "newswatch.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_standby_takes_over_from_a_killed_service_and_mails_each_match_once(
    site: DemoServer,
    mailbox: tuple[Mailbox, int],
    processes: Processes,
    postgres_url: str,
    tmp_path: Path,
) -> None:
    box, port = mailbox
    config = write_config(tmp_path, config_text(postgres_url, site, port, every="2s"))
    with Database(postgres_url) as db, slow_articles(site, 0.3) as slow:
        first = processes.start(config, "run", "--standby")
        first.wait_log(STARTED)
        second = processes.start(config, "run", "--standby")
        second.wait_log(STANDING_BY)
        assert second.count(STARTED) == 0  # it waits: nothing runs twice
        # the active one dies mid-crawl, before its digest: kill -9, its session goes with it
        wait_for("the first crawl to fetch articles", lambda: slow.served >= 3)
        first.kill()
        second.wait_log(TAKING_OVER, timeout=TAKE_OVER_SECONDS)
        second.wait_log(STARTED)

        wait_for("the standby's digest", lambda: box.to(A), timeout=60)
        wait_for("the outbox to be sent", lambda: all(m.status == "sent" for m in outbox(db)))
        assert_each_article_mailed_once(box, db, A)
        assert recent_matches(db) <= set(delivered_short_ids(db, A))
        # the killed service's crawl is closed, as on a restart
        assert "running" not in [r.status for r in crawl_runs(db)[:-1]]

        # a third takes over from the second: it catches up and sends nothing twice
        mailed = len(box.to(A))
        third = processes.start(config, "run", "--standby")
        third.wait_log(STANDING_BY)
        second.kill()
        third.wait_log(TAKING_OVER, timeout=TAKE_OVER_SECONDS)
        runs = len(crawl_runs(db))
        wait_for("a crawl of the third service", lambda: len(crawl_runs(db)) > runs + 1, 60)
        third.signal(signal.SIGTERM)
        assert third.wait(30) == 0, third.log()
        assert len(box.to(A)) == mailed
        assert_each_article_mailed_once(box, db, A)


def test_without_standby_a_second_service_still_exits_2(
    site: DemoServer,
    mailbox: tuple[Mailbox, int],
    processes: Processes,
    postgres_url: str,
    tmp_path: Path,
) -> None:
    _, port = mailbox
    config = write_config(tmp_path, config_text(postgres_url, site, port, every="1h"))
    first = processes.start(config, "run")
    first.wait_log(STARTED)
    second = processes.start(config, "run")
    assert second.wait(30) == 2
    assert "newswatch is already running on this database" in second.log()


def test_a_standby_stops_at_once_on_sigterm(
    site: DemoServer,
    mailbox: tuple[Mailbox, int],
    processes: Processes,
    sqlite_url: str,
    tmp_path: Path,
) -> None:
    """On SQLite too (the file lock, on one machine): the standby waits, and a stop while it
    waits ends it with 0 without ever starting a job."""
    _, port = mailbox
    config = write_config(tmp_path, config_text(sqlite_url, site, port, every="1h"))
    first = processes.start(config, "run", "--standby")
    first.wait_log(STARTED)
    second = processes.start(config, "run", "--standby")
    second.wait_log(STANDING_BY)
    second.signal(signal.SIGTERM)
    assert second.wait(30) == 0, second.log()
    assert "newswatch standby stopped" in second.log()
    assert second.count(STARTED) == 0


def test_a_standby_on_postgresql_names_the_active_service_and_stops_on_sigterm(
    site: DemoServer,
    mailbox: tuple[Mailbox, int],
    processes: Processes,
    postgres_url: str,
    tmp_path: Path,
) -> None:
    """The advisory lock's holder is named (its pid and host, from its session's
    application_name); a standby stopped while it waits leaves the active one untouched."""
    _, port = mailbox
    config = write_config(tmp_path, config_text(postgres_url, site, port, every="1h"))
    first = processes.start(config, "run", "--standby")
    first.wait_log(STARTED)
    second = processes.start(config, "run", "--standby")
    second.wait_log(STANDING_BY)
    assert f"held by pid {first.pid} on " in second.log(), second.log()
    assert second.count(STANDING_BY) == 1  # once per holder, not once per poll
    second.signal(signal.SIGTERM)
    assert second.wait(30) == 0, second.log()
    assert "newswatch standby stopped" in second.log()
    assert second.count(STARTED) == 0
    assert first.process.poll() is None, first.log()
    assert "lost the service lock" not in first.log()


MESSAGES = 1000


def test_two_send_loop_senders_deliver_1000_messages_none_twice(
    mailbox: tuple[Mailbox, int], processes: Processes, postgres_url: str, tmp_path: Path
) -> None:
    box, port = mailbox
    config = tmp_path / "newswatch.toml"
    config.write_text(
        f'[storage]\nurl = "{postgres_url}"\n\n[mail]\nsmtp_url = "smtp://127.0.0.1:{port}"\n',
        encoding="utf-8",
    )
    now = datetime.now(UTC)
    with Database(postgres_url) as db:
        with db.session() as session, session.begin():
            session.add_all(
                OutboxMessage(
                    message_id=f"<race-{n}@newswatch.test>",
                    recipient=f"reader{n % 10}@example.org",
                    subject=f"digest {n}",
                    text=f"message {n}",
                    html=f"<p>message {n}</p>",
                    next_attempt_at=now,
                    created_at=now,
                )
                for n in range(MESSAGES)
            )
        senders = [processes.start(config, "send", "--loop", "--every", "1") for _ in range(2)]
        for sender in senders:
            sender.wait_log("sender started")

        def sent() -> bool:
            with db.session() as session:
                return (
                    session.scalar(
                        select(func.count())
                        .select_from(OutboxMessage)
                        .where(OutboxMessage.status == "sent")
                    )
                    == MESSAGES
                )

        wait_for("every message to be sent", sent, timeout=300, interval=0.5)
        for sender in senders:
            sender.signal(signal.SIGTERM)
        assert [sender.wait(30) for sender in senders] == [0, 0]
        assert all("sender stopped" in sender.log() for sender in senders)

    ids = Counter(mail.message["Message-ID"] for mail in box.received)
    assert len(ids) == MESSAGES
    assert set(ids.values()) == {1}, [i for i, n in ids.items() if n > 1][:5]
    # both took part (the claims spread the work), and what they say they sent adds up
    counts = [sum(map(int, re.findall(r"send: sent (\d+)", s.log()))) for s in senders]
    assert all(counts) and sum(counts) == MESSAGES, counts
