"""One crawl of one source as a `scrapy crawl dw` subprocess, the way scrapyd launches them:
no Twisted reactor in the service, memory back to the OS after each crawl, a hung crawl killed."""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from crawler.config import CrawlConfig, SourceConfig, scrapy_settings
from store.clock import Clock
from store.db import Database
from store.models import CrawlRun

log = logging.getLogger(__name__)
STOP_GRACE_SECONDS = 20.0
PR_SET_PDEATHSIG = 1
MIN_CRAWL_SECONDS = 30.0


@dataclass
class CrawlOutcome:
    source: str
    exit_code: int
    run: CrawlRun | None
    log_tail: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and self.run is not None and self.run.status == "ok"


def crawl_command(
    source: SourceConfig,
    crawl: CrawlConfig,
    run_id: int = 0,
    log_level: str = "INFO",
) -> list[str]:
    settings = {
        **scrapy_settings(crawl),
        "NEWSWATCH_SOURCE": source.model_dump_json(),
        "NEWSWATCH_RUN_ID": str(run_id),
        "LOG_LEVEL": log_level,
        # a crawl is bounded by the interval, with a floor for very short test intervals
        "CLOSESPIDER_TIMEOUT": str(int(max(crawl.every, MIN_CRAWL_SECONDS))),
    }
    command = [sys.executable, "-m", "scrapy", "crawl", "dw", "-a", f"source={source.name}"]
    for name, value in settings.items():
        command += ["-s", f"{name}={value}"]
    return command


def _load_libc() -> ctypes.CDLL | None:
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:  # not Linux: a crawl outlives a killed service and finishes on its own
        return None


# loaded here, once: between fork and exec (with the service's threads about) nothing may take
# a lock, and dlopen does
_LIBC = _load_libc()


def _die_with_parent() -> None:
    """In the crawl subprocess: SIGTERM when the service dies, even by SIGKILL (Linux). Only a
    system call: safe between fork and exec."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def run_crawl(
    source: SourceConfig,
    crawl: CrawlConfig,
    database: Database,
    clock: Clock,
    log_file: Path | None = None,
    timeout: float | None = None,
    on_start: Callable[[subprocess.Popen], None] | None = None,
) -> CrawlOutcome:
    """Crawl one source in a subprocess; its CrawlRun row tells what it found.

    ``on_start`` receives the process, so that a stopping service can ask it to stop."""
    with database.session() as session:
        created = CrawlRun(source=source.name, status="running", started_at=clock())
        session.add(created)
        session.commit()
        run_id = created.id
    command = crawl_command(source, crawl, run_id)
    # the database URL (it may hold a password) goes by environment, not the command line
    env = {
        **os.environ,
        "SCRAPY_SETTINGS_MODULE": "crawler.settings",
        "NEWSWATCH_DATABASE_URL": database.url,
    }
    bound = max(crawl.every, MIN_CRAWL_SECONDS)
    limit = timeout if timeout is not None else bound + STOP_GRACE_SECONDS + crawl.timeout
    # a file, not a pipe: a chatty crawl must never block on a full pipe buffer
    with open(log_file, "a+b") if log_file else tempfile.TemporaryFile() as sink:
        start = sink.seek(0, os.SEEK_END)
        process = subprocess.Popen(
            command,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
        )
        if on_start is not None:
            on_start(process)
        exit_code = wait_or_stop(process, limit)
        sink.seek(max(start, sink.seek(0, os.SEEK_END) - 16_384))
        output = sink.read()
    with database.session() as session:
        run = session.get(CrawlRun, run_id)
        if run is not None and run.status == "running":  # the crawl died before recording
            run.status, run.finished_at = "failed", clock()
            run.last_errors = [f"crawl process exited {exit_code}"]
            session.commit()
    tail = "\n".join(output.decode("utf-8", "replace").splitlines()[-15:])
    if exit_code != 0:
        log.warning("crawl of %s exited %s; its last lines:\n%s", source.name, exit_code, tail)
    return CrawlOutcome(source.name, exit_code, run, tail)


def wait_or_stop(process: subprocess.Popen, timeout: float) -> int:
    """Wait for the crawl; past the timeout ask it to stop (SIGINT: Scrapy closes cleanly),
    then kill it after a grace period."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        log.warning("crawl pid %s ran past %.0fs: stopping it", process.pid, timeout)
    return stop(process)


def stop(process: subprocess.Popen, grace: float = STOP_GRACE_SECONDS) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            return process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()
