"""Articles written by a process beside the crawl ([crawl] store_writer): the same rows and
figures as a crawl storing in its own thread. Real crawls of the demo site over loopback; the
writer's failures are in tests/test_crawl_robustness.py, beside the storing pipeline's."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.config import CrawlConfig
from crawler.store_writer import writer_wanted
from demo import DemoServer, demo_articles
from store.db import Database
from tests.crawling import DEMO_ARTICLES, crawl, demo_source, stored_articles
from tests.processes import ends, gone

# a crawl process's pipeline starts its writer, says the writer's pid, then waits to be killed
_CRAWL_WITH_A_WRITER = (
    "import sys, time; from crawler.store_writer import StoreWriter; "
    "writer = StoreWriter(sys.argv[1]); print(writer._process.process.pid, flush=True); "
    "time.sleep(600)"
)


@pytest.fixture
def server() -> Iterator[DemoServer]:
    with DemoServer(demo_articles()) as served:
        yield served


def _crawled(server: DemoServer, folder: Path, writer: bool) -> tuple[list[object], tuple]:
    config = CrawlConfig(delay=0, autothrottle=False, concurrency=4, store_writer=writer)
    with Database(f"sqlite:///{folder / f'writer-{writer}.db'}") as database:
        outcome = crawl(demo_source(server), database, config)
        assert outcome.ok, outcome.log_tail
        run = outcome.run
        assert run is not None
        articles = sorted(
            (a.short_id, a.content_id, a.url, a.title, a.body) for a in stored_articles(database)
        )
        return articles, (run.pages, run.new, run.updated, run.skipped_known, run.errors)


def test_a_crawl_with_a_writer_stores_and_counts_what_one_storing_in_its_thread_does(
    server: DemoServer, tmp_path: Path
) -> None:
    in_thread, thread_figures = _crawled(server, tmp_path, writer=False)
    by_writer, writer_figures = _crawled(server, tmp_path, writer=True)
    assert len(in_thread) == DEMO_ARTICLES
    assert by_writer == in_thread
    assert writer_figures == thread_figures  # its answers counted before the run was recorded
    assert writer_figures[1] == DEMO_ARTICLES and writer_figures[4] == 0


@pytest.mark.parametrize(
    ("setting", "wanted"),
    [("true", True), ("True", True), ("false", False), ("False", False), (False, False)],
)
def test_a_writer_asked_for_or_refused_in_so_many_words(setting: str | bool, wanted: bool) -> None:
    """``store_writer = true / false`` (``auto`` by CPUs: tests/test_parse_pool.py)."""
    assert writer_wanted(setting) is wanted


def test_the_writer_of_a_killed_crawl_process_does_not_outlive_it(sqlite_url: str) -> None:
    """Killed with SIGKILL (nothing runs to clean up), the crawl process takes its writer along."""
    process = subprocess.Popen(
        [sys.executable, "-c", _CRAWL_WITH_A_WRITER, sqlite_url], stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        writer = int(process.stdout.readline())
        assert not gone(writer)
    finally:
        process.kill()
        process.wait()
    assert ends(writer), f"writer {writer} outlived its crawl process"
