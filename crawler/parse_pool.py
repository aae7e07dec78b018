"""Article pages parsed off the reactor's thread, in worker processes (``[crawl] parse_workers``).

The reactor's one thread downloads, schedules, runs the callbacks and stores; parsing a page
(one lexbor parse and the field readers, ``crawler.dw_page.parse_page``) is about a third of a
crawl's CPU. With ``NEWSWATCH_PARSE_WORKERS`` = N > 0 the spider hands each page's bytes to one of
N processes (``submit``: the future of its ParsedPage, which the spider's ``start()`` yields as
an item once it is done), so that the parse runs beside the downloads; N = 0 parses in the
callback, and ``auto`` (the default) is 1 where the process may run on two CPUs or more
(its affinity mask and its cgroup's CPU quota), else 0.

Each worker is a ``crawler.worker_process.WorkerProcess``: one process at the other end of a
socket pair, written and read by the crawl's own event loop. A page goes out as its bytes behind
a small header, sent at once, and its ParsedPage comes back pickled, in the order the pages went
out, read by a reader the loop calls whenever the socket is readable (one registration for the
crawl: ``loop.sock_recv`` registered and removed one per reply, and a task per direction added
two task steps a page). No thread is added to the crawl's process.
(``concurrent.futures.ProcessPoolExecutor`` adds two, and handing each page through them cost
the reactor's thread about what the parse saved it: one worker gave 0.82-1.12x the pages/s of
parsing in the callback.) A page goes to the worker with the fewest pages outstanding. Measured
on 2 CPUs (bench/crawl.py, 3 rounds of one run), one worker gives 1.50-2.06x the pages/s of
parsing in the callback for 0.93x the CPU; on one CPU (``--cpus 1 --parse-workers 1``)
0.73-1.11x for 1.18x the CPU, hence ``auto``.

The workers are started when the pool is made: forked while the process has one thread (then
they inherit the imported parser), else by the forkserver (they import it). ``crawler.warm``
makes the pool ahead, before the reactor runs; a crawl in a process of its own makes it when the
spider opens. A worker that dies (or answers what cannot be read) is dropped; its outstanding
pages and, once none is left, the rest of the crawl's pages are parsed in the crawl's own thread
(logged once) rather than start another. A page the worker could not parse for a reason other
than PageError is parsed again in the crawl's thread, which raises what it raises there.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing.util
import pickle
import struct
from collections.abc import Callable
from functools import partial

from crawler.dw_page import PageError, ParsedPage, parse_page
from crawler.worker_process import WorkerGone, WorkerProcess, cpus, frame

log = logging.getLogger(__name__)
SETTING = "NEWSWATCH_PARSE_WORKERS"
_META = struct.Struct("!I")  # a page message: its metadata's length, the metadata, the page


def worker_count(setting: str | int | None) -> int:
    """Workers for a NEWSWATCH_PARSE_WORKERS value: a number, or ``auto`` (one where this
    process may run on two CPUs or more: the reactor's thread on one, the worker beside it;
    else 0, since on one CPU a worker only adds the sending); unset or empty: 0."""
    if setting is None or not str(setting).strip():
        return 0
    if str(setting).strip().lower() == "auto":
        return 1 if cpus() >= 2 else 0
    return max(0, int(setting))


def _parse_into(
    parsed: asyncio.Future[ParsedPage], body: bytes, url: str | None, content_type: str | None
) -> None:
    """Parse the page in this thread, into ``parsed``."""
    try:
        parsed.set_result(parse_page(body, url, content_type))
    except Exception as error:  # PageError, or a bug: the caller's to report
        parsed.set_exception(error)


def _parser() -> Callable[[bytes], tuple[str, object]]:
    """In the worker: what answers each page message."""
    return _parse_message


def _parse_message(message: bytes) -> tuple[str, object]:
    """``("page", ParsedPage)``, ``("error", message)`` (a PageError) or ``("retry", what)``
    (anything else: the crawl parses that page itself)."""
    (size,) = _META.unpack_from(message)
    url, content_type = pickle.loads(message[_META.size : _META.size + size])
    try:
        return ("page", parse_page(message[_META.size + size :], url, content_type))
    except PageError as error:
        return ("error", str(error))
    except Exception as error:  # parse_page raises only PageError; a bug should not cost the
        return ("retry", repr(error)[:300])  # crawl its worker


class PageParser:
    """``parse_page`` in ``workers`` processes (0: in the caller's thread)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._workers: list[WorkerProcess] = []
        if workers > 0:
            self._workers = [WorkerProcess(_parser) for _ in range(workers)]
            # closed before multiprocessing's exit handler joins the workers, even when the
            # spider never opened (else that join waits on a worker whose stream stays open)
            multiprocessing.util.Finalize(self, self.close, exitpriority=10)
        self._said_gone = False

    async def parse(self, body: bytes, url: str | None, content_type: str | None) -> ParsedPage:
        """The page parsed (raises PageError as ``parse_page`` does)."""
        return await self.submit(body, url, content_type)

    def submit(
        self, body: bytes, url: str | None, content_type: str | None
    ) -> asyncio.Future[ParsedPage]:
        """The future of the page parsed, by a worker or, with none alive, here and now (its
        exception: PageError as ``parse_page`` raises it, or what a bug raised here). Called on
        the running event loop, whose thread the future's callbacks run on."""
        parsed: asyncio.Future[ParsedPage] = asyncio.get_running_loop().create_future()
        worker = self._pick()
        if worker is not None:
            meta = pickle.dumps((url, content_type), pickle.HIGHEST_PROTOCOL)
            try:
                reply = worker.submit(frame(_META.pack(len(meta)), meta, body))
            except WorkerGone:
                self._gone()
            else:
                reply.add_done_callback(partial(self._answered, parsed, body, url, content_type))
                return parsed
        _parse_into(parsed, body, url, content_type)
        return parsed

    def _answered(
        self,
        parsed: asyncio.Future[ParsedPage],
        body: bytes,
        url: str | None,
        content_type: str | None,
        reply: asyncio.Future[tuple[str, object]],
    ) -> None:
        """A worker's reply: the page, a PageError, or the page to parse here (the worker died,
        or failed on it for another reason)."""
        if parsed.done():  # cancelled by its caller meanwhile
            return
        if reply.cancelled() or reply.exception() is not None:  # WorkerGone
            self._gone()
        else:
            kind, value = reply.result()
            if kind == "page" and isinstance(value, ParsedPage):
                parsed.set_result(value)
                return
            if kind == "error":
                parsed.set_exception(PageError(str(value)))
                return
            log.warning("a page-parsing worker failed on %s (%s): parsed here", url, value)
        _parse_into(parsed, body, url, content_type)

    def _pick(self) -> WorkerProcess | None:
        alive = [worker for worker in self._workers if worker.alive]
        if len(alive) < len(self._workers):
            self._gone()
        return min(alive, key=lambda worker: worker.outstanding) if alive else None

    def _gone(self) -> None:
        """Drop the dead; say so once per crawl."""
        dead = [worker for worker in self._workers if not worker.alive]
        self._workers = [worker for worker in self._workers if worker.alive]
        for worker in dead:
            worker.close(wait=False)  # dead, or answering nonsense: not waited for
        if dead and not self._said_gone:
            self._said_gone = True
            where = "the other workers" if self._workers else "its own thread"
            log.warning("a page-parsing worker died: this crawl parses in %s", where)

    def close(self) -> None:
        for worker in self._workers:
            worker.close()
        self._workers = []


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
