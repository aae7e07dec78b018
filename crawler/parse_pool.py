"""Article pages parsed off the reactor's thread, in worker processes (``[crawl] parse_workers``).

The reactor's one thread downloads, schedules, runs the callbacks and stores; parsing a page
(one lexbor parse and the field readers, ``crawler.dw_page.parse_page``) is about a third of a
crawl's CPU. With ``NEWSWATCH_PARSE_WORKERS`` = N > 0 the spider hands each page's bytes to one of
N processes (``concurrent.futures.ProcessPoolExecutor``) and awaits the ParsedPage, so that on a
machine with a core to spare the parse runs beside the downloads. N = 0 parses in the callback,
as before; ``auto`` (the default) is one worker per available core beyond the first (none on one
core: a worker would only add the pickling), at most MAX_AUTO_WORKERS.

The workers are forked when the pool is made (in the crawl's process before its reactor has
threads: ``crawler.warm`` makes it ahead, else the spider on opening); they inherit the imported
parser. A worker that dies breaks the pool: that crawl parses the rest of its pages in its own
thread (logged once) rather than fork again from a process with threads.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import multiprocessing
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from crawler.dw_page import ParsedPage, parse_page

log = logging.getLogger(__name__)
MAX_AUTO_WORKERS = 4
SETTING = "NEWSWATCH_PARSE_WORKERS"
PR_SET_PDEATHSIG = 1


def worker_count(setting: str | int | None) -> int:
    """Workers for a NEWSWATCH_PARSE_WORKERS value: a number, or ``auto`` (one per available core
    beyond the first, at most MAX_AUTO_WORKERS)."""
    if setting is None or str(setting).strip().lower() in ("", "auto"):
        return max(0, min(MAX_AUTO_WORKERS, len(os.sched_getaffinity(0)) - 1))
    return max(0, int(setting))


def _die_with_parent() -> None:
    """In a worker: killed when the crawl's process dies, even by SIGKILL (Linux), instead of
    waiting forever for pages (it holds the write end of its own queue)."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:  # not Linux
        return
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class PageParser:
    """``parse_page`` in ``workers`` processes (0: in the caller's thread)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: ProcessPoolExecutor | None = None
        if workers > 0:
            # fork while this process has one thread (the warm-up, or a crawl opening); forked
            # from a process with threads, a worker could inherit a lock some thread held
            method = "fork" if threading.active_count() == 1 else "forkserver"
            self._pool = ProcessPoolExecutor(
                workers, multiprocessing.get_context(method), initializer=_die_with_parent
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
