"""Articles as a crawl hands them to the store, for tests that store some without crawling."""

from __future__ import annotations

from typing import Any

from store.article_schema import CrawledArticle
from store.dw_ids import short_id


def article_fields(cid: int, **changes: Any) -> dict[str, Any]:
    """Every crawled field of an English DW article with content id ``cid`` (built from the
    article schema, so a new field needs no edit here), with ``changes`` applied."""
    fields: dict[str, Any] = {
        "short_id": short_id(cid),
        "content_id": cid,
        "url": f"https://www.dw.com/en/story/a-{cid}",
        "language": "en",
        "kind": "article",
        "title": f"Story {cid}",
        "teaser": "",
        "body": "",
    }
    return CrawledArticle(**{**fields, **changes}).values()
