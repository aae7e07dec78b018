"""Crawling the demo site as `newswatch crawl` does (a `scrapy crawl dw` subprocess), on SQLite and
on PostgreSQL: every article stored once however it is reached, nothing fetched twice, a changed
article updated in place, two crawls at once still one row per article."""

from __future__ import annotations

import subprocess
import sys
import threading
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from crawler.config import SourceConfig
from crawler.discovery import read_feed
from crawler.dw import normalize_url, ref_from_url
from demo import DemoServer, Route, demo_articles
from scheduler.crawling import CrawlOutcome, run_crawl
from store.clock import system_clock
from store.db import Database
from store.models import CrawlRun
from tests.conftest import fresh_database_url
from tests.crawling import (
    CRAWL_TIMEOUT,
    DEMO_ARTICLES,
    FAST,
    RSS,
    SEED_ID,
    SEED_SHORT_ID,
    SEED_TITLE,
    FeedItem,
    StoredArticle,
    crawl,
    demo_source,
    rss_feed,
    stored_articles,
)

ROOT = Path(__file__).resolve().parents[1]  # scrapy.cfg: `scrapy crawl` runs from here
# reached in the "other URLs" crawl: the seed by its old slug, one article by its AMP URL and one
# by a newsletter link with ?maca=
AMP_ID, MACA_ID = 69010102, 69020101
NEW_PARAGRAPH = "Update: the foreign ministers will meet again in Vienna on Saturday."


@dataclass(frozen=True)
class Step:
    """What one crawl left behind."""

    run: CrawlRun
    article_requests: list[str]  # request targets naming an article, as the server saw them
    articles: list[StoredArticle]  # every row afterwards

    def by_id(self) -> dict[int, StoredArticle]:
        return {article.content_id: article for article in self.articles}


@dataclass(frozen=True)
class DemoFlow:
    first: Step  # a fresh database
    again: Step  # the same crawl, nothing changed on the site
    other_urls: Step  # three stored articles reached through other URLs, newer dates in the feed
    changed: Step  # the seed article edited on the site, then the same crawl


def content_ids(targets: list[str]) -> list[int]:
    ids = []
    for target in targets:
        ref = ref_from_url("http://127.0.0.1" + target)
        assert ref is not None, target
        ids.append(ref.content_id)
    return ids


def crawl_step(server: DemoServer, source: SourceConfig, database: Database) -> Step:
    server.request_log.clear()
    outcome = crawl(source, database)
    assert outcome.run is not None
    return Step(outcome.run, server.request_log.article_requests(), stored_articles(database))


def other_urls_source(server: DemoServer) -> SourceConfig:
    """A feed naming three articles by other URLs than their canonical one, each dated a minute
    after the version stored, so the crawl fetches them again."""
    site = server.site
    seed, amp, maca = site.article(SEED_ID), site.article(AMP_ID), site.article(MACA_ID)
    assert seed.old_path != seed.canonical_path
    maca_url = maca.canonical_path + "?maca=de-newsletter_de_bulletin-2091-html-newsletter"
    minute = timedelta(minutes=1)
    items = [
        FeedItem(seed.title, server.url(seed.old_path), date=seed.modified_at + minute),
        FeedItem(amp.title, server.url(amp.amp_path), date=amp.modified_at + minute),
        FeedItem(maca.title, server.url(maca_url), date=maca.modified_at + minute),
    ]
    server.routes["/feeds/other-urls.xml"] = Route(
        body=rss_feed(items), headers={"Content-Type": RSS}
    )
    return SourceConfig(
        name="other-urls",
        feeds=[server.url("/feeds/other-urls.xml")],
        allowed_domains=["127.0.0.1"],
    )


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def flow(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DemoFlow]:
    """Four crawls of the demo site into one database, each step kept for the tests to read."""
    folder = tmp_path_factory.mktemp("crawl")
    with (
        fresh_database_url(request.param, folder) as url,
        Database(url) as database,
        DemoServer(demo_articles()) as server,
    ):
        source = demo_source(server)
        first = crawl_step(server, source, database)
        again = crawl_step(server, source, database)
        other_urls = crawl_step(server, other_urls_source(server), database)
        seed = server.site.article(SEED_ID)
        server.site.update_article(  # dated after the other-URLs feed's date for it
            SEED_ID,
            paragraphs=(*seed.paragraphs, NEW_PARAGRAPH),
            modified_at=seed.modified_at + timedelta(minutes=2),
        )
        changed = crawl_step(server, source, database)
        yield DemoFlow(first, again, other_urls, changed)


# ---------------------------------------------------------------------- the first crawl


def test_first_crawl_stores_every_demo_article_once(flow: DemoFlow) -> None:
    articles = flow.first.articles
    assert len(articles) == DEMO_ARTICLES
    assert len({a.short_id for a in articles}) == DEMO_ARTICLES
    run = flow.first.run
    assert (run.status, run.new, run.updated, run.errors) == ("ok", DEMO_ARTICLES, 0, 0)
    assert run.last_errors == []


def test_first_crawl_requests_each_article_page_once(flow: DemoFlow) -> None:
    requested = Counter(content_ids(flow.first.article_requests))
    assert len(requested) == DEMO_ARTICLES
    assert set(requested.values()) == {1}


def test_seed_article_is_stored_under_its_short_id(flow: DemoFlow) -> None:
    seed = flow.first.by_id()[SEED_ID]
    assert seed.short_id == SEED_SHORT_ID
    assert seed.title == SEED_TITLE
    assert seed.url.endswith("/en/france-wants-to-hit-nerve-center-of-is/a-18879446")
    assert "nerve center of Daesh" in seed.body


# ---------------------------------------------------------------------- crawling again


def test_second_crawl_requests_no_article_page_and_counts_them_known(flow: DemoFlow) -> None:
    assert flow.again.article_requests == []
    run = flow.again.run
    assert (run.status, run.new, run.updated, run.errors) == ("ok", 0, 0, 0)
    # its two feeds, sitemap index and listing page answer 304 (conditional requests): all
    # each of them lists is known, one count each
    assert run.skipped_known == 4
    assert flow.again.articles == flow.first.articles


def test_same_article_via_old_slug_amp_and_maca_urls_adds_nothing(flow: DemoFlow) -> None:
    step = flow.other_urls
    assert sorted(content_ids(step.article_requests)) == sorted([SEED_ID, AMP_ID, MACA_ID])
    # fetched as the feed names them, less the AMP prefix and the tracking parameter
    assert "/en/france-wants-to-hit-is-nerve-centre-in-raqqa/a-18879446" in step.article_requests
    assert not [t for t in step.article_requests if t.startswith("/amp/") or "maca=" in t]
    assert (step.run.new, step.run.updated, step.run.errors) == (0, 0, 0)
    assert len(step.articles) == DEMO_ARTICLES
    before, after = flow.first.by_id(), step.by_id()
    for cid in (SEED_ID, AMP_ID, MACA_ID):
        assert after[cid] == before[cid]  # same row: canonical URL, same text, not "updated"


# ---------------------------------------------------------------------- a changed article


def test_changed_article_updates_its_row(flow: DemoFlow) -> None:
    step = flow.changed
    assert content_ids(step.article_requests) == [SEED_ID]
    assert (step.run.new, step.run.updated, step.run.errors) == (0, 1, 0)
    # the indexes listing the seed are read again (its other articles known), the German feed
    # answers 304 (one count)
    assert 0 < step.run.skipped_known < DEMO_ARTICLES
    assert len(step.articles) == DEMO_ARTICLES
    seed = [a for a in step.articles if a.short_id == SEED_SHORT_ID]
    assert len(seed) == 1
    assert NEW_PARAGRAPH in seed[0].body
    assert NEW_PARAGRAPH not in flow.first.by_id()[SEED_ID].body
    assert seed[0].updated_at > flow.first.by_id()[SEED_ID].updated_at
    others = {cid: a for cid, a in step.by_id().items() if cid != SEED_ID}
    assert others == {cid: a for cid, a in flow.other_urls.by_id().items() if cid != SEED_ID}


# ---------------------------------------------------------------------- two crawls at once


def test_two_crawls_at_once_store_each_article_once(database_url: str) -> None:
    with Database(database_url) as database, DemoServer(demo_articles()) as server:
        source = demo_source(server)
        outcomes: list[CrawlOutcome] = []

        def crawl_in_thread() -> None:
            outcomes.append(run_crawl(source, FAST, database, system_clock, timeout=CRAWL_TIMEOUT))

        threads = [threading.Thread(target=crawl_in_thread) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert [outcome.exit_code for outcome in outcomes] == [0, 0], outcomes
        articles = stored_articles(database)
        # both CrawlRun rows from the database: run_crawl gives each overlapping crawl of one
        # source the newest row of that source, so outcome.run may name the other crawl's
        with database.session() as session:
            runs = list(session.scalars(select(CrawlRun).where(CrawlRun.source == source.name)))
        requests = len(server.request_log.article_requests())
    assert len(articles) == DEMO_ARTICLES
    assert len({a.short_id for a in articles}) == DEMO_ARTICLES
    assert [run.status for run in runs] == ["ok", "ok"]
    assert sum(run.new for run in runs) == DEMO_ARTICLES  # each article counted new exactly once
    assert sum(run.errors for run in runs) == 0
    assert DEMO_ARTICLES <= requests <= 2 * DEMO_ARTICLES


# ---------------------------------------------------------------------- by hand


def crawl_by_hand(database_url: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    """`scrapy crawl dw` as the README shows it, into ``database_url``, with no delay;
    ``arguments``: its -a and -s options."""
    command = [
        *(sys.executable, "-m", "scrapy", "crawl", "dw"),
        *("-a", "allowed_domains=127.0.0.1", "-s", f"NEWSWATCH_DATABASE_URL={database_url}"),
        *("-s", "DOWNLOAD_DELAY=0", "-s", "AUTOTHROTTLE_ENABLED=False"),
        *arguments,
    ]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=CRAWL_TIMEOUT)


def test_a_crawl_by_hand_migrates_its_database_records_its_run_and_skips_what_it_stored(
    tmp_path: Path,
) -> None:
    """`scrapy crawl dw -a feeds=... -s NEWSWATCH_DATABASE_URL=...` as the README shows it: a new
    database is made, the crawl records its own CrawlRun row, and the same crawl again asks the
    database it stored into and fetches no article page."""
    url = f"sqlite:///{tmp_path / 'by-hand.db'}"
    with DemoServer(demo_articles()) as server:
        feed = ("-a", f"feeds={server.url('/rdf/rss-en-all')}", "-a", "source=by-hand")
        requested = []
        for _ in range(2):
            server.request_log.clear()
            done = crawl_by_hand(url, *feed)
            assert done.returncode == 0, done.stderr[-3000:]
            requested.append(server.request_log.article_requests())
        with Database(url) as database, database.session() as session:
            runs = list(session.scalars(select(CrawlRun).order_by(CrawlRun.id)))
            articles = stored_articles(database)
    first, again = runs
    assert (first.source, first.status, first.errors, first.last_errors) == ("by-hand", "ok", 0, [])
    assert first.new == len(articles) == len(requested[0]) > 0
    # the unchanged feed answers 304 (conditional request): one known index, no article page
    assert (again.status, again.new, again.skipped_known) == ("ok", 0, 1)
    assert requested[1] == []


def test_article_requests_a_spider_middleware_drops_end_the_crawl_with_a_warning(
    tmp_path: Path,
) -> None:
    """Scrapy's UrlLengthMiddleware drops a request from start() without a callback, an errback
    or a signal: the crawl still ends, says how many were dropped, and stores the rest."""
    url = f"sqlite:///{tmp_path / 'dropped.db'}"
    with DemoServer(demo_articles()) as server:
        feed = server.url("/rdf/rss-en-all")
        with urllib.request.urlopen(feed, timeout=30) as answer:
            listed = [normalize_url(a.url) for a in read_feed(answer.read(), feed).articles]
        limit = sorted(len(u) for u in listed)[len(listed) // 2]
        kept = {ref.content_id for u in listed if len(u) <= limit and (ref := ref_from_url(u))}
        dropped = len(listed) - len(kept)
        assert kept and dropped
        done = crawl_by_hand(url, "-a", f"feeds={feed}", "-s", f"URLLENGTH_LIMIT={limit}")
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"{dropped} article requests were dropped before their download" in done.stderr
    with Database(url) as database:
        assert {a.content_id for a in stored_articles(database)} == kept


def test_a_crawl_whose_parse_bound_holds_one_page_at_a_time_stores_every_article(
    tmp_path: Path,
) -> None:
    """The pages out for parsing are bounded by SCRAPER_SLOT_MAX_ACTIVE_SIZE bytes: at one byte
    (no article is requested while a page is out), the crawl still ends and loses nothing."""
    url = f"sqlite:///{tmp_path / 'bounded.db'}"
    with DemoServer(demo_articles()) as server:
        done = crawl_by_hand(
            url,
            *("-a", f"feeds={server.url('/rdf/rss-en-all')},{server.url('/xml/rss-de-all')}"),
            *("-a", f"sitemaps={server.url('/sitemap.xml')}"),
            *("-s", "SCRAPER_SLOT_MAX_ACTIVE_SIZE=1", "-s", "NEWSWATCH_PARSE_WORKERS=1"),
        )
        requested = content_ids(server.request_log.article_requests())
    assert done.returncode == 0, done.stderr[-3000:]
    with Database(url) as database:
        stored = {a.content_id for a in stored_articles(database)}
    assert len(stored) == DEMO_ARTICLES
    assert sorted(stored) == sorted(requested)
