"""The next crawl's process, started while the service waits for it (``[crawl] warm``).

Each crawl still runs in a process of its own, which exits when the crawl ends (memory back to the
OS, a hung crawl killed, no reactor in the service). What moves is only when that process starts:
a spare (``python -m crawler.warm``) is started as soon as the previous crawl has ended, imports
Scrapy, the spider and its components while nothing is due, and waits on its standard input for
its command line. A crawl that finds a ready spare hands it the command and so begins with its
first request instead of a second of imports; one that finds none (the first crawl of a service
still warming up, a spare that died) starts its own process as before.

The spare's output goes to a temporary file from its start; the crawl's log is that file. A
spare is only used with the environment it was started with (the database URL in it): another
environment stops it and starts a new one. At most one spare waits; ``close`` stops it.
"""

from __future__ import annotations

import json
import logging
import select
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable
from typing import IO

log = logging.getLogger(__name__)
WARM_COMMAND = (sys.executable, "-m", "crawler.warm")
STOP_SECONDS = 5.0


class Spare:
    """One started crawl process, waiting for its command line."""

    def __init__(self, env: dict[str, str], preexec_fn: Callable[[], None] | None) -> None:
        self.env = env
        # a file, not a pipe: a chatty crawl must never block on a full pipe buffer
        # closed by stop(), or by the crawl that takes it over
        self.sink: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self.process = subprocess.Popen(
            WARM_COMMAND,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,  # says "ready", then joins the sink
            stderr=self.sink,
            preexec_fn=preexec_fn,
        )
        self._ready = False

    def ready(self, timeout: float = 0.0) -> bool:
        """Whether it has done its imports (waits up to ``timeout`` seconds to know)."""
        if self._ready:
            return True
        stdout = self.process.stdout
        assert stdout is not None
        readable, _, _ = select.select([stdout], [], [], timeout)
        if readable:
            line = stdout.readline().decode("ascii", "replace")
            self._ready = line.startswith("ready")
        return self._ready

    def start(self, command: list[str]) -> subprocess.Popen:
        """Run ``command`` (``python -m scrapy crawl ...``) in this process; raises OSError
        (BrokenPipeError) when the process is gone."""
        assert self.process.stdin is not None
        argv = ["scrapy", *command[command.index("scrapy") + 1 :]]
        self.process.stdin.write(json.dumps(argv).encode() + b"\n")
        self.process.stdin.close()
        return self.process

    def stop(self) -> None:
        """No crawl after all: end of input ends it; killed if it does not end."""
        try:
            if self.process.stdin is not None:
                self.process.stdin.close()
            self.process.wait(timeout=STOP_SECONDS)
        except (OSError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.sink.close()

    def output_tail(self) -> str:
        self.sink.seek(0)
        return "\n".join(self.sink.read().decode("utf-8", "replace").splitlines()[-10:])


class CrawlSpares:
    """At most one spare crawl process, for the next crawl; thread-safe."""

    def __init__(self, preexec_fn: Callable[[], None] | None = None) -> None:
        self._preexec_fn = preexec_fn
        self._spare: Spare | None = None
        self._lock = threading.Lock()
        self._closed = False

    def prepare(self, env: dict[str, str]) -> None:
        """Start a spare for crawls with ``env``, unless one is there already."""
        with self._lock:
            if self._closed:
                return
            if self._spare is not None:
                if self._spare.env == env and self._spare.process.poll() is None:
                    return
                self._spare.stop()
            try:
                self._spare = Spare(env, self._preexec_fn)
            except OSError as error:  # the next crawl starts its own process
                log.warning("could not start the next crawl's process ahead: %s", error)
                self._spare = None

    def take(self, env: dict[str, str]) -> Spare | None:
        """The waiting spare, when it was started with ``env`` and is alive (one still importing
        is taken too: it is further on than a new process); otherwise None (and a spare that is
        not usable is stopped)."""
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is None:
            return None
        if spare.env != env or spare.process.poll() is not None:
            if spare.process.poll() is not None:
                log.warning(
                    "the crawl process started ahead exited %s; its last lines:\n%s",
                    spare.process.returncode,
                    spare.output_tail(),
                )
            spare.stop()
            return None
        return spare

    def wait_ready(self, timeout: float) -> bool:
        """Whether the waiting spare is ready within ``timeout`` seconds (benchmarks and tests)."""
        with self._lock:
            spare = self._spare
        return spare is not None and spare.ready(timeout)

    def discard(self) -> None:
        """Stop the waiting spare, if any (crawls start their own processes again)."""
        with self._lock:
            spare, self._spare = self._spare, None
        if spare is not None:
            spare.stop()

    def close(self) -> None:
        """Stop the waiting spare, and start no other."""
        with self._lock:
            self._closed = True
        self.discard()
