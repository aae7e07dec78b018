"""One bad article never stops storage, and the parser never produces what the database refuses.

- StoreArticlePipeline: a batch the database refuses is stored article by article; only the
  refused article is dropped, as one counted error naming it, and later batches are stored.
- parse_page: NUL and other control characters, odd ``<html lang>`` values and dates the store
  cannot hold (year 0001) come out clean.
- One rule for timestamps without offset (Berlin local time) in pages, feeds and sitemaps.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from scrapy.utils.test import get_crawler
from sqlalchemy import select

from crawler.discovery import parse_date, read_feed, read_sitemap
from crawler.dw_dates import berlin_date, dw_datetime, iso_datetime
from crawler.dw_page import ParsedPage, parse_page
from crawler.pipelines import StoreArticlePipeline
from crawler.spiders.dw import DwSpider
from store.article_schema import CrawledArticle
from store.db import Database
from store.dw_ids import short_id
from store.models import Article, CrawlRun

BERLIN = ZoneInfo("Europe/Berlin")
YEAR_ONE = datetime(1, 1, 1, 0, 10, tzinfo=timezone(timedelta(hours=1)))  # UTC: year 0


# --- the storing pipeline ------------------------------------------------------------------


@dataclass
class Storing:
    pipeline: StoreArticlePipeline
    spider: DwSpider
    database: Database

    def store(self, items: list[CrawledArticle]) -> None:
        """Through the pipeline, as a crawl stores them: on the crawl's event loop when it has
        a writer process (the batch handed to it, the answer awaited), else in this thread."""
        if self.pipeline.writer is None:
            for item in items:
                self.pipeline.process_item(item)
            self.pipeline.flush()
            return

        async def crawl() -> None:
            for item in items:
                self.pipeline.process_item(item)
            self.pipeline.flush()
            await self.pipeline.drain()

        asyncio.run(crawl())

    def close(self) -> None:
        asyncio.run(self.pipeline.close_spider())

    def stat(self, name: str) -> int:
        return int(self.pipeline.crawler.stats.get_value(f"newswatch/{name}", 0))

    def stored(self) -> set[str]:
        with self.database.session() as session:
            return set(session.scalars(select(Article.short_id)))


def storing(database_url: str, writer: bool = False, **more: object) -> Iterator[Storing]:
    database = Database(database_url)  # migrates, as the pipeline does when run by hand
    settings = {
        "NEWSWATCH_DATABASE_URL": database_url,
        "NEWSWATCH_STORE_BATCH": 100,  # one batch: flushed by the test
        "NEWSWATCH_STORE_SECONDS": 3600,
        "NEWSWATCH_STORE_WRITER": writer,
        **more,
    }
    crawler = get_crawler(DwSpider, settings)
    spider = DwSpider(source="robustness", feeds="http://127.0.0.1/feed")
    spider._set_crawler(crawler)
    crawler.spider = spider
    pipeline = StoreArticlePipeline.from_crawler(crawler)
    pipeline.open_spider(spider)
    try:
        yield Storing(pipeline, spider, database)
    finally:
        if pipeline.writer is not None:
            pipeline.writer.close()
        if pipeline.db is not None:
            pipeline.db.close()
        database.close()


# each batch stored in the test's thread, or handed to a writer process (crawler.store_writer)
WRITERS = [pytest.param(False, id="in-thread"), pytest.param(True, id="writer")]


@pytest.fixture(params=WRITERS)
def store(database_url: str, request: pytest.FixtureRequest) -> Iterator[Storing]:
    yield from storing(database_url, writer=request.param)


@pytest.fixture(params=WRITERS)
def pg_store(postgres_url: str, request: pytest.FixtureRequest) -> Iterator[Storing]:
    yield from storing(postgres_url, writer=request.param)


def article(content_id: int, **changes: object) -> CrawledArticle:
    item = CrawledArticle(
        short_id=short_id(content_id),
        content_id=content_id,
        url=f"https://www.dw.com/en/story-{content_id}/a-{content_id}",
        language="en",
        kind="article",
        title=f"Story {content_id}",
        teaser="A teaser.",
        body="First paragraph.\n\nSecond paragraph.",
        published_at=datetime(2024, 5, 1, 10, 0, tzinfo=UTC),
    )
    return replace(item, **changes)


GOOD = [60000001, 60000002, 60000004, 60000005]
BAD = 60000003


def test_a_refused_article_is_dropped_and_counted_and_the_rest_of_its_batch_is_stored(
    store: Storing,
) -> None:
    items = [article(cid) for cid in GOOD]
    items.insert(2, article(BAD, published_at=YEAR_ONE))  # cannot be converted to UTC
    store.store(items)

    assert store.stored() == {short_id(cid) for cid in GOOD}
    assert (store.stat("new"), store.stat("errors")) == (4, 1)
    [line] = store.spider.error_log
    assert line.startswith(f"https://www.dw.com/en/story-{BAD}/a-{BAD}: ")
    assert short_id(BAD) in line and "OverflowError" in line


def test_after_a_refused_article_later_batches_are_stored(store: Storing) -> None:
    store.store([article(BAD, published_at=YEAR_ONE)])
    assert store.pipeline.batch == []
    store.store([article(GOOD[0])])
    store.close()
    assert store.stored() == {short_id(GOOD[0])}
    assert (store.stat("new"), store.stat("errors")) == (1, 1)


@pytest.fixture
def written(database_url: str) -> Iterator[Storing]:
    yield from storing(database_url, writer=True)


def test_batches_a_dead_writer_held_are_stored_in_the_crawls_thread(
    written: Storing, caplog: pytest.LogCaptureFixture
) -> None:
    """The writer killed with a batch it has not answered: that batch, and every later one,
    is stored by the crawl itself; none lost, the death said once."""
    pipeline = written.pipeline
    assert pipeline.writer is not None
    pid = pipeline.writer._process.process.pid
    assert pid is not None

    async def crawl() -> None:
        os.kill(pid, signal.SIGSTOP)  # it takes the batch but answers nothing
        for item in (article(cid) for cid in GOOD[:2]):
            pipeline.process_item(item)
        pipeline.flush()
        assert pipeline.handed and not written.stored()  # handed over, not stored
        os.kill(pid, signal.SIGKILL)
        await pipeline.drain()
        for item in (article(cid) for cid in GOOD[2:]):
            pipeline.process_item(item)
        pipeline.flush()  # no writer left: stored at once, here
        assert not pipeline.handed

    with caplog.at_level(logging.WARNING, logger="crawler.pipelines"):
        asyncio.run(crawl())
    assert written.stored() == {short_id(cid) for cid in GOOD}
    assert (written.stat("new"), written.stat("errors")) == (4, 0)
    assert caplog.text.count("the article writer died") == 1


def test_the_crawl_run_records_the_refused_article(store: Storing) -> None:
    store.store([article(GOOD[0]), article(BAD, published_at=YEAR_ONE)])
    store.pipeline.record_run(store.spider, "finished")
    with store.database.session() as session:
        [run] = session.scalars(select(CrawlRun))
        assert (run.new, run.errors) == (1, 1)
        assert len(run.last_errors) == 1 and short_id(BAD) in run.last_errors[0]


def test_under_newswatch_crawl_the_crawl_records_its_own_error_lines(database_url: str) -> None:
    """The row `newswatch crawl` made is completed by the crawl: its counted errors, then the
    ERROR lines it logged that say something else (with each exception, causes first)."""
    with Database(database_url) as database, database.session() as session:
        made = CrawlRun(source="robustness", status="running", started_at=datetime.now(UTC))
        session.add(made)
        session.commit()
        run_id = made.id
    for store in storing(database_url, NEWSWATCH_RUN_ID=run_id):
        store.store([article(GOOD[0]), article(BAD, published_at=YEAR_ONE)])  # BAD: logged too
        try:
            try:
                raise OSError("disk gone")
            except OSError as cause:
                raise ValueError("bad page") from cause
        except ValueError:
            logging.getLogger("scrapy.core.scraper").exception(
                "Spider error processing <GET http://127.0.0.1/en/x/a-1>\n(second line)"
            )
        store.pipeline.record_run(store.spider, "finished")
        assert store.pipeline.log_lines not in logging.getLogger().handlers
        with store.database.session() as session:
            run = session.get(CrawlRun, run_id)
            assert run is not None
            assert (run.new, run.errors, run.finished_at is not None) == (1, 1, True)
            assert run.last_errors == [
                *store.spider.error_log,
                "crawl log: [scrapy.core.scraper] ERROR: Spider error processing "
                "<GET http://127.0.0.1/en/x/a-1>",
                "crawl log: OSError: disk gone",
                "crawl log: ValueError: bad page",
            ]
            assert short_id(BAD) in run.last_errors[0]


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"title": "Head\x00line"}, id="nul-in-title"),
        pytest.param({"body": "Text \x00"}, id="nul-in-body"),
        pytest.param({"language": "en-x-someprivateuse-tag"}, id="language-too-long"),
    ],
)
def test_postgresql_refusals_drop_only_the_refused_article(
    pg_store: Storing, bad: dict[str, object]
) -> None:
    """What PostgreSQL refuses and SQLite takes: text with NUL, a value longer than its column."""
    items = [article(GOOD[0]), article(BAD, **bad), article(GOOD[1])]
    pg_store.store(items)
    assert pg_store.stored() == {short_id(GOOD[0]), short_id(GOOD[1])}
    assert (pg_store.stat("new"), pg_store.stat("errors")) == (2, 1)
    assert short_id(BAD) in pg_store.spider.error_log[0]


def test_a_hostile_page_parses_into_an_article_every_database_stores(store: Storing) -> None:
    page = parse_page(hostile_react_page())
    store.store([CrawledArticle.of_page(page)])
    assert store.stored() == {page.short_id}
    assert store.stat("errors") == 0


# --- the parser ----------------------------------------------------------------------------

CONTENT_ID = 68000001


def hostile_react_page(
    lang: str = "en-x-someprivateuse-tag",
    canonical: str = f"https://www.dw.com/a-{CONTENT_ID}",  # no language in the path
    published: str = "0001-01-01T00:10:00+01:00",
) -> str:
    ld = {
        "@context": "https://schema.org",
        "@type": "NewsArticle",
        "headline": "Bad\u0000 headline\u0007 here",
        "datePublished": published,
        "dateModified": "0001-01-01T00:10:00",
        "author": [{"@type": "Person", "name": "Jane\u0000 Doe"}],
    }
    return f"""<!DOCTYPE html><html lang="{lang}"><head>
<link rel="canonical" href="{canonical}">
<meta property="og:description" content="Teaser&#1; with&#8; controls">
<script type="application/ld+json">{json.dumps(ld)}</script>
</head><body><article><header><span class="time-area"><time>01.01.0001</time></span></header>
<div class="rich-text"><p>First&#2; paragraph \u0000with NUL.</p><p>Second&#27; one.</p></div>
<figure><figcaption>Cap\u0000tion</figcaption></figure>
</article></body></html>"""


def control_characters(page: ParsedPage) -> list[str]:
    texts = [page.url, page.title, page.teaser, page.body, page.language or "", page.kind,
             *page.captions, *page.authors, *page.topics]  # fmt: skip
    return [t for t in texts if any(ord(c) < 32 and c not in "\n\t" for c in t)]


def test_control_characters_never_reach_a_parsed_page() -> None:
    page = parse_page(hostile_react_page())
    assert control_characters(page) == []
    assert page.title == "Bad headline here"
    assert page.teaser == "Teaser with controls"
    assert page.body == "First paragraph with NUL.\n\nSecond one."
    assert page.authors == ["Jane Doe"]
    assert page.captions == ["Caption"]


def test_a_page_from_json_ld_alone_has_no_control_characters() -> None:
    """No <article>: the unknown-layout reader takes the title from JSON-LD."""
    html = hostile_react_page().replace("<article>", "<main>").replace("</article>", "</main>")
    page = parse_page(html)
    assert control_characters(page) == []
    assert page.title == "Bad headline here"


@pytest.mark.parametrize(
    ("lang", "expected"),
    [
        ("en-x-someprivateuse-tag", None),
        ("de-DE-1996-x-" + "a" * 40, None),
        ("sr-Latn-RS", "sr-latn-rs"),
        ("en\x00", None),
        ("", None),
        ("EN", "en"),
        ("pt-BR", "pt-br"),
        ("pt_BR", "pt-br"),
        ("zh-Hans", "zh-hans"),
        ("fil", "fil"),
    ],
)
def test_html_lang_is_a_plain_short_tag_or_none(lang: str, expected: str | None) -> None:
    assert parse_page(hostile_react_page(lang=lang)).language == expected


def test_the_url_language_wins_over_html_lang() -> None:
    page = parse_page(
        hostile_react_page(canonical=f"https://www.dw.com/de/story/a-{CONTENT_ID}", lang="xx-bad!")
    )
    assert page.language == "de"


def test_dates_the_store_cannot_hold_are_none() -> None:
    page = parse_page(hostile_react_page())
    assert (page.published_at, page.modified_at) == (None, None)


def test_a_year_0001_json_ld_date_falls_back_to_the_printed_date() -> None:
    html = hostile_react_page().replace("01.01.0001", "02.03.2024")
    assert parse_page(html).published_at == datetime(2024, 3, 2, tzinfo=BERLIN)


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:10:00+01:00",
        "0001-01-01T00:10:00",
        "9999-12-31T23:59:59-01:00",
        "1899-12-31T23:00:00Z",
        "2101-01-01T00:00:00Z",
        "Fri, 01 Jan 2150 00:10:00 +0100",
        "2024-01-01T00:00:00+15:00",
    ],
)
def test_out_of_range_timestamps_are_none(value: str) -> None:
    assert iso_datetime(value) is None
    assert parse_date(value) is None


def test_out_of_range_printed_dates_are_none() -> None:
    assert berlin_date("01.01.0001") is None
    assert berlin_date("31.12.9999") is None
    assert berlin_date("01.01.1900") == datetime(1900, 1, 1, tzinfo=BERLIN)


# --- one rule for timestamps without offset ------------------------------------------------


@pytest.mark.parametrize(
    ("value", "utc"),
    [
        ("2024-01-15T12:00:00", datetime(2024, 1, 15, 11, 0, tzinfo=UTC)),  # CET
        ("2024-07-15T12:00:00", datetime(2024, 7, 15, 10, 0, tzinfo=UTC)),  # CEST
        ("2024-07-15", datetime(2024, 7, 14, 22, 0, tzinfo=UTC)),
        ("Mon, 15 Jul 2024 12:00:00", datetime(2024, 7, 15, 10, 0, tzinfo=UTC)),  # no zone
    ],
)
def test_a_timestamp_without_offset_is_berlin_time_in_pages_and_feeds(
    value: str, utc: datetime
) -> None:
    assert parse_date(value) == utc
    assert dw_datetime(value) == utc
    if "," not in value:
        assert iso_datetime(value) == utc


@pytest.mark.parametrize(
    ("value", "utc"),
    [
        ("2024-07-15T12:00:00Z", datetime(2024, 7, 15, 12, 0, tzinfo=UTC)),
        ("2024-07-15T12:00:00+02:00", datetime(2024, 7, 15, 10, 0, tzinfo=UTC)),
        ("Mon, 15 Jul 2024 12:00:00 GMT", datetime(2024, 7, 15, 12, 0, tzinfo=UTC)),
        ("Mon, 15 Jul 2024 12:00:00 +0200", datetime(2024, 7, 15, 10, 0, tzinfo=UTC)),
        ("Mon, 15 Jul 2024 12:00:00 -0000", datetime(2024, 7, 15, 12, 0, tzinfo=UTC)),
    ],
)
def test_a_timestamp_with_a_zone_keeps_it(value: str, utc: datetime) -> None:
    parsed = parse_date(value)
    assert parsed is not None and parsed.tzinfo is not None and parsed == utc


@pytest.mark.parametrize("value", [None, "", "  ", "yesterday", "2024-13-01"])
def test_unreadable_timestamps_are_none(value: str | None) -> None:
    assert parse_date(value) is None


def test_feed_and_sitemap_dates_without_offset_are_berlin_time() -> None:
    feed = f"""<?xml version="1.0"?>
<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" xmlns="http://purl.org/rss/1.0/"
 xmlns:dc="http://purl.org/dc/elements/1.1/">
<item rdf:about="https://www.dw.com/en/x/a-{CONTENT_ID}">
<link>https://www.dw.com/en/x/a-{CONTENT_ID}</link><dc:date>2024-07-15T12:00:00</dc:date></item>
<item rdf:about="https://www.dw.com/en/y/a-{CONTENT_ID + 1}">
<link>https://www.dw.com/en/y/a-{CONTENT_ID + 1}</link><dc:date>0001-01-01T00:10:00+01:00</dc:date>
</item></rdf:RDF>""".encode()
    sitemap = f"""<?xml version="1.0"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url>
<loc>https://www.dw.com/en/x/a-{CONTENT_ID}</loc><lastmod>2024-07-15T12:00:00</lastmod>
</url></urlset>""".encode()
    expected = datetime(2024, 7, 15, 10, 0, tzinfo=UTC)
    listed = [c.listed_at for c in read_feed(feed).articles]
    assert listed == [expected, None]
    assert [c.listed_at for c in read_sitemap(sitemap).articles] == [expected]


def test_a_sitemap_entry_gives_its_first_loc_and_lastmod_else_its_news_date() -> None:
    sitemap = f"""<?xml version="1.0"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"
 xmlns:news="http://www.google.com/schemas/sitemap-news/0.9">
<url><loc> </loc><loc>/en/x/a-{CONTENT_ID}</loc><loc>/en/y/a-{CONTENT_ID + 9}</loc>
<news:news><news:publication_date>2021-01-01T00:00:00Z</news:publication_date></news:news>
<lastmod></lastmod><lastmod>2024-07-15T12:00:00Z</lastmod><lastmod>2020-01-01</lastmod></url>
<url><loc>https://www.dw.com/en/y/a-{CONTENT_ID + 1}</loc>
<news:news><news:publication_date> </news:publication_date></news:news><news:news>
<news:publication><news:name>DW</news:name></news:publication><news:publication_date>
2024-07-16T08:00:00Z</news:publication_date><news:publication_date>2019-01-01T00:00:00Z
</news:publication_date></news:news>
<news:news><news:publication_date>2022-01-01T00:00:00Z</news:publication_date></news:news></url>
<url><loc>https://www.dw.com/en/z/a-{CONTENT_ID + 2}</loc></url>
<image><loc>https://www.dw.com/en/w/a-{CONTENT_ID + 3}</loc></image>
<url><lastmod>2024-07-15T12:00:00Z</lastmod></url>
<url><loc>https://www.dw.com/en/about-dw/s-30688</loc></url>
</urlset>""".encode()
    found = read_sitemap(sitemap, "https://www.dw.com/sitemap-1.xml")
    assert [(a.url, a.content_id, a.listed_at) for a in found.articles] == [
        (
            f"https://www.dw.com/en/x/a-{CONTENT_ID}",
            CONTENT_ID,
            datetime(2024, 7, 15, 12, 0, tzinfo=UTC),
        ),
        (
            f"https://www.dw.com/en/y/a-{CONTENT_ID + 1}",
            CONTENT_ID + 1,
            datetime(2024, 7, 16, 8, 0, tzinfo=UTC),
        ),
        (f"https://www.dw.com/en/z/a-{CONTENT_ID + 2}", CONTENT_ID + 2, None),
    ]
    assert found.skipped == 1  # the section page names no article; the image entry is no url


def test_a_sitemap_index_names_its_sitemaps_against_its_own_address() -> None:
    index = b"""<?xml version="1.0"?>
<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<sitemap><loc>sitemap-2.xml</loc></sitemap><sitemap><loc>https://www.dw.com/s-3.xml</loc></sitemap>
<sitemap><lastmod>2024-07-15</lastmod></sitemap></sitemapindex>"""
    found = read_sitemap(index, "https://www.dw.com/sitemaps/index.xml")
    assert found.sitemaps == [
        "https://www.dw.com/sitemaps/sitemap-2.xml",
        "https://www.dw.com/s-3.xml",
    ]
    assert found.articles == [] and found.skipped == 0


def test_a_sitemap_loc_is_joined_where_joining_changes_it() -> None:
    """An empty ``;params`` dropped, a missing host taken from the sitemap's own address: what
    ``urljoin`` makes of such a loc (a plain absolute loc is taken as it is)."""
    sitemap = f"""<?xml version="1.0"?>
<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">
<url><loc>https://www.dw.com/en/x/a-{CONTENT_ID};</loc></url>
<url><loc>https:///en/y/a-{CONTENT_ID + 1}</loc></url>
<url><loc>https://www.dw.com/en/z/a-{CONTENT_ID + 2}</loc></url>
</urlset>""".encode()
    found = read_sitemap(sitemap, "https://www.dw.com/sitemaps/news.xml")
    assert [a.url for a in found.articles] == [
        f"https://www.dw.com/en/x/a-{CONTENT_ID}",
        f"https://www.dw.com/en/y/a-{CONTENT_ID + 1}",
        f"https://www.dw.com/en/z/a-{CONTENT_ID + 2}",
    ]
