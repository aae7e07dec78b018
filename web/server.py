"""Serving the web app with uvicorn: beside the service in a thread (:class:`WebServer`), or in
the foreground for `newswatch web` (:func:`serve_forever`).

The listening socket is bound here, before uvicorn starts, so that a port already in use is a
one-line :class:`ListenError` for the command line to report rather than uvicorn's log line and
``sys.exit`` from inside its loop, and so that the port answers as soon as ``start`` returns.
uvicorn handles SIGINT/SIGTERM only in the foreground (it can only do so in the main thread);
beside the service, the service's own handlers stop it through :meth:`WebServer.stop`.
:class:`SwappableApp` lets a config reload give the running server a new app without closing its
socket."""

from __future__ import annotations

import errno
import logging
import re
import signal
import socket
import threading
import time
from typing import Any

import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send

from web.config import WebConfig

log = logging.getLogger("newswatch.web")
START_TIMEOUT = 30.0  # seconds for the app to start (its lifespan) once the socket is bound
STOP_TIMEOUT = 10.0
# open requests get this long to finish on stop; idle keep-alive connections close at once
GRACEFUL_SECONDS = 5


class ListenError(Exception):
    """The web app cannot listen where it was told to (one line, naming the address)."""


def listen_problem(web: WebConfig) -> str | None:
    """Why the web app must not start with this config: listening beyond loopback without the
    operator's token would open the dashboard (and, unless ``public``, the archive) to anyone
    who can reach the address. None when it may start (or is off)."""
    if web.enabled and not web.loopback and web.token is None:
        return (
            f"web.listen: the web app listens on {web.listen} beyond loopback: set "
            f"{WebConfig.ENV_TOKEN} (the operator's token for /status) or listen on "
            f"127.0.0.1:{web.port}"
        )
    return None


def bind(web: WebConfig) -> socket.socket:
    """A socket listening on ``web.listen``; :class:`ListenError` when it cannot."""
    host, port = web.host, web.port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as error:
        sock.close()
        reason = error.strerror or str(error)
        if error.errno == errno.EADDRINUSE:
            reason = "the address is already in use (another newswatch, or another program)"
        raise ListenError(
            f"cannot listen on {web.listen}: {reason}; choose another web.listen "
            "(or `newswatch web --listen HOST:PORT`)"
        ) from None
    except BaseException:
        sock.close()
        raise
    return sock


class RedactLinkTokens(logging.Filter):
    """Keeps signed link tokens out of the access log: a subscriber's token is the key to their
    preferences and a feed token opens a feed, and logs travel further than the database."""

    _SUBSCRIBER = re.compile(r"^(/(?:preferences|unsubscribe)/)[^/?]+")
    _QUERY = re.compile(r"([?&]token=)[^&]*")

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            path = self._QUERY.sub(r"\1…", self._SUBSCRIBER.sub(r"\1…", args[2]))
            record.args = (*args[:2], path, *args[3:])
        return True


def _uvicorn_config(app: ASGIApp) -> uvicorn.Config:
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(each, RedactLinkTokens) for each in access.filters):
        access.addFilter(RedactLinkTokens())
    return uvicorn.Config(
        app,
        log_config=None,  # our logging (scheduler.logs) formats uvicorn's records too
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
        lifespan="auto",
    )


class SwappableApp:
    """An ASGI app that passes every request to the current app; a reload replaces it while
    the server keeps its socket (requests in flight finish on the old one)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


class WebServer:
    """The web app in a thread beside the service: :meth:`start` binds, starts uvicorn and
    returns once the app is serving; :meth:`stop` lets open requests finish and returns once
    the socket is closed."""

    def __init__(self, app: ASGIApp, web: WebConfig) -> None:
        self.web = web
        self.app = SwappableApp(app)
        self._server = uvicorn.Server(_uvicorn_config(self.app))
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None

    @property
    def url(self) -> str:
        host = f"[{self.web.host}]" if ":" in self.web.host else self.web.host
        return f"http://{host}:{self.web.port}"

    def start(self) -> WebServer:
        sock = bind(self.web)  # ListenError before any thread
        self._thread = threading.Thread(target=self._serve, args=(sock,), name="web", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ListenError(
                    f"the web app on {self.web.listen} did not start"
                    + (f": {self._failure}" if self._failure else " (see the log)")
                )
            time.sleep(0.02)
        log.info("web app serving on %s", self.url)
        return self

    def _serve(self, sock: socket.socket) -> None:
        try:
            self._server.run(sockets=[sock])
        except BaseException as error:  # SystemExit from a failed lifespan start, among others
            self._failure = error
            log.error("the web app stopped: %r", error)
        finally:
            sock.close()

    def replace_app(self, app: ASGIApp) -> None:
        self.app.app = app

    def stop(self) -> None:
        self._server.should_exit = True
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(STOP_TIMEOUT + GRACEFUL_SECONDS)
            if thread.is_alive():
                log.warning("the web app did not stop in %ss", STOP_TIMEOUT + GRACEFUL_SECONDS)
        self._thread = None

    def __enter__(self) -> WebServer:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()


def serve_forever(app: ASGIApp, web: WebConfig) -> None:
    """`newswatch web`: serve ``app`` in the foreground until SIGINT or SIGTERM (uvicorn's own
    handlers), then return normally once open requests are done."""
    sock = bind(web)
    # uvicorn re-raises the signal that stopped it once it has restored the handlers it found:
    # these, so that a stop asked for is a normal return, not death by SIGTERM
    previous = {each: signal.signal(each, _ignore) for each in (signal.SIGINT, signal.SIGTERM)}
    try:
        log.info("web app serving on http://%s (Ctrl+C stops it)", web.listen)
        uvicorn.Server(_uvicorn_config(app)).run(sockets=[sock])
    finally:
        sock.close()
        for each, handler in previous.items():
            signal.signal(each, handler)


def _ignore(*_: Any) -> None:
    """A stop signal after uvicorn handled it: nothing more to do."""
