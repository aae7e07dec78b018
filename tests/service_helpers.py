"""Helpers for the service tests: `newswatch run` as a real process, a real SMTP server that
records (or holds) what it is given, a slowed-down demo site, and polling instead of sleeps."""

from __future__ import annotations

import asyncio
import email
import email.policy
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

from aiosmtpd.controller import Controller

from demo.server import DemoServer
from demo.site import Response

ROOT = Path(__file__).resolve().parents[1]
SHORT_URL = re.compile(r"https://p\.dw\.com/p/([0-9A-Za-z]+)")
ARTICLE_PATH = re.compile(r"/(a|av)-\d+(?:/|$)")
T = TypeVar("T")


def wait_for(what: str, check: Callable[[], T], timeout: float = 30.0, interval: float = 0.1) -> T:
    """Poll ``check`` until it returns something truthy; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# ---------------------------------------------------------------- mail


@dataclass
class Mail:
    recipient: list[str]
    content: bytes

    @property
    def message(self) -> EmailMessage:
        parsed = email.message_from_bytes(
            self.content.replace(b"\r\n", b"\n"), policy=email.policy.default
        )
        assert isinstance(parsed, EmailMessage)
        return parsed

    @property
    def text(self) -> str:
        part = self.message.get_body(("plain",))
        assert part is not None, "no text/plain part"
        return part.get_content()

    def short_ids(self) -> set[str]:
        """The DW articles this digest names (their p.dw.com short links)."""
        return set(SHORT_URL.findall(self.text))


class Mailbox:
    """An aiosmtpd handler that keeps every message it accepts.

    With ``hold`` set, the next DATA is neither accepted nor refused until ``release()``: the
    sender sits mid-transaction, then gets a 451 (and the message is not kept)."""

    def __init__(self) -> None:
        self.received: list[Mail] = []
        self.hold = False
        self.holding = threading.Event()
        self._released = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.hold:
            self.hold = False
            self.holding.set()
            while not self._released.is_set():
                await asyncio.sleep(0.05)
            return "451 4.3.0 try again later"
        self.received.append(Mail(list(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 queued"

    def release(self) -> None:
        self._released.set()

    def to(self, address: str) -> list[Mail]:
        return [m for m in list(self.received) if address in m.recipient]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def smtp_server(mailbox: Mailbox) -> Iterator[int]:
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.port
    finally:
        mailbox.release()
        controller.stop()


# ---------------------------------------------------------------- a slow demo site


class SlowSite:
    """Wraps the demo site: article and video pages answer after ``delay`` seconds;
    ``served`` counts the article pages answered so far (the crawl is that far)."""

    def __init__(self, site: Any, delay: float) -> None:
        self.site = site
        self.delay = delay
        self.served = 0
        self._lock = threading.Lock()

    def respond(self, target: str) -> Response:
        if not ARTICLE_PATH.search(urlsplit(target).path):
            return self.site.respond(target)
        time.sleep(self.delay)
        response = self.site.respond(target)
        with self._lock:
            self.served += 1
        return response

    def __getattr__(self, name: str) -> Any:
        return getattr(self.site, name)


@contextmanager
def slow_articles(server: DemoServer, delay: float) -> Iterator[SlowSite]:
    original = server.site
    slow = SlowSite(original, delay)
    server.site = slow  # type: ignore[assignment]
    try:
        yield slow
    finally:
        server.site = original


# ---------------------------------------------------------------- config


def config_text(
    database_url: str,
    server: DemoServer,
    smtp_port: int,
    *,
    every: str = "3s",
    subscribers: list[tuple[str, str]] | None = None,
    web_listen: str = "",
) -> str:
    """A service config on the demo site; the web app off unless ``web_listen`` is given
    (services in one test must not fight over the default port)."""
    subscribers = subscribers if subscribers is not None else [("a@example.org", "immediate")]
    people = "".join(
        f'\n[[subscribers]]\nemail = "{address}"\nwatchlists = ["syria"]\n'
        f'schedule = "{schedule}"\ntimezone = "UTC"\n'
        for address, schedule in subscribers
    )
    return f"""
[storage]
url = "{database_url}"

[crawl]
every = "{every}"
jitter = "0s"
delay = "0s"
autothrottle = false
concurrency = 4

[[sources]]
name = "demo"
feeds = ["{server.url("/rdf/rss-en-all")}", "{server.url("/xml/rss-de-all")}"]
allowed_domains = ["127.0.0.1"]

[[watchlists]]
name = "syria"
terms = ["Raqqa", "Daesh", "Islamic State"]
match_case = ["IS"]
{people}
[mail]
smtp_url = "smtp://127.0.0.1:{smtp_port}"

[web]
listen = "{web_listen}"
"""


# ---------------------------------------------------------------- a TCP proxy that cuts


class TcpProxy:
    """A TCP forwarder on 127.0.0.1 in front of ``host:port`` (PostgreSQL): ``cut()`` drops
    every connection through it at once, as a server restart, a failover or an idle-session
    killer does (``server_too=False``: only the client's end, the server's stays open as behind
    a NAT that forgot the connection); while ``refusing`` is set it closes each new connection
    on arrival (the server is down)."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.refusing = False
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._pairs: set[_Pair] = set()
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, name="tcp-proxy", daemon=True).start()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        with suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the accepting thread (Linux)
        self._listener.close()
        self.cut()

    def cut(self, *, server_too: bool = True) -> int:
        """Drop every open connection; the number dropped."""
        with self._lock:
            pairs = list(self._pairs)
        for pair in pairs:
            pair.keep_server = not server_too
            pair.shut()
        return len(pairs)

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:  # closed
                return
            if self.refusing:
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            pair = _Pair(client, upstream, self._forget)
            with self._lock:
                self._pairs.add(pair)
            pair.start()

    def _forget(self, pair: _Pair) -> None:
        with self._lock:
            self._pairs.discard(pair)


class _Pair:
    """One proxied connection: a thread each way; the last one out closes both sockets."""

    def __init__(
        self, client: socket.socket, upstream: socket.socket, done: Callable[[_Pair], None]
    ) -> None:
        self.sockets = (client, upstream)
        self.keep_server = False  # cut: the server's end stays open until the server closes it
        self._done = done
        self._running = 2
        self._lock = threading.Lock()

    def start(self) -> None:
        client, upstream = self.sockets
        for source, sink in ((client, upstream), (upstream, client)):
            threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def shut(self) -> None:
        for each in self.sockets[:1] if self.keep_server else self.sockets:  # wakes the threads
            with suppress(OSError):
                each.shutdown(socket.SHUT_RDWR)

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        self.shut()
        with self._lock:
            self._running -= 1
            last = self._running == 0
        if last:
            for each in self.sockets:
                each.close()
            self._done(self)


# ---------------------------------------------------------------- the service process


def descendants(pid: int) -> list[int]:
    """The processes below ``pid`` (the crawl subprocesses of a service), from /proc."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rpartition(")")[2].split()[1])
        parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        children = parents.get(todo.pop(), [])
        found += children
        todo += children
    return found


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


class Service:
    """`newswatch --config PATH run` in a subprocess, its log in a file; never left behind."""

    def __init__(
        self,
        config: Path,
        log: Path,
        env: dict[str, str] | None = None,
        command: tuple[str, ...] = ("run",),
    ) -> None:
        self.config = config
        self.log_path = log
        self.env = env or {}
        self.command = command  # ("run", "--standby"), ("send", "--loop") ...
        self.process: subprocess.Popen[bytes] | None = None
        self._known: set[int] = set()

    def start(self) -> Service:
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "scheduler.cli",
                    "--config",
                    str(self.config),
                    *self.command,
                ],
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env={k: v for k, v in os.environ.items() if not k.startswith("NEWSWATCH_")}
                | self.env,
            )
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def count(self, text: str) -> int:
        return self.log().count(text)

    def wait_log(self, text: str, times: int = 1, timeout: float = 30.0) -> None:
        def seen() -> bool:
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(
                    f"service exited {self.process.returncode} before logging {text!r}:\n"
                    + self.log()
                )
            return self.count(text) >= times

        try:
            wait_for(f"{text!r} x{times} in the service log", seen, timeout)
        except AssertionError as error:
            raise AssertionError(f"{error}\n--- service log ---\n{self.log()}") from None

    def children(self) -> list[int]:
        found = descendants(self.pid)
        self._known.update(found)
        return found

    def signal(self, number: int) -> None:
        self.children()  # remember the crawl, to clean it up should it outlive the service
        assert self.process is not None
        self.process.send_signal(number)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def kill(self) -> None:
        """SIGKILL, as `kill -9` would."""
        self.signal(signal.SIGKILL)
        self.wait(10)

    def wait_orphans(self, timeout: float = 30.0) -> None:
        """Wait for the crawls a killed service left (they stop when their parent dies)."""
        wait_for("the orphaned crawl to exit", lambda: not any(map(alive, self._known)), timeout)

    def cleanup(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.children()
            self.process.kill()
            self.process.wait(10)
        for pid in self._known:  # still our crawl (not a reused pid)?
            if alive(pid) and b"scrapy" in _cmdline(pid):
                with suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""
