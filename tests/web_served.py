"""The web app served by uvicorn on a loopback port, in a thread, for tests that drive it with
httpx: the socket is bound first (port 0), so the URL is known before the app is built (its
links and Origin checks use it), and the server is up when ``serve`` yields."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import uvicorn
from fastapi import FastAPI

START_DEADLINE = 60.0


@contextmanager
def serve(build: Callable[[str], FastAPI]) -> Iterator[str]:
    """Serve ``build(base_url)`` on 127.0.0.1; yields the base URL, stops it afterwards."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(build(base_url), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    started = threading.Event()
    original_startup = server.startup

    async def startup(sockets: list[socket.socket] | None = None) -> None:
        await original_startup(sockets=sockets)
        started.set()

    server.startup = startup  # type: ignore[method-assign]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        if not started.wait(START_DEADLINE):
            raise RuntimeError(f"the web app did not start within {START_DEADLINE} s")
        yield base_url
    finally:
        server.should_exit = True
        thread.join(START_DEADLINE)
        sock.close()
