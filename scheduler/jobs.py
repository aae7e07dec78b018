"""One function per job; the CLI, `cycle`, the service and the demo all run these."""

from __future__ import annotations

import logging
import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from alerts import digest
from alerts.digest import Digests
from alerts.mailer import DeliveryReport, deliver_outbox
from alerts.matching import MatchReport, match_articles
from scheduler.config import AppConfig
from scheduler.crawling import CrawlOutcome, run_crawl
from store.db import Database

log = logging.getLogger("newswatch.jobs")


def crawl_sources(
    config: AppConfig,
    db: Database,
    source: str | None = None,
    log_file: Path | None = None,
    on_start: Callable[[subprocess.Popen], None] | None = None,
) -> list[CrawlOutcome]:
    """Crawl every source (or one) once, each in its own subprocess."""
    sources = [config.source(source)] if source else config.sources
    outcomes = []
    for each in sources:
        outcome = run_crawl(each, config.crawl, db, log_file=log_file, on_start=on_start)
        run = outcome.run
        log.info(
            "crawl %s: %s, %s pages, %s new, %s updated, %s known, %s errors%s",
            each.name,
            run.status if run else f"exit {outcome.exit_code}",
            *(
                (run.pages, run.new, run.updated, run.skipped_known, run.errors)
                if run
                else ("-",) * 5
            ),
            f" (last: {run.last_errors[-1]})" if run and run.last_errors else "",
        )
        outcomes.append(outcome)
    return outcomes


def match_new(config: AppConfig, db: Database) -> MatchReport:
    report = match_articles(db, config.watchlists)
    log.info(
        "match: %d articles checked, %d new matches",
        report.articles_checked,
        sum(len(w.new) for w in report.watchlists.values()),
    )
    return report


def build_digests(
    config: AppConfig, db: Database, *, force: bool = False, now: datetime | None = None
) -> Digests:
    """A digest for every subscriber who is due (every one with ``force``) into the outbox;
    ``.not_rendered`` names those whose digest failed to render (their matches wait)."""
    return digest.build_digests(db, config.subscribers, config.mail, now=now, force=force)


def send_outbox(config: AppConfig, db: Database, *, now: datetime | None = None) -> DeliveryReport:
    """Deliver pending outbox messages (SMTP, or the Maildir while smtp_url is empty)."""
    report = deliver_outbox(db, config.mail, now=now)
    quiet = not (report.sent or report.retrying or report.failed)
    log.log(logging.DEBUG if quiet else logging.INFO, "send: %s", report.summary())
    return report
