"""Extraction health of one crawl: how well the parser read the article pages it fetched.

The spider adds each parsed page (``ExtractionTally.add``); the crawl's CrawlRun keeps the result
(``CrawlRun.extraction``, written by ``crawler.crawl_run.record_run``) in this shape::

    {"pages": 12,                       # article pages parsed
     "fallbacks": {"title": 0, "teaser": 0, "body": 3, "authors": 2, "published_at": 2,
                   "modified_at": 0},   # pages whose field needed a fallback source
     "empty_body": 1,                   # text pages (not video/audio) with no body at all
     "no_date": 0, "no_author": 4,      # pages without published_at / without authors
     "short_id_mismatch": 0,            # pages whose own short id is not their content id's
     "median_body_length": 2400,        # characters, over the text pages; null without one
     "robots_disallowed": 0}            # requests robots.txt forbade (Scrapy's robots stats)

``scheduler.health`` compares a run's figures with the source's recent runs. No Scrapy import.
"""

from __future__ import annotations

import statistics
from typing import Any

from crawler.dw_page import ParsedPage

# the fields whose fallbacks are counted, always present in "fallbacks" (0 when none needed one)
TRACKED_FIELDS = ("title", "teaser", "body", "authors", "published_at", "modified_at")
_MEDIA_KINDS = frozenset({"video", "audio"})  # pages whose body is a player, not text


class ExtractionTally:
    """Counts over the article pages of one crawl."""

    def __init__(self) -> None:
        self.pages = 0
        self.fallbacks = dict.fromkeys(TRACKED_FIELDS, 0)
        self.empty_body = 0
        self.no_date = 0
        self.no_author = 0
        self.short_id_mismatch = 0
        self.body_lengths: list[int] = []

    def add(self, page: ParsedPage) -> None:
        self.pages += 1
        for name in page.fallbacks:
            self.fallbacks[name] = self.fallbacks.get(name, 0) + 1
        if page.kind not in _MEDIA_KINDS:
            self.body_lengths.append(len(page.body))
            self.empty_body += not page.body
        self.no_date += page.published_at is None
        self.no_author += not page.authors
        self.short_id_mismatch += page.short_id_mismatch

    def figures(self, robots_disallowed: int = 0) -> dict[str, Any]:
        """The CrawlRun.extraction JSON (see the module docstring)."""
        median = int(statistics.median(self.body_lengths)) if self.body_lengths else None
        return {
            "pages": self.pages,
            "fallbacks": dict(self.fallbacks),
            "empty_body": self.empty_body,
            "no_date": self.no_date,
            "no_author": self.no_author,
            "short_id_mismatch": self.short_id_mismatch,
            "median_body_length": median,
            "robots_disallowed": robots_disallowed,
        }
