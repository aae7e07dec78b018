"""The DW spider: feeds, sitemaps and listing pages -> article pages -> CrawledArticle.

Every listed article is reduced to its content id before any article request; ids already stored
are not requested again unless the feed or sitemap dates them later than the stored version.

Run by ``newswatch crawl``, which passes the source once, as JSON in ``NEWSWATCH_SOURCE``, or by
hand, the source given by ``-a`` arguments (``source=`` names it)::

    scrapy crawl dw -a feeds=https://rss.dw.com/rdf/rss-en-all -s NEWSWATCH_DATABASE_URL=sqlite:///x.db

What is stored already comes from the storing pipeline, which holds the crawl's one database.
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from datetime import datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Self

from scrapy import Request, Spider, signals
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.spidermiddlewares.httperror import HttpError
from twisted.python.failure import Failure

from crawler.config import SourceConfig
from crawler.crawl_run import RUN_ERRORS_KEPT
from crawler.discovery import (
    Discovered,
    FeedError,
    ListedArticle,
    newest,
    read_feed,
    read_listing,
    read_sitemap,
)
from crawler.dw import normalize_url
from crawler.dw_page import PageError, ParsedPage
from crawler.extraction import ExtractionTally
from crawler.parse_pool import SETTING as PARSE_WORKERS
from crawler.parse_pool import PageParser, page_parser, worker_count
from crawler.pipelines import StoreArticlePipeline
from store.article_schema import CrawledArticle
from store.validators import Validators, usable

if TYPE_CHECKING:
    from scrapy.core.engine import ExecutionEngine

STATS = "newswatch/"
MAX_SITEMAPS = 200  # sitemap files followed from one index, per crawl
MAX_ITEMS_PER_FEED = 1000  # [crawl] max_items_per_feed: NEWSWATCH_MAX_ITEMS_PER_FEED
# start() looks again this often when nothing woke it (a missed wake-up costs this much)
WAKE_SECONDS = 0.05
# article requests the engine has not held for this long are taken as lost (see start())
LOST_SECONDS = 4 * WAKE_SECONDS
GC_YOUNG = 20_000  # allocations between collections of the young generation (CPython: 700)


def _split(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return value
    return [part.strip() for part in value.split(",") if part.strip()]


class DwSpider(Spider):
    name = "dw"

    def __init__(
        self,
        source: str = "",
        feeds: str | None = None,
        sitemaps: str | None = None,
        pages: str | None = None,
        allowed_domains: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        # the source's domains: Scrapy's offsite filter, and where redirects may lead
        self.allowed_domains: list[str] = []
        self.source_name = source
        self.by_hand = {
            "feeds": _split(feeds),
            "sitemaps": _split(sitemaps),
            "pages": _split(pages),
            "allowed_domains": _split(allowed_domains),
        }
        self.source: SourceConfig | None = None
        self.store: StoreArticlePipeline | None = None  # None: nothing stored, nothing known
        self.requested_ids: set[int] = set()
        # content id -> the newest date an index of this crawl gave it
        self.listed_dates: dict[int, datetime] = {}
        self.skipped_ids: set[int] = set()
        self.sitemaps_followed = 0
        self.max_items = MAX_ITEMS_PER_FEED
        self.error_log: list[str] = []
        self.extraction = ExtractionTally()  # kept in the CrawlRun by the storing pipeline
        # conditional requests: the validators stored for index URLs, those of this crawl's
        # answers, and the indexes one of whose articles failed (their validators are not kept)
        self.validators: dict[str, Validators] = {}
        self.answered: dict[str, Validators] = {}
        self.failed_indexes: set[str] = set()
        self.parent_index: dict[str, str] = {}  # a sitemap -> the sitemap index that named it
        self.store_failed = False
        # articles to request, as (url, date its index gave, index): start() makes each Request
        # when the downloader has room, so that a sitemap of 20,000 articles is 20,000 small
        # tuples here, not 20,000 pending Requests (~2.4 KB each) in the scheduler
        self.queued: deque[tuple[str, datetime | None, str]] = deque()
        self.open_indexes = 0  # index requests made whose callback or errback has not run
        self._wake = asyncio.Event()
        self.parser = PageParser(0)  # from_crawler: in workers, as the settings say
        self.fetching = 0  # article requests yielded whose callback or errback has not run
        # pages handed to the parser and not answered yet, and their bytes: at most
        # SCRAPER_SLOT_MAX_ACTIVE_SIZE, as Scrapy bounds the responses its callbacks hold
        self.parsing = 0
        self.parsing_bytes = 0
        self.parse_limit = 5_000_000
        self.articles: deque[CrawledArticle] = deque()  # parsed, for start() to yield

    def closed(self, reason: str) -> None:
        self.parser.close()

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.source = spider._source_from(crawler.settings.get("NEWSWATCH_SOURCE"))
        spider.source_name = spider.source.name
        spider.allowed_domains = spider.source.allowed_domains
        spider.max_items = crawler.settings.getint(
            "NEWSWATCH_MAX_ITEMS_PER_FEED", MAX_ITEMS_PER_FEED
        )
        _quiet_hot_loggers(crawler.settings.get("LOG_LEVEL", "INFO"))
        crawler.signals.connect(spider._wake.set, signal=signals.request_left_downloader)
        crawler.signals.connect(spider._dropped, signal=signals.request_dropped)
        spider.parser = page_parser(worker_count(crawler.settings.get(PARSE_WORKERS)))
        spider.parse_limit = crawler.settings.getint("SCRAPER_SLOT_MAX_ACTIVE_SIZE")
        # what is loaded by now lives as long as the crawl: keep the collector off it. No
        # gc.collect() first: it took ~0.1 s of every crawl's start-up to free a handful of
        # objects (measured), and what it would free is a few import-time cycles, kept once
        gc.freeze()
        # and collect the young generation every GC_YOUNG allocations, not 700: a page's
        # objects are freed by their reference counts, so the collector only rescanned the
        # requests and responses in flight (150 collections a 2,000-page crawl, 40 us a page;
        # 3 with this, 3 us a page, measured)
        gc.set_threshold(GC_YOUNG, *gc.get_threshold()[1:])
        return spider

    def _source_from(self, setting: str | None) -> SourceConfig:
        """The source: JSON from `newswatch crawl`, else the -a arguments given by hand."""
        if setting:
            return SourceConfig.model_validate(json.loads(setting))
        given = {key: value for key, value in self.by_hand.items() if value}
        if not any(given.get(key) for key in ("feeds", "sitemaps", "pages")):
            raise ValueError("no source: pass -a feeds=URL[,URL] (or sitemaps=, pages=)")
        return SourceConfig.model_validate({"name": self.source_name or "by-hand", **given})

    async def start(self) -> AsyncIterator[Request | CrawledArticle]:
        assert self.source is not None
        self.store = self.crawler.get_item_pipeline(StoreArticlePipeline)
        self.validators = self.store.validators() if self.store is not None else {}
        indexes = [
            *((url, self.parse_feed) for url in self.source.feeds),
            *((url, self.parse_sitemap) for url in self.source.sitemaps),
            *((url, self.parse_listing) for url in self.source.pages),
        ]
        for url, callback in indexes:
            if (request := self._index_request(url, callback)) is not None:
                yield request
        async for output in self._article_requests():
            yield output

    async def _article_requests(self) -> AsyncIterator[Request | CrawledArticle]:
        """The queued articles' requests, one whenever the engine has room for it (Scrapy's lazy
        start requests), and the articles parsed, until every index has been read, every
        article requested has come back and every page has been parsed."""
        engine = self.crawler.engine
        # an index read, an article queued, parsed or fetched, a download done wakes it; this,
        # whatever missed (one timer for the whole loop: not a wait_for, with its task and
        # timer, per page)
        ticking = asyncio.ensure_future(self._tick())
        lost_since: float | None = None
        try:
            while self._unfinished() or self.fetching:
                if self.articles:  # parsed: to the item pipelines
                    yield self.articles.popleft()
                    continue
                if self.queued and self._room(engine):
                    url, listed_at, index = self.queued.popleft()
                    self.fetching += 1
                    yield Request(
                        url,
                        callback=self.parse_article,
                        errback=self.on_error,
                        meta={"listed_at": listed_at, "index": index},
                    )
                    continue
                if not self._only_lost_requests(engine):
                    lost_since = None
                elif lost_since is None:
                    lost_since = time.monotonic()
                elif time.monotonic() - lost_since >= LOST_SECONDS:
                    self.logger.warning(
                        "%d article requests were dropped before their download "
                        "(by a spider middleware)",
                        self.fetching,
                    )
                    break
                self._wake.clear()
                await self._wake.wait()
        finally:
            ticking.cancel()

    def _unfinished(self) -> bool:
        """Whether start() has more to do than wait for the article requests out: articles to
        request or to yield, indexes to read, pages being parsed."""
        return bool(self.queued or self.open_indexes or self.parsing or self.articles)

    def _room(self, engine: ExecutionEngine) -> bool:
        """Whether another article may be requested: the engine has room, and the pages
        being parsed weigh no more than what Scrapy lets its scraper hold."""
        return self.parsing_bytes < self.parse_limit and not engine.needs_backout()

    def _only_lost_requests(self, engine: ExecutionEngine) -> bool:
        """Whether all this loop waits for is article requests the engine no longer holds:
        one that a spider middleware drops from start()'s output (UrlLengthMiddleware does,
        silently) has no callback, no errback and no signal."""
        if self._unfinished():
            return False
        scheduler, scraper = engine.scheduler, engine.scraper.slot
        return not (
            engine.downloader.active
            or (scraper is not None and not scraper.is_idle())
            or (scheduler is not None and scheduler.has_pending_requests())
        )

    async def _tick(self) -> None:
        """Wake start() every WAKE_SECONDS (a wake-up no signal gave costs at most this)."""
        while True:
            await asyncio.sleep(WAKE_SECONDS)
            self._wake.set()

    def _index_request(self, url: str, callback: Any, parent: str | None = None) -> Request | None:
        """A feed, sitemap or listing request; conditional when its validators are stored
        (a 304 reaches the callback, with nothing to parse). None for a URL Scrapy refuses (a
        port that is no number, an unclosed ``[::1`` ...): one counted error naming it, its
        index (``parent``) not read whole, and the crawl goes on."""
        known = self.validators.get(url)
        try:
            request = Request(
                url,
                callback=callback,
                errback=self.on_error,
                dont_filter=True,
                priority=10,
                headers=known.headers() if known else None,
                meta={"handle_httpstatus_list": [304], "index": url, "discovery": True},
            )
        except ValueError as error:
            self.failed_indexes.add(parent or url)  # not read whole: all of it next time
            self._error(url, f"not a URL the crawl can request ({error})")
            return None
        if parent is not None:
            self.parent_index.setdefault(url, parent)
        self.open_indexes += 1
        return request

    def _index_done(self) -> None:
        self.open_indexes -= 1
        self._wake.set()

    def _dropped(self, request: Request) -> None:
        """The scheduler refused a request: an index one will have no callback or errback."""
        if request.meta.get("discovery"):
            self._index_done()
        elif "listed_at" in request.meta:
            self._fetched()

    def _fetched(self) -> None:
        self.fetching -= 1
        self._wake.set()

    def kept_validators(self) -> dict[str, Validators]:
        """The validators to keep: of the indexes whose every article was fetched and stored."""
        if self.store_failed:
            return {}
        failed = set()
        for url in self.failed_indexes:  # a sitemap's failure is its index's too
            while url and url not in failed:
                failed.add(url)
                url = self.parent_index.get(url, "")
        return {url: v for url, v in self.answered.items() if url not in failed}

    # ------------------------------------------------------------------ discovery

    def parse_feed(self, response: Response) -> None:
        self._follow(response, read_feed)

    def parse_listing(self, response: Response) -> None:
        self._follow(response, read_listing)

    def parse_sitemap(self, response: Response) -> Iterator[Request]:
        found = self._follow(response, read_sitemap)
        index = response.meta.get("index", response.url)
        for url in found.sitemaps if found else []:
            if self.sitemaps_followed >= MAX_SITEMAPS:
                self.failed_indexes.add(index)  # not read whole: ask for all of it next time
                self.logger.warning(
                    "more than %d sitemaps listed; the rest are not read in this crawl "
                    "(name the news sitemap itself in sitemaps= instead of the index)",
                    MAX_SITEMAPS,
                )
                break
            self.sitemaps_followed += 1
            if (request := self._index_request(url, self.parse_sitemap, parent=index)) is not None:
                yield request

    def _follow(
        self, response: Response, read: Callable[[bytes, str], Discovered]
    ) -> Discovered | None:
        """Read an index and queue its articles (the sitemaps it names are the caller's)."""
        try:
            return self._read_index(response, read)
        finally:
            self._index_done()

    def _read_index(
        self, response: Response, read: Callable[[bytes, str], Discovered]
    ) -> Discovered | None:
        index = response.meta.get("index", response.url)
        self.crawler.stats.inc_value(STATS + "pages")
        if response.status == 304:  # unchanged since the stored validators: all it lists is known
            self.crawler.stats.inc_value(STATS + "not_modified")
            self.crawler.stats.inc_value(STATS + "skipped_known")
            return None
        try:
            found: Discovered = read(response.body, response.url)
        except FeedError as error:
            self._error(response.url, str(error))
            self.failed_indexes.add(index)
            return None
        validators = usable(_header(response, b"ETag"), _header(response, b"Last-Modified"))
        if validators is not None:
            self.answered[index] = validators
        if found.skipped:
            self.logger.info("%s: %d entries name no DW article", response.url, found.skipped)
        articles, over = newest(found.articles, self.max_items)
        if over:
            self.crawler.stats.inc_value(STATS + "skipped_over_limit", over)
            self.logger.warning(
                "%s: %d items; only the newest %d are read ([crawl] max_items_per_feed), "
                "%d skipped",
                response.url,
                len(found.articles),
                self.max_items,
                over,
            )
        self._queue_articles(articles, index)
        return found

    def _queue_articles(self, articles: Iterable[ListedArticle], index: str) -> None:
        """Queue the articles not stored yet, or dated later than the stored version.

        A known article skipped here may still be requested when another index (read later in
        the same crawl) dates it later; each article is requested at most once a crawl."""
        articles = list(articles)
        for each in articles:  # the newest date any index of this crawl gives each article
            if each.listed_at is not None and not (
                (seen := self.listed_dates.get(each.content_id)) and seen >= each.listed_at
            ):
                self.listed_dates[each.content_id] = each.listed_at
        fresh = {c.content_id: c for c in articles if c.content_id not in self.requested_ids}
        known = self._known(list(fresh))
        for content_id, listed in fresh.items():
            if content_id in known and not _listed_later(listed.listed_at, known[content_id]):
                if content_id not in self.skipped_ids:
                    self.skipped_ids.add(content_id)
                    self.crawler.stats.inc_value(STATS + "skipped_known")
                continue
            if content_id in self.skipped_ids:  # counted as known by an earlier index
                self.skipped_ids.discard(content_id)
                self.crawler.stats.inc_value(STATS + "skipped_known", -1)
            self.requested_ids.add(content_id)
            self.queued.append((normalize_url(listed.url), listed.listed_at, index))
        self._wake.set()

    def _known(self, content_ids: list[int]) -> dict[int, datetime | None]:
        return self.store.known_versions(content_ids) if self.store is not None else {}

    # ------------------------------------------------------------------ articles

    def parse_article(self, response: Response) -> None:
        """Hand the page to the parser; its article comes out of start() once parsed. (A
        callback that awaited it held the response, and its item went through the spider
        middlewares' async chain: with it, the crawl thread's CPU a page was 1.70x a bare
        spider's, against 1.52x now; bench/crawl.py, alternating the two.)"""
        self.crawler.stats.inc_value(STATS + "pages")
        self.fetching -= 1
        body = response.body
        parsed = self.parser.submit(body, response.url, _content_type(response))
        self.parsing += 1
        self.parsing_bytes += len(body)
        meta = response.meta
        parsed.add_done_callback(
            partial(
                self._parsed, response.url, meta.get("listed_at"), meta.get("index", ""), len(body)
            )
        )

    def _parsed(
        self,
        url: str,
        listed_at: datetime | None,
        index: str,
        size: int,
        parsed: asyncio.Future[ParsedPage],
    ) -> None:
        """A page parsed: its article queued for start() to yield, or its error counted."""
        self.parsing -= 1
        self.parsing_bytes -= size
        self._wake.set()
        if parsed.cancelled():
            return
        error = parsed.exception()
        if error is not None:
            self.failed_indexes.add(index)
            if isinstance(error, PageError):
                self._error(url, str(error))
            else:  # a bug: the crawl's log shows it, as Scrapy shows a callback's exception
                self.logger.error("Spider error processing %s", url, exc_info=error)
                self.crawler.stats.inc_value("spider_exceptions/count")
                self.crawler.stats.inc_value(f"spider_exceptions/{type(error).__name__}")
            return
        page = parsed.result()
        self.extraction.add(page)
        for warning in page.warnings:
            self.logger.warning("%s: %s", url, warning)
        if page.selector_fallback:
            self.crawler.stats.inc_value(STATS + "selector_fallbacks")
            self.logger.warning("%s: DW layout selectors found no body; used the fallback", url)
        # the newest date an index gave it so far (one read after this is stored at the end)
        listed = self.listed_dates.get(page.content_id, listed_at)
        self.articles.append(CrawledArticle.of_page(page, listed_at=listed))

    # ------------------------------------------------------------------ errors

    def on_error(self, failure: Failure) -> None:
        """A request that failed: one counted error naming the URL the index gave (the first
        of a redirect chain)."""
        request = failure.request  # type: ignore[attr-defined]
        if request.meta.get("discovery"):
            self._index_done()
        else:
            self._fetched()
        error = failure.value
        if isinstance(error, HttpError):
            reason = f"HTTP {error.response.status}"
        else:
            reason = f"{type(error).__name__}: {failure.getErrorMessage()}"[:300]
        self.failed_indexes.add(request.meta.get("index", ""))
        chain = request.meta.get("redirect_urls") or [request.url]
        if chain[0] != request.url and request.url not in reason:
            reason = f"{reason} (redirected to {request.url})"[:400]
        self._error(chain[0], reason)

    def record_error(self, url: str, reason: str) -> None:
        """Count an error of this crawl (an article not stored: no index's validators are kept)
        and keep its line for CrawlRun.last_errors."""
        self.store_failed = True
        self._error(url, reason)

    def _error(self, url: str, reason: str) -> None:
        self.crawler.stats.inc_value(STATS + "errors")
        self.error_log.append(f"{url}: {reason}")
        del self.error_log[:-RUN_ERRORS_KEPT]
        self.logger.warning("%s: %s", url, reason)


# loggers that make a record for every page or item ("Crawled (200)", "Scraped from", "new
# article"); Scrapy filters by LOG_LEVEL only in its handler, after each record is made
_HOT_LOGGERS = ("scrapy.core.engine", "scrapy.core.scraper", "crawler.pipelines")


def _quiet_hot_loggers(level: str | int) -> None:
    """Above DEBUG, make the per-page loggers drop their DEBUG records before making them."""
    number = logging.getLevelName(level) if isinstance(level, str) else level
    if isinstance(number, int) and number > logging.DEBUG:
        for name in _HOT_LOGGERS:
            logging.getLogger(name).setLevel(number)


def _content_type(response: Response) -> str | None:
    return _header(response, b"Content-Type")


def _header(response: Response, name: bytes) -> str | None:
    value = response.headers.get(name)
    return value.decode("latin-1") if value else None


def _listed_later(listed_at: datetime | None, known: datetime | None) -> bool:
    """Whether an index dates this article later than the version stored."""
    return listed_at is not None and (known is None or listed_at > known)
