"""Extraction health per crawl: each crawl of the demo site (a real `scrapy crawl dw` subprocess)
leaves its CrawlRun with ``extraction`` figures, and the demo site's drift variant (its CSS
classes change mid-way, ``DemoServer.set_drift``) shows up there as fallbacks, gone again when
the layout comes back."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from demo import DemoServer, Route, demo_articles
from store.articles import Upsert, upsert_article
from store.db import Database
from store.models import Article, CrawlRun
from tests.articles import article_fields
from tests.crawling import DEMO_ARTICLES, crawl, demo_source

KEYS = [
    "pages",
    "fallbacks",
    "empty_body",
    "no_date",
    "no_author",
    "short_id_mismatch",
    "median_body_length",
    "robots_disallowed",
]
FIELDS = {"title", "teaser", "body", "authors", "published_at", "modified_at"}
TEXT_PAGES = 31  # the demo site's articles but its two videos
NO_AUTHOR = 5  # three articles (the seed among them) and the two videos name no author
NEW_LAYOUT, OLD_TEXT = 17, 14  # text pages in the new and in the old layout
NONE = dict.fromkeys(FIELDS, 0)
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)


@pytest.fixture
def server() -> Iterator[DemoServer]:
    with DemoServer(demo_articles()) as running:
        yield running


@pytest.fixture
def database(sqlite_url: str) -> Iterator[Database]:
    with Database(sqlite_url) as db:
        yield db


def extraction_of(database: Database, run_id: int) -> dict[str, object]:
    with database.session() as session:
        run = session.get(CrawlRun, run_id)
        assert run is not None
        return dict(run.extraction)


def stored_fallbacks(database: Database) -> dict[str, list[str]]:
    with database.session() as session:
        return {a.short_id: list(a.fallbacks) for a in session.scalars(select(Article))}


def test_a_crawl_keeps_its_extraction_figures(server: DemoServer, database: Database) -> None:
    outcome = crawl(demo_source(server), database)
    assert outcome.run is not None
    figures = extraction_of(database, outcome.run.id)
    assert list(figures) == KEYS
    assert figures == {
        "pages": DEMO_ARTICLES,
        "fallbacks": NONE,
        "empty_body": 0,
        "no_date": 0,
        "no_author": NO_AUTHOR,
        "short_id_mismatch": 0,
        "median_body_length": figures["median_body_length"],
        "robots_disallowed": 0,
    }
    assert isinstance(figures["median_body_length"], int) and figures["median_body_length"] > 500
    assert set(map(tuple, stored_fallbacks(database).values())) == {()}


def test_robots_disallowed_requests_are_counted(server: DemoServer, database: Database) -> None:
    seed_path = server.site.articles[0].canonical_path
    robots = f"User-agent: *\nDisallow: {seed_path.rsplit('/', 1)[0]}/\n".encode()
    server.routes["/robots.txt"] = Route(body=robots, headers={"Content-Type": "text/plain"})
    outcome = crawl(demo_source(server), database)
    assert outcome.run is not None
    figures = extraction_of(database, outcome.run.id)
    assert isinstance(figures["robots_disallowed"], int) and figures["robots_disallowed"] >= 1
    assert figures["pages"] == DEMO_ARTICLES - figures["robots_disallowed"]


def test_a_layout_drift_counts_fallbacks_until_the_layout_comes_back(
    server: DemoServer, database: Database
) -> None:
    source = demo_source(server)
    before = crawl(source, database).run
    server.set_drift(True)  # mid-way: the site is redesigned, every article re-dated
    assert server.drifting
    drifted = crawl(source, database).run
    read_drifted = stored_fallbacks(database)
    server.set_drift(True, scripts=False)  # ... and its pages lose their JSON-LD too
    no_scripts = crawl(source, database).run
    server.set_drift(False)
    restored = crawl(source, database).run
    assert before and drifted and no_scripts and restored
    runs = [extraction_of(database, run.id) for run in (before, drifted, no_scripts, restored)]
    assert [figures["pages"] for figures in runs] == [DEMO_ARTICLES] * 4  # every page refetched
    assert runs[0]["fallbacks"] == NONE == runs[3]["fallbacks"]
    # the title is still found; the body needs the generic extractor on every text page, the
    # teaser comes from the meta description on every page
    assert runs[1]["fallbacks"] == NONE | {"body": TEXT_PAGES, "teaser": DEMO_ARTICLES}
    assert drifted.selector_fallbacks == TEXT_PAGES
    assert runs[1]["empty_body"] == 0 and runs[1]["no_date"] == 0
    assert sorted(map(tuple, read_drifted.values())) == sorted(
        [("teaser", "body")] * TEXT_PAGES + [("teaser",)] * (DEMO_ARTICLES - TEXT_PAGES)
    )
    # without JSON-LD the new layout's authors and dates come off the page
    assert runs[2]["fallbacks"] == NONE | {
        "body": TEXT_PAGES,
        "teaser": DEMO_ARTICLES,
        "authors": NEW_LAYOUT - 2,  # two new-layout articles name no author at all
        "published_at": NEW_LAYOUT,
    }
    assert runs[2]["no_date"] == 0 and runs[2]["no_author"] == NO_AUTHOR
    assert runs[3] == runs[0] and restored.selector_fallbacks == 0
    # each article row says how its latest version was read
    assert set(map(tuple, stored_fallbacks(database).values())) == {()}


def test_a_stored_article_keeps_how_its_latest_version_was_read(database: Database) -> None:
    """Same text read another way (a fallback this time): the article is unchanged, but its
    row says how it was read now."""
    fields = article_fields(18879446, body="Text.")
    with database.session() as session:
        assert upsert_article(session, fields, NOW) is Upsert.NEW
        again = {**fields, "fallbacks": ["authors"], "selector_fallback": True}
        assert upsert_article(session, again, NOW + timedelta(minutes=1)) is Upsert.UNCHANGED
        session.commit()
        row = session.scalars(select(Article)).one()
        assert (row.fallbacks, row.selector_fallback) == (["authors"], True)
