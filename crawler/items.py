"""What the spider hands to the pipelines: one parsed DW article."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any


@dataclass
class ArticleItem:
    short_id: str
    content_id: int
    url: str
    language: str | None
    kind: str
    title: str
    teaser: str
    body: str
    captions: list[str] = field(default_factory=list)
    authors: list[str] = field(default_factory=list)
    topics: list[str] = field(default_factory=list)
    published_at: datetime | None = None
    modified_at: datetime | None = None
    selector_fallback: bool = False
    listed_at: datetime | None = None  # the date the feed or sitemap gave when it was fetched

    def fields(self) -> dict[str, Any]:
        return asdict(self)
