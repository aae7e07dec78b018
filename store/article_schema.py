"""The article's fields, declared once: what a DW page says and what a crawl stores.

``ArticleFields`` is what the parser reads off a page; ``crawler.dw_page.ParsedPage`` adds its
warnings, ``CrawledArticle`` (the spider's item) adds the date the feed or sitemap gave. The JSON
of `newswatch parse --json` and `newswatch articles --json` is ``fields_json`` of these fields,
in this order; the stored columns (``store.models.Article``) are ``CrawledArticle``'s fields
(``store.articles.ARTICLE_FIELDS``) plus the store's own bookkeeping.
``tests/test_article_schema.py`` fails when one of them disagrees.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

# marks a field whose change is a change a reader sees: it makes a stored article "updated"
# (store.articles.content_hash); the others (ids, the URL it was reached by, DW's own stamps)
# do not
READER_SEES = {"reader_sees": True}


@dataclass(frozen=True)
class ArticleFields:
    """One DW article (or video, gallery ...) as its page shows it."""

    short_id: str  # base 62 of the content id (store.dw_ids)
    content_id: int
    url: str  # canonical URL, normalised with crawler.dw.normalize_url
    language: str | None  # a plain tag: en, pt-br
    kind: str  # article | video | gallery | live | audio
    title: str = field(metadata=READER_SEES)
    teaser: str = field(metadata=READER_SEES)
    body: str = field(metadata=READER_SEES)  # paragraphs and subheads joined by "\n\n"
    captions: list[str] = field(default_factory=list, metadata=READER_SEES)
    authors: list[str] = field(default_factory=list, metadata=READER_SEES)
    topics: list[str] = field(default_factory=list, metadata=READER_SEES)
    published_at: datetime | None = field(default=None, metadata=READER_SEES)  # aware
    modified_at: datetime | None = None
    selector_fallback: bool = False  # the layout's selectors found no body: trafilatura's text
    # the fields read from a fallback source, not the layout's own (JSON-LD, its selectors):
    # ["authors", "published_at"] on a React page without its scripts
    fallbacks: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The page's fields as `newswatch parse --json` prints them."""
        return fields_json(self)


@dataclass(frozen=True)
class CrawledArticle(ArticleFields):
    """An article as a crawl hands it to the store: its page's fields and the date its index
    (feed or sitemap) gave it when fetched, which decides whether a later crawl refetches it."""

    listed_at: datetime | None = None

    @classmethod
    def of_page(cls, page: ArticleFields, listed_at: datetime | None = None) -> CrawledArticle:
        return cls(**{name: getattr(page, name) for name in PAGE_FIELDS}, listed_at=listed_at)

    def values(self) -> dict[str, Any]:
        """Field name -> value, for ``store.articles.upsert_articles``."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


PAGE_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(ArticleFields))
# the fields whose change makes a stored article "updated"
HASHED_FIELDS: tuple[str, ...] = tuple(
    f.name for f in fields(CrawledArticle) if f.metadata.get("reader_sees")
)


def fields_json(article: object, *more: str) -> dict[str, Any]:
    """The page fields of ``article`` (an ``ArticleFields`` or a stored ``Article`` row), then the
    ``more`` ones named, as JSON values in that order: dates in ISO 8601, lists copied."""
    return {name: _json_value(getattr(article, name)) for name in (*PAGE_FIELDS, *more)}


def _json_value(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return list(value)
    return value
