"""A child process that answers the crawl's messages in order, driven by the crawl's own event loop.

``WorkerProcess`` is the crawl's side: one process at the other end of a socket pair, its
messages sent and its replies read by the crawl's event loop (no thread is added to the crawl's
process). ``serve`` is the child's side: it makes its handler, then reads each message and sends
back what the handler returned, pickled, until the crawl closes its end. Every message and
reply is its length (4 bytes, network order) and its bytes. The page-parsing workers
(``crawler.parse_pool``) and the article writer (``crawler.store_writer``) are its two uses.

A process is forked while the crawl's process has one thread (it then shares what is imported),
else started by the forkserver. It dies with the crawl (even one killed by SIGKILL) and ignores
Ctrl-C, which is the crawl's to handle. A worker that dies, or answers what cannot be read, fails
every message it held with ``WorkerGone``: what to do then is the caller's.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import pickle
import signal
import socket
import struct
import threading
from collections import deque
from collections.abc import Callable
from multiprocessing.context import ForkContext, ForkServerContext
from pathlib import Path
from typing import Any

from crawler.parent_death import die_with_parent

Handler = Callable[[bytes], object]  # a message's bytes -> its reply (picklable)
_LENGTH = struct.Struct("!I")  # a message's or reply's length
_BUFFER = 4 * 1024 * 1024  # socket buffer asked for: a few pages in flight (the kernel caps it)
_READ = 256 * 1024  # bytes of replies read at a time


_CRAWL_ENDS: set[int] = set()  # every worker's crawl-side socket: a forked worker closes them all


def cpus() -> int:
    """CPUs this process may use: its affinity mask, within its cgroup's CPU quota (cgroup v2
    ``cpu.max``: a container or systemd unit limited to one CPU sees every CPU of the host)."""
    count = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return count
    if quota == "max" or not quota.isdigit() or not period.isdigit() or int(period) == 0:
        return count
    return max(1, min(count, int(quota) // int(period)))


class WorkerGone(Exception):
    """The worker died (or answered nonsense) before it answered this message."""


def fork_context() -> ForkContext | ForkServerContext:
    """Fork while this process has one thread (the warm-up, or a crawl opening); forked from a
    process with threads, a child could inherit a lock some thread held: the forkserver then."""
    if threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("forkserver")


def frame(*parts: bytes) -> bytes:
    """One message: its length, then ``parts`` one after another."""
    return b"".join((_LENGTH.pack(sum(map(len, parts))), *parts))


# ---------------------------------------------------------------------- the worker's side


def serve(
    connection: socket.socket,
    inherited: list[int],
    parent: int | None,
    handler: Callable[..., Handler],
    arguments: tuple[object, ...],
) -> None:
    """A worker: ``handler(*arguments)`` answers each message, in order, until the crawl closes
    its end (then the handler's ``close``, if it has one, is called). ``inherited``: the crawl's
    ends of the socket pairs, which a forked worker holds too (open here, they would keep their
    streams from ever ending). ``parent``: the crawl's pid, when it forked this worker itself."""
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
    handle = handler(*arguments)
    try:
        with connection:
            while True:
                header = _read_exactly(connection, _LENGTH.size)
                if header is None:
                    return  # the crawl closed its end
                message = _read_exactly(connection, _LENGTH.unpack(header)[0])
                if message is None:
                    return
                data = pickle.dumps(handle(message), pickle.HIGHEST_PROTOCOL)
                try:
                    connection.sendall(_LENGTH.pack(len(data)) + data)
                except (BrokenPipeError, ConnectionResetError):
                    return  # the crawl closed its end without waiting for this answer
    finally:
        close = getattr(handle, "close", None)
        if callable(close):  # a handler holding something (a database) lets go of it
            close()


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


class WorkerProcess:
    """One worker process (``serve`` with ``handler``) and the crawl's end of its socket, served
    by the event loop that uses it: a message is sent at once (what the socket cannot take yet
    goes out when it is writable), and replies are read whenever it is readable, into one
    buffer, each resolving the future of the message it answers."""

    def __init__(self, handler: Callable[..., Handler], *arguments: object) -> None:
        context = fork_context()
        ours, theirs = socket.socketpair()
        for end in (ours, theirs):
            end.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _BUFFER)
            end.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _BUFFER)
        _CRAWL_ENDS.add(ours.fileno())
        forked = context.get_start_method() == "fork"
        inherited = sorted(_CRAWL_ENDS) if forked else []  # a forked worker closes them
        self.process = context.Process(
            target=serve,
            args=(theirs, inherited, os.getpid() if forked else None, handler, arguments),
            daemon=True,
        )
        self.process.start()
        theirs.close()
        ours.setblocking(False)
        self.socket = ours
        self.alive = True
        self.waiting: deque[asyncio.Future[Any]] = deque()  # sent, not answered
        self._unsent: deque[memoryview] = deque()  # what the socket could not take yet
        self._replies = bytearray()  # read, not yet a whole reply
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def outstanding(self) -> int:
        return len(self.waiting)

    def submit(self, message: bytes) -> asyncio.Future[Any]:
        """Send ``message`` (made by ``frame``); the future of its unpickled reply (WorkerGone
        when the worker dies first)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if not self.alive:  # dead already: the caller does what it would have done
            future.set_exception(WorkerGone())
            return future
        if loop is not self._loop:  # the first message, or a new loop (asyncio.run per test)
            self._attach(loop)
        self.waiting.append(future)  # before sending: the reply may come at once
        if self._unsent:  # behind what is waiting for room
            self._unsent.append(memoryview(message))
            return future
        try:
            sent = self.socket.send(message)
        except BlockingIOError:
            sent = 0
        except OSError:  # the worker gone (a broken pipe): its messages are left to the caller
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
            raise WorkerGone("worker left mid-message by its event loop")
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
            while len(replies) - at >= _LENGTH.size:
                (size,) = _LENGTH.unpack_from(replies, at)
                if len(replies) - at - _LENGTH.size < size:
                    break
                start = at + _LENGTH.size
                with memoryview(replies) as view:  # released before the buffer is cut
                    reply = pickle.loads(view[start : start + size])
                at = start + size
                future = self.waiting.popleft()
                if not future.done():  # its callback may have been cancelled meanwhile
                    future.set_result(reply)
            del replies[:at]
        except BlockingIOError:
            return
        except Exception:  # the worker gone, or an answer that is not one: never a message lost
            self._fail()

    def _fail(self) -> None:
        """Dead: every message it held is left to the caller."""
        self.alive = False
        self._detach()
        held = list(self.waiting)
        self.waiting.clear()
        self._unsent.clear()
        self._replies.clear()
        for future in held:
            # a message of a loop that is gone has no one awaiting it
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
