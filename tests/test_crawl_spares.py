"""The crawl process started ahead ([crawl] warm): real `python -m crawler.warm` processes
crawling the demo site over loopback into SQLite files."""

from __future__ import annotations

import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from demo import DemoServer, demo_articles
from scheduler.crawl_spares import CrawlSpares
from scheduler.crawling import CrawlOutcome, crawl_environment, crawl_spares, run_crawl
from store.clock import system_clock
from store.db import Database
from tests.crawling import CRAWL_TIMEOUT, DEMO_ARTICLES, FAST, demo_source, stored_articles

READY_SECONDS = 120.0  # a loaded machine imports slowly; the wait ends as soon as it is ready


@pytest.fixture
def server() -> Iterator[DemoServer]:
    with DemoServer(demo_articles()) as served:
        yield served


@pytest.fixture
def spares() -> Iterator[CrawlSpares]:
    kept = crawl_spares()
    yield kept
    kept.close()


def _crawl(
    server: DemoServer,
    database: Database,
    spares: CrawlSpares | None,
    log: Path | None = None,
    started: list[int] | None = None,
) -> CrawlOutcome:
    """One crawl of the demo site; ``started`` receives the pid of the process that ran it."""
    return run_crawl(
        demo_source(server),
        FAST,
        database,
        system_clock,
        log_file=log,
        timeout=CRAWL_TIMEOUT,
        on_start=None if started is None else lambda process: started.append(process.pid),
        spares=spares,
    )


def _waiting_spare(spares: CrawlSpares) -> int:
    """The pid of the spare waiting now (it is ready: its imports are done)."""
    assert spares.wait_ready(READY_SECONDS), "no crawl process was started ahead"
    spare = spares._spare
    assert spare is not None
    return spare.process.pid


def test_a_crawl_runs_in_the_process_started_ahead_and_the_next_one_is_started(
    server: DemoServer, spares: CrawlSpares, sqlite_url: str, tmp_path: Path
) -> None:
    log = tmp_path / "crawl.log"
    with Database(sqlite_url) as database:
        spares.prepare(crawl_environment(os.environ, database.url))
        ahead = _waiting_spare(spares)
        started: list[int] = []
        outcome = _crawl(server, database, spares, log, started)
        assert outcome.ok, outcome.log_tail
        assert started == [ahead]  # the crawl was the process started ahead
        assert outcome.run is not None and outcome.run.new == DEMO_ARTICLES
        assert len(stored_articles(database)) == DEMO_ARTICLES
        # its output is the crawl's log, as a crawl of its own writes it
        assert "Spider closed (finished)" in log.read_text()
        # and the next crawl's process waits, a new one
        following = _waiting_spare(spares)
        assert following != ahead
        again = _crawl(server, database, spares, log)
        assert again.ok and again.run is not None
        assert (again.run.new, again.run.updated) == (0, 0)
        assert log.read_text().count("Spider closed (finished)") == 2


def test_a_spare_that_died_leaves_the_crawl_to_a_process_of_its_own(
    server: DemoServer,
    spares: CrawlSpares,
    sqlite_url: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with Database(sqlite_url) as database:
        spares.prepare(crawl_environment(os.environ, database.url))
        dead = _waiting_spare(spares)
        os.kill(dead, signal.SIGKILL)
        spare = spares._spare
        assert spare is not None
        spare.process.wait()
        with caplog.at_level(logging.WARNING, logger="scheduler.crawl_spares"):
            outcome = _crawl(server, database, spares, tmp_path / "crawl.log")
        assert outcome.ok, outcome.log_tail
        assert outcome.run is not None and outcome.run.new == DEMO_ARTICLES
        assert "the crawl process started ahead exited -9" in caplog.text


def test_a_spare_is_not_used_with_another_database(
    server: DemoServer, spares: CrawlSpares, tmp_path: Path
) -> None:
    first_url = f"sqlite:///{tmp_path / 'first.db'}"
    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    with Database(first_url) as first, Database(other_url) as other:
        spares.prepare(crawl_environment(os.environ, first.url))
        ahead = _waiting_spare(spares)
        started: list[int] = []
        outcome = _crawl(server, other, spares, started=started)
        assert outcome.ok, outcome.log_tail
        assert started and started[0] != ahead
        # the articles went where the crawl was asked to put them
        assert len(stored_articles(other)) == DEMO_ARTICLES
        assert stored_articles(first) == []
        # the spare waiting now is for the other database
        assert spares._spare is not None
        assert spares._spare.env["NEWSWATCH_DATABASE_URL"] == other.url


def test_closing_stops_the_waiting_spare(spares: CrawlSpares, sqlite_url: str) -> None:
    with Database(sqlite_url) as database:
        spares.prepare(crawl_environment(os.environ, database.url))
        _waiting_spare(spares)
        spare = spares._spare
        assert spare is not None
        spares.close()
        assert spare.process.returncode == 0  # end of input: no crawl, a clean exit
        spares.prepare(crawl_environment(os.environ, database.url))
        assert spares._spare is None  # closed: none is started again
