"""Item pipelines: validate a parsed article, then store it once per short id.

The storing pipeline holds the crawl process's one ``Database``: the spider asks it which
articles are stored already (``known_versions``). Its batches of articles are written by the
crawl's writer process where there is one (``crawler.store_writer``, ``[crawl] store_writer``),
else in the crawl's own thread. It also completes this crawl's CrawlRun row when the spider has
closed (``crawler.crawl_run``): the row `newswatch crawl` made (``NEWSWATCH_RUN_ID``, or a
scrapyd job's ``run_id`` spider argument), or one it makes itself when the crawl runs by
hand."""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import datetime
from functools import partial
from typing import Any, Self

from scrapy import Spider, signals
from scrapy.crawler import Crawler
from scrapy.exceptions import DropItem, NotConfigured
from sqlalchemy.exc import SQLAlchemyError

from crawler.crawl_run import FIGURES, ErrorLines, record_run
from crawler.extraction import ExtractionTally
from crawler.store_writer import SETTING as STORE_WRITER
from crawler.store_writer import Answer, StoreWriter, describe, store_batch, writer_wanted
from crawler.worker_process import WorkerGone
from store.article_schema import CrawledArticle
from store.articles import Upsert, known_versions, raise_listed_dates
from store.clock import Clock, system_clock
from store.db import Database
from store.dw_ids import short_id
from store.models import CrawlRun, CrawlStatus
from store.validators import Validators, keep_validators, load_validators

log = logging.getLogger(__name__)
STATS = "newswatch/"
MAX_TEXT = 1_000_000  # characters; a longer body is not an article


def _run_id_argument(spider: Spider | None) -> int | None:
    """The CrawlRun id a scrapyd job got as its ``run_id`` spider argument (``-a run_id=N``)."""
    value = str(getattr(spider, "run_id", "") or "")
    return int(value) if value.isdigit() and int(value) > 0 else None


class ValidateArticlePipeline:
    """Drop what cannot be an article: no title, no id, an id that contradicts itself."""

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if not isinstance(item, CrawledArticle):
            return item
        if not item.title.strip():
            raise DropItem(f"{item.url}: no title")
        if item.short_id != short_id(item.content_id):
            raise DropItem(f"{item.url}: short id {item.short_id} is not {item.content_id}")
        if len(item.body) > MAX_TEXT:
            raise DropItem(f"{item.url}: body of {len(item.body)} characters")
        return item


class StoreArticlePipeline:
    """Upsert articles by short id: new, updated (content changed) or unchanged.

    Articles are written a batch at a time (``NEWSWATCH_STORE_BATCH`` articles, or what came
    in ``NEWSWATCH_STORE_SECONDS``), one transaction each; a crawl killed mid-batch loses only
    that batch, whose articles are simply fetched again by the next crawl. A batch the database
    refuses is stored article by article: only the articles refused on their own are dropped,
    each a counted error naming its URL and short id. With a writer process
    (``crawler.store_writer``) a batch is handed to it and counted when it answers; without
    one, or outside the crawl's event loop, or once it has died, a batch is stored here."""

    def __init__(self, crawler: Crawler, database_url: str, clock: Clock = system_clock) -> None:
        self.crawler = crawler
        self.database_url = database_url
        self.clock = clock
        self.db: Database | None = None
        self.run_id: int | None = None
        self.log_lines: ErrorLines | None = None  # under `newswatch crawl`: its ERROR lines
        self.batch: list[CrawledArticle] = []
        self.batch_size = crawler.settings.getint("NEWSWATCH_STORE_BATCH", 50)
        self.batch_seconds = crawler.settings.getfloat("NEWSWATCH_STORE_SECONDS", 5.0)
        self.batch_started = 0.0
        self.writer: StoreWriter | None = None
        self.handed: set[asyncio.Future[Answer]] = set()  # batches the writer has not answered
        self._said_gone = False

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        url = crawler.settings.get("NEWSWATCH_DATABASE_URL")
        if not url:
            raise NotConfigured("NEWSWATCH_DATABASE_URL is not set: articles are not stored")
        # the crawl process is its own composition root: the real clock, unless the process
        # that runs the crawl in-process hands one over (NEWSWATCH_CLOCK, a callable)
        pipeline = cls(crawler, url, crawler.settings.get("NEWSWATCH_CLOCK") or system_clock)
        if writer_wanted(crawler.settings.get(STORE_WRITER)):
            # started now, before the database is opened and while the crawl has one thread
            pipeline.writer = StoreWriter(url)
        # the finish reason is known only once the spider has closed, after close_spider
        crawler.signals.connect(pipeline.record_run, signal=signals.spider_closed)
        return pipeline

    def open_spider(self, spider: Spider | None = None) -> None:
        """Open the database and use the CrawlRun row `newswatch crawl` made for this crawl
        (NEWSWATCH_RUN_ID), or, run by hand, migrate the database and make a row."""
        self.run_id = self.crawler.settings.getint("NEWSWATCH_RUN_ID") or _run_id_argument(
            self.crawler.spider
        )
        # `newswatch crawl` migrated the database before starting the crawl; by hand, we do
        self.db = Database(self.database_url, migrate=self.run_id is None)
        if self.run_id is not None:
            # its own ERROR lines go into the row with its figures (`newswatch crawl` reads them
            # off the crawl's output only when the crawl died without recording)
            self.log_lines = ErrorLines()
            logging.getLogger().addHandler(self.log_lines)
            return
        source = getattr(self.crawler.spider, "source_name", "") or "unnamed"
        with self.db.session() as session:
            run = CrawlRun(source=source, status=CrawlStatus.RUNNING, started_at=self.clock())
            session.add(run)
            session.commit()
            self.run_id = run.id

    def known_versions(self, content_ids: list[int]) -> dict[int, datetime | None]:
        """content id -> the newest date of the stored version, for the ids already stored."""
        if self.db is None or not content_ids:
            return {}
        with self.db.session() as session:
            return known_versions(session, content_ids)

    def validators(self) -> dict[str, Validators]:
        """The stored validators of feeds, sitemaps and listing pages, by URL."""
        if self.db is None:
            return {}
        try:
            with self.db.session() as session:
                return load_validators(session)
        except SQLAlchemyError as error:  # only costs unconditional requests
            log.warning("reading the feeds' validators failed: %s", describe(error))
            return {}

    def _keep_validators(self, reason: str) -> None:
        """Keep the validators of this crawl's answers, when it ran to its end (a crawl stopped
        early may not have fetched what an index listed: its next crawl asks for all of it)."""
        kept = getattr(self.crawler.spider, "kept_validators", None)
        if self.db is None or reason != "finished" or not callable(kept):
            return
        try:
            with self.db.engine.begin() as connection:
                keep_validators(connection, kept(), self.clock())
        except SQLAlchemyError as error:  # only costs unconditional requests next time
            log.warning("keeping the feeds' validators failed: %s", describe(error))

    def process_item(self, item: Any, spider: Spider | None = None) -> Any:
        if not isinstance(item, CrawledArticle) or self.db is None:
            return item
        if not self.batch:
            self.batch_started = time.monotonic()
        self.batch.append(item)
        waited = time.monotonic() - self.batch_started
        if len(self.batch) >= self.batch_size or waited >= self.batch_seconds:
            self.flush()
        return item

    def flush(self) -> None:
        """Store the batch in one transaction (by the writer, or here); when the database
        refuses it, its articles are stored one by one and only those it refuses again are
        dropped (as counted errors). The batch is emptied whatever happens, so one bad article
        never blocks the ones after it."""
        if not self.batch or self.db is None:
            return
        batch, self.batch = self.batch, []
        if not self._hand_over(batch):
            self._store_here(batch)

    def _hand_over(self, batch: list[CrawledArticle]) -> bool:
        """Give the batch to the writer, if there is one alive and the crawl's loop runs."""
        if self.writer is None:
            return False
        if not self.writer.alive:
            self._writer_gone()
            return False
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # called by hand, outside the crawl's event loop
            return False
        try:
            answer = self.writer.store([item.values() for item in batch], self.clock())
        except WorkerGone:  # it held batches of an event loop that is gone
            self._writer_gone()
            return False
        self.handed.add(answer)
        answer.add_done_callback(partial(self._answered, batch))
        return True

    def _answered(self, batch: list[CrawledArticle], answer: asyncio.Future[Answer]) -> None:
        self.handed.discard(answer)
        if answer.cancelled() or answer.exception() is not None:  # the writer died first
            self._writer_gone()
            self._store_here(batch)
        else:
            self._count_answer(batch, answer.result())

    def _count_answer(self, batch: list[CrawledArticle], reply: Answer) -> None:
        """Count what became of each article of the batch; record the refused ones."""
        if reply[0] == "stored":
            for item, outcome in zip(batch, reply[1], strict=True):
                self._count(item, Upsert(outcome))
            return
        _, why, answers = reply
        log.warning("storing %d articles failed: %s", len(batch), why)
        for item, each in zip(batch, answers, strict=True):
            if each[0] == "stored":
                self._count(item, Upsert(each[1]))
            else:
                _, reason, trace = each
                self._record_error(item, reason, trace)

    def _writer_gone(self) -> None:
        if self.writer is not None and not self._said_gone:
            self._said_gone = True
            log.warning("the article writer died: this crawl stores in its own thread")

    async def drain(self) -> None:
        """Wait until the writer has answered every batch handed to it."""
        while self.handed:
            await asyncio.wait(set(self.handed))

    def _store_here(self, batch: list[CrawledArticle]) -> None:
        assert self.db is not None
        rows = [item.values() for item in batch]
        self._count_answer(batch, store_batch(self.db, rows, self.clock()))

    def _count(self, item: CrawledArticle, outcome: Upsert) -> None:
        self.crawler.stats.inc_value(STATS + outcome.value)
        if outcome is not Upsert.UNCHANGED:
            log.debug("%s article %s: %s", outcome.value, item.short_id, item.title[:80])

    def _record_error(self, item: CrawledArticle, described: str, trace: str) -> None:
        """One counted error naming the article, in the crawl's error log like a failed page;
        ``trace``: the traceback when it was not the database that refused it (a bug)."""
        reason = f"not stored (short id {item.short_id}): {described}"
        if trace:
            log.error("%s: %s\n%s", item.url, reason, trace.rstrip())
        spider = self.crawler.spider
        record = getattr(spider, "record_error", None)
        if callable(record):  # the DW spider counts it, logs it and keeps it for the CrawlRun
            record(item.url, reason)
            return
        self.crawler.stats.inc_value(STATS + "errors")
        log.warning("%s: %s", item.url, reason)

    async def close_spider(self, spider: Spider | None = None) -> None:
        self.flush()
        await self.drain()  # the dates below are kept on the rows the writer stores
        self._record_listed_dates()

    def _record_listed_dates(self) -> None:
        """Dates an index gave an article after it was fetched in this crawl (an undated
        listing link first, a dated feed item later): kept, so the next crawl does not fetch
        it again for that date."""
        spider = self.crawler.spider
        dates = getattr(spider, "listed_dates", None)
        requested: set[int] = getattr(spider, "requested_ids", set())
        if self.db is None or not dates:
            return
        fetched = {cid: listed for cid, listed in dates.items() if cid in requested}
        try:
            with self.db.engine.begin() as connection:
                raise_listed_dates(connection, fetched)
        except SQLAlchemyError as error:  # only costs a refetch next time
            log.warning("keeping the feeds' dates failed: %s", describe(error))

    def record_run(self, spider: Spider, reason: str) -> None:
        """Complete this crawl's CrawlRun row with its figures and outcome; close the database."""
        if self.db is None:
            return
        if self.log_lines is not None:
            logging.getLogger().removeHandler(self.log_lines)
        stats = self.crawler.stats
        tally = getattr(spider, "extraction", None)
        if not isinstance(tally, ExtractionTally):  # another spider: nothing parsed here
            tally = ExtractionTally()
        extraction = tally.figures(int(stats.get_value("robotstxt/forbidden", 0)))
        try:
            self._keep_validators(reason)
            if self.run_id is not None:
                record_run(
                    self.db,
                    self.run_id,
                    reason,
                    {name: int(stats.get_value(STATS + name, 0)) for name in FIGURES},
                    list(getattr(self.crawler.spider, "error_log", [])),
                    self.log_lines.lines if self.log_lines is not None else [],
                    self.clock(),
                    extraction=extraction,
                )
        finally:
            if self.writer is not None:
                self.writer.close()
            self.db.close()
