"""A real HTTP receiver on loopback for channel tests: a ThreadingHTTPServer on 127.0.0.1:0 in
a thread that records every request it reads and answers from a script.

Each request takes the next `Reply` of the script, then the default one when the script is used
up (200 unless told). A reply can answer (status, headers, body), hang up without answering
(``drop``), or read the request and answer only once the receiver is released (``hold``): a
client that stops waiting first sees its request go and no answer come. Tests wait for requests
on a condition (`Receiver.wait_for`), never by sleeping.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

WAIT = 10.0  # seconds a test waits for requests before it fails
HOLD_AT_MOST = 30.0  # a held reply gives up waiting for `release` after this long


@dataclass(frozen=True)
class Reply:
    """How the receiver answers one request."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    hold: bool = False  # answer only after `Receiver.release` (or HOLD_AT_MOST)
    drop: bool = False  # read the request, then close the connection without a word


@dataclass(frozen=True)
class Received:
    """One request as it arrived."""

    method: str
    path: str
    headers: Mapping[str, str]  # names in lower case
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """The running server: its address, what it received, what it answers next."""

    def __init__(self, replies: Iterable[Reply] = (), default: Reply | None = None) -> None:
        self._script: deque[Reply] = deque(replies)
        self._default = default or Reply()
        self._received: list[Received] = []
        self._changed = threading.Condition()
        self._released = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> Receiver:
        self._thread.start()
        return self

    def close(self) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(WAIT)

    def script(self, *replies: Reply) -> None:
        """Queue more replies after those not yet used."""
        with self._changed:
            self._script.extend(replies)

    def release(self) -> None:
        """Let held replies answer now (to a client that may have stopped waiting)."""
        self._released.set()

    @property
    def received(self) -> list[Received]:
        with self._changed:
            return list(self._received)

    def wait_for(self, count: int, timeout: float = WAIT) -> list[Received]:
        """The first ``count`` requests, once they have all arrived; fails after ``timeout``."""
        with self._changed:
            if not self._changed.wait_for(lambda: len(self._received) >= count, timeout):
                raise AssertionError(
                    f"{len(self._received)} requests arrived within {timeout:g} s, not {count}"
                )
            return self._received[:count]

    def _take(self, request: Received) -> Reply:
        with self._changed:
            self._received.append(request)
            self._changed.notify_all()
            return self._script.popleft() if self._script else self._default

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {name.lower(): value for name, value in self.headers.items()}
                reply = receiver._take(Received(self.command, self.path, headers, body))
                if reply.drop:
                    self.close_connection = True
                    return
                if reply.hold:
                    receiver._released.wait(HOLD_AT_MOST)
                try:
                    self.send_response_only(reply.status)
                    if not any(name.lower() == "date" for name in reply.headers):
                        self.send_header("Date", self.date_time_string())
                    for name, value in reply.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)
                except OSError:  # the client stopped waiting and went
                    self.close_connection = True

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler


@contextmanager
def receiver(*replies: Reply, default: Reply | None = None) -> Iterator[Receiver]:
    """A started `Receiver` answering ``replies`` in turn, then ``default``; closed after."""
    server = Receiver(replies, default).start()
    try:
        yield server
    finally:
        server.close()
