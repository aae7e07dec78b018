"""Article pages parsed in worker processes ([crawl] parse_workers): the same articles as a
crawl that parses in its own thread, errors that stay errors, a dead worker that loses nothing.
Real crawls of the demo site over loopback, real worker processes."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.config import CrawlConfig
from crawler.dw_page import PageError, parse_page
from crawler.parse_pool import PageParser
from crawler.worker_process import WorkerProcess
from demo import DemoServer, demo_articles
from store.db import Database
from tests.crawling import DEMO_ARTICLES, crawl, demo_source, stored_articles
from tests.processes import children, ends

SAMPLE_PAGES = (
    "article-en-2020-a-52060881-old-layout.html",
    "article-de-2024-a-68117411-new-layout.html",
)


@pytest.fixture
def server() -> Iterator[DemoServer]:
    with DemoServer(demo_articles()) as served:
        yield served


def _stored(server: DemoServer, folder: Path, workers: int) -> list[tuple[object, ...]]:
    config = CrawlConfig(delay=0, autothrottle=False, concurrency=4, parse_workers=workers)
    with Database(f"sqlite:///{folder / f'workers-{workers}.db'}") as database:
        outcome = crawl(demo_source(server), database, config)
        assert outcome.ok, outcome.log_tail
        assert outcome.run is not None and outcome.run.errors == 0
        return sorted(
            (a.short_id, a.content_id, a.url, a.title, a.body) for a in stored_articles(database)
        )


def test_a_crawl_with_parse_workers_stores_what_one_parsing_in_its_thread_stores(
    server: DemoServer, tmp_path: Path
) -> None:
    in_thread = _stored(server, tmp_path, 0)
    in_workers = _stored(server, tmp_path, 2)
    assert len(in_thread) == DEMO_ARTICLES
    assert in_workers == in_thread


def test_a_worker_parses_a_real_dw_page_as_the_callback_would(dw_samples: Path) -> None:
    parser = PageParser(1)
    try:
        for name in SAMPLE_PAGES:
            body = (dw_samples / name).read_bytes()
            page = asyncio.run(parser.parse(body, "https://www.dw.com/", "text/html"))
            assert page == parse_page(body, "https://www.dw.com/", "text/html")
        with pytest.raises(PageError, match="empty document"):
            asyncio.run(parser.parse(b"   ", "https://www.dw.com/x", None))
    finally:
        parser.close()


def _signal(worker: WorkerProcess, number: int) -> None:
    assert worker.process.pid is not None
    os.kill(worker.process.pid, number)


def test_a_dead_worker_leaves_the_parse_to_the_crawl_thread(
    dw_samples: Path, caplog: pytest.LogCaptureFixture
) -> None:
    parser = PageParser(1)
    body = (dw_samples / SAMPLE_PAGES[0]).read_bytes()
    try:
        for worker in parser._workers:
            _signal(worker, signal.SIGKILL)
            worker.process.join()
        with caplog.at_level(logging.WARNING, logger="crawler.parse_pool"):
            pages = [asyncio.run(parser.parse(body, None, None)) for _ in range(3)]
        assert all(page.title == pages[0].title for page in pages) and pages[0].title
        # said once, not for every page after it
        assert caplog.text.count("a page-parsing worker died") == 1
        assert "parses in its own thread" in caplog.text
    finally:
        parser.close()


def test_pages_a_worker_held_when_it_died_are_parsed_all_the_same(
    dw_samples: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Killed with pages outstanding: each of them, and every page after, is still parsed
    (by the worker left, then in the crawl's thread), none lost, none given another's result."""
    parser = PageParser(2)
    bodies = [(dw_samples / name).read_bytes() for name in SAMPLE_PAGES] * 4
    expected = [parse_page(body, None, None) for body in bodies]

    async def crawl() -> list[object]:
        doomed = parser._workers[0]
        _signal(doomed, signal.SIGSTOP)  # it can take pages but answer none
        pages = [asyncio.ensure_future(parser.parse(body, None, None)) for body in bodies]
        while not doomed.waiting:  # until it has been sent a page
            await asyncio.sleep(0)
        _signal(doomed, signal.SIGKILL)
        return list(await asyncio.gather(*pages))

    try:
        with caplog.at_level(logging.WARNING, logger="crawler.parse_pool"):
            assert asyncio.run(crawl()) == expected
            assert "parses in the other workers" in caplog.text
            assert asyncio.run(crawl()) == expected  # the second: every page in this thread
        assert caplog.text.count("a page-parsing worker died") == 1  # once per crawl
        assert parser._workers == []
    finally:
        parser.close()


def test_a_page_whose_crawl_stopped_waiting_does_not_answer_for_the_next(
    dw_samples: Path,
) -> None:
    """A callback cancelled while its page is in a worker (the crawl closing, a timeout): the
    next page gets its own ParsedPage, not the one the cancelled page was owed."""
    first, second = [(dw_samples / name).read_bytes() for name in SAMPLE_PAGES]
    parser = PageParser(1)

    async def crawl() -> object:
        [worker] = parser._workers
        _signal(worker, signal.SIGSTOP)  # it answers nothing until the page is cancelled
        owed = asyncio.ensure_future(parser.parse(first, None, None))
        while not worker.waiting:  # sent, not answered
            await asyncio.sleep(0)
        owed.cancel()
        _signal(worker, signal.SIGCONT)
        page = await parser.parse(second, None, None)
        assert owed.cancelled()
        return page

    try:
        assert asyncio.run(crawl()) == parse_page(second, None, None)
    finally:
        parser.close()


def test_pages_sent_faster_than_the_worker_reads_arrive_whole_and_in_order(
    dw_samples: Path,
) -> None:
    """More pages than the socket pair holds, while the worker reads nothing: the rest goes
    out as the worker makes room, and every page gets its own ParsedPage."""
    bodies = [(dw_samples / name).read_bytes() for name in SAMPLE_PAGES]
    expected = [parse_page(body, None, None) for body in bodies]
    parser = PageParser(1)

    async def crawl() -> list[object]:
        [worker] = parser._workers
        room = worker.socket.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF) * 2  # and theirs
        count = 2 * room // min(map(len, bodies)) + 2
        _signal(worker, signal.SIGSTOP)
        pages = [
            asyncio.ensure_future(parser.parse(bodies[n % 2], None, None)) for n in range(count)
        ]
        while not worker._unsent:  # the socket pair is full: the rest waits for room
            await asyncio.sleep(0)
        _signal(worker, signal.SIGCONT)
        return list(await asyncio.gather(*pages))

    try:
        parsed = asyncio.run(crawl())
        assert parsed == [expected[n % 2] for n in range(len(parsed))]
        assert parser._workers and parser._workers[0].alive  # parsed there, not in this thread
    finally:
        parser.close()


def test_the_workers_of_a_killed_crawl_process_do_not_outlive_it(sqlite_url: str) -> None:
    env = {
        **os.environ,
        "SCRAPY_SETTINGS_MODULE": "crawler.settings",
        "NEWSWATCH_PARSE_WORKERS": "1",
    }
    env["NEWSWATCH_DATABASE_URL"] = sqlite_url
    process = subprocess.Popen(
        [sys.executable, "-m", "crawler.warm"],
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().startswith(b"ready")  # its parse worker is forked
        [worker] = children(process.pid)
    finally:
        process.kill()
        process.wait()
    assert ends(worker), f"parse worker {worker} outlived its crawl process"


@pytest.mark.parametrize(("cpus", "workers", "writer"), [(1, 0, False), (2, 1, True)])
def test_auto_gives_a_worker_and_a_writer_only_to_a_crawl_with_two_cpus_or_more(
    cpus: int, workers: int, writer: bool
) -> None:
    """``parse_workers`` and ``store_writer`` = ``"auto"`` (the defaults) as the crawl process
    reads them, run on the first ``cpus`` CPUs of this machine (a child process: the affinity
    mask is real, not patched)."""
    if len(os.sched_getaffinity(0)) < cpus:
        pytest.skip(f"this machine has fewer than {cpus} CPUs")
    script = (
        f"import os; os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:{cpus}]); "
        "from crawler.parse_pool import worker_count; "
        "from crawler.store_writer import writer_wanted; "
        "print(worker_count('auto'), writer_wanted('auto'))"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True
    ).stdout
    assert shown.split() == [str(workers), str(writer)]
    assert CrawlConfig().parse_workers == "auto"
    assert CrawlConfig.model_validate({"parse_workers": "auto"}).parse_workers == "auto"
