"""The CrawlRun row of one crawl, as the crawl itself completes it.

Who writes the row: ``newswatch crawl`` (``scheduler.crawling``) makes it before the crawl starts
and hands its id over (``NEWSWATCH_RUN_ID``); the crawl completes it when it closes
(``record_run``: figures, outcome, the errors it counted, its own ERROR log lines and its
extraction health, ``crawler.extraction``). The parent completes it only when the crawl died
without doing so. A crawl run by hand makes its own row.

No Scrapy import here: the parent reads ``already_kept`` and the limits too.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from store.db import Database
from store.models import CrawlRun, CrawlStatus

FIGURES = ("pages", "new", "updated", "skipped_known", "errors", "selector_fallbacks")
RUN_ERRORS_KEPT = 20  # lines of CrawlRun.last_errors
LOG_ERRORS_KEPT = 5  # of the crawl's own error lines, the last ones kept in CrawlRun.last_errors
LOG_LINE_CHARS = 300
LOG_PREFIX = "crawl log: "  # marks a log line in last_errors (the other lines are url: reason)

_LEVEL = re.compile(r"\] (?:ERROR|CRITICAL): ")
_MODULE = re.compile(r"^[\w.]+\.(?=\w+: )")
_URL = re.compile(r"https?://[^\s<>]+")


def run_status(reason: str, figures: Mapping[str, int]) -> CrawlStatus:
    """ok, interrupted (stopped before the end) or failed (errors and not one page read)."""
    if reason != "finished":
        return CrawlStatus.INTERRUPTED
    return CrawlStatus.FAILED if figures["errors"] and not figures["pages"] else CrawlStatus.OK


def already_kept(line: str, errors: list[str]) -> bool:
    """Whether ``errors`` already tells this error line: the same text, or a line about a URL
    the crawl counted an error for (``url: reason``)."""
    message = _LEVEL.split(line, maxsplit=1)[-1]
    exception = _MODULE.sub("", message)  # the spider names an exception by its class alone
    if any(kept and (exception in kept or kept in message) for kept in errors):
        return True
    urls = _URL.findall(message)
    return any(kept.startswith(f"{url}: ") for url in urls for kept in errors)


class RecentLines:
    """The last ``keep`` distinct lines added, each trimmed to one line of at most
    LOG_LINE_CHARS characters; a line added again moves to the end."""

    def __init__(self, keep: int = LOG_ERRORS_KEPT) -> None:
        self.keep = keep
        self._found: dict[str, None] = {}  # ordered and distinct

    def add(self, line: str) -> None:
        kept = line.strip().split("\n", 1)[0][:LOG_LINE_CHARS]
        if kept:
            self._found.pop(kept, None)
            self._found[kept] = None

    @property
    def lines(self) -> list[str]:
        return list(self._found)[-self.keep :] if self.keep else []


class ErrorLines(logging.Handler):
    """The crawl's own ERROR and CRITICAL log lines, as its output shows them (``[logger] ERROR:
    message``, then the exception line of each traceback, causes first): distinct, the last
    ``keep``, each trimmed to one line."""

    def __init__(self, keep: int = LOG_ERRORS_KEPT) -> None:
        super().__init__(logging.ERROR)
        self._recent = RecentLines(keep)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            lines = [f"[{record.name}] {record.levelname}: {record.getMessage()}"]
            if record.exc_info and record.exc_info[1] is not None:
                lines += _exception_lines(record.exc_info[1])
            for line in lines:
                self._recent.add(line)
        except Exception:  # a log record that cannot be formatted must not stop the crawl
            self.handleError(record)

    @property
    def lines(self) -> list[str]:
        return self._recent.lines


def _exception_lines(error: BaseException) -> list[str]:
    """The last line of each traceback Python prints for ``error``: its causes first."""
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or (
            None if current.__suppress_context__ else current.__context__
        )
    return [traceback.format_exception_only(type(e), e)[-1] for e in reversed(chain)]


def record_run(
    database: Database,
    run_id: int,
    reason: str,
    figures: Mapping[str, int],
    counted_errors: list[str],
    log_lines: list[str],
    now: datetime,
    extraction: Mapping[str, Any] | None = None,
) -> None:
    """Complete the crawl's row: its figures, outcome, the errors it counted, the log lines
    that tell something those do not and, when given, its extraction health
    (``crawler.extraction``: CrawlRun.extraction)."""
    errors = counted_errors[-RUN_ERRORS_KEPT:]
    errors += [LOG_PREFIX + line for line in log_lines if not already_kept(line, errors)]
    with database.session() as session:
        run = session.get(CrawlRun, run_id)
        if run is None:
            return
        run.finished_at = now
        run.status = run_status(reason, figures)
        run.last_errors = errors[-RUN_ERRORS_KEPT:]
        for name, value in figures.items():
            setattr(run, name, value)
        if extraction is not None:
            run.extraction = dict(extraction)
        session.commit()
