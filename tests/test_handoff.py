"""The crawl -> match -> digest -> send hand-off: an immediate subscriber's mail for an article
published while `newswatch run` watches arrives right after the crawl that found it, without
waiting for the service's send interval (SEND_EVERY)."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from demo import DemoServer, demo_articles
from scheduler.service import SEND_EVERY
from store.dw_ids import short_id
from tests.service_helpers import Mailbox, Service, config_text, smtp_server, wait_for

A = "a@example.org"
CRAWLED = "crawl demo:"
NEW_ID = 99000017


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box = Mailbox()
    with smtp_server(box) as port:
        yield box, port


def test_an_immediate_subscriber_gets_a_new_article_after_one_crawl(
    mailbox: tuple[Mailbox, int], tmp_path: Path, sqlite_url: str
) -> None:
    box, port = mailbox
    articles = demo_articles()
    with DemoServer(articles) as site:
        config = tmp_path / "newswatch.toml"
        config.write_text(config_text(sqlite_url, site, port, every="2s"), encoding="utf-8")
        service = Service(config, tmp_path / "service.log").start()
        try:
            started = time.monotonic()
            wait_for("the first digest", lambda: box.to(A), timeout=60)
            crawls = service.count(CRAWLED)
            # DW publishes a matching article (the second feed crawl after this sees it)
            raqqa = next(a for a in articles if "Raqqa" in a.title and a.language == "en")
            now = datetime.now(UTC).replace(microsecond=0)
            site.site.add_article(
                replace(
                    raqqa,
                    content_id=NEW_ID,
                    short_id=short_id(NEW_ID),
                    slug="raqqa-new-offensive",
                    title="New offensive near Raqqa",
                    published_at=now,
                    modified_at=now,
                )
            )
            published = time.monotonic()
            mail = wait_for(
                "a digest naming the new article",
                lambda: [m for m in box.to(A) if short_id(NEW_ID) in m.short_ids()],
                timeout=SEND_EVERY.total_seconds(),
            )[0]
            arrived = time.monotonic()
            # it came with a crawl, not with the send job (whose next run is SEND_EVERY after
            # the start)
            assert arrived - started < SEND_EVERY.total_seconds(), service.log()
            assert service.count(CRAWLED) > crawls
            assert "New offensive near Raqqa" in mail.text
            assert arrived - published < 30, service.log()
        finally:
            service.signal(signal.SIGTERM)
            service.wait(60)
            service.cleanup()
