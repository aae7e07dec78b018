"""Helpers for the crawl tests: real `scrapy crawl dw` subprocesses against the demo site.

Each crawl costs a second or two, so the tests group several cases into one crawl and assert on
what it left behind: rows in the database, requests the demo server saw, the CrawlRun figures.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

from sqlalchemy import select

from crawler.config import CrawlConfig, SourceConfig
from demo import DemoArticle, DemoServer, DemoSite
from scheduler.crawling import CrawlOutcome, run_crawl
from store.clock import system_clock
from store.db import Database
from store.models import Article

SEED_ID = 18879446
SEED_SHORT_ID = "1HDPC"
SEED_TITLE = "France wants to hit 'nerve center' of 'IS'"
DEMO_ARTICLES = 33
# no politeness delay on loopback; a crawl is bounded by the subprocess timeout below
FAST = CrawlConfig(delay=0, autothrottle=False, concurrency=4)
CRAWL_TIMEOUT = 60.0
RSS = "application/rss+xml; charset=utf-8"


def demo_source(server: DemoServer, name: str = "demo") -> SourceConfig:
    """Every way into the demo site: both feeds, the sitemap index and the English listing."""
    return SourceConfig(
        name=name,
        feeds=[server.url("/rdf/rss-en-all"), server.url("/xml/rss-de-all")],
        sitemaps=[server.url("/sitemap.xml")],
        pages=[server.url("/en/top-stories/s-9097")],
        allowed_domains=["127.0.0.1"],
    )


def crawl(
    source: SourceConfig,
    database: Database,
    config: CrawlConfig = FAST,
    log_file: Path | None = None,
    on_start: Callable[[subprocess.Popen], None] | None = None,
) -> CrawlOutcome:
    """One crawl; fails the test with the crawl's log when the subprocess did not exit cleanly."""
    # the crawl subprocess keeps the real time; the parent's rows agree with it
    outcome = run_crawl(
        source,
        config,
        database,
        system_clock,
        log_file=log_file,
        timeout=CRAWL_TIMEOUT,
        on_start=on_start,
    )
    assert outcome.exit_code == 0, outcome.log_tail
    assert outcome.run is not None, outcome.log_tail
    return outcome


@dataclass(frozen=True)
class StoredArticle:
    short_id: str
    content_id: int
    url: str
    title: str
    body: str
    updated_at: datetime


def stored_articles(database: Database) -> list[StoredArticle]:
    """Every article row, as plain values (the rows outlive the session)."""
    with database.session() as session:
        rows = session.scalars(select(Article).order_by(Article.content_id))
        return [
            StoredArticle(a.short_id, a.content_id, a.url, a.title, a.body, a.updated_at)
            for a in rows
        ]


@dataclass(frozen=True)
class FeedItem:
    """One ``<item>`` of a hand-made RSS 2.0 feed; ``None`` leaves the element out."""

    title: str
    link: str | None
    guid: str | None = None
    date: datetime | None = None


def rss_feed(items: list[FeedItem]) -> bytes:
    """An RSS 2.0 feed shaped like DW's (non-permalink guid = content id, RFC 822 dates)."""
    parts = ['<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>']
    parts.append("<title>test feed</title><link>http://127.0.0.1/</link>")
    for item in items:
        parts.append(f"<item><title>{escape(item.title)}</title>")
        if item.guid is not None:
            parts.append(f'<guid isPermaLink="false">{escape(item.guid)}</guid>')
        if item.link is not None:
            parts.append(f"<link>{escape(item.link)}</link>")
        if item.date is not None:
            parts.append(f"<pubDate>{format_datetime(item.date, usegmt=True)}</pubDate>")
        parts.append("</item>")
    parts.append("</channel></rss>\n")
    return "".join(parts).encode()


def article_page(article: DemoArticle, base_url: str) -> bytes:
    """The page the demo site renders for an article it does not list, served under base_url."""
    return DemoSite([article], base_url).page(article)


def wait_for_request_threads(seconds: float) -> None:
    """Let the demo servers' request threads finish, up to ``seconds``: a delayed answer to a
    crawler that gave up fails on the closed connection, and its traceback belongs in the
    test's captured output, not after it."""
    deadline = time.monotonic() + seconds
    for thread in threading.enumerate():
        if "process_request_thread" in thread.name:
            thread.join(max(0.0, deadline - time.monotonic()))
