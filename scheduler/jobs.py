"""One function per job; the CLI, `cycle`, the service and the demo all run these, each with
the clock its composition root chose (store/clock.py)."""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from alerts import digest
from alerts.channel_delivery import deliver_channels
from alerts.digest import Digests
from alerts.mailer import DeliveryReport, deliver_outbox
from alerts.match_stage import MatchReport, match_articles
from alerts.subscribers import Effective, with_choices
from scheduler import problems
from scheduler.config import AppConfig
from scheduler.crawl_spares import CrawlSpares
from scheduler.crawling import CrawlOutcome, run_crawl
from scheduler.scrapyd_nodes import run_on_nodes
from store.clock import Clock
from store.db import Database
from store.links import Links, secret_key
from store.subscriber_choices import choices_of

log = logging.getLogger("newswatch.jobs")


def crawl_sources(
    config: AppConfig,
    db: Database,
    clock: Clock,
    source: str | None = None,
    log_file: Path | None = None,
    on_start: Callable[[subprocess.Popen], None] | None = None,
    stopping: threading.Event | None = None,
    spares: CrawlSpares | None = None,
) -> list[CrawlOutcome]:
    """Crawl every source (or one) once, each in its own subprocess or scrapyd job
    (``stopping``: a stopping service cancels the job, as ``on_start`` lets it stop a
    subprocess; ``spares``: the subprocess started ahead, see ``scheduler.crawl_spares``)."""
    sources = [config.source(source)] if source else config.sources
    outcomes = []
    for each in sources:
        if config.crawl.scrapyd:  # a job on a scrapyd node
            outcome = run_on_nodes(each, config.crawl, db, clock, stopping=stopping)
        else:
            outcome = run_crawl(
                each, config.crawl, db, clock, log_file=log_file, on_start=on_start, spares=spares
            )
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
            _last_error(outcome),
        )
        outcomes.append(outcome)
    return outcomes


def _last_error(outcome: CrawlOutcome) -> str:
    if outcome.run is not None and outcome.run.last_errors:
        return f" (last: {outcome.run.last_errors[-1]})"
    return f" ({outcome.cause})" if outcome.cause else ""


def match_new(config: AppConfig, db: Database, clock: Clock) -> MatchReport:
    report = match_articles(db, config.watchlists, now=clock())
    log.info(
        "match: %d articles checked, %d new matches",
        report.articles_checked,
        sum(len(w.new) for w in report.watchlists.values()),
    )
    return report


def build_digests(
    config: AppConfig,
    db: Database,
    clock: Clock,
    *,
    force: bool = False,
    only: Callable[[Effective], bool] | None = None,
) -> Digests:
    """A digest for every subscriber who is due (every one with ``force``) into the outbox, as
    their choices make them; ``only``: of the subscribers it accepts. ``.not_rendered`` names
    those whose digest failed to render (their matches wait). Every digest carries the
    subscriber's signed links, unless no web app serves them (``[web] listen`` empty and no
    ``base_url``): then the footer names the sender's address."""
    subscribers = config.subscribers
    if only is not None:
        with db.session() as session:
            chosen = choices_of(session, [each.key for each in subscribers])
        subscribers = [
            each for each in subscribers if only(with_choices(each, chosen.get(each.key)))
        ]
        if not subscribers:
            return Digests()
    served = config.web.enabled or bool(config.web.base_url)
    links = signed_links(config, db, clock) if served else None
    return digest.build_digests(
        db,
        subscribers,
        config.mail,
        now=clock(),
        force=force,
        links=links,
        channels=config.channels,
    )


def immediate(subscriber: Effective) -> bool:
    """Whose digests follow each crawl: their schedule in effect is ``immediate``."""
    return subscriber.mailed and subscriber.subscriber.schedule.kind == "immediate"


def own_schedule(subscriber: Effective) -> bool:
    """Whose schedule in effect is one they chose on the web (not ``immediate``: those follow
    each crawl), which the service's jobs planned from the config do not cover."""
    schedule = subscriber.subscriber.schedule
    return subscriber.mailed and subscriber.own_schedule and schedule.kind != "immediate"


def send_outbox(config: AppConfig, db: Database, clock: Clock) -> DeliveryReport:
    """Deliver pending outbox messages: the emails (SMTP, or the Maildir while smtp_url is
    empty) and, beside them in a thread of their own so that neither waits for the other, the
    channel messages (their secrets from this process's environment)."""
    with ThreadPoolExecutor(1, thread_name_prefix="channels") as beside:
        channels = beside.submit(
            deliver_channels, db, config.channels, clock=clock, environ=os.environ
        )
        report = deliver_outbox(db, config.mail, clock=clock)
        report.add(channels.result())
    quiet = not (report.sent or report.retrying or report.failed or report.uncertain)
    log.log(logging.DEBUG if quiet else logging.INFO, "send: %s", report.summary())
    return report


def check_problems(config: AppConfig, db: Database, clock: Clock) -> problems.Notified:
    """Keep the problems table in step with the health rules and tell the operator of each
    start and end once (`scheduler.problems`)."""
    done = problems.check_problems(config, db, clock, os.environ)
    if done.started or done.ended:
        log.info("problems: %d started, %d ended", len(done.started), len(done.ended))
    return done


def signed_links(config: AppConfig, db: Database, clock: Clock) -> Links:
    """The links mail and the web app use: under ``web.base_url``, signed with
    $NEWSWATCH_SECRET_KEY or the key kept in the database (generated the first time)."""
    key = config.web.secret_key.get_secret_value() if config.web.secret_key else None
    return Links(config.web.link_base, secret_key(db, key, clock()))
