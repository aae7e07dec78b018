"""Conditional requests: a feed that did not change costs one 304 and nothing is parsed or stored;
a changed feed is fetched and read; a crawl that missed an article does not keep the validators."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy import select

from crawler.config import SourceConfig
from demo import DemoServer, Route, demo_articles
from store.db import Database
from store.models import FetchValidator
from tests.crawling import crawl, stored_articles

FEED = "/rdf/rss-en-all"


def feed_source(server: DemoServer) -> SourceConfig:
    return SourceConfig(name="demo", feeds=[server.url(FEED)], allowed_domains=["127.0.0.1"])


def test_unchanged_feed_costs_one_304_and_stores_nothing_new(sqlite_url: str) -> None:
    articles = demo_articles()
    with DemoServer(articles) as server, Database(sqlite_url) as database:
        source = feed_source(server)
        first = crawl(source, database)
        assert first.run is not None and first.run.new > 0
        stored = stored_articles(database)
        assert server.request_log.statuses(FEED) == [200]

        server.request_log.clear()
        again = crawl(source, database)
        assert server.request_log.statuses(FEED) == [304]
        assert server.request_log.article_requests() == []
        assert again.run is not None
        assert (again.run.new, again.run.updated, again.run.errors) == (0, 0, 0)
        assert again.run.status.value == "ok"
        assert stored_articles(database) == stored

        # DW publishes: the feed changes, is fetched whole and its new article stored
        english = next(a for a in articles if a.language == "en")
        newer = english.modified_at + timedelta(minutes=5)
        fresh = replace(
            english,
            content_id=99000001,
            title="A newly published article",
            published_at=newer,
            modified_at=newer,
        )
        server.site.add_article(fresh)
        server.request_log.clear()
        changed = crawl(source, database)
        assert server.request_log.statuses(FEED) == [200]
        assert changed.run is not None and changed.run.new == 1
        assert fresh.content_id in {a.content_id for a in stored_articles(database)}


def test_validators_are_not_kept_when_an_article_failed(sqlite_url: str) -> None:
    articles = demo_articles()
    with DemoServer(articles) as server, Database(sqlite_url) as database:
        english = next(a for a in articles if a.language == "en")
        server.routes[english.canonical_path] = Route(status=500)
        crawl(feed_source(server), database)
        with database.session() as session:
            assert session.scalars(select(FetchValidator.url)).all() == []

        # the page is back: the feed is read whole again and the article stored
        del server.routes[english.canonical_path]
        server.request_log.clear()
        crawl(feed_source(server), database)
        assert server.request_log.statuses(FEED) == [200]
        assert english.content_id in {a.content_id for a in stored_articles(database)}
        with database.session() as session:
            assert session.scalars(select(FetchValidator.url)).all() == [server.url(FEED)]


def test_a_sitemap_index_keeps_no_validators_when_an_article_of_its_sitemaps_failed(
    sqlite_url: str,
) -> None:
    articles = demo_articles()
    with DemoServer(articles) as server, Database(sqlite_url) as database:
        source = SourceConfig(
            name="demo", sitemaps=[server.url("/sitemap.xml")], allowed_domains=["127.0.0.1"]
        )
        failing = articles[0]
        server.routes[failing.canonical_path] = Route(status=500)
        crawl(source, database)
        with database.session() as session:
            kept = set(session.scalars(select(FetchValidator.url)))
        assert server.url("/sitemap.xml") not in kept  # the next crawl reads the index again

        del server.routes[failing.canonical_path]
        server.request_log.clear()
        crawl(source, database)
        assert server.request_log.statuses("/sitemap.xml") == [200]
        assert failing.content_id in {a.content_id for a in stored_articles(database)}
        server.request_log.clear()
        crawl(source, database)
        assert server.request_log.statuses("/sitemap.xml") == [304]
        assert server.request_log.article_requests() == []
