"""Article pages parsed off the reactor's thread, in worker processes (``[crawl] parse_workers``).

The reactor's one thread downloads, schedules, runs the callbacks and stores; parsing a page
(one lexbor parse and the field readers, ``crawler.dw_page.parse_page``) is about a third of a
crawl's CPU. With ``NEWSWATCH_PARSE_WORKERS`` = N > 0 the spider hands each page's bytes to one of
N processes and awaits the ParsedPage, so that the parse runs beside the downloads; N = 0 parses
in the callback, and ``auto`` (the default) is 1 where the process may run on two CPUs or more
(its affinity mask and its cgroup's CPU quota), else 0.

Each worker is one process at the other end of a socket pair, read and written by the crawl's
own event loop: a page goes out as its bytes behind a small header, sent at once (what the socket
cannot take yet goes out when the loop finds it writable), and its ParsedPage comes back pickled,
in the order the pages went out, read by a reader the loop calls whenever the socket is readable
(one registration for the crawl, where ``loop.sock_recv`` registered and removed one per reply,
and a task per direction added two task steps a page). No thread is added to the crawl's
process. (``concurrent.futures.ProcessPoolExecutor`` adds two, and
handing each page through them cost the reactor's thread about what the parse saved it: one
worker gave 0.82-1.12x the pages/s of parsing in the callback.) A page goes to the worker with
the fewest pages outstanding. Measured on 2 CPUs (bench/crawl.py, 3 rounds of one run), one
worker gives 1.50-2.06x the pages/s of parsing in the callback for 0.93x the CPU; on one CPU
(``--cpus 1 --parse-workers 1``) 0.73-1.11x for 1.18x the CPU, hence ``auto``.

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
import multiprocessing
import multiprocessing.util
import os
import pickle
import signal
import socket
import struct
import threading
from collections import deque
from multiprocessing.context import ForkContext, ForkServerContext
from pathlib import Path

from crawler.dw_page import PageError, ParsedPage, parse_page
from crawler.parent_death import die_with_parent

log = logging.getLogger(__name__)
SETTING = "NEWSWATCH_PARSE_WORKERS"
_HEADER = struct.Struct("!II")  # the message's length after the header, its metadata's length
_REPLY = struct.Struct("!I")  # the pickled reply's length
_BUFFER = 4 * 1024 * 1024  # socket buffer asked for: a few pages in flight (the kernel caps it)
_READ = 256 * 1024  # bytes of replies read at a time


def worker_count(setting: str | int | None) -> int:
    """Workers for a NEWSWATCH_PARSE_WORKERS value: a number, or ``auto`` (one where this
    process may run on two CPUs or more: the reactor's thread on one, the worker beside it;
    else 0, since on one CPU a worker only adds the sending); unset or empty: 0."""
    if setting is None or not str(setting).strip():
        return 0
    if str(setting).strip().lower() == "auto":
        return 1 if _cpus() >= 2 else 0
    return max(0, int(setting))


_CRAWL_ENDS: set[int] = set()  # every pool's crawl-side sockets: a forked worker closes them all


def _cpus() -> int:
    """CPUs this process may use: its affinity mask, within its cgroup's CPU quota (cgroup v2
    ``cpu.max``: a container or systemd unit limited to one CPU sees every CPU of the host)."""
    cpus = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return cpus
    if quota == "max" or not quota.isdigit() or not period.isdigit() or int(period) == 0:
        return cpus
    return max(1, min(cpus, int(quota) // int(period)))


class WorkerGone(Exception):
    """The worker died (or answered nonsense) before it answered this page."""


# ---------------------------------------------------------------------- the worker's side


def _serve(connection: socket.socket, inherited: list[int], parent: int | None) -> None:
    """A worker: read pages, answer ``("page", ParsedPage)``, ``("error", message)`` (a
    PageError) or ``("retry", what)`` (anything else: the crawl parses that page itself) for
    each, in order, until the crawl closes its end. ``inherited``: the crawl's ends of the
    socket pairs, which a forked worker holds too (open here, they would keep their streams
    from ever ending). ``parent``: the crawl's pid, when it forked this worker itself."""
    die_with_parent(signal.SIGKILL)  # even a crawl killed by SIGKILL takes its workers along
    if parent is not None and os.getppid() != parent:
        return  # the crawl died before the line above: nothing would have signalled us
    for descriptor in inherited:
        if descriptor != connection.fileno():  # never its own (a number reused)
            os.close(descriptor)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the crawl's to handle
    # forked inside a running reactor, it inherited Scrapy's SIGTERM handler, which only asks
    # that reactor (not running here) to stop: terminate() must end the worker
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    with connection:
        while True:
            header = _read_exactly(connection, _HEADER.size)
            if header is None:
                return  # the crawl closed its end
            size, meta_size = _HEADER.unpack(header)
            message = _read_exactly(connection, size)
            if message is None:
                return
            url, content_type = pickle.loads(message[:meta_size])
            reply: tuple[str, object]
            try:
                reply = ("page", parse_page(message[meta_size:], url, content_type))
            except PageError as error:
                reply = ("error", str(error))
            except Exception as error:  # parse_page raises only PageError; a bug should not
                reply = ("retry", repr(error)[:300])  # cost the crawl its worker
            data = pickle.dumps(reply, pickle.HIGHEST_PROTOCOL)
            connection.sendall(_REPLY.pack(len(data)) + data)


def _read_exactly(connection: socket.socket, size: int) -> bytes | None:
    """``size`` bytes, or None at the end of the stream."""
    buffer = bytearray(size)
    view, got = memoryview(buffer), 0
    while got < size:
        count = connection.recv_into(view[got:])
        if count == 0:
            return None
        got += count
    return bytes(buffer)


# ---------------------------------------------------------------------- the crawl's side


class _Worker:
    """One worker process and the crawl's end of its socket, served by the event loop that
    parses with it: a page is sent at once (what the socket cannot take yet goes out when it is
    writable), and replies are read whenever it is readable, into one buffer."""

    def __init__(self, context: ForkContext | ForkServerContext) -> None:
        ours, theirs = socket.socketpair()
        for end in (ours, theirs):
            end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _BUFFER)
            end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _BUFFER)
        _CRAWL_ENDS.add(ours.fileno())
        forked = context.get_start_method() == "fork"
        inherited = sorted(_CRAWL_ENDS) if forked else []  # a forked worker closes them
        self.process = context.Process(
            target=_serve, args=(theirs, inherited, os.getpid() if forked else None), daemon=True
        )
        self.process.start()
        theirs.close()
        ours.setblocking(False)
        self.socket = ours
        self.alive = True
        self.waiting: deque[asyncio.Future[tuple[str, object]]] = deque()  # sent, not answered
        self._unsent: deque[memoryview] = deque()  # what the socket could not take yet
        self._replies = bytearray()  # read, not yet a whole reply
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def outstanding(self) -> int:
        return len(self.waiting)

    def submit(self, message: bytes) -> asyncio.Future[tuple[str, object]]:
        loop = asyncio.get_running_loop()
        if loop is not self._loop:  # the first page, or a new loop (asyncio.run per test)
            self._attach(loop)
        future: asyncio.Future[tuple[str, object]] = loop.create_future()
        self.waiting.append(future)  # before sending: the reply may come at once
        if self._unsent:  # behind what is waiting for room
            self._unsent.append(memoryview(message))
            return future
        try:
            sent = self.socket.send(message)
        except BlockingIOError:
            sent = 0
        except OSError:  # the worker gone (a broken pipe): its pages are left to the caller
            self._fail()
            return future
        if sent < len(message):
            self._unsent.append(memoryview(message)[sent:])
            loop.add_writer(self.socket.fileno(), self._on_writable)
        return future

    def _attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self._detach()
        if self.waiting:  # left on a loop that is gone: the stream is unsure
            self._fail()
            raise WorkerGone("worker left mid-page by its event loop")
        self._loop = loop
        loop.add_reader(self.socket.fileno(), self._on_readable)

    def _detach(self) -> None:
        """Take the socket out of its loop's selector (before its number can be reused)."""
        loop, self._loop = self._loop, None
        descriptor = self.socket.fileno()
        if loop is not None and not loop.is_closed() and descriptor >= 0:
            loop.remove_reader(descriptor)
            loop.remove_writer(descriptor)

    def _on_writable(self) -> None:
        try:
            while self._unsent:
                chunk = self._unsent[0]
                sent = self.socket.send(chunk)
                if sent < len(chunk):
                    self._unsent[0] = chunk[sent:]
                    return
                self._unsent.popleft()
        except BlockingIOError:
            return
        except OSError:
            self._fail()
            return
        assert self._loop is not None
        self._loop.remove_writer(self.socket.fileno())

    def _on_readable(self) -> None:
        try:
            data = self.socket.recv(_READ)
            if not data:
                raise EOFError("the worker closed its end")
            replies = self._replies
            replies += data
            at = 0
            while len(replies) - at >= _REPLY.size:
                (size,) = _REPLY.unpack_from(replies, at)
                if len(replies) - at - _REPLY.size < size:
                    break
                start = at + _REPLY.size
                with memoryview(replies) as view:  # released before the buffer is cut
                    reply = pickle.loads(view[start : start + size])
                at = start + size
                future = self.waiting.popleft()
                if not future.done():  # its callback may have been cancelled meanwhile
                    future.set_result(reply)
            del replies[:at]
        except BlockingIOError:
            return
        except Exception:  # the worker gone, or an answer that is not one: never a page lost
            self._fail()

    def _fail(self) -> None:
        """Dead: every page it held is left to the caller."""
        self.alive = False
        self._detach()
        pages = list(self.waiting)
        self.waiting.clear()
        self._unsent.clear()
        self._replies.clear()
        for future in pages:
            # a page of a loop that is gone has no one awaiting it
            if not future.done() and not future.get_loop().is_closed():
                future.set_exception(WorkerGone())

    def close(self, wait: bool = True) -> None:
        """Stop the worker: it reads the end of its stream and exits (``wait``: up to 5 s for
        that; else, or when that is not enough, it is killed)."""
        self.alive = False
        self._detach()
        descriptor = self.socket.fileno()
        if descriptor >= 0:
            _CRAWL_ENDS.discard(descriptor)
            self.socket.close()
        self.process.join(5 if wait else 0)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()


class PageParser:
    """``parse_page`` in ``workers`` processes (0: in the caller's thread)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._workers: list[_Worker] = []
        if workers > 0:
            # fork while this process has one thread (the warm-up, or a crawl opening); forked
            # from a process with threads, a worker could inherit a lock some thread held
            context: ForkContext | ForkServerContext = (
                multiprocessing.get_context("fork")
                if threading.active_count() == 1
                else multiprocessing.get_context("forkserver")
            )
            self._workers = [_Worker(context) for _ in range(workers)]
            # closed before multiprocessing's exit handler joins the workers, even when the
            # spider never opened (else that join waits on a worker whose stream stays open)
            multiprocessing.util.Finalize(self, self.close, exitpriority=10)
        self._said_gone = False

    async def parse(self, body: bytes, url: str | None, content_type: str | None) -> ParsedPage:
        """The page parsed (raises PageError as ``parse_page`` does)."""
        worker = self._pick()
        if worker is not None:
            meta = pickle.dumps((url, content_type), pickle.HIGHEST_PROTOCOL)
            message = _HEADER.pack(len(meta) + len(body), len(meta)) + meta + body
            try:
                kind, value = await worker.submit(message)
            except WorkerGone:
                self._gone()
            else:
                if kind == "page" and isinstance(value, ParsedPage):
                    return value
                if kind == "error":
                    raise PageError(str(value))
                log.warning("a page-parsing worker failed on %s (%s): parsed here", url, value)
        return parse_page(body, url, content_type)

    def _pick(self) -> _Worker | None:
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
