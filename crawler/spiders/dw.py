"""The DW spider: feeds, sitemaps and listing pages -> article pages -> CrawledArticle.

Every listed article is reduced to its content id before any article request; ids already stored
are not requested again unless the feed or sitemap dates them later than the stored version.

Run by ``newswatch crawl``, which passes the source once, as JSON in ``NEWSWATCH_SOURCE``, or by
hand, the source given by ``-a`` arguments (``source=`` names it)::

    scrapy crawl dw -a feeds=https://rss.dw.com/rdf/rss-en-all -s NEWSWATCH_DATABASE_URL=sqlite:///x.db

What is stored already comes from the storing pipeline, which holds the crawl's one database.
"""

from __future__ import annotations

import gc
import json
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator
from datetime import datetime
from typing import Any, Self

from scrapy import Request, Spider
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
from crawler.dw_page import PageError, parse_page
from crawler.pipelines import StoreArticlePipeline
from store.article_schema import CrawledArticle

STATS = "newswatch/"
MAX_SITEMAPS = 200  # sitemap files followed from one index, per crawl
MAX_ITEMS_PER_FEED = 1000  # [crawl] max_items_per_feed: NEWSWATCH_MAX_ITEMS_PER_FEED


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

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.source = spider._source_from(crawler.settings.get("NEWSWATCH_SOURCE"))
        spider.source_name = spider.source.name
        spider.allowed_domains = spider.source.allowed_domains
        spider.max_items = crawler.settings.getint(
            "NEWSWATCH_MAX_ITEMS_PER_FEED", MAX_ITEMS_PER_FEED
        )
        # what is loaded by now lives as long as the crawl: keep the collector off it
        gc.collect()
        gc.freeze()
        return spider

    def _source_from(self, setting: str | None) -> SourceConfig:
        """The source: JSON from `newswatch crawl`, else the -a arguments given by hand."""
        if setting:
            return SourceConfig.model_validate(json.loads(setting))
        given = {key: value for key, value in self.by_hand.items() if value}
        if not any(given.get(key) for key in ("feeds", "sitemaps", "pages")):
            raise ValueError("no source: pass -a feeds=URL[,URL] (or sitemaps=, pages=)")
        return SourceConfig.model_validate({"name": self.source_name or "by-hand", **given})

    async def start(self) -> AsyncIterator[Request]:
        assert self.source is not None
        self.store = self.crawler.get_item_pipeline(StoreArticlePipeline)
        for url in self.source.feeds:
            yield self._index_request(url, self.parse_feed)
        for url in self.source.sitemaps:
            yield self._index_request(url, self.parse_sitemap)
        for url in self.source.pages:
            yield self._index_request(url, self.parse_listing)

    def _index_request(self, url: str, callback: Any) -> Request:
        return Request(url, callback=callback, errback=self.on_error, dont_filter=True, priority=10)

    # ------------------------------------------------------------------ discovery

    def parse_feed(self, response: Response) -> Iterator[Request]:
        yield from self._follow(response, read_feed)

    def parse_listing(self, response: Response) -> Iterator[Request]:
        yield from self._follow(response, read_listing)

    def parse_sitemap(self, response: Response) -> Iterator[Request]:
        found = yield from self._follow(response, read_sitemap)
        for url in found.sitemaps if found else []:
            if self.sitemaps_followed >= MAX_SITEMAPS:
                self.logger.warning(
                    "more than %d sitemaps listed; the rest are not read in this crawl "
                    "(name the news sitemap itself in sitemaps= instead of the index)",
                    MAX_SITEMAPS,
                )
                break
            self.sitemaps_followed += 1
            yield self._index_request(url, self.parse_sitemap)

    def _follow(
        self, response: Response, read: Callable[[bytes, str], Discovered]
    ) -> Generator[Request, None, Discovered | None]:
        self.crawler.stats.inc_value(STATS + "pages")
        try:
            found: Discovered = read(response.body, response.url)
        except FeedError as error:
            self._error(response.url, str(error))
            return None
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
        yield from self._article_requests(articles)
        return found

    def _article_requests(self, articles: Iterable[ListedArticle]) -> Iterator[Request]:
        """Requests for the articles not stored yet, or dated later than the stored version.

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
            yield Request(
                normalize_url(listed.url),
                callback=self.parse_article,
                errback=self.on_error,
                meta={"listed_at": listed.listed_at},
            )

    def _known(self, content_ids: list[int]) -> dict[int, datetime | None]:
        return self.store.known_versions(content_ids) if self.store is not None else {}

    # ------------------------------------------------------------------ articles

    def parse_article(self, response: Response) -> Iterator[CrawledArticle]:
        self.crawler.stats.inc_value(STATS + "pages")
        try:
            page = parse_page(response.body, response.url, _content_type(response))
        except PageError as error:
            self._error(response.url, str(error))
            return
        for warning in page.warnings:
            self.logger.warning("%s: %s", response.url, warning)
        if page.selector_fallback:
            self.crawler.stats.inc_value(STATS + "selector_fallbacks")
            self.logger.warning(
                "%s: DW layout selectors found no body; used the fallback", response.url
            )
        # the newest date an index gave it so far (one read after this is stored at the end)
        listed = self.listed_dates.get(page.content_id, response.meta.get("listed_at"))
        yield CrawledArticle.of_page(page, listed_at=listed)

    # ------------------------------------------------------------------ errors

    def on_error(self, failure: Failure) -> None:
        """A request that failed: one counted error naming the URL the index gave (the first
        of a redirect chain)."""
        request = failure.request  # type: ignore[attr-defined]
        error = failure.value
        if isinstance(error, HttpError):
            reason = f"HTTP {error.response.status}"
        else:
            reason = f"{type(error).__name__}: {failure.getErrorMessage()}"[:300]
        chain = request.meta.get("redirect_urls") or [request.url]
        if chain[0] != request.url and request.url not in reason:
            reason = f"{reason} (redirected to {request.url})"[:400]
        self._error(chain[0], reason)

    def record_error(self, url: str, reason: str) -> None:
        """Count an error of this crawl and keep its line for CrawlRun.last_errors."""
        self._error(url, reason)

    def _error(self, url: str, reason: str) -> None:
        self.crawler.stats.inc_value(STATS + "errors")
        self.error_log.append(f"{url}: {reason}")
        del self.error_log[:-RUN_ERRORS_KEPT]
        self.logger.warning("%s: %s", url, reason)


def _content_type(response: Response) -> str | None:
    value = response.headers.get("Content-Type")
    return value.decode("latin-1") if value else None


def _listed_later(listed_at: datetime | None, known: datetime | None) -> bool:
    """Whether an index dates this article later than the version stored."""
    return listed_at is not None and (known is None or listed_at > known)
