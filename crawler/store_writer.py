"""Articles written by a process beside the crawl's (``[crawl] store_writer``).

Once pages are parsed in a worker (``crawler.parse_pool``), storing them is the largest part of
what the reactor's thread does for an article: ``store.articles.upsert_articles`` (the insert,
the full-text index's triggers, the commit) took about a sixth of that thread (py-spy, 2,000-page
bench crawl). With a writer, the storing pipeline (``crawler.pipelines.StoreArticlePipeline``)
hands each batch to it and goes on: the writer stores the batch in one transaction, or, when the
database refuses it, article by article, and answers what became of each article; the pipeline
counts them, and records the refused ones, when the answer comes, and waits for the last answer
before the crawl closes (before the dates and validators that follow the articles are kept).

The writer is a ``crawler.worker_process.WorkerProcess``: forked when the pipeline is made,
before the crawl opens its database (about 2 ms), and dying with the crawl. It opens its own
connection at its first batch (a crawl that stores nothing opens none). A crawl killed
mid-batch loses the batches not committed yet, whose articles the next crawl fetches again, as
without a writer. A writer that dies is logged once, and the batches it held and every later
one are stored in the crawl's own thread (``store_batch``, as the writer stores them); a batch
it committed before dying without answering is stored again, which the upsert counts as
unchanged.
"""

from __future__ import annotations

import asyncio
import multiprocessing.util
import pickle
import traceback
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from crawler.worker_process import WorkerProcess, cpus, frame
from store.articles import upsert_articles
from store.db import Database, describe_error

SETTING = "NEWSWATCH_STORE_WRITER"
MAX_REASON = 300  # characters of a database error kept in the crawl's error log

# A writer's answer to a batch: every article stored, ("stored", [Upsert values]); or the batch
# refused, ("one by one", why, [per article: ("stored", Upsert value) or ("refused", why, the
# traceback when it was not the database that refused it, else "")])
Answer = tuple[Any, ...]


def writer_wanted(setting: str | bool | None) -> bool:
    """Whether a NEWSWATCH_STORE_WRITER value asks for a writer: ``auto`` (the default) where
    this process may run on two CPUs or more (as ``parse_workers``), else a boolean."""
    value = str(setting if setting is not None else "auto").strip().lower()
    if value == "auto":
        return cpus() >= 2
    return value in ("1", "true", "yes", "on")


def describe(error: BaseException) -> str:
    """The error's type and first line (a database error's body text stays out of the log)."""
    return describe_error(error, MAX_REASON)


def store_batch(db: Database, rows: Sequence[Mapping[str, Any]], now: datetime) -> Answer:
    """Store a batch of articles (``CrawledArticle.values()`` each) as of ``now`` in one
    transaction or, when the database refuses it, article by article; what became of each:
    the writer's answer, and the crawl's own when it stores in its thread."""
    try:
        return ("stored", [outcome.value for outcome in _store(db, rows, now)])
    except Exception as error:  # whatever refused the batch: find the article(s) to blame
        why = describe(error)
    answers: list[tuple[Any, ...]] = []
    for row in rows:
        try:
            answers.append(("stored", _store(db, [row], now)[0].value))
        except Exception as error:  # this one article: the crawl counts it and drops it
            bug = not isinstance(error, SQLAlchemyError)  # not the database refusing: show it
            trace = "".join(traceback.format_exception(error)) if bug else ""
            answers.append(("refused", describe(error), trace))
    return ("one by one", why, answers)


def _store(db: Database, rows: Sequence[Mapping[str, Any]], now: datetime) -> list[Any]:
    with db.engine.begin() as connection:  # one transaction: all or none
        return upsert_articles(connection, rows, now)


# ---------------------------------------------------------------------- the writer's side


class _Writer:
    """Stores each batch it is sent; its database is opened at the first one."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.db: Database | None = None

    def __call__(self, message: bytes) -> Answer:
        rows, now = pickle.loads(message)
        if self.db is None:
            self.db = Database(self.database_url, migrate=False)
        return store_batch(self.db, rows, now)

    def close(self) -> None:
        if self.db is not None:
            self.db.close()


def _writer(database_url: str) -> _Writer:
    return _Writer(database_url)


# ---------------------------------------------------------------------- the crawl's side


class StoreWriter:
    """The crawl's end of one writer process for ``database_url``."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self._process = WorkerProcess(_writer, database_url)
        # closed before multiprocessing's exit handler joins it, even when the crawl never
        # opened (else that join waits on a writer whose stream stays open)
        multiprocessing.util.Finalize(self, self.close, exitpriority=10)

    @property
    def alive(self) -> bool:
        return self._process.alive

    def store(self, rows: list[dict[str, Any]], now: datetime) -> asyncio.Future[Answer]:
        """Hand over one batch (``CrawledArticle.values()`` each) to be stored as of ``now``:
        the future of the writer's answer (``WorkerGone`` when it died first)."""
        return self._process.submit(frame(pickle.dumps((rows, now), pickle.HIGHEST_PROTOCOL)))

    def close(self) -> None:
        """Stop the writer once it has answered what it holds (or kill it after 5 s)."""
        self._process.close()
