"""What the archive's pages and the JSON API show, as pydantic models: one query path
(`web.archive_queries`), two renderings (Jinja templates, and JSON whose OpenAPI schema these
models make exact)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from web.highlight import Segments, segments


class ErrorOut(BaseModel):
    detail: str = Field(description="what was wrong, in one line")


class SnippetOut(BaseModel):
    text: str
    spans: list[tuple[int, int]] = Field(description="offsets into text of the hit words")

    def marked(self) -> Segments:
        return segments(self.text, self.spans)


class Segment(BaseModel):
    text: str
    hit: bool = Field(description="a word the query found")


class WatchlistOut(BaseModel):
    name: str
    matches: int
    last_match_at: datetime | None
    feed: str = Field(description="the path of its Atom feed")


class ArticleSummary(BaseModel):
    short_id: str
    url: str = Field(description="the DW permalink, https://p.dw.com/p/{short_id}")
    source_url: str = Field(description="the URL the article was crawled from")
    title: str
    teaser: str
    language: str | None
    kind: str
    published_at: datetime | None
    modified_at: datetime | None
    first_seen_at: datetime
    updated_at: datetime = Field(description="when the stored content last changed")


class MatchOut(BaseModel):
    watchlist: str
    short_id: str
    title: str
    url: str
    terms: dict[str, int] = Field(description="configured term -> occurrences")
    fields: list[str]
    snippet: SnippetOut
    created_at: datetime
    updated_at: datetime
    article_updated_at: datetime
    published_at: datetime | None


class ArticleDetail(ArticleSummary):
    body: str
    captions: list[str]
    authors: list[str]
    topics: list[str]
    matches: list[MatchOut] = Field(description="the watchlists it matched, and why")

    def paragraphs(self) -> list[str]:
        return [part.strip() for part in self.body.split("\n") if part.strip()]


class PageInfo(BaseModel):
    page: int
    per_page: int
    total: int


class ArticlePage(PageInfo):
    items: list[ArticleSummary]


class MatchPage(PageInfo):
    items: list[MatchOut]


class SearchHitOut(BaseModel):
    short_id: str
    url: str
    title: list[Segment]
    snippet: list[Segment]
    language: str | None
    published_at: datetime | None
    first_seen_at: datetime


class SearchPage(PageInfo):
    query: str
    items: list[SearchHitOut]
