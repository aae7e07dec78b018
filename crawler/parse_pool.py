"""Article pages parsed off the reactor's thread, in worker processes (``[crawl] parse_workers``).

The reactor's one thread downloads, schedules, runs the callbacks and stores; parsing a page
(one lexbor parse and the field readers, ``crawler.dw_page.parse_page``) is about a third of a
crawl's CPU. With ``NEWSWATCH_PARSE_WORKERS`` = N > 0 the spider hands each page's bytes to one of
N processes (``concurrent.futures.ProcessPoolExecutor``) and awaits the ParsedPage, so that the
parse can run beside the downloads. N = 0 (the default) parses in the callback. Measured on a
2-core machine (bench/crawl.py, the site on loopback), one worker gave 0.82-1.12x the pages/s
of parsing in the callback, run to run, for 1.25-1.32x its CPU: a lexbor parse costs about what
sending the page and its result between processes costs. It is there for machines where
``bench/crawl.py --parse-workers N`` shows that it pays.

The workers are forked when the pool is made (in the crawl's process before its reactor has
threads: ``crawler.warm`` makes it ahead, else the spider on opening); they inherit the imported
parser. A worker that dies breaks the pool: that crawl parses the rest of its pages in its own
thread (logged once) rather than fork again from a process with threads.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from crawler.dw_page import ParsedPage, parse_page
from crawler.parent_death import die_with_parent

log = logging.getLogger(__name__)
SETTING = "NEWSWATCH_PARSE_WORKERS"


def worker_count(setting: str | int | None) -> int:
    """Workers for a NEWSWATCH_PARSE_WORKERS value (unset or empty: 0)."""
    if setting is None or not str(setting).strip():
        return 0
    return max(0, int(setting))


class PageParser:
    """``parse_page`` in ``workers`` processes (0: in the caller's thread)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        if workers > 0:
            # fork while this process has one thread (the warm-up, or a crawl opening); forked
            # from a process with threads, a worker could inherit a lock some thread held
            method = "fork" if threading.active_count() == 1 else "forkserver"
            # a worker is killed with its crawl, even by SIGKILL, instead of waiting forever
            # for pages (it holds the write end of its own queue)
            self._pool = ProcessPoolExecutor(
                workers,
                multiprocessing.get_context(method),
                initializer=die_with_parent,
                initargs=(signal.SIGKILL,),
            )
            # start them now, not on the first page: a fork pool launches all its workers then
            self._pool.submit(int).result()

    async def parse(self, body: bytes, url: str, content_type: str | None) -> ParsedPage:
        """The page parsed (raises PageError as ``parse_page`` does)."""
        pool = self._pool
        if pool is not None:
            try:
                return await asyncio.wrap_future(pool.submit(parse_page, body, url, content_type))
            except BrokenProcessPool:
                if self._pool is pool:
                    log.warning("a page-parsing worker died: this crawl parses in its own thread")
                    self._pool = None
        return parse_page(body, url, content_type)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


_AHEAD: list[PageParser] = []  # the pool crawler.warm started before its crawl was due


def start_ahead(workers: int) -> None:
    """Make the pool now (``crawler.warm``: no reactor, one thread), for the crawl to take."""
    _AHEAD.append(PageParser(workers))


def page_parser(workers: int) -> PageParser:
    """The pool started ahead when it has ``workers``, else a new one."""
    while _AHEAD:
        parser = _AHEAD.pop()
        if parser.workers == workers:
            return parser
        parser.close()
    return PageParser(workers)
