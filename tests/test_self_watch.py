"""The service watches itself (issue 15), end to end: a real `newswatch run` on the demo site,
whose layout drifts mid-way (its CSS classes renamed, as a DW redesign would) and comes back;
aiosmtpd as the relay for the subscriber and the operator. What a user notices: `status
--check` naming the source and the field, one operator alert, one all-clear."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from demo import DemoServer
from store.db import Database
from store.models import CrawlRun, CrawlStatus
from tests.service_helpers import ROOT, Mail, Mailbox, Service, config_text, smtp_server, wait_for

OPS = "ops@example.org"
DRIFT = "[source:demo:drift:body]"
STARTED = "newswatch service started"


@pytest.fixture
def site() -> Iterator[DemoServer]:
    with DemoServer() as server:  # its own: this test redesigns it
        yield server


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    with smtp_server(box) as port:
        yield box, port


def measured_runs(db: Database) -> list[CrawlRun]:
    """Finished runs that read article pages (a re-crawl answered 304 reads none)."""
    with db.session() as session:
        runs = session.scalars(select(CrawlRun).where(CrawlRun.status == CrawlStatus.OK))
        return [run for run in runs if run.extraction.get("pages")]


def settled_runs(db: Database, service: Service) -> int:
    """The runs that read pages, counted once a whole crawl of the service read none."""

    def crawl_read_nothing() -> bool:
        before = len(measured_runs(db))
        service.wait_log("crawl demo:", times=service.count("crawl demo:") + 1, timeout=120)
        return len(measured_runs(db)) == before

    wait_for("a crawl that read no page", crawl_read_nothing, 300)
    return len(measured_runs(db))


def about_drift(box: Mailbox) -> list[Mail]:
    """The operator's messages about the body's drift (with a 2 s interval a slow crawl can
    also start and end a "no successful crawl" problem: other messages)."""
    return [mail for mail in box.to(OPS) if DRIFT in mail.message.get_content()]


def status_check(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scheduler.cli", "--config", str(config), "status", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_layout_drift_is_named_by_status_and_told_to_the_operator_once_then_all_clear(
    site: DemoServer, mailbox: tuple[Mailbox, int], sqlite_url: str, tmp_path: Path
) -> None:
    box, port = mailbox
    config = tmp_path / "newswatch.toml"
    config.write_text(
        config_text(sqlite_url, site, port, every="2s")
        + f'\n[alerts]\noperator = "{OPS}"\noperator_maildir = "{tmp_path / "ops-mail"}"\n',
        encoding="utf-8",
    )
    service = Service(config, tmp_path / "service.log").start()
    try:
        with Database(sqlite_url) as db:
            service.wait_log(STARTED)
            wait_for("a first crawl that read the pages", lambda: measured_runs(db), 120)
            assert status_check(config).returncode == 0
            assert about_drift(box) == []

            site.set_drift(True)  # the redesign: body and teaser containers renamed
            read = len(measured_runs(db))
            wait_for("a crawl of the redesigned pages", lambda: len(measured_runs(db)) > read, 120)
            wait_for("the operator's alert", lambda: about_drift(box), 120)
            drifted = status_check(config)
            assert drifted.returncode == 1, drifted.stdout
            assert "source demo:" in drifted.stdout
            assert "needed a fallback for body" in drifted.stdout

            # the redesign lasts over more crawls and checks: no second alert. A crawl that was
            # running when the site changed may leave pages of the old dates for the next one
            # to read again: count from the first crawl that read nothing
            runs = settled_runs(db, service)
            service.wait_log("crawl demo:", times=service.count("crawl demo:") + 3, timeout=120)
            [alert] = about_drift(box)
            assert "problem" in alert.message["Subject"]  # "newswatch: 3 problems started"
            assert len(measured_runs(db)) == runs  # those crawls read nothing new (304s)

            site.set_drift(False)  # the layout comes back
            wait_for("the all-clear", lambda: len(about_drift(box)) == 2, 120)
            assert status_check(config).returncode == 0
            service.wait_log("crawl demo:", times=service.count("crawl demo:") + 3, timeout=120)
            alert, clear = about_drift(box)
            assert clear.message["Subject"].startswith("newswatch: all clear")
    finally:
        service.cleanup()
