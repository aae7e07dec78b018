"""One crawl of one source as a `scrapy crawl dw` subprocess, the way scrapyd launches them:
no Twisted reactor in the service, memory back to the OS after each crawl, a hung crawl killed.

The subprocess gets the source once (JSON in ``NEWSWATCH_SOURCE``) and the id of the CrawlRun row
made here for it (``NEWSWATCH_RUN_ID``). The crawl completes that row itself when it closes
(``crawler.crawl_run``: figures, outcome, counted errors and its own ERROR log lines); this side
completes it only when the crawl died without doing so (failed, its exit status and the error
lines of its output)."""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from sqlalchemy.exc import SQLAlchemyError

from crawler.config import CrawlConfig, SourceConfig, scrapy_settings
from crawler.crawl_run import (
    LOG_ERRORS_KEPT,
    LOG_PREFIX,
    RUN_ERRORS_KEPT,
    RecentLines,
    already_kept,
)
from crawler.parent_death import die_with_parent
from scheduler.crawl_spares import CrawlSpares, Spare
from store.clock import Clock
from store.db import Database, describe_error
from store.models import CrawlRun, CrawlStatus

log = logging.getLogger(__name__)
STOP_GRACE_SECONDS = 20.0
MIN_CRAWL_SECONDS = 30.0


@dataclass
class CrawlOutcome:
    source: str
    exit_code: int
    run: CrawlRun | None
    log_tail: str
    # the crawl's own ERROR/CRITICAL lines and exceptions, whatever its exit status
    log_errors: list[str] = field(default_factory=list)
    # why the crawl could not be recorded (the database refused the parent's writes too)
    cause: str | None = None

    @property
    def ok(self) -> bool:
        return (
            self.exit_code == 0
            and self.cause is None
            and self.run is not None
            and self.run.status == CrawlStatus.OK
        )


# What a crawl subprocess may see of the service's environment: where programs, libraries,
# certificates, proxies and temporary files are, the locale and time zone, libfaketime (for tests),
# and the two settings it needs. No secret: no SMTP password, webhook secret, web token or key.
CRAWL_ENVIRONMENT = frozenset(
    {
        "PATH",
        "HOME",
        "LANG",
        "TZ",
        "PYTHONPATH",
        "VIRTUAL_ENV",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "http_proxy",
        "https_proxy",
        "no_proxy",
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "NO_PROXY",
        "TMPDIR",
        "LD_PRELOAD",
    }
)
CRAWL_ENVIRONMENT_PREFIXES = ("LC_", "FAKETIME")


def crawl_environment(
    parent: Mapping[str, str],
    database_url: str,
    parse_workers: int | str = "auto",
    store_writer: bool | str = "auto",
) -> dict[str, str]:
    """The crawl subprocess's environment: the allow-listed part of ``parent`` and its settings.

    The database URL (it may hold a password) goes by environment, not the command line; the
    parse workers and the article writer too, so that a process started ahead forks what its
    crawl wants."""
    env = {
        name: value
        for name, value in parent.items()
        if name in CRAWL_ENVIRONMENT or name.startswith(CRAWL_ENVIRONMENT_PREFIXES)
    }
    env["SCRAPY_SETTINGS_MODULE"] = "crawler.settings"
    env["NEWSWATCH_DATABASE_URL"] = database_url
    env["NEWSWATCH_PARSE_WORKERS"] = str(parse_workers)
    env["NEWSWATCH_STORE_WRITER"] = str(store_writer).lower()
    return env


_LOG_ERROR = re.compile(
    r"^(?:\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:[.,]\d+)? )?(\[[^\]]*\] (?:ERROR|CRITICAL): .*)"
)
_TRACEBACK = "Traceback (most recent call last):"


def log_error_lines(lines: Iterable[str], keep: int = LOG_ERRORS_KEPT) -> list[str]:
    """The last ``keep`` distinct error lines of a crawl's output, one line each and trimmed:
    its ERROR and CRITICAL log lines (without the timestamp) and the exception line that ends
    each traceback (``sqlite3.OperationalError: attempt to write a readonly database``)."""
    found = RecentLines(keep)
    in_traceback = False
    for raw in lines:
        line = raw.rstrip("\r\n")
        if line.strip() == _TRACEBACK:
            in_traceback = True
            continue
        kept: str | None = None
        if in_traceback:
            if not line.strip() or line[0].isspace():
                continue  # its frames
            in_traceback = False
            kept = line  # the exception that ends it
        else:
            error = _LOG_ERROR.match(line)
            kept = error.group(1) if error else None
        if kept:
            found.add(kept)
    return found.lines


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
    command = [sys.executable, "-m", "scrapy", "crawl", "dw"]
    for name, value in settings.items():
        command += ["-s", f"{name}={value}"]
    return command


def _die_with_parent() -> None:
    """In the crawl subprocess: SIGTERM when the service dies, even by SIGKILL (Linux)."""
    die_with_parent(signal.SIGTERM)


def start_run(database: Database, source: SourceConfig, clock: Clock) -> int | CrawlOutcome:
    """The crawl's ``crawl_runs`` row, made before it starts (wherever it runs): its id, or
    the outcome of a crawl not started because the database refused the row."""
    try:
        with database.session() as session:
            created = CrawlRun(source=source.name, status=CrawlStatus.RUNNING, started_at=clock())
            session.add(created)
            session.commit()
            return created.id
    except SQLAlchemyError as error:
        refused = f"crawl not started: the database refused its row: {describe_error(error)}"
        log.error("%s: %s", source.name, refused)
        return CrawlOutcome(source.name, -1, None, "", cause=refused)


def run_crawl(
    source: SourceConfig,
    crawl: CrawlConfig,
    database: Database,
    clock: Clock,
    log_file: Path | None = None,
    timeout: float | None = None,
    on_start: Callable[[subprocess.Popen], None] | None = None,
    spares: CrawlSpares | None = None,
) -> CrawlOutcome:
    """Crawl one source in a subprocess; its CrawlRun row tells what it found.

    The subprocess parses untrusted pages: it gets only the environment it needs
    (``crawl_environment``). Its own error lines (a traceback, an ERROR log line) are kept in
    the row and logged whatever its exit status; when the database refuses the row, the outcome
    carries the cause. ``on_start`` receives the process, so that a stopping service can ask it
    to stop. With ``spares`` the crawl runs in the process started ahead for it, when there is
    one, and the next crawl's process is started when it ends (``scheduler.crawl_spares``)."""
    run_id = start_run(database, source, clock)
    if isinstance(run_id, CrawlOutcome):
        return run_id
    command = crawl_command(source, crawl, run_id)
    env = crawl_environment(os.environ, database.url, crawl.parse_workers, crawl.store_writer)
    bound = max(crawl.every, MIN_CRAWL_SECONDS)
    limit = timeout if timeout is not None else bound + STOP_GRACE_SECONDS + crawl.timeout
    spare = spares.take(env) if spares is not None else None
    try:
        exit_code, log_errors, output = _crawl_process(
            command, env, limit, log_file, on_start, spare
        )
    finally:
        if spares is not None:
            spares.prepare(env)
    tail = "\n".join(output.decode("utf-8", "replace").splitlines()[-15:])
    if exit_code != 0:
        log.warning("crawl of %s exited %s; its last lines:\n%s", source.name, exit_code, tail)
    cause: str | None = None
    try:
        run, added = _finish_run(database, run_id, exit_code, log_errors, clock())
    except SQLAlchemyError as error:
        run, added = None, []
        cause = f"crawl not recorded: the database refused its row: {describe_error(error)}"
    if cause is not None:
        log.error(
            "crawl of %s (exit %s): %s; the crawl's last error lines:\n%s",
            source.name,
            exit_code,
            cause,
            "\n".join(log_errors) or "(none)",
        )
    elif added:
        log.warning(
            "crawl of %s (exit %s) logged errors:\n%s", source.name, exit_code, "\n".join(added)
        )
    return CrawlOutcome(source.name, exit_code, run, tail, log_errors, cause)


def _crawl_process(
    command: list[str],
    env: dict[str, str],
    limit: float,
    log_file: Path | None,
    on_start: Callable[[subprocess.Popen], None] | None,
    spare: Spare | None,
) -> tuple[int, list[str], bytes]:
    """Run ``command`` in ``spare`` or a new process: its exit status, its own error lines and
    the last 16 KB of its output (which ``log_file``, when given, receives too)."""
    process: subprocess.Popen | None = None
    if spare is not None:
        try:
            process = spare.start(command)
        except OSError as error:  # it died waiting: a process of the crawl's own
            log.warning("the crawl process started ahead is gone (%s): starting one", error)
            spare.stop()
            spare = None
    # a file, not a pipe: a chatty crawl must never block on a full pipe buffer
    with (
        spare.sink if spare is not None
        else open(log_file, "a+b") if log_file
        else tempfile.TemporaryFile()
    ) as sink:  # fmt: skip
        start = 0 if spare is not None else sink.seek(0, os.SEEK_END)
        if process is None:
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
        if spare is not None and log_file is not None:
            sink.seek(0)
            with open(log_file, "ab") as kept:
                shutil.copyfileobj(sink, kept)
        sink.seek(start)
        log_errors = log_error_lines(raw.decode("utf-8", "replace") for raw in sink)
        sink.seek(max(start, sink.seek(0, os.SEEK_END) - 16_384))
        output = sink.read()
    if spare is not None and spare.process.stdout is not None:
        spare.process.stdout.close()
    return exit_code, log_errors, output


def crawl_spares() -> CrawlSpares:
    """A keeper of the next crawl's process, started ahead; each dies with its parent."""
    return CrawlSpares(preexec_fn=_die_with_parent)


def _finish_run(
    database: Database, run_id: int, exit_code: int, log_errors: list[str], now: datetime
) -> tuple[CrawlRun | None, list[str]]:
    """The row as the crawl left it; completed here (failed, the exit status, the crawl's own
    error lines) only when the crawl never recorded itself. Returns the row and the error lines
    it did not have before."""
    with database.session() as session:
        run = session.get(CrawlRun, run_id)
        if run is None:
            return None, []
        if run.status != CrawlStatus.RUNNING:  # recorded by the crawl, its own error lines with it
            return run, [line for line in log_errors if not already_kept(line, run.last_errors)]
        # the crawl died (or its database write failed) before recording
        errors = [f"crawl process exited {exit_code}", *(LOG_PREFIX + line for line in log_errors)]
        run.status, run.finished_at = CrawlStatus.FAILED, now
        run.last_errors = errors[-RUN_ERRORS_KEPT:]
        session.commit()
        return run, log_errors


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
