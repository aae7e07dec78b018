"""A real HTTP server for the demo site on loopback, for ``newswatch demo``, tests and benchmarks.

    with DemoServer(demo_articles()) as server:
        server.routes["/broken"] = Route(status=500)
        crawl(server.base_url + "/rdf/rss-en-all")
        assert server.request_log.article_requests()

``server.set_drift(True)`` / ``server.set_drift(False)`` switch the drift variant (pages
redesigned, see ``demo.drift``) while it runs.

``python -m demo.server [--port N] [--articles N] [--drift]`` serves in the foreground and prints
its URL.
"""

from __future__ import annotations

import argparse
import re
import threading
import time
from dataclasses import dataclass, field
from email.message import Message
from email.utils import parsedate_to_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import urlsplit

from demo.articles import DemoArticle, demo_articles
from demo.site import HTML, DemoSite, Response
from demo.synthetic import synthetic_articles

_ARTICLE_PATH = re.compile(r"/(a|av)-\d+(?:/|$)")


@dataclass
class Route:
    """A canned response that overrides the site for one path (exact, query included or not).

    ``drop_after`` sends only that many body bytes and closes the connection, although the
    Content-Length announces the whole body (a truncated transfer).
    """

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop_after: int | None = None


class RequestLog(list[str]):
    """The request targets (path and query) the server received, in order; safe across threads.
    ``answers`` holds (target, status) of each answer sent, ``bytes_sent`` their body bytes."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self.answers: list[tuple[str, int]] = []
        self.bytes_sent = 0

    def answered(self, target: str, status: int, body_bytes: int) -> None:
        with self._lock:
            self.answers.append((target, status))
            self.bytes_sent += body_bytes

    def statuses(self, path: str) -> list[int]:
        """The statuses answered to requests for ``path`` (query ignored), in order."""
        with self._lock:
            return [status for target, status in self.answers if urlsplit(target).path == path]

    def record(self, target: str) -> None:
        with self._lock:
            self.append(target)

    def clear(self) -> None:
        with self._lock:
            super().clear()
            self.answers.clear()
            self.bytes_sent = 0

    def article_requests(self) -> list[str]:
        """The requests that named an article or video (``/a-<id>``, ``/av-<id>``)."""
        with self._lock:
            return [t for t in self if _ARTICLE_PATH.search(urlsplit(t).path)]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive
    disable_nagle_algorithm = True
    server: _DemoHTTPServer

    def do_GET(self) -> None:
        self._answer(send_body=True)

    def do_HEAD(self) -> None:
        self._answer(send_body=False)

    def _answer(self, send_body: bool) -> None:
        owner = self.server.owner
        owner.request_log.record(self.path)
        route = owner.routes.get(self.path) or owner.routes.get(urlsplit(self.path).path)
        if route is not None:
            if route.delay:
                time.sleep(route.delay)
            response = Response(route.status, route.headers, route.body)
        else:
            response = owner.site.respond(self.path)
            if response.status == 200 and _not_modified(self.headers, response.headers):
                response = Response(304, _validators(response.headers), b"")
        self.send_response(response.status)
        headers = {"Content-Type": HTML, "Content-Length": str(len(response.body))}
        headers |= response.headers
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        body = response.body
        if route is not None and route.drop_after is not None:
            body = body[: route.drop_after]
            self.close_connection = True
        if send_body:
            self.wfile.write(body)
        owner.request_log.answered(self.path, response.status, len(body) if send_body else 0)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _validators(headers: dict[str, str]) -> dict[str, str]:
    return {name: headers[name] for name in ("ETag", "Last-Modified") if name in headers}


def _not_modified(request: Message, answer: dict[str, str]) -> bool:
    """Whether a conditional GET may be answered 304 (RFC 9110 13.2.2: If-None-Match first,
    If-Modified-Since only without it)."""
    match = request.get("If-None-Match")
    if match is not None:
        etag = answer.get("ETag")
        return etag is not None and (
            match.strip() == "*" or etag in (tag.strip() for tag in match.split(","))
        )
    since, modified = request.get("If-Modified-Since"), answer.get("Last-Modified")
    if since is None or modified is None:
        return False
    try:
        return parsedate_to_datetime(modified) <= parsedate_to_datetime(since)
    except (TypeError, ValueError):
        return False


class _DemoHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], owner: DemoServer) -> None:
        self.owner = owner
        super().__init__(address, _Handler)


class DemoServer:
    """The demo site on a free loopback port, served from a background thread."""

    def __init__(
        self,
        site_or_articles: DemoSite | list[DemoArticle] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.routes: dict[str, Route] = {}
        self.request_log = RequestLog()
        self._httpd = _DemoHTTPServer((host, port), self)
        bound_host, bound_port = self._httpd.server_address[:2]
        self.host, self.port = str(bound_host), int(bound_port)
        self.base_url = f"http://{self.host}:{self.port}"
        if isinstance(site_or_articles, DemoSite):
            self.site = site_or_articles
            self.site.set_base_url(self.base_url)
        else:
            articles = demo_articles() if site_or_articles is None else site_or_articles
            self.site = DemoSite(articles, self.base_url)
        self._thread: threading.Thread | None = None

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def drifting(self) -> bool:
        """Whether the pages are served redesigned (``demo.drift``)."""
        return self.site.drifting

    def set_drift(self, on: bool, scripts: bool = True, redate: bool = True) -> None:
        """Switch the drift variant while the server runs (``DemoSite.set_drift``)."""
        self.site.set_drift(on, scripts=scripts, redate=redate)

    def start(self) -> DemoServer:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._httpd.serve_forever, name=f"demo-server:{self.port}", daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def __enter__(self) -> DemoServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m demo.server", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument("--port", type=int, default=0, help="port (0: a free one)")
    parser.add_argument(
        "--articles",
        type=int,
        default=0,
        help="also serve this many generated articles (for benchmarks)",
    )
    parser.add_argument(
        "--drift", action="store_true", help="serve the pages redesigned (demo.drift)"
    )
    args = parser.parse_args(argv)
    articles = demo_articles() + synthetic_articles(args.articles)
    server = DemoServer(articles, host=args.host, port=args.port)
    if args.drift:
        server.set_drift(True, redate=False)
    print(f"DW demo site with {len(articles)} articles at {server.base_url}/", flush=True)
    print(
        f"  feeds: {server.base_url}/rdf/rss-en-all  {server.base_url}/xml/rss-de-all", flush=True
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()


if __name__ == "__main__":
    main()
